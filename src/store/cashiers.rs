//! Cashier accounts. PINs are kept only as Argon2id hashes (salted, slow on
//! purpose), so a stolen database does not give away anyone's PIN.

use super::{Result, Store, StoreError};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use rusqlite::{params, OptionalExtension};
use tillpoint_core::cashier::{Cashier, Role};

/// PIN length a till keypad accepts.
const PIN_LEN: std::ops::RangeInclusive<usize> = 4..=8;

fn hash_pin(pin: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Rejected(format!("cannot hash the PIN: {e}")))
}

impl Store {
    /// Adds (or replaces) a cashier; the PIN must be 4–8 digits.
    pub fn add_cashier(&mut self, cashier: &Cashier, pin: &str) -> Result<()> {
        if !PIN_LEN.contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(StoreError::Rejected("a PIN is 4 to 8 digits".into()));
        }
        if cashier.name.trim().is_empty() {
            return Err(StoreError::Rejected("a cashier needs a name".into()));
        }
        let hash = hash_pin(pin)?;
        self.conn.execute(
            "INSERT INTO cashiers(number, name, role, pin_hash) VALUES (?1,?2,?3,?4)
             ON CONFLICT(number) DO UPDATE SET name=excluded.name, role=excluded.role, pin_hash=excluded.pin_hash, active=1",
            params![cashier.number, cashier.name, cashier.role.as_str(), hash],
        )?;
        Ok(())
    }

    /// The cashier if the number exists, is active and the PIN matches.
    pub fn login(&self, number: u32, pin: &str) -> Result<Option<Cashier>> {
        let row: Option<(String, String, String)> = self
            .conn
            .query_row(
                "SELECT name, role, pin_hash FROM cashiers WHERE number = ?1 AND active = 1",
                [number],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((name, role, hash)) = row else {
            return Ok(None);
        };
        let parsed = PasswordHash::new(&hash)
            .map_err(|e| StoreError::Corrupt(format!("cashier {number} PIN hash: {e}")))?;
        if Argon2::default()
            .verify_password(pin.as_bytes(), &parsed)
            .is_err()
        {
            return Ok(None);
        }
        let role = Role::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("cashier {number} role {role}")))?;
        Ok(Some(Cashier { number, name, role }))
    }

    pub fn cashiers(&self) -> Result<Vec<Cashier>> {
        let mut stmt = self
            .conn
            .prepare("SELECT number, name, role FROM cashiers WHERE active = 1 ORDER BY number")?;
        let rows: Vec<(u32, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows
            .into_iter()
            .map(|(number, name, role)| Cashier {
                number,
                name,
                role: Role::parse(&role).unwrap_or(Role::Cashier),
            })
            .collect())
    }

    pub fn deactivate_cashier(&mut self, number: u32) -> Result<bool> {
        Ok(self
            .conn
            .execute("UPDATE cashiers SET active = 0 WHERE number = ?1", [number])?
            > 0)
    }
}

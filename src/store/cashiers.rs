//! Cashier accounts and every PIN check. PINs are kept only as Argon2id
//! hashes (salted, slow on purpose), so a stolen database does not give
//! away anyone's PIN; wrong PINs are counted per number, and a number that
//! gets too many in a row is locked for a while (see [`Login`]).

use super::journal::append;
use super::{to_json, Result, Store, StoreError};
use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;
use std::sync::OnceLock;
use tillpoint_core::cashier::{require, Action, Approval, Cashier, Role, Target};
use tillpoint_core::credential::{argon2, check_pin, waste_a_check, PinCheck, Verified};

/// PIN length a till keypad accepts.
const PIN_LEN: std::ops::RangeInclusive<usize> = 4..=8;

/// Lockouts after the first double in length up to this many times.
const MAX_DOUBLINGS: u32 = 10;

fn hash_pin(pin: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(pin.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Rejected(format!("cannot hash the PIN: {e}")))
}

/// A hash no PIN matches, checked for a number nobody has, so that an
/// unknown number costs the same time as a known one with a wrong PIN.
fn decoy_hash() -> Option<&'static str> {
    static DECOY: OnceLock<Option<String>> = OnceLock::new();
    DECOY
        .get_or_init(|| {
            let mut random = [0u8; 16];
            argon2::password_hash::rand_core::RngCore::fill_bytes(&mut OsRng, &mut random);
            hash_pin(&hex::encode(random)).ok()
        })
        .as_deref()
}

/// What a PIN check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// The number and PIN match an active cashier, who may now approve
    /// what their role allows.
    Welcome(Verified),
    /// No such number, or the wrong PIN; this many tries are left before
    /// the number is locked.
    Wrong { tries_left: u32 },
    /// Too many wrong PINs: no PIN is checked for this number until then
    /// (or until a manager unlocks it).
    Locked { until_ms: i64 },
}

#[derive(Serialize)]
struct FailurePayload {
    number: u32,
    failures: u32,
}

#[derive(Serialize)]
struct LockoutPayload {
    number: u32,
    until_ms: i64,
    minutes: i64,
}

#[derive(Serialize)]
struct UnlockPayload {
    number: u32,
    unlocked_by: u32,
}

#[derive(Serialize)]
struct RemovalPayload {
    number: u32,
    removed_by: u32,
}

#[derive(Serialize)]
struct CashierPayload<'a> {
    number: u32,
    name: &'a str,
    role: &'a str,
    pin_changed: bool,
    /// The manager who approved it; `None` for a till's first manager (or
    /// the demo's seeded staff).
    approved_by: Option<u32>,
}

/// A number's run of wrong PINs.
#[derive(Debug, Clone, Copy, Default)]
struct Failures {
    failures: u32,
    lockouts: u32,
    locked_until_ms: Option<i64>,
}

fn failures_of(tx: &Transaction<'_>, number: u32) -> Result<Failures> {
    Ok(tx
        .prepare_cached(
            "SELECT failures, lockouts, locked_until_ms FROM login_failures WHERE number = ?1",
        )?
        .query_row([number], |r| {
            Ok(Failures {
                failures: r.get(0)?,
                lockouts: r.get(1)?,
                locked_until_ms: r.get(2)?,
            })
        })
        .optional()?
        .unwrap_or_default())
}

impl Store {
    /// Seeds the first cashiers of an empty till (the demo shop's, whose
    /// four-digit PINs the README prints), each journaled like any other;
    /// the role's minimum PIN length is not applied, so it refuses a till
    /// that has any cashier already rather than be a way around it.
    pub fn seed_cashiers(&mut self, cashiers: &[(Cashier, &str)], at_ms: i64) -> Result<()> {
        if self.has_cashiers()? {
            return Err(StoreError::Rejected(
                "this till has cashiers already; add more with a manager's approval".into(),
            ));
        }
        for (cashier, pin) in cashiers {
            self.save_cashier(cashier, pin, at_ms, *PIN_LEN.start(), None)?;
        }
        Ok(())
    }

    /// Adds a cashier or changes one's name, role or PIN, with a manager's
    /// approval of that very number, journaled with who approved it. The
    /// PIN must be 4–8 digits, and a supervisor's or manager's at least
    /// `[policy] supervisor_pin_min`.
    ///
    /// The one exception is the first manager of a till with no cashiers at
    /// all, who has nobody to approve them: that needs no approval, can
    /// happen once, and is journaled as the till's first manager.
    pub fn add_cashier(
        &mut self,
        cashier: &Cashier,
        pin: &str,
        approval: Option<&Approval>,
        at_ms: i64,
    ) -> Result<()> {
        let min = self.settings.policy.supervisor_pin_min;
        let approved_by = match approval {
            Some(ap) => {
                require(ap, Action::ManageCashiers, &Target::Cashier(cashier.number))?;
                Some(ap.approver())
            }
            None => {
                if self.has_cashiers()? {
                    return Err(StoreError::Rejected(
                        "adding or changing a cashier needs a manager's approval".into(),
                    ));
                }
                if cashier.role != Role::Manager {
                    return Err(StoreError::Rejected(
                        "a till with no cashiers starts with its manager (--role manager)".into(),
                    ));
                }
                None
            }
        };
        self.save_cashier(cashier, pin, at_ms, min, approved_by)
    }

    fn has_cashiers(&self) -> Result<bool> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM cashiers", [], |r| r.get(0))?;
        Ok(n > 0)
    }

    fn save_cashier(
        &mut self,
        cashier: &Cashier,
        pin: &str,
        at_ms: i64,
        min: usize,
        approved_by: Option<u32>,
    ) -> Result<()> {
        if !PIN_LEN.contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(StoreError::Rejected("a PIN is 4 to 8 digits".into()));
        }
        if cashier.role >= Role::Supervisor && pin.len() < min {
            return Err(StoreError::Rejected(format!(
                "a {}'s PIN needs at least {min} digits",
                cashier.role.as_str()
            )));
        }
        if cashier.name.trim().is_empty() {
            return Err(StoreError::Rejected("a cashier needs a name".into()));
        }
        let hash = hash_pin(pin)?;
        let tx = crate::begin_write(&mut self.conn)?;
        tx.execute(
            "INSERT INTO cashiers(number, name, role, pin_hash) VALUES (?1,?2,?3,?4)
             ON CONFLICT(number) DO UPDATE SET name=excluded.name, role=excluded.role, pin_hash=excluded.pin_hash, active=1",
            params![cashier.number, cashier.name, cashier.role.as_str(), hash],
        )?;
        let payload = to_json(&CashierPayload {
            number: cashier.number,
            name: &cashier.name,
            role: cashier.role.as_str(),
            pin_changed: true,
            approved_by,
        })?;
        append(
            &tx,
            self.settings.journal_key.as_ref(),
            at_ms,
            "cashier_saved",
            Some(&cashier.number.to_string()),
            &payload,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Checks a number and PIN: every PIN the till is given (a login, an
    /// approval, the command line's) comes here. Wrong PINs in a row are
    /// counted per number, known or not, and journaled; `[policy]
    /// pin_attempts` of them lock the number for `lockout_minutes`, twice
    /// as long for each lockout since its last good login.
    pub fn login(&mut self, number: u32, pin: &str, at_ms: i64) -> Result<Login> {
        let policy = self.settings.policy.clone();
        let tx = crate::begin_write(&mut self.conn)?;
        let mut seen = failures_of(&tx, number)?;
        if let Some(until_ms) = seen.locked_until_ms.filter(|u| *u > at_ms) {
            return Ok(Login::Locked { until_ms });
        }
        let row: Option<(String, String, String)> = tx
            .prepare_cached(
                "SELECT name, role, pin_hash FROM cashiers WHERE number = ?1 AND active = 1",
            )?
            .query_row([number], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let welcome = match row {
            Some((name, role, hash)) => {
                let role = Role::parse(&role)
                    .ok_or_else(|| StoreError::Corrupt(format!("cashier {number} role {role}")))?;
                let cashier = Cashier { number, name, role };
                match check_pin(cashier, &hash, pin)
                    .map_err(|e| StoreError::Corrupt(format!("cashier {number}: {e}")))?
                {
                    PinCheck::Match { verified, outdated } => {
                        if outdated {
                            tx.prepare_cached(
                                "UPDATE cashiers SET pin_hash = ?2 WHERE number = ?1",
                            )?
                            .execute(params![number, hash_pin(pin)?])?;
                        }
                        Some(verified)
                    }
                    PinCheck::Mismatch => None,
                }
            }
            None => {
                // Costs what a known number's wrong PIN costs.
                if let Some(decoy) = decoy_hash() {
                    waste_a_check(decoy, pin);
                }
                None
            }
        };
        if let Some(cashier) = welcome {
            tx.prepare_cached("DELETE FROM login_failures WHERE number = ?1")?
                .execute([number])?;
            tx.commit()?;
            return Ok(Login::Welcome(cashier));
        }
        seen.failures += 1;
        let payload = to_json(&FailurePayload {
            number,
            failures: seen.failures,
        })?;
        append(
            &tx,
            self.settings.journal_key.as_ref(),
            at_ms,
            "login_failed",
            Some(&number.to_string()),
            &payload,
        )?;
        let answer = if seen.failures >= policy.pin_attempts {
            let doubling = seen.lockouts.min(MAX_DOUBLINGS);
            let minutes = i64::from(policy.lockout_minutes.max(1)) << doubling;
            let until_ms = at_ms.saturating_add(minutes * 60_000);
            seen = Failures {
                failures: 0,
                lockouts: seen.lockouts + 1,
                locked_until_ms: Some(until_ms),
            };
            let payload = to_json(&LockoutPayload {
                number,
                until_ms,
                minutes,
            })?;
            append(
                &tx,
                self.settings.journal_key.as_ref(),
                at_ms,
                "locked_out",
                Some(&number.to_string()),
                &payload,
            )?;
            Login::Locked { until_ms }
        } else {
            Login::Wrong {
                tries_left: policy.pin_attempts - seen.failures,
            }
        };
        tx.prepare_cached(
            "INSERT INTO login_failures(number, failures, lockouts, locked_until_ms) VALUES (?1,?2,?3,?4)
             ON CONFLICT(number) DO UPDATE SET failures = excluded.failures,
                 lockouts = excluded.lockouts, locked_until_ms = excluded.locked_until_ms",
        )?
        .execute(params![
            number,
            seen.failures,
            seen.lockouts,
            seen.locked_until_ms
        ])?;
        tx.commit()?;
        Ok(answer)
    }

    /// Lifts a number's lockout and forgets its wrong PINs (a manager's
    /// approval to manage cashiers); journaled with who did it. False when
    /// the number had nothing to lift.
    pub fn unlock_login(&mut self, number: u32, approval: &Approval, at_ms: i64) -> Result<bool> {
        require(approval, Action::ManageCashiers, &Target::Cashier(number))?;
        let tx = crate::begin_write(&mut self.conn)?;
        let lifted = tx
            .prepare_cached("DELETE FROM login_failures WHERE number = ?1")?
            .execute([number])?
            > 0;
        if lifted {
            let payload = to_json(&UnlockPayload {
                number,
                unlocked_by: approval.approver(),
            })?;
            append(
                &tx,
                self.settings.journal_key.as_ref(),
                at_ms,
                "login_unlocked",
                Some(&number.to_string()),
                &payload,
            )?;
        }
        tx.commit()?;
        Ok(lifted)
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

    /// Takes a cashier off the till (a manager's approval of that number),
    /// journaled; their sales stay theirs. False when there was no such
    /// active cashier.
    pub fn deactivate_cashier(
        &mut self,
        number: u32,
        approval: &Approval,
        at_ms: i64,
    ) -> Result<bool> {
        require(approval, Action::ManageCashiers, &Target::Cashier(number))?;
        let tx = crate::begin_write(&mut self.conn)?;
        let changed = tx.execute(
            "UPDATE cashiers SET active = 0 WHERE number = ?1 AND active = 1",
            [number],
        )? > 0;
        if changed {
            let payload = to_json(&RemovalPayload {
                number,
                removed_by: approval.approver(),
            })?;
            append(
                &tx,
                self.settings.journal_key.as_ref(),
                at_ms,
                "cashier_removed",
                Some(&number.to_string()),
                &payload,
            )?;
        }
        tx.commit()?;
        Ok(changed)
    }
}

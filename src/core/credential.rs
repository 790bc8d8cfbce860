//! The PIN check itself, and the one way to get a [`Verified`] cashier.
//!
//! PINs are kept only as Argon2id hashes (PHC strings) made by the store.
//! Checking one is pure computation, so it lives here with the roles: a
//! [`Verified`] (and through it every [`Approval`]) can be made only by a
//! PIN that matched its stored hash, never from a [`Cashier`] value alone,
//! so no screen can turn the logged-in manager into an approval without
//! asking for the PIN again.

use crate::cashier::{Action, Approval, Cashier, PermissionDenied, Target};
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

/// Argon2id with 19 MiB of memory, 2 passes, 1 lane: OWASP's recommended
/// minimum. A hash made with other parameters is redone with these at the
/// cashier's next good login.
pub const ARGON2_MEMORY_KIB: u32 = 19_456;
pub const ARGON2_PASSES: u32 = 2;
pub const ARGON2_LANES: u32 = 1;

/// A stored hash that cannot be read (a damaged or edited database).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the stored PIN hash is not a PHC string: {0}")]
pub struct BadHash(String);

/// Today's Argon2id hasher, for the store to hash a new PIN with.
pub fn argon2() -> Argon2<'static> {
    // The constants are within Argon2's limits; the fallback is never taken.
    let params =
        Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A cashier whose PIN was checked just now. Only [`check_pin`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    cashier: Cashier,
}

impl Verified {
    pub fn cashier(&self) -> &Cashier {
        &self.cashier
    }

    pub fn into_cashier(self) -> Cashier {
        self.cashier
    }

    /// This person's approval of `action` on `target`, if their role
    /// allows it.
    pub fn approve(&self, action: Action, target: Target) -> Result<Approval, PermissionDenied> {
        let needed = action.required_role();
        if self.cashier.role >= needed {
            Ok(Approval::grant(self.cashier.number, action, target))
        } else {
            Err(PermissionDenied {
                who: self.cashier.name.clone(),
                role: self.cashier.role.as_str(),
                action: action.as_str(),
                needed: needed.as_str(),
            })
        }
    }
}

/// What checking a PIN against a stored hash found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinCheck {
    /// The PIN matches; `outdated` says the hash should be redone with
    /// today's parameters.
    Match {
        verified: Verified,
        outdated: bool,
    },
    Mismatch,
}

/// Checks `pin` against `cashier`'s stored hash.
pub fn check_pin(cashier: Cashier, stored_hash: &str, pin: &str) -> Result<PinCheck, BadHash> {
    let parsed = PasswordHash::new(stored_hash).map_err(|e| BadHash(e.to_string()))?;
    if argon2().verify_password(pin.as_bytes(), &parsed).is_err() {
        return Ok(PinCheck::Mismatch);
    }
    Ok(PinCheck::Match {
        outdated: is_outdated(&parsed),
        verified: Verified { cashier },
    })
}

/// Spends the time a wrong PIN costs against `decoy` (a hash no PIN
/// matches), for a number nobody has.
pub fn waste_a_check(decoy: &str, pin: &str) {
    if let Ok(parsed) = PasswordHash::new(decoy) {
        let _ = argon2().verify_password(pin.as_bytes(), &parsed);
    }
}

/// Whether a stored hash was made with other than today's parameters.
fn is_outdated(hash: &PasswordHash<'_>) -> bool {
    let param = |name: &str| hash.params.get_decimal(name);
    hash.algorithm.as_str() != "argon2id"
        || param("m") != Some(ARGON2_MEMORY_KIB)
        || param("t") != Some(ARGON2_PASSES)
        || param("p") != Some(ARGON2_LANES)
}

/// A verified cashier for core's own tests, without a hash.
#[cfg(test)]
pub(crate) fn verified_for_test(cashier: Cashier) -> Verified {
    Verified { cashier }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cashier::Role;
    use argon2::password_hash::{PasswordHasher, SaltString};

    fn hashed(pin: &str, params: Params) -> String {
        let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(pin.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    fn sue() -> Cashier {
        Cashier {
            number: 2001,
            name: "Sue".into(),
            role: Role::Supervisor,
        }
    }

    #[test]
    fn only_the_right_pin_verifies() {
        let today = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None).unwrap();
        let hash = hashed("246801", today);
        assert_eq!(
            check_pin(sue(), &hash, "246802").unwrap(),
            PinCheck::Mismatch
        );
        match check_pin(sue(), &hash, "246801").unwrap() {
            PinCheck::Match { verified, outdated } => {
                assert_eq!(verified.cashier().number, 2001);
                assert!(!outdated);
            }
            other => panic!("{other:?}"),
        }
        assert!(check_pin(sue(), "not a hash", "246801").is_err());
    }

    #[test]
    fn a_hash_with_old_parameters_is_outdated() {
        let old = Params::new(4096, 3, 1, None).unwrap();
        match check_pin(sue(), &hashed("246801", old), "246801").unwrap() {
            PinCheck::Match { outdated, .. } => assert!(outdated),
            other => panic!("{other:?}"),
        }
    }
}

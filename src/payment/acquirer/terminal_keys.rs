//! The cups profile's keys at rest: the terminal master key (TMK), loaded
//! once in a key ceremony (`tillpoint acquirer load-tmk`), and the working
//! keys of the last sign-on. Both are sealed by the key-encryption key in
//! the data directory (`crate::keyfile`), never in the TOML file or a log.
//!
//! Layouts (each a 32-byte sealed key file): `cups-tmk.key` holds the
//! double-length TMK then 16 zero bytes; `cups-working.key` holds the clear
//! MAC key then the PIN key still under the TMK (the pad decrypts it).

use std::path::Path;

use zeroize::Zeroizing;

use crate::keyfile::{self, KeyFileError};
use crate::pin::master_session::{check_value, Key16, WorkingKeys};

pub const TMK_FILE: &str = "cups-tmk.key";
pub const WORKING_FILE: &str = "cups-working.key";

/// Why the terminal keys could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TerminalKeyError {
    #[error(transparent)]
    File(#[from] KeyFileError),
    #[error("{0} is not a terminal master key file (its last 16 bytes must be zero)")]
    NotATmk(String),
}

/// The TMK, if one has been loaded.
pub fn load_tmk(dir: &Path) -> Result<Option<Key16>, TerminalKeyError> {
    let Some(bytes) = keyfile::load_existing(dir, TMK_FILE)? else {
        return Ok(None);
    };
    if bytes[16..].iter().any(|b| *b != 0) {
        return Err(TerminalKeyError::NotATmk(
            dir.join(TMK_FILE).display().to_string(),
        ));
    }
    let mut tmk = Zeroizing::new([0u8; 16]);
    tmk.copy_from_slice(&bytes[..16]);
    Ok(Some(tmk))
}

/// Stores `tmk` (replacing any other) and forgets the working keys made
/// under the old one. Returns its check value for the ceremony's record.
pub fn store_tmk(dir: &Path, tmk: &[u8; 16]) -> Result<[u8; 4], TerminalKeyError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    bytes[..16].copy_from_slice(tmk);
    keyfile::replace(dir, TMK_FILE, &bytes)?;
    let _ = std::fs::remove_file(dir.join(WORKING_FILE));
    Ok(check_value(tmk))
}

/// The working keys of the last sign-on, if any.
pub fn load_working(dir: &Path) -> Result<Option<WorkingKeys>, TerminalKeyError> {
    let Some(bytes) = keyfile::load_existing(dir, WORKING_FILE)? else {
        return Ok(None);
    };
    let mut mac_key = Zeroizing::new([0u8; 16]);
    mac_key.copy_from_slice(&bytes[..16]);
    let mut pin_key_under_tmk = [0u8; 16];
    pin_key_under_tmk.copy_from_slice(&bytes[16..]);
    Ok(Some(WorkingKeys {
        pin_key_under_tmk,
        mac_key,
    }))
}

/// Stores the working keys of a sign-on.
pub fn store_working(dir: &Path, keys: &WorkingKeys) -> Result<(), TerminalKeyError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    bytes[..16].copy_from_slice(&keys.mac_key[..]);
    bytes[16..].copy_from_slice(&keys.pin_key_under_tmk);
    keyfile::replace(dir, WORKING_FILE, &bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_sealed_and_a_new_tmk_drops_old_working_keys() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_tmk(dir.path()).unwrap().is_none());
        let tmk = [0x11u8; 16];
        assert_eq!(store_tmk(dir.path(), &tmk).unwrap(), check_value(&tmk));
        assert_eq!(*load_tmk(dir.path()).unwrap().unwrap(), tmk);
        let w = WorkingKeys {
            pin_key_under_tmk: [0x22; 16],
            mac_key: Zeroizing::new([0x33; 16]),
        };
        store_working(dir.path(), &w).unwrap();
        assert_eq!(load_working(dir.path()).unwrap(), Some(w));
        for name in [TMK_FILE, WORKING_FILE] {
            let raw = std::fs::read(dir.path().join(name)).unwrap();
            assert!(!raw.windows(8).any(|x| x == [0x11; 8] || x == [0x33; 8]));
        }
        store_tmk(dir.path(), &[0x44; 16]).unwrap();
        assert!(load_working(dir.path()).unwrap().is_none());
    }
}

//! Encryption at rest for card data that waits in the outbox.
//!
//! An offline advice must carry the PAN and chip data to the host, so the
//! till keeps them until the host acknowledges — encrypted with AES-256-GCM
//! under a key that lives in its own file (mode 0600) in the data directory,
//! apart from the database, itself sealed by the key-encryption key outside
//! the data directory (see `keyfile`). Copying the data directory alone
//! reveals no card data.

use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// File name of the outbox key inside the data directory.
pub const KEY_FILE: &str = "outbox.key";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("outbox key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("outbox key file {0} does not hold a 32-byte key")]
    BadKeyFile(PathBuf),
    #[error("outbox key: {0}")]
    Kek(String),
    #[error("sealed card data is too short")]
    Truncated,
    #[error("sealed card data failed authentication (wrong key, or altered)")]
    Authentication,
    #[error("encryption failed")]
    Encrypt,
}

/// The 256-bit outbox key. Wiped when dropped; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; 32]);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

impl DataKey {
    pub fn from_bytes(bytes: [u8; 32]) -> DataKey {
        DataKey(bytes)
    }

    /// A fresh random key (tests and first start).
    pub fn generate() -> DataKey {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        DataKey(k)
    }

    /// Loads the key from `dir/outbox.key`, creating it (0600) if missing.
    ///
    /// Creation writes a temporary file, syncs it and renames it into place,
    /// so a crash never leaves a half-written key that would make queued
    /// advices unreadable. A key file readable by others is tightened to 0600.
    pub fn load_or_create(dir: &Path) -> Result<DataKey, CryptoError> {
        match crate::keyfile::load_or_create(dir, KEY_FILE) {
            Ok(key) => Ok(DataKey(*key)),
            Err(crate::keyfile::KeyFileError::Bad(path)) => Err(CryptoError::BadKeyFile(path)),
            Err(crate::keyfile::KeyFileError::Io { path, source }) => {
                Err(CryptoError::KeyFile { path, source })
            }
            Err(other) => Err(CryptoError::Kek(other.to_string())),
        }
    }
}

/// Encrypts `plaintext`, binding it to `aad` (the outbox item's identity, so
/// a blob moved to another row fails to decrypt). Output: nonce ‖ ciphertext ‖ tag.
pub fn encrypt(key: &DataKey, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    seal_with_nonce(key, &nonce, aad, plaintext)
}

pub(crate) fn seal_with_nonce(
    key: &DataKey,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let cipher = Aes256Gcm::new_from_slice(&key.0).map_err(|_| CryptoError::Encrypt)?;
    let ct = cipher
        .encrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| CryptoError::Encrypt)?;
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Decrypts a blob from [`encrypt`]; the result is wiped when dropped.
pub fn decrypt(
    key: &DataKey,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Truncated);
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let cipher = Aes256Gcm::new_from_slice(&key.0).map_err(|_| CryptoError::Encrypt)?;
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Authentication)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test
    /// case 14: AES-256, zero key, zero IV, one zero block of plaintext.
    #[test]
    fn gcm_spec_test_case_14() {
        let key = DataKey::from_bytes([0u8; 32]);
        let sealed = seal_with_nonce(&key, &[0u8; 12], &[], &[0u8; 16]).unwrap();
        assert_eq!(
            hex::encode(&sealed[12..28]),
            "cea7403d4d606b6e074ec5d3baf39d18"
        );
        assert_eq!(
            hex::encode(&sealed[28..]),
            "d0d1c8a799996bf0265b98b5d48ab919"
        );
        assert_eq!(&decrypt(&key, &[], &sealed).unwrap()[..], &[0u8; 16]);
    }

    /// Same source, test case 13: AES-256, zero key and IV, empty plaintext;
    /// only the tag.
    #[test]
    fn gcm_spec_test_case_13() {
        let key = DataKey::from_bytes([0u8; 32]);
        let sealed = seal_with_nonce(&key, &[0u8; 12], &[], &[]).unwrap();
        assert_eq!(
            hex::encode(&sealed[12..]),
            "530f8afbc74536b9a963b4f1c4cb738b"
        );
    }

    #[test]
    fn round_trip_and_tamper_detection() {
        let key = DataKey::generate();
        let blob = encrypt(&key, b"TILL0001|000042", b"4761739001010010").unwrap();
        assert_eq!(
            &decrypt(&key, b"TILL0001|000042", &blob).unwrap()[..],
            b"4761739001010010"
        );
        assert!(matches!(
            decrypt(&key, b"TILL0001|000043", &blob),
            Err(CryptoError::Authentication)
        ));
        let mut bad = blob.clone();
        bad[20] ^= 1;
        assert!(matches!(
            decrypt(&key, b"TILL0001|000042", &bad),
            Err(CryptoError::Authentication)
        ));
        assert!(matches!(
            decrypt(&key, b"", &blob[..10]),
            Err(CryptoError::Truncated)
        ));
        let other = DataKey::generate();
        assert!(decrypt(&other, b"TILL0001|000042", &blob).is_err());
        assert!(!format!("{key:?}").contains(&hex::encode(key.0)));
    }

    #[test]
    fn key_file_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let k1 = DataKey::load_or_create(dir.path()).unwrap();
        let k2 = DataKey::load_or_create(dir.path()).unwrap();
        assert_eq!(k1.0, k2.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join(KEY_FILE);
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            DataKey::load_or_create(dir.path()).unwrap();
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::write(dir.path().join(KEY_FILE), b"short").unwrap();
        assert!(matches!(
            DataKey::load_or_create(dir.path()),
            Err(CryptoError::BadKeyFile(_))
        ));
    }
}

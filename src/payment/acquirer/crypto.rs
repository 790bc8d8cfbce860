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
/// The key a rotation moves to (see `rotate`): kept beside the current one
/// until every waiting blob is sealed under it, then renamed over it.
pub const NEXT_KEY_FILE: &str = "outbox.key.next";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// How a blob that names its key starts: magic, then the key's id.
const NAMED: &[u8; 4] = b"TPO2";
const ID_LEN: usize = 8;

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
    #[error("sealed card data names outbox key {0}, which this till does not have; restore that key (or the key-encryption key that seals it)")]
    UnknownKey(String),
    #[error("encryption failed")]
    Encrypt,
}

/// The 256-bit outbox key, and during a key rotation the key it moves to
/// (blobs name the key that sealed them, so either opens). Wiped when
/// dropped; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; 32], Option<[u8; 32]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

impl DataKey {
    pub fn from_bytes(bytes: [u8; 32]) -> DataKey {
        DataKey(bytes, None)
    }

    /// A fresh random key (tests and first start).
    pub fn generate() -> DataKey {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        DataKey(k, None)
    }

    /// The key's public name, written at the head of every blob it seals:
    /// 16 hex digits of a hash of it.
    pub fn id(&self) -> String {
        hex::encode(id_of(&self.0))
    }

    /// The key itself, for writing it to its file.
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// This key sealing, and `next` (a rotation's) opening too.
    pub fn with_next(&self, next: &DataKey) -> DataKey {
        DataKey(self.0, Some(next.0))
    }

    /// The key a blob names, among this one and a rotation's next.
    fn for_id(&self, id: &[u8]) -> Option<&[u8; 32]> {
        std::iter::once(&self.0)
            .chain(self.1.as_ref())
            .find(|k| id_of(k)[..] == *id)
    }

    /// Loads the key from `dir/outbox.key`, creating it (0600) if missing.
    ///
    /// Creation writes a temporary file, syncs it and renames it into place,
    /// so a crash never leaves a half-written key that would make queued
    /// advices unreadable. A key file readable by others is tightened to 0600.
    pub fn load_or_create(dir: &Path) -> Result<DataKey, CryptoError> {
        let current = Self::load_file(dir, KEY_FILE)?;
        // A rotation that stopped half-way: its next key opens too.
        if dir.join(NEXT_KEY_FILE).exists() {
            return Ok(current.with_next(&Self::load_file(dir, NEXT_KEY_FILE)?));
        }
        Ok(current)
    }

    /// Loads (creating) one key file, sealed by the key-encryption key.
    pub(crate) fn load_file(dir: &Path, name: &str) -> Result<DataKey, CryptoError> {
        match crate::keyfile::load_or_create(dir, name) {
            Ok(key) => Ok(DataKey(*key, None)),
            Err(crate::keyfile::KeyFileError::Bad(path)) => Err(CryptoError::BadKeyFile(path)),
            Err(crate::keyfile::KeyFileError::Io { path, source }) => {
                Err(CryptoError::KeyFile { path, source })
            }
            Err(other) => Err(CryptoError::Kek(other.to_string())),
        }
    }
}

fn id_of(key: &[u8; 32]) -> [u8; ID_LEN] {
    use sha2::{Digest, Sha256};
    let d = Sha256::new()
        .chain_update(b"tillpoint outbox key id")
        .chain_update(key)
        .finalize();
    let mut id = [0u8; ID_LEN];
    id.copy_from_slice(&d[..ID_LEN]);
    id
}

/// Encrypts `plaintext`, binding it to `aad` (the outbox item's identity, so
/// a blob moved to another row fails to decrypt). Output: `TPO2` ‖ the
/// key's id ‖ nonce ‖ ciphertext ‖ tag.
pub fn encrypt(key: &DataKey, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let mut out = NAMED.to_vec();
    out.extend_from_slice(&id_of(&key.0));
    out.extend(seal_with_nonce(key, &nonce, aad, plaintext)?);
    Ok(out)
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

/// Decrypts a blob from [`encrypt`] with the key it names (or, for a blob
/// sealed before blobs named their key, with the current key); the result
/// is wiped when dropped.
pub fn decrypt(
    key: &DataKey,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if let Some(rest) = sealed.strip_prefix(&NAMED[..]) {
        if rest.len() >= ID_LEN + NONCE_LEN + TAG_LEN {
            let (id, body) = rest.split_at(ID_LEN);
            return match key.for_id(id) {
                Some(k) => open_with(k, aad, body),
                // Unless it is an old blob whose nonce starts like the magic.
                None => open_with(&key.0, aad, sealed)
                    .map_err(|_| CryptoError::UnknownKey(hex::encode(id))),
            };
        }
    }
    // Sealed before blobs named their key (an old nonce that happens to
    // start like the magic falls through here too).
    open_with(&key.0, aad, sealed)
}

fn open_with(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Truncated);
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| CryptoError::Encrypt)?;
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
        assert!(matches!(
            decrypt(&other, b"TILL0001|000042", &blob),
            Err(CryptoError::UnknownKey(id)) if id == key.id()
        ));
        assert!(!format!("{key:?}").contains(&hex::encode(key.0)));
    }

    #[test]
    fn a_blob_names_its_key_and_a_rotation_opens_both() {
        let old = DataKey::generate();
        let new = DataKey::generate();
        let blob = encrypt(&old, b"aad", b"card").unwrap();
        assert_eq!(&blob[..4], b"TPO2");
        assert_eq!(hex::encode(&blob[4..12]), old.id());
        let rotating = old.with_next(&new);
        assert_eq!(&decrypt(&rotating, b"aad", &blob).unwrap()[..], b"card");
        let resealed = encrypt(&new, b"aad", b"card").unwrap();
        assert_eq!(&decrypt(&rotating, b"aad", &resealed).unwrap()[..], b"card");
        assert!(decrypt(&old, b"aad", &resealed).is_err());
        // A blob sealed before blobs named their key still opens.
        let legacy = seal_with_nonce(&old, &[7u8; 12], b"aad", b"card").unwrap();
        assert_eq!(&decrypt(&old, b"aad", &legacy).unwrap()[..], b"card");
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

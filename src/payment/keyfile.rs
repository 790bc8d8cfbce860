//! 32-byte secret keys kept in files of the data directory (the outbox's
//! AES-GCM key, the PAN hash key), each sealed by a key-encryption key (KEK)
//! that lives outside the data directory, so a copy of the data directory
//! alone (a stolen backup) decrypts nothing.
//!
//! The KEK is found, in this order, at `$TILLPOINT_KEK`, at
//! `/etc/tillpoint/kek` when that exists (a system install: mode 0640,
//! root and the till's group), or at `$XDG_CONFIG_HOME/tillpoint/kek`
//! (`~/.config/tillpoint/kek`; a user install, the demo and the tests),
//! created 0600 there on first use. A key file is written to a temporary
//! file, synced and renamed so a crash never leaves half a key; one readable
//! by others is tightened to 0600 with a warning; a file that is neither a
//! sealed key nor an old bare 32-byte key is refused, never silently
//! replaced (that would make every stored blob or hash unreadable). A bare
//! key from before the KEK is sealed in place the first time it is read,
//! so nothing it protects is lost.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// How a sealed key file starts: magic, then the KEK's id (8 bytes), the
/// nonce (12) and the AES-256-GCM ciphertext and tag of the key (48).
const SEALED_MAGIC: &[u8; 5] = b"TPKW1";
const SEALED_LEN: usize = 5 + 8 + 12 + 48;

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("key file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {0} is not a 32-byte key; restore it from backup (a new key would orphan what the old one protects)")]
    Bad(PathBuf),
    #[error("key file {path} was sealed by key-encryption key {sealed_by}, not by {kek} ({kek_path}); restore that KEK (a new key would orphan what the old one protects)")]
    OtherKek {
        path: PathBuf,
        sealed_by: String,
        kek: String,
        kek_path: PathBuf,
    },
    #[error("the key-encryption key {0} is inside the data directory, where a copy of it would travel with the data it protects; keep it elsewhere (see TILLPOINT_KEK)")]
    KekInDataDir(PathBuf),
}

/// The key-encryption key: wiped when dropped, never printed.
struct Kek {
    key: Zeroizing<[u8; 32]>,
    path: PathBuf,
}

impl Kek {
    /// Where this till's KEK is (see the module's documentation).
    fn location() -> PathBuf {
        if let Some(p) = std::env::var_os("TILLPOINT_KEK").filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
        let system = Path::new(SYSTEM_KEK);
        if system.exists() {
            return system.to_path_buf();
        }
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .unwrap_or_else(|| PathBuf::from("."));
        config.join("tillpoint").join("kek")
    }

    /// Loads the KEK at `path`, creating it when missing; refuses one
    /// inside `data_dir`.
    fn load(path: PathBuf, data_dir: &Path) -> Result<Kek, KeyFileError> {
        let inside = |p: &Path| {
            let abs = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            let parent = p.parent().map(abs).unwrap_or_default();
            parent.starts_with(abs(data_dir))
        };
        if inside(&path) {
            return Err(KeyFileError::KekInDataDir(path));
        }
        let io_err = |source| KeyFileError::Io {
            path: path.clone(),
            source,
        };
        let key = match read_key(&path).map_err(io_err)? {
            Some(bytes) => bytes
                .as_slice()
                .try_into()
                .map(Zeroizing::new)
                .map_err(|_| KeyFileError::Bad(path.clone()))?,
            None => {
                let dir = path.parent().unwrap_or(Path::new("."));
                create_private_dir(dir).map_err(io_err)?;
                let mut key = Zeroizing::new([0u8; 32]);
                rand::rngs::OsRng.fill_bytes(&mut key[..]);
                // Linked into place, never renamed over: two tills starting
                // at once agree on the one KEK that got there first.
                let tmp = dir.join(format!("kek.{}.tmp", std::process::id()));
                write_synced(&tmp, &key[..]).map_err(io_err)?;
                let linked = fs::hard_link(&tmp, &path);
                let _ = fs::remove_file(&tmp);
                match linked {
                    Ok(()) => key,
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let bytes = read_key(&path).map_err(io_err)?.unwrap_or_default();
                        bytes
                            .as_slice()
                            .try_into()
                            .map(Zeroizing::new)
                            .map_err(|_| KeyFileError::Bad(path.clone()))?
                    }
                    Err(e) => return Err(io_err(e)),
                }
            }
        };
        Ok(Kek { key, path })
    }

    /// A short public name for this KEK, written beside what it seals.
    fn id(&self) -> [u8; 8] {
        let digest = Sha256::new()
            .chain_update(b"tillpoint kek id")
            .chain_update(&self.key[..])
            .finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        id
    }

    fn cipher(&self) -> Result<Aes256Gcm, KeyFileError> {
        Aes256Gcm::new_from_slice(&self.key[..]).map_err(|_| KeyFileError::Bad(self.path.clone()))
    }

    /// `key` sealed for the file `name`: magic ‖ KEK id ‖ nonce ‖ ciphertext.
    fn seal(&self, name: &str, key: &[u8; 32]) -> Result<Vec<u8>, KeyFileError> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let id = self.id();
        let ct = self
            .cipher()?
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &key[..],
                    aad: &aad(name, &id),
                },
            )
            .map_err(|_| KeyFileError::Bad(self.path.clone()))?;
        let mut out = Vec::with_capacity(SEALED_LEN);
        out.extend_from_slice(SEALED_MAGIC);
        out.extend_from_slice(&id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// The key sealed in `bytes` (the file `path`, named `name`).
    fn open(
        &self,
        path: &Path,
        name: &str,
        bytes: &[u8],
    ) -> Result<Zeroizing<[u8; 32]>, KeyFileError> {
        let id = &bytes[5..13];
        if id != self.id() {
            return Err(KeyFileError::OtherKek {
                path: path.to_path_buf(),
                sealed_by: hex::encode(id),
                kek: hex::encode(self.id()),
                kek_path: self.path.clone(),
            });
        }
        let plain = Zeroizing::new(
            self.cipher()?
                .decrypt(
                    Nonce::from_slice(&bytes[13..25]),
                    Payload {
                        msg: &bytes[25..],
                        aad: &aad(name, &self.id()),
                    },
                )
                .map_err(|_| KeyFileError::Bad(path.to_path_buf()))?,
        );
        plain
            .as_slice()
            .try_into()
            .map(Zeroizing::new)
            .map_err(|_| KeyFileError::Bad(path.to_path_buf()))
    }
}

/// What a sealed key is bound to: its file name and the KEK's id, so a
/// sealed outbox key cannot be passed off as the PAN hash key.
fn aad(name: &str, kek_id: &[u8; 8]) -> Vec<u8> {
    let mut aad = b"tillpoint key file ".to_vec();
    aad.extend_from_slice(name.as_bytes());
    aad.extend_from_slice(kek_id);
    aad
}

/// A whole small file, or `None` when there is none.
fn read_key(path: &Path) -> std::io::Result<Option<Zeroizing<Vec<u8>>>> {
    match File::open(path) {
        Ok(f) => {
            tighten_permissions(path, &f);
            let mut buf = Zeroizing::new(Vec::with_capacity(SEALED_LEN + 1));
            f.take(SEALED_LEN as u64 + 1).read_to_end(&mut buf)?;
            Ok(Some(buf))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to a new private file and syncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let _ = fs::remove_file(path);
    let mut f = create_private(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Writes `bytes` as `dir/name` through a synced temporary file and a rename.
fn replace_synced(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    write_synced(&tmp, bytes)?;
    fs::rename(&tmp, dir.join(name))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

/// Loads `dir/name`, creating it with a fresh random key when missing;
/// the file holds the key sealed by the KEK (see the module's
/// documentation), and an old bare key is sealed in place on first read.
pub fn load_or_create(dir: &Path, name: &str) -> Result<Zeroizing<[u8; 32]>, KeyFileError> {
    load_sealed(dir, name, Kek::location())
}

/// Loads `dir/name` when it exists (`None` otherwise): for keys that come
/// from outside (a terminal master key loaded in a key ceremony), where a
/// random new one would be worse than none.
pub fn load_existing(dir: &Path, name: &str) -> Result<Option<Zeroizing<[u8; 32]>>, KeyFileError> {
    if !dir.join(name).exists() {
        return Ok(None);
    }
    load_sealed(dir, name, Kek::location()).map(Some)
}

/// Writes `key` as `dir/name`, sealed by the KEK, replacing what was there
/// in one rename (a key rotation's last step).
pub fn replace(dir: &Path, name: &str, key: &[u8; 32]) -> Result<(), KeyFileError> {
    let kek = Kek::load(Kek::location(), dir)?;
    fs::create_dir_all(dir).map_err(|source| KeyFileError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    replace_synced(dir, name, &kek.seal(name, key)?).map_err(|source| KeyFileError::Io {
        path: dir.join(name),
        source,
    })
}

fn load_sealed(
    dir: &Path,
    name: &str,
    kek_path: PathBuf,
) -> Result<Zeroizing<[u8; 32]>, KeyFileError> {
    let path = dir.join(name);
    let io_err = |source| KeyFileError::Io {
        path: path.clone(),
        source,
    };
    let kek = Kek::load(kek_path, dir)?;
    match read_key(&path).map_err(io_err)? {
        Some(bytes) if bytes.len() == SEALED_LEN && bytes.starts_with(SEALED_MAGIC) => {
            kek.open(&path, name, &bytes)
        }
        Some(bytes) if bytes.len() == 32 => {
            let key: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| KeyFileError::Bad(path.clone()))?;
            let key = Zeroizing::new(key);
            replace_synced(dir, name, &kek.seal(name, &key)?).map_err(io_err)?;
            tracing::info!(path = %path.display(), kek = %kek.path.display(), "key file sealed by the key-encryption key");
            Ok(key)
        }
        Some(_) => Err(KeyFileError::Bad(path.clone())),
        None => {
            fs::create_dir_all(dir).map_err(io_err)?;
            let mut key = Zeroizing::new([0u8; 32]);
            rand::rngs::OsRng.fill_bytes(&mut key[..]);
            replace_synced(dir, name, &kek.seal(name, &key)?).map_err(io_err)?;
            Ok(key)
        }
    }
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<File> {
    // On Windows the file inherits the ACL of the per-user data directory.
    OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(unix)]
fn tighten_permissions(path: &Path, f: &File) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = f.metadata() {
        let mode = meta.permissions().mode() & 0o777;
        if mode & too_open_bits(path) != 0 {
            let tight = mode & !too_open_bits(path) & 0o640;
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "key file was open to others; tightening it");
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(tight | 0o600));
        }
    }
}

/// The mode bits a key file must not have: any for group or others, except
/// that a system install's KEK is readable by the till's group (0640
/// root:tillpoint, so the till's account reads it and cannot change it).
#[cfg(unix)]
fn too_open_bits(path: &Path) -> u32 {
    if path == Path::new(SYSTEM_KEK) {
        0o037
    } else {
        0o077
    }
}

/// Where a system install keeps the KEK (created by the package).
pub const SYSTEM_KEK: &str = "/etc/tillpoint/kek";

#[cfg(not(unix))]
fn tighten_permissions(_path: &Path, _f: &File) {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A data directory and, beside it (not inside), a KEK of its own.
    fn till() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        fs::create_dir(&data).unwrap();
        let kek = root.path().join("etc").join("kek");
        (root, data, kek)
    }

    #[test]
    fn created_once_sealed_private_and_refused_when_damaged() {
        let (_root, dir, kek) = till();
        let a = load_sealed(&dir, "k.key", kek.clone()).unwrap();
        let b = load_sealed(&dir, "k.key", kek.clone()).unwrap();
        assert_eq!(*a, *b);
        let on_disk = fs::read(dir.join("k.key")).unwrap();
        assert_eq!(on_disk.len(), SEALED_LEN);
        assert!(
            !on_disk.windows(32).any(|w| w == &a[..]),
            "the key is not on disk in the clear"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir.join("k.key")), 0o600);
            assert_eq!(mode(&kek), 0o600);
            assert_eq!(mode(kek.parent().unwrap()), 0o700);
            fs::set_permissions(dir.join("k.key"), fs::Permissions::from_mode(0o644)).unwrap();
            load_sealed(&dir, "k.key", kek.clone()).unwrap();
            assert_eq!(mode(&dir.join("k.key")), 0o600, "tightened");
        }
        fs::write(dir.join("k.key"), b"short").unwrap();
        assert!(matches!(
            load_sealed(&dir, "k.key", kek),
            Err(KeyFileError::Bad(_))
        ));
    }

    #[test]
    fn an_old_bare_key_is_sealed_in_place_and_keeps_its_value() {
        let (_root, dir, kek) = till();
        let bare = [7u8; 32];
        fs::write(dir.join("outbox.key"), bare).unwrap();
        let key = load_sealed(&dir, "outbox.key", kek.clone()).unwrap();
        assert_eq!(*key, bare, "what the old key protects stays readable");
        let on_disk = fs::read(dir.join("outbox.key")).unwrap();
        assert!(on_disk.starts_with(SEALED_MAGIC));
        assert_eq!(*load_sealed(&dir, "outbox.key", kek).unwrap(), bare);
    }

    #[test]
    fn a_copy_of_the_data_directory_alone_opens_nothing() {
        let (_root, dir, kek) = till();
        let key = load_sealed(&dir, "pan-hash.key", kek).unwrap();
        // The thief's machine: the same files, another (or a new) KEK.
        let (_other, _, their_kek) = till();
        let err = load_sealed(&dir, "pan-hash.key", their_kek).unwrap_err();
        assert!(matches!(err, KeyFileError::OtherKek { .. }), "{err}");
        assert!(!err.to_string().contains(&hex::encode(&key[..])));
        // Renaming one sealed key file to the other's name fails too.
        let (_r, dir2, kek2) = till();
        load_sealed(&dir2, "outbox.key", kek2.clone()).unwrap();
        fs::copy(dir2.join("outbox.key"), dir2.join("pan-hash.key")).unwrap();
        assert!(matches!(
            load_sealed(&dir2, "pan-hash.key", kek2),
            Err(KeyFileError::Bad(_))
        ));
    }

    #[test]
    fn a_kek_inside_the_data_directory_is_refused() {
        let (_root, dir, _) = till();
        let err = load_sealed(&dir, "k.key", dir.join("kek")).unwrap_err();
        assert!(matches!(err, KeyFileError::KekInDataDir(_)), "{err}");
        assert!(!dir.join("k.key").exists());
    }
}

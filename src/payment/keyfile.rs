//! 32-byte secret keys kept in files of the data directory (the outbox's
//! AES-GCM key, the PAN hash key): created once, mode 0600, written to a
//! temporary file, synced and renamed so a crash never leaves half a key;
//! a key file readable by others is tightened to 0600 with a warning; a file
//! of the wrong length is refused, never silently replaced (that would make
//! every stored blob or hash unreadable).

use rand::RngCore;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

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
}

/// Loads `dir/name`, creating it with a fresh random key when missing.
pub fn load_or_create(dir: &Path, name: &str) -> Result<Zeroizing<[u8; 32]>, KeyFileError> {
    let path = dir.join(name);
    let io_err = |source| KeyFileError::Io {
        path: path.clone(),
        source,
    };
    match File::open(&path) {
        Ok(mut f) => {
            tighten_permissions(&path, &f);
            let mut buf = Zeroizing::new(Vec::with_capacity(33));
            Read::by_ref(&mut f)
                .take(33)
                .read_to_end(&mut buf)
                .map_err(io_err)?;
            let key: [u8; 32] = buf
                .as_slice()
                .try_into()
                .map_err(|_| KeyFileError::Bad(path.clone()))?;
            Ok(Zeroizing::new(key))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(io_err)?;
            let mut key = Zeroizing::new([0u8; 32]);
            rand::rngs::OsRng.fill_bytes(&mut key[..]);
            let tmp = dir.join(format!("{name}.tmp"));
            let _ = fs::remove_file(&tmp);
            let mut f = create_private(&tmp).map_err(io_err)?;
            f.write_all(&key[..]).map_err(io_err)?;
            f.sync_all().map_err(io_err)?;
            drop(f);
            fs::rename(&tmp, &path).map_err(io_err)?;
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(key)
        }
        Err(e) => Err(io_err(e)),
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
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "key file was readable by others; setting mode 0600");
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o600));
        }
    }
}

#[cfg(not(unix))]
fn tighten_permissions(_path: &Path, _f: &File) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_refused_when_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path(), "k.key").unwrap();
        let b = load_or_create(dir.path(), "k.key").unwrap();
        assert_eq!(*a, *b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("k.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            fs::set_permissions(dir.path().join("k.key"), fs::Permissions::from_mode(0o644))
                .unwrap();
            load_or_create(dir.path(), "k.key").unwrap();
            let mode = fs::metadata(dir.path().join("k.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "tightened");
        }
        fs::write(dir.path().join("k.key"), b"short").unwrap();
        assert!(matches!(
            load_or_create(dir.path(), "k.key"),
            Err(KeyFileError::Bad(_))
        ));
    }
}

//! The till's files are private to the account it runs as: the data
//! directory is made 0700 and the database, its WAL, the logs, the keys and
//! the config 0600, so another login on the same machine reads no takings,
//! no card data and no settings. The one place those modes are written, and
//! the check that finds a file someone opened up.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Mode of the data directory (and the logs directory in it).
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file the till writes.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and its parents) if missing; the directories it creates
/// get [`DIR_MODE`]. An existing directory is left as it is (the check
/// reports one that is open to others).
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(dir)
}

/// Opens `path` for writing, created with [`FILE_MODE`] when new
/// (`create_new` refuses an existing file).
pub fn open_new(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    options.open(path)
}

/// Creates an empty private file at `path` unless one exists, so that a
/// program which then opens it (SQLite, whose WAL takes the database's
/// mode) keeps it private.
pub fn create_if_missing(path: &Path) -> std::io::Result<()> {
    match open_new(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to `path` as a private file, replacing it atomically
/// (temporary file, sync, rename), so a crash leaves the old or the new.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut f = open_new(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// The mode of `path` when others than its owner may read, write or enter
/// it; `None` when it is private or missing (or off Unix).
pub fn too_open(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// The paths among `paths` (and, for a directory, the files directly in
/// it) that are open to others, each with its mode.
pub fn open_to_others(paths: &[PathBuf]) -> Vec<(PathBuf, u32)> {
    let mut found = Vec::new();
    for p in paths {
        if let Some(mode) = too_open(p) {
            found.push((p.clone(), mode));
        }
        if p.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(p)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|e| e.is_file())
                .collect();
            inside.sort();
            for f in inside {
                if let Some(mode) = too_open(&f) {
                    found.push((f, mode));
                }
            }
        }
    }
    found
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn what_it_makes_is_private_and_what_is_opened_up_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b");
        create_dir(&data).unwrap();
        assert_eq!(mode(&data), DIR_MODE);
        let db = data.join("till.db");
        create_if_missing(&db).unwrap();
        create_if_missing(&db).unwrap();
        assert_eq!(mode(&db), FILE_MODE);
        let cfg = data.join("tillpoint.toml");
        write(&cfg, b"[till]\n").unwrap();
        write(&cfg, b"[till]\nid = \"T02\"\n").unwrap();
        assert_eq!(mode(&cfg), FILE_MODE);
        assert_eq!(
            std::fs::read_to_string(&cfg).unwrap(),
            "[till]\nid = \"T02\"\n"
        );
        assert!(open_to_others(std::slice::from_ref(&data)).is_empty());
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            open_to_others(std::slice::from_ref(&data)),
            vec![(data.clone(), 0o755), (db, 0o644)]
        );
    }
}

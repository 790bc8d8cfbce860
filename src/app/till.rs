//! The running till: where its files live, its configuration, its store and
//! its clock, opened once and shared by the command line and the GUI.

use std::path::{Path, PathBuf};
use tillpoint_config::{parse_offset, Config, ConfigError};
use tillpoint_store::journal::JournalKey;
use tillpoint_store::{Store, StoreError, StoreSettings};

/// Environment variable that overrides the config file's path.
pub const ENV_CONFIG: &str = "TILLPOINT_CONFIG";
/// Environment variable that overrides the data directory.
pub const ENV_DATA_DIR: &str = "TILLPOINT_DATA_DIR";

#[derive(Debug, thiserror::Error)]
pub enum TillError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the data directory {path} cannot be used: {reason}")]
    DataDir { path: PathBuf, reason: String },
    #[error("no home directory to put the data in; pass --data-dir or set {ENV_DATA_DIR}")]
    NoHome,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where the till's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub config_file: PathBuf,
    pub data_dir: PathBuf,
}

/// Where a system-wide install (the .deb or .rpm: the binary in /usr) keeps
/// the shop's configuration and data, owned by the till's account.
pub const SYSTEM_CONFIG_DIR: &str = "/etc/tillpoint";
pub const SYSTEM_DATA_DIR: &str = "/var/lib/tillpoint";

impl Paths {
    /// The system-wide paths when the running binary was installed by a
    /// package (it lives under `/usr` and `/etc/tillpoint` exists); a user
    /// install or a build tree keeps the platform's directories.
    pub fn system(exe: &Path, config_dir: &Path, data_dir: &Path) -> Option<Paths> {
        (exe.starts_with("/usr/") && config_dir.is_dir()).then(|| Paths {
            config_file: config_dir.join("tillpoint.toml"),
            data_dir: data_dir.to_path_buf(),
        })
    }

    /// Command-line values win, then environment variables, then a system
    /// install's `/etc/tillpoint` and `/var/lib/tillpoint`, then the
    /// platform's directories (e.g. ~/.config/tillpoint and ~/.local/share/tillpoint).
    pub fn resolve(config: Option<PathBuf>, data_dir: Option<PathBuf>) -> Result<Paths, TillError> {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let system = std::env::current_exe().ok().and_then(|exe| {
            Paths::system(
                &exe,
                Path::new(SYSTEM_CONFIG_DIR),
                Path::new(SYSTEM_DATA_DIR),
            )
        });
        let (config, data_dir) = match system {
            Some(s) => (
                config.or_else(|| env(ENV_CONFIG)).or(Some(s.config_file)),
                data_dir.or_else(|| env(ENV_DATA_DIR)).or(Some(s.data_dir)),
            ),
            None => (config, data_dir),
        };
        let dirs = directories::ProjectDirs::from("org", "tillpoint", "tillpoint");
        let config_file = match config.or_else(|| env(ENV_CONFIG)) {
            Some(p) => p,
            None => dirs
                .as_ref()
                .ok_or(TillError::NoHome)?
                .config_dir()
                .join("tillpoint.toml"),
        };
        let data_dir = match data_dir.or_else(|| env(ENV_DATA_DIR)) {
            Some(p) => p,
            None => dirs
                .as_ref()
                .ok_or(TillError::NoHome)?
                .data_dir()
                .to_path_buf(),
        };
        Ok(Paths {
            config_file,
            data_dir,
        })
    }

    pub fn database(&self) -> PathBuf {
        self.data_dir.join("till.db")
    }

    pub fn logs(&self) -> PathBuf {
        self.data_dir.join("logs")
    }

    /// Creates the data directory (private to the till's account) if needed
    /// and proves it is writable.
    pub fn prepare_data_dir(&self) -> Result<(), TillError> {
        let fail = |reason: String| TillError::DataDir {
            path: self.data_dir.clone(),
            reason,
        };
        if self.data_dir.exists() && !self.data_dir.is_dir() {
            return Err(fail("it is a file, not a directory".into()));
        }
        tillpoint_config::private::create_dir(&self.data_dir).map_err(|e| fail(e.to_string()))?;
        let probe = self.data_dir.join(".write-test");
        std::fs::write(&probe, b"ok").map_err(|e| fail(format!("not writable: {e}")))?;
        let _ = std::fs::remove_file(&probe);
        Ok(())
    }
}

/// Wall-clock time and the shop's time zone. Core code never reads a clock;
/// this is where the till does, once per event.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    offset_secs: i32,
}

impl Clock {
    /// `configured` is "+08:00" style or empty for the machine's zone.
    pub fn new(configured: &str) -> Clock {
        let offset_secs = parse_offset(configured).unwrap_or_else(|| {
            time::UtcOffset::current_local_offset()
                .map(|o| o.whole_seconds())
                .unwrap_or(0)
        });
        Clock { offset_secs }
    }

    pub fn fixed(offset_secs: i32) -> Clock {
        Clock { offset_secs }
    }

    pub fn now_ms(&self) -> i64 {
        (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
    }

    pub fn offset_secs(&self) -> i32 {
        self.offset_secs
    }

    /// Hour of day in the shop's zone.
    pub fn local_hour(&self, at_ms: i64) -> u8 {
        let local = at_ms.div_euclid(1000) + i64::from(self.offset_secs);
        (local.rem_euclid(86_400) / 3600) as u8
    }

    /// "2026-11-21 14:05:09" in the shop's zone.
    pub fn format(&self, at_ms: i64) -> String {
        let off =
            time::UtcOffset::from_whole_seconds(self.offset_secs).unwrap_or(time::UtcOffset::UTC);
        match time::OffsetDateTime::from_unix_timestamp(at_ms.div_euclid(1000)) {
            Ok(t) => {
                let t = t.to_offset(off);
                format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                    t.year(),
                    u8::from(t.month()),
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second()
                )
            }
            Err(_) => at_ms.to_string(),
        }
    }

    /// Parses "2026-11-21" (start of that day in the shop's zone) to unix ms.
    pub fn parse_date(&self, text: &str) -> Option<i64> {
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        let d = time::Date::parse(text.trim(), &fmt).ok()?;
        let utc = d.midnight().assume_utc().unix_timestamp() - i64::from(self.offset_secs);
        Some(utc * 1000)
    }
}

/// An open till.
pub struct Till {
    pub paths: Paths,
    pub config: Config,
    /// Config problems found while loading, to show in the self-check.
    pub warnings: Vec<String>,
    pub store: Store,
    pub clock: Clock,
}

impl Till {
    pub fn open(paths: Paths) -> Result<Till, TillError> {
        let (config, warnings) = Config::load(&paths.config_file)?;
        paths.prepare_data_dir()?;
        let settings = StoreSettings {
            journal_key: Some(journal_key(&paths.data_dir)?),
            ..store_settings(&config)
        };
        let store = Store::open(&paths.database(), settings)?;
        let clock = Clock::new(&config.till.utc_offset);
        Ok(Till {
            paths,
            config,
            warnings,
            store,
            clock,
        })
    }

    /// The settings a second connection to this till's database opens
    /// with: the config's as they are now, and the journal key, so what it
    /// journals carries its MAC.
    pub fn store_settings(&self) -> StoreSettings {
        StoreSettings {
            journal_key: self.store.settings().journal_key.clone(),
            ..store_settings(&self.config)
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.paths.data_dir
    }
}

/// The store's view of the configuration.
/// File name of the journal's HMAC key in the data directory.
pub const JOURNAL_KEY_FILE: &str = "journal.key";

/// The journal's HMAC key (`journal.key`, sealed by the key-encryption key
/// like the other key files), made on first start.
fn journal_key(data_dir: &Path) -> Result<JournalKey, TillError> {
    let fresh = !data_dir.join(JOURNAL_KEY_FILE).exists();
    tillpoint_payment::keyfile::load_or_create(data_dir, JOURNAL_KEY_FILE)
        .map(|key| JournalKey::new(key, fresh))
        .map_err(|e| TillError::DataDir {
            path: data_dir.to_path_buf(),
            reason: e.to_string(),
        })
}

/// The store's settings from the config alone: no journal key (tools and
/// tests that open a store directly; [`Till::open`] adds the key).
pub fn store_settings(config: &Config) -> StoreSettings {
    StoreSettings {
        currency: config.till.currency,
        opening_float: config.till.opening_float,
        till_id: config.till.id.clone(),
        policy: tillpoint_config::policy::Policy::load(config, &mut Vec::new()),
        journal_key: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packaged_binary_uses_the_system_paths_and_a_build_tree_does_not() {
        let etc = tempfile::tempdir().unwrap();
        let data = Path::new("/var/lib/tillpoint");
        let p = Paths::system(Path::new("/usr/bin/tillpoint"), etc.path(), data).unwrap();
        assert_eq!(p.config_file, etc.path().join("tillpoint.toml"));
        assert_eq!(p.data_dir, data);
        assert!(
            Paths::system(Path::new("/work/target/debug/tillpoint"), etc.path(), data).is_none()
        );
        let missing = etc.path().join("none");
        assert!(Paths::system(Path::new("/usr/bin/tillpoint"), &missing, data).is_none());
    }

    #[test]
    fn local_hour_and_dates_follow_the_offset() {
        let c = Clock::fixed(8 * 3600);
        // 2026-01-01T00:30:00Z is 08:30 in +08:00.
        let t = 1_767_227_400_000;
        assert_eq!(c.local_hour(t), 8);
        assert_eq!(c.format(t), "2026-01-01 08:30:00");
        assert_eq!(
            c.parse_date("2026-01-01"),
            Some(1_767_225_600_000 - 8 * 3_600_000)
        );
        assert_eq!(c.parse_date("yesterday"), None);
    }
}

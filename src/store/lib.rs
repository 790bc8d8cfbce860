//! The till's SQLite store: the only module that writes SQL.
//!
//! One database file in the data directory, WAL mode with
//! `synchronous=FULL`, so a sale the cashier saw completed survives a power
//! cut. Each public operation that changes state is one transaction.

pub mod acquirer;
pub mod bulk;
pub mod cashiers;
pub mod catalog;
pub mod instructions;
pub mod integrity;
pub mod journal;
pub mod qr_orders;
pub mod queue;
pub mod reports;
pub mod sales;
pub mod schema;

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use tillpoint_core::money::Currency;

/// Everything that can go wrong in the store, in words a shop owner can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the database {path} was written by a newer tillpoint (schema {found}, this build knows {known}); upgrade tillpoint")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Sale(#[from] tillpoint_core::sale::SaleError),
    #[error("{0}")]
    Refund(#[from] tillpoint_core::refund::RefundError),
    #[error("{0}")]
    Permission(#[from] tillpoint_core::cashier::PermissionDenied),
    #[error("no receipt {0}")]
    NoSuchReceipt(String),
    #[error("{0}")]
    Rejected(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A payload as the journal and the tables keep it.
pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Settings the store needs to open a new reporting period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    pub currency: Currency,
    /// Cash in the drawer at the start of each period, in minor units.
    pub opening_float: i64,
    /// Till identifier, the prefix of every receipt number.
    pub till_id: String,
    /// Login lockout and PIN rules (`[policy]`).
    pub policy: tillpoint_config::policy::Policy,
    /// The key of the journal's HMAC chain (see `journal`); `None` for a
    /// store opened without one (tests, tools), whose journal is checked
    /// by its plain hash chain only.
    pub journal_key: Option<journal::JournalKey>,
}

/// An open database.
pub struct Store {
    conn: Connection,
    settings: StoreSettings,
    path: PathBuf,
}

impl Store {
    /// The shop's `[policy]` limits this store enforces.
    pub fn policy(&self) -> &tillpoint_config::policy::Policy {
        &self.settings.policy
    }

    /// Opens (creating if needed) and migrates the database at `path`; with
    /// a journal key, starts the journal's MACs if they have not started.
    pub fn open(path: &Path, settings: StoreSettings) -> Result<Store> {
        let mut conn = open_connection(path)?;
        if let Some(key) = &settings.journal_key {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            journal::start_keying(&mut conn, key, now_ms)?;
        }
        Ok(Store {
            conn,
            settings,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn settings(&self) -> &StoreSettings {
        &self.settings
    }

    /// Schema version of the open database.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// SQLite's own consistency check; `Ok(())` or the problems it lists.
    pub fn integrity_check(&self) -> Result<std::result::Result<(), String>> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<_>>()?;
        if rows.len() == 1 && rows[0] == "ok" {
            Ok(Ok(()))
        } else {
            Ok(Err(rows.join("; ")))
        }
    }

    /// Direct access for the bench's baseline and for fault-injection tests.
    #[doc(hidden)]
    pub fn raw_connection(&self) -> &Connection {
        &self.conn
    }
}

/// Starts a write transaction that takes the database's write lock at once
/// (`BEGIN IMMEDIATE`), waiting up to the busy timeout for another
/// connection's: the window, its printer worker and the acquirer session
/// each hold their own connection, and a deferred transaction that read
/// first could not upgrade after another one committed (`SQLITE_BUSY`),
/// failing a sale instead of waiting a few milliseconds.
pub(crate) fn begin_write(conn: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

/// Copies the WAL into the database file and truncates it, after card data
/// was erased: with `secure_delete` on, the erased bytes are then gone from
/// both files. A reader still on an older snapshot makes SQLite leave the
/// WAL as it is; the next erasure tries again.
pub(crate) fn scrub(conn: &Connection) -> Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

/// Opens (creating if needed) and migrates the database file at `path` with
/// the store's pragmas: WAL, `synchronous=FULL`, foreign keys, a busy
/// timeout. The one place those rules live; every connection to the till's
/// database goes through it.
pub(crate) fn open_connection(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let open_err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    // Made private before SQLite opens it: its WAL and shared-memory files
    // take the database's mode. (Where it cannot be made, SQLite's own
    // open says why.)
    let _ = tillpoint_config::private::create_if_missing(path);
    let mut conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(open_err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(open_err)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(open_err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(open_err)?;
    // Deleted and overwritten content is zeroed in its page, so card data
    // erased from the outbox does not linger in free space.
    conn.pragma_update(None, "secure_delete", "ON")
        .map_err(open_err)?;
    match schema::migrate(&mut conn).map_err(open_err)? {
        schema::MigrateOutcome::AtVersion(_) => Ok(conn),
        schema::MigrateOutcome::TooNew { found } => Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            known: schema::LATEST,
        }),
    }
}

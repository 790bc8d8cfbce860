//! The acquirer host simulator's own ledger (SQLite), apart from the till's
//! database: the other side of every settlement check.
//!
//! One request is processed in one IMMEDIATE transaction that also stores
//! the packed answer under the message identity (TID, STAN, MMDD of field 7),
//! so a repeat — even after a simulator crash — gets the same answer and
//! changes nothing.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("host ledger database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("host ledger holds an unknown status {0:?}")]
    BadStatus(String),
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    tid         TEXT NOT NULL,
    stan        TEXT NOT NULL,
    tdate       TEXT NOT NULL,
    mti         TEXT NOT NULL,
    response    BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (tid, stan, tdate)
);
CREATE TABLE IF NOT EXISTS txns (
    id              INTEGER PRIMARY KEY,
    tid             TEXT NOT NULL,
    mid             TEXT NOT NULL,
    batch           TEXT NOT NULL,
    stan            TEXT NOT NULL,
    tdate           TEXT NOT NULL,
    transmitted     TEXT NOT NULL,
    mti             TEXT NOT NULL,
    proc_code       TEXT NOT NULL,
    amount          INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    pan_masked      TEXT,
    entry_mode      TEXT,
    response_code   TEXT NOT NULL,
    rrn             TEXT,
    auth_code       TEXT,
    decline_reason  TEXT,
    status          TEXT NOT NULL,
    source          TEXT NOT NULL,
    original_id     INTEGER REFERENCES txns(id),
    reversal_reason TEXT,
    created_at      INTEGER NOT NULL,
    UNIQUE (tid, stan, tdate)
);
CREATE INDEX IF NOT EXISTS txns_batch ON txns (tid, batch, status);
CREATE TABLE IF NOT EXISTS uploads (
    tid       TEXT NOT NULL,
    batch     TEXT NOT NULL,
    stan      TEXT NOT NULL,
    tdate     TEXT NOT NULL,
    proc_code TEXT NOT NULL,
    amount    INTEGER NOT NULL,
    rrn       TEXT,
    auth_code TEXT,
    PRIMARY KEY (tid, batch, stan, tdate)
);
CREATE TABLE IF NOT EXISTS orphan_reversals (
    tid    TEXT NOT NULL,
    stan   TEXT NOT NULL,
    tdate  TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (tid, stan, tdate)
);
CREATE TABLE IF NOT EXISTS settlements (
    tid            TEXT NOT NULL,
    batch          TEXT NOT NULL,
    debits_count   INTEGER NOT NULL,
    debits_amount  INTEGER NOT NULL,
    credits_count  INTEGER NOT NULL,
    credits_amount INTEGER NOT NULL,
    after_upload   INTEGER NOT NULL,
    settled_at     INTEGER NOT NULL,
    PRIMARY KEY (tid, batch)
);
";

/// Processing codes that count in settlement (the host profile's).
use tillpoint_payment::iso8583::profile::processing::{PURCHASE, REFUND};

/// Life of a transaction at the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnStatus {
    Approved,
    Declined,
    Reversed,
    Voided,
    /// Dropped at settlement because the till's batch upload did not contain it.
    Uncaptured,
}

impl TxnStatus {
    fn as_str(self) -> &'static str {
        match self {
            TxnStatus::Approved => "approved",
            TxnStatus::Declined => "declined",
            TxnStatus::Reversed => "reversed",
            TxnStatus::Voided => "voided",
            TxnStatus::Uncaptured => "uncaptured",
        }
    }

    fn parse(s: &str) -> Result<TxnStatus, LedgerError> {
        Ok(match s {
            "approved" => TxnStatus::Approved,
            "declined" => TxnStatus::Declined,
            "reversed" => TxnStatus::Reversed,
            "voided" => TxnStatus::Voided,
            "uncaptured" => TxnStatus::Uncaptured,
            other => return Err(LedgerError::BadStatus(other.to_owned())),
        })
    }
}

/// How a transaction reached the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnSource {
    Online,
    Advice,
    Upload,
}

impl TxnSource {
    fn as_str(self) -> &'static str {
        match self {
            TxnSource::Online => "online",
            TxnSource::Advice => "advice",
            TxnSource::Upload => "upload",
        }
    }
}

/// A message's identity: terminal, STAN, and MMDD of its field 7.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessageKey {
    pub tid: String,
    pub stan: String,
    pub tdate: String,
}

/// A transaction to record.
#[derive(Clone, Debug)]
pub struct NewTxn {
    pub key: MessageKey,
    pub mid: String,
    pub batch: String,
    pub transmitted: String,
    pub mti: String,
    pub proc_code: String,
    pub amount: i64,
    pub currency: String,
    /// First six and last four digits only; the ledger never holds a full PAN.
    pub pan_masked: Option<String>,
    pub entry_mode: Option<String>,
    pub response_code: String,
    pub rrn: Option<String>,
    pub auth_code: Option<String>,
    pub decline_reason: Option<String>,
    pub status: TxnStatus,
    pub source: TxnSource,
    pub original_id: Option<i64>,
}

/// A stored transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnRow {
    pub id: i64,
    pub tid: String,
    pub batch: String,
    pub stan: String,
    pub tdate: String,
    pub mti: String,
    pub proc_code: String,
    pub amount: i64,
    pub response_code: String,
    pub rrn: Option<String>,
    pub auth_code: Option<String>,
    pub decline_reason: Option<String>,
    pub status: TxnStatus,
    pub source: String,
    pub original_id: Option<i64>,
    pub reversal_reason: Option<String>,
}

/// Settlement figures as the ledger counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LedgerTotals {
    pub debits_count: u64,
    pub debits_amount: u64,
    pub credits_count: u64,
    pub credits_amount: u64,
}

/// One uploaded batch item (0320).
#[derive(Clone, Debug)]
pub struct UploadRow {
    pub key: MessageKey,
    pub batch: String,
    pub proc_code: String,
    pub amount: i64,
    pub rrn: Option<String>,
    pub auth_code: Option<String>,
}

pub struct HostLedger {
    conn: Connection,
}

impl std::fmt::Debug for HostLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostLedger")
    }
}

const TXN_COLUMNS: &str = "id, tid, batch, stan, tdate, mti, proc_code, amount, response_code, \
     rrn, auth_code, decline_reason, status, source, original_id, reversal_reason";

fn txn_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(TxnRow, String)> {
    let status: String = r.get(12)?;
    Ok((
        TxnRow {
            id: r.get(0)?,
            tid: r.get(1)?,
            batch: r.get(2)?,
            stan: r.get(3)?,
            tdate: r.get(4)?,
            mti: r.get(5)?,
            proc_code: r.get(6)?,
            amount: r.get(7)?,
            response_code: r.get(8)?,
            rrn: r.get(9)?,
            auth_code: r.get(10)?,
            decline_reason: r.get(11)?,
            status: TxnStatus::Declined,
            source: r.get(13)?,
            original_id: r.get(14)?,
            reversal_reason: r.get(15)?,
        },
        status,
    ))
}

fn finish_row((mut row, status): (TxnRow, String)) -> Result<TxnRow, LedgerError> {
    row.status = TxnStatus::parse(&status)?;
    Ok(row)
}

fn totals_in(conn: &Connection, tid: &str, batch: &str) -> Result<LedgerTotals, LedgerError> {
    let mut stmt = conn.prepare_cached(
        "SELECT proc_code, COUNT(*), COALESCE(SUM(amount), 0) FROM txns
         WHERE tid = ?1 AND batch = ?2 AND status = 'approved' AND proc_code IN (?3, ?4)
         GROUP BY proc_code",
    )?;
    let mut t = LedgerTotals::default();
    let rows = stmt.query_map(params![tid, batch, PURCHASE, REFUND], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (code, count, amount) = row?;
        let count = u64::try_from(count).unwrap_or(0);
        let amount = u64::try_from(amount).unwrap_or(0);
        if code == PURCHASE {
            t.debits_count = count;
            t.debits_amount = amount;
        } else {
            t.credits_count = count;
            t.credits_amount = amount;
        }
    }
    Ok(t)
}

impl HostLedger {
    /// Opens (creating if needed) the ledger at `path`: WAL, a busy timeout
    /// for the per-connection threads, `synchronous=NORMAL` (survives a
    /// simulator crash; a simulator does not need to survive power loss).
    pub fn open(path: &Path) -> Result<HostLedger, LedgerError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(HostLedger { conn })
    }

    /// Starts the transaction that processes one request.
    pub fn begin(&mut self) -> Result<LedgerTx<'_>, LedgerError> {
        Ok(LedgerTx {
            tx: self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?,
        })
    }

    /// All transactions of a terminal, in arrival order.
    pub fn txns(&self, tid: &str) -> Result<Vec<TxnRow>, LedgerError> {
        let sql = format!("SELECT {TXN_COLUMNS} FROM txns WHERE tid = ?1 ORDER BY id");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![tid], txn_row)?;
        rows.map(|r| finish_row(r?)).collect()
    }

    /// Totals of what is captured in a batch now.
    pub fn totals(&self, tid: &str, batch: &str) -> Result<LedgerTotals, LedgerError> {
        totals_in(&self.conn, tid, batch)
    }

    /// Whether the batch has been settled.
    pub fn is_settled(&self, tid: &str, batch: &str) -> Result<bool, LedgerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM settlements WHERE tid = ?1 AND batch = ?2",
                params![tid, batch],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Number of deduplicated requests stored.
    pub fn message_count(&self) -> Result<u64, LedgerError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// The transaction processing one request.
pub struct LedgerTx<'a> {
    tx: rusqlite::Transaction<'a>,
}

impl LedgerTx<'_> {
    /// The stored answer to an earlier message with this identity.
    pub fn replay(&self, key: &MessageKey) -> Result<Option<(String, Vec<u8>)>, LedgerError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT mti, response FROM messages WHERE tid = ?1 AND stan = ?2 AND tdate = ?3",
            )?
            .query_row(params![key.tid, key.stan, key.tdate], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
    }

    /// Stores the answer given to a message, for replays.
    pub fn record_message(
        &self,
        key: &MessageKey,
        mti: &str,
        response: &[u8],
        now: i64,
    ) -> Result<(), LedgerError> {
        self.tx
            .prepare_cached(
                "INSERT INTO messages (tid, stan, tdate, mti, response, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![key.tid, key.stan, key.tdate, mti, response, now])?;
        Ok(())
    }

    /// The id the next inserted transaction will get (RRNs derive from it).
    pub fn next_txn_id(&self) -> Result<i64, LedgerError> {
        Ok(self
            .tx
            .prepare_cached("SELECT COALESCE(MAX(id), 0) + 1 FROM txns")?
            .query_row([], |r| r.get(0))?)
    }

    pub fn insert_txn(&self, t: &NewTxn, now: i64) -> Result<i64, LedgerError> {
        self.tx.prepare_cached(
            "INSERT INTO txns (tid, mid, batch, stan, tdate, transmitted, mti, proc_code, amount,
                currency, pan_masked, entry_mode, response_code, rrn, auth_code, decline_reason,
                status, source, original_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                ?18, ?19, ?20)",
        )?
        .execute(params![
                t.key.tid,
                t.mid,
                t.batch,
                t.key.stan,
                t.key.tdate,
                t.transmitted,
                t.mti,
                t.proc_code,
                t.amount,
                t.currency,
                t.pan_masked,
                t.entry_mode,
                t.response_code,
                t.rrn,
                t.auth_code,
                t.decline_reason,
                t.status.as_str(),
                t.source.as_str(),
                t.original_id,
                now
            ],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    /// The transaction a reversal, void or upload refers to.
    pub fn find_txn(&self, key: &MessageKey) -> Result<Option<TxnRow>, LedgerError> {
        let sql =
            format!("SELECT {TXN_COLUMNS} FROM txns WHERE tid = ?1 AND stan = ?2 AND tdate = ?3");
        self.tx
            .prepare_cached(&sql)?
            .query_row(params![key.tid, key.stan, key.tdate], txn_row)
            .optional()?
            .map(finish_row)
            .transpose()
    }

    pub fn get_txn(&self, id: i64) -> Result<Option<TxnRow>, LedgerError> {
        let sql = format!("SELECT {TXN_COLUMNS} FROM txns WHERE id = ?1");
        self.tx
            .query_row(&sql, params![id], txn_row)
            .optional()?
            .map(finish_row)
            .transpose()
    }

    /// What approved refunds referring to transaction `id` add up to, so a
    /// referenced refund can be held to the original's amount.
    pub fn refunded_against(&self, id: i64) -> Result<i64, LedgerError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT COALESCE(SUM(amount), 0) FROM txns
                 WHERE original_id = ?1 AND proc_code = ?2 AND status = 'approved'",
            )?
            .query_row(rusqlite::params![id, REFUND], |r| r.get(0))?)
    }

    /// The masked PAN of transaction `id` (a referenced refund or void
    /// carries no card; its row names the original's).
    pub fn masked_pan_of(&self, id: i64) -> Result<Option<String>, LedgerError> {
        Ok(self
            .tx
            .prepare_cached("SELECT pan_masked FROM txns WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?
            .flatten())
    }

    pub fn set_status(&self, id: i64, status: TxnStatus) -> Result<(), LedgerError> {
        self.tx.execute(
            "UPDATE txns SET status = ?2 WHERE id = ?1",
            params![id, status.as_str()],
        )?;
        Ok(())
    }

    pub fn mark_reversed(&self, id: i64, reason: &str) -> Result<(), LedgerError> {
        self.tx.execute(
            "UPDATE txns SET status = 'reversed', reversal_reason = ?2 WHERE id = ?1",
            params![id, reason],
        )?;
        Ok(())
    }

    pub fn totals(&self, tid: &str, batch: &str) -> Result<LedgerTotals, LedgerError> {
        totals_in(&self.tx, tid, batch)
    }

    /// Remembers a reversal whose original has not arrived (it may still be
    /// on another connection), so the original is reversed when it comes.
    pub fn record_orphan_reversal(
        &self,
        key: &MessageKey,
        reason: &str,
    ) -> Result<(), LedgerError> {
        self.tx.execute(
            "INSERT OR IGNORE INTO orphan_reversals (tid, stan, tdate, reason)
             VALUES (?1, ?2, ?3, ?4)",
            params![key.tid, key.stan, key.tdate, reason],
        )?;
        Ok(())
    }

    /// Removes and returns the reason of a reversal that came before its original.
    pub fn take_orphan_reversal(&self, key: &MessageKey) -> Result<Option<String>, LedgerError> {
        let reason: Option<String> = self
            .tx
            .prepare_cached(
                "SELECT reason FROM orphan_reversals WHERE tid = ?1 AND stan = ?2 AND tdate = ?3",
            )?
            .query_row(params![key.tid, key.stan, key.tdate], |r| r.get(0))
            .optional()?;
        if reason.is_some() {
            self.tx.execute(
                "DELETE FROM orphan_reversals WHERE tid = ?1 AND stan = ?2 AND tdate = ?3",
                params![key.tid, key.stan, key.tdate],
            )?;
        }
        Ok(reason)
    }

    /// Totals recorded when the batch was settled, if it was.
    pub fn settled_totals(
        &self,
        tid: &str,
        batch: &str,
    ) -> Result<Option<LedgerTotals>, LedgerError> {
        Ok(self
            .tx
            .query_row(
                "SELECT debits_count, debits_amount, credits_count, credits_amount
                 FROM settlements WHERE tid = ?1 AND batch = ?2",
                params![tid, batch],
                |r| {
                    let n = |i: usize| -> rusqlite::Result<u64> {
                        Ok(u64::try_from(r.get::<_, i64>(i)?).unwrap_or(0))
                    };
                    Ok(LedgerTotals {
                        debits_count: n(0)?,
                        debits_amount: n(1)?,
                        credits_count: n(2)?,
                        credits_amount: n(3)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn close_batch(
        &self,
        tid: &str,
        batch: &str,
        totals: &LedgerTotals,
        after_upload: bool,
        now: i64,
    ) -> Result<(), LedgerError> {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.tx.execute(
            "INSERT INTO settlements (tid, batch, debits_count, debits_amount, credits_count,
                credits_amount, after_upload, settled_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                tid,
                batch,
                n(totals.debits_count),
                n(totals.debits_amount),
                n(totals.credits_count),
                n(totals.credits_amount),
                after_upload,
                now
            ],
        )?;
        Ok(())
    }

    pub fn record_upload(&self, u: &UploadRow) -> Result<(), LedgerError> {
        self.tx.execute(
            "INSERT OR REPLACE INTO uploads (tid, batch, stan, tdate, proc_code, amount, rrn,
                auth_code)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                u.key.tid,
                u.batch,
                u.key.stan,
                u.key.tdate,
                u.proc_code,
                u.amount,
                u.rrn,
                u.auth_code
            ],
        )?;
        Ok(())
    }

    /// Makes the uploaded set the batch: captured transactions the till did
    /// not upload become `uncaptured`; uploaded ones the host lacks (or had
    /// not captured) are added or re-approved. Returns (dropped, added).
    pub fn apply_uploads(
        &self,
        tid: &str,
        batch: &str,
        mid: &str,
        currency: &str,
        now: i64,
    ) -> Result<(usize, usize), LedgerError> {
        let dropped = self.tx.execute(
            "UPDATE txns SET status = 'uncaptured'
             WHERE tid = ?1 AND batch = ?2 AND status = 'approved' AND proc_code IN (?3, ?4)
               AND NOT EXISTS (SELECT 1 FROM uploads u WHERE u.tid = txns.tid
                   AND u.batch = txns.batch AND u.stan = txns.stan AND u.tdate = txns.tdate)",
            params![tid, batch, PURCHASE, REFUND],
        )?;
        let reapproved = self.tx.execute(
            "UPDATE txns SET status = 'approved'
             WHERE tid = ?1 AND batch = ?2 AND status <> 'approved'
               AND EXISTS (SELECT 1 FROM uploads u WHERE u.tid = txns.tid
                   AND u.batch = txns.batch AND u.stan = txns.stan AND u.tdate = txns.tdate)",
            params![tid, batch],
        )?;
        let missing: Vec<UploadRow> = {
            let mut stmt = self.tx.prepare(
                "SELECT stan, tdate, proc_code, amount, rrn, auth_code FROM uploads u
                 WHERE u.tid = ?1 AND u.batch = ?2 AND NOT EXISTS (SELECT 1 FROM txns t
                     WHERE t.tid = u.tid AND t.stan = u.stan AND t.tdate = u.tdate)",
            )?;
            let rows = stmt.query_map(params![tid, batch], |r| {
                Ok(UploadRow {
                    key: MessageKey {
                        tid: tid.to_owned(),
                        stan: r.get(0)?,
                        tdate: r.get(1)?,
                    },
                    batch: batch.to_owned(),
                    proc_code: r.get(2)?,
                    amount: r.get(3)?,
                    rrn: r.get(4)?,
                    auth_code: r.get(5)?,
                })
            })?;
            rows.collect::<Result<_, _>>()?
        };
        for u in &missing {
            let t = NewTxn {
                key: u.key.clone(),
                mid: mid.to_owned(),
                batch: batch.to_owned(),
                transmitted: String::new(),
                mti: "0320".into(),
                proc_code: u.proc_code.clone(),
                amount: u.amount,
                currency: currency.to_owned(),
                pan_masked: None,
                entry_mode: None,
                response_code: "00".into(),
                rrn: u.rrn.clone(),
                auth_code: u.auth_code.clone(),
                decline_reason: None,
                status: TxnStatus::Approved,
                source: TxnSource::Upload,
                original_id: None,
            };
            self.insert_txn(&t, now)?;
        }
        Ok((dropped, missing.len() + reapproved))
    }

    pub fn commit(self) -> Result<(), LedgerError> {
        self.tx.commit()?;
        Ok(())
    }

    /// Marks where one request's changes begin, so several requests can
    /// share a transaction (the simulator's group commit) and one that
    /// cannot be answered leaves nothing behind.
    pub fn begin_request(&self) -> Result<(), LedgerError> {
        self.tx.execute_batch("SAVEPOINT request")?;
        Ok(())
    }

    /// Keeps the current request's changes.
    pub fn end_request(&self) -> Result<(), LedgerError> {
        self.tx.execute_batch("RELEASE request")?;
        Ok(())
    }

    /// Undoes the current request's changes.
    pub fn undo_request(&self) -> Result<(), LedgerError> {
        self.tx
            .execute_batch("ROLLBACK TO request; RELEASE request")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(stan: &str) -> MessageKey {
        MessageKey {
            tid: "T1".into(),
            stan: stan.into(),
            tdate: "0314".into(),
        }
    }

    fn txn(stan: &str, proc_code: &str, amount: i64) -> NewTxn {
        NewTxn {
            key: key(stan),
            mid: "M".into(),
            batch: "000001".into(),
            transmitted: "0314120000".into(),
            mti: "0200".into(),
            proc_code: proc_code.into(),
            amount,
            currency: "978".into(),
            pan_masked: Some("476173******0010".into()),
            entry_mode: Some("051".into()),
            response_code: "00".into(),
            rrn: None,
            auth_code: None,
            decline_reason: None,
            status: TxnStatus::Approved,
            source: TxnSource::Online,
            original_id: None,
        }
    }

    #[test]
    fn replay_totals_uploads_and_settlement() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = HostLedger::open(&dir.path().join("host.db")).unwrap();
        {
            let tx = l.begin().unwrap();
            assert_eq!(tx.replay(&key("000001")).unwrap(), None);
            tx.record_message(&key("000001"), "0200", b"answer", 0)
                .unwrap();
            assert_eq!(tx.next_txn_id().unwrap(), 1);
            tx.insert_txn(&txn("000001", PURCHASE, 1000), 0).unwrap();
            tx.insert_txn(&txn("000002", PURCHASE, 500), 0).unwrap();
            tx.insert_txn(&txn("000003", REFUND, 200), 0).unwrap();
            let id = tx.insert_txn(&txn("000004", PURCHASE, 700), 0).unwrap();
            tx.mark_reversed(id, "01").unwrap();
            tx.commit().unwrap();
        }
        assert_eq!(
            l.totals("T1", "000001").unwrap(),
            LedgerTotals {
                debits_count: 2,
                debits_amount: 1500,
                credits_count: 1,
                credits_amount: 200
            }
        );
        let tx = l.begin().unwrap();
        assert_eq!(
            tx.replay(&key("000001")).unwrap(),
            Some(("0200".into(), b"answer".to_vec()))
        );
        // Duplicate identity is refused by the schema.
        assert!(tx.record_message(&key("000001"), "0200", b"x", 0).is_err());
        // Upload: 000001 and 000004 and a new 000009; 000002/000003 not uploaded.
        for (stan, code, amount) in [
            ("000001", PURCHASE, 1000),
            ("000004", PURCHASE, 700),
            ("000009", REFUND, 50),
        ] {
            tx.record_upload(&UploadRow {
                key: key(stan),
                batch: "000001".into(),
                proc_code: code.into(),
                amount,
                rrn: None,
                auth_code: None,
            })
            .unwrap();
        }
        let (dropped, added) = tx.apply_uploads("T1", "000001", "M", "978", 0).unwrap();
        assert_eq!((dropped, added), (2, 2));
        let totals = tx.totals("T1", "000001").unwrap();
        assert_eq!(
            totals,
            LedgerTotals {
                debits_count: 2,
                debits_amount: 1700,
                credits_count: 1,
                credits_amount: 50
            }
        );
        tx.record_orphan_reversal(&key("000077"), "01").unwrap();
        assert_eq!(
            tx.take_orphan_reversal(&key("000077")).unwrap().as_deref(),
            Some("01")
        );
        assert_eq!(tx.take_orphan_reversal(&key("000077")).unwrap(), None);
        tx.close_batch("T1", "000001", &totals, true, 0).unwrap();
        assert_eq!(tx.settled_totals("T1", "000001").unwrap(), Some(totals));
        tx.commit().unwrap();
        assert!(l.is_settled("T1", "000001").unwrap());
        assert_eq!(l.message_count().unwrap(), 1);
        let rows = l.txns("T1").unwrap();
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[1].status, TxnStatus::Uncaptured);
        assert_eq!(rows[3].status, TxnStatus::Approved);
        assert_eq!(rows[4].source, "upload");
    }
}

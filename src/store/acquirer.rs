//! The acquirer link's durable state in the till's database: the STAN
//! counter, the open batch, pending reversals, captured transactions,
//! settlements, and the ISO 8583 fields of the offline advices waiting in
//! the outbox (schema step 2).
//!
//! This module holds the SQL and plain row types only, so the store keeps
//! depending on `core` alone; `payment::acquirer::sqlite` implements the
//! session's `AcquirerStore` on [`AcquirerDb`] by converting its own types.
//!
//! Every public method is one committed transaction (writes take the write
//! lock up front, `BEGIN IMMEDIATE`, so two connections never deadlock on a
//! lock upgrade). [`Store::complete_card_sale`] writes a card sale together
//! with its advice, or with the confirmation of its online approval, so the
//! till's books and what it owes the host cannot disagree after a crash.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;

use super::sales::{next_receipt_no, Completion};
use super::{Result, Store, StoreError};
use tillpoint_core::sale::{PricingRules, Sale, Stamp};

/// Which stored transaction kinds (the host profile's processing codes,
/// ISO 8583 field 3, which the payment layer owns) settlement counts as
/// debits and which as credits; the store only adds them up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettlementKinds<'a> {
    pub debit: &'a str,
    pub credit: &'a str,
}

/// A message's identity as the host sees it: MTI, STAN and field 7.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessageId {
    /// The MTI as a number (200 for a 0200).
    pub mti: u16,
    pub stan: u32,
    /// Field 7, `MMDDhhmmss`.
    pub transmitted: String,
}

/// One captured transaction of a batch (settlement and batch upload unit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureRow {
    /// The message that captured it (a 0200 or a 0220).
    pub original: MessageId,
    /// Processing code, e.g. `000000`.
    pub txn_kind: String,
    /// Minor units.
    pub amount: i64,
    /// Fields 12/13 as `MMDDhhmmss`.
    pub local: String,
    pub batch: u32,
    pub rrn: Option<String>,
    pub auth_code: Option<String>,
    pub voided: bool,
}

/// What confirming an approved online request does to the batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaptureChangeRow {
    /// A purchase or refund joins the batch.
    Add(CaptureRow),
    /// A void removes the purchase captured with this STAN.
    Void { batch: u32, original_stan: u32 },
}

/// A reversal the till owes the host (holds no card data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReversalRow {
    pub original: MessageId,
    pub txn_kind: String,
    pub amount: i64,
    pub batch: u32,
    /// Field 61 code, e.g. `06`.
    pub reason: String,
    /// The reversal's own STAN, fixed at creation (repeats keep it).
    pub stan: u32,
    pub transmitted: String,
    pub local: String,
    pub attempts: u32,
    pub due: bool,
}

/// Where an advice stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdviceState {
    Pending,
    /// Acknowledged by the host; card data erased.
    Done,
    /// Refused by the host or unreadable; kept for the operator, card data erased.
    Refused,
}

impl AdviceState {
    /// The outbox `state` column: `pending`, `done`, `failed`.
    fn from_sql(s: &str) -> Result<AdviceState> {
        match s {
            "pending" => Ok(AdviceState::Pending),
            "done" => Ok(AdviceState::Done),
            "failed" => Ok(AdviceState::Refused),
            other => Err(StoreError::Corrupt(format!("outbox state {other:?}"))),
        }
    }
}

/// An offline advice in the outbox, with the ISO 8583 fields that must not
/// change between its first send and any repeat.
#[derive(Clone, PartialEq, Eq)]
pub struct AdviceRow {
    /// Outbox row id; forwarding follows it. Ignored when queueing.
    pub id: i64,
    pub stan: u32,
    pub transmitted: String,
    pub local: String,
    pub batch: u32,
    pub txn_kind: String,
    pub amount: i64,
    pub auth_code: String,
    /// First six and last four digits only.
    pub masked_pan: String,
    /// AES-GCM sealed card data (the payment layer seals and opens it).
    pub sealed_card: Vec<u8>,
    pub created_at_ms: i64,
    pub attempts: u32,
    pub state: AdviceState,
    pub note: Option<String>,
}

impl std::fmt::Debug for AdviceRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The sealed blob is not secret but is noise in logs and assertions.
        f.debug_struct("AdviceRow")
            .field("id", &self.id)
            .field("stan", &self.stan)
            .field("txn_kind", &self.txn_kind)
            .field("amount", &self.amount)
            .field("masked_pan", &self.masked_pan)
            .field("sealed_card_len", &self.sealed_card.len())
            .field("attempts", &self.attempts)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// What is accepted offline and not yet acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exposure {
    pub count: u64,
    pub amount: i64,
    pub oldest_created_at_ms: Option<i64>,
}

/// Settlement counts and amounts of one side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BatchTotals {
    pub debits_count: u64,
    pub debits_amount: u64,
    pub credits_count: u64,
    pub credits_amount: u64,
}

/// How a settlement attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SettlementOutcomeRow {
    Matched,
    MatchedAfterUpload,
    /// Totals still differ after the batch upload; the batch stays open.
    Mismatch,
    /// No settlement took place (host unreachable, reversals owed...).
    Failed,
}

impl SettlementOutcomeRow {
    fn as_sql(self) -> &'static str {
        match self {
            SettlementOutcomeRow::Matched => "matched",
            SettlementOutcomeRow::MatchedAfterUpload => "matched_after_upload",
            SettlementOutcomeRow::Mismatch => "mismatch",
            SettlementOutcomeRow::Failed => "failed",
        }
    }

    fn from_sql(s: &str) -> Result<Self> {
        Ok(match s {
            "matched" => SettlementOutcomeRow::Matched,
            "matched_after_upload" => SettlementOutcomeRow::MatchedAfterUpload,
            "mismatch" => SettlementOutcomeRow::Mismatch,
            "failed" => SettlementOutcomeRow::Failed,
            other => return Err(StoreError::Corrupt(format!("settlement outcome {other:?}"))),
        })
    }
}

/// One settlement attempt, for the Z report and the GUI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SettlementRow {
    pub batch: u32,
    pub outcome: SettlementOutcomeRow,
    pub at_ms: i64,
    pub till: BatchTotals,
    /// The host's figures from its last 0510, when it sent them.
    pub host: Option<BatchTotals>,
    /// Transactions sent in a batch upload (0320).
    pub uploaded: u32,
    /// Why it failed, in words for the shop owner.
    pub note: Option<String>,
}

/// Where the card money stands: the open batch, what still waits for the
/// host, and the last settlement. Data for the Z report and the GUI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SettlementStatus {
    pub open_batch: u32,
    /// Captured, not voided, in the open batch.
    pub open_totals: BatchTotals,
    pub advices_waiting: u64,
    pub advices_refused: u64,
    /// Refunds and post-voids of card and QR tenders not yet delivered.
    pub refunds_voids_waiting: u64,
    /// Refunds and post-voids the host refused: the customer's money did
    /// not move, someone must call the acquirer or refund another way.
    pub refunds_voids_refused: u64,
    pub reversals_pending: u64,
    pub last: Option<SettlementRow>,
}

/// The acquirer side of one electronic tender of a sale being completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardLink {
    /// Index of the tender in the sale.
    pub tender_idx: u32,
    pub effect: CardEffect,
}

/// What the tender leaves for the acquirer link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CardEffect {
    /// Offline (TC) approval: the advice to forward and its capture. The
    /// tender's outbox row, written by the sale, gets the advice's fields.
    Advice {
        /// Boxed: an advice row is large beside the other variant.
        advice: Box<AdviceRow>,
        capture: CaptureRow,
    },
    /// Online approval: clears the reversal armed for `original_stan` and
    /// applies the change to the batch.
    Online {
        original_stan: u32,
        change: CaptureChangeRow,
    },
}

/// A connection to the till's database for the acquirer link (the session
/// and the background forwarder), separate from the sale engine's so that
/// forwarding never waits for the UI thread.
pub struct AcquirerDb {
    conn: Mutex<Connection>,
    path: PathBuf,
    /// Advices acknowledged since the WAL was last scrubbed (see
    /// [`AcquirerDb::mark_done`]).
    acked_since_scrub: std::sync::atomic::AtomicUsize,
}

/// Acknowledged advices after which the WAL is scrubbed even while more
/// wait: a checkpoint per pipelined window would cost the forwarder a disk
/// flush per window.
const SCRUB_EVERY: usize = 1024;

impl std::fmt::Debug for AcquirerDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcquirerDb")
            .field("path", &self.path)
            .finish()
    }
}

impl AcquirerDb {
    /// Opens (creating and migrating if needed) the database at `path`, in
    /// WAL mode with `synchronous=FULL`: a STAN, a reversal or an advice the
    /// link relied on survives a power cut.
    pub fn open(path: &Path) -> Result<AcquirerDb> {
        let conn = super::open_connection(path)?;
        Ok(AcquirerDb {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            acked_since_scrub: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// The database file, for messages that must name it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Corrupt("acquirer database lock poisoned".into()))
    }

    /// Runs `f` in one IMMEDIATE transaction and commits it.
    pub(super) fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Like [`AcquirerDb::write`], committed with `synchronous=NORMAL`: the
    /// commit survives a crash of the process (it is in the WAL) but not
    /// necessarily a power cut, until the next full commit or checkpoint
    /// syncs the WAL (which holds it, in order). Only for records whose loss
    /// costs a repeat the host deduplicates: advice attempts and
    /// acknowledgements. Saves two disk flushes per forwarded window.
    fn write_relaxed<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock()?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let result = (|| -> Result<T> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })();
        let restored = conn.pragma_update(None, "synchronous", "FULL");
        let out = result?;
        restored?;
        Ok(out)
    }

    /// Runs a read in one (deferred) transaction, so it sees one snapshot.
    pub(super) fn read<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Allocates the next STAN (1..=`max`, wrapping to 1; the host profile
    /// owns the range) and commits the counter before returning it, so no
    /// STAN is ever handed out twice.
    pub fn next_stan(&self, max: u32) -> Result<u32> {
        self.write(|tx| {
            let v: i64 = tx
                .prepare_cached(
                    "UPDATE counters SET value = CASE WHEN value >= ?1 OR value < 0 THEN 1 ELSE value + 1 END
                     WHERE name = 'acquirer_stan' RETURNING value",
                )?
                .query_row([max], |r| r.get(0))
                .optional()?
                .ok_or_else(|| StoreError::Corrupt("the STAN counter is missing".into()))?;
            to_u32(v, "STAN")
        })
    }

    /// The open batch number.
    pub fn current_batch(&self) -> Result<u32> {
        self.read(current_batch)
    }

    /// Closes `batch` if it is the open one (the next is numbered up to
    /// `max`, then 1 again); returns the open batch after.
    pub fn close_batch(&self, batch: u32, max: u32) -> Result<u32> {
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE counters SET value = CASE WHEN value >= ?2 OR value < 1 THEN 1 ELSE value + 1 END
                 WHERE name = 'acquirer_batch' AND value = ?1",
            )?
            .execute(params![batch, max])?;
            current_batch(tx)
        })
    }

    /// Inserts the reversal of `r.original.stan`, or replaces it keeping
    /// its place in the queue.
    pub fn save_reversal(&self, r: &ReversalRow) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO acquirer_reversals(original_stan, original_mti, original_transmitted, txn_kind,
                    amount, batch, reason, stan, transmitted, local_time, attempts, due)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)
                 ON CONFLICT(original_stan) DO UPDATE SET
                    original_mti = excluded.original_mti,
                    original_transmitted = excluded.original_transmitted,
                    txn_kind = excluded.txn_kind, amount = excluded.amount, batch = excluded.batch,
                    reason = excluded.reason, stan = excluded.stan, transmitted = excluded.transmitted,
                    local_time = excluded.local_time, attempts = excluded.attempts, due = excluded.due",
            )?
            .execute(params![
                r.original.stan,
                r.original.mti,
                r.original.transmitted,
                r.txn_kind,
                r.amount,
                r.batch,
                r.reason,
                r.stan,
                r.transmitted,
                r.local,
                r.attempts,
                r.due
            ])?;
            Ok(())
        })
    }

    /// Pending reversals, oldest first.
    pub fn pending_reversals(&self) -> Result<Vec<ReversalRow>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT original_mti, original_stan, original_transmitted, txn_kind, amount, batch,
                    reason, stan, transmitted, local_time, attempts, due
                 FROM acquirer_reversals ORDER BY id",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(ReversalRow {
                        original: MessageId {
                            mti: r.get(0)?,
                            stan: r.get(1)?,
                            transmitted: r.get(2)?,
                        },
                        txn_kind: r.get(3)?,
                        amount: r.get(4)?,
                        batch: r.get(5)?,
                        reason: r.get(6)?,
                        stan: r.get(7)?,
                        transmitted: r.get(8)?,
                        local: r.get(9)?,
                        attempts: r.get(10)?,
                        due: r.get(11)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// Deletes the reversal of the original with this STAN.
    pub fn clear_reversal(&self, original_stan: u32) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached("DELETE FROM acquirer_reversals WHERE original_stan = ?1")?
                .execute([original_stan])?;
            Ok(())
        })
    }

    /// Clears the reversal of an approved request and applies its effect on
    /// the batch, atomically. A void whose purchase is not in the batch
    /// changes nothing and fails with [`StoreError::Rejected`].
    pub fn confirm_online(&self, original_stan: u32, change: &CaptureChangeRow) -> Result<()> {
        self.write(|tx| confirm_in(tx, original_stan, change, None))
    }

    /// Adds a capture directly (batch repair and tests).
    pub fn add_capture(&self, c: &CaptureRow) -> Result<()> {
        self.write(|tx| insert_capture(tx, c, None))
    }

    /// Captures of `batch`, in capture order.
    pub fn batch_items(&self, batch: u32) -> Result<Vec<CaptureRow>> {
        self.read(|tx| captures(tx, Some(batch)))
    }

    /// Every capture of every batch (tests and diagnostics).
    pub fn captures_all(&self) -> Result<Vec<CaptureRow>> {
        self.read(|tx| captures(tx, None))
    }

    /// Queues an advice without a sale (the session's own `queue_offline`)
    /// together with its capture; returns the outbox id.
    pub fn enqueue_advice(&self, a: &AdviceRow, capture: &CaptureRow) -> Result<i64> {
        self.write(|tx| {
            insert_advice(tx, a)?;
            let id = tx.last_insert_rowid();
            insert_capture(tx, capture, None)?;
            Ok(id)
        })
    }

    /// Queues many prepared advices with their captures in one transaction
    /// (the forwarding benchmark's setup; the caller allocated their STANs).
    pub fn enqueue_advices(&self, items: &[(AdviceRow, CaptureRow)]) -> Result<()> {
        self.write(|tx| {
            for (a, capture) in items {
                insert_advice(tx, a)?;
                insert_capture(tx, capture, None)?;
            }
            Ok(())
        })
    }

    /// Up to `limit` pending advices, in queue order.
    pub fn outbox_pending(&self, limit: usize) -> Result<Vec<AdviceRow>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|tx| {
            advices(
                tx,
                "WHERE state = 'pending' AND txn_kind IS NOT NULL ORDER BY id LIMIT ?1",
                Some(limit),
            )
        })
    }

    /// Every advice in any state (tests and diagnostics).
    pub fn outbox_all(&self) -> Result<Vec<AdviceRow>> {
        self.read(|tx| advices(tx, "WHERE txn_kind IS NOT NULL ORDER BY id", None))
    }

    /// Records that advices are about to be sent, each for its `attempts`-th
    /// time, in one transaction (relaxed sync: a lost count only turns a
    /// 0221 back into a 0220 with the same identity, which the host
    /// deduplicates all the same).
    pub fn mark_attempts(&self, items: &[(i64, u32)]) -> Result<()> {
        self.write_relaxed(|tx| {
            let mut stmt = tx.prepare_cached(
                "UPDATE outbox SET attempts = ?2 WHERE id = ?1 AND txn_kind IS NOT NULL",
            )?;
            for (id, attempts) in items {
                if stmt.execute(params![id, attempts])? != 1 {
                    return Err(StoreError::Rejected(format!("no outbox advice {id}")));
                }
            }
            Ok(())
        })
    }

    /// Marks advices acknowledged and erases their card data, in one
    /// transaction. Already finished items are left as they are. Relaxed
    /// sync: a mark lost to a power cut means the advice is sent again and
    /// answered from the host's ledger, then marked again.
    pub fn mark_done(&self, ids: &[i64], at_ms: i64) -> Result<()> {
        self.write_relaxed(|tx| {
            let mut stmt = tx.prepare_cached(
                "UPDATE outbox SET state = 'done', done_at_ms = ?2, card_data = NULL
                 WHERE id = ?1 AND state = 'pending' AND txn_kind IS NOT NULL",
            )?;
            for id in ids {
                stmt.execute(params![id, at_ms])?;
            }
            Ok(())
        })?;
        // The erased card data leaves the WAL when the queue has drained, or
        // every SCRUB_EVERY acknowledgements under a steady stream.
        use std::sync::atomic::Ordering;
        let acked = self
            .acked_since_scrub
            .fetch_add(ids.len(), Ordering::Relaxed)
            + ids.len();
        let conn = self.lock()?;
        let waiting: bool = conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM outbox WHERE state = 'pending' AND card_data IS NOT NULL)",
            [],
            |r| r.get(0),
        )?;
        if !waiting || acked >= SCRUB_EVERY {
            self.acked_since_scrub.store(0, Ordering::Relaxed);
            super::scrub(&conn)?;
        }
        Ok(())
    }

    /// Replaces the sealed card data of waiting advices in one transaction
    /// (a key rotation), then scrubs the old blobs from the file and WAL.
    pub fn reseal(&self, blobs: &[(i64, &[u8])]) -> Result<()> {
        self.write(|tx| {
            let mut stmt = tx.prepare_cached(
                "UPDATE outbox SET card_data = ?2 WHERE id = ?1 AND state = 'pending' AND card_data IS NOT NULL",
            )?;
            for (id, blob) in blobs {
                stmt.execute(params![id, blob])?;
            }
            Ok(())
        })?;
        super::scrub(&*self.lock()?)
    }

    /// Marks an advice refused (kept for the operator, not retried) and
    /// erases its card data.
    pub fn mark_refused(&self, id: i64, note: &str, at_ms: i64) -> Result<()> {
        self.write(|tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE outbox SET state = 'failed', last_error = ?2, done_at_ms = ?3, card_data = NULL
                     WHERE id = ?1 AND txn_kind IS NOT NULL",
                )?
                .execute(params![id, note, at_ms])?;
            if n != 1 {
                return Err(StoreError::Rejected(format!("no outbox advice {id}")));
            }
            Ok(())
        })?;
        super::scrub(&*self.lock()?)
    }

    /// Count, amount and age of the advices not yet acknowledged.
    pub fn exposure(&self) -> Result<Exposure> {
        self.read(|tx| {
            let (count, amount, oldest): (i64, i64, Option<i64>) = tx
                .prepare_cached(
                    "SELECT COUNT(*), COALESCE(SUM(amount), 0), MIN(created_at_ms) FROM outbox
                     WHERE state = 'pending' AND txn_kind IS NOT NULL",
                )?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(Exposure {
                count: u64::try_from(count).unwrap_or(0),
                amount,
                oldest_created_at_ms: oldest,
            })
        })
    }

    /// Records how a settlement attempt ended.
    pub fn record_settlement(&self, s: &SettlementRow) -> Result<()> {
        self.write(|tx| insert_settlement(tx, s))
    }

    /// The open batch, what waits, and the last settlement.
    pub fn settlement_status(&self, kinds: SettlementKinds<'_>) -> Result<SettlementStatus> {
        self.read(|tx| settlement_status(tx, kinds))
    }
}

impl Store {
    /// Completes a fully paid sale together with what its electronic
    /// tenders leave for the acquirer, in ONE transaction: the sale, its
    /// journal entry, its outbox rows (now carrying each offline advice's
    /// STAN, field 7 and sealed card data), the captures, and the clearing
    /// of the reversals armed for its online approvals. A crash leaves either
    /// all of it or none of it, so a completed sale is never left without its
    /// advice, and an online approval the cashier completed is never reversed.
    pub fn complete_card_sale(
        &mut self,
        sale: &Sale,
        rules: &PricingRules,
        at_ms: i64,
        local_hour: u8,
        links: &[CardLink],
    ) -> Result<Completion> {
        let settings = self.settings.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let receipt_no = next_receipt_no(&tx, &settings)?;
        let record = sale.complete(
            rules,
            Stamp {
                receipt_no,
                at_ms,
                local_hour,
            },
        )?;
        let payloads: Vec<(u32, Vec<u8>)> = links
            .iter()
            .filter_map(|l| match &l.effect {
                CardEffect::Advice { advice, .. } => {
                    Some((l.tender_idx, advice.sealed_card.clone()))
                }
                CardEffect::Online { .. } => None,
            })
            .collect();
        let done = Store::record_completion(&settings, &tx, record, at_ms, &payloads)?;
        for link in links {
            match &link.effect {
                CardEffect::Advice { advice, capture } => {
                    let n = tx
                        .prepare_cached(
                            "UPDATE outbox SET stan = ?3, transmitted = ?4, local_time = ?5, batch = ?6,
                                txn_kind = ?7, amount = ?8, auth_code = ?9, masked_pan = ?10, created_at_ms = ?11
                             WHERE sale_id = ?1 AND tender_idx = ?2 AND kind = 'advice' AND txn_kind IS NULL",
                        )?
                        .execute(params![
                            done.sale_id,
                            link.tender_idx,
                            advice.stan,
                            advice.transmitted,
                            advice.local,
                            advice.batch,
                            advice.txn_kind,
                            advice.amount,
                            advice.auth_code,
                            advice.masked_pan,
                            advice.created_at_ms
                        ])?;
                    if n != 1 {
                        return Err(StoreError::Rejected(format!(
                            "tender {} is not an offline card payment of this sale",
                            link.tender_idx
                        )));
                    }
                    insert_capture(&tx, capture, Some(done.sale_id))?;
                }
                CardEffect::Online {
                    original_stan,
                    change,
                } => confirm_in(&tx, *original_stan, change, Some(done.sale_id))?,
            }
        }
        tx.commit()?;
        Ok(done)
    }

    /// Where the card money stands (open batch, advices waiting, last
    /// settlement), read on the sale engine's connection for the Z report.
    pub fn settlement_status(&mut self, kinds: SettlementKinds<'_>) -> Result<SettlementStatus> {
        let tx = crate::begin_write(&mut self.conn)?;
        let s = settlement_status(&tx, kinds)?;
        tx.commit()?;
        Ok(s)
    }
}

fn to_u32(v: i64, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v} out of range")))
}

pub(super) fn current_batch(tx: &Transaction<'_>) -> Result<u32> {
    let v: i64 = tx
        .prepare_cached("SELECT value FROM counters WHERE name = 'acquirer_batch'")?
        .query_row([], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::Corrupt("the batch counter is missing".into()))?;
    to_u32(v, "batch")
}

fn insert_advice(tx: &Transaction<'_>, a: &AdviceRow) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO outbox(sale_id, tender_idx, kind, state, created_at_ms, attempts, stan,
            card_data, transmitted, local_time, batch, txn_kind, amount, auth_code, masked_pan)
         VALUES (NULL, NULL, 'advice', 'pending', ?1, 0, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        a.created_at_ms,
        a.stan,
        a.sealed_card,
        a.transmitted,
        a.local,
        a.batch,
        a.txn_kind,
        a.amount,
        a.auth_code,
        a.masked_pan
    ])?;
    Ok(())
}

fn insert_capture(tx: &Transaction<'_>, c: &CaptureRow, sale_id: Option<i64>) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO acquirer_captures(batch, original_mti, stan, transmitted, txn_kind, amount,
            local_time, rrn, auth_code, voided, sale_id)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
    )?
    .execute(params![
        c.batch,
        c.original.mti,
        c.original.stan,
        c.original.transmitted,
        c.txn_kind,
        c.amount,
        c.local,
        c.rrn,
        c.auth_code,
        c.voided,
        sale_id
    ])?;
    Ok(())
}

pub(super) fn confirm_in(
    tx: &Transaction<'_>,
    original_stan: u32,
    change: &CaptureChangeRow,
    sale_id: Option<i64>,
) -> Result<()> {
    tx.prepare_cached("DELETE FROM acquirer_reversals WHERE original_stan = ?1")?
        .execute([original_stan])?;
    match change {
        CaptureChangeRow::Add(c) => insert_capture(tx, c, sale_id),
        CaptureChangeRow::Void {
            batch,
            original_stan,
        } => {
            let n = tx
                .prepare_cached(
                    "UPDATE acquirer_captures SET voided = 1 WHERE id = (
                        SELECT id FROM acquirer_captures
                        WHERE batch = ?1 AND stan = ?2 AND voided = 0 ORDER BY id LIMIT 1)",
                )?
                .execute(params![batch, original_stan])?;
            if n != 1 {
                return Err(StoreError::Rejected(format!(
                    "no capture {original_stan:06} in batch {batch} to void"
                )));
            }
            Ok(())
        }
    }
}

/// The columns [`capture_from`] reads, in its order.
pub(super) const CAPTURE_COLUMNS: &str =
    "original_mti, stan, transmitted, txn_kind, amount, local_time, batch, rrn, auth_code, voided";

/// A capture from a row selected with [`CAPTURE_COLUMNS`].
pub(super) fn capture_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<CaptureRow> {
    Ok(CaptureRow {
        original: MessageId {
            mti: r.get(0)?,
            stan: r.get(1)?,
            transmitted: r.get(2)?,
        },
        txn_kind: r.get(3)?,
        amount: r.get(4)?,
        local: r.get(5)?,
        batch: r.get(6)?,
        rrn: r.get(7)?,
        auth_code: r.get(8)?,
        voided: r.get(9)?,
    })
}

fn captures(tx: &Transaction<'_>, batch: Option<u32>) -> Result<Vec<CaptureRow>> {
    let sql = format!(
        "SELECT {CAPTURE_COLUMNS} FROM acquirer_captures WHERE ?1 IS NULL OR batch = ?1 ORDER BY id"
    );
    let rows = tx
        .prepare_cached(&sql)?
        .query_map([batch], capture_from)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Reads advices with a `WHERE ... ORDER BY ...` tail (and an optional
/// `?1` limit); the tail is always a constant of this module.
fn advices(tx: &Transaction<'_>, tail: &str, limit: Option<i64>) -> Result<Vec<AdviceRow>> {
    let sql = format!(
        "SELECT id, stan, transmitted, local_time, batch, txn_kind, amount, auth_code, masked_pan,
            card_data, created_at_ms, attempts, state, last_error
         FROM outbox {tail}"
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let map = |r: &rusqlite::Row<'_>| {
        Ok((
            AdviceRow {
                id: r.get(0)?,
                stan: r.get::<_, Option<u32>>(1)?.unwrap_or(0),
                transmitted: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                local: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                batch: r.get::<_, Option<u32>>(4)?.unwrap_or(0),
                txn_kind: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
                amount: r.get::<_, Option<i64>>(6)?.unwrap_or(0),
                auth_code: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
                masked_pan: r.get::<_, Option<String>>(8)?.unwrap_or_default(),
                sealed_card: r.get::<_, Option<Vec<u8>>>(9)?.unwrap_or_default(),
                created_at_ms: r.get(10)?,
                attempts: r.get(11)?,
                state: AdviceState::Pending,
                note: r.get(13)?,
            },
            r.get::<_, String>(12)?,
        ))
    };
    let raw = match limit {
        Some(l) => stmt
            .query_map([l], map)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
        None => stmt
            .query_map([], map)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
    };
    raw.into_iter()
        .map(|(mut a, state)| {
            a.state = AdviceState::from_sql(&state)?;
            Ok(a)
        })
        .collect()
}

fn insert_settlement(tx: &Transaction<'_>, s: &SettlementRow) -> Result<()> {
    let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let host = s.host.unwrap_or_default();
    let h = |v: u64| s.host.map(|_| as_i64(v));
    tx.prepare_cached(
        "INSERT INTO acquirer_settlements(batch, outcome, at_ms, till_debits_count, till_debits_amount,
            till_credits_count, till_credits_amount, host_debits_count, host_debits_amount,
            host_credits_count, host_credits_amount, uploaded, note)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
    )?
    .execute(params![
        s.batch,
        s.outcome.as_sql(),
        s.at_ms,
        as_i64(s.till.debits_count),
        as_i64(s.till.debits_amount),
        as_i64(s.till.credits_count),
        as_i64(s.till.credits_amount),
        h(host.debits_count),
        h(host.debits_amount),
        h(host.credits_count),
        h(host.credits_amount),
        s.uploaded,
        s.note
    ])?;
    Ok(())
}

fn settlement_status(tx: &Transaction<'_>, kinds: SettlementKinds<'_>) -> Result<SettlementStatus> {
    let open_batch = current_batch(tx)?;
    let mut open_totals = BatchTotals::default();
    {
        let mut stmt = tx.prepare_cached(
            "SELECT txn_kind, COUNT(*), COALESCE(SUM(amount), 0) FROM acquirer_captures
             WHERE batch = ?1 AND voided = 0 GROUP BY txn_kind",
        )?;
        let rows = stmt
            .query_map([open_batch], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for (kind, count, amount) in rows {
            let (count, amount) = (
                u64::try_from(count).unwrap_or(0),
                u64::try_from(amount).unwrap_or(0),
            );
            match kind.as_str() {
                k if k == kinds.debit => {
                    open_totals.debits_count += count;
                    open_totals.debits_amount += amount;
                }
                k if k == kinds.credit => {
                    open_totals.credits_count += count;
                    open_totals.credits_amount += amount;
                }
                _ => {}
            }
        }
    }
    let (waiting, refused): (i64, i64) = tx
        .prepare_cached(
            "SELECT COALESCE(SUM(state = 'pending'), 0), COALESCE(SUM(state = 'failed'), 0)
             FROM outbox WHERE txn_kind IS NOT NULL",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let reversals: i64 = tx
        .prepare_cached("SELECT COUNT(*) FROM acquirer_reversals")?
        .query_row([], |r| r.get(0))?;
    type Raw = (
        u32,
        String,
        i64,
        [i64; 4],
        [Option<i64>; 4],
        u32,
        Option<String>,
    );
    let last: Option<Raw> = tx
        .prepare_cached(
            "SELECT batch, outcome, at_ms, till_debits_count, till_debits_amount, till_credits_count,
                till_credits_amount, host_debits_count, host_debits_amount, host_credits_count,
                host_credits_amount, uploaded, note
             FROM acquirer_settlements ORDER BY id DESC LIMIT 1",
        )?
        .query_row([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                [r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?],
                [r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?],
                r.get(11)?,
                r.get(12)?,
            ))
        })
        .optional()?;
    let totals = |v: [i64; 4]| {
        let u = |x: i64| u64::try_from(x).unwrap_or(0);
        BatchTotals {
            debits_count: u(v[0]),
            debits_amount: u(v[1]),
            credits_count: u(v[2]),
            credits_amount: u(v[3]),
        }
    };
    let last = match last {
        None => None,
        Some((batch, outcome, at_ms, till, host, uploaded, note)) => Some(SettlementRow {
            batch,
            outcome: SettlementOutcomeRow::from_sql(&outcome)?,
            at_ms,
            till: totals(till),
            host: match host {
                [Some(a), Some(b), Some(c), Some(d)] => Some(totals([a, b, c, d])),
                _ => None,
            },
            uploaded,
            note,
        }),
    };
    let instructions = counts(tx)?;
    Ok(SettlementStatus {
        open_batch,
        open_totals,
        advices_waiting: u64::try_from(waiting).unwrap_or(0),
        advices_refused: u64::try_from(refused).unwrap_or(0),
        refunds_voids_waiting: instructions.pending,
        refunds_voids_refused: instructions.refused,
        reversals_pending: u64::try_from(reversals).unwrap_or(0),
        last,
    })
}

/// Outbox rows of refunds and voids, by state, for status lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InstructionCounts {
    pub pending: u64,
    pub refused: u64,
}

/// Refunds and voids of card and QR payments waiting for the acquirer
/// and refused by it (their rows are the outbox's; see `instructions`).
pub(super) fn counts(tx: &rusqlite::Connection) -> Result<InstructionCounts> {
    let (pending, refused): (i64, i64) = tx
        .prepare_cached(
            "SELECT COALESCE(SUM(state = 'pending'), 0), COALESCE(SUM(state = 'failed'), 0)
             FROM outbox WHERE kind IN ('refund', 'void') AND txn_kind IS NULL",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(InstructionCounts {
        pending: u64::try_from(pending).unwrap_or(0),
        refused: u64::try_from(refused).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PURCHASE: &str = "000000";
    const REFUND: &str = "200000";
    const KINDS: SettlementKinds<'static> = SettlementKinds {
        debit: PURCHASE,
        credit: REFUND,
    };

    fn id(stan: u32) -> MessageId {
        MessageId {
            mti: 200,
            stan,
            transmitted: "0102030405".into(),
        }
    }

    fn capture(stan: u32, amount: i64) -> CaptureRow {
        CaptureRow {
            original: id(stan),
            txn_kind: PURCHASE.into(),
            amount,
            local: "0102030405".into(),
            batch: 1,
            rrn: Some("000000000001".into()),
            auth_code: None,
            voided: false,
        }
    }

    fn advice(stan: u32, amount: i64) -> AdviceRow {
        AdviceRow {
            id: 0,
            stan,
            transmitted: "0102030405".into(),
            local: "0102030405".into(),
            batch: 1,
            txn_kind: PURCHASE.into(),
            amount,
            auth_code: "Y1".into(),
            masked_pan: "476173******0010".into(),
            sealed_card: vec![9; 40],
            created_at_ms: 1000,
            attempts: 0,
            state: AdviceState::Pending,
            note: None,
        }
    }

    #[test]
    fn stan_counter_survives_reopening_and_wraps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("till.db");
        let db = AcquirerDb::open(&path).unwrap();
        assert_eq!(db.next_stan(999_999).unwrap(), 1);
        assert_eq!(db.next_stan(999_999).unwrap(), 2);
        drop(db);
        let db = AcquirerDb::open(&path).unwrap();
        assert_eq!(db.next_stan(999_999).unwrap(), 3);
        db.lock()
            .unwrap()
            .execute(
                "UPDATE counters SET value = 999999 WHERE name = 'acquirer_stan'",
                [],
            )
            .unwrap();
        assert_eq!(db.next_stan(999_999).unwrap(), 1);
    }

    #[test]
    fn reversals_keep_their_place_when_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let db = AcquirerDb::open(&dir.path().join("till.db")).unwrap();
        let r = |orig: u32, due: bool| ReversalRow {
            original: id(orig),
            txn_kind: PURCHASE.into(),
            amount: 100,
            batch: 1,
            reason: "06".into(),
            stan: orig + 1,
            transmitted: "0102030405".into(),
            local: "0102030405".into(),
            attempts: 0,
            due,
        };
        db.save_reversal(&r(10, false)).unwrap();
        db.save_reversal(&r(20, false)).unwrap();
        db.save_reversal(&r(10, true)).unwrap();
        let list = db.pending_reversals().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0], r(10, true));
        db.clear_reversal(10).unwrap();
        assert_eq!(db.pending_reversals().unwrap(), vec![r(20, false)]);
    }

    #[test]
    fn void_of_a_missing_capture_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = AcquirerDb::open(&dir.path().join("till.db")).unwrap();
        db.add_capture(&capture(5, 100)).unwrap();
        let void = CaptureChangeRow::Void {
            batch: 1,
            original_stan: 5,
        };
        db.confirm_online(6, &void).unwrap();
        assert!(db.batch_items(1).unwrap()[0].voided);
        assert!(db.confirm_online(6, &void).is_err(), "voided once");
        assert_eq!(db.close_batch(1, 999_999).unwrap(), 2);
        assert_eq!(
            db.close_batch(1, 999_999).unwrap(),
            2,
            "closing twice is harmless"
        );
        assert!(db.batch_items(2).unwrap().is_empty());
    }

    fn settings() -> crate::StoreSettings {
        crate::StoreSettings {
            currency: tillpoint_core::money::Currency::CNY,
            opening_float: 0,
            till_id: "T01".into(),
            policy: Default::default(),
            journal_key: None,
        }
    }

    fn card_sale(amount: i64, offline: bool) -> (Sale, PricingRules) {
        use tillpoint_core::catalog::{Product, Qty, Unit};
        use tillpoint_core::money::Money;
        use tillpoint_core::tender::{CardRef, TenderKind};
        let (config, _) = tillpoint_config::Config::parse("").unwrap();
        let rules = config.pricing.clone();
        let cur = rules.currency;
        let mut sale = Sale::new(cur, 1);
        sale.add(
            &Product {
                sku: "1".into(),
                name: "Tea".into(),
                barcodes: vec![],
                price: Money::new(amount, cur),
                tax_class: "A".into(),
                category: "c".into(),
                unit: Unit::Piece,
            },
            Qty::ONE,
        )
        .unwrap();
        let card = CardRef {
            masked_pan: "476173******0119".into(),
            offline,
            ..CardRef::default()
        };
        sale.pay_electronic(TenderKind::Card, Money::new(amount, cur), card, &rules)
            .unwrap();
        (sale, rules)
    }

    #[test]
    fn card_sale_and_its_advice_are_one_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("till.db");
        let mut store = Store::open(&path, settings()).unwrap();
        let db = AcquirerDb::open(&path).unwrap();
        let (sale, rules) = card_sale(700, true);
        let link = |idx| CardLink {
            tender_idx: idx,
            effect: CardEffect::Advice {
                advice: Box::new(advice(31, 700)),
                capture: capture(31, 700),
            },
        };
        // A link to a tender that is not an offline card payment: nothing at all is written.
        assert!(store
            .complete_card_sale(&sale, &rules, 1, 9, &[link(1)])
            .is_err());
        assert_eq!(store.sale_count().unwrap(), 0);
        assert!(db.captures_all().unwrap().is_empty());
        let done = store
            .complete_card_sale(&sale, &rules, 1, 9, &[link(0)])
            .unwrap();
        let queued = db.outbox_pending(10).unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].stan, 31);
        assert_eq!(queued[0].sealed_card, vec![9; 40]);
        assert_eq!(db.batch_items(1).unwrap(), vec![capture(31, 700)]);
        let sale_of: Option<i64> = db
            .lock()
            .unwrap()
            .query_row("SELECT sale_id FROM acquirer_captures", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sale_of, Some(done.sale_id));

        // An online approval: its armed reversal goes with the sale.
        let reversal = ReversalRow {
            original: id(40),
            txn_kind: PURCHASE.into(),
            amount: 900,
            batch: 1,
            reason: "06".into(),
            stan: 41,
            transmitted: "0102030405".into(),
            local: "0102030405".into(),
            attempts: 0,
            due: false,
        };
        db.save_reversal(&reversal).unwrap();
        let (sale, rules) = card_sale(900, false);
        store
            .complete_card_sale(
                &sale,
                &rules,
                2,
                9,
                &[CardLink {
                    tender_idx: 0,
                    effect: CardEffect::Online {
                        original_stan: 40,
                        change: CaptureChangeRow::Add(capture(40, 900)),
                    },
                }],
            )
            .unwrap();
        assert!(db.pending_reversals().unwrap().is_empty());
        assert_eq!(db.batch_items(1).unwrap().len(), 2);
        assert_eq!(
            store
                .settlement_status(KINDS)
                .unwrap()
                .open_totals
                .debits_amount,
            1600
        );
    }

    #[test]
    fn advices_flow_through_the_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let db = AcquirerDb::open(&dir.path().join("till.db")).unwrap();
        let a = db
            .enqueue_advice(&advice(1, 100), &capture(1, 100))
            .unwrap();
        let b = db
            .enqueue_advice(&advice(2, 250), &capture(2, 250))
            .unwrap();
        let e = db.exposure().unwrap();
        assert_eq!(
            (e.count, e.amount, e.oldest_created_at_ms),
            (2, 350, Some(1000))
        );
        db.mark_attempts(&[(a, 1), (b, 1)]).unwrap();
        db.mark_done(&[a], 5).unwrap();
        db.mark_refused(b, "host refused", 6).unwrap();
        assert!(db.outbox_pending(10).unwrap().is_empty());
        let all = db.outbox_all().unwrap();
        assert_eq!(all[0].state, AdviceState::Done);
        assert_eq!(all[0].attempts, 1);
        assert!(all[0].sealed_card.is_empty(), "card data erased");
        assert_eq!(all[1].state, AdviceState::Refused);
        assert_eq!(all[1].note.as_deref(), Some("host refused"));
        assert!(db.mark_attempts(&[(999, 1)]).is_err());
        let status = db.settlement_status(KINDS).unwrap();
        assert_eq!(status.open_totals.debits_count, 2);
        assert_eq!(status.advices_refused, 1);
        assert_eq!(status.advices_waiting, 0);
        assert!(status.last.is_none());
        let row = SettlementRow {
            batch: 1,
            outcome: SettlementOutcomeRow::Matched,
            at_ms: 7,
            till: status.open_totals,
            host: Some(status.open_totals),
            uploaded: 0,
            note: None,
        };
        db.record_settlement(&row).unwrap();
        assert_eq!(db.settlement_status(KINDS).unwrap().last, Some(row));
    }
}

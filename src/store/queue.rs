//! The print queue and the acquirer outbox: work that was promised inside a
//! sale's transaction and is carried out, exactly once, afterwards.

use super::{Result, Store};
use rusqlite::params;

/// Moves the print floor up to the oldest job still queued (or past the
/// newest job when none is), so that finding queued jobs reads only the
/// table's tail. Kept by the printer's side, never by the sale's commit.
fn advance_print_floor(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    tx.execute(
        "INSERT INTO counters(name, value)
         SELECT 'print_floor', COALESCE(
             (SELECT MIN(id) FROM print_jobs
              WHERE id >= (SELECT COALESCE(MAX(value), 0) FROM counters WHERE name = 'print_floor')
                AND state = 'queued'),
             (SELECT COALESCE(MAX(id), 0) + 1 FROM print_jobs))
         WHERE true
         ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        [],
    )?;
    Ok(())
}

/// A receipt waiting to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintJob {
    pub id: i64,
    pub sale_id: Option<i64>,
    pub receipt_no: Option<String>,
    pub kind: String,
    pub copies: i64,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// An outbox row waiting for the acquirer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: i64,
    /// `None` for an advice the acquirer session queued without a sale.
    pub sale_id: Option<i64>,
    /// `None` together with `sale_id`.
    pub tender_idx: Option<i64>,
    pub kind: String,
    pub created_at_ms: i64,
    pub attempts: i64,
    pub stan: Option<i64>,
    pub card_data: Option<Vec<u8>>,
}

impl Store {
    /// Queued print jobs, oldest first. Jobs below the print floor (see
    /// [`advance_print_floor`]) are all printed, so only the tail of the
    /// table is read; a sale writes no queue index.
    pub fn queued_print_jobs(&self) -> Result<Vec<PrintJob>> {
        let mut stmt = self.conn.prepare(
            "SELECT j.id, j.sale_id, s.receipt_no, j.kind, j.copies, j.attempts, j.last_error
             FROM print_jobs j LEFT JOIN sales s ON s.id = j.sale_id
             WHERE j.id >= (SELECT COALESCE(MAX(value), 0) FROM counters WHERE name = 'print_floor')
               AND j.state = 'queued'
             ORDER BY j.id",
        )?;
        let v = stmt
            .query_map([], |r| {
                Ok(PrintJob {
                    id: r.get(0)?,
                    sale_id: r.get(1)?,
                    receipt_no: r.get(2)?,
                    kind: r.get(3)?,
                    copies: r.get(4)?,
                    attempts: r.get(5)?,
                    last_error: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }

    /// Marks a job printed. Returns false when it was already printed, so a
    /// caller racing a restart never prints a job twice.
    pub fn mark_printed(&mut self, job: i64, at_ms: i64) -> Result<bool> {
        let tx = crate::begin_write(&mut self.conn)?;
        let marked = tx.execute(
            "UPDATE print_jobs SET state = 'printed', printed_at_ms = ?2 WHERE id = ?1 AND state = 'queued'",
            params![job, at_ms],
        )? == 1;
        advance_print_floor(&tx)?;
        // The printer side makes this write after every receipt anyway:
        // the period's totals are brought up to date here, not in the
        // sale's own commit.
        super::reports::fold_open_period(&tx)?;
        tx.commit()?;
        Ok(marked)
    }

    /// Records that one copy of a multi-copy job (e.g. the merchant slip of a card
    /// sale) came out whole: the job's copy count drops by one, so a retry after paper
    /// runs out in the next copy prints only the copies still missing. The last copy is
    /// recorded with [`Store::mark_printed`] instead. Returns false when there was no
    /// such queued job with more than one copy left.
    pub fn mark_copy_printed(&mut self, job: i64) -> Result<bool> {
        Ok(self.conn.execute(
            "UPDATE print_jobs SET copies = copies - 1 WHERE id = ?1 AND state = 'queued' AND copies > 1",
            params![job],
        )? == 1)
    }

    /// Records a failed attempt; the job stays queued with the reason shown.
    pub fn mark_print_failed(&mut self, job: i64, error: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE print_jobs SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
            params![job, error],
        )?;
        Ok(())
    }

    /// Queues a reprint of a receipt (one customer copy, marked as a reprint).
    pub fn queue_reprint(&mut self, receipt_no: &str, at_ms: i64) -> Result<i64> {
        let tx = crate::begin_write(&mut self.conn)?;
        let sale_id = super::sales::sale_id_of(&tx, receipt_no)?
            .ok_or_else(|| super::StoreError::NoSuchReceipt(receipt_no.trim().to_string()))?;
        tx.execute(
            "INSERT INTO print_jobs(sale_id, kind, copies, created_at_ms) VALUES (?1, 'reprint', 1, ?2)",
            params![sale_id, at_ms],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(id)
    }

    /// Pending outbox rows in the order they were written.
    pub fn pending_outbox(&self, limit: usize) -> Result<Vec<OutboxItem>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, sale_id, tender_idx, kind, created_at_ms, attempts, stan, card_data
             FROM outbox WHERE state = 'pending' ORDER BY id LIMIT ?1",
        )?;
        let v = stmt
            .query_map([limit as i64], |r| {
                Ok(OutboxItem {
                    id: r.get(0)?,
                    sale_id: r.get(1)?,
                    tender_idx: r.get(2)?,
                    kind: r.get(3)?,
                    created_at_ms: r.get(4)?,
                    attempts: r.get(5)?,
                    stan: r.get(6)?,
                    card_data: r.get(7)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }

    /// Outbox items still waiting that were queued before `before_ms`.
    pub fn overdue_outbox_count(&self, before_ms: i64) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND created_at_ms < ?1",
            [before_ms],
            |r| r.get(0),
        )?)
    }

    pub fn pending_outbox_count(&self) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM outbox WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?)
    }

    /// Marks an outbox row acknowledged and erases its card data: the full
    /// PAN is kept only while the advice waits.
    pub fn outbox_done(&mut self, id: i64, at_ms: i64) -> Result<bool> {
        let done = self.conn.execute(
            "UPDATE outbox SET state = 'done', done_at_ms = ?2, card_data = NULL WHERE id = ?1 AND state = 'pending'",
            params![id, at_ms],
        )? == 1;
        crate::scrub(&self.conn)?;
        Ok(done)
    }

    /// Records a delivery attempt (and the STAN it used, kept for repeats).
    pub fn outbox_attempt(&mut self, id: i64, stan: i64, error: Option<&str>) -> Result<()> {
        self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, stan = COALESCE(stan, ?2), last_error = ?3 WHERE id = ?1",
            params![id, stan, error],
        )?;
        Ok(())
    }
}

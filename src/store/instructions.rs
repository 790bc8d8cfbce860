//! Refunds and post-voids of electronic tenders, as the acquirer link must
//! deliver them (schema step 3).
//!
//! The sale engine records a refund or a post-void first, with one outbox
//! row per card or QR tender (`kind` = `refund` or `void`), in the same
//! transaction as the journal entry: the till's books never wait for the
//! host. This module reads those rows back as [`InstructionRow`]s, each with
//! the capture of the original payment it refers to, and records how the
//! host answered. Delivering the acknowledgement and applying its effect on
//! the batch happen in one transaction ([`AcquirerDb::instruction_done`]),
//! so a crash can neither lose a delivered refund nor send it twice.

use rusqlite::{params, OptionalExtension, Transaction};

use super::acquirer::{
    capture_from, confirm_in, counts, current_batch, AcquirerDb, CaptureChangeRow, CaptureRow,
    CAPTURE_COLUMNS,
};
use super::sales::{load_record, sale_id_of};
use super::{Result, StoreError};

/// Which message an instruction becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstructionKind {
    /// Money back to the card of the original payment.
    Refund,
    /// The whole original payment cancelled (same day).
    Void,
}

/// One refund or post-void of an electronic tender waiting for the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstructionRow {
    /// The outbox row; delivery follows its order.
    pub id: i64,
    pub kind: InstructionKind,
    /// Receipt of the refund, or of the voided sale.
    pub receipt_no: String,
    /// Minor units, positive: the tender's share of the refund or void.
    pub amount: i64,
    pub attempts: u32,
    /// The capture of the payment being refunded or voided; `None` when the
    /// till has no acquirer record of it (paid before the link was set up,
    /// or on another terminal).
    pub original: Option<CaptureRow>,
    /// The acquirer batch open now, to tell a same-batch void from one whose
    /// original is already settled.
    pub open_batch: u32,
    /// Why the row cannot be read (a damaged or unknown row): it is set
    /// aside with this reason instead of blocking the ones after it.
    pub problem: Option<String>,
}

impl AcquirerDb {
    /// Up to `limit` pending refunds and voids, oldest first.
    pub fn instructions_pending(&self, limit: usize) -> Result<Vec<InstructionRow>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|tx| {
            let rows: Vec<OutboxRef> = tx
                .prepare_cached(
                    "SELECT id, kind, sale_id, tender_idx, attempts FROM outbox
                     WHERE state = 'pending' AND kind IN ('refund', 'void') AND txn_kind IS NULL
                     ORDER BY id LIMIT ?1",
                )?
                .query_map([limit], |r| {
                    Ok(OutboxRef {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        sale_id: r.get(2)?,
                        tender_idx: r.get(3)?,
                        attempts: r.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let open_batch = current_batch(tx)?;
            rows.iter()
                .map(|row| match instruction(tx, row, open_batch) {
                    Err(StoreError::Corrupt(why)) => Ok(unreadable(row, open_batch, why)),
                    other => other,
                })
                .collect()
        })
    }

    /// The refunds and voids the host refused, oldest first: when, and why
    /// (the reason names the receipt), for the shop owner to act on.
    pub fn refused_instructions(&self) -> Result<Vec<(i64, String)>> {
        self.read(|tx| {
            Ok(tx
                .prepare_cached(
                    "SELECT COALESCE(done_at_ms, created_at_ms), COALESCE(last_error, '')
                     FROM outbox
                     WHERE state = 'failed' AND kind IN ('refund', 'void') AND txn_kind IS NULL
                     ORDER BY id",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Records that the instruction is about to be sent for the
    /// `attempts`-th time (each attempt is its own 0200 with a new STAN; an
    /// unanswered one is reversed before the next goes out).
    pub fn instruction_attempt(&self, id: i64, attempts: u32) -> Result<()> {
        self.write(|tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE outbox SET attempts = ?2 WHERE id = ?1 AND state = 'pending'",
                )?
                .execute(params![id, attempts])?;
            expect_one(n, id)
        })
    }

    /// The host approved the instruction: in one transaction, clear the
    /// reversal armed for its request (`request_stan`), apply its effect on
    /// the batch (a new credit, or the original marked voided) and mark the
    /// row done with the host's references.
    pub fn instruction_done(
        &self,
        id: i64,
        request_stan: u32,
        change: &CaptureChangeRow,
        rrn: Option<&str>,
        auth_code: Option<&str>,
        at_ms: i64,
    ) -> Result<()> {
        self.write(|tx| {
            let sale_id: Option<i64> = tx
                .prepare_cached("SELECT sale_id FROM outbox WHERE id = ?1 AND state = 'pending'")?
                .query_row([id], |r| r.get(0))
                .optional()?
                .ok_or_else(|| StoreError::Rejected(format!("outbox item {id} is not pending")))?;
            confirm_in(tx, request_stan, change, sale_id)?;
            let n = tx
                .prepare_cached(
                    "UPDATE outbox SET state = 'done', stan = ?2, rrn = ?3, auth_code = ?4,
                        done_at_ms = ?5, last_error = NULL
                     WHERE id = ?1 AND state = 'pending'",
                )?
                .execute(params![id, request_stan, rrn, auth_code, at_ms])?;
            expect_one(n, id)
        })
    }

    /// The host refused the instruction, or it cannot be sent at all: kept
    /// for the shop owner with the reason, not retried.
    pub fn instruction_refused(&self, id: i64, note: &str, at_ms: i64) -> Result<()> {
        self.write(|tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE outbox SET state = 'failed', last_error = ?2, done_at_ms = ?3
                     WHERE id = ?1 AND state = 'pending'",
                )?
                .execute(params![id, note, at_ms])?;
            expect_one(n, id)
        })
    }
}

impl super::Store {
    /// How many refunds and voids of card and QR payments the acquirer
    /// refused (for the self-check: the customers' money did not move).
    pub fn refused_refunds_and_voids(&self) -> Result<u64> {
        Ok(counts(&self.conn)?.refused)
    }
}

/// A row that cannot be read, to be set aside with the reason.
fn unreadable(row: &OutboxRef, open_batch: u32, why: String) -> InstructionRow {
    InstructionRow {
        id: row.id,
        kind: if row.kind == "void" {
            InstructionKind::Void
        } else {
            InstructionKind::Refund
        },
        receipt_no: format!("outbox item {}", row.id),
        amount: 0,
        attempts: row.attempts,
        original: None,
        open_batch,
        problem: Some(format!("unreadable: {why}")),
    }
}

/// An outbox row of a refund or void, before its sale is read.
struct OutboxRef {
    id: i64,
    kind: String,
    sale_id: Option<i64>,
    tender_idx: Option<i64>,
    attempts: u32,
}

fn expect_one(changed: usize, id: i64) -> Result<()> {
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::Rejected(format!(
            "outbox item {id} is not pending"
        )))
    }
}

fn corrupt(id: i64, why: &str) -> StoreError {
    StoreError::Corrupt(format!("outbox item {id}: {why}"))
}

/// Reads one instruction: the tender it is about (from the journal's sale
/// record) and the capture of the payment that tender refers to.
fn instruction(tx: &Transaction<'_>, row: &OutboxRef, open_batch: u32) -> Result<InstructionRow> {
    let id = row.id;
    let kind = match row.kind.as_str() {
        "refund" => InstructionKind::Refund,
        "void" => InstructionKind::Void,
        other => return Err(corrupt(id, &format!("kind {other:?}"))),
    };
    let (Some(sale_id), Some(idx)) = (row.sale_id, row.tender_idx) else {
        return Err(corrupt(id, "no sale or tender"));
    };
    let record = load_record(tx, sale_id)?;
    let tender = usize::try_from(idx)
        .ok()
        .and_then(|i| record.tenders.get(i))
        .ok_or_else(|| corrupt(id, "its tender is not in the sale"))?;
    // The payment refunded or voided: the voided sale itself, or the sale
    // a refund names as its original.
    let original_sale: Option<i64> = match kind {
        InstructionKind::Void => Some(sale_id),
        InstructionKind::Refund => match &record.original_receipt {
            Some(no) => sale_id_of(tx, no)?,
            None => None,
        },
    };
    let original = match (original_sale, &tender.card) {
        (Some(sale), Some(card)) => match card.stan.trim().parse::<u32>() {
            Ok(stan) => original_capture(tx, sale, stan, &card.rrn, &card.auth_code)?,
            Err(_) => None,
        },
        _ => None,
    };
    Ok(InstructionRow {
        id,
        kind,
        receipt_no: record.receipt_no.clone(),
        amount: tender.amount.minor.abs(),
        attempts: row.attempts,
        original,
        open_batch,
        problem: None,
    })
}

/// The purchase capture of sale `sale_id` sent with `stan`. A capture the
/// payment session recorded on its own (`CommitMode::Immediate`) is not
/// linked to its sale; then the newest unlinked one with that STAN *and*
/// the tender's RRN and auth code is taken (STANs wrap).
fn original_capture(
    tx: &Transaction<'_>,
    sale_id: i64,
    stan: u32,
    rrn: &str,
    auth_code: &str,
) -> Result<Option<CaptureRow>> {
    let sql = format!(
        "SELECT {CAPTURE_COLUMNS} FROM acquirer_captures
         WHERE stan = ?2 AND txn_kind = '000000'
           AND (sale_id = ?1
                OR (sale_id IS NULL AND COALESCE(rrn, '') = ?3
                    AND TRIM(COALESCE(auth_code, '')) = ?4))
         ORDER BY sale_id IS NULL, id DESC LIMIT 1"
    );
    Ok(tx
        .prepare_cached(&sql)?
        .query_row(
            params![sale_id, stan, rrn.trim(), auth_code.trim()],
            capture_from,
        )
        .optional()?)
}

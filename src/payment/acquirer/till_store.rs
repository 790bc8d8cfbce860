//! [`AcquirerStore`] on the till's SQLite database.
//!
//! The SQL lives in `store::acquirer` (the store is the only place that
//! writes SQL and depends on `core` alone); this adapter only converts the
//! session's types (STANs, field 7 timestamps, processing codes, reversal
//! reasons) to the store's plain rows and back, refusing a stored value that
//! does not convert instead of guessing.
//!
//! It also builds the [`CardLink`]s with which the sale engine completes a
//! card sale and its acquirer effects in one transaction
//! (`Store::complete_card_sale`): [`offline_link`] for an offline approval,
//! [`online_link`] for a confirmed online one.

use std::path::Path;

use super::session::Authorization;
use super::{
    AcquirerStore, AcquirerStoreError, BatchItem, CaptureChange, Instruction, OfflineExposure,
    OutboxState, PendingAdvice, PendingReversal,
};
use crate::iso8583::messages::{OriginalData, Stan, Timestamp, TxnKind, BATCH_MAX};
use crate::iso8583::{Mti, ReversalReason};
use tillpoint_store::acquirer::{
    AcquirerDb, AdviceRow, AdviceState, CaptureChangeRow, CaptureRow, CardEffect, CardLink,
    MessageId, ReversalRow,
};
use tillpoint_store::instructions::{InstructionKind, InstructionRow};

/// The session's store in the till: a connection of its own to `till.db`.
#[derive(Debug)]
pub struct SqliteAcquirerStore {
    db: AcquirerDb,
    /// Held while this store serves the till's one acquirer session (see
    /// [`SqliteAcquirerStore::open_exclusive`]); released when dropped, or
    /// by the kernel when the process dies.
    _session_lock: Option<std::fs::File>,
}

fn backend(e: tillpoint_store::StoreError) -> AcquirerStoreError {
    match e {
        tillpoint_store::StoreError::Rejected(why) => AcquirerStoreError::NotFound(why),
        other => AcquirerStoreError::Backend(other.to_string()),
    }
}

fn corrupt(what: &str, value: impl std::fmt::Display) -> AcquirerStoreError {
    AcquirerStoreError::Backend(format!("stored {what} {value} is not valid"))
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn stan(v: u32) -> Result<Stan, AcquirerStoreError> {
    Stan::new(v).ok_or_else(|| corrupt("STAN", v))
}

fn ts(text: &str) -> Result<Timestamp, AcquirerStoreError> {
    Timestamp::parse(text).ok_or_else(|| corrupt("timestamp", text))
}

fn kind(code: &str) -> Result<TxnKind, AcquirerStoreError> {
    TxnKind::from_processing_code(code).ok_or_else(|| corrupt("processing code", code))
}

fn amount_in(v: u64) -> Result<i64, AcquirerStoreError> {
    i64::try_from(v).map_err(|_| AcquirerStoreError::Backend(format!("amount {v} too large")))
}

fn amount_out(v: i64) -> Result<u64, AcquirerStoreError> {
    u64::try_from(v).map_err(|_| corrupt("amount", v))
}

fn id_in(id: u64) -> Result<i64, AcquirerStoreError> {
    i64::try_from(id).map_err(|_| AcquirerStoreError::NotFound(format!("outbox item {id}")))
}

fn message_id(o: &OriginalData) -> MessageId {
    MessageId {
        mti: o.mti.value(),
        stan: o.stan.value(),
        transmitted: o.transmitted.mmddhhmmss(),
    }
}

fn original(m: &MessageId) -> Result<OriginalData, AcquirerStoreError> {
    Ok(OriginalData {
        mti: Mti::new(m.mti).ok_or_else(|| corrupt("MTI", m.mti))?,
        stan: stan(m.stan)?,
        transmitted: ts(&m.transmitted)?,
    })
}

/// A session capture as a store row.
pub fn capture_row(b: &BatchItem) -> Result<CaptureRow, AcquirerStoreError> {
    Ok(CaptureRow {
        original: message_id(&b.original),
        txn_kind: b.kind.processing_code().to_owned(),
        amount: amount_in(b.amount)?,
        local: b.local.mmddhhmmss(),
        batch: b.batch,
        rrn: b.rrn.clone(),
        auth_code: b.auth_code.clone(),
        voided: b.voided,
    })
}

fn capture_item(r: &CaptureRow) -> Result<BatchItem, AcquirerStoreError> {
    Ok(BatchItem {
        original: original(&r.original)?,
        kind: kind(&r.txn_kind)?,
        amount: amount_out(r.amount)?,
        local: ts(&r.local)?,
        batch: r.batch,
        rrn: r.rrn.clone(),
        auth_code: r.auth_code.clone(),
        voided: r.voided,
    })
}

fn change_row(c: &CaptureChange) -> Result<CaptureChangeRow, AcquirerStoreError> {
    Ok(match c {
        CaptureChange::Add(item) => CaptureChangeRow::Add(capture_row(item)?),
        CaptureChange::Void {
            batch,
            original_stan,
        } => CaptureChangeRow::Void {
            batch: *batch,
            original_stan: original_stan.value(),
        },
    })
}

fn reversal_row(r: &PendingReversal) -> Result<ReversalRow, AcquirerStoreError> {
    Ok(ReversalRow {
        original: message_id(&r.original),
        txn_kind: r.kind.processing_code().to_owned(),
        amount: amount_in(r.amount)?,
        batch: r.batch,
        reason: r.reason.code().to_owned(),
        stan: r.stan.value(),
        transmitted: r.transmitted.mmddhhmmss(),
        local: r.local.mmddhhmmss(),
        attempts: r.attempts,
        due: r.due,
    })
}

fn reversal(r: &ReversalRow) -> Result<PendingReversal, AcquirerStoreError> {
    Ok(PendingReversal {
        original: original(&r.original)?,
        kind: kind(&r.txn_kind)?,
        amount: amount_out(r.amount)?,
        batch: r.batch,
        reason: ReversalReason::from_code(&r.reason)
            .ok_or_else(|| corrupt("reversal reason", &r.reason))?,
        stan: stan(r.stan)?,
        transmitted: ts(&r.transmitted)?,
        local: ts(&r.local)?,
        attempts: r.attempts,
        due: r.due,
    })
}

/// A session advice as a store row.
pub fn advice_row(i: &PendingAdvice) -> Result<AdviceRow, AcquirerStoreError> {
    Ok(AdviceRow {
        id: 0,
        stan: i.stan.value(),
        transmitted: i.transmitted.mmddhhmmss(),
        local: i.local.mmddhhmmss(),
        batch: i.batch,
        txn_kind: i.kind.processing_code().to_owned(),
        amount: amount_in(i.amount)?,
        auth_code: i.auth_code.clone(),
        masked_pan: i.masked_pan.clone(),
        sealed_card: i.sealed_card.clone(),
        created_at_ms: i.created_at.saturating_mul(1000),
        attempts: i.attempts,
        state: match i.state {
            OutboxState::Pending => AdviceState::Pending,
            OutboxState::Done => AdviceState::Done,
            OutboxState::Refused => AdviceState::Refused,
        },
        note: i.note.clone(),
    })
}

fn advice_item(r: AdviceRow) -> Result<PendingAdvice, AcquirerStoreError> {
    Ok(PendingAdvice {
        id: u64::try_from(r.id).map_err(|_| corrupt("outbox id", r.id))?,
        stan: stan(r.stan)?,
        transmitted: ts(&r.transmitted)?,
        local: ts(&r.local)?,
        batch: r.batch,
        kind: kind(&r.txn_kind)?,
        amount: amount_out(r.amount)?,
        auth_code: r.auth_code,
        masked_pan: r.masked_pan,
        sealed_card: r.sealed_card,
        created_at: r.created_at_ms.div_euclid(1000),
        attempts: r.attempts,
        state: match r.state {
            AdviceState::Pending => OutboxState::Pending,
            AdviceState::Done => OutboxState::Done,
            AdviceState::Refused => OutboxState::Refused,
        },
        note: r.note,
    })
}

/// The link for an offline-approved card tender: the advice prepared by
/// `Session::prepare_offline` and its capture.
pub fn offline_link(
    tender_idx: u32,
    item: &PendingAdvice,
    capture: &BatchItem,
) -> Result<CardLink, AcquirerStoreError> {
    Ok(CardLink {
        tender_idx,
        effect: CardEffect::Advice {
            advice: Box::new(advice_row(item)?),
            capture: capture_row(capture)?,
        },
    })
}

/// The link for an online-approved card tender; `None` for a decline,
/// which leaves nothing to store.
pub fn online_link(
    tender_idx: u32,
    auth: &Authorization,
) -> Result<Option<CardLink>, AcquirerStoreError> {
    let Some(change) = auth.capture_change() else {
        return Ok(None);
    };
    Ok(Some(CardLink {
        tender_idx,
        effect: CardEffect::Online {
            original_stan: auth.request.stan.value(),
            change: change_row(&change)?,
        },
    }))
}

impl SqliteAcquirerStore {
    /// Opens the till's database (creating and migrating it if needed).
    pub fn open(path: &Path) -> Result<SqliteAcquirerStore, AcquirerStoreError> {
        Ok(SqliteAcquirerStore {
            db: AcquirerDb::open(path).map_err(backend)?,
            _session_lock: None,
        })
    }

    /// Opens the store for the till's acquirer session, holding an
    /// exclusive lock on `lock_file` meanwhile. A till has one session at a
    /// time: a second one (another process, or a second session in this
    /// one) would take the first one's armed reversals for a crash's and
    /// send them, reversing a payment the first is completing.
    pub fn open_exclusive(
        path: &Path,
        lock_file: &Path,
    ) -> Result<SqliteAcquirerStore, AcquirerStoreError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock_file)
            .map_err(|e| AcquirerStoreError::Backend(format!("{}: {e}", lock_file.display())))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(AcquirerStoreError::Backend(
                    "the acquirer link is in use by another tillpoint (the till's window?); \
                     use it there, or close it first"
                        .into(),
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(AcquirerStoreError::Backend(format!(
                    "{}: {e}",
                    lock_file.display()
                )))
            }
        }
        Ok(SqliteAcquirerStore {
            db: AcquirerDb::open(path).map_err(backend)?,
            _session_lock: Some(file),
        })
    }

    /// The underlying connection, for settlement records and status.
    pub fn db(&self) -> &AcquirerDb {
        &self.db
    }

    /// Every advice in any state, for assertions and diagnostics.
    pub fn outbox_all(&self) -> Result<Vec<PendingAdvice>, AcquirerStoreError> {
        self.db
            .outbox_all()
            .map_err(backend)?
            .into_iter()
            .map(advice_item)
            .collect()
    }

    /// Every capture of every batch, for assertions and diagnostics.
    pub fn captures_all(&self) -> Result<Vec<BatchItem>, AcquirerStoreError> {
        self.db
            .captures_all()
            .map_err(backend)?
            .iter()
            .map(capture_item)
            .collect()
    }
}

impl AcquirerStore for SqliteAcquirerStore {
    fn next_stan(&self) -> Result<Stan, AcquirerStoreError> {
        stan(self.db.next_stan(Stan::MAX.value()).map_err(backend)?)
    }

    fn current_batch(&self) -> Result<u32, AcquirerStoreError> {
        self.db.current_batch().map_err(backend)
    }

    fn close_batch(&self, batch: u32) -> Result<u32, AcquirerStoreError> {
        self.db.close_batch(batch, BATCH_MAX).map_err(backend)
    }

    fn save_reversal(&self, r: &PendingReversal) -> Result<(), AcquirerStoreError> {
        self.db.save_reversal(&reversal_row(r)?).map_err(backend)
    }

    fn pending_reversals(&self) -> Result<Vec<PendingReversal>, AcquirerStoreError> {
        self.db
            .pending_reversals()
            .map_err(backend)?
            .iter()
            .map(reversal)
            .collect()
    }

    fn clear_reversal(&self, original_stan: Stan) -> Result<(), AcquirerStoreError> {
        self.db
            .clear_reversal(original_stan.value())
            .map_err(backend)
    }

    fn confirm_online(
        &self,
        original_stan: Stan,
        change: &CaptureChange,
    ) -> Result<(), AcquirerStoreError> {
        self.db
            .confirm_online(original_stan.value(), &change_row(change)?)
            .map_err(backend)
    }

    fn add_capture(&self, item: &BatchItem) -> Result<(), AcquirerStoreError> {
        self.db.add_capture(&capture_row(item)?).map_err(backend)
    }

    fn batch_items(&self, batch: u32) -> Result<Vec<BatchItem>, AcquirerStoreError> {
        self.db
            .batch_items(batch)
            .map_err(backend)?
            .iter()
            .map(capture_item)
            .collect()
    }

    fn enqueue_offline(
        &self,
        item: &PendingAdvice,
        capture: &BatchItem,
    ) -> Result<u64, AcquirerStoreError> {
        let id = self
            .db
            .enqueue_advice(&advice_row(item)?, &capture_row(capture)?)
            .map_err(backend)?;
        u64::try_from(id).map_err(|_| corrupt("outbox id", id))
    }

    fn outbox_pending(&self, limit: usize) -> Result<Vec<PendingAdvice>, AcquirerStoreError> {
        self.db
            .outbox_pending(limit)
            .map_err(backend)?
            .into_iter()
            .map(advice_item)
            .collect()
    }

    fn outbox_mark_attempt(&self, id: u64, attempts: u32) -> Result<(), AcquirerStoreError> {
        self.outbox_mark_attempts(&[(id, attempts)])
    }

    fn outbox_mark_attempts(&self, items: &[(u64, u32)]) -> Result<(), AcquirerStoreError> {
        let rows = items
            .iter()
            .map(|(id, n)| Ok((id_in(*id)?, *n)))
            .collect::<Result<Vec<_>, AcquirerStoreError>>()?;
        self.db.mark_attempts(&rows).map_err(backend)
    }

    fn outbox_mark_done(&self, id: u64) -> Result<(), AcquirerStoreError> {
        self.outbox_mark_done_many(&[id])
    }

    fn outbox_mark_done_many(&self, ids: &[u64]) -> Result<(), AcquirerStoreError> {
        let rows = ids
            .iter()
            .map(|id| id_in(*id))
            .collect::<Result<Vec<_>, AcquirerStoreError>>()?;
        self.db.mark_done(&rows, now_ms()).map_err(backend)
    }

    fn outbox_mark_refused(&self, id: u64, note: &str) -> Result<(), AcquirerStoreError> {
        self.db
            .mark_refused(id_in(id)?, note, now_ms())
            .map_err(backend)
    }

    fn outbox_reseal(&self, blobs: &[(u64, Vec<u8>)]) -> Result<(), AcquirerStoreError> {
        let rows = blobs
            .iter()
            .map(|(id, blob)| Ok((id_in(*id)?, blob.as_slice())))
            .collect::<Result<Vec<_>, AcquirerStoreError>>()?;
        self.db.reseal(&rows).map_err(backend)
    }

    fn offline_exposure(&self) -> Result<OfflineExposure, AcquirerStoreError> {
        let e = self.db.exposure().map_err(backend)?;
        Ok(OfflineExposure {
            count: e.count,
            amount: amount_out(e.amount)?,
            oldest_created_at: e.oldest_created_at_ms.map(|ms| ms.div_euclid(1000)),
        })
    }

    fn instructions_pending(&self, limit: usize) -> Result<Vec<Instruction>, AcquirerStoreError> {
        self.db
            .instructions_pending(limit)
            .map_err(backend)?
            .into_iter()
            .map(instruction)
            .collect()
    }

    fn instruction_attempt(&self, id: u64, attempts: u32) -> Result<(), AcquirerStoreError> {
        self.db
            .instruction_attempt(id_in(id)?, attempts)
            .map_err(backend)
    }

    fn instruction_done(
        &self,
        id: u64,
        request_stan: Stan,
        change: &CaptureChange,
        rrn: Option<&str>,
        auth_code: Option<&str>,
    ) -> Result<(), AcquirerStoreError> {
        self.db
            .instruction_done(
                id_in(id)?,
                request_stan.value(),
                &change_row(change)?,
                rrn,
                auth_code,
                now_ms(),
            )
            .map_err(backend)
    }

    fn instruction_refused(&self, id: u64, note: &str) -> Result<(), AcquirerStoreError> {
        self.db
            .instruction_refused(id_in(id)?, note, now_ms())
            .map_err(backend)
    }
}

fn instruction(r: InstructionRow) -> Result<Instruction, AcquirerStoreError> {
    Ok(Instruction {
        id: u64::try_from(r.id).map_err(|_| corrupt("outbox id", r.id))?,
        kind: match r.kind {
            InstructionKind::Refund => TxnKind::Refund,
            InstructionKind::Void => TxnKind::VoidPurchase,
        },
        receipt_no: r.receipt_no,
        amount: amount_out(r.amount)?,
        attempts: r.attempts,
        original: r.original.as_ref().map(capture_item).transpose()?,
        open_batch: r.open_batch,
        problem: r.problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Timestamp {
        Timestamp::new(11, 21, 9, 30, 5).unwrap()
    }

    #[test]
    fn rows_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteAcquirerStore::open(&dir.path().join("till.db")).unwrap();
        let capture = BatchItem {
            original: OriginalData {
                mti: Mti::FINANCIAL_REQUEST,
                stan: Stan::new(42).unwrap(),
                transmitted: t(),
            },
            kind: TxnKind::Refund,
            amount: 1234,
            local: t(),
            batch: 1,
            rrn: Some("000000000007".into()),
            auth_code: Some("123456".into()),
            voided: false,
        };
        s.add_capture(&capture).unwrap();
        assert_eq!(s.batch_items(1).unwrap(), vec![capture.clone()]);
        let r = PendingReversal {
            original: capture.original,
            kind: TxnKind::Purchase,
            amount: 99,
            batch: 1,
            reason: ReversalReason::LateResponse,
            stan: Stan::new(43).unwrap(),
            transmitted: t(),
            local: t(),
            attempts: 2,
            due: true,
        };
        s.save_reversal(&r).unwrap();
        assert_eq!(s.pending_reversals().unwrap(), vec![r]);
        let item = PendingAdvice {
            id: 0,
            stan: Stan::new(44).unwrap(),
            transmitted: t(),
            local: t(),
            batch: 1,
            kind: TxnKind::Purchase,
            amount: 500,
            auth_code: "Y1".into(),
            masked_pan: "476173******0119".into(),
            sealed_card: vec![1, 2, 3],
            created_at: 1_700_000_000,
            attempts: 0,
            state: OutboxState::Pending,
            note: None,
        };
        let id = s.enqueue_offline(&item, &capture).unwrap();
        let back = s.outbox_pending(5).unwrap();
        assert_eq!(back, vec![PendingAdvice { id, ..item }]);
        let e = s.offline_exposure().unwrap();
        assert_eq!(e.oldest_created_at, Some(1_700_000_000));
        assert!(s.outbox_mark_attempt(id + 100, 1).is_err());
    }
}

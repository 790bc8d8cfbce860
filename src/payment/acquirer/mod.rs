//! The acquirer link: TCP client, online session (STANs, reversals,
//! settlement) and store-and-forward of offline advices.
//!
//! Everything that must survive a crash goes through [`AcquirerStore`]. The
//! session writes to it *before* it sends: a STAN before the request, a
//! pending reversal before a 0200, an attempt count before an advice. The
//! till implements the trait on its SQLite database
//! ([`sqlite::SqliteAcquirerStore`], SQL in `store::acquirer`);
//! [`MemoryStore`] serves unit tests and comparisons.

pub mod client;
pub mod config;
pub mod crypto;
pub mod forwarder;
pub mod instructions;
pub mod limits;
pub mod mac;
pub mod rotate;
pub mod session;
pub mod settlement;
pub mod terminal_keys;
pub mod till_store;
pub mod tls;
pub mod wire;

use std::sync::{Arc, Mutex, MutexGuard};

use crate::iso8583::messages::{next_batch, OriginalData, Stan, Timestamp, TxnKind};
use crate::iso8583::ReversalReason;

pub use client::{AcquirerClient, ClientConfig, Connector, LinkError, LinkStream, PlainTcp};
pub use crypto::{decrypt, encrypt, CryptoError, DataKey};
pub use forwarder::{
    spawn_forwarder, Backoff, ForwardOutcome, ForwardReport, OfflineSale, WorkerConfig,
};
pub use instructions::InstructionOutcome;
pub use limits::{OfflineLimits, OfflineRefusal};
pub use session::{
    Authorization, OnlineRequest, PinKeying, Session, SessionConfig, SessionError,
    SettlementOutcome, SettlementReport, SystemClock, TimeSource,
};

/// Failure of the persistence backend. The session treats it as fatal for
/// the current operation: nothing is sent whose record could not be written.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AcquirerStoreError {
    #[error("acquirer store failed: {0}")]
    Backend(String),
    #[error("acquirer store has no record {0}")]
    NotFound(String),
}

/// A reversal the till owes the host.
///
/// Written (not `due`) before the original request leaves; made `due` when
/// the outcome calls for a reversal or when the till restarts and finds it
/// still unconfirmed. Holds no card data: field 90 identifies the original.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingReversal {
    /// The request being reversed (its MTI, STAN and field 7).
    pub original: OriginalData,
    pub kind: TxnKind,
    pub amount: u64,
    pub batch: u32,
    pub reason: ReversalReason,
    /// The reversal's own STAN and field 7, fixed at creation so every
    /// repeat (0401) carries the same identity.
    pub stan: Stan,
    pub transmitted: Timestamp,
    pub local: Timestamp,
    /// How many times it has been sent; the next send is a 0401 if > 0.
    pub attempts: u32,
    /// `false` while the original is in flight or approved-but-unconfirmed
    /// in this process; `true` once it must be delivered.
    pub due: bool,
}

/// One captured transaction of a batch, the unit of settlement totals and of
/// the 0320 batch upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchItem {
    /// The message that captured it: a 0200 or a 0220.
    pub original: OriginalData,
    pub kind: TxnKind,
    pub amount: u64,
    pub local: Timestamp,
    pub batch: u32,
    /// Host reference kept with the sale (online transactions).
    pub rrn: Option<String>,
    pub auth_code: Option<String>,
    pub voided: bool,
}

/// What confirming an approved online request does to the batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaptureChange {
    /// A purchase or refund joins the batch.
    Add(BatchItem),
    /// An approved void removes the purchase sent with this STAN.
    Void { batch: u32, original_stan: Stan },
}

/// Where an outbox item stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutboxState {
    Pending,
    /// Acknowledged by a matching 0230; card data deleted.
    Done,
    /// The host answered with a refusal (format error) or the card data
    /// could not be decrypted; kept for the operator, not retried.
    Refused,
}

/// An offline-approved advice waiting to be forwarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingAdvice {
    /// Insertion order; forwarding follows it.
    pub id: u64,
    pub stan: Stan,
    /// Field 7, fixed at queueing so that 0221 repeats keep the identity.
    pub transmitted: Timestamp,
    pub local: Timestamp,
    pub batch: u32,
    pub kind: TxnKind,
    pub amount: u64,
    pub auth_code: String,
    pub masked_pan: String,
    /// AES-GCM sealed card data (see `forwarder::seal_card`); emptied on Done.
    pub sealed_card: Vec<u8>,
    /// Unix seconds at queueing, for the age cap.
    pub created_at: i64,
    pub attempts: u32,
    pub state: OutboxState,
    pub note: Option<String>,
}

/// A refund or post-void of a card or QR tender that the till recorded and
/// the host has not yet acknowledged. Delivered as a referenced 0200 (no
/// card data: see `instructions`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instruction {
    /// Outbox id; delivery follows it.
    pub id: u64,
    /// `Refund`, or `VoidPurchase` for a post-void.
    pub kind: TxnKind,
    /// Receipt of the refund or of the voided sale, for messages.
    pub receipt_no: String,
    /// Minor units: the tender's share.
    pub amount: u64,
    pub attempts: u32,
    /// The capture of the payment it refers to, if the till has one.
    pub original: Option<BatchItem>,
    /// The batch open now.
    pub open_batch: u32,
    /// Why the stored row cannot be read; it is set aside, not retried.
    pub problem: Option<String>,
}

/// Totals of what is accepted offline and not yet acknowledged, compared
/// against [`OfflineLimits`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OfflineExposure {
    pub count: u64,
    pub amount: u64,
    pub oldest_created_at: Option<i64>,
}

/// Persistence the acquirer link needs. Every method is a durable write or a
/// read of durable state; implementations must not return before a write is
/// committed.
pub trait AcquirerStore: Send {
    /// Allocates the next STAN and persists the counter.
    fn next_stan(&self) -> Result<Stan, AcquirerStoreError>;

    /// The open batch number.
    fn current_batch(&self) -> Result<u32, AcquirerStoreError>;
    /// Closes `batch` after a matched settlement; returns the new open batch.
    fn close_batch(&self, batch: u32) -> Result<u32, AcquirerStoreError>;

    /// Inserts or replaces the reversal for `r.original.stan`.
    fn save_reversal(&self, r: &PendingReversal) -> Result<(), AcquirerStoreError>;
    /// All pending reversals, oldest first.
    fn pending_reversals(&self) -> Result<Vec<PendingReversal>, AcquirerStoreError>;
    /// Deletes the reversal for the original with this STAN.
    fn clear_reversal(&self, original_stan: Stan) -> Result<(), AcquirerStoreError>;

    /// Atomically clears the reversal of an approved request and applies its
    /// effect on the batch (in the till: same transaction as the sale).
    fn confirm_online(
        &self,
        original_stan: Stan,
        change: &CaptureChange,
    ) -> Result<(), AcquirerStoreError>;
    /// Adds a capture directly (batch repair tools and tests).
    fn add_capture(&self, item: &BatchItem) -> Result<(), AcquirerStoreError>;
    /// Captured transactions of `batch`, in capture order.
    fn batch_items(&self, batch: u32) -> Result<Vec<BatchItem>, AcquirerStoreError>;

    /// Atomically queues an advice and adds its capture to the batch.
    fn enqueue_offline(
        &self,
        item: &PendingAdvice,
        capture: &BatchItem,
    ) -> Result<u64, AcquirerStoreError>;
    /// Up to `limit` pending items, in queue order.
    fn outbox_pending(&self, limit: usize) -> Result<Vec<PendingAdvice>, AcquirerStoreError>;
    /// Records that the item is about to be sent for the `attempts`-th time.
    fn outbox_mark_attempt(&self, id: u64, attempts: u32) -> Result<(), AcquirerStoreError>;
    /// Records the attempts of a pipelined window in one durable write
    /// (`(id, attempts)` pairs); the default marks them one by one.
    fn outbox_mark_attempts(&self, items: &[(u64, u32)]) -> Result<(), AcquirerStoreError> {
        for (id, attempts) in items {
            self.outbox_mark_attempt(*id, *attempts)?;
        }
        Ok(())
    }
    /// Marks the item acknowledged and deletes its card data.
    fn outbox_mark_done(&self, id: u64) -> Result<(), AcquirerStoreError>;
    /// Marks several items acknowledged in one durable write; the default
    /// marks them one by one.
    fn outbox_mark_done_many(&self, ids: &[u64]) -> Result<(), AcquirerStoreError> {
        for id in ids {
            self.outbox_mark_done(*id)?;
        }
        Ok(())
    }
    /// Marks the item refused (not retried) and deletes its card data.
    fn outbox_mark_refused(&self, id: u64, note: &str) -> Result<(), AcquirerStoreError>;
    /// Replaces the sealed card data of waiting items (`(id, blob)`), all
    /// in one durable write: a key rotation's re-sealing.
    fn outbox_reseal(&self, blobs: &[(u64, Vec<u8>)]) -> Result<(), AcquirerStoreError>;
    /// Up to `limit` refunds and voids waiting for the host, oldest first.
    /// A store that records no till sales has none.
    fn instructions_pending(&self, limit: usize) -> Result<Vec<Instruction>, AcquirerStoreError> {
        let _ = limit;
        Ok(Vec::new())
    }
    /// Records that the instruction is about to be sent for the
    /// `attempts`-th time.
    fn instruction_attempt(&self, id: u64, attempts: u32) -> Result<(), AcquirerStoreError> {
        let _ = attempts;
        Err(AcquirerStoreError::NotFound(format!("instruction {id}")))
    }
    /// Atomically: clears the reversal armed for the approved request
    /// `request_stan`, applies `change` to the batch and marks the
    /// instruction done with the host's references.
    fn instruction_done(
        &self,
        id: u64,
        request_stan: Stan,
        change: &CaptureChange,
        rrn: Option<&str>,
        auth_code: Option<&str>,
    ) -> Result<(), AcquirerStoreError> {
        let _ = (request_stan, change, rrn, auth_code);
        Err(AcquirerStoreError::NotFound(format!("instruction {id}")))
    }
    /// The host refused the instruction (or it cannot be sent): kept with
    /// `note` for the shop owner, never retried.
    fn instruction_refused(&self, id: u64, note: &str) -> Result<(), AcquirerStoreError> {
        let _ = note;
        Err(AcquirerStoreError::NotFound(format!("instruction {id}")))
    }
    /// What is accepted offline and not yet acknowledged.
    fn offline_exposure(&self) -> Result<OfflineExposure, AcquirerStoreError> {
        let items = self.outbox_pending(usize::MAX)?;
        Ok(OfflineExposure {
            count: items.len() as u64,
            amount: items.iter().map(|i| i.amount).sum(),
            oldest_created_at: items.iter().map(|i| i.created_at).min(),
        })
    }
}

impl<T: AcquirerStore + Sync + ?Sized> AcquirerStore for Arc<T> {
    fn next_stan(&self) -> Result<Stan, AcquirerStoreError> {
        (**self).next_stan()
    }
    fn current_batch(&self) -> Result<u32, AcquirerStoreError> {
        (**self).current_batch()
    }
    fn close_batch(&self, batch: u32) -> Result<u32, AcquirerStoreError> {
        (**self).close_batch(batch)
    }
    fn save_reversal(&self, r: &PendingReversal) -> Result<(), AcquirerStoreError> {
        (**self).save_reversal(r)
    }
    fn pending_reversals(&self) -> Result<Vec<PendingReversal>, AcquirerStoreError> {
        (**self).pending_reversals()
    }
    fn clear_reversal(&self, original_stan: Stan) -> Result<(), AcquirerStoreError> {
        (**self).clear_reversal(original_stan)
    }
    fn confirm_online(
        &self,
        original_stan: Stan,
        change: &CaptureChange,
    ) -> Result<(), AcquirerStoreError> {
        (**self).confirm_online(original_stan, change)
    }
    fn add_capture(&self, item: &BatchItem) -> Result<(), AcquirerStoreError> {
        (**self).add_capture(item)
    }
    fn batch_items(&self, batch: u32) -> Result<Vec<BatchItem>, AcquirerStoreError> {
        (**self).batch_items(batch)
    }
    fn enqueue_offline(
        &self,
        item: &PendingAdvice,
        capture: &BatchItem,
    ) -> Result<u64, AcquirerStoreError> {
        (**self).enqueue_offline(item, capture)
    }
    fn outbox_pending(&self, limit: usize) -> Result<Vec<PendingAdvice>, AcquirerStoreError> {
        (**self).outbox_pending(limit)
    }
    fn outbox_mark_attempt(&self, id: u64, attempts: u32) -> Result<(), AcquirerStoreError> {
        (**self).outbox_mark_attempt(id, attempts)
    }
    fn outbox_mark_attempts(&self, items: &[(u64, u32)]) -> Result<(), AcquirerStoreError> {
        (**self).outbox_mark_attempts(items)
    }
    fn outbox_mark_done(&self, id: u64) -> Result<(), AcquirerStoreError> {
        (**self).outbox_mark_done(id)
    }
    fn outbox_mark_done_many(&self, ids: &[u64]) -> Result<(), AcquirerStoreError> {
        (**self).outbox_mark_done_many(ids)
    }
    fn outbox_mark_refused(&self, id: u64, note: &str) -> Result<(), AcquirerStoreError> {
        (**self).outbox_mark_refused(id, note)
    }
    fn outbox_reseal(&self, blobs: &[(u64, Vec<u8>)]) -> Result<(), AcquirerStoreError> {
        (**self).outbox_reseal(blobs)
    }
    fn offline_exposure(&self) -> Result<OfflineExposure, AcquirerStoreError> {
        (**self).offline_exposure()
    }
    fn instructions_pending(&self, limit: usize) -> Result<Vec<Instruction>, AcquirerStoreError> {
        (**self).instructions_pending(limit)
    }
    fn instruction_attempt(&self, id: u64, attempts: u32) -> Result<(), AcquirerStoreError> {
        (**self).instruction_attempt(id, attempts)
    }
    fn instruction_done(
        &self,
        id: u64,
        request_stan: Stan,
        change: &CaptureChange,
        rrn: Option<&str>,
        auth_code: Option<&str>,
    ) -> Result<(), AcquirerStoreError> {
        (**self).instruction_done(id, request_stan, change, rrn, auth_code)
    }
    fn instruction_refused(&self, id: u64, note: &str) -> Result<(), AcquirerStoreError> {
        (**self).instruction_refused(id, note)
    }
}

/// In-memory [`AcquirerStore`] for tests and the benchmark. Not durable.
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<MemoryInner>,
}

#[derive(Debug)]
struct MemoryInner {
    last_stan: Stan,
    batch: u32,
    reversals: Vec<PendingReversal>,
    captures: Vec<BatchItem>,
    outbox: Vec<PendingAdvice>,
    /// Index before which no item is pending (items only leave Pending).
    first_pending: usize,
    next_outbox_id: u64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore {
            inner: Mutex::new(MemoryInner {
                last_stan: Stan::MAX,
                batch: 1,
                reversals: Vec::new(),
                captures: Vec::new(),
                outbox: Vec::new(),
                first_pending: 0,
                next_outbox_id: 1,
            }),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, MemoryInner>, AcquirerStoreError> {
        self.inner
            .lock()
            .map_err(|_| AcquirerStoreError::Backend("memory store lock poisoned".into()))
    }

    /// Every outbox item in any state, for assertions.
    pub fn outbox_all(&self) -> Vec<PendingAdvice> {
        self.lock().map(|g| g.outbox.clone()).unwrap_or_default()
    }

    /// Every capture of every batch, for assertions.
    pub fn captures_all(&self) -> Vec<BatchItem> {
        self.lock().map(|g| g.captures.clone()).unwrap_or_default()
    }
}

impl AcquirerStore for MemoryStore {
    fn next_stan(&self) -> Result<Stan, AcquirerStoreError> {
        let mut g = self.lock()?;
        g.last_stan = g.last_stan.next();
        Ok(g.last_stan)
    }

    fn current_batch(&self) -> Result<u32, AcquirerStoreError> {
        Ok(self.lock()?.batch)
    }

    fn close_batch(&self, batch: u32) -> Result<u32, AcquirerStoreError> {
        let mut g = self.lock()?;
        if g.batch == batch {
            g.batch = next_batch(batch);
        }
        Ok(g.batch)
    }

    fn save_reversal(&self, r: &PendingReversal) -> Result<(), AcquirerStoreError> {
        let mut g = self.lock()?;
        match g
            .reversals
            .iter_mut()
            .find(|x| x.original.stan == r.original.stan)
        {
            Some(slot) => *slot = r.clone(),
            None => g.reversals.push(r.clone()),
        }
        Ok(())
    }

    fn pending_reversals(&self) -> Result<Vec<PendingReversal>, AcquirerStoreError> {
        Ok(self.lock()?.reversals.clone())
    }

    fn clear_reversal(&self, original_stan: Stan) -> Result<(), AcquirerStoreError> {
        self.lock()?
            .reversals
            .retain(|r| r.original.stan != original_stan);
        Ok(())
    }

    fn confirm_online(
        &self,
        original_stan: Stan,
        change: &CaptureChange,
    ) -> Result<(), AcquirerStoreError> {
        let mut g = self.lock()?;
        g.reversals.retain(|r| r.original.stan != original_stan);
        match change {
            CaptureChange::Add(item) => g.captures.push(item.clone()),
            CaptureChange::Void {
                batch,
                original_stan,
            } => {
                let target = g
                    .captures
                    .iter_mut()
                    .find(|c| c.batch == *batch && c.original.stan == *original_stan && !c.voided);
                match target {
                    Some(c) => c.voided = true,
                    None => {
                        return Err(AcquirerStoreError::NotFound(format!(
                            "capture {original_stan} in batch {batch}"
                        )))
                    }
                }
            }
        }
        Ok(())
    }

    fn add_capture(&self, item: &BatchItem) -> Result<(), AcquirerStoreError> {
        self.lock()?.captures.push(item.clone());
        Ok(())
    }

    fn batch_items(&self, batch: u32) -> Result<Vec<BatchItem>, AcquirerStoreError> {
        Ok(self
            .lock()?
            .captures
            .iter()
            .filter(|c| c.batch == batch)
            .cloned()
            .collect())
    }

    fn enqueue_offline(
        &self,
        item: &PendingAdvice,
        capture: &BatchItem,
    ) -> Result<u64, AcquirerStoreError> {
        let mut g = self.lock()?;
        let id = g.next_outbox_id;
        g.next_outbox_id += 1;
        let mut stored = item.clone();
        stored.id = id;
        g.outbox.push(stored);
        g.captures.push(capture.clone());
        Ok(id)
    }

    fn outbox_pending(&self, limit: usize) -> Result<Vec<PendingAdvice>, AcquirerStoreError> {
        let g = self.lock()?;
        Ok(g.outbox
            .iter()
            .skip(g.first_pending)
            .filter(|i| i.state == OutboxState::Pending)
            .take(limit)
            .cloned()
            .collect())
    }

    fn offline_exposure(&self) -> Result<OfflineExposure, AcquirerStoreError> {
        let g = self.lock()?;
        let mut e = OfflineExposure::default();
        for i in g.outbox.iter().skip(g.first_pending) {
            if i.state == OutboxState::Pending {
                e.count += 1;
                e.amount = e.amount.saturating_add(i.amount);
                e.oldest_created_at = Some(
                    e.oldest_created_at
                        .map_or(i.created_at, |o| o.min(i.created_at)),
                );
            }
        }
        Ok(e)
    }

    fn outbox_mark_attempt(&self, id: u64, attempts: u32) -> Result<(), AcquirerStoreError> {
        let mut g = self.lock()?;
        outbox_item(&mut g.outbox, id)?.attempts = attempts;
        Ok(())
    }

    fn outbox_mark_done(&self, id: u64) -> Result<(), AcquirerStoreError> {
        self.finish(id, OutboxState::Done, None)
    }

    fn outbox_reseal(&self, blobs: &[(u64, Vec<u8>)]) -> Result<(), AcquirerStoreError> {
        let mut g = self.lock()?;
        for (id, blob) in blobs {
            let item = outbox_item(&mut g.outbox, *id)?;
            if item.state == OutboxState::Pending {
                zeroize::Zeroize::zeroize(&mut item.sealed_card);
                item.sealed_card = blob.clone();
            }
        }
        Ok(())
    }

    fn outbox_mark_refused(&self, id: u64, note: &str) -> Result<(), AcquirerStoreError> {
        self.finish(id, OutboxState::Refused, Some(note))
    }
}

/// Outbox ids are assigned 1, 2, 3, ... so the id is the position + 1.
fn outbox_item(
    outbox: &mut [PendingAdvice],
    id: u64,
) -> Result<&mut PendingAdvice, AcquirerStoreError> {
    usize::try_from(id)
        .ok()
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| outbox.get_mut(i))
        .filter(|item| item.id == id)
        .ok_or_else(|| AcquirerStoreError::NotFound(format!("outbox item {id}")))
}

impl MemoryStore {
    fn finish(
        &self,
        id: u64,
        state: OutboxState,
        note: Option<&str>,
    ) -> Result<(), AcquirerStoreError> {
        let mut g = self.lock()?;
        let item = outbox_item(&mut g.outbox, id)?;
        item.state = state;
        item.note = note.map(str::to_owned);
        zeroize::Zeroize::zeroize(&mut item.sealed_card);
        item.sealed_card = Vec::new();
        let start = g.first_pending;
        let skip = g
            .outbox
            .iter()
            .skip(start)
            .take_while(|i| i.state != OutboxState::Pending)
            .count();
        g.first_pending = start + skip;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iso8583::Mti;

    fn ts() -> Timestamp {
        Timestamp::new(1, 2, 3, 4, 5).unwrap()
    }

    #[test]
    fn memory_store_stans_wrap_and_start_at_one() {
        let s = MemoryStore::new();
        assert_eq!(s.next_stan().unwrap(), Stan::new(1).unwrap());
        assert_eq!(s.next_stan().unwrap(), Stan::new(2).unwrap());
    }

    #[test]
    fn confirm_clears_reversal_and_voids_capture() {
        let s = MemoryStore::new();
        let original = OriginalData {
            mti: Mti::FINANCIAL_REQUEST,
            stan: Stan::new(5).unwrap(),
            transmitted: ts(),
        };
        let item = BatchItem {
            original,
            kind: TxnKind::Purchase,
            amount: 100,
            local: ts(),
            batch: 1,
            rrn: Some("1".into()),
            auth_code: None,
            voided: false,
        };
        s.add_capture(&item).unwrap();
        let r = PendingReversal {
            original: OriginalData {
                stan: Stan::new(6).unwrap(),
                ..original
            },
            kind: TxnKind::VoidPurchase,
            amount: 100,
            batch: 1,
            reason: ReversalReason::PowerLoss,
            stan: Stan::new(7).unwrap(),
            transmitted: ts(),
            local: ts(),
            attempts: 0,
            due: false,
        };
        s.save_reversal(&r).unwrap();
        s.confirm_online(
            Stan::new(6).unwrap(),
            &CaptureChange::Void {
                batch: 1,
                original_stan: Stan::new(5).unwrap(),
            },
        )
        .unwrap();
        assert!(s.pending_reversals().unwrap().is_empty());
        assert!(s.batch_items(1).unwrap()[0].voided);
        // A second void of the same capture finds nothing to void.
        assert!(s
            .confirm_online(
                Stan::new(6).unwrap(),
                &CaptureChange::Void {
                    batch: 1,
                    original_stan: Stan::new(5).unwrap()
                }
            )
            .is_err());
        assert_eq!(s.close_batch(1).unwrap(), 2);
        assert_eq!(s.close_batch(1).unwrap(), 2, "closing twice is harmless");
    }
}

//! Store-and-forward of offline-approved (TC) chip transactions.
//!
//! Exactly once, end to end: each advice gets its STAN and field 7 when it is
//! queued; the attempt count is persisted before every send, so any resend
//! (after a timeout, a dropped link or a crash) is a 0221 with the same
//! identity, which the host deduplicates. An item is marked done only by a
//! matching 0230. Items go strictly in queue order, after any pending
//! reversal, and the link backs off exponentially while the host is away.
//!
//! Offline acceptance itself is capped (count, total amount, age of the
//! oldest unforwarded item) so a till cut off for too long stops taking risk.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rand::Rng;
use tillpoint_core::tender::mask_pan;
use zeroize::Zeroizing;

use super::crypto::{decrypt, encrypt, DataKey};
use super::instructions::InstructionOutcome;
use super::session::{Session, SessionError};
use super::{AcquirerStore, BatchItem, OutboxState, PendingAdvice};
use crate::iso8583::messages::{
    self, parse_reply, CardInput, EntryMode, OriginalData, Stamp, Stan, Timestamp, TxnKind,
};
use crate::iso8583::profile::response;
use crate::iso8583::Mti;

use super::limits::OfflineRefusal;

/// An offline approval to queue, as the EMV kernel produced it.
#[derive(Clone, Debug)]
pub struct OfflineSale {
    pub kind: TxnKind,
    pub amount: u64,
    /// Card data with the TC in `icc`; no PIN data is kept.
    pub card: CardInput,
    /// Offline authorization code, e.g. `Y1`.
    pub auth_code: String,
}

/// What one forwarding step did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForwardOutcome {
    /// Nothing to forward.
    Idle,
    /// The host acknowledged the item.
    Delivered { id: u64, stan: Stan },
    /// The host refused it or its card data was unreadable; it was set aside.
    Refused { id: u64, note: String },
    /// The link failed or the host asked to retry; the item stays first.
    Retry { id: u64, why: String },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForwardReport {
    pub delivered: usize,
    pub refused: usize,
    /// Items still pending after the run.
    pub remaining: usize,
    /// Why the run stopped early, if it did.
    pub stopped: Option<String>,
}

/// Exponential back-off with jitter, so many tills do not hit a recovering
/// host in lock-step.
#[derive(Clone, Debug)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max,
            failures: 0,
        }
    }

    /// Delay before the next attempt: base·2^failures (capped) plus up to
    /// a quarter of it at random.
    pub fn delay(&self) -> Duration {
        if self.failures == 0 {
            return Duration::ZERO;
        }
        let factor = 1u32 << self.failures.saturating_sub(1).min(16);
        let d = self.base.saturating_mul(factor).min(self.max);
        let jitter_ms = (d.as_millis() / 4) as u64;
        let extra = if jitter_ms > 0 {
            rand::thread_rng().gen_range(0..=jitter_ms)
        } else {
            0
        };
        (d + Duration::from_millis(extra)).min(self.max)
    }

    pub fn failure(&mut self) {
        self.failures = self.failures.saturating_add(1);
    }

    pub fn success(&mut self) {
        self.failures = 0;
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// What a sealed card blob is bound to: its outbox identity (TID, STAN,
/// transmission time) and the facts of its advice (kind, amount, auth
/// code), so a blob moved to another row, or a row whose amount was edited,
/// fails to open rather than send wrong money to the host.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub tid: &'a str,
    pub stan: Stan,
    pub transmitted: Timestamp,
    pub kind: TxnKind,
    pub amount: u64,
    pub auth_code: &'a str,
}

impl Binding<'_> {
    /// The associated data of blobs sealed since the binding covered the
    /// advice's facts.
    fn aad(&self) -> Vec<u8> {
        format!(
            "tillpoint-outbox-v2|{}|{}|{}|{}|{}|{}",
            self.tid,
            self.stan,
            self.transmitted.mmddhhmmss(),
            self.kind.processing_code(),
            self.amount,
            self.auth_code
        )
        .into_bytes()
    }

    /// The associated data of blobs sealed before (identity only): such a
    /// blob waiting in an outbox stays readable.
    fn aad_v1(&self) -> Vec<u8> {
        format!(
            "tillpoint-outbox-v1|{}|{}|{}",
            self.tid,
            self.stan,
            self.transmitted.mmddhhmmss()
        )
        .into_bytes()
    }
}

const CARD_FORMAT_V1: u8 = 1;

fn put(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            let len = u16::try_from(v.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(v.get(..usize::from(len)).unwrap_or(v));
        }
    }
}

fn take<'a>(data: &mut &'a [u8]) -> Option<Option<&'a [u8]>> {
    let (&flag, rest) = data.split_first()?;
    *data = rest;
    if flag == 0 {
        return Some(None);
    }
    let len = usize::from(u16::from_be_bytes([*data.first()?, *data.get(1)?]));
    let value = data.get(2..2 + len)?;
    *data = data.get(2 + len..)?;
    Some(Some(value))
}

/// Serializes and encrypts the card data of an advice (PIN data excluded).
pub fn seal_card(
    key: &DataKey,
    binding: &Binding<'_>,
    card: &CardInput,
) -> Result<Vec<u8>, SessionError> {
    let mut plain = Zeroizing::new(vec![CARD_FORMAT_V1]);
    put(&mut plain, Some(card.pan.as_bytes()));
    put(&mut plain, card.expiry.as_deref().map(str::as_bytes));
    put(&mut plain, card.sequence.as_deref().map(str::as_bytes));
    put(&mut plain, card.track2.as_deref().map(str::as_bytes));
    put(&mut plain, Some(card.entry.code().as_bytes()));
    put(&mut plain, card.icc.as_deref());
    Ok(encrypt(key, &binding.aad(), &plain)?)
}

/// Decrypts and parses card data sealed by [`seal_card`].
pub fn open_card(
    key: &DataKey,
    binding: &Binding<'_>,
    sealed: &[u8],
) -> Result<CardInput, SessionError> {
    let plain = match decrypt(key, &binding.aad(), sealed) {
        Ok(plain) => plain,
        Err(_) => decrypt(key, &binding.aad_v1(), sealed)?,
    };
    parse_card(&plain).ok_or(SessionError::Crypto(
        super::crypto::CryptoError::Authentication,
    ))
}

fn parse_card(plain: &[u8]) -> Option<CardInput> {
    let (&version, mut rest) = plain.split_first()?;
    if version != CARD_FORMAT_V1 {
        return None;
    }
    let text = |v: Option<&[u8]>| -> Option<Option<String>> {
        match v {
            None => Some(None),
            Some(b) => std::str::from_utf8(b).ok().map(|s| Some(s.to_owned())),
        }
    };
    let pan = text(take(&mut rest)?)??;
    let expiry = text(take(&mut rest)?)?;
    let sequence = text(take(&mut rest)?)?;
    let track2 = text(take(&mut rest)?)?;
    let entry = EntryMode::from_code(&text(take(&mut rest)?)??)?;
    let icc = take(&mut rest)?.map(<[u8]>::to_vec);
    Some(CardInput {
        pan,
        expiry,
        sequence,
        track2,
        entry,
        icc,
        pin: None,
    })
}

impl<S: AcquirerStore> Session<S> {
    /// Whether one more offline sale of `amount` is within the caps.
    pub fn check_offline(&self, amount: u64) -> Result<(), SessionError> {
        let exposure = self.store.offline_exposure()?;
        let limits = self.limits;
        if exposure.count >= limits.max_count {
            return Err(OfflineRefusal::Count {
                limit: limits.max_count,
            }
            .into());
        }
        if exposure.amount.saturating_add(amount) > limits.max_amount {
            return Err(OfflineRefusal::Amount {
                limit: limits.max_amount,
            }
            .into());
        }
        if let Some(oldest) = exposure.oldest_created_at {
            let age = self.clock.now().unix_timestamp().saturating_sub(oldest);
            if age > i64::try_from(limits.max_age.as_secs()).unwrap_or(i64::MAX) {
                return Err(OfflineRefusal::Age {
                    hours: limits.max_age.as_secs() / 3600,
                }
                .into());
            }
        }
        Ok(())
    }

    /// Queues an offline approval: checks the caps, gives it its STAN and
    /// field 7, seals its card data and stores the advice together with its
    /// capture. Returns the outbox id.
    ///
    /// The till's sale engine uses [`Session::prepare_offline`] instead and
    /// writes the advice in the same transaction as the sale.
    pub fn queue_offline(&mut self, sale: &OfflineSale) -> Result<u64, SessionError> {
        let (item, capture) = self.prepare_offline(sale)?;
        Ok(self.store.enqueue_offline(&item, &capture)?)
    }

    /// Everything about an offline approval except storing it: checks the
    /// caps, allocates (and persists) its STAN, fixes field 7, proves the
    /// advice builds and seals the card data. The caller stores the advice
    /// and its capture, with the sale, in one transaction (an unused STAN
    /// after a crash is harmless: it never reached the host).
    pub fn prepare_offline(
        &mut self,
        sale: &OfflineSale,
    ) -> Result<(PendingAdvice, BatchItem), SessionError> {
        if sale.kind == TxnKind::VoidPurchase {
            return Err(SessionError::Build(messages::BuildError::Invalid {
                what: "offline transaction",
                why: "a void is online only",
            }));
        }
        self.check_offline(sale.amount)?;
        let stamp = self.new_stamp()?;
        // Prove now that the advice will build, so a bad item never blocks
        // the queue later.
        messages::offline_advice(
            &self.ids,
            &stamp,
            sale.kind,
            sale.amount,
            &sale.card,
            &sale.auth_code,
            false,
        )?;
        // Track 2 equivalent data waits on disk only for a host that asks.
        let mut kept = sale.card.clone();
        if !self.limits.keep_track2 {
            kept.track2 = None;
        }
        let sealed = seal_card(
            &self.key,
            &Binding {
                tid: &self.ids.tid,
                stan: stamp.stan,
                transmitted: stamp.transmitted,
                kind: sale.kind,
                amount: sale.amount,
                auth_code: &sale.auth_code,
            },
            &kept,
        )?;
        let original = OriginalData {
            mti: Mti::FINANCIAL_ADVICE,
            stan: stamp.stan,
            transmitted: stamp.transmitted,
        };
        let item = PendingAdvice {
            id: 0,
            stan: stamp.stan,
            transmitted: stamp.transmitted,
            local: stamp.local,
            batch: stamp.batch,
            kind: sale.kind,
            amount: sale.amount,
            auth_code: sale.auth_code.clone(),
            masked_pan: mask_pan(&sale.card.pan),
            sealed_card: sealed,
            created_at: self.clock.now().unix_timestamp(),
            attempts: 0,
            state: OutboxState::Pending,
            note: None,
        };
        let capture = BatchItem {
            original,
            kind: sale.kind,
            amount: sale.amount,
            local: stamp.local,
            batch: stamp.batch,
            rrn: None,
            auth_code: Some(sale.auth_code.clone()),
            voided: false,
        };
        Ok((item, capture))
    }

    /// Forwards the first pending advice, after any due reversal.
    pub fn forward_one(&mut self) -> Result<ForwardOutcome, SessionError> {
        Ok(self
            .forward_window(1)?
            .into_iter()
            .next()
            .unwrap_or(ForwardOutcome::Idle))
    }

    /// Sends up to `window` advices back to back on one connection, then
    /// reads their answers in order. Each attempt is persisted before its
    /// advice is written; the outcomes come back in queue order and a
    /// `Retry` ends the list (items after it stay pending and are sent
    /// again as 0221, which the host deduplicates).
    pub fn forward_window(&mut self, window: usize) -> Result<Vec<ForwardOutcome>, SessionError> {
        match self.flush_reversals() {
            Ok(_) => {}
            Err(SessionError::ReversalPending { count }) => {
                return Ok(vec![ForwardOutcome::Retry {
                    id: 0,
                    why: format!("{count} reversal(s) pending"),
                }])
            }
            Err(e) => return Err(e),
        }
        let items = self.store.outbox_pending(window.max(1))?;
        let Some(first) = items.first() else {
            return Ok(vec![ForwardOutcome::Idle]);
        };
        // Only a reachable host makes this an attempt (see send_reversal).
        if let Err(e) = self.connect() {
            return Ok(vec![ForwardOutcome::Retry {
                id: first.id,
                why: e.to_string(),
            }]);
        }
        let mut outcomes = Vec::with_capacity(items.len());
        // Build every advice first (an item whose card data no longer opens
        // is set aside), then record all their attempts in one durable write
        // before the first byte leaves: any resend is then a 0221.
        let mut ready = Vec::with_capacity(items.len());
        for item in items {
            let binding = Binding {
                tid: &self.ids.tid,
                stan: item.stan,
                transmitted: item.transmitted,
                kind: item.kind,
                amount: item.amount,
                auth_code: &item.auth_code,
            };
            let card = match open_card(&self.key, &binding, &item.sealed_card) {
                Ok(c) => c,
                Err(e) => {
                    let note = format!("card data unreadable: {e}");
                    self.store.outbox_mark_refused(item.id, &note)?;
                    outcomes.push(ForwardOutcome::Refused { id: item.id, note });
                    continue;
                }
            };
            let stamp = Stamp {
                stan: item.stan,
                transmitted: item.transmitted,
                local: item.local,
                batch: item.batch,
            };
            let msg = messages::offline_advice(
                &self.ids,
                &stamp,
                item.kind,
                item.amount,
                &card,
                &item.auth_code,
                item.attempts > 0,
            )?;
            drop(card);
            ready.push((item, msg));
        }
        if ready.is_empty() {
            return Ok(outcomes);
        }
        let attempts: Vec<(u64, u32)> = ready
            .iter()
            .map(|(item, _)| (item.id, item.attempts.saturating_add(1)))
            .collect();
        if let Err(e) = self.ensure_signed_on() {
            self.mark_link(false);
            if let Some((item, _)) = ready.first() {
                outcomes.push(ForwardOutcome::Retry {
                    id: item.id,
                    why: e.to_string(),
                });
            }
            return Ok(outcomes);
        }
        self.store.outbox_mark_attempts(&attempts)?;
        // One write for the whole window. After a failed write any of them
        // may have arrived: they are all repeats (0221) next time.
        if let Err(e) = self.client.send_all(ready.iter().map(|(_, msg)| msg)) {
            self.mark_link(false);
            self.client.disconnect();
            if let Some((item, _)) = ready.first() {
                outcomes.push(ForwardOutcome::Retry {
                    id: item.id,
                    why: e.to_string(),
                });
            }
            return Ok(outcomes);
        }
        let sent = ready.len();
        let mut acknowledged = Vec::with_capacity(sent);
        let mut answered = Vec::with_capacity(sent);
        for (item, msg) in ready.iter().take(sent) {
            let outcome = match self.client.receive_for(msg) {
                Ok(reply) => {
                    self.mark_link(true);
                    self.settle_advice(item, &reply, &mut acknowledged)?
                }
                Err(e) => {
                    self.mark_link(false);
                    ForwardOutcome::Retry {
                        id: item.id,
                        why: e.to_string(),
                    }
                }
            };
            let stop = matches!(outcome, ForwardOutcome::Retry { .. });
            answered.push(outcome);
            if stop {
                // Later answers cannot be trusted to arrive; start afresh.
                self.client.disconnect();
                break;
            }
        }
        // One durable write for the window's acknowledgements. Losing it to a
        // crash only means those advices are repeated (0221) and the host
        // answers them from its ledger.
        if !acknowledged.is_empty() {
            self.store.outbox_mark_done_many(&acknowledged)?;
        }
        self.note_late();
        outcomes.extend(answered);
        Ok(outcomes)
    }

    /// Applies the host's answer to one advice.
    /// An acknowledged item's id is pushed to `acknowledged`, for the caller
    /// to mark done in one write.
    fn settle_advice(
        &mut self,
        item: &PendingAdvice,
        reply: &crate::iso8583::Message,
        acknowledged: &mut Vec<u64>,
    ) -> Result<ForwardOutcome, SessionError> {
        let reply = match parse_reply(reply) {
            Ok(r) => r,
            Err(e) => {
                return Ok(ForwardOutcome::Retry {
                    id: item.id,
                    why: format!("bad answer: {e}"),
                })
            }
        };
        match reply.response_code.as_str() {
            response::APPROVED | response::DUPLICATE => {
                acknowledged.push(item.id);
                Ok(ForwardOutcome::Delivered {
                    id: item.id,
                    stan: item.stan,
                })
            }
            response::FORMAT_ERROR => {
                let note = format!("host refused the advice: {}", reply.response_code);
                self.store.outbox_mark_refused(item.id, &note)?;
                Ok(ForwardOutcome::Refused { id: item.id, note })
            }
            other => Ok(ForwardOutcome::Retry {
                id: item.id,
                why: format!("host answered {other}"),
            }),
        }
    }

    /// Forwards up to `max` advices in order, in pipelined windows, stopping
    /// at the first failure (nothing overtakes a stuck item); then, when all
    /// advices are through, delivers the waiting refunds and voids
    /// (`instructions`), counted in the same report.
    pub fn forward_pending(&mut self, max: usize) -> Result<ForwardReport, SessionError> {
        let mut report = ForwardReport::default();
        let mut budget = max;
        'windows: while budget > 0 {
            let outcomes = self.forward_window(budget.min(FORWARD_WINDOW))?;
            for outcome in outcomes {
                match outcome {
                    ForwardOutcome::Idle => break 'windows,
                    ForwardOutcome::Delivered { .. } => report.delivered += 1,
                    ForwardOutcome::Refused { .. } => report.refused += 1,
                    ForwardOutcome::Retry { why, .. } => {
                        report.stopped = Some(why);
                        break 'windows;
                    }
                }
                budget = budget.saturating_sub(1);
            }
        }
        if report.stopped.is_none() {
            let (delivered, refused, stopped) = self.deliver_instructions()?;
            report.delivered += delivered;
            report.refused += refused;
            report.stopped = stopped;
        }
        report.remaining = self.store.offline_exposure()?.count as usize
            + self.store.instructions_pending(usize::MAX)?.len();
        Ok(report)
    }
}

/// Advices in flight at once on the link. Large enough to hide the round
/// trip, small enough that a failure leaves few repeats to send.
pub const FORWARD_WINDOW: usize = 32;

/// Settings of the background forwarder.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Pause when the outbox is empty.
    pub idle_poll: Duration,
    pub backoff: Backoff,
    /// With nothing to send, an 0800 echo this often keeps the till's
    /// online/offline status true (zero: never).
    pub echo_every: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            idle_poll: Duration::from_secs(5),
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(120)),
            echo_every: Duration::from_secs(30),
        }
    }
}

/// Runs forwarding on its own thread until `stop` is set. The session lock
/// is held for one item at a time, so online sales interleave with it.
pub fn spawn_forwarder<S>(
    session: Arc<Mutex<Session<S>>>,
    mut cfg: WorkerConfig,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>>
where
    S: AcquirerStore + 'static,
{
    std::thread::Builder::new()
        .name("acquirer-forwarder".into())
        .spawn(move || {
            let mut last_echo: Option<std::time::Instant> = None;
            while !stop.load(Ordering::Relaxed) {
                let outcome = match session.lock() {
                    Ok(mut s) => s.forward_window(FORWARD_WINDOW).and_then(|o| {
                        // The last outcome says whether to pause.
                        match o.into_iter().last().unwrap_or(ForwardOutcome::Idle) {
                            // No advice waits: a refund or void may.
                            ForwardOutcome::Idle => s.deliver_instruction().map(worker_outcome),
                            other => Ok(other),
                        }
                    }),
                    Err(_) => {
                        tracing::error!("acquirer session lock poisoned; forwarder stops");
                        return;
                    }
                };
                let pause = match outcome {
                    Ok(ForwardOutcome::Delivered { .. } | ForwardOutcome::Refused { .. }) => {
                        cfg.backoff.success();
                        Duration::ZERO
                    }
                    Ok(ForwardOutcome::Idle) => {
                        let due = !cfg.echo_every.is_zero()
                            && last_echo.is_none_or(|t| t.elapsed() >= cfg.echo_every);
                        let mut up = true;
                        if due {
                            last_echo = Some(std::time::Instant::now());
                            if let Ok(mut s) = session.lock() {
                                up = match s.echo() {
                                    Ok(up) => up,
                                    Err(e) => {
                                        tracing::info!(error = %e, "acquirer echo failed");
                                        false
                                    }
                                };
                            }
                        }
                        // A host that does not answer its echo is left
                        // alone for longer, as after a failed send.
                        if up {
                            cfg.backoff.success();
                            cfg.idle_poll
                        } else {
                            cfg.backoff.failure();
                            cfg.backoff.delay().max(cfg.idle_poll)
                        }
                    }
                    Ok(ForwardOutcome::Retry { why, .. }) => {
                        cfg.backoff.failure();
                        tracing::info!(%why, "forwarding paused");
                        cfg.backoff.delay()
                    }
                    Err(e) => {
                        cfg.backoff.failure();
                        tracing::warn!(error = %e, "forwarding failed");
                        cfg.backoff.delay()
                    }
                };
                sleep_unless_stopped(pause, &stop);
            }
        })
}

/// A refund or void delivery step in the worker's terms (same pauses).
fn worker_outcome(o: InstructionOutcome) -> ForwardOutcome {
    match o {
        InstructionOutcome::Idle
        | InstructionOutcome::AfterAdvices { .. }
        | InstructionOutcome::Busy { .. } => ForwardOutcome::Idle,
        InstructionOutcome::Delivered { id, stan, .. } => ForwardOutcome::Delivered { id, stan },
        InstructionOutcome::Refused { id, note } => ForwardOutcome::Refused { id, note },
        InstructionOutcome::Retry { id, why } => ForwardOutcome::Retry { id, why },
    }
}

fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let step = Duration::from_millis(20);
    let mut slept = Duration::ZERO;
    while slept < total && !stop.load(Ordering::Relaxed) {
        let d = step.min(total - slept);
        std::thread::sleep(d);
        slept += d;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> CardInput {
        CardInput {
            pan: "4761739001010010".into(),
            expiry: Some("3012".into()),
            sequence: None,
            track2: Some("4761739001010010D3012".into()),
            entry: EntryMode::Chip,
            icc: Some(vec![0x9f, 0x26, 0x02, 0xab, 0xcd]),
            pin: None,
        }
    }

    #[test]
    fn sealed_card_round_trips_and_is_bound_to_identity() {
        let key = DataKey::generate();
        let t = Timestamp::new(5, 6, 7, 8, 9).unwrap();
        let stan = Stan::new(77).unwrap();
        let bound = Binding {
            tid: "TILL0001",
            stan,
            transmitted: t,
            kind: TxnKind::Purchase,
            amount: 12_50,
            auth_code: "Y1",
        };
        let blob = seal_card(&key, &bound, &card()).unwrap();
        assert!(!blob.windows(16).any(|w| w == b"4761739001010010"));
        let back = open_card(&key, &bound, &blob).unwrap();
        assert_eq!(back, card());
        let other_stan = Binding {
            stan: Stan::new(78).unwrap(),
            ..bound
        };
        let other_till = Binding {
            tid: "TILL0002",
            ..bound
        };
        let edited_amount = Binding {
            amount: 1_25,
            ..bound
        };
        let other_kind = Binding {
            kind: TxnKind::Refund,
            ..bound
        };
        let other_code = Binding {
            auth_code: "Y3",
            ..bound
        };
        for moved in [
            other_stan,
            other_till,
            edited_amount,
            other_kind,
            other_code,
        ] {
            assert!(open_card(&key, &moved, &blob).is_err(), "{moved:?}");
        }
    }

    #[test]
    fn a_blob_sealed_with_the_old_binding_still_opens() {
        let key = DataKey::generate();
        let bound = Binding {
            tid: "TILL0001",
            stan: Stan::new(77).unwrap(),
            transmitted: Timestamp::new(5, 6, 7, 8, 9).unwrap(),
            kind: TxnKind::Purchase,
            amount: 12_50,
            auth_code: "Y1",
        };
        let mut plain = vec![CARD_FORMAT_V1];
        put(&mut plain, Some(b"4761739001010010"));
        for _ in 0..3 {
            put(&mut plain, None);
        }
        put(&mut plain, Some(EntryMode::Chip.code().as_bytes()));
        put(&mut plain, None);
        let old = encrypt(&key, &bound.aad_v1(), &plain).unwrap();
        assert_eq!(
            open_card(&key, &bound, &old).unwrap().pan,
            "4761739001010010"
        );
    }

    #[test]
    fn card_parser_rejects_garbage() {
        assert!(parse_card(&[]).is_none());
        assert!(parse_card(&[2]).is_none());
        assert!(parse_card(&[1, 1, 0, 50, b'4']).is_none());
        assert!(parse_card(&[1, 0]).is_none(), "PAN is mandatory");
    }

    #[test]
    fn backoff_grows_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(b.delay(), Duration::ZERO);
        b.failure();
        let d1 = b.delay();
        assert!(d1 >= Duration::from_millis(100) && d1 <= Duration::from_millis(125));
        b.failure();
        let d2 = b.delay();
        assert!(d2 >= Duration::from_millis(200) && d2 <= Duration::from_millis(250));
        for _ in 0..40 {
            b.failure();
        }
        assert_eq!(b.delay(), Duration::from_secs(1));
        b.success();
        assert_eq!(b.delay(), Duration::ZERO);
    }
}

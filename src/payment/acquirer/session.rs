//! The online session: authorizations, reversals, sign-on/echo and
//! settlement, with every durable step written before the message leaves.
//!
//! The reversal rule, in order of events for a 0200:
//! 1. a pending reversal (not yet due, reason "power loss") is stored;
//! 2. the request is sent;
//! 3. a decline clears it; an approval leaves it armed until the caller
//!    [`Session::confirm`]s the sale (card accepted the ARPC, receipt
//!    printing) or [`Session::reverse`]s it (card declined, cashier cancel);
//! 4. no or bad answer makes it due with the matching reason and it is sent
//!    at once, then again (0401, same STAN) until the host acknowledges.
//!
//! A process that dies anywhere in between finds the reversal on restart,
//! and [`Session::new`] makes it due.

use time::OffsetDateTime;

use super::client::{AcquirerClient, LinkError};
use super::crypto::{CryptoError, DataKey};
use super::limits::{OfflineLimits, OfflineRefusal};
use super::{AcquirerStore, AcquirerStoreError, BatchItem, CaptureChange, PendingReversal};
use crate::iso8583::messages::{
    self, parse_reply, BuildError, CardInput, NetworkRequest, OriginalData, OriginalRef, Reply,
    Stamp, Stan, TerminalIds, Timestamp, Totals, TxnKind, UploadItem,
};
use crate::iso8583::profile::{field, response};
use crate::iso8583::{Message, Mti, ReversalReason};

/// Source of the current time; injected so tests control field 7 and the
/// offline age cap.
pub trait TimeSource: Send {
    fn now(&self) -> OffsetDateTime;
}

/// The system clock, in UTC (field 7 is GMT by the standard; the till may
/// supply a clock with its local offset for fields 12/13).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl TimeSource for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{count} reversal(s) await the host's acknowledgement; online requests are blocked until then")]
    ReversalPending { count: usize },
    #[error("the approved transaction with STAN {0} has been neither confirmed nor reversed")]
    Unconfirmed(Stan),
    #[error("the acquirer is unreachable; nothing was sent: {0}")]
    Offline(LinkError),
    #[error(
        "no definitive answer from the acquirer; reversal queued (reason {reason:?}): {source}"
    )]
    NoAnswer {
        reason: ReversalReason,
        source: LinkError,
    },
    #[error("acquirer link failed: {0}")]
    Link(#[from] LinkError),
    #[error("the acquirer answered {code} ({})", response::describe(code))]
    HostRefused { code: String },
    #[error("{0} offline advice(s), refund(s) or void(s) still wait for the host; settle after they are delivered")]
    OutboxNotEmpty(usize),
    #[error("no pending authorization with STAN {0}")]
    UnknownAuthorization(Stan),
    #[error("offline acceptance refused: {0}")]
    OfflineRefused(#[from] OfflineRefusal),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Store(#[from] AcquirerStoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// Fixed settings of a session.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    pub ids: TerminalIds,
    pub limits: OfflineLimits,
}

/// An online request, as the sale engine describes it.
#[derive(Clone, Debug)]
pub enum OnlineRequest {
    Purchase {
        amount: u64,
        card: CardInput,
    },
    Refund {
        amount: u64,
        card: CardInput,
    },
    Void {
        amount: u64,
        card: CardInput,
        original: OriginalRef,
    },
    /// A refund or void without the card, naming the original capture
    /// (see `messages::referenced`): how the till delivers the refunds and
    /// post-voids of card and QR tenders it recorded (`instructions`).
    Referenced {
        /// `Refund` or `VoidPurchase`.
        kind: TxnKind,
        amount: u64,
        original: OriginalRef,
    },
    /// Customer-presented QR code; online only.
    Qr {
        amount: u64,
        code: String,
    },
}

/// A definitive answer to an online request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    /// Identity of the request (0200, STAN, field 7).
    pub request: OriginalData,
    pub kind: TxnKind,
    pub amount: u64,
    pub local: Timestamp,
    pub batch: u32,
    /// Host answer: response code, RRN (kept with the sale), auth code, ARPC.
    pub reply: Reply,
    /// For a void: the purchase it cancels.
    pub voids: Option<OriginalData>,
}

impl Authorization {
    pub fn approved(&self) -> bool {
        self.reply.approved()
    }

    /// What confirming this authorization does to the batch; `None` for a
    /// decline. The till's sale engine stores it with the sale (see
    /// `sqlite::online_link`), the session's own [`Session::confirm`] alone.
    pub fn capture_change(&self) -> Option<CaptureChange> {
        if !self.approved() {
            return None;
        }
        Some(match (self.kind, self.voids) {
            (TxnKind::VoidPurchase, Some(original)) => CaptureChange::Void {
                batch: self.batch,
                original_stan: original.stan,
            },
            _ => CaptureChange::Add(BatchItem {
                original: self.request,
                kind: self.kind,
                amount: self.amount,
                local: self.local,
                batch: self.batch,
                rrn: self.reply.rrn.clone(),
                auth_code: self.reply.auth_code.clone(),
                voided: false,
            }),
        })
    }

    /// What a later void of this purchase needs.
    pub fn original_ref(&self) -> OriginalRef {
        OriginalRef {
            data: self.request,
            rrn: self.reply.rrn.clone().unwrap_or_default(),
            auth_code: self.reply.auth_code.clone().unwrap_or_default(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettlementOutcome {
    /// Totals agreed on the first 0500.
    Matched,
    /// Totals agreed after uploading the batch.
    MatchedAfterUpload,
    /// Totals still differ after the upload; the batch stays open.
    Mismatch,
}

/// The closing note's figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementReport {
    pub batch: u32,
    pub till: Totals,
    /// The host's totals from its last 0510, when it sent them.
    pub host: Option<Totals>,
    pub outcome: SettlementOutcome,
    pub uploaded: usize,
}

/// Settlement totals of a batch: purchases are debits, refunds credits,
/// voided items are left out.
pub fn totals_of(items: &[BatchItem]) -> Totals {
    let mut t = Totals::default();
    for i in items.iter().filter(|i| !i.voided) {
        match i.kind {
            TxnKind::Purchase => {
                t.debits_count += 1;
                t.debits_amount += i.amount;
            }
            TxnKind::Refund => {
                t.credits_count += 1;
                t.credits_amount += i.amount;
            }
            TxnKind::VoidPurchase => {}
        }
    }
    t
}

/// The acquirer session of one till.
pub struct Session<S: AcquirerStore> {
    pub(super) store: S,
    pub(super) client: AcquirerClient,
    pub(super) ids: TerminalIds,
    pub(super) clock: Box<dyn TimeSource>,
    pub(super) key: DataKey,
    pub(super) limits: OfflineLimits,
    online: Option<bool>,
    /// Approvals handed to the sale engine to be recorded with their sale
    /// (`CommitMode::WithSale`): their reversals stay armed, but they do
    /// not block the next request (a split payment takes two cards). A
    /// process that dies with one held finds its reversal on restart.
    held: std::collections::HashSet<Stan>,
}

impl<S: AcquirerStore> std::fmt::Debug for Session<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("tid", &self.ids.tid)
            .field("client", &self.client)
            .field("online", &self.online)
            .finish_non_exhaustive()
    }
}

/// Reversal answers after which nothing is left to reverse.
fn reversal_is_settled(code: &str) -> bool {
    matches!(
        code,
        response::APPROVED | response::ORIGINAL_NOT_FOUND | response::DUPLICATE
    )
}

/// How an online PIN is encrypted for the host (see [`Session::pin_keying`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinKeying {
    Dukpt,
    /// The PIN key under the terminal master key, for the pad.
    Session(Option<[u8; 16]>),
}

impl<S: AcquirerStore> Session<S> {
    /// Opens a session. Reversals left armed by a previous process (it died
    /// with a request in flight or unconfirmed) become due with reason
    /// "power loss".
    pub fn new(
        store: S,
        client: AcquirerClient,
        cfg: SessionConfig,
        clock: Box<dyn TimeSource>,
        key: DataKey,
    ) -> Result<Self, SessionError> {
        for mut r in store.pending_reversals()? {
            if !r.due {
                r.due = true;
                r.reason = ReversalReason::PowerLoss;
                store.save_reversal(&r)?;
            }
        }
        Ok(Session {
            store,
            client,
            ids: cfg.ids,
            clock,
            key,
            limits: cfg.limits,
            online: None,
            held: std::collections::HashSet::new(),
        })
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn client_mut(&mut self) -> &mut AcquirerClient {
        &mut self.client
    }

    /// Last known link state: `Some(true)` after a successful exchange,
    /// `Some(false)` after a link failure, `None` before any attempt.
    pub fn online(&self) -> Option<bool> {
        self.online
    }

    pub(super) fn times(&self) -> (Timestamp, Timestamp) {
        let now = self.clock.now();
        let utc = now.to_offset(time::UtcOffset::UTC);
        (Timestamp::from_datetime(utc), Timestamp::from_datetime(now))
    }

    /// Exchanges a message and records the link state and late answers.
    pub(super) fn exchange(&mut self, msg: &Message) -> Result<Message, LinkError> {
        if msg.mti.class() != 8 {
            self.ensure_signed_on()?;
        }
        let mut result = self.client.exchange(msg);
        let refused_mac = |r: &Result<Message, LinkError>| {
            r.as_ref()
                .is_ok_and(|m| m.get_str(field::RESPONSE_CODE) == Some(response::MAC_ERROR))
        };
        if refused_mac(&result) && msg.mti.class() != 8 {
            // The host could not verify the MAC (it holds other keys: it
            // restarted, or another sign-on replaced ours) and did nothing
            // with the request, so after a new sign-on it is sent again.
            tracing::warn!(mti = %msg.mti, "host answered A0 (MAC error); signing on again");
            self.ensure_signed_on()?;
            result = self.client.exchange(msg);
        }
        match &result {
            Ok(_) => self.mark_link(true),
            Err(LinkError::Pack(_)) => {}
            Err(_) => self.mark_link(false),
        }
        self.note_late();
        result
    }

    pub(super) fn mark_link(&mut self, up: bool) {
        self.online = Some(up);
    }

    /// Opens the connection if needed, recording the link state.
    pub(super) fn connect(&mut self) -> Result<(), LinkError> {
        let result = self.client.connect();
        if result.is_err() {
            self.online = Some(false);
        }
        result
    }

    pub(super) fn note_late(&mut self) {
        for late in self.client.take_late_replies() {
            if late.mti != Mti::FINANCIAL_RESPONSE {
                continue;
            }
            let Some(stan) = late.get_str(field::STAN).and_then(Stan::parse) else {
                continue;
            };
            tracing::warn!(%stan, "late answer to a request already given up");
            let Ok(pending) = self.store.pending_reversals() else {
                continue;
            };
            if let Some(mut r) = pending
                .into_iter()
                .find(|r| r.original.stan == stan && r.due)
            {
                if r.reason == ReversalReason::Timeout {
                    r.reason = ReversalReason::LateResponse;
                    if let Err(e) = self.store.save_reversal(&r) {
                        tracing::warn!(error = %e, "could not record a late response");
                    }
                }
            }
        }
    }

    /// How the PIN pad must encrypt an online PIN for this host: DUKPT
    /// (generic profile), or under the session PIN key (cups), signing on
    /// first when the keys are missing or stale; `Session(None)` when that
    /// fails (no online PIN can be carried until the link is back).
    pub fn pin_keying(&mut self) -> PinKeying {
        if !matches!(
            self.client.wire().profile(),
            super::wire::HostProfile::Cups(_)
        ) {
            return PinKeying::Dukpt;
        }
        if let Err(e) = self.ensure_signed_on() {
            tracing::warn!(error = %e, "no session PIN key: sign-on failed");
        }
        PinKeying::Session(self.client.wire().pin_key_under_tmk())
    }

    /// 0800 sign-on (under cups it also downloads the working keys).
    pub fn sign_on(&mut self) -> Result<Reply, SessionError> {
        self.network(NetworkRequest::SignOn)
    }

    /// Sign-off (0820 under cups): the host stops taking this terminal's
    /// transactions until it signs on again.
    pub fn sign_off(&mut self) -> Result<Reply, SessionError> {
        let reply = self.network(NetworkRequest::SignOff)?;
        if reply.approved() {
            self.client.expire_keys();
        }
        Ok(reply)
    }

    /// Under cups, signs on first when the link has no working keys or the
    /// host asked for new ones (an A0 answer, or header requirement 3). A
    /// failure holds the request back: it never leaves the till. A card
    /// payment calls it before the PIN is taken, so the pad encrypts under
    /// the PIN key the host holds.
    pub fn ensure_signed_on(&mut self) -> Result<(), LinkError> {
        if !self.client.wire().needs_sign_on() {
            return Ok(());
        }
        let reply = self
            .sign_on()
            .map_err(|e| LinkError::SignOn(e.to_string()))?;
        if !reply.approved() {
            return Err(LinkError::SignOn(format!(
                "the host answered {} ({})",
                reply.response_code,
                response::describe(&reply.response_code)
            )));
        }
        if self.client.wire().needs_sign_on() {
            return Err(LinkError::SignOn(
                "the host's answer carried no working keys".into(),
            ));
        }
        Ok(())
    }

    /// 0800 echo; `Ok(true)` means the host is reachable and answering.
    pub fn echo(&mut self) -> Result<bool, SessionError> {
        match self.network(NetworkRequest::Echo) {
            Ok(r) => Ok(r.approved()),
            Err(SessionError::Link(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn network(&mut self, kind: NetworkRequest) -> Result<Reply, SessionError> {
        let stamp = self.new_stamp()?;
        let msg = messages::network_request(&self.ids, &stamp, kind)?;
        let reply = self.exchange(&msg)?;
        Ok(parse_reply(&reply)?)
    }

    pub(super) fn new_stamp(&mut self) -> Result<Stamp, SessionError> {
        let batch = self.store.current_batch()?;
        let (transmitted, local) = self.times();
        Ok(Stamp {
            stan: self.store.next_stan()?,
            transmitted,
            local,
            batch,
        })
    }

    /// Sends every due reversal, oldest first. Returns how many the host
    /// acknowledged; fails with `ReversalPending` if any remain.
    pub fn flush_reversals(&mut self) -> Result<usize, SessionError> {
        let mut delivered = 0;
        for r in self.store.pending_reversals()? {
            if !r.due {
                continue;
            }
            if self.send_reversal(r)? {
                delivered += 1;
            } else {
                let count = self
                    .store
                    .pending_reversals()?
                    .iter()
                    .filter(|r| r.due)
                    .count();
                return Err(SessionError::ReversalPending { count });
            }
        }
        Ok(delivered)
    }

    /// One delivery attempt; `Ok(true)` when the host settled it.
    fn send_reversal(&mut self, mut r: PendingReversal) -> Result<bool, SessionError> {
        // An unreachable host is not an attempt: the next send stays an
        // original 0400 rather than a repeat of something never sent.
        if self.connect().is_err() {
            return Ok(false);
        }
        let repeat = r.attempts > 0;
        r.attempts = r.attempts.saturating_add(1);
        self.store.save_reversal(&r)?;
        let stamp = Stamp {
            stan: r.stan,
            transmitted: r.transmitted,
            local: r.local,
            batch: r.batch,
        };
        let msg = messages::reversal(
            &self.ids,
            &stamp,
            &r.original,
            r.kind,
            r.amount,
            r.reason,
            repeat,
        )?;
        match self.exchange(&msg) {
            Ok(reply) => {
                let code = reply.get_str(field::RESPONSE_CODE).unwrap_or("");
                if reversal_is_settled(code) {
                    self.store.clear_reversal(r.original.stan)?;
                    Ok(true)
                } else {
                    tracing::warn!(code, stan = %r.stan, "reversal not accepted yet");
                    Ok(false)
                }
            }
            Err(e) => {
                tracing::info!(error = %e, stan = %r.stan, "reversal not delivered");
                Ok(false)
            }
        }
    }

    /// Pending reversals must be delivered, and no approval may be left
    /// unconfirmed, before a new online request goes out.
    pub(super) fn ensure_clear(&mut self) -> Result<(), SessionError> {
        self.flush_reversals()?;
        let armed = self.store.pending_reversals()?;
        // Held approvals whose sale was recorded meanwhile are done.
        self.held
            .retain(|stan| armed.iter().any(|r| r.original.stan == *stan));
        if let Some(r) = armed.iter().find(|r| !self.held.contains(&r.original.stan)) {
            return Err(SessionError::Unconfirmed(r.original.stan));
        }
        Ok(())
    }

    /// The approval with this STAN goes to the sale engine, which records
    /// it with the sale (or abandons it); meanwhile other requests may go.
    pub fn hold(&mut self, stan: Stan) {
        self.held.insert(stan);
    }

    /// The held approval was recorded or reversed.
    pub fn release(&mut self, stan: Stan) {
        self.held.remove(&stan);
    }

    /// Sends an online request and returns the host's definitive answer.
    ///
    /// A decline is `Ok` with `approved() == false`. An approval must be
    /// followed by [`Session::confirm`] or [`Session::reverse`].
    pub fn authorize(&mut self, request: &OnlineRequest) -> Result<Authorization, SessionError> {
        self.ensure_clear()?;
        let stamp = self.new_stamp()?;
        let (kind, amount, msg, voids) = match request {
            OnlineRequest::Purchase { amount, card } => (
                TxnKind::Purchase,
                *amount,
                messages::purchase(&self.ids, &stamp, *amount, card)?,
                None,
            ),
            OnlineRequest::Refund { amount, card } => (
                TxnKind::Refund,
                *amount,
                messages::refund(&self.ids, &stamp, *amount, card)?,
                None,
            ),
            OnlineRequest::Void {
                amount,
                card,
                original,
            } => (
                TxnKind::VoidPurchase,
                *amount,
                messages::void_purchase(&self.ids, &stamp, *amount, card, original)?,
                Some(original.data),
            ),
            OnlineRequest::Referenced {
                kind,
                amount,
                original,
            } => (
                *kind,
                *amount,
                messages::referenced(&self.ids, &stamp, *kind, *amount, original)?,
                (*kind == TxnKind::VoidPurchase).then_some(original.data),
            ),
            OnlineRequest::Qr { amount, code } => (
                TxnKind::Purchase,
                *amount,
                messages::qr_purchase(&self.ids, &stamp, *amount, code)?,
                None,
            ),
        };
        let original = OriginalData {
            mti: Mti::FINANCIAL_REQUEST,
            stan: stamp.stan,
            transmitted: stamp.transmitted,
        };
        let reversal = PendingReversal {
            original,
            kind,
            amount,
            batch: stamp.batch,
            reason: ReversalReason::PowerLoss,
            stan: self.store.next_stan()?,
            transmitted: stamp.transmitted,
            local: stamp.local,
            attempts: 0,
            due: false,
        };
        self.store.save_reversal(&reversal)?;

        match self.exchange(&msg) {
            Ok(reply_msg) => match parse_reply(&reply_msg) {
                Ok(reply) => {
                    if !reply.approved() {
                        self.store.clear_reversal(original.stan)?;
                    }
                    Ok(Authorization {
                        request: original,
                        kind,
                        amount,
                        local: stamp.local,
                        batch: stamp.batch,
                        reply,
                        voids,
                    })
                }
                Err(e) => self.fail(
                    reversal,
                    ReversalReason::MalformedResponse,
                    LinkError::Malformed(e.to_string()),
                ),
            },
            Err(e) if !e.request_may_have_arrived() => {
                self.store.clear_reversal(original.stan)?;
                Err(SessionError::Offline(e))
            }
            Err(e) => {
                let reason = match e {
                    LinkError::Malformed(_) => ReversalReason::MalformedResponse,
                    _ => ReversalReason::Timeout,
                };
                self.fail(reversal, reason, e)
            }
        }
    }

    fn fail(
        &mut self,
        mut r: PendingReversal,
        reason: ReversalReason,
        source: LinkError,
    ) -> Result<Authorization, SessionError> {
        r.reason = reason;
        r.due = true;
        self.store.save_reversal(&r)?;
        if let Err(e) = self.flush_reversals() {
            tracing::info!(error = %e, "reversal stays queued");
        }
        Err(SessionError::NoAnswer { reason, source })
    }

    /// The sale completed: clear the armed reversal and record the capture,
    /// in one store transaction. Does nothing for a decline.
    pub fn confirm(&mut self, auth: &Authorization) -> Result<(), SessionError> {
        let Some(change) = auth.capture_change() else {
            return Ok(());
        };
        self.store.confirm_online(auth.request.stan, &change)?;
        Ok(())
    }

    /// The sale did not complete after an approval (card declined at the
    /// second GENERATE AC, cashier cancel): send the reversal now.
    /// `Ok(true)` when the host acknowledged it, `Ok(false)` when it stays
    /// queued for later delivery.
    pub fn reverse(
        &mut self,
        auth: &Authorization,
        reason: ReversalReason,
    ) -> Result<bool, SessionError> {
        let mut r = self
            .store
            .pending_reversals()?
            .into_iter()
            .find(|r| r.original.stan == auth.request.stan)
            .ok_or(SessionError::UnknownAuthorization(auth.request.stan))?;
        r.reason = reason;
        r.due = true;
        self.store.save_reversal(&r)?;
        match self.flush_reversals() {
            Ok(_) => Ok(true),
            Err(SessionError::ReversalPending { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// End of day: deliver what is owed, compare totals with the host,
    /// upload the batch on a mismatch and try once more.
    pub fn settle(&mut self) -> Result<SettlementReport, SessionError> {
        self.ensure_clear()?;
        // An approval waiting for its sale would be in the host's totals
        // and not yet in the till's.
        if let Some(stan) = self.held.iter().next() {
            return Err(SessionError::Unconfirmed(*stan));
        }
        let forwarded = self.forward_pending(usize::MAX)?;
        if forwarded.remaining > 0 {
            return Err(SessionError::OutboxNotEmpty(forwarded.remaining));
        }
        let batch = self.store.current_batch()?;
        let items = self.store.batch_items(batch)?;
        let till = totals_of(&items);

        let first = self.settlement_exchange(&till, false)?;
        match first.response_code.as_str() {
            response::APPROVED => {
                self.store.close_batch(batch)?;
                return Ok(SettlementReport {
                    batch,
                    till,
                    host: first.totals,
                    outcome: SettlementOutcome::Matched,
                    uploaded: 0,
                });
            }
            response::RECONCILE_ERROR => {}
            other => {
                return Err(SessionError::HostRefused {
                    code: other.to_owned(),
                })
            }
        }

        let mut uploaded = 0;
        for item in items.iter().filter(|i| !i.voided) {
            let stamp = self.new_stamp()?;
            let upload = UploadItem {
                original: item.original,
                kind: item.kind,
                amount: item.amount,
                local: item.local,
                rrn: item.rrn.clone(),
                auth_code: item.auth_code.clone(),
            };
            let msg = messages::batch_upload(&self.ids, &stamp, &upload)?;
            let reply = parse_reply(&self.exchange(&msg)?)?;
            if !reply.approved() {
                return Err(SessionError::HostRefused {
                    code: reply.response_code,
                });
            }
            uploaded += 1;
        }

        let second = self.settlement_exchange(&till, true)?;
        let outcome = match second.response_code.as_str() {
            response::APPROVED => {
                self.store.close_batch(batch)?;
                SettlementOutcome::MatchedAfterUpload
            }
            response::RECONCILE_ERROR => SettlementOutcome::Mismatch,
            other => {
                return Err(SessionError::HostRefused {
                    code: other.to_owned(),
                })
            }
        };
        Ok(SettlementReport {
            batch,
            till,
            host: second.totals,
            outcome,
            uploaded,
        })
    }

    fn settlement_exchange(
        &mut self,
        till: &Totals,
        after_upload: bool,
    ) -> Result<Reply, SessionError> {
        let stamp = self.new_stamp()?;
        let msg = messages::settlement(&self.ids, &stamp, till, after_upload)?;
        let reply = self.exchange(&msg)?;
        Ok(parse_reply(&reply)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: TxnKind, amount: u64, voided: bool) -> BatchItem {
        let t = Timestamp::new(1, 1, 0, 0, 0).unwrap();
        BatchItem {
            original: OriginalData {
                mti: Mti::FINANCIAL_REQUEST,
                stan: Stan::FIRST,
                transmitted: t,
            },
            kind,
            amount,
            local: t,
            batch: 1,
            rrn: None,
            auth_code: None,
            voided,
        }
    }

    #[test]
    fn totals_count_debits_credits_and_skip_voids() {
        let t = totals_of(&[
            item(TxnKind::Purchase, 1000, false),
            item(TxnKind::Purchase, 250, false),
            item(TxnKind::Purchase, 999, true),
            item(TxnKind::Refund, 300, false),
        ]);
        assert_eq!(
            t,
            Totals {
                debits_count: 2,
                debits_amount: 1250,
                credits_count: 1,
                credits_amount: 300
            }
        );
    }

    #[test]
    fn reversal_answers() {
        assert!(reversal_is_settled("00"));
        assert!(reversal_is_settled("25"));
        assert!(reversal_is_settled("94"));
        assert!(!reversal_is_settled("96"));
        assert!(!reversal_is_settled(""));
    }
}

//! The card payment, end to end: a [`PaymentSession`] joins the EMV kernel
//! (the card), the PIN pad ([`PinEntry`]) and the acquirer [`Session`]
//! (ISO 8583) into one payment with one answer, so the sale engine and the
//! GUI deal with a single blocking call and a stream of [`Stage`]s.
//!
//! Order of events for a chip card (DESIGN, "The card payment, end to end"):
//!
//! 1. wait for the card, then the kernel's first half: selection, records,
//!    offline data authentication, cardholder verification (an online PIN
//!    is taken on the PIN pad, which hands back only an encrypted block),
//!    terminal risk management, the first GENERATE AC;
//! 2. a TC approves offline: the advice goes into the outbox (within the
//!    offline caps, which are checked *before* the card is asked, so a till
//!    at its cap sends the card online instead); an AAC declines;
//! 3. an ARQC goes to the host in a 0200 with field 55 and the PIN block;
//!    the host's ARC and ARPC go back to the card (second GENERATE AC):
//!    host approval + card TC is confirmed; host approval + card AAC, a card
//!    pulled out or a cashier cancel is reversed;
//! 4. no host (unreachable, silent, or blocked by an undelivered reversal):
//!    "unable to go online", the card decides with the default action codes;
//!    Y3 goes to the outbox like a Y1, Z3 declines. A request that may have
//!    reached the host is reversed by the acquirer session.
//!
//! What leaves a payment is a [`CardRef`]: masked PAN, a keyed hash of the
//! PAN for refund lookups ([`PanHasher`]) and the receipt fields. The clear
//! PAN, track 2 and the PIN block exist only in wiped memory while the
//! payment runs; an offline advice's card data is sealed by the acquirer
//! session before it reaches the store. Nothing here logs more than the
//! masked PAN.
//!
//! A customer-presented QR code takes [`PaymentSession::pay_qr`]: an online
//! purchase with the code in field 62, never offline.

mod stripe;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
pub use stripe::FALLBACK_WINDOW;

use hmac::{Hmac, Mac};
use rand::{Rng, RngCore};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::acquirer::{
    AcquirerStore, Authorization, BatchItem, OfflineSale, OnlineRequest, PendingAdvice, PinKeying,
    Session, SessionError, SystemClock, TimeSource,
};
use crate::emv::apdu::{CardChannel, ChannelError};
use crate::emv::entry::{SwitchReason, TapOutcome, PPSE};
use crate::emv::kernel::{
    self, CardSecrets, Cardholder, CvmPerformed, Decision, HostResponse, Kernel, KernelError,
    Outcome, ReceiptData, TransactionInput, TxnDate,
};
use crate::emv::select::{ApplicationChooser, Candidate, Choice, PSE};
use crate::emv::{tlv, TerminalConfig};
use crate::iso8583::messages::{CardInput, EntryMode, PinData, Reply, TxnKind, MAX_AMOUNT};
use crate::iso8583::profile::response;
use crate::iso8583::ReversalReason;
use crate::pin::{
    CancelToken, FormatPreference, PinBlockFormat, PinEntry, PinEntryError, PinRequest,
};
use tillpoint_core::money::Money;
use tillpoint_core::tender::{CardEntry, CardRef, Cvm};

// ---------------------------------------------------------------------------
// Progress and results
// ---------------------------------------------------------------------------

/// Where a payment stands, for the cashier's screen. Sent in this order:
/// `WaitingForCard`, `AppSelected`, `EnterPin` (only when the card asks for
/// an online PIN), `Processing`, then exactly one of `Approved`, `Declined`
/// or `Failed`. A QR payment sends only `Processing` and the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Insert the card.
    WaitingForCard,
    /// The card has several applications (or one that asks to be
    /// confirmed): the cardholder or the cashier picks one on screen, by
    /// its label, and the answer goes back through
    /// [`PaymentCancel::choose_application`].
    ChooseApplication {
        /// Application labels in the card's priority order.
        labels: Vec<String>,
    },
    /// The card's application was chosen (label and AID for the screen).
    AppSelected {
        /// Application label as the card gives it, e.g. "VISA CREDIT".
        label: String,
        /// AID in hexadecimal.
        aid: String,
    },
    /// The cardholder must type the PIN on the PIN pad.
    EnterPin {
        /// First six and last four digits, for the cashier's screen.
        masked_pan: String,
    },
    /// A tapped card has been read: the customer may take it away (the
    /// PIN, if any, and the host come after).
    CardRead,
    /// Card and host are deciding; nothing for anyone to do.
    Processing,
    /// Paid. The card reference goes on the tender and the receipt.
    Approved {
        /// Receipt and refund data of the payment (boxed: the other stages
        /// are small and travel as GUI messages).
        card: Box<CardRef>,
    },
    /// Not paid, with the reason to show.
    Declined {
        /// Why.
        reason: DeclineReason,
    },
    /// Not paid because something failed (card unreadable, no reader,
    /// acquirer store error); the message names it.
    Failed {
        /// What went wrong, in words for the cashier.
        error: String,
    },
}

/// Why a payment was not accepted. Each variant is something the cashier
/// tells the customer differently, so the GUI translates by variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeclineReason {
    /// The issuer declined; ISO 8583 response code (field 39).
    Issuer {
        /// Response code, e.g. "51".
        code: String,
    },
    /// The card declined on its own (AAC at the first GENERATE AC).
    Card,
    /// The host approved but the card refused the issuer's answer; the
    /// approval was reversed.
    CardAfterApproval,
    /// The card failed (pulled out, stopped answering) after the host step;
    /// any approval was reversed.
    CardError(String),
    /// The host could not be reached or did not answer, and the card would
    /// not approve offline (Z3).
    UnableToGoOnline,
    /// The host could not be reached for a payment that is online only (QR).
    HostUnavailable,
    /// The card approved offline but the till has reached its offline caps.
    OfflineLimit(String),
    /// The cashier cancelled.
    CancelledByCashier,
    /// The cardholder pressed Cancel on the PIN pad.
    CancelledByCardholder,
    /// Nobody typed a PIN in time.
    PinTimeout,
    /// The card asked which of its applications to use and nobody chose
    /// in time.
    NoApplicationChosen,
    /// A chip card was swiped: its chip must be used (the stripe only
    /// when the chip has just failed).
    UseChip,
    /// The card's service code allows only cash or ATMs.
    NotForGoods,
    /// The card's expiry date has passed.
    Expired,
    /// The card requires a PIN and no PIN pad can take one now.
    PinUnavailable,
    /// A tap is not possible for this card or amount: insert (or swipe)
    /// it. `over_limit` when the amount is above the contactless limit.
    TryAnotherInterface {
        /// The amount is above the reader's contactless limit.
        over_limit: bool,
    },
    /// Two cards were in the reader's field.
    PresentOneCard,
    /// The phone wants its owner to unlock it; then tap again.
    SeePhone,
    /// The card left the field before it was read: tap again.
    TapAgain,
}

impl std::fmt::Display for DeclineReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeclineReason::Issuer { code } => write!(
                f,
                "declined by the card issuer: {} ({code})",
                response::describe(code)
            ),
            DeclineReason::Card => f.write_str("declined by the card"),
            DeclineReason::CardAfterApproval => {
                f.write_str("the card refused the bank's approval; the approval has been reversed")
            }
            DeclineReason::CardError(e) => {
                write!(f, "the card failed before the payment finished: {e}")
            }
            DeclineReason::UnableToGoOnline => f.write_str(
                "the bank could not be reached and the card does not allow an offline payment",
            ),
            DeclineReason::HostUnavailable => {
                f.write_str("the payment service could not be reached")
            }
            DeclineReason::OfflineLimit(why) => {
                write!(f, "the card cannot be accepted offline: {why}")
            }
            DeclineReason::CancelledByCashier => f.write_str("cancelled at the till"),
            DeclineReason::CancelledByCardholder => f.write_str("cancelled on the PIN pad"),
            DeclineReason::PinTimeout => f.write_str("no PIN was entered in time"),
            DeclineReason::NoApplicationChosen => {
                f.write_str("no card application was chosen in time")
            }
            DeclineReason::UseChip => f.write_str("this card has a chip: insert it"),
            DeclineReason::NotForGoods => f.write_str("this card is for cash machines only"),
            DeclineReason::Expired => f.write_str("the card has expired"),
            DeclineReason::PinUnavailable => {
                f.write_str("the card needs a PIN and the PIN pad is not available")
            }
            DeclineReason::TryAnotherInterface { over_limit: true } => {
                f.write_str("the amount is above the contactless limit: insert the card")
            }
            DeclineReason::TryAnotherInterface { over_limit: false } => {
                f.write_str("this card cannot be tapped here: insert the card")
            }
            DeclineReason::PresentOneCard => {
                f.write_str("more than one card: present one card only")
            }
            DeclineReason::SeePhone => {
                f.write_str("see the phone for instructions, then tap again")
            }
            DeclineReason::TapAgain => f.write_str("the card was taken away too soon: tap again"),
        }
    }
}

/// The end of a payment that reached a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentDecision {
    /// Paid.
    Approved,
    /// Not paid.
    Declined(DeclineReason),
}

/// What became of a reversal the payment owed the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReversalState {
    /// The host acknowledged it.
    Delivered,
    /// It is stored and will be delivered before the next online request
    /// (and by the forwarder).
    Queued,
}

/// The answer of one payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardOutcome {
    /// The amount asked for.
    pub amount: Money,
    /// Paid or not.
    pub decision: PaymentDecision,
    /// Receipt data: complete for approvals, as far as the card got for
    /// declines (a declined slip can print it).
    pub card: CardRef,
    /// A signature line must be printed on the merchant copy.
    pub signature_required: bool,
    /// The host's response code, when the host answered.
    pub response_code: Option<String>,
    /// Set when an online approval had to be taken back.
    pub reversal: Option<ReversalState>,
    /// Outbox id of the offline advice, for an offline approval recorded
    /// by the session ([`CommitMode::Immediate`]).
    pub outbox_id: Option<u64>,
    /// The approval still to be recorded with the sale
    /// ([`CommitMode::WithSale`]): give it to the sale's store transaction,
    /// or back to [`PaymentSession::abandon`] if the sale is not completed.
    pub pending: Option<PendingCommit>,
}

/// An approval the acquirer store has not recorded yet. Holds no clear card
/// data: an offline advice's card data is already sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingCommit {
    /// An online approval whose reversal stays armed until the sale
    /// confirms it (`sqlite::online_link`).
    Online(Authorization),
    /// An offline approval's advice and capture, STAN already allocated
    /// (`sqlite::offline_link`).
    Offline {
        /// The advice for the outbox.
        item: PendingAdvice,
        /// Its entry in the open batch.
        capture: BatchItem,
    },
}

/// Who records an approval in the acquirer store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommitMode {
    /// The payment session confirms an online approval and queues an offline
    /// advice as soon as the card approves: the demo, the tests, a till whose
    /// sale write does not carry the acquirer effects.
    #[default]
    Immediate,
    /// The approval comes back in [`CardOutcome::pending`] and the sale
    /// engine stores it in the sale's own transaction
    /// (`Store::complete_card_sale`), so a crash cannot separate the two.
    WithSale,
}

impl CardOutcome {
    /// The sale may be completed with this tender.
    pub fn approved(&self) -> bool {
        self.decision == PaymentDecision::Approved
    }

    fn declined(amount: Money, reason: DeclineReason, card: CardRef) -> CardOutcome {
        CardOutcome {
            amount,
            decision: PaymentDecision::Declined(reason),
            card,
            signature_required: false,
            response_code: None,
            reversal: None,
            outbox_id: None,
            pending: None,
        }
    }
}

/// Why a payment ended without a decision. The sale stays open; the
/// cashier tries again or takes another tender.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// Zero, negative or too large for ISO 8583 field 4.
    #[error("the amount must be positive and at most {MAX_AMOUNT} minor units")]
    InvalidAmount,
    /// The amount is not in the terminal's currency (field 49 would lie).
    #[error("the amount is in currency {got}, the terminal takes {expected}")]
    WrongCurrency {
        /// ISO 4217 numeric code the terminal is set up for.
        expected: u16,
        /// ISO 4217 numeric code of the amount.
        got: u16,
    },
    /// No card could be had (no reader, no card, wait timed out).
    #[error("no card: {0}")]
    NoCard(ChannelError),
    /// The card could not be processed (unreadable, blocked, malformed).
    #[error("the card could not be processed: {0}")]
    Card(KernelError),
    /// The acquirer link or its store failed before a decision.
    #[error("{0}")]
    Acquirer(SessionError),
    /// A thread panicked while holding the acquirer session.
    #[error("the acquirer session is unusable after an internal error; restart the till")]
    AcquirerPoisoned,
    /// The scanned QR code cannot be a payment code.
    #[error("the scanned code is not a payment code: {0}")]
    InvalidQrCode(&'static str),
}

// ---------------------------------------------------------------------------
// The keyed PAN hash
// ---------------------------------------------------------------------------

/// Keyed hash of a PAN (HMAC-SHA-256), stored with a card tender so a
/// refund can find the original payment by card without the till keeping
/// card numbers. The key is per till, in a 0600 file in the data directory;
/// without it the hash cannot be reversed by guessing PANs.
pub struct PanHasher {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for PanHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PanHasher(<key redacted>)")
    }
}

/// The PAN hash key file could not be read or created.
#[derive(Debug, thiserror::Error)]
pub enum PanKeyError {
    /// Reading, creating or syncing the file failed.
    #[error("PAN hash key file {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file exists but is not a key; it is left alone because refund
    /// lookups of earlier sales depend on it.
    #[error("PAN hash key file {0} is not 32 bytes; restore it from a backup or move it away")]
    BadKeyFile(PathBuf),
    /// The key-encryption key is missing its mark: another KEK, or one kept
    /// in the data directory.
    #[error("PAN hash key: {0}")]
    Kek(String),
}

/// Version prefix of the hashed message, so a future scheme can coexist.
const PAN_HASH_DOMAIN: &[u8] = b"tillpoint-pan-v1:";

impl PanHasher {
    /// Name of the key file in the data directory.
    pub const KEY_FILE: &'static str = "pan-hash.key";

    /// A hasher with a given key (tests, key migration).
    pub fn from_key(key: [u8; 32]) -> PanHasher {
        PanHasher {
            key: Zeroizing::new(key),
        }
    }

    /// Loads the key from `dir/pan-hash.key`, creating it (mode 0600,
    /// written to a temporary file, synced and renamed) when missing. A key
    /// file readable by others is tightened to 0600.
    pub fn load_or_create(dir: &Path) -> Result<PanHasher, PanKeyError> {
        match crate::keyfile::load_or_create(dir, Self::KEY_FILE) {
            Ok(key) => Ok(PanHasher { key }),
            Err(crate::keyfile::KeyFileError::Bad(path)) => Err(PanKeyError::BadKeyFile(path)),
            Err(crate::keyfile::KeyFileError::Io { path, source }) => {
                Err(PanKeyError::Io { path, source })
            }
            Err(other) => Err(PanKeyError::Kek(other.to_string())),
        }
    }

    /// Lower-case hex HMAC-SHA-256 of the PAN's digits (separators ignored).
    pub fn hash(&self, pan: &str) -> String {
        let digits: Zeroizing<String> =
            Zeroizing::new(pan.chars().filter(char::is_ascii_digit).collect());
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.key[..]) else {
            // HMAC takes keys of any length; this cannot happen.
            return String::new();
        };
        mac.update(PAN_HASH_DOMAIN);
        mac.update(digits.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

// ---------------------------------------------------------------------------
// Cancel, card source, settings
// ---------------------------------------------------------------------------

/// The cashier's Cancel button: cloned to the GUI thread, it stops the
/// payment in progress wherever it is. While the card is read it ends the
/// card exchange; during PIN entry it aborts the PIN pad (CAN); after an
/// online approval it reverses the approval.
///
/// It also carries the one answer the screen gives a payment: which of the
/// card's applications to use.
#[derive(Debug, Clone, Default)]
pub struct PaymentCancel {
    flag: Arc<AtomicBool>,
    pin: Option<CancelToken>,
    choice: Arc<(Mutex<Option<usize>>, Condvar)>,
}

impl PaymentCancel {
    /// A cancel switch that also interrupts PIN entry on the pad that
    /// issued `pin` (see [`PinEntry::cancel_token`]).
    pub fn new(pin: Option<CancelToken>) -> PaymentCancel {
        PaymentCancel {
            flag: Arc::new(AtomicBool::new(false)),
            pin,
            choice: Arc::default(),
        }
    }

    /// The application picked on screen (an index into the labels of
    /// [`Stage::ChooseApplication`]).
    pub fn choose_application(&self, index: usize) {
        let (slot, ready) = &*self.choice;
        if let Ok(mut s) = slot.lock() {
            *s = Some(index);
        }
        ready.notify_all();
    }

    /// Waits for the screen's choice until `timeout`; `None` when the
    /// payment is cancelled or nobody chose in time.
    fn wait_for_choice(&self, timeout: Duration) -> Option<usize> {
        let (slot, ready) = &*self.choice;
        let deadline = Instant::now() + timeout;
        let mut s = slot.lock().ok()?;
        loop {
            if let Some(i) = s.take() {
                return Some(i);
            }
            let now = Instant::now();
            if self.is_cancelled() || now >= deadline {
                return None;
            }
            // Woken by a choice; a cancel is seen within the tick.
            let tick = (deadline - now).min(Duration::from_millis(100));
            s = ready.wait_timeout(s, tick).ok()?.0;
        }
    }

    /// Asks the payment in progress to stop.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        if let Some(t) = &self.pin {
            t.cancel();
        }
    }

    /// Whether a cancel was asked for since the payment started.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Clears a cancel left from before this payment.
    fn reset(&self) {
        self.flag.store(false, Ordering::SeqCst);
        if let Ok(mut s) = self.choice.0.lock() {
            *s = None;
        }
        if let Some(t) = &self.pin {
            t.reset();
        }
    }
}

/// How the card met the till: it decides which kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interface {
    /// Inserted into the contact reader.
    Contact,
    /// Tapped on the contactless reader.
    Contactless,
}

/// Where the card comes from: the PC/SC readers wait for an insertion or a
/// tap, the demo and the tests hand over a card that is already there.
/// Kept apart from the channel so the wait itself is cancellable and
/// reported ([`Stage::WaitingForCard`]).
pub trait CardSource {
    /// The channel to the presented card.
    type Card: CardChannel;
    /// Blocks until a card is present, the source's own timeout expires
    /// or `cancel` fires (then `ChannelError::Cancelled`); two cards on the
    /// contactless reader are `ChannelError::Collision`.
    fn wait_for_card(
        &mut self,
        cancel: &PaymentCancel,
    ) -> Result<(Self::Card, Interface), ChannelError>;
}

/// A card that is already in (or on) the reader: the virtual card, a
/// connected PC/SC card.
#[derive(Debug)]
pub struct InsertedCard<C>(Option<C>, Interface);

impl<C: CardChannel> InsertedCard<C> {
    /// Wraps an inserted card's channel for one payment.
    pub fn new(card: C) -> InsertedCard<C> {
        InsertedCard(Some(card), Interface::Contact)
    }

    /// Wraps a tapped card's channel for one payment.
    pub fn tapped(card: C) -> InsertedCard<C> {
        InsertedCard(Some(card), Interface::Contactless)
    }
}

impl<C: CardChannel> CardSource for InsertedCard<C> {
    type Card = C;
    fn wait_for_card(&mut self, cancel: &PaymentCancel) -> Result<(C, Interface), ChannelError> {
        if cancel.is_cancelled() {
            return Err(ChannelError::Cancelled);
        }
        let card = self.0.take().ok_or(ChannelError::NoCard)?;
        Ok((card, self.1))
    }
}

/// How the random number for random transaction selection is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RandomSelection {
    /// A fresh number 1..=99 per payment (EMV Book 3, 10.6.2): the shop.
    Random,
    /// Always this number; 99 means never selected. For the demo and tests,
    /// so a card profile behaves the same every time.
    Fixed(u8),
}

/// Settings of a payment session.
#[derive(Debug, Clone)]
pub struct PaymentSettings {
    /// How long the cardholder has to type the PIN.
    pub pin_timeout: Duration,
    /// Random transaction selection.
    pub random_selection: RandomSelection,
    /// Who records approvals in the acquirer store.
    pub commit: CommitMode,
}

impl Default for PaymentSettings {
    fn default() -> Self {
        PaymentSettings {
            pin_timeout: Duration::from_secs(60),
            random_selection: RandomSelection::Random,
            commit: CommitMode::Immediate,
        }
    }
}

// ---------------------------------------------------------------------------
// Internals: progress reporting, observed card channel, the cardholder
// ---------------------------------------------------------------------------

/// Shares the caller's progress callback between the card channel (which
/// sees selection and GENERATE AC go by) and the PIN step.
struct Reporter<'p> {
    sink: RefCell<&'p mut dyn FnMut(Stage)>,
}

impl<'p> Reporter<'p> {
    fn new(sink: &'p mut dyn FnMut(Stage)) -> Self {
        Reporter {
            sink: RefCell::new(sink),
        }
    }

    fn emit(&self, stage: Stage) {
        if let Ok(mut f) = self.sink.try_borrow_mut() {
            (*f)(stage);
        }
    }
}

/// The card channel as the payment sees it: reports the application chosen
/// (at GET PROCESSING OPTIONS, after the final SELECT) and the start of
/// processing (first GENERATE AC), and ends the exchange on a cancel.
struct Observed<'r, 'p, C> {
    inner: C,
    reporter: &'r Reporter<'p>,
    cancel: &'r PaymentCancel,
    last_fci: Option<(String, String)>,
    processing: bool,
}

impl<C: CardChannel> CardChannel for Observed<'_, '_, C> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        if self.cancel.is_cancelled() {
            return Err(ChannelError::Cancelled);
        }
        match (apdu.first(), apdu.get(1)) {
            (Some(0x80), Some(0xA8)) => {
                if let Some((label, aid)) = self.last_fci.take() {
                    self.reporter.emit(Stage::AppSelected { label, aid });
                }
            }
            (Some(0x80), Some(0xAE)) if !self.processing => {
                self.processing = true;
                self.reporter.emit(Stage::Processing);
            }
            _ => {}
        }
        let resp = self.inner.transmit(apdu)?;
        if let Some(fci) = application_fci(&resp) {
            self.last_fci = Some(fci);
        }
        Ok(resp)
    }
}

/// Label and AID (hex) from an application's FCI (6F with DF name 84);
/// `None` for anything else, including the PSE.
fn application_fci(resp: &[u8]) -> Option<(String, String)> {
    let data = resp.get(..resp.len().checked_sub(2)?)?;
    if data.first() != Some(&0x6F) {
        return None;
    }
    let fci = tlv::parse_one(data).ok()?;
    let aid = fci.find(0x84)?.bytes()?;
    if aid == PSE || aid == PPSE {
        return None;
    }
    let text = |tag| {
        fci.find(tag)
            .and_then(tlv::Tlv::bytes)
            .map(|b| String::from_utf8_lossy(b).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let label = text(0x50).or_else(|| text(0x9F12)).unwrap_or_default();
    Some((label, hex::encode_upper(aid)))
}

/// The person at the till, as the kernel sees them: takes the first
/// application in priority order and drives the PIN pad for an online PIN.
struct Holder<'r, 'p> {
    reporter: &'r Reporter<'p>,
    pin_pad: Option<&'r mut (dyn PinEntry + 'static)>,
    cancel: &'r PaymentCancel,
    pin_timeout: Duration,
    amount_text: String,
    /// How the host wants the PIN encrypted.
    keying: PinKeying,
    /// The encrypted PIN block for field 52; wiped on drop, never stored.
    pin: Option<PinData>,
    masked_pan: Option<String>,
    /// Set when PIN entry ended the payment.
    stopped: Option<DeclineReason>,
}

impl Holder<'_, '_> {
    /// Shows the applications and waits for the screen's pick (as long as
    /// PIN entry may take).
    fn ask(&mut self, candidates: &[Candidate]) -> Option<usize> {
        if self.cancel.is_cancelled() {
            return None;
        }
        let labels = candidates
            .iter()
            .map(|c| c.display_name().to_string())
            .collect();
        self.reporter.emit(Stage::ChooseApplication { labels });
        let picked = self
            .cancel
            .wait_for_choice(self.pin_timeout)
            .filter(|i| *i < candidates.len());
        if picked.is_none() && !self.cancel.is_cancelled() {
            self.stopped = Some(DeclineReason::NoApplicationChosen);
        }
        picked
    }
}

impl ApplicationChooser for Holder<'_, '_> {
    fn choose(&mut self, candidates: &[Candidate]) -> Choice {
        match self.ask(candidates) {
            Some(i) => Choice::Select(i),
            None => Choice::Cancel,
        }
    }
    fn confirm(&mut self, candidate: &Candidate) -> bool {
        self.ask(std::slice::from_ref(candidate)) == Some(0)
    }
}

impl Cardholder for Holder<'_, '_> {
    fn card_read(&mut self) {
        self.reporter.emit(Stage::CardRead);
        self.reporter.emit(Stage::Processing);
    }

    fn online_pin(&mut self, request: &kernel::PinRequest<'_>) -> kernel::PinEntry {
        self.masked_pan = Some(request.masked_pan.to_string());
        if self.cancel.is_cancelled() {
            self.stopped = Some(DeclineReason::CancelledByCashier);
            return kernel::PinEntry::Cancelled;
        }
        let Some(pad) = self.pin_pad.as_deref_mut() else {
            return kernel::PinEntry::PadUnavailable;
        };
        self.reporter.emit(Stage::EnterPin {
            masked_pan: request.masked_pan.to_string(),
        });
        let mut pin_request = PinRequest::new(request.pan.as_str(), Some(self.amount_text.clone()));
        pin_request.timeout = self.pin_timeout;
        // Field 52 carries an 8-byte block: ISO 9564 format 0, under TDES
        // DUKPT (generic profile) or the session PIN key (cups).
        pin_request.formats = match self.keying {
            PinKeying::Dukpt => FormatPreference::TdesOnly,
            PinKeying::Session(Some(key)) => FormatPreference::SessionKey(key),
            PinKeying::Session(None) => {
                tracing::warn!("not signed on to the host: no key for an online PIN");
                return kernel::PinEntry::PadUnavailable;
            }
        };
        match pad.request_online_pin(&pin_request) {
            Ok(encrypted) => {
                if self.cancel.is_cancelled() {
                    self.stopped = Some(DeclineReason::CancelledByCashier);
                    return kernel::PinEntry::Cancelled;
                }
                let block: Option<[u8; 8]> = encrypted.block.as_slice().try_into().ok();
                match (encrypted.format, block) {
                    (
                        PinBlockFormat::Iso0TdesDukpt | PinBlockFormat::Iso0TdesSession,
                        Some(block),
                    ) => {
                        self.pin = Some(PinData {
                            block,
                            ksn: encrypted.ksn.clone(),
                        });
                        kernel::PinEntry::Entered
                    }
                    _ => {
                        tracing::warn!("PIN pad returned a block the host profile cannot carry");
                        kernel::PinEntry::PadUnavailable
                    }
                }
            }
            Err(PinEntryError::CancelledByCashier) => {
                self.stopped = Some(DeclineReason::CancelledByCashier);
                kernel::PinEntry::Cancelled
            }
            Err(PinEntryError::CancelledByCardholder) => {
                self.stopped = Some(DeclineReason::CancelledByCardholder);
                kernel::PinEntry::Cancelled
            }
            Err(PinEntryError::Timeout) => {
                self.stopped = Some(DeclineReason::PinTimeout);
                kernel::PinEntry::Cancelled
            }
            Err(e) => {
                tracing::warn!(error = %e, "PIN pad unavailable for online PIN");
                kernel::PinEntry::PadUnavailable
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Small conversions
// ---------------------------------------------------------------------------

fn lock<S: AcquirerStore>(
    m: &Mutex<Session<S>>,
) -> Result<MutexGuard<'_, Session<S>>, PaymentError> {
    m.lock().map_err(|_| PaymentError::AcquirerPoisoned)
}

/// The card scheme from the AID's registered application provider id.
pub fn scheme_of(aid: &[u8]) -> &'static str {
    const RIDS: &[(&[u8], &str)] = &[
        (&[0xA0, 0x00, 0x00, 0x00, 0x03], "VISA"),
        (&[0xA0, 0x00, 0x00, 0x00, 0x04], "MASTERCARD"),
        (&[0xA0, 0x00, 0x00, 0x00, 0x05], "MAESTRO"),
        (&[0xA0, 0x00, 0x00, 0x00, 0x25], "AMEX"),
        (&[0xA0, 0x00, 0x00, 0x00, 0x65], "JCB"),
        (&[0xA0, 0x00, 0x00, 0x01, 0x52], "DISCOVER"),
        (&[0xA0, 0x00, 0x00, 0x02, 0x77], "INTERAC"),
        (&[0xA0, 0x00, 0x00, 0x03, 0x33], "UNIONPAY"),
        (&[0xA0, 0x00, 0x00, 0x05, 0x24], "RUPAY"),
    ];
    RIDS.iter()
        .find(|(rid, _)| aid.starts_with(rid))
        .map_or("EMV", |(_, name)| name)
}

/// The card scheme from the PAN's issuer identification number (ISO/IEC
/// 7812 ranges as the schemes publish them), for a card read without its
/// chip's AID.
pub fn scheme_of_pan(pan: &str) -> &'static str {
    let n = |len: usize| pan.get(..len).and_then(|p| p.parse::<u32>().ok());
    match (n(1), n(2), n(4), n(6)) {
        (_, Some(62 | 81), _, _) => "UNIONPAY",
        (_, Some(34 | 37), _, _) => "AMEX",
        (_, _, Some(3528..=3589), _) => "JCB",
        (_, Some(51..=55), _, _) | (_, _, Some(2221..=2720), _) => "MASTERCARD",
        (_, _, Some(6011), _) | (_, Some(64 | 65), _, _) => "DISCOVER",
        (Some(4), _, _, _) => "VISA",
        _ => "CARD",
    }
}

/// What the customer is asked to do after a tap without a card decision.
fn tap_reason(outcome: TapOutcome) -> DeclineReason {
    match outcome {
        TapOutcome::TryAnotherInterface(why) => DeclineReason::TryAnotherInterface {
            over_limit: why == SwitchReason::OverLimit,
        },
        TapOutcome::PresentOneCard => DeclineReason::PresentOneCard,
        TapOutcome::SeePhone => DeclineReason::SeePhone,
    }
}

fn cvm_of(cvm: CvmPerformed) -> Cvm {
    match cvm {
        CvmPerformed::OnlinePin => Cvm::Pin,
        CvmPerformed::Signature => Cvm::Signature,
        CvmPerformed::ConsumerDevice => Cvm::ConsumerDevice,
        CvmPerformed::NoCvm | CvmPerformed::Failed | CvmPerformed::NotPerformed => Cvm::None,
    }
}

/// Receipt fields the kernel knows; host references are added later.
fn chip_card_ref(r: &ReceiptData, pan_hash: &str) -> CardRef {
    CardRef {
        masked_pan: r.masked_pan.clone(),
        pan_hash: pan_hash.to_owned(),
        scheme: scheme_of(&r.aid).to_owned(),
        app_label: r.app_label.clone(),
        aid: hex::encode_upper(&r.aid),
        tvr: hex::encode_upper(r.tvr),
        tsi: hex::encode_upper(r.tsi),
        auth_code: r.auth_code.clone().unwrap_or_default(),
        ..CardRef::new(entry_of(r), cvm_of(r.cvm))
    }
}

fn entry_of(r: &ReceiptData) -> CardEntry {
    if r.contactless {
        CardEntry::Contactless
    } else {
        CardEntry::Chip
    }
}

/// Card data for a 0200 or 0220, from what the kernel read.
fn card_input(
    secrets: &CardSecrets,
    entry: EntryMode,
    icc: Vec<u8>,
    pin: Option<PinData>,
) -> CardInput {
    let expiry = secrets
        .expiry
        .get(..2)
        .map(hex::encode)
        .filter(|e| e.len() == 4 && e.bytes().all(|b| b.is_ascii_digit()));
    let sequence = secrets
        .pan_sequence
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit()))
        .map(|s| format!("{s:0>3}"));
    let track2 = {
        let t = Zeroizing::new(hex::encode_upper(&secrets.track2));
        let t = Zeroizing::new(t.trim_end_matches('F').replace('D', "="));
        let ok =
            !t.is_empty() && t.len() <= 37 && t.bytes().all(|b| b.is_ascii_digit() || b == b'=');
        ok.then(|| t.to_string())
    };
    CardInput {
        pan: secrets.pan.clone(),
        expiry,
        sequence,
        track2,
        entry,
        icc: Some(icc),
        pin,
    }
}

/// The host's answer as the kernel takes it: ARC from field 39, issuer
/// authentication data (tag 91) and scripts (71/72) from field 55.
fn host_response(reply: &Reply) -> HostResponse {
    let rc = reply.response_code.as_bytes();
    let arc = match rc {
        [a, b] => [*a, *b],
        // Not a two-character code: treat as a decline the card can take.
        _ => *b"05",
    };
    let (issuer_auth_data, scripts) = match reply.icc.as_deref().map(tlv::parse_all) {
        Some(Ok(list)) => (
            tlv::find_bytes(&list, 0x91).map(<[u8]>::to_vec),
            list.iter()
                .filter(|t| matches!(t.tag.0, 0x71 | 0x72))
                .flat_map(tlv::Tlv::to_bytes)
                .collect(),
        ),
        Some(Err(_)) => {
            tracing::warn!("host field 55 is not valid TLV; ignoring issuer data");
            (None, Vec::new())
        }
        None => (None, Vec::new()),
    };
    HostResponse::Answered {
        arc,
        auth_code: reply.auth_code.clone().filter(|c| !c.is_empty()),
        issuer_auth_data,
        scripts,
    }
}

fn positive_amount(amount: Money) -> Result<u64, PaymentError> {
    u64::try_from(amount.minor)
        .ok()
        .filter(|a| *a > 0 && *a <= MAX_AMOUNT)
        .ok_or(PaymentError::InvalidAmount)
}

// ---------------------------------------------------------------------------
// The session
// ---------------------------------------------------------------------------

/// Runs card and QR payments on one till: the terminal's EMV settings, the
/// acquirer session (shared with the store-and-forward worker, hence the
/// mutex, which is held only for each host exchange, never while the
/// cardholder types), the PIN pad and the PAN hash key.
pub struct PaymentSession<S: AcquirerStore> {
    terminal: TerminalConfig,
    acquirer: Arc<Mutex<Session<S>>>,
    pin_pad: Option<Box<dyn PinEntry>>,
    hasher: PanHasher,
    settings: PaymentSettings,
    clock: Box<dyn TimeSource>,
    cancel: PaymentCancel,
    sequence: u32,
    /// When a chip last failed on this till (see `stripe`): the next swipe
    /// of a chip card within the window is a fallback.
    chip_failed: Option<std::time::Instant>,
}

impl<S: AcquirerStore> std::fmt::Debug for PaymentSession<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentSession")
            .field("terminal_id", &self.terminal.terminal_id)
            .field("pin_pad", &self.pin_pad.is_some())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Where a chip payment stands after the first GENERATE AC; carried through
/// the online and offline branches.
struct Chip<'a> {
    amount: Money,
    minor: u64,
    secrets: CardSecrets,
    pan_hash: &'a str,
    /// Chip (05) or contactless chip (07), for field 22.
    entry: EntryMode,
}

impl<S: AcquirerStore> PaymentSession<S> {
    /// A session with default settings and the system clock. `terminal`
    /// must be expressed in the till's currency (floor limits, 9F1A/5F2A);
    /// without a PIN pad, cards that require an online PIN fall back as
    /// their CVM list allows.
    pub fn new(
        terminal: TerminalConfig,
        acquirer: Arc<Mutex<Session<S>>>,
        pin_pad: Option<Box<dyn PinEntry>>,
        hasher: PanHasher,
    ) -> Self {
        let cancel = PaymentCancel::new(pin_pad.as_ref().map(|p| p.cancel_token()));
        let clock: Box<dyn TimeSource> = Box::new(SystemClock);
        // The transaction sequence counter (9F41) only has to differ between
        // payments; seeding it from the clock keeps it moving across restarts.
        let sequence = (clock.now().unix_timestamp().rem_euclid(100_000_000)) as u32;
        PaymentSession {
            terminal,
            acquirer,
            pin_pad,
            hasher,
            settings: PaymentSettings::default(),
            clock,
            cancel,
            sequence,
            chip_failed: None,
        }
    }

    /// Replaces the settings.
    pub fn with_settings(mut self, settings: PaymentSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Replaces the clock (the till's local clock for dates on the card).
    pub fn with_clock(mut self, clock: Box<dyn TimeSource>) -> Self {
        self.clock = clock;
        self
    }

    /// The terminal settings in use.
    pub fn terminal(&self) -> &TerminalConfig {
        &self.terminal
    }

    /// Mutable terminal settings (e.g. the currency when the till's changes).
    pub fn terminal_mut(&mut self) -> &mut TerminalConfig {
        &mut self.terminal
    }

    /// The shared acquirer session (for the forwarder, settlement).
    pub fn acquirer(&self) -> Arc<Mutex<Session<S>>> {
        self.acquirer.clone()
    }

    /// The PAN hasher, so a refund screen can hash the card it reads.
    pub fn pan_hasher(&self) -> &PanHasher {
        &self.hasher
    }

    /// The cancel switch for the GUI; valid for every later payment.
    pub fn canceller(&self) -> PaymentCancel {
        self.cancel.clone()
    }

    fn transaction_input(
        &mut self,
        amount: Money,
        minor: u64,
        force_online: bool,
    ) -> TransactionInput {
        let now = self.clock.now();
        self.sequence = self.sequence.wrapping_add(1) % 100_000_000;
        let mut rng = rand::thread_rng();
        let mut un = [0u8; 4];
        rng.fill_bytes(&mut un);
        let random_selection = match self.settings.random_selection {
            RandomSelection::Random => rng.gen_range(1..=99),
            RandomSelection::Fixed(n) => n,
        };
        TransactionInput {
            amount: minor,
            amount_other: 0,
            currency: amount.currency.numeric(),
            currency_exponent: u8::try_from(amount.currency.exponent()).unwrap_or(2),
            txn_type: 0x00,
            date: TxnDate {
                year: u16::try_from(now.year()).unwrap_or(2000),
                month: u8::from(now.month()),
                day: now.day(),
            },
            time: (now.hour(), now.minute(), now.second()),
            unpredictable_number: un,
            random_selection,
            sequence_counter: self.sequence,
            force_online,
        }
    }

    /// Takes one chip card payment of `amount` from `source`; blocks until
    /// it is decided. `Ok` carries the decision (approved or declined, with
    /// any reversal); `Err` means no decision could be reached and nothing
    /// was charged. Every stage, including the final one, goes to `progress`.
    pub fn pay_card<Src: CardSource>(
        &mut self,
        source: &mut Src,
        amount: Money,
        mut progress: impl FnMut(Stage),
    ) -> Result<CardOutcome, PaymentError> {
        let reporter = Reporter::new(&mut progress);
        let result = self.card_payment(source, amount, &reporter);
        report_end(&reporter, &result);
        result
    }

    /// Takes one QR payment: the customer's payment code, scanned at the
    /// till, goes to the acquirer as an online purchase. Never offline.
    pub fn pay_qr(
        &mut self,
        amount: Money,
        code: &str,
        mut progress: impl FnMut(Stage),
    ) -> Result<CardOutcome, PaymentError> {
        let reporter = Reporter::new(&mut progress);
        let result = self.qr_payment(amount, code, &reporter);
        report_end(&reporter, &result);
        result
    }

    fn card_payment<Src: CardSource>(
        &mut self,
        source: &mut Src,
        amount: Money,
        reporter: &Reporter<'_>,
    ) -> Result<CardOutcome, PaymentError> {
        let minor = self.check_amount(amount)?;
        self.cancel.reset();
        reporter.emit(Stage::WaitingForCard);
        let (card, interface) = match source.wait_for_card(&self.cancel) {
            Ok(c) => c,
            Err(_) if self.cancel.is_cancelled() => {
                return Ok(CardOutcome::declined(
                    amount,
                    DeclineReason::CancelledByCashier,
                    CardRef::default(),
                ))
            }
            Err(ChannelError::Collision) => {
                return Ok(CardOutcome::declined(
                    amount,
                    DeclineReason::PresentOneCard,
                    CardRef::new(CardEntry::Contactless, Cvm::None),
                ))
            }
            Err(e) => return Err(PaymentError::NoCard(e)),
        };
        let entry = match interface {
            Interface::Contact => CardEntry::Chip,
            Interface::Contactless => CardEntry::Contactless,
        };
        // At the offline caps the card is sent online rather than approved
        // offline and then refused.
        let force_online = lock(&self.acquirer)?.check_offline(minor).is_err();
        let txn = self.transaction_input(amount, minor, force_online);
        let amount_text = format!("{} {}", amount.currency.code(), amount);
        let keying = lock(&self.acquirer)?.pin_keying();

        let channel = Observed {
            inner: card,
            reporter,
            cancel: &self.cancel,
            last_fci: None,
            processing: false,
        };
        let mut kernel = Kernel::new(channel, &self.terminal);
        let mut holder = Holder {
            reporter,
            pin_pad: self.pin_pad.as_deref_mut(),
            cancel: &self.cancel,
            pin_timeout: self.settings.pin_timeout,
            amount_text,
            keying,
            pin: None,
            masked_pan: None,
            stopped: None,
        };
        let started = match interface {
            Interface::Contact => kernel.start(&txn, &mut holder),
            Interface::Contactless => kernel.tap(&txn, &mut holder),
        };
        let pin = holder.pin.take();
        let stopped = holder.stopped.take();
        let masked_pan = holder.masked_pan.take();
        drop(holder);

        let mut first = match started {
            Ok(o) => o,
            Err(e) => {
                let reason = match (stopped, &e) {
                    (Some(r), _) => Some(r),
                    (None, KernelError::Cancelled) => Some(DeclineReason::CancelledByCashier),
                    (None, _) if self.cancel.is_cancelled() => {
                        Some(DeclineReason::CancelledByCashier)
                    }
                    (None, KernelError::Tap(outcome)) => Some(tap_reason(*outcome)),
                    (None, e) if entry == CardEntry::Contactless && e.is_card_removed() => {
                        Some(DeclineReason::TapAgain)
                    }
                    _ => None,
                };
                let Some(reason) = reason else {
                    if entry == CardEntry::Chip {
                        self.chip_failed_now();
                    }
                    return Err(PaymentError::Card(e));
                };
                // Declined before any verification.
                let card = CardRef {
                    masked_pan: masked_pan.unwrap_or_default(),
                    ..CardRef::new(entry, Cvm::None)
                };
                return Ok(CardOutcome::declined(amount, reason, card));
            }
        };
        let Some(secrets) = first.take_card_secrets() else {
            return Err(PaymentError::Card(KernelError::CardData(
                "the kernel returned no card data".into(),
            )));
        };
        let pan_hash = self.hasher.hash(&secrets.pan);
        let chip = Chip {
            amount,
            minor,
            secrets,
            pan_hash: &pan_hash,
            entry: match entry {
                CardEntry::Contactless => EntryMode::Contactless,
                _ => EntryMode::Chip,
            },
        };
        tracing::info!(
            masked_pan = %first.receipt.masked_pan,
            decision = ?first.decision,
            "card read"
        );
        match first.decision {
            Decision::ApprovedOffline => self.offline_approval(&chip, &first, "Y1", None),
            Decision::DeclinedOffline => {
                let mut out = CardOutcome::declined(
                    amount,
                    DeclineReason::Card,
                    chip_card_ref(&first.receipt, &pan_hash),
                );
                out.card.auth_code = "Z1".into();
                Ok(out)
            }
            Decision::GoOnline => {
                let Some(online) = first.online.take() else {
                    return Err(PaymentError::Card(KernelError::CardData(
                        "the card asked to go online without an ARQC".into(),
                    )));
                };
                let card = card_input(&chip.secrets, chip.entry, online.field55, pin);
                self.online(&chip, &mut kernel, card, &first.receipt)
            }
            other => Err(PaymentError::Card(KernelError::Input(format!(
                "unexpected first decision {other:?}"
            )))),
        }
    }

    /// Host round trip and second GENERATE AC.
    fn online<C: CardChannel>(
        &self,
        chip: &Chip<'_>,
        kernel: &mut Kernel<'_, C>,
        card: CardInput,
        first: &ReceiptData,
    ) -> Result<CardOutcome, PaymentError> {
        let declined_here = |reason| {
            CardOutcome::declined(chip.amount, reason, chip_card_ref(first, chip.pan_hash))
        };
        if self.cancel.is_cancelled() {
            return Ok(declined_here(DeclineReason::CancelledByCashier));
        }
        let request = OnlineRequest::Purchase {
            amount: chip.minor,
            card,
        };
        let answer = lock(&self.acquirer)?.authorize(&request);
        // The request (PAN, track 2, PIN block) is wiped here, before
        // anything else happens.
        drop(request);
        let auth = match answer {
            Ok(auth) => auth,
            Err(SessionError::Offline(e)) => {
                tracing::info!(error = %e, "acquirer unreachable; unable to go online");
                return self.unable_to_go_online(chip, kernel, first, None);
            }
            Err(SessionError::ReversalPending { count }) => {
                tracing::info!(count, "reversals undelivered; unable to go online");
                return self.unable_to_go_online(chip, kernel, first, None);
            }
            Err(SessionError::NoAnswer { reason, source }) => {
                tracing::warn!(?reason, error = %source, "no answer from the acquirer; request reversed");
                let state = self.reversal_state();
                return self.unable_to_go_online(chip, kernel, first, Some(state));
            }
            Err(e) => return Err(PaymentError::Acquirer(e)),
        };
        let code = auth.reply.response_code.clone();
        let host = host_response(&auth.reply);

        if !auth.approved() {
            let receipt = match kernel.complete(host) {
                Ok(done) => done.receipt,
                Err(e) => {
                    tracing::info!(error = %e, "card did not finish a declined transaction");
                    first.clone()
                }
            };
            let mut out = CardOutcome::declined(
                chip.amount,
                DeclineReason::Issuer { code: code.clone() },
                self.online_ref(&receipt, chip.pan_hash, &auth),
            );
            out.response_code = Some(code);
            return Ok(out);
        }

        if self.cancel.is_cancelled() {
            let state = self.reverse(&auth, ReversalReason::CashierCancel);
            let mut out = declined_here(DeclineReason::CancelledByCashier);
            out.response_code = Some(code);
            out.reversal = Some(state);
            return Ok(out);
        }
        match kernel.complete(host) {
            Ok(done) if done.decision == Decision::ApprovedOnline => {
                let pending = self.commit_online(&auth)?;
                Ok(CardOutcome {
                    amount: chip.amount,
                    decision: PaymentDecision::Approved,
                    card: self.online_ref(&done.receipt, chip.pan_hash, &auth),
                    signature_required: done.receipt.signature_required,
                    response_code: Some(code),
                    reversal: None,
                    outbox_id: None,
                    pending,
                })
            }
            Ok(done) => {
                tracing::warn!(decision = ?done.decision, "card refused the host's approval; reversing");
                let state = self.reverse(&auth, ReversalReason::CardDeclined);
                let mut out = CardOutcome::declined(
                    chip.amount,
                    DeclineReason::CardAfterApproval,
                    self.online_ref(&done.receipt, chip.pan_hash, &auth),
                );
                out.response_code = Some(code);
                out.reversal = Some(state);
                Ok(out)
            }
            Err(e) => {
                let (why, reason) = if self.cancel.is_cancelled() {
                    (
                        ReversalReason::CashierCancel,
                        DeclineReason::CancelledByCashier,
                    )
                } else {
                    tracing::warn!(error = %e, "card failed after the host approved; reversing");
                    (
                        ReversalReason::CardDeclined,
                        DeclineReason::CardError(e.to_string()),
                    )
                };
                let state = self.reverse(&auth, why);
                let mut out = CardOutcome::declined(
                    chip.amount,
                    reason,
                    self.online_ref(first, chip.pan_hash, &auth),
                );
                out.response_code = Some(code);
                out.reversal = Some(state);
                Ok(out)
            }
        }
    }

    /// "Unable to go online": the card decides with the default action codes.
    fn unable_to_go_online<C: CardChannel>(
        &self,
        chip: &Chip<'_>,
        kernel: &mut Kernel<'_, C>,
        first: &ReceiptData,
        reversal: Option<ReversalState>,
    ) -> Result<CardOutcome, PaymentError> {
        let done = match kernel.complete(HostResponse::Unavailable) {
            Ok(done) => done,
            Err(e) => {
                let reason = if self.cancel.is_cancelled() {
                    DeclineReason::CancelledByCashier
                } else {
                    DeclineReason::CardError(e.to_string())
                };
                let mut out =
                    CardOutcome::declined(chip.amount, reason, chip_card_ref(first, chip.pan_hash));
                out.reversal = reversal;
                return Ok(out);
            }
        };
        if done.decision == Decision::ApprovedUnableToGoOnline {
            return self.offline_approval(chip, &done, "Y3", reversal);
        }
        let mut out = CardOutcome::declined(
            chip.amount,
            DeclineReason::UnableToGoOnline,
            chip_card_ref(&done.receipt, chip.pan_hash),
        );
        out.card.auth_code = "Z3".into();
        out.reversal = reversal;
        Ok(out)
    }

    /// A TC without the host: the advice goes into the outbox, sealed, and
    /// the forwarder sends it when the link is up.
    fn offline_approval(
        &self,
        chip: &Chip<'_>,
        outcome: &Outcome,
        auth_code: &str,
        reversal: Option<ReversalState>,
    ) -> Result<CardOutcome, PaymentError> {
        let sale = OfflineSale {
            kind: TxnKind::Purchase,
            amount: chip.minor,
            card: card_input(&chip.secrets, chip.entry, outcome.field55.clone(), None),
            auth_code: auth_code.to_owned(),
        };
        let mut card = chip_card_ref(&outcome.receipt, chip.pan_hash);
        card.auth_code = auth_code.to_owned();
        let queued = {
            let mut session = lock(&self.acquirer)?;
            match self.settings.commit {
                CommitMode::Immediate => session.queue_offline(&sale).map(|id| {
                    let stan = session
                        .store()
                        .outbox_pending(usize::MAX)
                        .ok()
                        .and_then(|items| items.into_iter().find(|i| i.id == id))
                        .map(|i| i.stan.to_string())
                        .unwrap_or_default();
                    (Some(id), stan, None)
                }),
                CommitMode::WithSale => session.prepare_offline(&sale).map(|(item, capture)| {
                    let stan = item.stan.to_string();
                    (None, stan, Some(PendingCommit::Offline { item, capture }))
                }),
            }
        };
        drop(sale);
        match queued {
            Ok((outbox_id, stan, pending)) => {
                card.offline = true;
                card.stan = stan;
                tracing::info!(masked_pan = %card.masked_pan, auth_code, "approved offline; advice prepared");
                Ok(CardOutcome {
                    amount: chip.amount,
                    decision: PaymentDecision::Approved,
                    card,
                    signature_required: outcome.receipt.signature_required,
                    response_code: None,
                    reversal,
                    outbox_id,
                    pending,
                })
            }
            Err(SessionError::OfflineRefused(why)) => {
                let mut out = CardOutcome::declined(
                    chip.amount,
                    DeclineReason::OfflineLimit(why.to_string()),
                    card,
                );
                out.reversal = reversal;
                Ok(out)
            }
            Err(e) => Err(PaymentError::Acquirer(e)),
        }
    }

    fn check_amount(&self, amount: Money) -> Result<u64, PaymentError> {
        let got = amount.currency.numeric();
        if got != self.terminal.currency_code {
            return Err(PaymentError::WrongCurrency {
                expected: self.terminal.currency_code,
                got,
            });
        }
        positive_amount(amount)
    }

    /// Records an online approval now ([`CommitMode::Immediate`]) or hands
    /// it back for the sale's transaction.
    fn commit_online(&self, auth: &Authorization) -> Result<Option<PendingCommit>, PaymentError> {
        if self.settings.commit == CommitMode::WithSale {
            lock(&self.acquirer)?.hold(auth.request.stan);
            return Ok(Some(PendingCommit::Online(auth.clone())));
        }
        let confirmed = lock(&self.acquirer)?.confirm(auth);
        if let Err(e) = confirmed {
            // The approval cannot be recorded, so the sale cannot be: take
            // the approval back rather than leave the host charging for it.
            tracing::error!(error = %e, "could not record the approval; reversing");
            let _ = self.reverse(auth, ReversalReason::PowerLoss);
            return Err(PaymentError::Acquirer(e));
        }
        Ok(None)
    }

    /// Records an approval handed back under [`CommitMode::WithSale`] on its
    /// own, for a caller that does not write it with the sale. Returns the
    /// outbox id of an offline advice.
    pub fn commit(&self, pending: &PendingCommit) -> Result<Option<u64>, PaymentError> {
        let session = lock(&self.acquirer)?;
        match pending {
            PendingCommit::Online(auth) => {
                let mut session = session;
                session.confirm(auth).map_err(PaymentError::Acquirer)?;
                session.release(auth.request.stan);
                Ok(None)
            }
            PendingCommit::Offline { item, capture } => session
                .store()
                .enqueue_offline(item, capture)
                .map(Some)
                .map_err(|e| PaymentError::Acquirer(SessionError::Store(e))),
        }
    }

    /// An approval handed back under [`CommitMode::WithSale`] was recorded
    /// with its sale (`Store::complete_card_sale`): nothing more is owed.
    pub fn recorded(&self, pending: &PendingCommit) {
        if let PendingCommit::Online(auth) = pending {
            // Not waited for: the session drops a recorded approval from
            // its held set by itself before its next request.
            if let Ok(mut s) = self.acquirer.try_lock() {
                s.release(auth.request.stan);
            }
        }
    }

    /// The sale of an approval handed back under [`CommitMode::WithSale`]
    /// will not be completed (cashier voided it, the sale write failed): an
    /// online approval is reversed at once (or queued), an offline one is
    /// simply never forwarded.
    pub fn abandon(&self, pending: &PendingCommit) -> Option<ReversalState> {
        match pending {
            PendingCommit::Online(auth) => {
                let state = self.reverse(auth, ReversalReason::CashierCancel);
                if let Ok(mut s) = self.acquirer.lock() {
                    s.release(auth.request.stan);
                }
                Some(state)
            }
            PendingCommit::Offline { item, .. } => {
                tracing::info!(masked_pan = %item.masked_pan, "offline approval abandoned before the sale");
                None
            }
        }
    }

    /// Receipt data of an online transaction: the kernel's view plus the
    /// host's references.
    fn online_ref(&self, r: &ReceiptData, pan_hash: &str, auth: &Authorization) -> CardRef {
        let mut card = chip_card_ref(r, pan_hash);
        card.rrn = auth.reply.rrn.clone().unwrap_or_default();
        card.stan = auth.request.stan.to_string();
        if let Some(code) = auth.reply.auth_code.clone().filter(|c| !c.is_empty()) {
            card.auth_code = code;
        }
        card
    }

    /// Sends the reversal of an approval now; queued if it cannot be.
    fn reverse(&self, auth: &Authorization, reason: ReversalReason) -> ReversalState {
        match self.acquirer.lock() {
            Ok(mut s) => match s.reverse(auth, reason) {
                Ok(true) => ReversalState::Delivered,
                Ok(false) => ReversalState::Queued,
                Err(e) => {
                    tracing::error!(error = %e, "reversal could not be recorded as due");
                    ReversalState::Queued
                }
            },
            Err(_) => ReversalState::Queued,
        }
    }

    /// After the session reversed a request on its own (no answer): whether
    /// anything is still owed.
    fn reversal_state(&self) -> ReversalState {
        let owed = self
            .acquirer
            .lock()
            .ok()
            .and_then(|s| s.store().pending_reversals().ok())
            .map(|r| r.iter().any(|r| r.due));
        match owed {
            Some(false) => ReversalState::Delivered,
            _ => ReversalState::Queued,
        }
    }

    fn qr_payment(
        &mut self,
        amount: Money,
        code: &str,
        reporter: &Reporter<'_>,
    ) -> Result<CardOutcome, PaymentError> {
        let minor = self.check_amount(amount)?;
        let code = crate::qr::check_code(code).map_err(PaymentError::InvalidQrCode)?;
        self.cancel.reset();
        let base = CardRef {
            masked_pan: crate::qr::mask_code(code),
            scheme: "QR".into(),
            app_label: "QR".into(),
            ..CardRef::new(CardEntry::Qr, Cvm::None)
        };
        reporter.emit(Stage::Processing);
        let answer = lock(&self.acquirer)?.authorize(&OnlineRequest::Qr {
            amount: minor,
            code: code.to_owned(),
        });
        self.online_only(amount, base, answer, false)
    }

    /// The end of a payment that only the host can approve (a QR code, a
    /// swiped card): declined when the host is away, reversed when its
    /// answer is lost or the cashier cancelled meanwhile, else held for
    /// the sale.
    fn online_only(
        &mut self,
        amount: Money,
        base: CardRef,
        answer: Result<crate::acquirer::Authorization, SessionError>,
        signature_required: bool,
    ) -> Result<CardOutcome, PaymentError> {
        let auth = match answer {
            Ok(auth) => auth,
            Err(SessionError::Offline(_) | SessionError::ReversalPending { .. }) => {
                return Ok(CardOutcome::declined(
                    amount,
                    DeclineReason::HostUnavailable,
                    base,
                ))
            }
            Err(SessionError::NoAnswer { .. }) => {
                let mut out = CardOutcome::declined(amount, DeclineReason::HostUnavailable, base);
                out.reversal = Some(self.reversal_state());
                return Ok(out);
            }
            Err(e) => return Err(PaymentError::Acquirer(e)),
        };
        let response_code = auth.reply.response_code.clone();
        let mut card = base;
        card.rrn = auth.reply.rrn.clone().unwrap_or_default();
        card.stan = auth.request.stan.to_string();
        card.auth_code = auth.reply.auth_code.clone().unwrap_or_default();
        if !auth.approved() {
            let mut out = CardOutcome::declined(
                amount,
                DeclineReason::Issuer {
                    code: response_code.clone(),
                },
                card,
            );
            out.response_code = Some(response_code);
            return Ok(out);
        }
        if self.cancel.is_cancelled() {
            let state = self.reverse(&auth, ReversalReason::CashierCancel);
            let mut out = CardOutcome::declined(amount, DeclineReason::CancelledByCashier, card);
            out.response_code = Some(response_code);
            out.reversal = Some(state);
            return Ok(out);
        }
        let pending = self.commit_online(&auth)?;
        Ok(CardOutcome {
            amount,
            decision: PaymentDecision::Approved,
            card,
            signature_required,
            response_code: Some(response_code),
            reversal: None,
            outbox_id: None,
            pending,
        })
    }
}

/// The final stage for a payment's result.
fn report_end(reporter: &Reporter<'_>, result: &Result<CardOutcome, PaymentError>) {
    match result {
        Ok(out) => match &out.decision {
            PaymentDecision::Approved => reporter.emit(Stage::Approved {
                card: Box::new(out.card.clone()),
            }),
            PaymentDecision::Declined(reason) => {
                tracing::info!(masked_pan = %out.card.masked_pan, %reason, "payment declined");
                reporter.emit(Stage::Declined {
                    reason: reason.clone(),
                })
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "payment failed");
            reporter.emit(Stage::Failed {
                error: e.to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use tillpoint_core::money::Currency;

    #[test]
    fn pan_hash_is_keyed_stable_and_ignores_separators() {
        let a = PanHasher::from_key([1; 32]);
        let b = PanHasher::from_key([2; 32]);
        let h = a.hash("4761739001010010");
        assert_eq!(h.len(), 64);
        assert_eq!(h, a.hash("4761 7390 0101 0010"));
        assert_ne!(h, b.hash("4761739001010010"));
        assert_ne!(h, a.hash("4761739001010028"));
        assert!(!h.contains("4761739001010010"));
    }

    #[test]
    fn pan_key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = PanHasher::load_or_create(dir.path()).unwrap();
        let again = PanHasher::load_or_create(dir.path()).unwrap();
        assert_eq!(
            first.hash("4111111111111111"),
            again.hash("4111111111111111")
        );
        let path = dir.path().join(PanHasher::KEY_FILE);
        assert_eq!(fs::metadata(&path).unwrap().len(), 73, "sealed by the KEK");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::write(&path, b"short").unwrap();
        assert!(matches!(
            PanHasher::load_or_create(dir.path()),
            Err(PanKeyError::BadKeyFile(_))
        ));
    }

    #[test]
    fn schemes_and_masks() {
        assert_eq!(scheme_of(&hex::decode("A0000000031010").unwrap()), "VISA");
        assert_eq!(
            scheme_of(&hex::decode("A000000333010101").unwrap()),
            "UNIONPAY"
        );
        assert_eq!(
            scheme_of(&hex::decode("A0000000041010").unwrap()),
            "MASTERCARD"
        );
        assert_eq!(scheme_of(&[0xA0, 0, 0, 0x09, 0x99]), "EMV");
    }

    #[test]
    fn amounts_are_checked() {
        assert!(positive_amount(Money::new(0, Currency::EUR)).is_err());
        assert!(positive_amount(Money::new(-5, Currency::EUR)).is_err());
        assert_eq!(
            positive_amount(Money::new(1234, Currency::EUR)).unwrap(),
            1234
        );
    }

    #[test]
    fn card_input_from_secrets() {
        let secrets = CardSecrets {
            pan: "4761739001010010".into(),
            pan_sequence: Some("01".into()),
            track2: hex::decode("4761739001010010D30122010000000000000F").unwrap(),
            expiry: vec![0x30, 0x12, 0x31],
        };
        let c = card_input(&secrets, EntryMode::Chip, vec![0x9F, 0x26, 0x00], None);
        assert_eq!(c.expiry.as_deref(), Some("3012"));
        assert_eq!(c.sequence.as_deref(), Some("001"));
        assert_eq!(
            c.track2.as_deref(),
            Some("4761739001010010=30122010000000000000")
        );
        assert_eq!(c.entry, EntryMode::Chip);
    }

    #[test]
    fn host_answer_becomes_kernel_input() {
        let mut icc = vec![0x91, 0x0A];
        icc.extend_from_slice(&[0xAA; 8]);
        icc.extend_from_slice(b"00");
        icc.extend_from_slice(&[0x72, 0x03, 0x9F, 0x18, 0x00]);
        let reply = Reply {
            mti: crate::iso8583::Mti::FINANCIAL_RESPONSE,
            stan: crate::iso8583::messages::Stan::FIRST,
            tid: "T".into(),
            response_code: "00".into(),
            rrn: Some("000000000001".into()),
            auth_code: Some("123456".into()),
            icc: Some(icc),
            totals: None,
        };
        match host_response(&reply) {
            HostResponse::Answered {
                arc,
                auth_code,
                issuer_auth_data,
                scripts,
            } => {
                assert_eq!(&arc, b"00");
                assert_eq!(auth_code.as_deref(), Some("123456"));
                assert_eq!(issuer_auth_data.map(|v| v.len()), Some(10));
                assert_eq!(scripts, vec![0x72, 0x03, 0x9F, 0x18, 0x00]);
            }
            HostResponse::Unavailable => panic!("answered"),
        }
    }

    #[test]
    fn fci_parsing_reports_applications_not_the_pse() {
        let fci = tlv::Tlv::constructed(
            0x6F,
            vec![
                tlv::Tlv::primitive(0x84, hex::decode("A0000000031010").unwrap()),
                tlv::Tlv::constructed(
                    0xA5,
                    vec![tlv::Tlv::primitive(0x50, b"VISA CREDIT".to_vec())],
                ),
            ],
        );
        let mut resp = fci.to_bytes();
        resp.extend_from_slice(&[0x90, 0x00]);
        assert_eq!(
            application_fci(&resp),
            Some(("VISA CREDIT".into(), "A0000000031010".into()))
        );
        let pse = tlv::Tlv::constructed(0x6F, vec![tlv::Tlv::primitive(0x84, PSE.to_vec())]);
        let mut resp = pse.to_bytes();
        resp.extend_from_slice(&[0x90, 0x00]);
        assert_eq!(application_fci(&resp), None);
        assert_eq!(application_fci(&[0x90]), None);
    }
}

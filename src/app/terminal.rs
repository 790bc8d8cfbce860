//! The shop's own payment devices, built from the till's config: the PC/SC
//! card reader (`[reader] name`), the serial PIN pad (`[pinpad] port`) and
//! the acquirer link (`[acquirer] host`), joined by the payment session,
//! with the store-and-forward worker running in the background. This is
//! what the window uses outside the demo; [`tillpoint_sim::demo_devices::DemoDevices`]
//! is the same shape with simulators.
//!
//! A composition root like `main`: it wires `devices` to `payment`, and the
//! acquirer session shares the till's SQLite database.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tillpoint_payment::magstripe::StripeCard;

use crate::till::Till;
use tillpoint_core::money::Money;
use tillpoint_devices::pinpad::{PinPadConfig, SerialPinPad};
use tillpoint_devices::reader::{self, PcscCard, Reader, ReaderError};
use tillpoint_payment::acquirer::config::AcquirerConfig;
use tillpoint_payment::acquirer::till_store::SqliteAcquirerStore;
use tillpoint_payment::acquirer::{spawn_forwarder, Session, WorkerConfig};
use tillpoint_payment::emv::apdu::ChannelError;
use tillpoint_payment::emv::entry::SIMULATED_COLLISION_ATR;
use tillpoint_payment::emv::TerminalConfig;
use tillpoint_payment::pin::PinEntry;
use tillpoint_payment::session::{
    CardOutcome, CardSource, CommitMode, Interface, PanHasher, PaymentCancel, PaymentError,
    PaymentSession, PaymentSettings, Stage,
};

/// How long the cashier's screen waits for the customer's card before the
/// payment gives up (the cashier can cancel sooner).
pub const CARD_WAIT: Duration = Duration::from_secs(60);

/// Why the devices could not be set up; shown to the cashier and logged.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error("acquirer link: {0}")]
    Acquirer(String),
    #[error(transparent)]
    PanKey(#[from] tillpoint_payment::session::PanKeyError),
    #[error("could not start the forwarding worker: {0}")]
    Worker(#[from] std::io::Error),
}

/// The card readers, waited on until the customer inserts or taps a card.
/// Each reader is looked up by (part of) its name each payment, so a reader
/// unplugged and plugged back in between payments is found again.
#[derive(Debug, Clone)]
pub struct ReaderSource {
    /// `[reader] name`: a part of the contact reader's PC/SC name; empty
    /// takes the first reader.
    pub name: String,
    /// `[reader] contactless`: a part of the contactless reader's name;
    /// empty: the till takes no taps.
    pub contactless: String,
    /// How long to wait for the card.
    pub wait: Duration,
}

impl ReaderSource {
    fn open(wanted: &str, names: &[String]) -> Result<Reader, ReaderError> {
        let wanted = wanted.trim();
        if wanted.is_empty() {
            return Reader::open(None);
        }
        match names.iter().find(|n| n.contains(wanted)) {
            Some(n) => Reader::open(Some(n)),
            None => Err(ReaderError::ReaderNotFound(wanted.to_string())),
        }
    }

    /// The contact reader and, when configured, the contactless one. The
    /// contact reader may be missing on a till that only takes taps.
    fn readers(&self) -> Result<(Option<Reader>, Option<Reader>), ReaderError> {
        let names = reader::list_readers()?;
        let tap_name = self.contactless.trim();
        let tap = if tap_name.is_empty() {
            None
        } else {
            Some(Self::open(tap_name, &names)?)
        };
        let contact = match Self::open(&self.name, &names) {
            // Without a name the first reader could be the contactless one.
            Ok(r) if tap.as_ref().is_some_and(|t| t.name() == r.name()) => None,
            Ok(r) => Some(r),
            Err(e) if tap.is_none() => return Err(e),
            Err(_) => None,
        };
        Ok((contact, tap))
    }
}

fn channel(e: ReaderError) -> ChannelError {
    match e {
        ReaderError::NoService | ReaderError::NoReader | ReaderError::ReaderNotFound(_) => {
            ChannelError::NoReader
        }
        ReaderError::NoCard => ChannelError::NoCard,
        ReaderError::CardRemoved => ChannelError::CardRemoved,
        ReaderError::Cancelled => ChannelError::Cancelled,
        ReaderError::Timeout => ChannelError::NoCard,
        other => ChannelError::Transport(other.to_string()),
    }
}

impl CardSource for ReaderSource {
    type Card = PcscCard;

    /// Waits in short slices so the cashier's Cancel is seen within a
    /// fifth of a second.
    fn wait_for_card(
        &mut self,
        cancel: &PaymentCancel,
    ) -> Result<(PcscCard, Interface), ChannelError> {
        let (contact, tap) = self.readers().map_err(channel)?;
        let deadline = Instant::now() + self.wait;
        // With two readers each is watched in turn, 100 ms at a time.
        let slice = if contact.is_some() && tap.is_some() {
            Duration::from_millis(100)
        } else {
            Duration::from_millis(200)
        };
        let watched = [
            (contact.as_ref(), Interface::Contact),
            (tap.as_ref(), Interface::Contactless),
        ];
        loop {
            for (reader, interface) in watched {
                let Some(reader) = reader else { continue };
                if cancel.is_cancelled() {
                    return Err(ChannelError::Cancelled);
                }
                match reader.wait_for_card(slice) {
                    Ok(atr)
                        if interface == Interface::Contactless
                            && atr == SIMULATED_COLLISION_ATR =>
                    {
                        return Err(ChannelError::Collision)
                    }
                    Ok(_atr) => return Ok((reader.connect().map_err(channel)?, interface)),
                    Err(ReaderError::Timeout) => {}
                    Err(e) => return Err(channel(e)),
                }
            }
            if Instant::now() >= deadline {
                return Err(ChannelError::NoCard);
            }
        }
    }
}

/// The till's payment devices from its config.
pub struct LiveDevices {
    payments: PaymentSession<SqliteAcquirerStore>,
    acquirer: Arc<Mutex<Session<SqliteAcquirerStore>>>,
    reader: ReaderSource,
    stop: Arc<AtomicBool>,
    forwarder: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LiveDevices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveDevices")
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

impl LiveDevices {
    /// Sets the devices up from `till`'s config. `Ok(None)` when no
    /// `[acquirer] host` is configured: card and QR payments need the link.
    /// A PIN pad that is configured but not answering is not fatal here:
    /// the payment that needs it says so (and the self-check shows it).
    pub fn start(till: &Till) -> Result<Option<LiveDevices>, TerminalError> {
        let mut warnings = Vec::new();
        let acq = AcquirerConfig::load(&till.config, &mut warnings);
        let mut terminal = TerminalConfig::from_till_config(&till.config, &mut warnings);
        for w in warnings {
            tracing::warn!("config: {w}");
        }
        if !acq.enabled() {
            return Ok(None);
        }
        // One terminal identity: the card's 9F1C and field 41 agree.
        terminal.terminal_id = acq.tid.clone();
        let session = acq
            .open_session(
                &till.paths.database(),
                till.data_dir(),
                till.config.till.currency,
            )
            .map_err(TerminalError::Acquirer)?;
        let acquirer = Arc::new(Mutex::new(session));
        let stop = Arc::new(AtomicBool::new(false));
        let forwarder = spawn_forwarder(acquirer.clone(), WorkerConfig::default(), stop.clone())?;
        let pad: Option<Box<dyn PinEntry>> =
            PinPadConfig::from_till_config(&till.config, &mut Vec::new()).map(|pc| {
                let mut pad = SerialPinPad::new(pc);
                if let Err(e) = pad.connect() {
                    tracing::warn!(error = %e, "PIN pad not answering yet");
                }
                Box::new(pad) as Box<dyn PinEntry>
            });
        let readers = tillpoint_devices::reader::ReaderConfig::load(&till.config, &mut Vec::new())
            .unwrap_or_default();
        let hasher = PanHasher::load_or_create(till.data_dir())?;
        // Approvals are recorded in the sale's own transaction: a till that
        // stops between the approval and the sale reverses it on restart.
        let payments = PaymentSession::new(terminal, acquirer.clone(), pad, hasher).with_settings(
            PaymentSettings {
                commit: CommitMode::WithSale,
                ..PaymentSettings::default()
            },
        );
        tracing::info!(host = %acq.host, tid = %acq.tid, "payment devices ready");
        Ok(Some(LiveDevices {
            payments,
            acquirer,
            reader: ReaderSource {
                name: readers.name,
                contactless: readers.contactless,
                wait: CARD_WAIT,
            },
            stop,
            forwarder: Some(forwarder),
        }))
    }

    /// Takes a card payment of `amount`: waits for the card in the reader,
    /// then the whole EMV, PIN and acquirer flow. Blocks; stages go to
    /// `progress`.
    pub fn pay_card(
        &mut self,
        amount: Money,
        progress: impl FnMut(Stage),
    ) -> Result<CardOutcome, PaymentError> {
        let mut source = self.reader.clone();
        self.payments.pay_card(&mut source, amount, progress)
    }

    /// Takes a payment by a swiped card.
    pub fn pay_swipe(
        &mut self,
        card: &StripeCard,
        amount: Money,
        progress: impl FnMut(Stage),
    ) -> Result<CardOutcome, PaymentError> {
        self.payments.pay_swipe(card, amount, progress)
    }

    /// Takes a QR payment with the customer's payment code (scanned).
    pub fn pay_qr(
        &mut self,
        amount: Money,
        code: &str,
        progress: impl FnMut(Stage),
    ) -> Result<CardOutcome, PaymentError> {
        self.payments.pay_qr(amount, code, progress)
    }

    /// The payment session (record or abandon an approval held for its
    /// sale).
    pub fn payment_session(&self) -> &PaymentSession<SqliteAcquirerStore> {
        &self.payments
    }

    /// The cashier's Cancel for the payment in progress.
    pub fn canceller(&self) -> PaymentCancel {
        self.payments.canceller()
    }

    /// The acquirer session, shared with the forwarder.
    pub fn acquirer(&self) -> Arc<Mutex<Session<SqliteAcquirerStore>>> {
        self.acquirer.clone()
    }

    /// Whether a contactless reader is configured.
    pub fn takes_taps(&self) -> bool {
        !self.reader.contactless.trim().is_empty()
    }

    /// Sets how long a payment waits for the card.
    pub fn set_card_wait(&mut self, wait: Duration) {
        self.reader.wait = wait;
    }
}

impl Drop for LiveDevices {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.forwarder.take() {
            let _ = h.join();
        }
    }
}

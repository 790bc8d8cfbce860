//! Every simulated device the demo and the tests need, wired to the real
//! payment session over real protocols and, where it is cheap, real
//! transports:
//!
//! * the acquirer host simulator on a random loopback port, with its own
//!   SQLite ledger in the data directory, verifying ARQCs and recovering
//!   PINs with the issuer keys of the virtual cards
//!   ([`EmvIssuer`](crate::acquirer::EmvIssuer));
//! * the Abecs PIN pad simulator on the master end of a real pseudo-terminal
//!   pair, with the till's serial PIN pad adapter (`devices::pinpad`) on the
//!   slave end, exactly as it opens a real port; the PIN comes from an
//!   on-screen pad (key presses sent through [`DemoDevices::pin_keys`]) or
//!   is a fixed demo PIN;
//! * the virtual EMV card in memory: "inserting" a card chooses a profile,
//!   and each profile's card keeps its counters between payments;
//! * the acquirer session on the till's SQLite database and, optionally,
//!   the store-and-forward worker.
//!
//! [`DemoDevices`] offers a blocking API for a worker thread; the GUI keeps
//! [`DemoDevices::canceller`] and [`DemoDevices::pin_keys`] on its side.
//!
//! This is a composition root like `main`: it uses `devices::pinpad` (the
//! real adapter under test), which the rest of `sim` does not.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serialport::{SerialPort, TTYPort};
use zeroize::Zeroizing;

use crate::acquirer::host_keys::DEMO_TMK;
use crate::acquirer::ledger::HostLedger;
use crate::acquirer::{
    default_db_path, start_acquirer_sim, EmvIssuer, Faults, IssuerError, IssuerVerifier, SimConfig,
    SimHandle,
};
use crate::card::{profile, VirtualCard};
use crate::pinpad::{PadKey, PinPadSim, PinSource, ServeEnd, SimEvent, SimOptions};
use tillpoint_core::money::{Currency, Money};
use tillpoint_devices::pinpad::{PinPadConfig, SerialPinPad};
use tillpoint_payment::abecs::link::PortLine;
use tillpoint_payment::acquirer::till_store::SqliteAcquirerStore;
use tillpoint_payment::acquirer::wire::{HostProfile, Wire};
use tillpoint_payment::acquirer::{
    spawn_forwarder, terminal_keys, AcquirerClient, Backoff, ClientConfig, DataKey, ForwardReport,
    OfflineLimits, Session, SessionConfig, SessionError, SystemClock, WorkerConfig,
};
use tillpoint_payment::emv::apdu::ChannelError;
use tillpoint_payment::emv::TerminalConfig;
use tillpoint_payment::iso8583::messages::TerminalIds;
use tillpoint_payment::pin::CancelToken;
use tillpoint_payment::session::{
    CardOutcome, CommitMode, InsertedCard, PanHasher, PaymentCancel, PaymentError, PaymentSession,
    PaymentSettings, RandomSelection, Stage,
};

/// The PIN of record of every demo card; also the fixed demo PIN.
pub const DEMO_PIN: &str = crate::acquirer::issuer::DEFAULT_PIN;

/// The acquirer store the demo uses: the till's own SQLite database.
pub type DemoStore = SqliteAcquirerStore;

// ---------------------------------------------------------------------------
// The host's issuer
// ---------------------------------------------------------------------------

/// The verifier the demo's host uses: any issuer, plus two test knobs (a
/// corrupted ARPC, to make a card refuse an approval) and counters of the
/// PINs the host recovered and accepted (counts only, never a PIN).
pub struct DemoIssuer {
    inner: Arc<dyn IssuerVerifier>,
    tamper_arpc: AtomicU32,
    pins_recovered: AtomicUsize,
    pins_matched: AtomicUsize,
}

impl std::fmt::Debug for DemoIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoIssuer")
            .field(
                "pins_recovered",
                &self.pins_recovered.load(Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}

impl DemoIssuer {
    /// Wraps an issuer.
    pub fn new(inner: Arc<dyn IssuerVerifier>) -> Self {
        DemoIssuer {
            inner,
            tamper_arpc: AtomicU32::new(0),
            pins_recovered: AtomicUsize::new(0),
            pins_matched: AtomicUsize::new(0),
        }
    }

    /// The next `n` ARPCs are corrupted (the card will refuse the approval).
    pub fn tamper_next_arpcs(&self, n: u32) {
        self.tamper_arpc.store(n, Ordering::SeqCst);
    }

    /// PIN blocks the host decrypted to a well-formed PIN.
    pub fn pins_recovered(&self) -> usize {
        self.pins_recovered.load(Ordering::SeqCst)
    }

    /// Recovered PINs that were the card's PIN of record.
    pub fn pins_matched(&self) -> usize {
        self.pins_matched.load(Ordering::SeqCst)
    }
}

impl IssuerVerifier for DemoIssuer {
    fn verify_arqc(&self, pan: &str, psn: Option<&str>, icc: &[u8]) -> Result<bool, IssuerError> {
        self.inner.verify_arqc(pan, psn, icc)
    }

    fn scripts(&self, pan: &str, psn: Option<&str>, icc: &[u8]) -> Result<Vec<u8>, IssuerError> {
        self.inner.scripts(pan, psn, icc)
    }

    fn make_arpc(
        &self,
        pan: &str,
        psn: Option<&str>,
        icc: &[u8],
        arc: [u8; 2],
    ) -> Result<Vec<u8>, IssuerError> {
        let mut arpc = self.inner.make_arpc(pan, psn, icc, arc)?;
        let tamper = self
            .tamper_arpc
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if tamper {
            if let Some(b) = arpc.first_mut() {
                *b ^= 0xFF;
            }
        }
        Ok(arpc)
    }

    fn recover_pin(
        &self,
        pan: &str,
        pin_block: &[u8],
        ksn: &[u8],
    ) -> Result<Zeroizing<String>, IssuerError> {
        let pin = self.inner.recover_pin(pan, pin_block, ksn)?;
        self.pins_recovered.fetch_add(1, Ordering::SeqCst);
        Ok(pin)
    }

    fn recover_session_pin(
        &self,
        pan: &str,
        pin_block: &[u8; 8],
        pin_key: &[u8; 16],
    ) -> Result<Zeroizing<String>, IssuerError> {
        let pin = self.inner.recover_session_pin(pan, pin_block, pin_key)?;
        self.pins_recovered.fetch_add(1, Ordering::SeqCst);
        Ok(pin)
    }

    fn pin_matches(&self, pan: &str, pin: &str) -> bool {
        let ok = self.inner.pin_matches(pan, pin);
        if ok {
            self.pins_matched.fetch_add(1, Ordering::SeqCst);
        }
        ok
    }
}

// ---------------------------------------------------------------------------
// Options and errors
// ---------------------------------------------------------------------------

/// Where the PIN typed on the simulated pad comes from.
#[derive(Clone)]
pub enum DemoPin {
    /// The cardholder "types" this PIN as soon as the pad asks.
    Fixed(Zeroizing<String>),
    /// Key presses sent through [`DemoDevices::pin_keys`] (the GUI's
    /// on-screen PIN pad). Keys pressed shortly before the pad is ready are
    /// kept for it.
    OnScreen,
}

impl std::fmt::Debug for DemoPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DemoPin::Fixed(_) => f.write_str("Fixed(<redacted>)"),
            DemoPin::OnScreen => f.write_str("OnScreen"),
        }
    }
}

/// How the demo devices are set up.
#[derive(Debug)]
pub struct DemoOptions {
    /// The till's currency (terminal, host messages).
    pub currency: Currency,
    /// PIN input.
    pub pin: DemoPin,
    /// How long the till waits for the host's answer.
    pub host_timeout: Duration,
    /// How long the cardholder has for the PIN.
    pub pin_timeout: Duration,
    /// Run the store-and-forward worker in the background.
    pub forwarder: bool,
    /// Receives what the simulated pad shows (display, PIN digits typed).
    pub pad_events: Option<Sender<SimEvent>>,
    /// Who records approvals (see [`CommitMode`]).
    pub commit: CommitMode,
    /// The till's database, which holds the acquirer state; default
    /// `till.db` in the data directory.
    pub till_db: Option<PathBuf>,
    /// The host profile the simulated acquirer and the till speak. Under
    /// cups both hold the demo terminal master key (the pad too), and the
    /// till's keys are sealed in the data directory like a real till's.
    pub host_profile: HostProfile,
    /// The network to the simulated host (the demo's offline switch).
    pub link: crate::link::LinkSwitch,
    /// When an offline approval is allowed (the shop's `[acquirer]` caps).
    pub limits: OfflineLimits,
}

impl DemoOptions {
    /// Defaults: the fixed demo PIN, a 20 s host timeout, a 60 s PIN
    /// timeout, the forwarder running, approvals recorded at once.
    pub fn new(currency: Currency) -> Self {
        DemoOptions {
            currency,
            pin: DemoPin::Fixed(Zeroizing::new(DEMO_PIN.to_owned())),
            host_timeout: Duration::from_secs(20),
            pin_timeout: Duration::from_secs(60),
            forwarder: true,
            pad_events: None,
            commit: CommitMode::Immediate,
            till_db: None,
            host_profile: HostProfile::Generic,
            link: crate::link::LinkSwitch::new(),
            limits: OfflineLimits::default(),
        }
    }
}

/// Why the demo devices could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Data directory or thread creation failed.
    #[error("demo devices: {0}")]
    Io(#[from] std::io::Error),
    /// The acquirer simulator did not start.
    #[error("acquirer simulator: {0}")]
    Host(#[from] crate::acquirer::SimError),
    /// The pseudo-terminal pair or the PIN pad did not come up.
    #[error("PIN pad: {0}")]
    PinPad(String),
    /// The till's acquirer store or key could not be opened.
    #[error("acquirer link: {0}")]
    Acquirer(String),
    /// The PAN hash key could not be read or created.
    #[error(transparent)]
    PanKey(#[from] tillpoint_payment::session::PanKeyError),
}

// ---------------------------------------------------------------------------
// The devices
// ---------------------------------------------------------------------------

/// The simulated till hardware and host, ready to take payments.
pub struct DemoDevices {
    payments: PaymentSession<DemoStore>,
    acquirer: Arc<Mutex<Session<DemoStore>>>,
    host: SimHandle,
    issuer: Arc<DemoIssuer>,
    cards: HashMap<String, VirtualCard>,
    keys: Sender<PadKey>,
    currency: Currency,
    data_dir: PathBuf,
    pad_path: PathBuf,
    stop: CancelToken,
    forwarder_stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// The slave end stays open for the devices' lifetime, so the
    /// simulator's master end never sees a hang-up while the till's adapter
    /// reopens the port.
    _slave: TTYPort,
}

impl std::fmt::Debug for DemoDevices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoDevices")
            .field("host", &self.host.addr())
            .field("pin_pad", &self.pad_path)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

/// Pause after the pad starts PIN entry before keys are handed to it: the
/// simulator drops keys that arrive before it is listening.
const PAD_SETTLE: Duration = Duration::from_millis(80);
/// Keys pressed longer ago than this are not typed into a new PIN entry.
const STALE_KEY: Duration = Duration::from_secs(10);

impl DemoDevices {
    /// Starts everything with the defaults (fixed demo PIN, forwarder on).
    pub fn start(data_dir: &Path, currency: Currency) -> Result<DemoDevices, DemoError> {
        DemoDevices::start_with(data_dir, DemoOptions::new(currency))
    }

    /// Starts everything: the host on 127.0.0.1 (random port), the PIN pad
    /// on a fresh pseudo-terminal pair, the acquirer session on the till's
    /// database in `data_dir`.
    pub fn start_with(data_dir: &Path, opts: DemoOptions) -> Result<DemoDevices, DemoError> {
        std::fs::create_dir_all(data_dir)?;
        let stop = CancelToken::new();
        let mut threads = Vec::new();

        // The acquirer host.
        let issuer = Arc::new(DemoIssuer::new(Arc::new(EmvIssuer::test_cards())));
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut host_cfg = SimConfig::new(listen, default_db_path(data_dir), issuer.clone());
        host_cfg.profile = opts.host_profile;
        host_cfg.link = opts.link.clone();
        let host = start_acquirer_sim(host_cfg)?;

        // The PIN pad: simulator on the master end, the till's adapter on the slave.
        let (master, slave) =
            TTYPort::pair().map_err(|e| DemoError::PinPad(format!("pseudo-terminal pair: {e}")))?;
        let pad_path = slave
            .name()
            .map(PathBuf::from)
            .ok_or_else(|| DemoError::PinPad("the pseudo-terminal has no name".into()))?;
        let (sim_keys_tx, sim_keys_rx) = mpsc::channel();
        let (events_tx, events_rx) = mpsc::channel();
        let mut sim_opts = SimOptions::new(&pad_path, data_dir.join("pinpad-ksn.toml"));
        sim_opts.pin_source = PinSource::Channel(sim_keys_rx);
        sim_opts.events = Some(events_tx);
        sim_opts.pin_timeout = opts.pin_timeout;
        sim_opts.stop = stop.clone();
        let sim = PinPadSim::new(sim_opts).map_err(|e| DemoError::PinPad(e.to_string()))?;
        threads.push(spawn_pad(sim, master, stop.clone())?);

        let (keys_tx, keys_rx) = mpsc::channel();
        let fixed = match &opts.pin {
            DemoPin::Fixed(p) => Some(p.clone()),
            DemoPin::OnScreen => None,
        };
        let relay = Relay {
            from_gui: keys_rx,
            events: events_rx,
            to_pad: sim_keys_tx,
            fixed,
            subscriber: opts.pad_events,
            stop: stop.clone(),
        };
        threads.push(
            thread::Builder::new()
                .name("demo-pinpad-keys".into())
                .spawn(move || relay.run())?,
        );

        let mut pad_config = PinPadConfig::at_path(&pad_path);
        pad_config.reconnect_timeout = Duration::from_secs(2);
        let mut pad = SerialPinPad::new(pad_config);
        pad.connect()
            .map_err(|e| DemoError::PinPad(e.to_string()))?;

        // The acquirer link on the till's database.
        let till_db = opts
            .till_db
            .clone()
            .unwrap_or_else(|| data_dir.join("till.db"));
        let store =
            SqliteAcquirerStore::open(&till_db).map_err(|e| DemoError::Acquirer(e.to_string()))?;
        let key =
            DataKey::load_or_create(data_dir).map_err(|e| DemoError::Acquirer(e.to_string()))?;
        let mut terminal = TerminalConfig {
            currency_code: opts.currency.numeric(),
            country_code: opts.currency.home_country(),
            ..TerminalConfig::default()
        };
        terminal.terminal_id = "TILL0001".into();
        let ids = TerminalIds {
            tid: terminal.terminal_id.clone(),
            mid: terminal.merchant_id.clone(),
            currency: opts.currency.numeric(),
        };
        let mut client = ClientConfig::new(host.addr());
        client.read_timeout = opts.host_timeout;
        client.connect_timeout = Duration::from_secs(2);
        client.profile = opts.host_profile;
        let mut client = AcquirerClient::new(client);
        if let HostProfile::Cups(_) = opts.host_profile {
            let acquirer = |e: String| DemoError::Acquirer(e);
            if terminal_keys::load_tmk(data_dir)
                .map_err(|e| acquirer(e.to_string()))?
                .is_none()
            {
                terminal_keys::store_tmk(data_dir, &DEMO_TMK)
                    .map_err(|e| acquirer(e.to_string()))?;
            }
            client.set_wire(
                Wire::with_keys_in(opts.host_profile, data_dir.to_path_buf())
                    .map_err(|e| acquirer(e.to_string()))?,
            );
        }
        let mut session = Session::new(
            store,
            client,
            SessionConfig {
                ids,
                limits: opts.limits,
            },
            Box::new(SystemClock),
            key,
        )
        .map_err(|e| DemoError::Acquirer(e.to_string()))?;
        // A cups till signs on when it starts (and again whenever the host
        // asks); one that cannot yet signs on before its first payment.
        if let Err(e) = session.ensure_signed_on() {
            tracing::warn!(error = %e, "demo till could not sign on to the host yet");
        }
        let acquirer = Arc::new(Mutex::new(session));

        let forwarder_stop = Arc::new(AtomicBool::new(false));
        if opts.forwarder {
            threads.push(spawn_forwarder(
                acquirer.clone(),
                WorkerConfig {
                    idle_poll: Duration::from_millis(500),
                    // Short, so the waiting advices go soon after the
                    // demo's link comes back.
                    backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(5)),
                    echo_every: Duration::from_secs(10),
                },
                forwarder_stop.clone(),
            )?);
        }

        let hasher = PanHasher::load_or_create(data_dir)?;
        let payments = PaymentSession::new(terminal, acquirer.clone(), Some(Box::new(pad)), hasher)
            .with_settings(PaymentSettings {
                pin_timeout: opts.pin_timeout,
                // The demo never picks a payment at random for going online,
                // so every card profile behaves the same way every time.
                random_selection: RandomSelection::Fixed(99),
                commit: opts.commit,
            });
        tracing::info!(host = %host.addr(), pin_pad = %pad_path.display(), "demo devices ready");
        Ok(DemoDevices {
            payments,
            acquirer,
            host,
            issuer,
            cards: HashMap::new(),
            keys: keys_tx,
            currency: opts.currency,
            data_dir: data_dir.to_path_buf(),
            pad_path,
            stop,
            forwarder_stop,
            threads,
            _slave: slave,
        })
    }

    /// The card profiles a demo card can be "inserted" as: (name, description).
    pub fn card_profiles() -> Vec<(&'static str, &'static str)> {
        profile::all()
            .into_iter()
            .map(|p| (p.name, p.description))
            .collect()
    }

    /// Inserts a card of `profile` and takes a card payment of `amount`;
    /// blocks until it is decided. Stages go to `progress`.
    pub fn pay_card(
        &mut self,
        amount: Money,
        profile: &str,
        mut progress: impl FnMut(Stage),
    ) -> Result<CardOutcome, PaymentError> {
        if !self.cards.contains_key(profile) {
            let Some(card) = VirtualCard::from_profile_name(profile) else {
                let e = PaymentError::NoCard(ChannelError::Transport(format!(
                    "no demo card profile {profile:?}"
                )));
                progress(Stage::Failed {
                    error: e.to_string(),
                });
                return Err(e);
            };
            self.cards.insert(profile.to_owned(), card);
        }
        let Some(card) = self.cards.get_mut(profile) else {
            return Err(PaymentError::NoCard(ChannelError::NoCard));
        };
        // Inserting (or tapping) powers the chip up afresh; its counters
        // stay.
        card.reset();
        let mut source = if card.is_contactless() {
            InsertedCard::tapped(card)
        } else {
            InsertedCard::new(card)
        };
        self.payments.pay_card(&mut source, amount, progress)
    }

    /// Takes a QR payment with the customer's payment code.
    pub fn pay_qr(
        &mut self,
        amount: Money,
        code: &str,
        progress: impl FnMut(Stage),
    ) -> Result<CardOutcome, PaymentError> {
        self.payments.pay_qr(amount, code, progress)
    }

    /// Takes a payment by a swiped card (its tracks read by the till's
    /// keyboard-wedge reader), the PIN on the simulated pad.
    pub fn pay_swipe(
        &mut self,
        card: &tillpoint_payment::magstripe::StripeCard,
        amount: Money,
        progress: impl FnMut(Stage),
    ) -> Result<CardOutcome, PaymentError> {
        self.payments.pay_swipe(card, amount, progress)
    }

    /// Sends key presses to the simulated PIN pad (the GUI's on-screen pad).
    pub fn pin_keys(&self) -> Sender<PadKey> {
        self.keys.clone()
    }

    /// The cashier's Cancel for the payment in progress.
    pub fn canceller(&self) -> PaymentCancel {
        self.payments.canceller()
    }

    /// The payment session (commit or abandon a pending approval, the PAN
    /// hasher for refunds).
    /// The payment session, shared (record or abandon a held approval).
    pub fn payment_session(&self) -> &PaymentSession<DemoStore> {
        &self.payments
    }

    pub fn payments(&mut self) -> &mut PaymentSession<DemoStore> {
        &mut self.payments
    }

    /// The acquirer session, shared with the forwarder.
    pub fn acquirer(&self) -> Arc<Mutex<Session<DemoStore>>> {
        self.acquirer.clone()
    }

    /// Forwards waiting offline advices now (the worker does it too when on).
    pub fn forward_outbox(&self) -> Result<ForwardReport, PaymentError> {
        let mut session = self
            .acquirer
            .lock()
            .map_err(|_| PaymentError::AcquirerPoisoned)?;
        session
            .forward_pending(usize::MAX)
            .map_err(PaymentError::Acquirer)
    }

    /// Delivers due reversals now.
    pub fn flush_reversals(&self) -> Result<usize, PaymentError> {
        let mut session = self
            .acquirer
            .lock()
            .map_err(|_| PaymentError::AcquirerPoisoned)?;
        match session.flush_reversals() {
            Ok(n) => Ok(n),
            Err(SessionError::ReversalPending { .. }) => Ok(0),
            Err(e) => Err(PaymentError::Acquirer(e)),
        }
    }

    /// The host simulator's address.
    pub fn host_addr(&self) -> SocketAddr {
        self.host.addr()
    }

    /// Fault knobs of the host (no answer, garbled answer, delay).
    pub fn host_faults(&self) -> &Faults {
        self.host.faults()
    }

    /// A connection to the host's ledger, to see what the host recorded.
    pub fn host_ledger(&self) -> Result<HostLedger, crate::acquirer::SimError> {
        self.host.ledger()
    }

    /// The host's issuer (test knobs and PIN counters).
    pub fn issuer(&self) -> &DemoIssuer {
        &self.issuer
    }

    /// The card of `profile`, once inserted (e.g. to pull it mid-payment
    /// with [`VirtualCard::remove_after`]); inserts it if it never was.
    pub fn card(&mut self, profile: &str) -> Option<&mut VirtualCard> {
        if !self.cards.contains_key(profile) {
            let card = VirtualCard::from_profile_name(profile)?;
            self.cards.insert(profile.to_owned(), card);
        }
        self.cards.get_mut(profile)
    }

    /// The till's currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The PIN pad's serial port (the pseudo-terminal's slave end).
    pub fn pin_pad_path(&self) -> &Path {
        &self.pad_path
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

impl Drop for DemoDevices {
    fn drop(&mut self) {
        self.stop.cancel();
        self.forwarder_stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Runs the PIN pad simulator on the master end until stopped.
fn spawn_pad(
    mut sim: PinPadSim,
    master: TTYPort,
    stop: CancelToken,
) -> Result<JoinHandle<()>, std::io::Error> {
    thread::Builder::new()
        .name("demo-pinpad-sim".into())
        .spawn(move || {
            let mut line = PortLine::new(Box::new(master));
            loop {
                let pause = match sim.serve(&mut line, &stop) {
                    ServeEnd::Stopped => return,
                    ServeEnd::Disconnect(d) => d,
                    ServeEnd::LineLost(why) => {
                        tracing::debug!(%why, "demo PIN pad line failed; serving again");
                        Duration::from_millis(100)
                    }
                };
                let until = Instant::now() + pause;
                while Instant::now() < until {
                    if stop.is_cancelled() {
                        return;
                    }
                    thread::sleep(Duration::from_millis(10));
                }
            }
        })
}

/// Carries key presses from the GUI (or the fixed demo PIN) to the pad
/// simulator at the moment the pad listens, and the pad's events to a
/// subscriber.
struct Relay {
    from_gui: Receiver<PadKey>,
    events: Receiver<SimEvent>,
    to_pad: Sender<PadKey>,
    fixed: Option<Zeroizing<String>>,
    subscriber: Option<Sender<SimEvent>>,
    stop: CancelToken,
}

impl Relay {
    fn run(mut self) {
        let mut buffered: VecDeque<(Instant, PadKey)> = VecDeque::new();
        let mut entry_since: Option<Instant> = None;
        let mut fed = false;
        let mut gui_open = true;
        while !self.stop.is_cancelled() {
            while let Ok(event) = self.events.try_recv() {
                match &event {
                    SimEvent::PinEntryStarted { .. } => {
                        entry_since = Some(Instant::now());
                        fed = false;
                    }
                    SimEvent::PinEntryEnded(_) => {
                        entry_since = None;
                        buffered.clear();
                    }
                    _ => {}
                }
                if let Some(s) = &self.subscriber {
                    if s.send(event).is_err() {
                        self.subscriber = None;
                    }
                }
            }
            while gui_open {
                match self.from_gui.try_recv() {
                    Ok(key) => {
                        if buffered.len() >= 32 {
                            buffered.pop_front();
                        }
                        buffered.push_back((Instant::now(), key));
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => gui_open = false,
                }
            }
            if entry_since.is_some_and(|t| t.elapsed() >= PAD_SETTLE) {
                if !fed {
                    fed = true;
                    if let Some(pin) = &self.fixed {
                        for d in pin.bytes().filter(u8::is_ascii_digit) {
                            let _ = self.to_pad.send(PadKey::Digit(d - b'0'));
                        }
                        let _ = self.to_pad.send(PadKey::Enter);
                    }
                }
                while let Some((at, key)) = buffered.pop_front() {
                    if at.elapsed() < STALE_KEY {
                        let _ = self.to_pad.send(key);
                    }
                }
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

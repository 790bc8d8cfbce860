//! The GUI's bridge to the till: every request the screens make (database,
//! devices, simulated payments) is a [`Job`] run off the UI thread, and its
//! [`Outcome`] comes back as a message. Tests run jobs synchronously through
//! the same [`Backend::run`], so what they check is what the window does.

use crate::check::CheckLine;
use crate::till::Till;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tillpoint_core::cashier::{authorize, Action, Approval, Cashier};
use tillpoint_core::catalog::{Product, Qty};
use tillpoint_core::money::Money;
use tillpoint_core::report::Report;
use tillpoint_core::sale::{Sale, SaleRecord};
use tillpoint_core::tender::TenderKind;
use tillpoint_store::catalog::ScanHit;

/// What the window shows that the lower layers own, named here so that the
/// window depends on the application layer alone.
pub use tillpoint_payment::acquirer::settlement::CardSummary;
pub use tillpoint_sim::pinpad::PadKey;
pub use tillpoint_store::acquirer::SettlementOutcomeRow;
pub use tillpoint_store::sales::{CashMovement, Parked};

/// Work the GUI asks for.
#[derive(Debug, Clone)]
pub enum Job {
    Check,
    Login {
        number: u32,
        pin: String,
    },
    /// Checks a supervisor's number and PIN for one action.
    Approve {
        number: u32,
        pin: String,
        action: Action,
    },
    Resolve(String),
    Search(String),
    Categories,
    Category(String),
    Complete(Box<Sale>),
    Park(Box<Sale>, String),
    ListParked,
    Resume(i64),
    LoadReceipt(String),
    Refund {
        receipt: String,
        picks: Vec<(u32, Qty)>,
        cashier: u32,
        approval: Approval,
    },
    PostVoid {
        receipt: String,
        approval: Approval,
    },
    Cash {
        kind: CashMovement,
        amount: Money,
        cashier: u32,
        approval: Option<Approval>,
        reason: String,
    },
    XReport,
    ZReport(Approval),
    Reprint(String),
    RecentReceipts,
    Status(tillpoint_i18n::Lang),
    /// Renders a receipt as the printer would print it, for the preview.
    Preview(Box<SaleRecord>),
    /// Prints a test page on the configured printer.
    TestPrint,
    /// Writes settings to the config file and reloads it.
    SaveSettings(Vec<tillpoint_config::edit::Setting>),
    /// Right after a sale: opens the drawer when cash moved, then prints
    /// what is queued.
    AfterSale(Box<SaleRecord>),
    /// Prints whatever waits in the queue.
    Print,
    /// A card or QR payment through the payment devices (the demo's
    /// simulators or the shop's reader, PIN pad and acquirer); stages
    /// arrive as `PayStage`. `input` is the demo card's profile for a card,
    /// the customer's scanned payment code for a QR payment (the demo makes
    /// one up when it is empty).
    DevicePay {
        kind: TenderKind,
        amount: Money,
        input: String,
    },
    /// One step of a simulated card or QR payment (demo mode).
    PaymentStep {
        kind: TenderKind,
        amount: Money,
        step: u8,
    },
}

/// What came of a job.
#[derive(Debug, Clone)]
pub enum Outcome {
    Checked(Vec<CheckLine>),
    LoggedIn(Option<Cashier>),
    Approved(Result<Approval, String>),
    Resolved(String, Option<ScanHit>),
    Found(Vec<Product>),
    Categories(Vec<String>),
    CategoryProducts(String, Vec<Product>),
    Completed(Box<SaleRecord>),
    Parked(i64),
    ParkedList(Vec<Parked>),
    Resumed(Box<Sale>),
    Receipt(Box<SaleRecord>, Vec<SaleRecord>, bool),
    Refunded(Box<SaleRecord>),
    Voided(String),
    CashDone(CashMovement),
    /// A report with its card figures (fees, net, settlement) when the
    /// till has a link or electronic takings, and a problem in words.
    Report(
        Box<Report>,
        Option<Box<tillpoint_payment::acquirer::settlement::CardSummary>>,
        Option<String>,
    ),
    Reprinted(String),
    Recent(Vec<String>),
    Status {
        /// The acquirer link as the last exchange or echo found it; `None`
        /// when unknown (no link, or busy with a payment right now).
        online: Option<bool>,
        pending_outbox: i64,
        queued_prints: i64,
        print_problem: Option<String>,
    },
    Payment {
        kind: TenderKind,
        amount: Money,
        step: u8,
        approved: Option<bool>,
    },
    /// Receipt pages as (width, height, RGBA pixels).
    Preview(Vec<(u32, u32, Vec<u8>)>),
    Printed(String),
    PrintDone {
        printed: usize,
        left: usize,
    },
    /// Settings written; the warnings of reading them back.
    SettingsSaved(Vec<String>),
    /// A payment moved on (step as in the tender progress screen).
    PayStage(u8),
    /// A device payment ended: the card data for the tender, or why not.
    PayDone {
        kind: TenderKind,
        amount: Money,
        result: Result<Box<tillpoint_core::tender::CardRef>, String>,
    },
    Failed(String),
}

/// A shared handle to the open till.
#[derive(Clone)]
pub struct Backend {
    /// The till: its store, config and clock. Held only for local work
    /// (lookups, sales, reports): nothing that waits on a printer, a card
    /// reader or the network runs under it.
    till: Arc<Mutex<Till>>,
    /// The printer's own connection and lock (see [`PrintDesk`]).
    printer: Arc<Mutex<PrintDesk>>,
    /// The payment devices, when the till has them.
    devices: Option<Arc<Mutex<PayDevices>>>,
    /// The cashier's Cancel for the payment in progress on them.
    cancel: Option<tillpoint_payment::session::PaymentCancel>,
    /// QR payments need the customer's code scanned (the shop's devices).
    scans_codes: bool,
    /// The acquirer session of the devices, for the status bar.
    link: Option<crate::closing::SharedSession>,
    /// Approvals taken in this window whose sale is not recorded yet, by
    /// STAN (`CommitMode::WithSale`).
    pending: Arc<Mutex<Vec<(String, tillpoint_payment::session::PendingCommit)>>>,
    /// Key presses for the simulated PIN pad (the customer's on-screen pad).
    pad: Option<std::sync::mpsc::Sender<tillpoint_sim::pinpad::PadKey>>,
    /// Where a streaming job sends its progress.
    progress: Option<futures::channel::mpsc::UnboundedSender<Outcome>>,
    /// Delay between simulated payment steps (zero in tests).
    pub step_delay: Duration,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Backend")
    }
}

/// The printer's desk: a connection of its own to the till's database and
/// a lock of its own, so a printer that is slow, out of paper or unplugged
/// holds only this while it prints the queue, kicks the drawer or prints a
/// test page; lookups and sales go on under the till's lock meanwhile.
struct PrintDesk {
    db: std::path::PathBuf,
    settings: tillpoint_store::StoreSettings,
    store: Option<tillpoint_store::Store>,
}

impl PrintDesk {
    fn for_till(till: &Till) -> PrintDesk {
        PrintDesk {
            db: till.paths.database(),
            settings: crate::till::store_settings(&till.config),
            store: None,
        }
    }

    /// The desk's connection, opened on first use and again when the
    /// till's settings (currency, till id) changed since.
    fn store(
        &mut self,
        settings: &tillpoint_store::StoreSettings,
    ) -> Result<&mut tillpoint_store::Store, tillpoint_store::StoreError> {
        if self.settings != *settings {
            self.settings = settings.clone();
            self.store = None;
        }
        let store = match self.store.take() {
            Some(s) => s,
            None => tillpoint_store::Store::open(&self.db, self.settings.clone())?,
        };
        Ok(self.store.insert(store))
    }
}

/// What printing needs from the till, copied out under its lock.
struct PrintSetup {
    printer: tillpoint_devices::printer::config::PrinterConfig,
    receipts: tillpoint_devices::printer::config::ReceiptSettings,
    now: i64,
    currency: tillpoint_core::money::Currency,
    store: tillpoint_store::StoreSettings,
}

/// Locks, taking over a lock poisoned by a panicked worker (the data is
/// plain and stays usable).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Where card and QR payments go.
enum PayDevices {
    /// The demo's simulators (virtual cards, PIN pad on a pty, host on
    /// loopback).
    Demo(Box<tillpoint_sim::demo_devices::DemoDevices>),
    /// The shop's reader, PIN pad and acquirer from the config.
    Live(Box<crate::terminal::LiveDevices>),
}

impl PayDevices {
    fn payments(
        &self,
    ) -> &tillpoint_payment::session::PaymentSession<
        tillpoint_payment::acquirer::till_store::SqliteAcquirerStore,
    > {
        match self {
            PayDevices::Demo(d) => d.payment_session(),
            PayDevices::Live(d) => d.payment_session(),
        }
    }
}

/// The demo's simulated card outcome: amounts ending in .13 are declined,
/// so a demo user can see both paths (written on the help screen).
pub fn demo_declines(amount: Money) -> bool {
    amount.minor.rem_euclid(100) == 13
}

impl Backend {
    pub fn new(till: Till) -> Backend {
        Backend {
            printer: Arc::new(Mutex::new(PrintDesk::for_till(&till))),
            till: Arc::new(Mutex::new(till)),
            devices: None,
            cancel: None,
            scans_codes: false,
            link: None,
            pending: Arc::new(Mutex::new(Vec::new())),
            pad: None,
            progress: None,
            step_delay: Duration::from_millis(900),
        }
    }

    /// The till as the window opens it: in the demo with the demo's
    /// simulators (the customer types the PIN on the on-screen pad, the
    /// approval is recorded with its sale) when `demo_devices`; outside the
    /// demo with the shop's reader, PIN pad and acquirer when a link is
    /// configured (else the Card and QR buttons say why not).
    pub fn for_window(till: Till, demo: bool, demo_devices: bool) -> Backend {
        let devices = if demo_devices {
            let mut opts = tillpoint_sim::demo_devices::DemoOptions::new(till.config.till.currency);
            opts.pin = tillpoint_sim::demo_devices::DemoPin::OnScreen;
            opts.commit = tillpoint_payment::session::CommitMode::WithSale;
            match tillpoint_sim::demo_devices::DemoDevices::start_with(till.data_dir(), opts) {
                Ok(d) => Some(d),
                Err(e) => {
                    tracing::warn!("demo payment devices did not start ({e}); card payments are simulated in the window");
                    None
                }
            }
        } else {
            None
        };
        let live = if demo {
            None
        } else {
            match crate::terminal::LiveDevices::start(&till) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(
                        "payment devices did not start ({e}); card and QR payments are off"
                    );
                    None
                }
            }
        };
        let mut backend = Backend::new(till);
        if let Some(d) = devices {
            backend = backend.with_devices(d);
        }
        if let Some(d) = live {
            backend = backend.with_live_devices(d);
        }
        backend
    }

    /// Uses the demo's devices (virtual card, PIN pad simulator on a pty,
    /// acquirer simulator on loopback) for card and QR payments.
    pub fn with_devices(mut self, devices: tillpoint_sim::demo_devices::DemoDevices) -> Backend {
        self.pad = Some(devices.pin_keys());
        self.cancel = Some(devices.canceller());
        self.link = Some(devices.acquirer());
        self.devices = Some(Arc::new(Mutex::new(PayDevices::Demo(Box::new(devices)))));
        self
    }

    /// Uses the shop's own payment devices (PC/SC reader, serial PIN pad,
    /// acquirer link) for card and QR payments.
    pub fn with_live_devices(mut self, devices: crate::terminal::LiveDevices) -> Backend {
        self.cancel = Some(devices.canceller());
        self.link = Some(devices.acquirer());
        self.scans_codes = true;
        self.devices = Some(Arc::new(Mutex::new(PayDevices::Live(Box::new(devices)))));
        self
    }

    /// Whether a QR payment needs the customer's code scanned at the till
    /// (the shop's devices; the demo makes its codes up).
    pub fn scans_payment_codes(&self) -> bool {
        self.scans_codes
    }

    /// The acquirer links of the sale's card and QR tenders approved in this
    /// window and not yet recorded, and which pending approvals they use.
    fn card_links(
        &self,
        sale: &Sale,
    ) -> Result<(Vec<tillpoint_store::acquirer::CardLink>, Vec<String>), String> {
        use tillpoint_payment::acquirer::till_store::{offline_link, online_link};
        use tillpoint_payment::session::PendingCommit;
        let pending = lock(&self.pending);
        let mut links = Vec::new();
        let mut used = Vec::new();
        for (idx, t) in sale.tenders.iter().enumerate() {
            let Some(stan) = t.card.as_ref().map(|c| c.stan.as_str()) else {
                continue;
            };
            let Some((_, p)) = pending.iter().find(|(s, _)| !stan.is_empty() && s == stan) else {
                continue;
            };
            let idx = u32::try_from(idx).map_err(|e| e.to_string())?;
            let link = match p {
                PendingCommit::Online(auth) => online_link(idx, auth).map_err(|e| e.to_string())?,
                PendingCommit::Offline { item, capture } => {
                    Some(offline_link(idx, item, capture).map_err(|e| e.to_string())?)
                }
            };
            if let Some(l) = link {
                links.push(l);
                used.push(stan.to_string());
            }
        }
        Ok((links, used))
    }

    /// The approvals with these STANs were recorded with their sale.
    fn recorded(&self, stans: &[String]) {
        let done: Vec<_> = {
            let mut pending = lock(&self.pending);
            let (done, keep) = pending.drain(..).partition(|(s, _)| stans.contains(s));
            *pending = keep;
            done
        };
        // A busy device or link (a payment, the forwarder mid-exchange)
        // is not waited for: the session forgets a recorded approval by
        // itself before its next request.
        if let Some(devices) = &self.devices {
            if let Ok(dev) = devices.try_lock() {
                for (_, p) in &done {
                    dev.payments().recorded(p);
                }
            }
        }
    }

    /// One approval cannot go on the sale after all (the sale refused the
    /// tender): it is reversed now, on a worker thread.
    pub fn abandon_approval(&self, stan: &str) {
        let taken: Vec<_> = {
            let mut pending = lock(&self.pending);
            let (taken, keep) = pending.drain(..).partition(|(s, _)| s == stan);
            *pending = keep;
            taken
        };
        self.reverse_in_background(taken);
    }

    /// The sale on screen is given up: approvals taken for it and not
    /// recorded are reversed now, on a worker thread (each reversal is
    /// already stored; sending it is the forwarder's job if this fails).
    pub fn abandon_pending(&self) {
        let taken: Vec<_> = lock(&self.pending).drain(..).collect();
        self.reverse_in_background(taken);
    }

    fn reverse_in_background(
        &self,
        taken: Vec<(String, tillpoint_payment::session::PendingCommit)>,
    ) {
        if taken.is_empty() {
            return;
        }
        let Some(devices) = self.devices.clone() else {
            return;
        };
        std::thread::spawn(move || {
            let dev = lock(&devices);
            for (stan, p) in &taken {
                tracing::info!(%stan, "approval of an abandoned sale reversed");
                dev.payments().abandon(p);
            }
        });
    }

    /// Whether the acquirer answered its last message or echo. Never waits:
    /// while a payment or the forwarder talks to the host it is `None`.
    fn link_online(&self) -> Option<bool> {
        self.link.as_ref()?.try_lock().ok()?.online()
    }

    /// The cashier's Cancel: stops the payment in progress (waiting for the
    /// card or the PIN); an approval already given is reversed.
    pub fn cancel_payment(&self) {
        if let Some(c) = &self.cancel {
            c.cancel();
        }
    }

    /// Whether the customer types the PIN on the window's on-screen pad.
    pub fn has_pin_pad(&self) -> bool {
        self.pad.is_some()
    }

    /// A key on the simulated PIN pad: only the pad sees which digit; the
    /// till gets the encrypted PIN block from it, as with a real pad.
    pub fn press(&self, key: tillpoint_sim::pinpad::PadKey) {
        if let Some(tx) = &self.pad {
            let _ = tx.send(key);
        }
    }

    pub fn has_devices(&self) -> bool {
        self.devices.is_some()
    }

    /// Runs a job on a worker thread; progress and then the outcome arrive
    /// on the returned stream.
    pub fn stream(&self, job: Job) -> futures::channel::mpsc::UnboundedReceiver<Outcome> {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let mut me = self.clone();
        me.progress = Some(tx.clone());
        std::thread::spawn(move || {
            let _ = tx.unbounded_send(me.run(job));
        });
        rx
    }

    fn device_pay(&self, kind: TenderKind, amount: Money, input: &str) -> Outcome {
        use tillpoint_payment::session::{PaymentDecision, Stage};
        let Some(devices) = &self.devices else {
            return Outcome::Failed("no payment devices".into());
        };
        let mut dev = match devices.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let progress = |s: Stage| {
            let step = match s {
                Stage::WaitingForCard => 0u8,
                Stage::AppSelected { .. } | Stage::EnterPin { .. } => 1,
                Stage::Processing => 2,
                _ => return,
            };
            let step = if kind == TenderKind::Qr {
                step.saturating_sub(1)
            } else {
                step
            };
            if let Some(tx) = &self.progress {
                let _ = tx.unbounded_send(Outcome::PayStage(step));
            }
        };
        let outcome = match (&mut *dev, kind) {
            (PayDevices::Demo(d), TenderKind::Qr) => {
                let code = if input.is_empty() {
                    demo_qr_code(amount)
                } else {
                    input
                };
                d.pay_qr(amount, code, progress)
            }
            (PayDevices::Demo(d), _) => d.pay_card(amount, input, progress),
            (PayDevices::Live(d), TenderKind::Qr) => d.pay_qr(amount, input, progress),
            (PayDevices::Live(d), _) => d.pay_card(amount, progress),
        };
        let result = match outcome {
            Ok(o) => match o.decision {
                PaymentDecision::Approved => {
                    // Recorded with its sale (`Job::Complete`), or reversed.
                    if let Some(p) = o.pending {
                        lock(&self.pending).push((o.card.stan.clone(), p));
                    }
                    Ok(Box::new(o.card))
                }
                PaymentDecision::Declined(reason) => Err(reason.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        Outcome::PayDone {
            kind,
            amount,
            result,
        }
    }

    /// Runs a job to completion on the calling thread. Jobs that wait on a
    /// device or the network hold their own lock, not the till's.
    pub fn run(&self, job: Job) -> Outcome {
        match job {
            Job::DevicePay {
                kind,
                amount,
                input,
            } => self.device_pay(kind, amount, &input),
            Job::Check => self.check(),
            Job::XReport => self.report(None),
            Job::ZReport(approval) => self.report(Some(approval)),
            Job::Print => self.print(None),
            Job::AfterSale(record) => self.print(Some(record)),
            Job::TestPrint => self.test_print(),
            Job::Preview(record) => {
                let setup = self.print_setup();
                match preview(&setup, &record) {
                    Ok(pages) => Outcome::Preview(pages),
                    Err(e) => Outcome::Failed(e.to_string()),
                }
            }
            Job::Cash {
                kind: CashMovement::NoSale,
                cashier,
                approval: Some(approval),
                reason,
                ..
            } => self.no_sale(cashier, &approval, &reason),
            Job::PaymentStep { kind, amount, step } => {
                std::thread::sleep(self.step_delay);
                let last = if kind == TenderKind::Card { 3 } else { 2 };
                let approved = (step + 1 >= last).then(|| !demo_declines(amount));
                Outcome::Payment {
                    kind,
                    amount,
                    step: step + 1,
                    approved,
                }
            }
            job => self.run_local(job),
        }
    }

    /// The self-check: the store's part under the till's lock, the devices'
    /// (which wait on hardware and the network) with a copy of the config.
    fn check(&self) -> Outcome {
        let (mut lines, config) = {
            let till = lock(&self.till);
            (crate::check::store_checks(&till), till.config.clone())
        };
        lines.extend(crate::check::devices(&config));
        Outcome::Checked(lines)
    }

    /// An X report (`None`) or a new Z: the report under the till's lock,
    /// the settlement a Z calls for through the acquirer session's own lock,
    /// then the card figures.
    fn report(&self, z: Option<Approval>) -> Outcome {
        let (report, settle) = {
            let mut till = lock(&self.till);
            let now = till.clock.now_ms();
            let report = match &z {
                None => till.store.x_report(now),
                Some(ap) => till.store.z_report(ap, now),
            };
            match report {
                Ok(r) => {
                    let settle =
                        crate::closing::settlement_due(&till, z.is_some(), self.link.as_ref());
                    (r, settle)
                }
                Err(e) => return Outcome::Failed(e.to_string()),
            }
        };
        let problem = settle.and_then(|s| s.run(self.link.as_ref()));
        let mut till = lock(&self.till);
        let (card, problem) =
            crate::closing::card_figures(&mut till, &report, self.link.as_ref(), problem);
        Outcome::Report(Box::new(report), card.map(Box::new), problem)
    }

    /// What printing needs, copied from the till under its lock.
    fn print_setup(&self) -> PrintSetup {
        let till = lock(&self.till);
        let (printer, receipts) = printer_setup(&till);
        PrintSetup {
            printer,
            receipts,
            now: till.clock.now_ms(),
            currency: till.config.till.currency,
            store: crate::till::store_settings(&till.config),
        }
    }

    /// Prints what waits in the queue on the printer's desk (after a sale,
    /// the drawer opens first when cash moved). A printer problem is not a
    /// failure of the sale: it comes back through the status bar.
    fn print(&self, after_sale: Option<Box<SaleRecord>>) -> Outcome {
        let setup = self.print_setup();
        let mut desk = lock(&self.printer);
        if let Some(record) = after_sale {
            if let Ok(Some(mut p)) = setup.printer.open() {
                if let Err(e) = crate::print_queue::open_drawer_for_sale(
                    &mut p,
                    &record,
                    setup.printer.drawer_pulse(),
                ) {
                    tracing::warn!("cash drawer: {e}");
                }
            }
        }
        let store = match desk.store(&setup.store) {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let i18n = tillpoint_i18n::I18n::load();
        match crate::print_queue::drain_configured(
            store,
            &setup.printer,
            &i18n,
            &setup.receipts,
            setup.now,
        ) {
            Ok(report) => Outcome::PrintDone {
                printed: report.printed.len(),
                left: report.left,
            },
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    /// A no-sale: the drawer opens and the no-sale is journaled with its
    /// approver, on the printer's desk (the drawer hangs off the printer).
    fn no_sale(&self, cashier: u32, approval: &Approval, reason: &str) -> Outcome {
        let setup = self.print_setup();
        let mut desk = lock(&self.printer);
        let store = match desk.store(&setup.store) {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let result = match setup.printer.open() {
            Ok(Some(mut p)) => crate::print_queue::no_sale(
                store,
                &mut p,
                setup.printer.drawer_pulse(),
                cashier,
                approval,
                reason,
                setup.now,
            )
            .map_err(|e| e.to_string()),
            // No printer, so no drawer to kick: the no-sale is still journaled.
            _ => store
                .cash_movement(
                    CashMovement::NoSale,
                    Money::zero(setup.currency),
                    cashier,
                    Some(approval),
                    reason,
                    setup.now,
                )
                .map_err(|e| e.to_string()),
        };
        match result {
            Ok(()) => Outcome::CashDone(CashMovement::NoSale),
            Err(e) => Outcome::Failed(e),
        }
    }

    /// A test page on the configured printer, on the printer's desk.
    fn test_print(&self) -> Outcome {
        let (pc, when) = {
            let till = lock(&self.till);
            let (pc, _) = printer_setup(&till);
            (pc, till.clock.format(till.clock.now_ms()))
        };
        let _desk = lock(&self.printer);
        test_print(&pc, &when)
    }

    /// Local work under the till's lock: lookups, sales, refunds, cash,
    /// parking, receipts, settings.
    fn run_local(&self, job: Job) -> Outcome {
        let mut guard = match self.till.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let till = &mut *guard;
        let now = till.clock.now_ms();
        let hour = till.clock.local_hour(now);
        let rules = till.config.pricing.clone();
        let fail = |e: &dyn std::fmt::Display| Outcome::Failed(e.to_string());
        match job {
            Job::Login { number, pin } => match till.store.login(number, &pin) {
                Ok(c) => Outcome::LoggedIn(c),
                Err(e) => fail(&e),
            },
            Job::Approve {
                number,
                pin,
                action,
            } => match till.store.login(number, &pin) {
                Ok(Some(c)) => Outcome::Approved(authorize(&c, action).map_err(|e| e.to_string())),
                Ok(None) => Outcome::Approved(Err(String::new())),
                Err(e) => fail(&e),
            },
            Job::Resolve(code) => match till
                .store
                .resolve_code(&code, &till.config.embedded_prefixes)
            {
                Ok(hit) => Outcome::Resolved(code, hit),
                Err(e) => fail(&e),
            },
            Job::Search(q) => match till.store.search_products(&q, 40) {
                Ok(v) => Outcome::Found(v),
                Err(e) => fail(&e),
            },
            Job::Categories => match till.store.categories() {
                Ok(v) => Outcome::Categories(v.into_iter().map(|(c, _)| c).collect()),
                Err(e) => fail(&e),
            },
            Job::Category(c) => match till.store.products_in_category(&c, 60) {
                Ok(v) => Outcome::CategoryProducts(c, v),
                Err(e) => fail(&e),
            },
            Job::Complete(sale) => {
                let (links, used) = match self.card_links(&sale) {
                    Ok(l) => l,
                    Err(e) => return fail(&e),
                };
                let done = if links.is_empty() {
                    till.store.complete_sale(&sale, &rules, now, hour, &[])
                } else {
                    till.store
                        .complete_card_sale(&sale, &rules, now, hour, &links)
                };
                match done {
                    Ok(done) => {
                        // Never waits: a busy link is tidied up later.
                        self.recorded(&used);
                        Outcome::Completed(Box::new(done.record))
                    }
                    // The approvals stay held: the cashier may try again;
                    // if the till stops first they are reversed on restart.
                    Err(e) => fail(&e),
                }
            }
            Job::Park(sale, label) => match till.store.park(&sale, &label, now) {
                Ok(id) => Outcome::Parked(id),
                Err(e) => fail(&e),
            },
            Job::ListParked => match till.store.parked() {
                Ok(v) => Outcome::ParkedList(v),
                Err(e) => fail(&e),
            },
            Job::Resume(id) => match till.store.resume(id) {
                Ok(s) => Outcome::Resumed(Box::new(s)),
                Err(e) => fail(&e),
            },
            Job::LoadReceipt(no) => {
                let no = no.trim().to_string();
                match (
                    till.store.sale_by_receipt(&no),
                    till.store.refunds_of(&no),
                    till.store.is_voided(&no),
                ) {
                    (Ok(r), Ok(prior), Ok(v)) => Outcome::Receipt(Box::new(r), prior, v),
                    (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => fail(&e),
                }
            }
            Job::Refund {
                receipt,
                picks,
                cashier,
                approval,
            } => {
                match till
                    .store
                    .complete_refund(&receipt, &picks, &rules, cashier, &approval, now, hour)
                {
                    Ok(done) => Outcome::Refunded(Box::new(done.record)),
                    Err(e) => fail(&e),
                }
            }
            Job::PostVoid { receipt, approval } => {
                match till.store.post_void(&receipt, &approval, now) {
                    Ok(r) => Outcome::Voided(r.receipt_no),
                    Err(e) => fail(&e),
                }
            }
            Job::Cash {
                kind,
                amount,
                cashier,
                approval,
                reason,
            } => {
                match till.store.cash_movement(
                    kind,
                    amount,
                    cashier,
                    approval.as_ref(),
                    &reason,
                    now,
                ) {
                    Ok(()) => Outcome::CashDone(kind),
                    Err(e) => fail(&e),
                }
            }
            Job::Reprint(no) => match till.store.queue_reprint(&no, now) {
                Ok(_) => Outcome::Reprinted(no),
                Err(e) => fail(&e),
            },
            Job::RecentReceipts => match till.store.recent_receipts(30) {
                Ok(v) => Outcome::Recent(v),
                Err(e) => fail(&e),
            },
            Job::Status(lang) => {
                let pending_outbox = till.store.pending_outbox_count().unwrap_or(-1);
                let queued_prints = till
                    .store
                    .queued_print_jobs()
                    .map(|v| v.len() as i64)
                    .unwrap_or(-1);
                let i18n = tillpoint_i18n::I18n::load();
                let print_problem = crate::print_queue::why_not_printing(&till.store, &i18n, lang)
                    .ok()
                    .flatten();
                Outcome::Status {
                    online: self.link_online(),
                    pending_outbox,
                    queued_prints,
                    print_problem,
                }
            }
            Job::SaveSettings(values) => {
                if let Err(e) = tillpoint_config::edit::save(&till.paths.config_file, &values) {
                    return Outcome::Failed(e.to_string());
                }
                match tillpoint_config::Config::load(&till.paths.config_file) {
                    Ok((mut config, warnings)) => {
                        // Sections supplied at run time (the demo's simulated
                        // printer) stay unless the file now sets them.
                        for (k, v) in &till.config.sections {
                            config
                                .sections
                                .entry(k.clone())
                                .or_insert_with(|| v.clone());
                        }
                        till.config = config;
                        till.warnings = warnings.clone();
                        Outcome::SettingsSaved(warnings)
                    }
                    Err(e) => Outcome::Failed(e.to_string()),
                }
            }
            // Jobs that wait on devices or the network, dispatched by `run`.
            Job::DevicePay { .. }
            | Job::Check
            | Job::XReport
            | Job::ZReport(_)
            | Job::Print
            | Job::AfterSale(_)
            | Job::TestPrint
            | Job::Preview(_)
            | Job::PaymentStep { .. } => {
                Outcome::Failed("a device job reached the till's lock".into())
            }
        }
    }

    /// Runs a job on a worker thread; the future resolves with its outcome.
    pub fn spawn(&self, job: Job) -> impl std::future::Future<Output = Outcome> + Send + 'static {
        let (tx, rx) = futures::channel::oneshot::channel();
        let me = self.clone();
        std::thread::spawn(move || {
            let _ = tx.send(me.run(job));
        });
        async move {
            rx.await
                .unwrap_or_else(|_| Outcome::Failed("the worker stopped".into()))
        }
    }

    /// Read-only access for views that need configuration (shop details).
    pub fn with_till<T>(&self, f: impl FnOnce(&Till) -> T) -> T {
        let guard = match self.till.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&guard)
    }
}

/// Lays the receipt out, encodes it to ESC/POS and renders those bytes with
/// the printer emulator: the preview shows exactly what the printer gets.
fn preview(setup: &PrintSetup, record: &SaleRecord) -> anyhow::Result<Vec<(u32, u32, Vec<u8>)>> {
    use tillpoint_core::receipt::Receipt;
    use tillpoint_devices::printer::encode::encode;
    use tillpoint_devices::printer::layout::receipt_document;
    use tillpoint_sim::printer::{render_stream, Fonts, Paper};
    let (pc, settings) = (&setup.printer, &setup.receipts);
    let i18n = tillpoint_i18n::I18n::load();
    let fonts = Fonts::discover(Some(&assets_dir()))?;
    let paper = match settings.layout.width {
        tillpoint_devices::printer::doc::PaperWidth::Mm58 => Paper::Mm58,
        tillpoint_devices::printer::doc::PaperWidth::Mm80 => Paper::Mm80,
    };
    let mut pages = Vec::new();
    for copy in Receipt::copies_for(record) {
        let receipt = Receipt {
            shop: settings.shop.clone(),
            till_id: settings.till_id.clone(),
            record: record.clone(),
            copy,
            reprint: false,
        };
        let doc = receipt_document(&receipt, &i18n, &settings.layout);
        let bytes = encode(&doc, &pc.encode_options())?.bytes;
        for r in render_stream(&bytes, paper, &fonts)? {
            let (w, h) = r.image.dimensions();
            let rgba: Vec<u8> = r
                .image
                .pixels()
                .flat_map(|p| [p.0[0], p.0[0], p.0[0], 255])
                .collect();
            pages.push((w, h, rgba));
        }
    }
    Ok(pages)
}

/// The assets directory: next to the executable in an installed package,
/// else the source tree's (for `cargo run` and tests).
pub fn assets_dir() -> std::path::PathBuf {
    let installed = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("../share/tillpoint/assets")))
        .filter(|p| p.is_dir());
    installed.unwrap_or_else(|| {
        std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets"))
    })
}

fn test_print(pc: &tillpoint_devices::printer::config::PrinterConfig, when: &str) -> Outcome {
    use tillpoint_devices::printer::doc::{PrintDocument, TextStyle};
    use tillpoint_devices::printer::ReceiptPrinter;
    let mut doc = PrintDocument::new(pc.paper_width());
    doc.text("tillpoint", TextStyle::plain().bold().double());
    doc.text("Printer test / 打印测试", TextStyle::plain());
    doc.text(when, TextStyle::plain());
    doc.push(tillpoint_devices::printer::doc::Block::Cut { partial: false });
    match pc.open() {
        Ok(None) => {
            Outcome::Printed("no printer is configured ([printer] transport = \"none\")".into())
        }
        Ok(Some(mut p)) => match p.print(&doc) {
            Ok(_) => Outcome::Printed(format!("test page printed on {}", pc.describe())),
            Err(e) => Outcome::Failed(format!("printer: {e}")),
        },
        Err(e) => Outcome::Failed(format!("printer: {e}")),
    }
}

fn printer_setup(
    till: &Till,
) -> (
    tillpoint_devices::printer::config::PrinterConfig,
    tillpoint_devices::printer::config::ReceiptSettings,
) {
    let mut warnings = Vec::new();
    let pc = tillpoint_devices::printer::config::PrinterConfig::load(&till.config, &mut warnings);
    let settings = pc.receipt_settings(&till.config, till.clock.offset_secs(), &mut warnings);
    (pc, settings)
}

/// The customer's payment code in the demo: the acquirer simulator declines
/// codes ending in 0000, so an amount ending in .13 shows a decline here too.
fn demo_qr_code(amount: Money) -> &'static str {
    if demo_declines(amount) {
        "281234567890120000"
    } else {
        "281234567890123456"
    }
}

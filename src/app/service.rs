//! The till's use cases as one service: what the window's screens ask for
//! (and the tests, which call the same methods), each a typed call that
//! returns what it found or why not.
//!
//! Three locks, so that no lookup ever waits on a printer or the network:
//! the till (store, config, clock) for local work only; the printer's desk
//! (its own database connection) for printing, the drawer and test pages;
//! the payment terminal for card and QR payments (its acquirer session has
//! a lock of its own, through which a Z report settles). Every blocking
//! call is meant to run off the window's thread.

mod admin;
mod counter;
mod link;
mod qr;
mod swipe;

use qr::{qr_gateway, qr_refusal};

pub use counter::{WeighRefusal, Weight};

pub use admin::PrintRun;
pub use link::{Forwarded, LinkStatus};

use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::check::CheckLine;
use crate::closing::SharedSession;
use crate::payments::PaymentTerminal;
use crate::printing::{preview, printer_setup, test_print, PrintDesk, PrintSetup};
use crate::till::Till;
use tillpoint_core::cashier::{Action, Approval, Cashier, Target};
use tillpoint_core::catalog::{Product, Qty};
use tillpoint_core::money::Money;
use tillpoint_core::report::Report;
use tillpoint_core::sale::{Sale, SaleRecord};
use tillpoint_core::tender::{CardRef, TenderKind};
use tillpoint_payment::session::{PaymentCancel, PaymentDecision, PendingCommit, Stage};
use tillpoint_store::StoreError;

/// What the window shows that the lower layers own, named here so that the
/// window depends on the application layer alone.
pub use crate::payments::demo_declines;
pub use tillpoint_payment::acquirer::settlement::CardSummary;
pub use tillpoint_sim::pinpad::PadKey;
pub use tillpoint_store::acquirer::{BatchTotals, SettlementOutcomeRow, SettlementStatus};
pub use tillpoint_store::catalog::ScanHit;
pub use tillpoint_store::sales::{CashMovement, Parked};

/// Why a call did not do what was asked, in words for the cashier.
pub type Refusal = String;

/// What a login found. Unlike the store's answer it holds the cashier, not
/// the proof that their PIN matched: the window keeps who is signed in, and
/// an approval always asks for a PIN again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    Welcome(Cashier),
    Wrong { tries_left: u32 },
    Locked { until_ms: i64 },
}

/// Why a supervisor's approval was not given: each is said differently,
/// so a failing database never reads as a supervisor's lack of rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No cashier has that number and PIN.
    WrongPin,
    /// That cashier's role may not approve the action.
    NotAllowed(String),
    /// Too many wrong PINs for that number: none is checked until then.
    Locked { until_ms: i64 },
    /// The PIN could not be checked (the store failed), in words.
    Failed(Refusal),
}

/// A receipt looked up by number: the sale, its refunds so far, and
/// whether it was voided.
#[derive(Debug, Clone)]
pub struct ReceiptLookup {
    pub record: SaleRecord,
    pub refunds: Vec<SaleRecord>,
    pub voided: bool,
}

/// An X or Z report with its card figures (fees, net, settlement) when the
/// till has a link or electronic takings, and a problem in words.
#[derive(Debug, Clone)]
pub struct ReportView {
    pub report: Report,
    pub card: Option<CardSummary>,
    pub problem: Option<String>,
}

/// What the status bar shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TillStatus {
    /// The acquirer link as the last exchange or echo found it; `None`
    /// when unknown (no link, or busy with a payment right now).
    pub online: Option<bool>,
    pub pending_outbox: i64,
    /// Of those, the ones older than the acquirer's maximum age: still
    /// kept (they are the shop's money) and shown, never silently.
    pub overdue_outbox: i64,
    pub queued_prints: i64,
    /// Why receipts are not printing, in the cashier's words.
    pub print_problem: Option<String>,
    /// The demo's simulated network (see [`Service::set_demo_link`]):
    /// `Some(false)` while it is taken down; `None` outside the demo.
    pub demo_link: Option<bool>,
    /// What waits for head office; `None` when the till is not enrolled.
    pub head_office: Option<crate::headoffice::HeadOfficeStatus>,
}

/// How a print run went: receipts printed, and how many still wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Printed {
    pub printed: usize,
    pub left: usize,
}

pub use crate::printing::Page;

/// Where a card or QR payment stands (the tender screen's steps).
pub type PayStep = u8;

/// What a payment in progress shows the cashier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayProgress {
    /// The step reached.
    Step(PayStep),
    /// A tapped card has been read: the customer may take it away.
    CardRead,
    /// The card asks which of its applications to use: their labels, in
    /// the card's priority order; answer with [`Service::choose_application`].
    ChooseApplication(Vec<String>),
}

/// The till as the window and the tests use it. Cloning shares it.
#[derive(Clone)]
pub struct Service {
    /// Held only for local work (lookups, sales, reports): nothing that
    /// waits on a printer, a card reader or the network runs under it.
    till: Arc<Mutex<Till>>,
    /// The printer's own connection and lock (see [`PrintDesk`]).
    printer: Arc<Mutex<PrintDesk>>,
    /// The payment terminal, when the till has one.
    terminal: Option<Arc<Mutex<Box<dyn PaymentTerminal>>>>,
    /// The cashier's Cancel for the payment in progress on the terminal.
    cancel: Option<PaymentCancel>,
    /// QR payments need the customer's code scanned (the shop's devices).
    scans_codes: bool,
    /// Cards can be tapped.
    taps: bool,
    /// The terminal's acquirer session, for the status bar and the Z.
    link: Option<SharedSession>,
    /// Approvals taken in this window whose sale is not recorded yet, by
    /// STAN (`CommitMode::WithSale`).
    pending: Arc<Mutex<Vec<(String, PendingCommit)>>>,
    /// Key presses for the on-screen PIN pad (the demo's simulated pad).
    pad: Option<Sender<PadKey>>,
    /// What the last start-up check found wrong with the till's records
    /// and no manager has acknowledged yet: while there is any, no sale is
    /// completed.
    hold: Arc<Mutex<Vec<String>>>,
    /// `[acquirer] offline_max_age_hours`, in milliseconds: an advice
    /// waiting longer is overdue and the status bar says so.
    advice_max_age_ms: i64,
    /// Delay between simulated payment steps (zero in tests).
    pub step_delay: std::time::Duration,
    /// The scale and the pole display, each behind its own lock.
    counter: counter::Counter,
    /// The QR gateway, when `[qr] channel = "gateway"`.
    qr: Option<crate::qr_desk::QrDesk>,
    /// Gateway orders paid in this window whose sale is not recorded yet.
    qr_pending: Arc<Mutex<Vec<String>>>,
    /// The demo's QR provider, running while the window is open.
    demo_qr: Option<Arc<tillpoint_sim::qr::QrSimHandle>>,
    /// The network to the demo's simulated hosts, which the demo can take
    /// down for an offline day.
    demo_link: Option<tillpoint_sim::link::LinkSwitch>,
    /// Sends the journal to head office, when the till is enrolled.
    head_office: Option<Arc<crate::headoffice::SyncWorker>>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Service")
    }
}

/// Locks, taking over a lock poisoned by a panicked worker (the data is
/// plain and stays usable).
fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn words(e: impl std::fmt::Display) -> Refusal {
    e.to_string()
}

/// Why a card or QR payment did not pay, for the window to word in the
/// cashier's language: a message id of the catalogue and its arguments,
/// with the English text for logs and the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayRefusal {
    pub id: &'static str,
    pub args: Vec<(&'static str, String)>,
    pub text: String,
}

impl PayRefusal {
    /// A failure that is not a decision (no device, a device error): shown
    /// with its technical detail, which stays in English.
    pub fn failed(why: impl std::fmt::Display) -> PayRefusal {
        let text = why.to_string();
        PayRefusal {
            id: "decline-failed",
            args: vec![("why", text.clone())],
            text,
        }
    }

    /// A decision against the payment, one message per reason.
    pub fn declined(reason: &tillpoint_payment::session::DeclineReason) -> PayRefusal {
        use tillpoint_payment::session::DeclineReason as R;
        let (id, args) = match reason {
            R::Issuer { code } => ("decline-issuer", vec![("code", code.clone())]),
            R::Card => ("decline-card", vec![]),
            R::CardAfterApproval => ("decline-card-after-approval", vec![]),
            R::CardError(e) => ("decline-card-error", vec![("why", e.to_string())]),
            R::UnableToGoOnline => ("decline-unable-online", vec![]),
            R::HostUnavailable => ("decline-host-unavailable", vec![]),
            R::OfflineLimit(why) => ("decline-offline-limit", vec![("why", why.to_string())]),
            R::CancelledByCashier => ("decline-cancelled-cashier", vec![]),
            R::CancelledByCardholder => ("decline-cancelled-cardholder", vec![]),
            R::PinTimeout => ("decline-pin-timeout", vec![]),
            R::NoApplicationChosen => ("decline-no-application", vec![]),
            R::UseChip => ("decline-use-chip", vec![]),
            R::NotForGoods => ("decline-not-for-goods", vec![]),
            R::Expired => ("decline-expired", vec![]),
            R::PinUnavailable => ("decline-pin-unavailable", vec![]),
            R::TryAnotherInterface { over_limit: true } => ("decline-tap-over-limit", vec![]),
            R::TryAnotherInterface { over_limit: false } => ("decline-tap-insert", vec![]),
            R::PresentOneCard => ("decline-tap-one-card", vec![]),
            R::SeePhone => ("decline-see-phone", vec![]),
            R::TapAgain => ("decline-tap-again", vec![]),
        };
        PayRefusal {
            id,
            args,
            text: reason.to_string(),
        }
    }
}

impl std::fmt::Display for PayRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl Service {
    pub fn new(till: Till) -> Service {
        let max_age = crate::closing::acquirer_config(&till).limits.max_age;
        let counter = counter::Counter::from_config(&till.config);
        let qr = qr_gateway(&till);
        let head_office = head_office_worker(&till);
        Service {
            advice_max_age_ms: i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX),
            printer: Arc::new(Mutex::new(PrintDesk::for_till(&till))),
            till: Arc::new(Mutex::new(till)),
            terminal: None,
            cancel: None,
            scans_codes: false,
            taps: false,
            link: None,
            pending: Arc::new(Mutex::new(Vec::new())),
            hold: Arc::new(Mutex::new(Vec::new())),
            pad: None,
            step_delay: std::time::Duration::from_millis(900),
            counter,
            qr,
            qr_pending: Arc::new(Mutex::new(Vec::new())),
            demo_qr: None,
            demo_link: None,
            head_office,
        }
        .with_qr_worker()
    }

    /// The till as the window opens it: in the demo with the demo's
    /// simulators (the customer types the PIN on the on-screen pad, the
    /// approval is recorded with its sale) when `demo_devices`; outside the
    /// demo with the shop's reader, PIN pad and acquirer when a link is
    /// configured (else the Card and QR buttons say why not).
    pub fn for_window(till: Till, demo: bool, demo_devices: bool) -> Service {
        let link = tillpoint_sim::link::LinkSwitch::new();
        let terminal: Option<Box<dyn PaymentTerminal>> = if demo_devices {
            let mut opts = tillpoint_sim::demo_devices::DemoOptions::new(till.config.till.currency);
            opts.pin = tillpoint_sim::demo_devices::DemoPin::OnScreen;
            opts.commit = tillpoint_payment::session::CommitMode::WithSale;
            // The simulated acquirer speaks the profile the shop's config
            // names (`[acquirer] profile`), so the demo shows either.
            let acquirer = tillpoint_payment::acquirer::config::AcquirerConfig::load(
                &till.config,
                &mut Vec::new(),
            );
            opts.host_profile = acquirer.profile;
            // Offline approvals keep to the shop's own caps.
            opts.limits = acquirer.limits;
            opts.link = link.clone();
            match tillpoint_sim::demo_devices::DemoDevices::start_with(till.data_dir(), opts) {
                Ok(d) => Some(Box::new(d)),
                Err(e) => {
                    tracing::warn!("demo payment devices did not start ({e}); card payments are simulated in the window");
                    None
                }
            }
        } else if demo {
            None
        } else {
            match crate::terminal::LiveDevices::start(&till) {
                Ok(d) => d.map(|d| Box::new(d) as Box<dyn PaymentTerminal>),
                Err(e) => {
                    tracing::error!(
                        "payment devices did not start ({e}); card and QR payments are off"
                    );
                    None
                }
            }
        };
        let mut service = Service::new(till);
        if demo_devices {
            service.demo_link = Some(link);
        }
        // The demo's counter: a scale emulator on a pseudo-terminal, read
        // as a shop's scale is.
        if demo_devices && !service.has_scale() {
            service = service.with_demo_scale();
        }
        if demo_devices && !service.has_pole_display() {
            service = service.with_demo_pole();
        }
        if demo_devices && !service.has_qr_gateway() {
            service = service.with_demo_qr();
        }
        match terminal {
            Some(t) => service.with_terminal(t),
            None => service,
        }
    }

    /// Takes card and QR payments on `terminal` (the demo's simulators or
    /// the shop's devices).
    pub fn with_terminal(mut self, terminal: Box<dyn PaymentTerminal>) -> Service {
        self.cancel = Some(terminal.canceller());
        self.link = Some(terminal.acquirer());
        self.scans_codes = terminal.scans_codes();
        self.taps = terminal.takes_taps();
        self.pad = terminal.pin_keys();
        self.terminal = Some(Arc::new(Mutex::new(terminal)));
        self
    }

    /// Read-only access for views that need configuration (shop details).
    pub fn with_till<T>(&self, f: impl FnOnce(&Till) -> T) -> T {
        f(&lock(&self.till))
    }

    /// Local work under the till's lock, with the time it is done at.
    fn local<T>(
        &self,
        f: impl FnOnce(&mut Till, i64) -> Result<T, StoreError>,
    ) -> Result<T, Refusal> {
        let mut till = lock(&self.till);
        let now = till.clock.now_ms();
        f(&mut till, now).map_err(words)
    }

    // ---- the terminal ----

    /// Whether a QR payment needs the customer's code scanned at the till
    /// (the shop's devices; the demo makes its codes up).
    pub fn scans_payment_codes(&self) -> bool {
        self.scans_codes || self.qr.is_some()
    }

    /// Whether the customer may tap a card (a contactless reader).
    pub fn takes_taps(&self) -> bool {
        self.taps
    }

    pub fn has_devices(&self) -> bool {
        self.terminal.is_some()
    }

    /// Whether the customer types the PIN on the window's on-screen pad.
    pub fn has_pin_pad(&self) -> bool {
        self.pad.is_some()
    }

    /// A key on the simulated PIN pad: only the pad sees which digit; the
    /// till gets the encrypted PIN block from it, as with a real pad.
    pub fn press(&self, key: PadKey) {
        if let Some(tx) = &self.pad {
            let _ = tx.send(key);
        }
    }

    /// The cashier's Cancel: stops the payment in progress (waiting for the
    /// card or the PIN); an approval already given is reversed.
    pub fn cancel_payment(&self) {
        if let Some(c) = &self.cancel {
            c.cancel();
        }
        if let Some(q) = &self.qr {
            q.cancel();
        }
    }

    /// The application the cardholder or cashier picked on screen, for the
    /// payment in progress that asked ([`PayProgress::ChooseApplication`]).
    pub fn choose_application(&self, index: usize) {
        if let Some(c) = &self.cancel {
            c.choose_application(index);
        }
    }

    /// A card or QR payment on the terminal; `input` is the demo card's
    /// profile for a card, the customer's code for a QR payment. Each step
    /// is reported to `progress`. An approval is held for its sale
    /// ([`Service::complete`] records it) or reversed when given up.
    pub fn pay(
        &self,
        kind: TenderKind,
        amount: Money,
        input: &str,
        progress: &mut dyn FnMut(PayProgress),
    ) -> Result<CardRef, PayRefusal> {
        if let (TenderKind::Qr, Some(q)) = (kind, &self.qr) {
            progress(PayProgress::Step(1));
            let card = q.pay_code(&self.till, amount, input).map_err(qr_refusal)?;
            lock(&self.qr_pending).push(card.order_id.clone());
            return Ok(card);
        }
        self.on_terminal(kind, progress, |terminal, stage| match kind {
            TenderKind::Qr => terminal.pay_qr(amount, input, stage),
            _ => terminal.pay_card(amount, input, stage),
        })
    }

    /// Runs one payment on the terminal, its stages as the screen's steps;
    /// an approval is held for its sale.
    pub(crate) fn on_terminal(
        &self,
        kind: TenderKind,
        progress: &mut dyn FnMut(PayProgress),
        run: impl FnOnce(
            &mut dyn PaymentTerminal,
            &mut dyn FnMut(Stage),
        ) -> Result<
            tillpoint_payment::session::CardOutcome,
            tillpoint_payment::session::PaymentError,
        >,
    ) -> Result<CardRef, PayRefusal> {
        let Some(terminal) = &self.terminal else {
            return Err(PayRefusal::failed("no payment devices"));
        };
        let mut terminal = lock(terminal);
        let mut stage = |s: Stage| {
            let step = match s {
                Stage::ChooseApplication { labels } => {
                    progress(PayProgress::ChooseApplication(labels));
                    return;
                }
                Stage::CardRead => {
                    progress(PayProgress::CardRead);
                    return;
                }
                Stage::WaitingForCard => 0u8,
                Stage::AppSelected { .. } | Stage::EnterPin { .. } => 1,
                Stage::Processing => 2,
                _ => return,
            };
            progress(PayProgress::Step(if kind == TenderKind::Qr {
                step.saturating_sub(1)
            } else {
                step
            }));
        };
        let outcome = run(terminal.as_mut(), &mut stage).map_err(PayRefusal::failed)?;
        match outcome.decision {
            PaymentDecision::Approved => {
                if let Some(p) = outcome.pending {
                    lock(&self.pending).push((outcome.card.stan.clone(), p));
                }
                Ok(outcome.card)
            }
            PaymentDecision::Declined(reason) => Err(PayRefusal::declined(&reason)),
        }
    }

    /// One step of the demo's simulated payment when it has no devices:
    /// the next step, and at the last one whether the card approved.
    pub fn simulated_step(
        &self,
        kind: TenderKind,
        amount: Money,
        step: PayStep,
    ) -> (PayStep, Option<bool>) {
        std::thread::sleep(self.step_delay);
        let last = if kind == TenderKind::Card { 3 } else { 2 };
        (step + 1, (step + 1 >= last).then(|| !demo_declines(amount)))
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
        let orders: Vec<String> = lock(&self.qr_pending).drain(..).collect();
        if let (false, Some(q)) = (orders.is_empty(), self.qr.clone()) {
            let till = self.till.clone();
            std::thread::spawn(move || {
                for o in orders {
                    tracing::info!(order = %o, "QR payment of an abandoned sale given back");
                    q.give_back(&till, &o);
                }
            });
        }
    }

    fn reverse_in_background(&self, taken: Vec<(String, PendingCommit)>) {
        if taken.is_empty() {
            return;
        }
        let Some(terminal) = self.terminal.clone() else {
            return;
        };
        std::thread::spawn(move || {
            let terminal = lock(&terminal);
            for (stan, p) in &taken {
                tracing::info!(%stan, "approval of an abandoned sale reversed");
                terminal.payments().abandon(p);
            }
        });
    }

    /// The acquirer links of the sale's card and QR tenders approved in this
    /// window and not yet recorded, and which pending approvals they use.
    fn card_links(
        &self,
        sale: &Sale,
    ) -> Result<(Vec<tillpoint_store::acquirer::CardLink>, Vec<String>), Refusal> {
        use tillpoint_payment::acquirer::till_store::{offline_link, online_link};
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
            let idx = u32::try_from(idx).map_err(words)?;
            let link = match p {
                PendingCommit::Online(auth) => online_link(idx, auth).map_err(words)?,
                PendingCommit::Offline { item, capture } => {
                    Some(offline_link(idx, item, capture).map_err(words)?)
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
        // A busy terminal or link (a payment, the forwarder mid-exchange)
        // is not waited for: the session forgets a recorded approval by
        // itself before its next request.
        if let Some(terminal) = &self.terminal {
            if let Ok(t) = terminal.try_lock() {
                for (_, p) in &done {
                    t.payments().recorded(p);
                }
            }
        }
    }

    /// Whether the acquirer answered its last message or echo. Never waits:
    /// while a payment or the forwarder talks to the host it is `None`.
    fn link_online(&self) -> Option<bool> {
        self.link.as_ref()?.try_lock().ok()?.online()
    }

    // ---- start-up, cashiers ----

    /// The self-check: the store's part under the till's lock, the devices'
    /// (which wait on hardware and the network) with a copy of the config.
    /// The self-check. A failure of the till's records that a manager has
    /// not acknowledged stops selling (see [`Service::selling_hold`]).
    pub fn check(&self) -> Vec<CheckLine> {
        let (mut lines, config, acknowledged) = {
            let till = lock(&self.till);
            (
                crate::check::store_checks(&till),
                till.config.clone(),
                till.store.acknowledged_failures(),
            )
        };
        let failures = crate::check::record_failures(&lines);
        *lock(&self.hold) = match acknowledged {
            Ok(Some(seen)) if seen == failures => Vec::new(),
            _ => failures,
        };
        lines.extend(crate::check::devices(&config));
        lines.extend(self.counter_checks());
        lines
    }

    /// What stops the till selling: record failures of the last check that
    /// no manager has acknowledged (empty when it may sell).
    pub fn selling_hold(&self) -> Vec<String> {
        lock(&self.hold).clone()
    }

    /// A manager's acknowledgement of the record failures the check found,
    /// journaled with them: selling resumes (and the same failures found
    /// at the next start do not stop it again); the check keeps reporting
    /// them.
    pub fn acknowledge_integrity(&self, approval: &Approval) -> Result<(), Refusal> {
        let failures = self.selling_hold();
        self.local(|t, now| t.store.acknowledge_integrity(&failures, approval, now))?;
        lock(&self.hold).clear();
        Ok(())
    }

    /// The self-check with the proof that the journal still holds a Z
    /// report's printed `anchor`.
    pub fn check_anchored(&self, anchor: &str) -> Vec<CheckLine> {
        let mut lines = self.check();
        lines.push(crate::check::anchor_line(&lock(&self.till), anchor));
        lines
    }

    /// Checks a number and PIN (counted towards the number's lockout).
    pub fn login(&self, number: u32, pin: &str) -> Result<Login, Refusal> {
        use tillpoint_store::cashiers::Login as Checked;
        Ok(
            match self.local(|t, now| t.store.login(number, pin, now))? {
                Checked::Welcome(v) => Login::Welcome(v.into_cashier()),
                Checked::Wrong { tries_left } => Login::Wrong { tries_left },
                Checked::Locked { until_ms } => Login::Locked { until_ms },
            },
        )
    }

    /// A supervisor's approval of one `action` on one `target`, or why
    /// there is none: the only way the window gets an approval.
    pub fn approve(
        &self,
        number: u32,
        pin: &str,
        action: Action,
        target: Target,
    ) -> Result<Approval, Denied> {
        use tillpoint_store::cashiers::Login as Checked;
        match self
            .local(|t, now| t.store.login(number, pin, now))
            .map_err(Denied::Failed)?
        {
            Checked::Welcome(v) => v
                .approve(action, target)
                .map_err(|e| Denied::NotAllowed(e.to_string())),
            Checked::Wrong { .. } => Err(Denied::WrongPin),
            Checked::Locked { until_ms } => Err(Denied::Locked { until_ms }),
        }
    }

    // ---- the catalog ----

    /// A scanned or typed code: a product, maybe with an embedded price or
    /// weight, or `None` when nothing has it.
    pub fn resolve(&self, code: &str) -> Result<Option<ScanHit>, Refusal> {
        self.local(|t, _| t.store.resolve_code(code, &t.config.embedded_prefixes))
    }

    pub fn search(&self, query: &str) -> Result<Vec<Product>, Refusal> {
        self.local(|t, _| t.store.search_products(query, 40))
    }

    /// The quick-key categories, in the catalog's order.
    pub fn categories(&self) -> Result<Vec<String>, Refusal> {
        self.local(|t, _| t.store.categories())
            .map(|v| v.into_iter().map(|(c, _)| c).collect())
    }

    pub fn category(&self, category: &str) -> Result<Vec<Product>, Refusal> {
        self.local(|t, _| t.store.products_in_category(category, 60))
    }

    // ---- selling ----

    /// Completes a paid sale durably, with the card approvals this window
    /// holds for it; they stay held if it fails (the cashier may try again;
    /// if the till stops first they are reversed on restart).
    pub fn complete(&self, sale: &Sale) -> Result<SaleRecord, Refusal> {
        if let Some(first) = self.selling_hold().first() {
            return Err(format!(
                "selling is stopped: the start-up check found the till's records altered ({first}); a manager must acknowledge it on the start-up screen"
            ));
        }
        let (links, used) = self.card_links(sale)?;
        let done = self.local(|t, now| {
            let rules = t.config.pricing.clone();
            let hour = t.clock.local_hour(now);
            if links.is_empty() {
                t.store.complete_sale(sale, &rules, now, hour, &[])
            } else {
                t.store.complete_card_sale(sale, &rules, now, hour, &links)
            }
        })?;
        // Never waits: a busy link is tidied up later.
        self.recorded(&used);
        self.qr_recorded(&done.record);
        Ok(done.record)
    }

    pub fn park(&self, sale: &Sale, label: &str) -> Result<i64, Refusal> {
        self.local(|t, now| t.store.park(sale, label, now))
    }

    pub fn parked(&self) -> Result<Vec<Parked>, Refusal> {
        self.local(|t, _| t.store.parked())
    }

    pub fn resume(&self, id: i64) -> Result<Sale, Refusal> {
        self.local(|t, _| t.store.resume(id))
    }

    // ---- receipts, refunds, voids ----

    pub fn receipt(&self, number: &str) -> Result<ReceiptLookup, Refusal> {
        let no = number.trim();
        self.local(|t, _| {
            Ok(ReceiptLookup {
                record: t.store.sale_by_receipt(no)?,
                refunds: t.store.refunds_of(no)?,
                voided: t.store.is_voided(no)?,
            })
        })
    }

    pub fn refund(
        &self,
        receipt: &str,
        picks: &[(u32, Qty)],
        cashier: u32,
        approval: &Approval,
    ) -> Result<SaleRecord, Refusal> {
        self.local(|t, now| {
            let rules = t.config.pricing.clone();
            let hour = t.clock.local_hour(now);
            t.store
                .complete_refund(receipt, picks, &rules, cashier, approval, now, hour)
        })
        .map(|done| done.record)
    }

    /// Voids a completed sale; returns its receipt number.
    pub fn post_void(&self, receipt: &str, approval: &Approval) -> Result<String, Refusal> {
        self.local(|t, now| t.store.post_void(receipt, approval, now))
            .map(|r| r.receipt_no)
    }

    pub fn reprint(&self, receipt: &str) -> Result<(), Refusal> {
        self.local(|t, now| t.store.queue_reprint(receipt, now))
            .map(|_| ())
    }

    pub fn recent_receipts(&self) -> Result<Vec<String>, Refusal> {
        self.local(|t, _| t.store.recent_receipts(30))
    }

    // ---- cash ----

    /// Cash in or out of the drawer; a no-sale opens the drawer on the
    /// printer's desk (the drawer hangs off the printer) and is journaled
    /// with its approver.
    pub fn cash(
        &self,
        kind: CashMovement,
        amount: Money,
        cashier: u32,
        approval: Option<&Approval>,
        reason: &str,
    ) -> Result<CashMovement, Refusal> {
        if let (CashMovement::NoSale, Some(approval)) = (kind, approval) {
            return self.no_sale(cashier, approval, reason).map(|_| kind);
        }
        self.local(|t, now| {
            t.store
                .cash_movement(kind, amount, cashier, approval, reason, now)
        })
        .map(|_| kind)
    }

    /// Whether taking `amount` out needs a supervisor (`[policy]
    /// cash_out_limit`).
    pub fn cash_out_needs_approval(&self, amount: Money) -> bool {
        lock(&self.till).store.cash_out_needs_approval(amount)
    }

    fn no_sale(&self, cashier: u32, approval: &Approval, reason: &str) -> Result<(), Refusal> {
        let setup = self.print_setup();
        let mut desk = lock(&self.printer);
        let store = desk.store(&setup.store).map_err(words)?;
        match setup.printer.open() {
            Ok(Some(mut p)) => crate::print_queue::no_sale(
                store,
                &mut p,
                setup.printer.drawer_pulse(),
                cashier,
                approval,
                reason,
                setup.now,
            )
            .map_err(words),
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
                .map_err(words),
        }
    }

    // ---- reports ----

    /// An X report (`None`) or a new Z: the report under the till's lock,
    /// the settlement a Z calls for through the acquirer session's own lock,
    /// then the card figures.
    pub fn report(&self, z: Option<&Approval>) -> Result<ReportView, Refusal> {
        let (report, settle) = self.local(|t, now| {
            let report = match z {
                None => t.store.x_report(now)?,
                Some(ap) => t.store.z_report(ap, now)?,
            };
            let settle = crate::closing::settlement_due(t, z.is_some(), self.link.as_ref());
            Ok((report, settle))
        })?;
        let problem = settle.and_then(|s| s.run(self.link.as_ref()));
        let mut till = lock(&self.till);
        let (card, problem) =
            crate::closing::card_figures(&mut till, &report, self.link.as_ref(), problem);
        Ok(ReportView {
            report,
            card,
            problem,
        })
    }

    /// A copy of Z report number `z`, with the card figures as they stand.
    pub fn z_copy(&self, z: i64) -> Result<ReportView, Refusal> {
        let mut till = lock(&self.till);
        let report = till
            .store
            .z_by_number(z)
            .map_err(words)?
            .ok_or_else(|| format!("there is no Z report {z}"))?;
        let (card, problem) =
            crate::closing::card_figures(&mut till, &report, self.link.as_ref(), None);
        Ok(ReportView {
            report,
            card,
            problem,
        })
    }

    /// The status bar's figures; never waits on the link or the printer.
    pub fn status(&self, lang: tillpoint_i18n::Lang) -> TillStatus {
        let till = lock(&self.till);
        let i18n = tillpoint_i18n::I18n::load();
        TillStatus {
            online: self.link_online(),
            pending_outbox: till.store.pending_outbox_count().unwrap_or(-1),
            overdue_outbox: till
                .store
                .overdue_outbox_count(till.clock.now_ms().saturating_sub(self.advice_max_age_ms))
                .unwrap_or(-1),
            queued_prints: till
                .store
                .queued_print_jobs()
                .map(|v| v.len() as i64)
                .unwrap_or(-1),
            print_problem: crate::print_queue::why_not_printing(&till.store, &i18n, lang)
                .ok()
                .flatten(),
            demo_link: self.demo_link.as_ref().map(|l| l.is_up()),
            head_office: self.head_office.as_ref().map(|w| w.status()),
        }
    }

    // ---- printing ----

    /// What printing needs, copied from the till under its lock.
    fn print_setup(&self) -> PrintSetup {
        let till = lock(&self.till);
        let (printer, receipts) = printer_setup(&till);
        PrintSetup {
            printer,
            receipts,
            now: till.clock.now_ms(),
            currency: till.config.till.currency,
            store: till.store_settings(),
        }
    }

    /// Prints what waits in the queue on the printer's desk (after a sale,
    /// the drawer opens first when cash moved). A printer problem is not a
    /// failure of the sale: what still waits comes back, and the status bar
    /// says why.
    pub fn print(&self, after_sale: Option<&SaleRecord>) -> Result<Printed, Refusal> {
        let setup = self.print_setup();
        let mut desk = lock(&self.printer);
        if let Some(record) = after_sale {
            if let Ok(Some(mut p)) = setup.printer.open() {
                if let Err(e) = crate::print_queue::open_drawer_for_sale(
                    &mut p,
                    record,
                    setup.printer.drawer_pulse(),
                ) {
                    tracing::warn!("cash drawer: {e}");
                }
            }
        }
        let store = desk.store(&setup.store).map_err(words)?;
        let report = setup.drain(store, &tillpoint_i18n::I18n::load())?;
        Ok(Printed {
            printed: report.printed.len(),
            left: report.left,
        })
    }

    /// A test page on the configured printer, on the printer's desk; what
    /// happened, in words.
    pub fn test_print(&self) -> Result<String, Refusal> {
        let (pc, when) = {
            let till = lock(&self.till);
            let (pc, _) = printer_setup(&till);
            (pc, till.clock.format(till.clock.now_ms()))
        };
        let _desk = lock(&self.printer);
        test_print(&pc, &when)
    }

    /// Sounds a refusal on the printer's buzzer, when it has one (`[printer]
    /// buzzer`); silent otherwise. Whether it beeped. A printer busy with
    /// a receipt is not waited for: a beep seconds after the refusal
    /// would sound for the wrong thing.
    pub fn beep_refusal(&self) -> bool {
        // Only the section itself: the receipt settings (and the logo
        // file) are not needed to beep.
        let pc = tillpoint_devices::printer::config::PrinterConfig::load(
            &lock(&self.till).config,
            &mut Vec::new(),
        );
        use tillpoint_devices::printer::ReceiptPrinter as _;
        let Some(beep) = pc.refusal_beep() else {
            return false;
        };
        let Ok(_desk) = self.printer.try_lock() else {
            return false;
        };
        match pc.open() {
            Ok(Some(mut p)) => match p.beep(beep) {
                Ok(()) => true,
                Err(e) => {
                    tracing::debug!("buzzer: {e}");
                    false
                }
            },
            Ok(None) => false,
            Err(e) => {
                tracing::debug!("buzzer: {e}");
                false
            }
        }
    }

    /// The receipt as the printer would print it, for the preview.
    pub fn preview(&self, record: &SaleRecord) -> Result<Vec<Page>, Refusal> {
        let setup = self.print_setup();
        preview(&setup, record).map_err(words)
    }

    // ---- settings ----

    /// Writes settings to the config file with a manager's approval (only
    /// the keys the window may change, see `settings::EDITABLE`), journals
    /// who changed what from what to what, and reloads the file; the
    /// warnings of reading it back.
    pub fn save_settings(
        &self,
        values: &[tillpoint_config::edit::Setting],
        approval: &Approval,
    ) -> Result<Vec<String>, Refusal> {
        tillpoint_core::cashier::require(approval, Action::ChangeSettings, &Target::Till)
            .map_err(words)?;
        let mut till = lock(&self.till);
        let changes = crate::settings::changes(&till.config, values)?;
        if changes.is_empty() {
            return Ok(till.warnings.clone());
        }
        let now = till.clock.now_ms();
        // Journaled first: a change on disk that the journal does not
        // name would be the worse failure.
        till.store
            .record_settings_change(approval, &changes, now)
            .map_err(words)?;
        tillpoint_config::edit::save(&till.paths.config_file, values).map_err(words)?;
        let (mut config, warnings) =
            tillpoint_config::Config::load(&till.paths.config_file).map_err(words)?;
        // Sections supplied at run time (the demo's simulated printer) stay
        // unless the file now sets them.
        for (k, v) in &till.config.sections {
            config
                .sections
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        till.config = config;
        till.warnings = warnings.clone();
        Ok(warnings)
    }
}

pub use crate::printing::assets_dir;

/// How often an enrolled till sends its journal to head office.
const HEAD_OFFICE_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// The head-office sender for an enrolled till (none otherwise); a link
/// that cannot be read is logged and the till sells on without it.
fn head_office_worker(till: &Till) -> Option<Arc<crate::headoffice::SyncWorker>> {
    match crate::headoffice::SyncWorker::start(
        till.data_dir(),
        &till.paths.database(),
        HEAD_OFFICE_EVERY,
    ) {
        Ok(w) => w.map(Arc::new),
        Err(e) => {
            tracing::error!("head office: {e}");
            None
        }
    }
}

#[cfg(test)]
mod pay_refusal_tests {
    use super::PayRefusal;
    use tillpoint_i18n::{I18n, Lang};
    use tillpoint_payment::session::DeclineReason as R;

    /// Every reason a payment is declined has its words in both languages,
    /// with its arguments filled in.
    #[test]
    fn every_decline_reason_is_worded_in_both_languages() {
        let i18n = I18n::load();
        let reasons = [
            R::Issuer { code: "51".into() },
            R::Card,
            R::CardAfterApproval,
            R::CardError("card removed".into()),
            R::UnableToGoOnline,
            R::HostUnavailable,
            R::OfflineLimit("over the offline amount cap".into()),
            R::CancelledByCashier,
            R::CancelledByCardholder,
            R::PinTimeout,
            R::NoApplicationChosen,
            R::UseChip,
            R::NotForGoods,
            R::Expired,
            R::PinUnavailable,
        ];
        let mut refusals: Vec<PayRefusal> = reasons.iter().map(PayRefusal::declined).collect();
        refusals.push(PayRefusal::failed("the PIN pad is not connected"));
        for r in &refusals {
            for lang in [Lang::En, Lang::Zh] {
                assert!(i18n.has(lang, r.id), "{} lacks {}", lang.code(), r.id);
                let args: Vec<(&str, String)> =
                    r.args.iter().map(|(k, v)| (*k, v.clone())).collect();
                let text = i18n.tr_args(lang, r.id, &args);
                for (_, v) in &args {
                    assert!(text.contains(v.as_str()), "{}: {text}", r.id);
                }
            }
        }
        let zh = i18n.tr_args(Lang::Zh, "decline-issuer", &[("code", "51".into())]);
        assert!(zh.contains("发卡行") && zh.contains("51"), "{zh}");
    }
}

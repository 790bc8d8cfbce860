//! The application: state, `Message`, `update`, `view` and `subscription`.
//!
//! `handle` is the whole behaviour: it takes a message and returns the
//! effects to carry out (jobs for the backend, focus changes). `update`
//! turns those into iced tasks; the tests run them synchronously through the
//! same backend, so a test sees exactly what the window does.

use super::ctx::Ctx;
use super::screen::{
    cash, help, login, parked, receipt, refund, reports, sale, settings, startup, tender,
};
use super::theme;
use iced::widget::{column, container, operation, row, text, text_input};
use iced::{keyboard, Alignment, Element, Length, Subscription, Task, Theme};
use tillpoint_app::backend::CashMovement;
use tillpoint_app::backend::{Backend, Job, Outcome};
use tillpoint_core::cashier::{Action, Approval, Cashier};
use tillpoint_core::catalog::{EmbeddedKind, Qty};
use tillpoint_core::money::{Currency, Money};
use tillpoint_core::sale::{PricingRules, Sale, Totals};
use tillpoint_core::tender::{CardRef, TenderKind};
use tillpoint_i18n::{I18n, Lang};

/// Builds the view context from the app's fields only, so it can be held
/// while another field (a screen's state) is borrowed mutably.
macro_rules! ctx {
    ($app:expr) => {
        Ctx {
            i18n: &$app.i18n,
            lang: $app.lang,
            currency: $app.currency,
            offset_secs: $app.offset_secs,
            demo: $app.demo,
        }
    };
}

/// Virtual cards offered on the demo's tender screen, the default first.
pub const DEMO_CARDS: [&str; 5] = [
    "unionpay-online-pin",
    "visa-online-pin",
    "offline-approve",
    "declining",
    "expired",
];

/// Which screen is showing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Startup,
    Login,
    Locked,
    Sale,
    Tender,
    Receipt,
    Refund,
    Parked,
    Cash,
    Reports,
    Settings,
    Help,
}

/// An action waiting for a supervisor's number and PIN.
#[derive(Debug, Clone, PartialEq)]
pub enum Pending {
    Override(u32, Money),
    Refund(String, Vec<(u32, Qty)>),
    PostVoid(String),
    NoSale,
    ZReport,
}

impl Pending {
    fn action(&self) -> Action {
        match self {
            Pending::Override(..) => Action::PriceOverride,
            Pending::Refund(..) => Action::Refund,
            Pending::PostVoid(_) => Action::PostVoid,
            Pending::NoSale => Action::NoSale,
            Pending::ZReport => Action::ZReport,
        }
    }
}

/// The supervisor approval dialog.
#[derive(Debug, Clone)]
pub struct ApprovalPrompt {
    pub pending: Pending,
    pub number: String,
    pub pin: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub enum ApprovalMsg {
    Number(String),
    Pin(String),
    Submit,
    Cancel,
}

/// Everything that can happen to the application.
#[derive(Debug, Clone)]
pub enum Message {
    Startup(startup::Msg),
    Login(login::Msg),
    Sale(sale::Msg),
    Tender(tender::Msg),
    Receipt(receipt::Msg),
    Refund(refund::Msg),
    Parked(parked::Msg),
    Cash(cash::Msg),
    Reports(reports::Msg),
    Settings(settings::Msg),
    HelpBack,
    Approval(ApprovalMsg),
    Key(keyboard::key::Named),
    Tick(i64),
    /// A frame was drawn (only subscribed to with `exit_when_ready`).
    Frame,
    Done(Outcome),
    DismissNotice,
}

/// Side effects `handle` asks for.
#[derive(Debug, Clone)]
pub enum Effect {
    Job(Job),
    Focus(&'static str),
    /// Close the window (start-up benchmark).
    Exit,
    /// A job whose progress arrives as several outcomes.
    Stream(Job),
}

/// Options the window starts with.
#[derive(Debug, Clone)]
pub struct Options {
    pub demo: bool,
    pub lang: Lang,
    pub dark: bool,
    /// Quit as soon as the first frame is drawn (the cold-start benchmark).
    pub exit_when_ready: bool,
}

/// What the status bar shows.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub pending_outbox: i64,
    pub queued_prints: i64,
    /// Why receipts are not printing, in the cashier's words.
    pub print_problem: Option<String>,
    pub online: bool,
}

pub struct App {
    pub backend: Backend,
    pub i18n: I18n,
    pub lang: Lang,
    pub dark: bool,
    pub demo: bool,
    pub rules: PricingRules,
    pub currency: Currency,
    pub offset_secs: i32,
    pub idle_lock_ms: i64,
    pub embedded: Vec<(u8, EmbeddedKind)>,
    pub screen: Screen,
    /// Where the lock screen returns to.
    pub before_lock: Screen,
    pub cashier: Option<Cashier>,
    pub sale: Sale,
    pub sale_ui: sale::State,
    pub tender: tender::State,
    pub receipt: receipt::State,
    pub refund: refund::State,
    pub parked: parked::State,
    pub cash: cash::State,
    pub reports: reports::State,
    pub startup: startup::State,
    pub login: login::State,
    pub settings: settings::Info,
    pub approval: Option<ApprovalPrompt>,
    pub notice: Option<(String, bool)>,
    pub now_ms: i64,
    pub last_input_ms: i64,
    pub status: Status,
    pub exit_when_ready: bool,
}

impl App {
    /// A new application on `backend`, running the self-check first.
    pub fn new(backend: Backend, opts: Options) -> (App, Vec<Effect>) {
        let (rules, offset, idle, embedded, info, now) = backend.with_till(|t| {
            let c = &t.config;
            (
                c.pricing.clone(),
                t.clock.offset_secs(),
                i64::from(c.till.idle_lock_minutes) * 60_000,
                c.embedded_prefixes.clone(),
                settings::Info::from_config(c, t.paths.config_file.display().to_string()),
                t.clock.now_ms(),
            )
        });
        let currency = rules.currency;
        let app = App {
            backend,
            i18n: I18n::load(),
            lang: opts.lang,
            dark: opts.dark,
            demo: opts.demo,
            rules,
            currency,
            offset_secs: offset,
            idle_lock_ms: idle.max(60_000),
            embedded,
            screen: Screen::Startup,
            before_lock: Screen::Sale,
            cashier: None,
            sale: Sale::new(currency, 0),
            sale_ui: sale::State::default(),
            tender: tender::State::default(),
            receipt: receipt::State::default(),
            refund: refund::State::default(),
            parked: parked::State::default(),
            cash: cash::State::default(),
            reports: reports::State::default(),
            startup: startup::State::default(),
            login: login::State::default(),
            settings: info,
            approval: None,
            notice: None,
            now_ms: now,
            last_input_ms: now,
            status: Status::default(),
            exit_when_ready: opts.exit_when_ready,
        };
        (
            app,
            vec![
                Effect::Job(Job::Check),
                Effect::Job(Job::Status(opts.lang)),
                Effect::Job(Job::Print),
            ],
        )
    }

    pub fn ctx(&self) -> Ctx<'_> {
        ctx!(self)
    }

    fn t(&self, id: &str) -> String {
        self.i18n.tr(self.lang, id)
    }

    pub fn totals(&self) -> Option<Totals> {
        self.sale.live_lines().next()?;
        self.sale.totals(&self.rules).ok()
    }

    pub fn balance(&self) -> Money {
        self.sale
            .balance(&self.rules)
            .unwrap_or(Money::zero(self.currency))
    }

    fn error(&mut self, text: String) {
        self.notice = Some((text, true));
    }

    fn info(&mut self, text: String) {
        self.notice = Some((text, false));
    }

    fn go(&mut self, screen: Screen) -> Vec<Effect> {
        self.screen = screen;
        match screen {
            Screen::Sale => vec![Effect::Focus(sale::SCAN_ID)],
            Screen::Tender => vec![Effect::Focus(tender::CASH_ID)],
            Screen::Refund => vec![Effect::Focus(refund::LOOKUP_ID)],
            Screen::Login | Screen::Locked => vec![Effect::Focus(login::PIN_ID)],
            _ => vec![],
        }
    }

    fn new_sale(&mut self) {
        // Card approvals of a sale that was not completed are taken back.
        self.backend.abandon_pending();
        let cashier = self.cashier.as_ref().map_or(0, |c| c.number);
        self.sale = Sale::new(self.currency, cashier);
        self.sale_ui.selected = None;
        self.sale_ui.results.clear();
        self.sale_ui.search.clear();
        self.tender = tender::State::default();
    }

    /// The behaviour of the application.
    pub fn handle(&mut self, message: Message) -> Vec<Effect> {
        if matches!(message, Message::Frame) {
            return if self.exit_when_ready {
                vec![Effect::Exit]
            } else {
                vec![]
            };
        }
        if !matches!(message, Message::Tick(_) | Message::Done(_)) {
            self.last_input_ms = self.now_ms;
        }
        match message {
            Message::Tick(now) => {
                self.now_ms = now;
                let mut fx = vec![];
                if self.cashier.is_some()
                    && !matches!(
                        self.screen,
                        Screen::Locked | Screen::Login | Screen::Startup
                    )
                    && self.tender.progress.is_none()
                    && now - self.last_input_ms > self.idle_lock_ms
                {
                    fx.extend(self.lock());
                }
                if now.rem_euclid(5_000) < 1_000 {
                    fx.push(Effect::Job(Job::Status(self.lang)));
                }
                // A receipt held up by paper out or an unplugged printer prints by itself once it is back.
                if self.status.queued_prints > 0 && now.rem_euclid(10_000) < 1_000 {
                    fx.push(Effect::Job(Job::Print));
                }
                fx
            }
            Message::Frame => vec![],
            Message::DismissNotice => {
                self.notice = None;
                vec![]
            }
            Message::Done(outcome) => self.outcome(outcome),
            Message::Startup(startup::Msg::Retry) => {
                self.startup = startup::State::default();
                vec![Effect::Job(Job::Check)]
            }
            Message::Startup(startup::Msg::Continue) => self.go(Screen::Login),
            Message::Login(m) => match self.login.update(m) {
                Some(login::Event::Login { number, pin }) => {
                    if let Some(c) = &self.cashier {
                        if self.screen == Screen::Locked && c.number != number {
                            self.login.rejected(self.t("login-wrong"));
                            return vec![];
                        }
                    }
                    vec![Effect::Job(Job::Login { number, pin })]
                }
                None => vec![],
            },
            Message::Approval(m) => self.approval_msg(m),
            Message::HelpBack => self.go(Screen::Sale),
            Message::Key(k) => self.key(k),
            Message::Sale(m) => {
                let ctx = ctx!(self);
                let ev = self.sale_ui.update(m, &self.sale, &ctx);
                let mut fx = match ev {
                    Some(e) => self.sale_event(e),
                    None => vec![],
                };
                if self.screen == Screen::Sale
                    && self.sale_ui.weighing.is_none()
                    && !fx.iter().any(|f| matches!(f, Effect::Focus(_)))
                {
                    fx.push(Effect::Focus(sale::SCAN_ID));
                }
                fx
            }
            Message::Tender(m) => {
                let bal = self.balance();
                self.tender.scan_code = self.backend.scans_payment_codes();
                self.tender.cancellable = self.backend.has_devices();
                let ctx = ctx!(self);
                let ev = self.tender.update(m, bal, &ctx);
                match ev {
                    Some(tender::Event::Cash(given)) => self.take_cash(given),
                    Some(tender::Event::Electronic(kind, amount)) => {
                        self.tender.pin_len = 0;
                        self.tender.on_screen_pad = self.backend.has_pin_pad();
                        if self.backend.has_devices() {
                            let input = if kind == TenderKind::Qr {
                                String::new()
                            } else if self.tender.profile.is_empty() {
                                DEMO_CARDS[0].to_string()
                            } else {
                                self.tender.profile.clone()
                            };
                            vec![Effect::Stream(Job::DevicePay {
                                kind,
                                amount,
                                input,
                            })]
                        } else if self.demo {
                            vec![Effect::Job(Job::PaymentStep {
                                kind,
                                amount,
                                step: 0,
                            })]
                        } else {
                            // A real till never pretends: without the
                            // acquirer link there is no card payment.
                            self.tender.progress = None;
                            self.error(self.t("tender-no-devices"));
                            vec![]
                        }
                    }
                    Some(tender::Event::AwaitCode) => vec![Effect::Focus(tender::CODE_ID)],
                    Some(tender::Event::Code(amount, code)) => {
                        vec![Effect::Stream(Job::DevicePay {
                            kind: TenderKind::Qr,
                            amount,
                            input: code,
                        })]
                    }
                    Some(tender::Event::Cancel) => {
                        self.backend.cancel_payment();
                        vec![]
                    }
                    Some(tender::Event::Back) => self.go(Screen::Sale),
                    Some(tender::Event::Pad(k)) => {
                        use tillpoint_app::backend::PadKey;
                        let key = match k {
                            'E' => PadKey::Enter,
                            'C' => PadKey::Clear,
                            'X' => PadKey::Cancel,
                            d => PadKey::Digit(d.to_digit(10).unwrap_or(0) as u8),
                        };
                        self.backend.press(key);
                        vec![]
                    }
                    Some(tender::Event::Notice(n)) => {
                        self.error(n);
                        vec![]
                    }
                    None => vec![],
                }
            }
            Message::Receipt(m) => match self.receipt.update(m) {
                Some(receipt::Event::Open(no)) => vec![Effect::Job(Job::LoadReceipt(no))],
                Some(receipt::Event::Reprint(no)) => vec![Effect::Job(Job::Reprint(no))],
                Some(receipt::Event::NewSale) => {
                    self.receipt.change = None;
                    self.go(Screen::Sale)
                }
                None => vec![],
            },
            Message::Refund(m) => {
                let ctx = ctx!(self);
                match self.refund.update(m, &ctx) {
                    Some(refund::Event::Find(no)) => vec![Effect::Job(Job::LoadReceipt(no))],
                    Some(refund::Event::Refund(no, picks)) => {
                        self.ask_approval(Pending::Refund(no, picks))
                    }
                    Some(refund::Event::PostVoid(no)) => self.ask_approval(Pending::PostVoid(no)),
                    Some(refund::Event::Back) => self.go(Screen::Sale),
                    Some(refund::Event::Notice(n)) => {
                        self.error(n);
                        vec![]
                    }
                    None => vec![],
                }
            }
            Message::Parked(parked::Msg::Resume(id)) => {
                if self.sale.live_lines().next().is_some() {
                    self.error(self.t("parked-finish-first"));
                    return vec![];
                }
                vec![Effect::Job(Job::Resume(id))]
            }
            Message::Parked(parked::Msg::Back) => self.go(Screen::Sale),
            Message::Cash(m) => {
                let ctx = ctx!(self);
                match self.cash.update(m, self.currency, &ctx) {
                    Some(cash::Event::Move(kind, amount, reason)) => vec![Effect::Job(Job::Cash {
                        kind,
                        amount,
                        cashier: self.cashier.as_ref().map_or(0, |c| c.number),
                        approval: None,
                        reason,
                    })],
                    Some(cash::Event::NoSale) => self.ask_approval(Pending::NoSale),
                    Some(cash::Event::Back) => self.go(Screen::Sale),
                    Some(cash::Event::Notice(n)) => {
                        self.error(n);
                        vec![]
                    }
                    None => vec![],
                }
            }
            Message::Reports(reports::Msg::X) => vec![Effect::Job(Job::XReport)],
            Message::Reports(reports::Msg::Z) => self.ask_approval(Pending::ZReport),
            Message::Reports(reports::Msg::Back) => self.go(Screen::Sale),
            Message::Settings(settings::Msg::Lang(l)) => {
                self.lang = l;
                vec![]
            }
            Message::Settings(settings::Msg::Dark(d)) => {
                self.dark = d;
                vec![]
            }
            Message::Settings(settings::Msg::TestPrinter) => vec![Effect::Job(Job::TestPrint)],
            Message::Settings(settings::Msg::Edit(i, v)) => {
                if let Some(f) = self.settings.fields.get_mut(i) {
                    f.value = v;
                    self.settings.dirty = true;
                }
                vec![]
            }
            Message::Settings(settings::Msg::Save) => {
                vec![Effect::Job(Job::SaveSettings(self.settings.to_save()))]
            }
            Message::Settings(settings::Msg::Back) => self.go(Screen::Sale),
        }
    }

    fn lock(&mut self) -> Vec<Effect> {
        if let Some(c) = &self.cashier {
            self.before_lock = self.screen;
            self.login = login::State::locked(c.number);
            return self.go(Screen::Locked);
        }
        vec![]
    }

    fn key(&mut self, k: keyboard::key::Named) -> Vec<Effect> {
        use keyboard::key::Named as K;
        if self.cashier.is_none()
            || matches!(
                self.screen,
                Screen::Locked | Screen::Login | Screen::Startup
            )
        {
            return vec![];
        }
        if k == K::Escape {
            if self.approval.take().is_some() {
                return vec![];
            }
            if self.sale_ui.weighing.take().is_some() {
                return vec![Effect::Focus(sale::SCAN_ID)];
            }
            if self
                .tender
                .progress
                .as_ref()
                .is_some_and(|p| p.approved.is_none())
            {
                return vec![];
            }
            return self.go(Screen::Sale);
        }
        let nav = match k {
            K::F1 => Some(sale::Nav::Help),
            K::F2 => return vec![Effect::Focus(sale::SEARCH_ID)],
            K::F4 => Some(sale::Nav::Park),
            K::F5 => Some(sale::Nav::Parked),
            K::F6 => Some(sale::Nav::Refund),
            K::F7 => Some(sale::Nav::Cash),
            K::F8 => Some(sale::Nav::Reports),
            K::F9 => Some(sale::Nav::Settings),
            K::F10 => Some(sale::Nav::Lock),
            K::F11 => Some(sale::Nav::Receipts),
            K::F12 => Some(sale::Nav::Pay),
            _ => None,
        };
        match nav {
            Some(n) if self.tender.progress.is_none() => self.sale_event(sale::Event::Go(n)),
            _ => vec![],
        }
    }

    fn sale_event(&mut self, e: sale::Event) -> Vec<Effect> {
        use sale::{Event as E, Nav};
        let result = match e {
            E::Resolve(code) => return vec![Effect::Job(Job::Resolve(code))],
            E::Search(q) => return vec![Effect::Job(Job::Search(q))],
            E::Category(c) => return vec![Effect::Job(Job::Category(c))],
            E::Add(p, q) => self
                .sale
                .add(&p, q)
                .map(|l| self.sale_ui.selected = Some(l)),
            E::SetQty(l, q) => self.sale.set_qty(l, q),
            E::Void(l) => self.sale.void_line(l),
            E::LineDiscount(l, d) => self.sale.set_line_discount(l, Some(d)),
            E::SaleDiscount(d) => self.sale.set_sale_discount(Some(d)),
            E::Override(l, price) => return self.ask_approval(Pending::Override(l, price)),
            E::Notice(n) => {
                self.error(n);
                return vec![];
            }
            E::Go(nav) => {
                return match nav {
                    Nav::Pay => {
                        if self.sale.live_lines().next().is_none() {
                            self.error(self.t("sale-empty"));
                            vec![]
                        } else {
                            self.go(Screen::Tender)
                        }
                    }
                    Nav::Park => {
                        if self.sale.live_lines().next().is_none() {
                            self.error(self.t("sale-empty"));
                            return vec![];
                        }
                        let label = format!(
                            "{} {}",
                            self.t("parked-label"),
                            tillpoint_i18n::datetime(self.lang, self.now_ms, self.offset_secs)
                        );
                        vec![Effect::Job(Job::Park(Box::new(self.sale.clone()), label))]
                    }
                    Nav::Parked => vec![Effect::Job(Job::ListParked)],
                    Nav::Refund => {
                        self.refund = refund::State::default();
                        self.go(Screen::Refund)
                    }
                    Nav::Cash => self.go(Screen::Cash),
                    Nav::Reports => {
                        self.reports = reports::State::default();
                        let mut fx = self.go(Screen::Reports);
                        fx.push(Effect::Job(Job::XReport));
                        fx
                    }
                    Nav::Receipts => {
                        let mut fx = self.go(Screen::Receipt);
                        fx.push(Effect::Job(Job::RecentReceipts));
                        fx
                    }
                    Nav::Settings => self.go(Screen::Settings),
                    Nav::Help => self.go(Screen::Help),
                    Nav::Lock => self.lock(),
                    Nav::Logout => {
                        self.cashier = None;
                        self.login = login::State::default();
                        self.go(Screen::Login)
                    }
                };
            }
        };
        if let Err(e) = result {
            self.error(e.to_string());
        }
        vec![]
    }

    fn take_cash(&mut self, given: Money) -> Vec<Effect> {
        match self.sale.pay_cash(given, &self.rules) {
            Ok(change) => {
                self.tender.last_change = Some(change);
                self.complete_if_paid()
            }
            Err(e) => {
                self.error(e.to_string());
                vec![]
            }
        }
    }

    fn complete_if_paid(&mut self) -> Vec<Effect> {
        if self.balance().is_zero() {
            vec![Effect::Job(Job::Complete(Box::new(self.sale.clone())))]
        } else {
            vec![Effect::Focus(tender::CASH_ID)]
        }
    }

    fn ask_approval(&mut self, pending: Pending) -> Vec<Effect> {
        self.approval = Some(ApprovalPrompt {
            pending,
            number: String::new(),
            pin: String::new(),
            error: None,
        });
        vec![Effect::Focus("approval-number")]
    }

    fn approval_msg(&mut self, m: ApprovalMsg) -> Vec<Effect> {
        let Some(a) = &mut self.approval else {
            return vec![];
        };
        match m {
            ApprovalMsg::Number(s) => {
                a.number = s.chars().filter(char::is_ascii_digit).take(6).collect()
            }
            ApprovalMsg::Pin(s) => a.pin = s.chars().filter(char::is_ascii_digit).take(8).collect(),
            ApprovalMsg::Cancel => {
                self.approval = None;
            }
            ApprovalMsg::Submit => {
                let Ok(number) = a.number.parse::<u32>() else {
                    return vec![Effect::Focus("approval-number")];
                };
                if a.pin.len() < 4 {
                    return vec![Effect::Focus("approval-pin")];
                }
                let pin = std::mem::take(&mut a.pin);
                return vec![Effect::Job(Job::Approve {
                    number,
                    pin,
                    action: a.pending.action(),
                })];
            }
        }
        vec![]
    }

    fn approved(&mut self, approval: Approval) -> Vec<Effect> {
        let Some(prompt) = self.approval.take() else {
            return vec![];
        };
        let cashier = self.cashier.as_ref().map_or(0, |c| c.number);
        match prompt.pending {
            Pending::Override(line, price) => {
                if let Err(e) = self.sale.override_price(line, price, &approval) {
                    self.error(e.to_string());
                }
                vec![Effect::Focus(sale::SCAN_ID)]
            }
            Pending::Refund(receipt, picks) => vec![Effect::Job(Job::Refund {
                receipt,
                picks,
                cashier,
                approval,
            })],
            Pending::PostVoid(receipt) => vec![Effect::Job(Job::PostVoid { receipt, approval })],
            Pending::NoSale => vec![Effect::Job(Job::Cash {
                kind: CashMovement::NoSale,
                amount: Money::zero(self.currency),
                cashier,
                approval: Some(approval),
                reason: String::new(),
            })],
            Pending::ZReport => vec![Effect::Job(Job::ZReport(approval))],
        }
    }

    fn outcome(&mut self, o: Outcome) -> Vec<Effect> {
        match o {
            Outcome::Checked(lines) => {
                let acquirer = lines.iter().find(|l| l.id == "acquirer").map(|l| l.ok);
                // In the demo without an `[acquirer]` host the link is the
                // simulator's (or, in a tour, the simulated payment steps).
                self.status.online = acquirer.unwrap_or(self.demo);
                self.startup.lines = lines;
                self.startup.done = true;
                vec![]
            }
            Outcome::LoggedIn(Some(c)) => {
                let first = self.cashier.is_none() || self.screen == Screen::Login;
                self.login = login::State::default();
                if self.screen == Screen::Locked && !first {
                    let back = self.before_lock;
                    return self.go(back);
                }
                self.cashier = Some(c);
                self.new_sale();
                let mut fx = self.go(Screen::Sale);
                fx.push(Effect::Job(Job::Categories));
                fx
            }
            Outcome::LoggedIn(None) => {
                self.login.rejected(self.t("login-wrong"));
                vec![Effect::Focus(login::PIN_ID)]
            }
            Outcome::Approved(Ok(ap)) => self.approved(ap),
            Outcome::Approved(Err(why)) => {
                let msg = if why.is_empty() {
                    self.t("approval-wrong")
                } else {
                    self.t("approval-denied")
                };
                if let Some(a) = &mut self.approval {
                    a.error = Some(msg);
                    a.number.clear();
                }
                vec![Effect::Focus("approval-number")]
            }
            Outcome::Resolved(code, hit) => {
                let Some(hit) = hit else {
                    self.error(self.i18n.tr_args(
                        self.lang,
                        "sale-unknown-code",
                        &[("code", code)],
                    ));
                    return vec![Effect::Focus(sale::SCAN_ID)];
                };
                let result = match &hit.embedded {
                    Some(e) if e.kind == EmbeddedKind::Price => self
                        .sale
                        .add_with_embedded_price(&hit.product, Money::new(e.value, self.currency)),
                    Some(e) => self.sale.add(&hit.product, Qty(e.value)),
                    None => {
                        if let Some(ev) = self.sale_ui.pick(hit.product) {
                            return self.sale_event(ev);
                        }
                        return vec![Effect::Focus("weight")];
                    }
                };
                match result {
                    Ok(l) => self.sale_ui.selected = Some(l),
                    Err(e) => self.error(e.to_string()),
                }
                vec![Effect::Focus(sale::SCAN_ID)]
            }
            Outcome::Found(v) => {
                self.sale_ui.results = v;
                vec![]
            }
            Outcome::Categories(v) => {
                let first = v.first().cloned();
                self.sale_ui.categories = v;
                match (self.sale_ui.category.clone(), first) {
                    (None, Some(c)) => {
                        self.sale_ui.category = Some(c.clone());
                        vec![Effect::Job(Job::Category(c))]
                    }
                    _ => vec![],
                }
            }
            Outcome::CategoryProducts(c, v) => {
                if self.sale_ui.category.as_deref() == Some(c.as_str()) {
                    self.sale_ui.quick = v;
                    self.sale_ui.results.clear();
                }
                vec![]
            }
            Outcome::Completed(record) => {
                self.receipt.change = self
                    .tender
                    .last_change
                    .filter(|c| !c.is_zero())
                    .map(|c| tillpoint_i18n::money(self.lang, c));
                self.receipt.pages.clear();
                self.receipt.record = Some((*record).clone());
                self.new_sale();
                self.screen = Screen::Receipt;
                vec![
                    Effect::Job(Job::AfterSale(record.clone())),
                    Effect::Job(Job::Preview(record)),
                    Effect::Job(Job::RecentReceipts),
                ]
            }
            Outcome::Parked(id) => {
                self.info(
                    self.i18n
                        .tr_args(self.lang, "parked-done", &[("id", id.to_string())]),
                );
                self.new_sale();
                vec![Effect::Focus(sale::SCAN_ID)]
            }
            Outcome::ParkedList(v) => {
                self.parked.list = v;
                self.go(Screen::Parked)
            }
            Outcome::Resumed(s) => {
                self.sale = *s;
                if let Some(c) = &self.cashier {
                    self.sale.cashier = c.number;
                }
                self.go(Screen::Sale)
            }
            Outcome::Receipt(record, prior, voided) => {
                if self.screen == Screen::Refund {
                    self.refund.loaded(*record, prior, voided);
                    vec![]
                } else {
                    self.receipt.change = None;
                    self.receipt.pages.clear();
                    self.receipt.record = Some((*record).clone());
                    self.screen = Screen::Receipt;
                    vec![Effect::Job(Job::Preview(record))]
                }
            }
            Outcome::Refunded(record) => {
                self.info(self.i18n.tr_args(
                    self.lang,
                    "refund-done",
                    &[("number", record.receipt_no.clone())],
                ));
                self.refund = refund::State::default();
                self.receipt.change = None;
                self.receipt.pages.clear();
                self.receipt.record = Some((*record).clone());
                self.screen = Screen::Receipt;
                vec![
                    Effect::Job(Job::Preview(record)),
                    Effect::Job(Job::Status(self.lang)),
                ]
            }
            Outcome::Voided(no) => {
                self.info(
                    self.i18n
                        .tr_args(self.lang, "refund-voided-done", &[("number", no)]),
                );
                self.refund = refund::State::default();
                vec![]
            }
            Outcome::CashDone(kind) => {
                let id = match kind {
                    CashMovement::In => "cash-in-done",
                    CashMovement::Out => "cash-out-done",
                    CashMovement::NoSale => "cash-no-sale-done",
                };
                self.info(self.t(id));
                self.go(Screen::Sale)
            }
            Outcome::Report(r, card, problem) => {
                self.reports.report = Some(*r);
                self.reports.card = card.map(|c| *c);
                if let Some(p) = problem {
                    self.error(p);
                }
                self.screen = Screen::Reports;
                vec![]
            }
            Outcome::Reprinted(no) => {
                self.info(
                    self.i18n
                        .tr_args(self.lang, "preview-reprinted", &[("number", no)]),
                );
                vec![Effect::Job(Job::Print)]
            }
            Outcome::Recent(v) => {
                self.receipt.recent = v;
                vec![]
            }
            Outcome::Status {
                online,
                pending_outbox,
                queued_prints,
                print_problem,
            } => {
                if let Some(up) = online {
                    self.status.online = up;
                }
                self.status.pending_outbox = pending_outbox;
                self.status.queued_prints = queued_prints;
                self.status.print_problem = print_problem;
                vec![]
            }
            Outcome::PrintDone { printed: _, left } => {
                self.status.queued_prints = left as i64;
                vec![Effect::Job(Job::Status(self.lang))]
            }
            Outcome::Payment {
                kind,
                amount,
                step,
                approved,
            } => {
                if let Some(p) = &mut self.tender.progress {
                    p.step = step;
                    p.approved = approved;
                }
                match approved {
                    None => vec![Effect::Job(Job::PaymentStep { kind, amount, step })],
                    Some(false) => vec![],
                    Some(true) => {
                        let card = demo_card_ref(kind, self.now_ms);
                        if let Err(e) = self.sale.pay_electronic(kind, amount, card, &self.rules) {
                            self.error(e.to_string());
                            return vec![];
                        }
                        self.tender.progress = None;
                        self.complete_if_paid()
                    }
                }
            }
            Outcome::PayStage(step) => {
                if let Some(p) = &mut self.tender.progress {
                    p.step = step;
                }
                vec![]
            }
            Outcome::PayDone {
                kind,
                amount,
                result,
            } => match result {
                Ok(card) => {
                    let stan = card.stan.clone();
                    if let Err(e) = self.sale.pay_electronic(kind, amount, *card, &self.rules) {
                        // Approved but not on the sale: give it back.
                        self.backend.abandon_approval(&stan);
                        self.error(e.to_string());
                        return vec![];
                    }
                    self.tender.progress = None;
                    self.complete_if_paid()
                }
                Err(why) => {
                    if let Some(p) = &mut self.tender.progress {
                        p.approved = Some(false);
                    }
                    self.error(why);
                    vec![]
                }
            },
            Outcome::Preview(pages) => {
                self.receipt.pages = pages
                    .into_iter()
                    .map(|(w, h, rgba)| iced::widget::image::Handle::from_rgba(w, h, rgba))
                    .collect();
                vec![]
            }
            Outcome::SettingsSaved(warnings) => {
                self.settings.dirty = false;
                if warnings.is_empty() {
                    self.info(self.t("settings-saved"));
                } else {
                    self.error(self.i18n.tr_args(
                        self.lang,
                        "settings-saved-warnings",
                        &[("warnings", warnings.join("; "))],
                    ));
                }
                vec![Effect::Job(Job::Check)]
            }
            Outcome::Printed(msg) => {
                self.info(msg);
                vec![]
            }
            Outcome::Failed(msg) => {
                self.login.busy = false;
                self.error(msg);
                vec![]
            }
        }
    }

    // ---- iced glue ----

    /// Runs `handle` and turns its effects into iced tasks.
    pub fn update(&mut self, message: Message) -> Task<Message> {
        let effects = self.handle(message);
        Task::batch(effects.into_iter().map(|e| match e {
            Effect::Job(job) => Task::perform(self.backend.spawn(job), Message::Done),
            Effect::Focus(id) => operation::focus(id),
            Effect::Exit => iced::exit(),
            Effect::Stream(job) => Task::run(self.backend.stream(job), Message::Done),
        }))
    }

    pub fn title(&self) -> String {
        match &self.cashier {
            Some(c) => format!("{} — {}", self.t("app-title"), c.name),
            None => self.t("app-title"),
        }
    }

    pub fn theme(&self) -> Theme {
        theme::theme(self.dark)
    }

    pub fn subscription(&self) -> Subscription<Message> {
        let keys = keyboard::listen().filter_map(|event| match event {
            keyboard::Event::KeyPressed {
                key: keyboard::Key::Named(named),
                ..
            } => Some(Message::Key(named)),
            _ => None,
        });
        let tick = iced::time::every(std::time::Duration::from_secs(1)).map(|_| {
            Message::Tick(
                (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64,
            )
        });
        if self.exit_when_ready {
            return Subscription::batch([
                keys,
                tick,
                iced::window::frames().map(|_| Message::Frame),
            ]);
        }
        Subscription::batch([keys, tick])
    }

    pub fn view(&self) -> Element<'_, Message> {
        let ctx = self.ctx();
        let body: Element<'_, Message> = if let Some(a) = &self.approval {
            self.approval_view(&ctx, a)
        } else {
            match self.screen {
                Screen::Startup => self.startup.view(&ctx).map(Message::Startup),
                Screen::Login | Screen::Locked => {
                    self.login.view(&ctx, self.demo_hint()).map(Message::Login)
                }
                Screen::Sale => {
                    let totals = self.totals();
                    self.sale_ui
                        .view(&ctx, &self.sale, totals.as_ref())
                        .map(Message::Sale)
                }
                Screen::Tender => {
                    let bal = self.balance();
                    let due = self.sale.cash_due(&self.rules).unwrap_or(bal);
                    self.tender
                        .view(&ctx, &self.sale, bal, due)
                        .map(Message::Tender)
                }
                Screen::Receipt => self.receipt.view(&ctx).map(Message::Receipt),
                Screen::Refund => self.refund.view(&ctx).map(Message::Refund),
                Screen::Parked => parked::view(&self.parked, &ctx).map(Message::Parked),
                Screen::Cash => self.cash.view(&ctx).map(Message::Cash),
                Screen::Reports => reports::view(&self.reports, &ctx).map(Message::Reports),
                Screen::Settings => {
                    settings::view(&self.settings, &ctx, self.dark).map(Message::Settings)
                }
                Screen::Help => help::view(&ctx, Message::HelpBack),
            }
        };
        let mut col = column![self.status_bar(&ctx)].spacing(4);
        if let Some((n, err)) = &self.notice {
            col = col.push(
                iced::widget::button(theme::notice(n, *err))
                    .on_press(Message::DismissNotice)
                    .padding(0)
                    .style(iced::widget::button::text),
            );
        }
        col.push(container(body).height(Length::Fill).padding(4))
            .padding(4)
            .into()
    }

    fn demo_hint(&self) -> Option<String> {
        if !self.demo || self.screen == Screen::Locked {
            return None;
        }
        let mut s = self.t("login-demo-hint");
        for (c, pin) in tillpoint_app::demo_shop::cashiers() {
            let role = self.t(&format!("role-{}", c.role.as_str()));
            s.push_str(&format!("\n{} / {}  {} ({})", c.number, pin, c.name, role));
        }
        Some(s)
    }

    /// Each configured device with a mark from the last self-check
    /// ("Printer ✓ · PIN pad ✗"); the demo's simulated devices say so.
    fn device_states(&self, ctx: &Ctx<'_>) -> String {
        if self.demo && self.backend.has_devices() {
            return ctx.t("status-devices-sim");
        }
        let parts: Vec<String> = self
            .startup
            .lines
            .iter()
            .filter(|l| matches!(l.id, "printer" | "reader" | "pinpad" | "acquirer"))
            .map(|l| {
                format!(
                    "{} {}",
                    ctx.t(&format!("check-{}", l.id)),
                    if l.ok { "✓" } else { "✗" }
                )
            })
            .collect();
        if parts.is_empty() {
            ctx.t("status-devices-none")
        } else {
            parts.join(" · ")
        }
    }

    fn status_bar(&self, ctx: &Ctx<'_>) -> Element<'_, Message> {
        let who = match &self.cashier {
            Some(c) => ctx.ta(
                "status-cashier",
                &[("name", c.name.clone()), ("number", c.number.to_string())],
            ),
            None => ctx.t("status-nobody"),
        };
        let link = if self.status.online {
            ctx.t("status-online")
        } else {
            ctx.t("status-offline")
        };
        let sync = ctx.ta(
            "status-waiting",
            &[("count", self.status.pending_outbox.max(0).to_string())],
        );
        let devices = self.device_states(ctx);
        let prints = match (&self.status.print_problem, self.status.queued_prints) {
            (Some(p), _) => format!("· {p}"),
            (None, n) if n > 0 => ctx.ta("status-prints", &[("count", n.to_string())]),
            _ => String::new(),
        };
        let mut r = row![
            text(who).size(theme::SMALL).width(Length::FillPortion(3)),
            text(format!("{link} · {sync}"))
                .size(theme::SMALL)
                .width(Length::FillPortion(3)),
            text(format!("{devices} {prints}"))
                .size(theme::SMALL)
                .width(Length::FillPortion(3)),
            text(ctx.datetime(self.now_ms)).size(theme::SMALL),
        ]
        .spacing(theme::GAP)
        .align_y(Alignment::Center);
        if self.demo {
            r = r.push(
                text(ctx.t("status-demo"))
                    .size(theme::SMALL)
                    .color(theme::error_color()),
            );
        }
        container(r)
            .padding([4, 8])
            .style(container::rounded_box)
            .width(Length::Fill)
            .into()
    }

    fn approval_view<'a>(&'a self, ctx: &Ctx<'_>, a: &'a ApprovalPrompt) -> Element<'a, Message> {
        let what = match &a.pending {
            Pending::Override(..) => ctx.t("approval-override"),
            Pending::Refund(..) => ctx.t("approval-refund"),
            Pending::PostVoid(_) => ctx.t("approval-post-void"),
            Pending::NoSale => ctx.t("approval-no-sale"),
            Pending::ZReport => ctx.t("approval-z"),
        };
        let mut c = column![
            theme::title(ctx.t("approval-title")),
            text(what).size(theme::TEXT),
            text_input(&ctx.t("approval-number"), &a.number)
                .id("approval-number")
                .on_input(|s| Message::Approval(ApprovalMsg::Number(s)))
                .on_submit(Message::Approval(ApprovalMsg::Submit))
                .size(theme::TITLE)
                .padding(10),
            text_input(&ctx.t("approval-pin"), &a.pin)
                .id("approval-pin")
                .secure(true)
                .on_input(|s| Message::Approval(ApprovalMsg::Pin(s)))
                .on_submit(Message::Approval(ApprovalMsg::Submit))
                .size(theme::TITLE)
                .padding(10),
            row![
                theme::secondary(
                    ctx.t("common-cancel"),
                    Some(Message::Approval(ApprovalMsg::Cancel))
                )
                .width(Length::Fill),
                theme::primary(
                    ctx.t("approval-approve"),
                    Some(Message::Approval(ApprovalMsg::Submit))
                )
                .width(Length::Fill),
            ]
            .spacing(theme::GAP),
        ]
        .spacing(theme::GAP)
        .max_width(480);
        if let Some(e) = &a.error {
            c = c.push(theme::notice(e, true));
        }
        container(theme::panel(c)).center(Length::Fill).into()
    }
}

/// What a simulated card or QR approval leaves on the receipt (demo mode).
fn demo_card_ref(kind: TenderKind, now_ms: i64) -> CardRef {
    let auth = format!("{:06}", now_ms.rem_euclid(1_000_000));
    match kind {
        TenderKind::Qr => CardRef {
            scheme: "QR".into(),
            entry_mode: "qr".into(),
            auth_code: auth,
            cvm: "none".into(),
            ..CardRef::default()
        },
        _ => CardRef {
            masked_pan: "621234*********4567".into(),
            scheme: "UnionPay".into(),
            app_label: "UnionPay Debit".into(),
            aid: "A000000333010101".into(),
            tvr: "0000000000".into(),
            tsi: "E800".into(),
            auth_code: auth,
            entry_mode: "chip".into(),
            cvm: "pin".into(),
            ..CardRef::default()
        },
    }
}

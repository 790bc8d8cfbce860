//! The application: which screen shows (each holding its own state), the
//! sale and the cashier the screens share, and the routing between them.
//!
//! `handle` is the whole behaviour: it hands each message to the screen it
//! belongs to and turns the screen's event into a change of screen, a
//! notice or more work. Work on the till is returned as effects, never
//! done here: `update` runs them on worker threads, the tests on theirs
//! through the same service, so a test sees exactly what the window does.

/// Builds the view context from the app's fields only, so it can be held
/// while another field (a screen's state) is borrowed mutably.
macro_rules! ctx {
    ($app:expr) => {
        crate::ctx::Ctx {
            i18n: &$app.i18n,
            lang: $app.lang,
            currency: $app.currency,
            offset_secs: $app.offset_secs,
            demo: $app.demo,
            now_ms: $app.now_ms,
            rules: &$app.rules,
            discount_limit: $app.discount_limit,
        }
    };
}

mod clock;
mod customer;
mod events;
mod keys;
mod navigation;
mod window;

pub use window::spawn;

use super::ctx::Ctx;
use super::effect::{Effect, Update};
use super::screen::approval;
use super::screen::{
    cash, cashiers, login, parked, receipt, refund, reports, sale, settings, startup, tender,
};
use super::status_bar::Status;
use iced::keyboard;
use tillpoint_app::check::CheckLine;
use tillpoint_app::customer::CustomerView;
use tillpoint_app::service::{Printed, Service, TillStatus};
use tillpoint_core::cashier::Cashier;
use tillpoint_core::catalog::EmbeddedKind;
use tillpoint_core::money::{Currency, Money};
use tillpoint_core::sale::{PricingRules, Sale, Totals};
use tillpoint_i18n::{I18n, Lang};

/// The screen on show, with its own state.
/// One screen shows at a time: boxing the larger states would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Screen {
    Startup(startup::State),
    /// The login screen, and the lock screen when `locked_for` is set.
    Login(login::State),
    Sale(sale::State),
    Tender(tender::State),
    Receipt(receipt::State),
    Refund(refund::State),
    Parked(parked::State),
    Cash(cash::State),
    Reports(reports::State),
    Settings(settings::Info),
    Cashiers(cashiers::State),
    Help,
}

/// Which screen shows, without its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
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
    Cashiers,
    Help,
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
    Cashiers(cashiers::Msg),
    Approval(approval::Msg),
    HelpBack,
    /// A key the window handles itself (see [`crate::widget::keys`]).
    Key(keyboard::key::Named),
    /// Shift+Tab: the focus moves back.
    BackTab,
    /// Shift+F9 in the demo: the simulated network goes down or comes back.
    DemoLink,
    /// The demo's network was switched (up when `Ok(true)`).
    DemoLinkSwitched(Result<bool, String>),
    /// A character typed where no field took it.
    Typed(char),
    /// A card swiped through the keyboard-wedge stripe reader.
    Swiped(crate::widget::wedge::Swiped),
    Tick(i64),
    /// A frame was drawn (only subscribed to with `exit_when_ready`).
    Frame,
    /// The window manager asks the window to close (subscribed to in kiosk
    /// mode, where only a manager may close the till).
    CloseRequested,
    /// A window closed: the cashier's ends the till; the customer's is
    /// forgotten.
    WindowClosed(iced::window::Id),
    /// A window took the keyboard (the customer's gives it back).
    WindowFocused(iced::window::Id),
    DismissNotice,
    /// The status bar's figures.
    Status(TillStatus),
    /// A print run ended.
    Printed(Result<Printed, String>),
    /// The self-check ran again (after the settings changed).
    Checked(Vec<CheckLine>),
    /// A worker stopped without an answer (it panicked).
    WorkerFailed,
    /// Time to read the demo's pole display again.
    PollDemoPole,
    /// What the demo's pole display shows now.
    DemoPole(Option<[String; 2]>),
}

/// Options the window starts with.
#[derive(Debug, Clone)]
pub struct Options {
    pub demo: bool,
    pub lang: Lang,
    pub dark: bool,
    /// Quit as soon as the first frame is drawn (the cold-start benchmark).
    pub exit_when_ready: bool,
    /// Kiosk mode: full screen, no decorations, closed only by a manager.
    pub kiosk: bool,
}

type Effects = Vec<Effect<Message>>;

/// How long the customer sees paid, change and thanks before the welcome.
pub const THANKS_MS: i64 = 30_000;

pub struct App {
    pub service: Service,
    pub i18n: I18n,
    pub lang: Lang,
    pub dark: bool,
    pub demo: bool,
    pub rules: PricingRules,
    /// `[policy] discount_limit_percent`, for the sale screen.
    pub discount_limit: rust_decimal::Decimal,
    pub currency: Currency,
    pub offset_secs: i32,
    pub idle_lock_ms: i64,
    pub embedded: Vec<(u8, EmbeddedKind)>,
    pub screen: Screen,
    /// The screen the lock screen covers, back after the cashier's PIN.
    locked_over: Option<Box<Screen>>,
    pub cashier: Option<Cashier>,
    /// The sale on the counter, shared by the sale and tender screens.
    pub sale: Sale,
    /// The quick keys, kept while the cashier moves between screens.
    pub shelf: sale::Shelf,
    /// The settings as last read or saved.
    pub settings: settings::Info,
    /// The supervisor approval dialog over the screen, when one is asked.
    pub approval: Option<approval::State>,
    pub notice: Option<(String, bool)>,
    pub now_ms: i64,
    pub last_input_ms: i64,
    pub status: Status,
    pub exit_when_ready: bool,
    /// Kiosk mode (see [`Options::kiosk`]).
    pub kiosk: bool,
    /// The paid sale the customer sees until the next one starts.
    done: Option<CustomerView>,
    /// When the customer was shown the paid sale: the welcome comes back
    /// [`THANKS_MS`] later.
    done_at_ms: i64,
    /// The shop's name, for the customer's idle screen.
    shop: String,
    /// The customer's view last sent to the customer-facing devices.
    shown_customer: Option<CustomerView>,
    /// The customer display's language (`[ui.customer] lang`).
    pub customer_lang: Lang,
    /// The demo's emulated pole display's two lines, drawn on the customer
    /// window so a demo user sees what the pole shows.
    pub demo_pole: Option<[String; 2]>,
    /// The windows open (set by [`crate::run`]; the emulator's one window
    /// is the cashier's).
    pub windows: Windows,
}

/// Which window is which, once they are open.
#[derive(Debug, Clone, Copy, Default)]
pub struct Windows {
    pub cashier: Option<iced::window::Id>,
    pub customer: Option<iced::window::Id>,
}

fn status(lang: Lang) -> Effect<Message> {
    Effect::call(move |s| Message::Status(s.status(lang)))
}

fn print(record: Option<Box<tillpoint_core::sale::SaleRecord>>) -> Effect<Message> {
    Effect::call(move |s| Message::Printed(s.print(record.as_deref())))
}

impl App {
    /// A new application on `service`, running the self-check first.
    pub fn new(service: Service, opts: Options) -> (App, Effects) {
        let (shop, ui) = service.with_till(|t| {
            (
                t.config.shop.name.clone(),
                crate::windows::UiConfig::from_config(&t.config),
            )
        });
        let (rules, discount_limit, offset, idle, embedded, info, now) = service.with_till(|t| {
            let c = &t.config;
            (
                c.pricing.clone(),
                t.store.policy().discount_limit_percent,
                t.clock.offset_secs(),
                i64::from(c.till.idle_lock_minutes) * 60_000,
                c.embedded_prefixes.clone(),
                settings::Info::from_config(c, t.paths.config_file.display().to_string()),
                t.clock.now_ms(),
            )
        });
        let currency = rules.currency;
        let app = App {
            service,
            i18n: I18n::load(),
            lang: opts.lang,
            dark: opts.dark,
            demo: opts.demo,
            rules,
            discount_limit,
            currency,
            offset_secs: offset,
            idle_lock_ms: idle.max(60_000),
            embedded,
            screen: Screen::Startup(startup::State::default()),
            locked_over: None,
            cashier: None,
            sale: Sale::new(currency, 0),
            shelf: sale::Shelf::default(),
            settings: info,
            approval: None,
            notice: None,
            now_ms: now,
            last_input_ms: now,
            status: Status::default(),
            exit_when_ready: opts.exit_when_ready,
            kiosk: opts.kiosk,
            done: None,
            done_at_ms: 0,
            shop,
            shown_customer: None,
            customer_lang: ui.customer_lang(opts.lang),
            demo_pole: None,
            windows: Windows::default(),
        };
        let fx = vec![
            startup::check().map(Message::Startup),
            status(opts.lang),
            print(None),
        ];
        (app, fx)
    }

    pub fn ctx(&self) -> Ctx<'_> {
        ctx!(self)
    }

    fn t(&self, id: &str) -> String {
        self.i18n.tr(self.lang, id)
    }

    /// Which screen shows.
    pub fn shown(&self) -> Shown {
        match &self.screen {
            Screen::Startup(_) => Shown::Startup,
            Screen::Login(l) if l.locked_for.is_some() => Shown::Locked,
            Screen::Login(_) => Shown::Login,
            Screen::Sale(_) => Shown::Sale,
            Screen::Tender(_) => Shown::Tender,
            Screen::Receipt(_) => Shown::Receipt,
            Screen::Refund(_) => Shown::Refund,
            Screen::Parked(_) => Shown::Parked,
            Screen::Cash(_) => Shown::Cash,
            Screen::Reports(_) => Shown::Reports,
            Screen::Settings(_) => Shown::Settings,
            Screen::Cashiers(_) => Shown::Cashiers,
            Screen::Help => Shown::Help,
        }
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

    /// Every refusal the cashier sees comes through here: shown, and beeped.
    fn error(&mut self, text: String) -> Effects {
        self.notice = Some((text, true));
        vec![Effect::beep()]
    }

    fn info(&mut self, text: String) {
        self.notice = Some((text, false));
    }

    fn cashier_no(&self) -> u32 {
        self.cashier.as_ref().map_or(0, |c| c.number)
    }

    /// Shows a screen that asks the service for its content on arrival.
    fn open<M: Send + 'static>(
        &mut self,
        (screen, fx): (Screen, Vec<Effect<M>>),
        wrap: fn(M) -> Message,
    ) -> Effects {
        let mut out = self.go(screen);
        out.extend(fx.into_iter().map(|e| e.map(wrap)));
        out
    }

    /// A new sale for the cashier; approvals taken for the one given up and
    /// not recorded are reversed.
    fn new_sale(&mut self) -> Effects {
        self.sale = Sale::new(self.currency, self.cashier_no());
        self.done = None;
        vec![Effect::run(|s| s.abandon_pending())]
    }

    /// The screen's effects as the application's, and its event handled.
    fn then<M: Send + 'static, E>(
        &mut self,
        u: Update<M, E>,
        wrap: fn(M) -> Message,
        on: fn(&mut App, E) -> Effects,
    ) -> Effects {
        let mut fx: Effects = u.effects.into_iter().map(|e| e.map(wrap)).collect();
        if let Some(e) = u.event {
            fx.extend(on(self, e));
        }
        fx
    }

    /// The behaviour of the application; the customer-facing devices are
    /// told when what the customer should see changed.
    pub fn handle(&mut self, message: Message) -> Effects {
        let mut fx = self.route(message);
        let view = self.customer_view();
        if self.shown_customer.as_ref() != Some(&view) {
            self.shown_customer = Some(view.clone());
            fx.push(Effect::run(move |s| s.show_customer(view)));
        }
        fx
    }

    /// Routes one message (see [`App::handle`]).
    fn route(&mut self, message: Message) -> Effects {
        let input = !matches!(
            message,
            Message::Tick(_)
                | Message::Frame
                | Message::CloseRequested
                | Message::WindowClosed(_)
                | Message::WindowFocused(_)
                | Message::Status(_)
                | Message::Printed(_)
                | Message::Checked(_)
                | Message::DemoLinkSwitched(_)
                | Message::WorkerFailed
        );
        if input {
            self.last_input_ms = self.now_ms;
        }
        let message = match self.late(message) {
            Ok(fx) => return fx,
            Err(message) => message,
        };
        let ctx = ctx!(self);
        macro_rules! on {
            ($variant:ident, $state:ident => $update:expr, $event:expr) => {{
                // What only fills a screen no longer showing is dropped
                // (`late` applied what changes the sale or the books).
                let Screen::$variant($state) = &mut self.screen else {
                    return vec![];
                };
                let u = $update;
                self.then(u, Message::$variant, $event)
            }};
        }
        match message {
            Message::Frame if self.exit_when_ready => vec![Effect::Exit],
            Message::Frame => vec![],
            Message::CloseRequested => self.close_requested(),
            Message::WindowClosed(id) => self.window_closed(id),
            Message::WindowFocused(id) => self.window_focused(id),
            Message::Tick(now) => self.tick(now),
            Message::DismissNotice => {
                self.notice = None;
                vec![]
            }
            Message::Status(s) => {
                self.status.update(s);
                vec![]
            }
            Message::Printed(Ok(p)) => {
                self.status.queued_prints = p.left as i64;
                vec![status(self.lang)]
            }
            Message::Printed(Err(e)) => {
                let mut fx = self.error(e);
                fx.extend(self.refocus());
                fx
            }
            Message::Checked(lines) => self.checked(lines),
            Message::WorkerFailed => self.worker_failed(),
            Message::PollDemoPole => {
                vec![Effect::call(|s| Message::DemoPole(s.demo_pole_lines()))]
            }
            Message::DemoPole(lines) => {
                self.demo_pole = lines;
                vec![]
            }
            Message::Key(keyboard::key::Named::Tab) => self.tab(false),
            Message::BackTab => self.tab(true),
            Message::DemoLink => self.switch_demo_link(),
            Message::DemoLinkSwitched(r) => self.demo_link_switched(r),
            Message::Typed(c) => self.typed(c),
            Message::Swiped(t) => self.swiped(t),
            Message::Key(k) => self.key(k),
            Message::Approval(m) => {
                let Some(a) = &mut self.approval else {
                    return vec![];
                };
                let u = a.update(m, &ctx);
                self.then(u, Message::Approval, App::approval_event)
            }
            Message::HelpBack => self.go(Screen::Sale(sale::State::default())),
            Message::Startup(m) => on!(Startup, s => s.update(m), App::startup_event),
            Message::Login(m) => on!(Login, s => s.update(m, &ctx), App::login_event),
            Message::Sale(m) => on!(
                Sale,
                s => s.update(m, &mut self.sale, &mut self.shelf, &ctx),
                App::sale_event
            ),
            Message::Tender(m) => on!(
                Tender,
                s => s.update(m, &mut self.sale, &self.rules, &ctx),
                App::tender_event
            ),
            Message::Receipt(m) => on!(Receipt, s => s.update(m), App::receipt_event),
            Message::Refund(m) => on!(Refund, s => s.update(m, &ctx), App::refund_event),
            Message::Parked(m) => {
                let open = self.sale.live_lines().next().is_some();
                on!(Parked, s => s.update(m, open, &ctx), App::parked_event)
            }
            Message::Cash(m) => {
                let (cashier, currency) = (self.cashier_no(), self.currency);
                on!(Cash, s => s.update(m, cashier, currency, &ctx), App::cash_event)
            }
            Message::Reports(m) => on!(Reports, s => s.update(m), App::reports_event),
            Message::Settings(m) => on!(Settings, s => s.update(m), App::settings_event),
            Message::Cashiers(m) => on!(Cashiers, s => s.update(m, &ctx), App::cashiers_event),
        }
    }
}

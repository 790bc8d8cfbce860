//! The cashier GUI (iced). `app` routes between the screens, `screen/`
//! holds one module per screen with its own state and messages, `effect`
//! the work they ask of the till's service (run off the UI thread),
//! `status_bar` the bar on every screen, `tour` scripted walks for
//! screenshots and tests.

pub mod app;
pub mod ctx;
pub mod effect;
pub mod screen;
pub mod secret;
pub mod status_bar;
pub mod theme;
pub mod tour;
pub mod widget;
pub mod windows;

use app::{App, Options};
use tillpoint_app::service::Service;
use tillpoint_app::till::Till;
use tillpoint_i18n::Lang;

/// How the window starts, beyond the config file.
#[derive(Debug, Clone, Default)]
pub struct Start {
    pub demo: bool,
    /// Language override ("en-US", "zh-CN").
    pub lang: Option<String>,
    /// Walk to this screen first (see [`tour::SCREENS`]), for screenshots.
    pub tour: Option<String>,
    /// Quit after the first frame (the cold-start benchmark).
    pub exit_when_ready: bool,
    /// Kiosk mode: full screen without decorations; a close request from the
    /// window manager is refused unless a manager is logged in.
    pub kiosk: bool,
}

/// Opens the till's window and runs until it is closed.
pub fn run(till: Till, start: Start) -> iced::Result {
    let lang = Lang::from_code(start.lang.as_deref().unwrap_or(&till.config.till.locale));
    let opts = Options {
        demo: start.demo,
        lang,
        dark: false,
        exit_when_ready: start.exit_when_ready,
        kiosk: start.kiosk,
    };
    let ui = windows::UiConfig::from_config(&till.config);
    let cashier_window = ui.cashier(start.kiosk);
    let customer_window = ui
        .opens_customer(start.demo)
        .then(|| ui.customer(start.kiosk));
    let mut service = Service::for_window(till, start.demo, start.demo && start.tour.is_none());
    let script = start.tour.as_deref().and_then(tour::script);
    if script.is_some() {
        service.step_delay = std::time::Duration::ZERO;
    }
    let boot = move || {
        let (mut app, effects) = App::new(service.clone(), opts.clone());
        // The customer's window first, so that the cashier's, opened
        // last, has the keyboard.
        let mut open = iced::Task::none();
        if let Some(w) = &customer_window {
            let (customer, opened) = iced::window::open(w.clone());
            app.windows.customer = Some(customer);
            open = opened.discard();
        }
        let (cashier, opened) = iced::window::open(cashier_window.clone());
        app.windows.cashier = Some(cashier);
        let open = open
            .chain(opened.discard())
            .chain(iced::window::gain_focus(cashier));
        app.now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        if let Some(script) = &script {
            for e in effects {
                let mut answers = Vec::new();
                e.perform(&service, &mut |m| answers.push(m));
                for m in answers {
                    app.drive(m);
                }
            }
            for m in script.clone() {
                app.drive(m);
            }
            app.last_input_ms = app.now_ms;
            return (app, open);
        }
        let task = app.tasks(effects);
        (app, open.chain(task))
    };
    iced::daemon(boot, App::update, App::window_view)
        .title(App::window_title)
        .theme(|app: &App, _| app.theme())
        .subscription(App::subscription)
        .run()
}

/// The window as an iced program, started by `boot`: what `run` opens, and
/// what the tests run in iced's emulator (tasks, focus and subscriptions
/// as in the real window).
pub fn application(
    boot: impl Fn() -> (App, iced::Task<app::Message>) + 'static,
) -> iced::Application<impl iced::Program<State = App, Message = app::Message, Theme = iced::Theme>>
{
    iced::application(boot, App::update, App::view)
        .title(App::title)
        .theme(App::theme)
        .subscription(App::subscription)
}

/// The window on `service` as the emulator runs it: the same boot as a
/// shop's window, without a tour.
pub fn emulated(
    service: Service,
    opts: Options,
) -> iced::Application<impl iced::Program<State = App, Message = app::Message, Theme = iced::Theme>>
{
    application(move || {
        let (app, effects) = App::new(service.clone(), opts.clone());
        let task = app.tasks(effects);
        (app, task)
    })
}

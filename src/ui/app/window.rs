//! The application as iced runs it: effects become tasks on worker
//! threads, and the state becomes the window's title, theme, subscriptions
//! and view.

use super::{App, Effects, Message, Screen, Shown};
use crate::effect::Effect;
use crate::screen::{help, parked, reports, sale, settings};
use crate::widget::keys;
use crate::{status_bar, theme};
use iced::widget::{column, container, operation};
use iced::{keyboard, Element, Length, Subscription, Task, Theme};
use tillpoint_app::service::Service;

impl App {
    /// Runs `handle`; work goes to a worker thread, its messages back here.
    pub fn update(&mut self, message: Message) -> Task<Message> {
        let effects = self.handle(message);
        self.tasks(effects)
    }

    /// Effects as iced tasks: focus and exit at once, work on threads.
    pub fn tasks(&self, effects: Effects) -> Task<Message> {
        Task::batch(effects.into_iter().map(|e| match e {
            Effect::Focus(id) => operation::focus(id),
            Effect::Unfocus => iced::advanced::widget::operate(
                iced::advanced::widget::operation::focusable::unfocus(),
            ),
            Effect::FocusNext { back: false } => operation::focus_next(),
            Effect::FocusNext { back: true } => operation::focus_previous(),
            Effect::FocusWindow(id) => iced::window::gain_focus(id),
            Effect::Exit => iced::exit(),
            Effect::Now(w) => {
                w(&self.service);
                Task::none()
            }
            work => Task::run(spawn(self.service.clone(), work), |m| m),
        }))
    }

    pub fn title(&self) -> String {
        match &self.cashier {
            Some(c) => format!("{} — {}", self.t("app-title"), c.name),
            None => self.t("app-title"),
        }
    }

    /// A window's title: the customer's, or else the cashier's.
    pub fn window_title(&self, id: iced::window::Id) -> String {
        if self.windows.customer == Some(id) {
            self.customer_title()
        } else {
            self.title()
        }
    }

    /// A window's view: the customer's, or else the cashier's (the
    /// emulator's single window is the cashier's whatever its id).
    pub fn window_view(&self, id: iced::window::Id) -> Element<'_, Message> {
        if self.windows.customer == Some(id) {
            self.customer_window()
        } else {
            self.view()
        }
    }

    pub fn theme(&self) -> Theme {
        theme::theme(self.dark)
    }

    pub fn subscription(&self) -> Subscription<Message> {
        let tick = iced::time::every(std::time::Duration::from_secs(1)).map(|_| {
            Message::Tick(
                (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64,
            )
        });
        let mut all = vec![tick];
        if self.exit_when_ready {
            all.push(iced::window::frames().map(|_| Message::Frame));
        }
        if self.kiosk {
            all.push(iced::window::close_requests().map(|_| Message::CloseRequested));
        }
        if self.windows.cashier.is_some() {
            all.push(iced::window::close_events().map(Message::WindowClosed));
        }
        if self.demo && self.windows.customer.is_some() {
            // The demo's pole display, drawn on the customer's window, is
            // read a few times a second so it keeps up with the counter.
            all.push(
                iced::time::every(std::time::Duration::from_millis(300))
                    .map(|_| Message::PollDemoPole),
            );
        }
        if self.windows.customer.is_some() {
            all.push(iced::window::events().filter_map(|(id, e)| {
                matches!(e, iced::window::Event::Focused).then_some(Message::WindowFocused(id))
            }));
        }
        Subscription::batch(all)
    }

    pub fn view(&self) -> Element<'_, Message> {
        let ctx = self.ctx();
        let body: Element<'_, Message> = match (&self.approval, &self.screen) {
            (Some(a), _) => a.view(&ctx).map(Message::Approval),
            (None, Screen::Startup(s)) => s.view(&ctx).map(Message::Startup),
            (None, Screen::Login(s)) => s.view(&ctx, self.demo_hint()).map(Message::Login),
            (None, Screen::Sale(s)) => {
                let totals = self.totals();
                s.view(&ctx, &self.sale, totals.as_ref(), &self.shelf)
                    .map(Message::Sale)
            }
            (None, Screen::Tender(s)) => {
                let bal = self.balance();
                let due = self.sale.cash_due(&self.rules).unwrap_or(bal);
                s.view(&ctx, &self.sale, bal, due).map(Message::Tender)
            }
            (None, Screen::Receipt(s)) => s.view(&ctx).map(Message::Receipt),
            (None, Screen::Refund(s)) => s.view(&ctx).map(Message::Refund),
            (None, Screen::Parked(s)) => parked::view(s, &ctx).map(Message::Parked),
            (None, Screen::Cash(s)) => s.view(&ctx).map(Message::Cash),
            (None, Screen::Reports(s)) => reports::view(s, &ctx).map(Message::Reports),
            (None, Screen::Settings(s)) => {
                settings::view(s, &ctx, self.dark).map(Message::Settings)
            }
            (None, Screen::Cashiers(s)) => s.view(&ctx).map(Message::Cashiers),
            (None, Screen::Help) => help::view(&ctx, Message::HelpBack),
        };
        let bar = status_bar::view(
            &ctx,
            &self.status,
            self.cashier.as_ref(),
            self.demo && self.service.has_devices(),
        );
        // The notice's slot is always there (empty without one), so a
        // notice appearing does not move the screen in the widget tree,
        // which would take the keyboard focus from its field.
        let notice: Element<'_, Message> = match &self.notice {
            Some((n, err)) => container(
                iced::widget::button(theme::notice(n, *err))
                    .on_press(Message::DismissNotice)
                    .padding(0)
                    .style(iced::widget::button::text),
            )
            .padding(iced::Padding::ZERO.top(4))
            .into(),
            None => iced::widget::Space::new().height(0).into(),
        };
        let body = container(body)
            .height(Length::Fill)
            .padding(iced::Padding::new(4.0).top(8));
        let col = column![bar, notice, body].padding(4);
        keys::catch(
            col,
            |k| match k {
                keys::Key::Named {
                    named: keyboard::key::Named::Tab,
                    shift: true,
                    ..
                } => Message::BackTab,
                keys::Key::Named {
                    named: keyboard::key::Named::F9,
                    shift: true,
                    ..
                } => Message::DemoLink,
                // Shift+F3 discounts the selected line by the typed amount,
                // Ctrl+F3 gives it the typed price (F3 alone: the whole sale).
                keys::Key::Named {
                    named: keyboard::key::Named::F3,
                    shift: true,
                    ..
                } => Message::Sale(sale::Msg::LineDiscount),
                keys::Key::Named {
                    named: keyboard::key::Named::F3,
                    ctrl: true,
                    ..
                } => Message::Sale(sale::Msg::Override),
                keys::Key::Named { named, .. } => Message::Key(named),
                keys::Key::Char(c) => Message::Typed(c),
            },
            Message::Swiped,
        )
    }

    fn demo_hint(&self) -> Option<String> {
        if !self.demo || self.shown() == Shown::Locked {
            return None;
        }
        let mut s = self.t("login-demo-hint");
        for (c, pin) in tillpoint_app::demo_shop::cashiers() {
            let role = self.t(&format!("role-{}", c.role.as_str()));
            s.push_str(&format!("\n{} / {}  {} ({})", c.number, pin, c.name, role));
        }
        Some(s)
    }
}

/// Runs one effect's work on its own thread; its messages arrive on the
/// returned stream as they are made.
pub fn spawn(
    service: Service,
    work: Effect<Message>,
) -> iced::futures::channel::mpsc::UnboundedReceiver<Message> {
    let (tx, rx) = iced::futures::channel::mpsc::unbounded();
    std::thread::spawn(move || {
        let sent = tx.clone();
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            work.perform(&service, &mut |m| {
                let _ = sent.unbounded_send(m);
            })
        }));
        if ran.is_err() {
            let _ = tx.unbounded_send(Message::WorkerFailed);
        }
    });
    rx
}

//! The keyboard: what each key the window catches means on the screen
//! showing, then the shortcuts that work from every screen.

use super::{
    login, receipt, sale, settings, startup, tender, App, Effects, Message, Screen, Shown,
};
use crate::effect::Effect;
use iced::keyboard;

impl App {
    /// Tab moves between the fields of the screen (on the login screen,
    /// between number and PIN, which the screen tracks itself).
    pub(super) fn tab(&mut self, back: bool) -> Effects {
        if self.approval.is_none() {
            if let Screen::Login(_) = self.screen {
                return self.handle(Message::Login(login::Msg::Tab));
            }
        }
        vec![Effect::FocusNext { back }]
    }

    pub(super) fn typed(&mut self, c: char) -> Effects {
        match &self.screen {
            _ if self.approval.is_some() => vec![],
            Screen::Tender(t) => match t.typed(c) {
                Some(m) => self.handle(Message::Tender(m)),
                None => vec![],
            },
            Screen::Refund(r) => match r.typed(c) {
                Some(m) => self.handle(Message::Refund(m)),
                None => vec![],
            },
            Screen::Reports(r) => match r.typed(c) {
                Some(m) => self.handle(Message::Reports(m)),
                None => vec![],
            },
            _ => vec![],
        }
    }

    /// A swipe pays on the payment screen; on the sale screen it opens the
    /// payment for the sale and pays; anywhere else it is refused (and its
    /// tracks dropped).
    pub(super) fn swiped(&mut self, tracks: crate::widget::wedge::Swiped) -> Effects {
        let mut fx = vec![];
        let on_sale = matches!(self.screen, Screen::Sale(_));
        if on_sale && self.approval.is_none() && self.sale.live_lines().next().is_some() {
            fx = self.key(keyboard::key::Named::F12);
        }
        if let (Screen::Tender(_), None) = (&self.screen, &self.approval) {
            fx.extend(self.handle(Message::Tender(tender::Msg::Swiped(tracks))));
            return fx;
        }
        let text = self.t("swipe-not-here");
        fx.extend(self.error(text));
        fx
    }

    /// What a key means on the screen showing, before the shortcuts.
    fn screen_key(&self, k: keyboard::key::Named) -> Option<Message> {
        use keyboard::key::Named as K;
        if self.approval.is_some() {
            return None;
        }
        match (&self.screen, k) {
            // Enter goes on from the self-check, as its Continue button does.
            (Screen::Startup(_), K::Enter) => Some(Message::Startup(startup::Msg::Continue)),
            (Screen::Receipt(_), K::Enter) => Some(Message::Receipt(receipt::Msg::NewSale)),
            (Screen::Help, K::Enter) => Some(Message::HelpBack),
            (Screen::Tender(t), k) => t.key(k).map(Message::Tender),
            (Screen::Sale(s), k) => s.key(k, &self.sale).map(Message::Sale),
            (Screen::Refund(r), k) => r.key(k).map(Message::Refund),
            (Screen::Parked(p), k) => p.key(k).map(Message::Parked),
            (Screen::Cash(c), k) => c.key(k).map(Message::Cash),
            (Screen::Settings(_), k) => {
                settings::key(k, self.lang, self.dark).map(Message::Settings)
            }
            (Screen::Cashiers(c), k) => c.key(k).map(Message::Cashiers),
            _ => None,
        }
    }

    pub(super) fn key(&mut self, k: keyboard::key::Named) -> Effects {
        use keyboard::key::Named as K;
        if let Some(m) = self.screen_key(k) {
            return self.handle(m);
        }
        if self.cashier.is_none()
            || matches!(self.shown(), Shown::Locked | Shown::Login | Shown::Startup)
        {
            return vec![];
        }
        let paying = matches!(&self.screen, Screen::Tender(t) if t.busy());
        if k == K::Escape {
            if self.approval.take().is_some() {
                return vec![];
            }
            if let Screen::Sale(s) = &mut self.screen {
                if s.weighing.take().is_some() {
                    return vec![Effect::Focus(sale::SCAN_ID)];
                }
            }
            let unanswered = matches!(&self.screen,
                Screen::Tender(t) if t.completing
                    || t.progress.as_ref().is_some_and(|p| p.approved.is_none()));
            if unanswered {
                return vec![];
            }
            return self.go(Screen::Sale(sale::State::default()));
        }
        let nav = match k {
            K::F1 => sale::Nav::Help,
            K::F2 => return vec![Effect::Focus(sale::SEARCH_ID)],
            K::F4 => sale::Nav::Park,
            K::F5 => sale::Nav::Parked,
            K::F6 => sale::Nav::Refund,
            K::F7 => sale::Nav::Cash,
            K::F8 => sale::Nav::Reports,
            K::F9 => sale::Nav::Settings,
            K::F10 => sale::Nav::Lock,
            K::F11 => sale::Nav::Receipts,
            K::F12 => sale::Nav::Pay,
            _ => return vec![],
        };
        if paying || self.approval.is_some() {
            return vec![];
        }
        if nav == sale::Nav::Lock {
            return self.lock();
        }
        let empty = self.sale.live_lines().next().is_none();
        if matches!(nav, sale::Nav::Pay | sale::Nav::Park) && empty {
            return self.error(self.t("sale-empty"));
        }
        // The shortcuts act as the sale screen's buttons do, from any screen.
        if !matches!(self.screen, Screen::Sale(_)) {
            self.leave();
            self.screen = Screen::Sale(sale::State::default());
        }
        self.handle(Message::Sale(sale::Msg::Go(nav)))
    }

    /// A close request from the window manager: outside kiosk mode the
    /// window closes; in kiosk mode only while a manager is logged in, and
    /// anyone else is told so.
    pub(super) fn close_requested(&mut self) -> Effects {
        let manager = self
            .cashier
            .as_ref()
            .is_some_and(|c| c.role == tillpoint_core::cashier::Role::Manager);
        if !self.kiosk || manager {
            return vec![Effect::Exit];
        }
        let text = self.i18n.tr(self.lang, "kiosk-close-refused");
        self.error(text)
    }

    pub(super) fn window_closed(&mut self, id: iced::window::Id) -> Effects {
        if self.windows.customer == Some(id) {
            self.windows.customer = None;
            return vec![];
        }
        if self.windows.cashier == Some(id) {
            return vec![Effect::Exit];
        }
        vec![]
    }

    /// The customer's window never keeps the keyboard: the scanner and
    /// the cashier type into the cashier's.
    pub(super) fn window_focused(&mut self, id: iced::window::Id) -> Effects {
        match (self.windows.customer == Some(id), self.windows.cashier) {
            (true, Some(cashier)) => vec![Effect::FocusWindow(cashier)],
            _ => vec![],
        }
    }

    /// Shift+F9 in the demo takes the simulated network down, or brings it
    /// back (see [`tillpoint_app::service::Service::set_demo_link`]).
    pub(super) fn switch_demo_link(&mut self) -> Effects {
        if !self.demo {
            return vec![];
        }
        let up = !self.status.demo_link.unwrap_or(true);
        vec![Effect::call(move |s| {
            Message::DemoLinkSwitched(s.set_demo_link(up).map(|()| up))
        })]
    }

    pub(super) fn demo_link_switched(&mut self, switched: Result<bool, String>) -> Effects {
        match switched {
            Ok(up) => {
                self.status.demo_link = Some(up);
                let text = self.t(if up { "demo-link-up" } else { "demo-link-down" });
                self.info(text);
                let mut fx = vec![super::status(self.lang)];
                fx.extend(self.refocus());
                fx
            }
            Err(e) => {
                tracing::info!("demo link not switched: {e}");
                let text = self.t("demo-link-none");
                let mut fx = self.error(text);
                fx.extend(self.refocus());
                fx
            }
        }
    }

    pub(super) fn lock(&mut self) -> Effects {
        let Some(number) = self.cashier.as_ref().map(|c| c.number) else {
            return vec![];
        };
        // A supervisor's approval is not asked for over the lock screen.
        self.approval = None;
        self.leave();
        let covered = std::mem::replace(&mut self.screen, Screen::Help);
        self.locked_over = Some(Box::new(covered));
        self.go(Screen::Login(login::State::locked(number)))
    }
}

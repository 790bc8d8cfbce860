//! Changing the screen on show, and where the keyboard focus starts on it.

use super::{App, Effects, Screen};
use crate::effect::Effect;
use crate::screen::{cash, cashiers, login, refund, sale, tender};

impl App {
    /// Shows `screen`, with the focus where its cashier starts typing.
    pub(super) fn go(&mut self, screen: Screen) -> Effects {
        self.leave();
        self.screen = screen;
        self.refocus()
    }

    /// Puts the focus back where the screen on show starts typing. A
    /// notice raised from outside the screen (a printer fault, the demo's
    /// network switch) rebuilds the window around it, and iced then drops
    /// the focus: the cashier's next scan must still land.
    pub(super) fn refocus(&self) -> Effects {
        let focus = match &self.screen {
            Screen::Sale(_) => Some(sale::SCAN_ID),
            Screen::Tender(_) => Some(tender::CASH_ID),
            Screen::Refund(_) => Some(refund::LOOKUP_ID),
            Screen::Cash(_) => Some(cash::AMOUNT_ID),
            Screen::Cashiers(_) => Some(cashiers::NUMBER_ID),
            // A fresh login starts at the number; the lock screen at the PIN.
            Screen::Login(l) if l.locked_for.is_some() => Some(login::PIN_ID),
            Screen::Login(_) => Some(login::NUMBER_ID),
            _ => None,
        };
        focus.map(Effect::Focus).into_iter().collect()
    }

    /// The screen on show is left: what it holds for later is kept (the
    /// settings being edited).
    pub(super) fn leave(&mut self) {
        if let Screen::Settings(s) = &self.screen {
            self.settings = s.clone();
        }
    }
}

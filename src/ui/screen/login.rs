//! Login (and the idle lock screen): cashier number and PIN on a large
//! on-screen keypad or the keyboard.

use crate::ctx::Ctx;
use crate::effect::{Effect, Update};
use crate::theme;
use crate::widget::keypad;
use iced::widget::{column, container, row, text, text_input};
use iced::{Alignment, Element, Length};
use tillpoint_app::service::Login;
use tillpoint_core::cashier::Cashier;

pub const NUMBER_ID: &str = "login-number";
pub const PIN_ID: &str = "login-pin";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Field {
    #[default]
    Number,
    Pin,
}

/// `Debug` leaves the PIN out (see [`crate::secret`]).
#[derive(Clone, Default)]
pub struct State {
    pub number: String,
    pub pin: String,
    pub field: Field,
    pub error: Option<String>,
    /// On the lock screen: the cashier who must unlock.
    pub locked_for: Option<u32>,
    pub busy: bool,
}

/// `Debug` leaves typed digits out: a key may be a PIN's.
#[derive(Clone)]
pub enum Msg {
    NumberChanged(String),
    PinChanged(String),
    Focus(Field),
    /// Tab (or Shift+Tab): the other field.
    Tab,
    Key(char),
    Backspace,
    Clear,
    Submit,
    /// The service's answer: the cashier, `None` for a wrong number or
    /// PIN, or why it could not check.
    Answer(Result<Login, String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The number and PIN were right.
    LoggedIn(Cashier),
    /// The check itself failed (the store is unreadable), in words.
    Failed(String),
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("number", &self.number)
            .field("pin", &crate::secret::Redacted(&self.pin))
            .field("field", &self.field)
            .field("error", &self.error)
            .field("locked_for", &self.locked_for)
            .field("busy", &self.busy)
            .finish()
    }
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::NumberChanged(n) => f.debug_tuple("NumberChanged").field(n).finish(),
            Msg::PinChanged(p) => f
                .debug_tuple("PinChanged")
                .field(&crate::secret::Redacted(p))
                .finish(),
            Msg::Focus(x) => f.debug_tuple("Focus").field(x).finish(),
            Msg::Tab => f.write_str("Tab"),
            Msg::Key(_) => f.write_str("Key(<redacted>)"),
            Msg::Backspace => f.write_str("Backspace"),
            Msg::Clear => f.write_str("Clear"),
            Msg::Submit => f.write_str("Submit"),
            Msg::Answer(a) => f.debug_tuple("Answer").field(a).finish(),
        }
    }
}

/// What a keypad key or field change comes to.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Typing, or a move between the fields.
    Nothing,
    /// Enter was pressed without what it needs: the cashier is told this
    /// message id.
    Need(&'static str),
    /// A number and PIN to check.
    Check(u32, String),
}

fn digits(s: &str, max: usize) -> String {
    s.chars().filter(char::is_ascii_digit).take(max).collect()
}

/// A refused login: the focus back on the PIN for the next try, and the
/// refusal beep.
fn refused() -> Update<Msg, Event> {
    Update {
        effects: vec![Effect::Focus(PIN_ID), Effect::beep()],
        event: None,
    }
}

impl State {
    pub fn locked(number: u32) -> State {
        State {
            number: number.to_string(),
            field: Field::Pin,
            locked_for: Some(number),
            ..State::default()
        }
    }

    pub fn update(&mut self, msg: Msg, ctx: &Ctx<'_>) -> Update<Msg, Event> {
        match msg {
            Msg::Answer(Ok(Login::Welcome(c))) => {
                *self = State::default();
                Update::event(Event::LoggedIn(c))
            }
            Msg::Answer(Ok(Login::Wrong { tries_left })) => {
                self.rejected(ctx.ta("login-wrong-left", &[("left", tries_left.to_string())]));
                refused()
            }
            Msg::Answer(Ok(Login::Locked { until_ms })) => {
                self.rejected(ctx.pin_locked(until_ms));
                refused()
            }
            Msg::Answer(Err(why)) => {
                self.busy = false;
                Update::event(Event::Failed(why))
            }
            msg => {
                let field = self.field;
                let u = self.login_intent(msg, ctx);
                // The keyboard follows the field the keypad or Enter moved to.
                match (field, self.field) {
                    (Field::Number, Field::Pin) => u.with(Effect::Focus(PIN_ID)),
                    (Field::Pin, Field::Number) => u.with(Effect::Focus(NUMBER_ID)),
                    _ => u,
                }
            }
        }
    }

    fn login_intent(&mut self, msg: Msg, ctx: &Ctx<'_>) -> Update<Msg, Event> {
        match self.intent(msg) {
            // The lock screen opens only for the cashier who locked it.
            Step::Check(number, _) if self.locked_for.is_some_and(|n| n != number) => {
                self.rejected(ctx.t("login-wrong"));
                refused()
            }
            Step::Check(number, pin) => {
                Update::effect(Effect::call(move |s| Msg::Answer(s.login(number, &pin))))
            }
            Step::Need(id) => {
                self.error = Some(ctx.t(id));
                Update::none()
            }
            Step::Nothing => Update::none(),
        }
    }

    /// The keypad and fields; a submitted number and PIN.
    fn intent(&mut self, msg: Msg) -> Step {
        self.error = None;
        match msg {
            Msg::NumberChanged(s) if self.locked_for.is_none() => self.number = digits(&s, 6),
            Msg::NumberChanged(_) => {}
            Msg::PinChanged(s) => self.pin = digits(&s, 8),
            Msg::Focus(f) => self.field = f,
            Msg::Tab if self.locked_for.is_none() => {
                self.field = match self.field {
                    Field::Number => Field::Pin,
                    Field::Pin => Field::Number,
                }
            }
            Msg::Tab => {}
            Msg::Key(c) if c.is_ascii_digit() => match self.field {
                Field::Number if self.locked_for.is_none() && self.number.len() < 6 => {
                    self.number.push(c)
                }
                Field::Pin if self.pin.len() < 8 => self.pin.push(c),
                _ => {}
            },
            Msg::Key(_) => {}
            Msg::Backspace => {
                match self.field {
                    Field::Number if self.locked_for.is_none() => self.number.pop(),
                    _ => self.pin.pop(),
                };
            }
            Msg::Clear => {
                self.pin.clear();
                if self.locked_for.is_none() {
                    self.number.clear();
                    self.field = Field::Number;
                }
            }
            Msg::Submit => {
                let Ok(number) = self.number.parse::<u32>() else {
                    self.field = Field::Number;
                    return Step::Need("login-need-number");
                };
                if self.field == Field::Number && self.pin.is_empty() {
                    self.field = Field::Pin;
                    return Step::Nothing;
                }
                if self.pin.len() < 4 {
                    self.field = Field::Pin;
                    return Step::Need("login-need-pin");
                }
                self.busy = true;
                return Step::Check(number, std::mem::take(&mut self.pin));
            }
            Msg::Answer(_) => {}
        }
        Step::Nothing
    }

    /// The login failed: say so and let the cashier try the PIN again.
    pub fn rejected(&mut self, message: String) {
        self.busy = false;
        self.pin.clear();
        self.field = Field::Pin;
        self.error = Some(message);
    }

    pub fn view<'a>(&'a self, ctx: &Ctx<'_>, demo_hint: Option<String>) -> Element<'a, Msg> {
        let heading = match self.locked_for {
            Some(n) => ctx.ta("login-locked", &[("number", n.to_string())]),
            None => ctx.t("login-title"),
        };
        let number = text_input(&ctx.t("login-number"), &self.number)
            .id(NUMBER_ID)
            .on_input(Msg::NumberChanged)
            .on_submit(Msg::Submit)
            .size(theme::HUGE * 0.7)
            .padding(10);
        let pin = text_input(&ctx.t("login-pin"), &self.pin)
            .id(PIN_ID)
            .secure(true)
            .on_input(Msg::PinChanged)
            .on_submit(Msg::Submit)
            .size(theme::HUGE * 0.7)
            .padding(10);
        let field_button = |label: String, f: Field| {
            let b = theme::big(label, Some(Msg::Focus(f))).width(Length::Fill);
            if self.field == f {
                b.style(iced::widget::button::primary)
            } else {
                b.style(iced::widget::button::secondary)
            }
        };
        let fields = column![
            row![
                field_button(ctx.t("login-number"), Field::Number).width(160),
                number
            ]
            .spacing(theme::GAP),
            row![field_button(ctx.t("login-pin"), Field::Pin).width(160), pin].spacing(theme::GAP),
        ]
        .spacing(theme::GAP);
        let labels = [ctx.t("key-enter"), ctx.t("key-clear"), ctx.t("key-back")];
        let pad = keypad::view(
            Msg::Key,
            Msg::Backspace,
            Msg::Clear,
            Msg::Submit,
            [&labels[0], &labels[1], &labels[2]],
        );
        let mut col = column![theme::title(heading), fields, pad]
            .spacing(16)
            .max_width(520)
            .align_x(Alignment::Center);
        if let Some(e) = &self.error {
            col = col.push(theme::notice(e, true));
        }
        if let Some(hint) = demo_hint {
            col = col.push(theme::panel(text(hint).size(theme::SMALL)).width(Length::Fill));
        }
        container(col).center(Length::Fill).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tillpoint_core::cashier::Role;

    #[test]
    fn typing_number_then_pin_submits_a_login() {
        let mut s = State::default();
        for c in "1001".chars() {
            s.intent(Msg::Key(c));
        }
        assert_eq!(
            s.intent(Msg::Submit),
            Step::Nothing,
            "first Enter moves to the PIN"
        );
        assert_eq!(s.field, Field::Pin);
        for c in "12345678901".chars() {
            s.intent(Msg::Key(c));
        }
        assert_eq!(s.pin.len(), 8, "PIN is capped at 8 digits");
        s.intent(Msg::Backspace);
        assert_eq!(s.intent(Msg::Submit), Step::Check(1001, "1234567".into()));
        assert!(s.pin.is_empty(), "the PIN does not stay in memory");
        s.rejected("wrong".into());
        assert_eq!(s.error.as_deref(), Some("wrong"));
    }

    #[test]
    fn a_submitted_login_asks_the_service_and_its_answer_decides() {
        let ctx = Ctx::for_tests();
        let mut s = State {
            number: "1001".into(),
            pin: "1234".into(),
            field: Field::Pin,
            ..State::default()
        };
        let u = s.update(Msg::Submit, &ctx);
        assert!(u.event.is_none() && u.effects.len() == 1 && u.effects[0].is_work());
        assert!(s.busy);
        let u = s.update(Msg::Answer(Ok(Login::Wrong { tries_left: 2 })), &ctx);
        assert!(u.effects[0].is_focus(PIN_ID));
        assert!(
            s.error.as_deref().is_some_and(|e| e.contains('2')) && !s.busy,
            "a wrong PIN is said, with the tries left: {:?}",
            s.error
        );
        let until_ms = ctx.now_ms + 9 * 60_000 + 1;
        s.update(Msg::Answer(Ok(Login::Locked { until_ms })), &ctx);
        assert!(
            s.error.as_deref().is_some_and(|e| e.contains("10 min")),
            "a lockout says for how long: {:?}",
            s.error
        );
        let ann = Cashier {
            number: 1001,
            name: "Ann".into(),
            role: Role::Cashier,
        };
        let u = s.update(Msg::Answer(Ok(Login::Welcome(ann.clone()))), &ctx);
        assert_eq!(u.event, Some(Event::LoggedIn(ann)));
        let u = s.update(Msg::Answer(Err("disk".into())), &ctx);
        assert_eq!(u.event, Some(Event::Failed("disk".into())));
    }

    /// Enter on the number moves the keyboard to the PIN field, not only
    /// the highlight, so a cashier typing number, Enter, PIN, Enter logs in.
    #[test]
    fn enter_moves_the_keyboard_focus_to_the_pin() {
        let ctx = Ctx::for_tests();
        let mut s = State::default();
        s.update(Msg::NumberChanged("1001".into()), &ctx);
        let u = s.update(Msg::Submit, &ctx);
        assert_eq!(s.field, Field::Pin);
        assert!(
            u.effects.iter().any(|e| e.is_focus(PIN_ID)),
            "{:?}",
            u.effects
        );
        let u = s.update(Msg::Clear, &ctx);
        assert!(u.effects.iter().any(|e| e.is_focus(NUMBER_ID)));
    }

    /// Enter without a number, or with a short PIN, says what is missing
    /// and puts the focus where it must be typed; Tab moves between the
    /// two fields, keyboard focus included.
    #[test]
    fn enter_says_what_is_missing_and_tab_moves_between_fields() {
        let ctx = Ctx::for_tests();
        let mut s = State::default();
        let u = s.update(Msg::Submit, &ctx);
        assert!(u.effects.is_empty() && u.event.is_none());
        assert_eq!(
            s.error.as_deref(),
            Some(ctx.t("login-need-number").as_str())
        );
        assert_eq!(s.field, Field::Number);
        let u = s.update(Msg::Tab, &ctx);
        assert_eq!(s.field, Field::Pin);
        assert!(
            u.effects.iter().any(|e| e.is_focus(PIN_ID)),
            "{:?}",
            u.effects
        );
        assert!(s.error.is_none(), "typing on clears the message");
        s.update(Msg::PinChanged("12".into()), &ctx);
        let u = s.update(Msg::Submit, &ctx);
        assert_eq!(s.field, Field::Number, "no number yet: back to it");
        assert!(
            u.effects.iter().any(|e| e.is_focus(NUMBER_ID)),
            "{:?}",
            u.effects
        );
        s.update(Msg::NumberChanged("1001".into()), &ctx);
        s.update(Msg::Tab, &ctx);
        let u = s.update(Msg::Submit, &ctx);
        assert!(
            !u.effects.iter().any(Effect::is_work),
            "a 2-digit PIN is not checked"
        );
        assert_eq!(s.error.as_deref(), Some(ctx.t("login-need-pin").as_str()));
        let u = s.update(Msg::Tab, &ctx);
        assert!(u.effects.iter().any(|e| e.is_focus(NUMBER_ID)));
        // On the lock screen the number is fixed: Tab stays on the PIN.
        let mut l = State::locked(1001);
        l.update(Msg::Tab, &ctx);
        assert_eq!(l.field, Field::Pin);
    }

    #[test]
    fn lock_screen_keeps_the_cashier_number() {
        let ctx = Ctx::for_tests();
        let mut s = State::locked(1001);
        s.intent(Msg::NumberChanged("9999".into()));
        s.intent(Msg::Clear);
        assert_eq!(s.number, "1001");
        assert_eq!(s.field, Field::Pin);
        s.intent(Msg::NumberChanged("12ab".into()));
        assert_eq!(s.number, "1001");
        // Another cashier's number cannot open it, without asking the till.
        s.locked_for = Some(2001);
        s.pin = "1234".into();
        let u = s.update(Msg::Submit, &ctx);
        assert!(s.error.is_some());
        assert!(
            u.effects.iter().any(|e| e.is_focus(PIN_ID)),
            "{:?}",
            u.effects
        );
        // The one piece of work is the refusal beep, not a login.
        assert_eq!(u.effects.iter().filter(|e| e.is_work()).count(), 1);
    }
}

//! The cashiers of the till, for a manager: who may log in and with what
//! role, adding one or changing a name, role or PIN, taking one off the
//! till, and lifting a lockout. Every change waits for a manager's number
//! and PIN approving it for that one cashier number, and is journaled with
//! that manager by the store.

use crate::ctx::Ctx;
use crate::effect::{Effect, Update};
use crate::screen::approval::Pending;
use crate::theme;
use iced::keyboard::key::Named;
use iced::widget::{button, column, row, scrollable, text, text_input, Column};
use iced::{Alignment, Element, Length};
use tillpoint_core::cashier::{Approval, Cashier, Role};

pub const NUMBER_ID: &str = "cashier-number";

/// A change to the cashiers that waits for a manager.
#[derive(Clone, PartialEq, Eq)]
pub enum Change {
    /// Adds the cashier or changes their name, role and PIN.
    Save(Cashier, String),
    Remove(u32),
    Unlock(u32),
}

impl Change {
    /// The cashier number the manager's approval names.
    pub fn number(&self) -> u32 {
        match self {
            Change::Save(c, _) => c.number,
            Change::Remove(n) | Change::Unlock(n) => *n,
        }
    }
}

/// Leaves the new PIN out.
impl std::fmt::Debug for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Save(c, pin) => f
                .debug_tuple("Save")
                .field(c)
                .field(&crate::secret::Redacted(pin))
                .finish(),
            Change::Remove(n) => f.debug_tuple("Remove").field(n).finish(),
            Change::Unlock(n) => f.debug_tuple("Unlock").field(n).finish(),
        }
    }
}

/// The list and the form. `Debug` leaves the PIN out.
#[derive(Clone, Default)]
pub struct State {
    pub cashiers: Vec<Cashier>,
    pub number: String,
    pub name: String,
    pub role: Option<Role>,
    pub pin: String,
    /// What the last change came to, in words (`true`: a refusal).
    pub outcome: Option<(String, bool)>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("cashiers", &self.cashiers)
            .field("number", &self.number)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("pin", &crate::secret::Redacted(&self.pin))
            .field("outcome", &self.outcome)
            .finish()
    }
}

#[derive(Clone)]
pub enum Msg {
    Loaded(Result<Vec<Cashier>, String>),
    Pick(Cashier),
    Number(String),
    Name(String),
    Role(Role),
    Pin(String),
    Save,
    Remove,
    Unlock,
    Back,
    /// A change was carried out (or refused), in words.
    Done(Result<String, String>),
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Pin(p) => f
                .debug_tuple("Pin")
                .field(&crate::secret::Redacted(p))
                .finish(),
            Msg::Loaded(l) => f.debug_tuple("Loaded").field(l).finish(),
            Msg::Pick(c) => f.debug_tuple("Pick").field(c).finish(),
            Msg::Number(n) => f.debug_tuple("Number").field(n).finish(),
            Msg::Name(n) => f.debug_tuple("Name").field(n).finish(),
            Msg::Role(r) => f.debug_tuple("Role").field(r).finish(),
            Msg::Done(d) => f.debug_tuple("Done").field(d).finish(),
            Msg::Save => f.write_str("Save"),
            Msg::Remove => f.write_str("Remove"),
            Msg::Unlock => f.write_str("Unlock"),
            Msg::Back => f.write_str("Back"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The change needs a manager's approval first.
    Approve(Pending),
    Back,
}

/// Opens the screen and loads the list.
pub fn open() -> (State, Effect<Msg>) {
    (State::default(), load())
}

fn load() -> Effect<Msg> {
    Effect::call(|s| Msg::Loaded(s.cashiers()))
}

/// Carries out `change` with the manager's approval; the list reloads.
pub fn apply(change: Change, ap: Approval) -> Effect<Msg> {
    Effect::call(move |s| {
        Msg::Done(match &change {
            Change::Save(c, pin) => s
                .save_cashier(c, pin, Some(&ap))
                .map(|()| format!("{} {}", c.number, c.name)),
            Change::Remove(n) => s.remove_cashier(*n, &ap).map(|_| n.to_string()),
            Change::Unlock(n) => s.unlock_login(*n, &ap).map(|_| n.to_string()),
        })
    })
}

impl State {
    /// The keys of the screen (the fields keep the focus, Enter in any of
    /// them saves): ↑ ↓ take the next or previous cashier of the list into
    /// the form, F2 F3 F4 choose the role, F5 lifts a lockout, F6 takes
    /// the cashier off the till.
    pub fn key(&self, k: Named) -> Option<Msg> {
        let at = self
            .cashiers
            .iter()
            .position(|c| c.number.to_string() == self.number);
        let pick = |i: usize| self.cashiers.get(i).cloned().map(Msg::Pick);
        match k {
            Named::ArrowDown => pick(at.map_or(0, |i| i + 1)),
            Named::ArrowUp => pick(at.map_or(0, |i| i.saturating_sub(1))),
            Named::F2 => Some(Msg::Role(Role::Cashier)),
            Named::F3 => Some(Msg::Role(Role::Supervisor)),
            Named::F4 => Some(Msg::Role(Role::Manager)),
            Named::F5 => Some(Msg::Unlock),
            Named::F6 => Some(Msg::Remove),
            _ => None,
        }
    }

    pub fn update(&mut self, msg: Msg, ctx: &Ctx<'_>) -> Update<Msg, Event> {
        match msg {
            Msg::Loaded(Ok(list)) => {
                self.cashiers = list;
                Update::none()
            }
            Msg::Loaded(Err(e)) => {
                self.outcome = Some((e, true));
                Update::none()
            }
            Msg::Pick(c) => {
                self.number = c.number.to_string();
                self.name = c.name;
                self.role = Some(c.role);
                self.pin.clear();
                Update::none()
            }
            Msg::Number(s) => {
                self.number = s.chars().filter(char::is_ascii_digit).take(6).collect();
                Update::none()
            }
            Msg::Name(s) => {
                self.name = s.chars().take(40).collect();
                Update::none()
            }
            Msg::Role(r) => {
                self.role = Some(r);
                Update::none()
            }
            Msg::Pin(s) => {
                self.pin = s.chars().filter(char::is_ascii_digit).take(8).collect();
                Update::none()
            }
            Msg::Back => Update::event(Event::Back),
            Msg::Done(done) => {
                self.outcome = Some(match done {
                    Ok(who) => (ctx.ta("cashiers-done", &[("who", who)]), false),
                    Err(e) => (e, true),
                });
                self.pin.clear();
                Update::effect(load())
            }
            Msg::Save | Msg::Remove | Msg::Unlock => match self.change(&msg, ctx) {
                Ok(change) => Update::event(Event::Approve(Pending::Cashiers(change))),
                Err(why) => {
                    self.outcome = Some((why, true));
                    Update::effect(Effect::Focus(NUMBER_ID))
                }
            },
        }
    }

    /// The change the form asks for, or why it is not one.
    fn change(&self, msg: &Msg, ctx: &Ctx<'_>) -> Result<Change, String> {
        let number = self
            .number
            .parse::<u32>()
            .map_err(|_| ctx.t("cashiers-need-number"))?;
        match msg {
            Msg::Remove => Ok(Change::Remove(number)),
            Msg::Unlock => Ok(Change::Unlock(number)),
            _ => {
                if self.name.trim().is_empty() {
                    return Err(ctx.t("cashiers-need-name"));
                }
                let role = self.role.ok_or_else(|| ctx.t("cashiers-need-role"))?;
                if self.pin.len() < 4 {
                    return Err(ctx.t("cashiers-need-pin"));
                }
                Ok(Change::Save(
                    Cashier {
                        number,
                        name: self.name.trim().to_owned(),
                        role,
                    },
                    self.pin.clone(),
                ))
            }
        }
    }

    pub fn view<'a>(&'a self, ctx: &Ctx<'_>) -> Element<'a, Msg> {
        let role_name = |r: Role| ctx.t(&format!("role-{}", r.as_str()));
        let mut list = Column::new().spacing(4);
        for c in &self.cashiers {
            list = list.push(
                button(
                    row![
                        text(c.number.to_string()).size(theme::TEXT).width(90),
                        text(c.name.clone()).size(theme::TEXT).width(Length::Fill),
                        text(role_name(c.role)).size(theme::TEXT).width(140),
                    ]
                    .spacing(theme::GAP),
                )
                .on_press(Msg::Pick(c.clone()))
                .style(button::secondary)
                .width(Length::Fill),
            );
        }
        let role = |r: Role, key: &str| {
            let b = button(text(theme::keyed(role_name(r), key)).size(theme::TEXT))
                .on_press(Msg::Role(r))
                .padding(10)
                .width(Length::Fill);
            if self.role == Some(r) {
                b.style(button::primary)
            } else {
                b.style(button::secondary)
            }
        };
        let input = |hint: &str, value: &'a str, on: fn(String) -> Msg| {
            text_input(&ctx.t(hint), value)
                .on_input(on)
                .size(theme::TEXT)
                .padding(10)
        };
        let mut form = column![
            input("cashiers-number", &self.number, Msg::Number)
                .id(NUMBER_ID)
                .on_submit(Msg::Save),
            input("cashiers-name", &self.name, Msg::Name).on_submit(Msg::Save),
            row![
                role(Role::Cashier, "F2"),
                role(Role::Supervisor, "F3"),
                role(Role::Manager, "F4")
            ]
            .spacing(theme::GAP),
            input("cashiers-pin", &self.pin, Msg::Pin)
                .secure(true)
                .on_submit(Msg::Save),
            row![
                theme::primary(
                    theme::keyed(ctx.t("cashiers-save"), "Enter"),
                    Some(Msg::Save)
                )
                .width(Length::Fill),
                theme::secondary(
                    theme::keyed(ctx.t("cashiers-unlock"), "F5"),
                    Some(Msg::Unlock)
                )
                .width(Length::Fill),
                theme::secondary(
                    theme::keyed(ctx.t("cashiers-remove"), "F6"),
                    Some(Msg::Remove)
                )
                .width(Length::Fill),
            ]
            .spacing(theme::GAP),
            text(ctx.t("cashiers-approval")).size(theme::SMALL),
        ]
        .spacing(theme::GAP);
        if let Some((words, is_error)) = &self.outcome {
            form = form.push(theme::notice(words, *is_error));
        }
        column![
            row![
                theme::title(ctx.t("cashiers-title")).width(Length::Fill),
                theme::secondary(ctx.t("common-back"), Some(Msg::Back)).width(160),
            ]
            .align_y(Alignment::Center),
            row![
                theme::panel(scrollable(list).height(Length::Fill))
                    .width(Length::FillPortion(1))
                    .height(Length::Fill),
                theme::panel(form).width(Length::FillPortion(1)),
            ]
            .spacing(theme::GAP)
            .height(Length::Fill),
        ]
        .spacing(theme::GAP)
        .padding(theme::PAD)
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ↑ ↓ walk the list into the form; the F-keys choose a role and the
    /// actions that need a manager.
    #[test]
    fn the_keys_walk_the_list_and_choose_the_role() {
        let ctx = Ctx::for_tests();
        let mut s = State::default();
        let c = |number, name: &str| Cashier {
            number,
            name: name.into(),
            role: Role::Cashier,
        };
        s.update(Msg::Loaded(Ok(vec![c(1001, "Ann"), c(1002, "Bo")])), &ctx);
        for (k, number) in [
            (Named::ArrowDown, "1001"),
            (Named::ArrowDown, "1002"),
            (Named::ArrowDown, "1002"),
            (Named::ArrowUp, "1001"),
        ] {
            if let Some(m) = s.key(k) {
                s.update(m, &ctx);
            }
            assert_eq!(s.number, number, "after {k:?}");
        }
        s.update(s.key(Named::F4).unwrap(), &ctx);
        assert_eq!(s.role, Some(Role::Manager));
        assert!(matches!(s.key(Named::F5), Some(Msg::Unlock)));
        assert!(matches!(s.key(Named::F6), Some(Msg::Remove)));
        assert!(s.key(Named::F12).is_none(), "the shortcuts stay global");
    }

    #[test]
    fn a_complete_form_asks_a_manager_for_that_number_and_a_bad_one_says_why() {
        let ctx = Ctx::for_tests();
        let (mut s, fx) = open();
        assert!(fx.is_work());
        let u = s.update(Msg::Save, &ctx);
        assert!(u.event.is_none() && s.outcome.as_ref().is_some_and(|(_, e)| *e));
        s.update(
            Msg::Pick(Cashier {
                number: 1001,
                name: "Ann".into(),
                role: Role::Cashier,
            }),
            &ctx,
        );
        let u = s.update(Msg::Save, &ctx);
        assert!(u.event.is_none(), "no PIN yet");
        s.update(Msg::Role(Role::Supervisor), &ctx);
        s.update(Msg::Pin("24x6813".into()), &ctx);
        assert_eq!(s.pin, "246813");
        let u = s.update(Msg::Save, &ctx);
        let Some(Event::Approve(Pending::Cashiers(change))) = u.event else {
            panic!("{:?}", u.event)
        };
        assert_eq!(change.number(), 1001);
        assert!(matches!(&change, Change::Save(c, _) if c.role == Role::Supervisor));
        assert!(!format!("{change:?} {s:?}").contains("246813"));
        let u = s.update(Msg::Unlock, &ctx);
        assert_eq!(
            u.event,
            Some(Event::Approve(Pending::Cashiers(Change::Unlock(1001))))
        );
        let u = s.update(Msg::Done(Ok("1001 Ann".into())), &ctx);
        assert!(s.pin.is_empty() && u.effects.iter().all(Effect::is_work));
    }
}

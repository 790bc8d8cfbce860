//! The start-up self-check: database, journal, config and each device, with
//! what to do about a failure.

use crate::ctx::Ctx;
use crate::effect::{Effect, Update};
use crate::screen::approval::Pending;
use crate::theme;
use iced::widget::{column, container, row, text, Column};
use iced::{Element, Length};
use tillpoint_app::check::CheckLine;
use tillpoint_core::cashier::Approval;

#[derive(Debug, Clone, Default)]
pub struct State {
    pub lines: Vec<CheckLine>,
    pub done: bool,
    /// Record failures that stop selling until a manager acknowledges them.
    pub hold: Vec<String>,
    /// What became of the manager's acknowledgement, when one was given.
    pub acknowledged: Option<Result<(), String>>,
}

#[derive(Debug, Clone)]
pub enum Msg {
    Retry,
    Continue,
    /// The self-check's lines, and the record failures that stop selling.
    Checked(Vec<CheckLine>, Vec<String>),
    /// A manager is to acknowledge the record failures.
    Acknowledge,
    Acknowledged(Result<(), String>),
}

/// What the start-up screen tells the application.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The check ran: the status bar shows its device lines.
    Checked(Vec<CheckLine>),
    /// A manager's approval is needed to sell on.
    Approve(Pending),
    Continue,
}

/// Runs the self-check on the service.
pub fn check() -> Effect<Msg> {
    Effect::call(|s| {
        let lines = s.check();
        Msg::Checked(lines, s.selling_hold())
    })
}

/// Records the manager's acknowledgement of the record failures.
pub fn acknowledge(ap: Approval) -> Effect<Msg> {
    Effect::call(move |s| Msg::Acknowledged(s.acknowledge_integrity(&ap)))
}

impl State {
    pub fn update(&mut self, msg: Msg) -> Update<Msg, Event> {
        match msg {
            Msg::Retry => {
                *self = State::default();
                Update::effect(check())
            }
            Msg::Continue if self.done => Update::event(Event::Continue),
            Msg::Continue => Update::none(),
            Msg::Checked(lines, hold) => {
                self.lines = lines.clone();
                self.hold = hold;
                self.done = true;
                Update::event(Event::Checked(lines))
            }
            Msg::Acknowledge if !self.hold.is_empty() => {
                Update::event(Event::Approve(Pending::Integrity))
            }
            Msg::Acknowledge => Update::none(),
            Msg::Acknowledged(done) => {
                if done.is_ok() {
                    self.hold.clear();
                }
                self.acknowledged = Some(done);
                Update::none()
            }
        }
    }

    pub fn all_ok(&self) -> bool {
        self.done && self.lines.iter().all(|l| l.ok)
    }

    pub fn view<'a>(&'a self, ctx: &Ctx<'_>) -> Element<'a, Msg> {
        let mut list = Column::new().spacing(theme::GAP);
        if !self.done {
            list = list.push(text(ctx.t("startup-running")).size(theme::TEXT));
        }
        for l in &self.lines {
            let (mark, color) = if l.ok {
                ("✓", theme::ok_color())
            } else {
                ("✗", theme::error_color())
            };
            let mut c = column![row![
                text(mark).size(theme::TITLE).color(color).width(36),
                text(ctx.t(&format!("check-{}", l.id)))
                    .size(theme::TEXT)
                    .width(220),
                text(l.detail.clone())
                    .size(theme::SMALL)
                    .width(Length::Fill),
            ]
            .spacing(theme::GAP)];
            if !l.ok {
                c = c.push(
                    text(ctx.ta("startup-action", &[("action", l.action.clone())]))
                        .size(theme::TEXT)
                        .color(color),
                );
            }
            list = list.push(c);
        }
        let mut buttons =
            row![theme::secondary(ctx.t("startup-retry"), Some(Msg::Retry)).width(Length::Fill)]
                .spacing(theme::GAP);
        if !self.hold.is_empty() {
            buttons = buttons.push(
                theme::secondary(ctx.t("startup-acknowledge"), Some(Msg::Acknowledge))
                    .width(Length::Fill),
            );
        }
        buttons = buttons.push(
            theme::primary(
                ctx.t("startup-continue"),
                self.done.then_some(Msg::Continue),
            )
            .width(Length::Fill),
        );
        let mut col = column![
            theme::title(ctx.t("startup-title")),
            theme::panel(list).width(Length::Fill)
        ]
        .spacing(16);
        if self.done && !self.all_ok() {
            col = col.push(theme::notice(&ctx.t("startup-failed"), true));
        }
        if !self.hold.is_empty() {
            col = col.push(theme::notice(&ctx.t("startup-held"), true));
        }
        match &self.acknowledged {
            Some(Ok(())) => col = col.push(theme::notice(&ctx.t("startup-acknowledged"), false)),
            Some(Err(why)) => col = col.push(theme::notice(why, true)),
            None => {}
        }
        col = col.push(buttons);
        container(col.max_width(900))
            .center(Length::Fill)
            .padding(theme::PAD)
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(ok: bool) -> CheckLine {
        CheckLine {
            id: "database",
            ok,
            detail: String::new(),
            action: String::new(),
        }
    }

    #[test]
    fn continue_waits_for_the_check_and_retry_runs_it_again() {
        let mut s = State::default();
        assert!(
            s.update(Msg::Continue).event.is_none(),
            "not before the check"
        );
        let u = s.update(Msg::Checked(vec![line(true), line(false)], vec![]));
        assert!(matches!(u.event, Some(Event::Checked(ref l)) if l.len() == 2));
        assert!(s.done && !s.all_ok());
        assert_eq!(s.update(Msg::Continue).event, Some(Event::Continue));
        let u = s.update(Msg::Retry);
        assert!(!s.done && s.lines.is_empty());
        assert!(u.effects.iter().all(Effect::is_work) && u.effects.len() == 1);
    }

    #[test]
    fn altered_records_ask_a_manager_before_selling_on() {
        let mut s = State::default();
        assert!(
            s.update(Msg::Acknowledge).event.is_none(),
            "nothing to acknowledge"
        );
        s.update(Msg::Checked(
            vec![line(false)],
            vec!["journal: broken at 7".into()],
        ));
        assert_eq!(
            s.update(Msg::Acknowledge).event,
            Some(Event::Approve(Pending::Integrity))
        );
        s.update(Msg::Acknowledged(Err("disk full".into())));
        assert!(!s.hold.is_empty(), "a failed acknowledgement holds on");
        s.update(Msg::Acknowledged(Ok(())));
        assert!(s.hold.is_empty());
        assert!(!s.all_ok(), "the check still says what it found");
    }
}

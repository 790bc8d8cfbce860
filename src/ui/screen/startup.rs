//! The start-up self-check: database, journal, config and each device, with
//! what to do about a failure.

use crate::ctx::Ctx;
use crate::effect::{Effect, Update};
use crate::theme;
use iced::widget::{column, container, row, text, Column};
use iced::{Element, Length};
use tillpoint_app::check::CheckLine;

#[derive(Debug, Clone, Default)]
pub struct State {
    pub lines: Vec<CheckLine>,
    pub done: bool,
}

#[derive(Debug, Clone)]
pub enum Msg {
    Retry,
    Continue,
    /// The self-check's lines, as the service found them.
    Checked(Vec<CheckLine>),
}

/// What the start-up screen tells the application.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The check ran: the status bar shows its device lines.
    Checked(Vec<CheckLine>),
    Continue,
}

/// Runs the self-check on the service.
pub fn check() -> Effect<Msg> {
    Effect::call(|s| Msg::Checked(s.check()))
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
            Msg::Checked(lines) => {
                self.lines = lines.clone();
                self.done = true;
                Update::event(Event::Checked(lines))
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
        let buttons = row![
            theme::secondary(ctx.t("startup-retry"), Some(Msg::Retry)).width(Length::Fill),
            theme::primary(
                ctx.t("startup-continue"),
                self.done.then_some(Msg::Continue)
            )
            .width(Length::Fill),
        ]
        .spacing(theme::GAP);
        let mut col = column![
            theme::title(ctx.t("startup-title")),
            theme::panel(list).width(Length::Fill)
        ]
        .spacing(16);
        if self.done && !self.all_ok() {
            col = col.push(theme::notice(&ctx.t("startup-failed"), true));
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
        let u = s.update(Msg::Checked(vec![line(true), line(false)]));
        assert!(matches!(u.event, Some(Event::Checked(ref l)) if l.len() == 2));
        assert!(s.done && !s.all_ok());
        assert_eq!(s.update(Msg::Continue).event, Some(Event::Continue));
        let u = s.update(Msg::Retry);
        assert!(!s.done && s.lines.is_empty());
        assert!(u.effects.iter().all(Effect::is_work) && u.effects.len() == 1);
    }
}

//! Parked sales waiting to be resumed.

use crate::ctx::Ctx;
use crate::effect::{Effect, Update};
use crate::theme;
use iced::keyboard::key::Named;
use iced::widget::{column, container, row, scrollable, text, Column};
use iced::{Alignment, Element, Length};
use tillpoint_app::service::Parked;
use tillpoint_core::sale::Sale;

#[derive(Debug, Clone, Default)]
pub struct State {
    pub list: Vec<Parked>,
    /// The sale Enter resumes (↑ ↓ move it).
    pub cursor: usize,
}

#[derive(Debug, Clone)]
pub enum Msg {
    Resume(i64),
    /// The keys' sale, by its place in the list.
    Cursor(usize),
    Back,
    /// The parked sales, newest first.
    Listed(Result<Vec<Parked>, String>),
    /// A resumed sale, out of the parked list.
    Resumed(Result<Box<Sale>, String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Resumed(Box<Sale>),
    Back,
    Notice(String),
}

impl State {
    /// The screen opened: the list is asked for.
    pub fn open() -> (State, Effect<Msg>) {
        (State::default(), Effect::call(|s| Msg::Listed(s.parked())))
    }

    /// `sale_open`: the cashier has a sale with lines on the go, which must
    /// be finished or parked before another is resumed.
    pub fn update(&mut self, msg: Msg, sale_open: bool, ctx: &Ctx<'_>) -> Update<Msg, Event> {
        match msg {
            Msg::Resume(_) if sale_open => {
                Update::event(Event::Notice(ctx.t("parked-finish-first")))
            }
            Msg::Resume(id) => Update::effect(Effect::call(move |s| {
                Msg::Resumed(s.resume(id).map(Box::new))
            })),
            Msg::Cursor(i) => {
                self.cursor = i.min(self.list.len().saturating_sub(1));
                Update::none()
            }
            Msg::Back => Update::event(Event::Back),
            Msg::Listed(Ok(list)) => {
                self.list = list;
                self.cursor = 0;
                Update::none()
            }
            Msg::Resumed(Ok(sale)) => Update::event(Event::Resumed(sale)),
            Msg::Listed(Err(e)) | Msg::Resumed(Err(e)) => Update::event(Event::Notice(e)),
        }
    }
}

impl State {
    /// ↑ ↓ choose a parked sale, Enter resumes it.
    pub fn key(&self, k: Named) -> Option<Msg> {
        match k {
            Named::ArrowUp => Some(Msg::Cursor(self.cursor.saturating_sub(1))),
            Named::ArrowDown => Some(Msg::Cursor(self.cursor + 1)),
            Named::Enter => self.list.get(self.cursor).map(|p| Msg::Resume(p.id)),
            _ => None,
        }
    }
}

pub fn view<'a>(state: &'a State, ctx: &Ctx<'_>) -> Element<'a, Msg> {
    let mut list = Column::new().spacing(theme::GAP);
    if state.list.is_empty() {
        list = list.push(text(ctx.t("parked-none")).size(theme::TEXT));
    }
    for (i, p) in state.list.iter().enumerate() {
        let chosen = i == state.cursor;
        let resume = if chosen {
            theme::keyed(ctx.t("parked-resume"), "Enter")
        } else {
            ctx.t("parked-resume")
        };
        list = list.push(
            row![
                text(if chosen { "›" } else { "" })
                    .size(theme::TITLE)
                    .width(16),
                text(format!("#{}  {}", p.id, p.label))
                    .size(theme::TEXT)
                    .width(Length::Fill),
                text(ctx.ta("parked-lines", &[("count", p.lines.to_string())]))
                    .size(theme::TEXT)
                    .width(140),
                text(ctx.datetime(p.parked_at_ms))
                    .size(theme::SMALL)
                    .width(180),
                theme::primary(resume, Some(Msg::Resume(p.id))).width(180),
            ]
            .spacing(theme::GAP)
            .align_y(Alignment::Center),
        );
    }
    container(
        column![
            theme::title(ctx.t("parked-title")),
            theme::panel(scrollable(list).height(Length::Fill)).height(Length::Fill),
            theme::secondary(ctx.t("common-back"), Some(Msg::Back)).width(200)
        ]
        .spacing(theme::GAP)
        .max_width(900),
    )
    .center_x(Length::Fill)
    .padding(theme::PAD)
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resuming_waits_for_the_open_sale_and_asks_the_service() {
        let ctx = Ctx::for_tests();
        let (mut s, fx) = State::open();
        assert!(fx.is_work());
        let u = s.update(Msg::Resume(3), true, &ctx);
        assert_eq!(u.event, Some(Event::Notice(ctx.t("parked-finish-first"))));
        assert!(u.effects.is_empty());
        assert!(s.update(Msg::Resume(3), false, &ctx).effects[0].is_work());
        let u = s.update(Msg::Listed(Err("disk".into())), false, &ctx);
        assert_eq!(u.event, Some(Event::Notice("disk".into())));
        assert_eq!(s.update(Msg::Back, false, &ctx).event, Some(Event::Back));
    }
}

//! Parked sales waiting to be resumed.

use crate::ctx::Ctx;
use crate::theme;
use iced::widget::{column, container, row, scrollable, text, Column};
use iced::{Alignment, Element, Length};
use tillpoint_app::backend::Parked;

#[derive(Debug, Clone, Default)]
pub struct State {
    pub list: Vec<Parked>,
}

#[derive(Debug, Clone)]
pub enum Msg {
    Resume(i64),
    Back,
}

pub fn view<'a>(state: &'a State, ctx: &Ctx<'_>) -> Element<'a, Msg> {
    let mut list = Column::new().spacing(theme::GAP);
    if state.list.is_empty() {
        list = list.push(text(ctx.t("parked-none")).size(theme::TEXT));
    }
    for p in &state.list {
        list = list.push(
            row![
                text(format!("#{}  {}", p.id, p.label))
                    .size(theme::TEXT)
                    .width(Length::Fill),
                text(ctx.ta("parked-lines", &[("count", p.lines.to_string())]))
                    .size(theme::TEXT)
                    .width(140),
                text(ctx.datetime(p.parked_at_ms))
                    .size(theme::SMALL)
                    .width(180),
                theme::primary(ctx.t("parked-resume"), Some(Msg::Resume(p.id))).width(160),
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

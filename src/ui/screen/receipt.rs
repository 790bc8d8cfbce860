//! Receipt preview of a completed sale (drawn by the printer emulator's
//! renderer from the same bytes the printer gets) and reprint of any past receipt.

use crate::ctx::Ctx;
use crate::theme;
use iced::widget::{column, container, image, row, scrollable, text, text_input, Column};
use iced::{Element, Length};
use tillpoint_core::sale::SaleRecord;

#[derive(Debug, Clone, Default)]
pub struct State {
    pub record: Option<SaleRecord>,
    pub pages: Vec<image::Handle>,
    pub recent: Vec<String>,
    pub lookup: String,
    /// Change to hand back, shown big right after a cash sale.
    pub change: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Msg {
    Lookup(String),
    Open,
    OpenNo(String),
    Reprint,
    NewSale,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Open(String),
    Reprint(String),
    NewSale,
}

impl State {
    pub fn update(&mut self, msg: Msg) -> Option<Event> {
        match msg {
            Msg::Lookup(s) => {
                self.lookup = s;
                None
            }
            Msg::Open => {
                let no = self.lookup.trim().to_string();
                (!no.is_empty()).then_some(Event::Open(no))
            }
            Msg::OpenNo(no) => Some(Event::Open(no)),
            Msg::Reprint => self
                .record
                .as_ref()
                .map(|r| Event::Reprint(r.receipt_no.clone())),
            Msg::NewSale => Some(Event::NewSale),
        }
    }

    pub fn view<'a>(&'a self, ctx: &Ctx<'_>) -> Element<'a, Msg> {
        let mut preview = Column::new().spacing(theme::GAP);
        match &self.record {
            Some(r) => {
                preview = preview.push(theme::title(
                    ctx.ta("preview-title", &[("number", r.receipt_no.clone())]),
                ));
                if let Some(c) = &self.change {
                    preview = preview.push(
                        text(ctx.ta("tender-change", &[("amount", c.clone())])).size(theme::HUGE),
                    );
                }
                if self.pages.is_empty() {
                    preview = preview.push(text(ctx.t("preview-rendering")).size(theme::TEXT));
                }
                for p in &self.pages {
                    preview = preview.push(
                        container(image(p.clone()).width(380))
                            .padding(4)
                            .style(container::bordered_box),
                    );
                }
            }
            None => preview = preview.push(text(ctx.t("preview-none")).size(theme::TEXT)),
        }
        let mut recent = Column::new().spacing(4);
        for no in &self.recent {
            recent = recent.push(
                theme::secondary(no.clone(), Some(Msg::OpenNo(no.clone()))).width(Length::Fill),
            );
        }
        let side = column![
            row![
                text_input(&ctx.t("preview-lookup-hint"), &self.lookup)
                    .on_input(Msg::Lookup)
                    .on_submit(Msg::Open)
                    .size(theme::TEXT)
                    .padding(12),
                theme::secondary(ctx.t("preview-open"), Some(Msg::Open)).width(120),
            ]
            .spacing(theme::GAP),
            text(ctx.t("preview-recent")).size(theme::TEXT),
            scrollable(recent).height(Length::Fill),
            theme::secondary(
                ctx.t("preview-reprint"),
                self.record.as_ref().map(|_| Msg::Reprint)
            )
            .width(Length::Fill),
            theme::primary(ctx.t("preview-new-sale"), Some(Msg::NewSale))
                .width(Length::Fill)
                .height(72),
        ]
        .spacing(theme::GAP)
        .width(360);
        row![
            scrollable(preview).width(Length::Fill).height(Length::Fill),
            side
        ]
        .spacing(16)
        .padding(theme::PAD)
        .into()
    }
}

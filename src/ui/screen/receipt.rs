//! Receipt preview of a completed sale (drawn by the printer emulator's
//! renderer from the same bytes the printer gets) and reprint of any past receipt.

use crate::ctx::Ctx;
use crate::effect::{Effect, Update};
use crate::theme;
use iced::widget::{column, container, image, row, scrollable, text, text_input, Column};
use iced::{Element, Length};
use tillpoint_app::service::{Page, ReceiptLookup};
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
    /// A receipt looked up by number.
    Loaded(Result<Box<ReceiptLookup>, String>),
    /// The preview's pages, drawn from the printer's bytes.
    Pages(Result<Vec<Page>, String>),
    /// The latest receipt numbers.
    Recent(Result<Vec<String>, String>),
    /// A reprint was queued (or refused).
    Reprinted(String, Result<(), String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    NewSale,
    /// A reprint of this receipt waits in the print queue.
    Reprinted(String),
    Notice(String),
}

fn preview(record: &SaleRecord) -> Effect<Msg> {
    let record = record.clone();
    Effect::call(move |s| Msg::Pages(s.preview(&record)))
}

fn recent() -> Effect<Msg> {
    Effect::call(|s| Msg::Recent(s.recent_receipts()))
}

/// Looks a receipt up by number.
fn open(no: String) -> Effect<Msg> {
    Effect::call(move |s| Msg::Loaded(s.receipt(&no).map(Box::new)))
}

impl State {
    /// A sale just completed (or refunded): its preview, and the change to
    /// hand back after cash.
    pub fn of(record: SaleRecord, change: Option<String>) -> (State, Vec<Effect<Msg>>) {
        let fx = vec![preview(&record), recent()];
        let state = State {
            record: Some(record),
            change,
            ..State::default()
        };
        (state, fx)
    }

    /// The receipts screen opened from the sale screen: the latest ones.
    pub fn browse() -> (State, Vec<Effect<Msg>>) {
        (State::default(), vec![recent()])
    }

    pub fn update(&mut self, msg: Msg) -> Update<Msg, Event> {
        match msg {
            Msg::Lookup(s) => {
                self.lookup = s;
                Update::none()
            }
            Msg::Open => {
                let no = self.lookup.trim().to_string();
                if no.is_empty() {
                    return Update::none();
                }
                Update::effect(open(no))
            }
            Msg::OpenNo(no) => Update::effect(open(no)),
            Msg::Reprint => match &self.record {
                Some(r) => {
                    let no = r.receipt_no.clone();
                    Update::effect(Effect::call(move |s| {
                        let done = s.reprint(&no);
                        Msg::Reprinted(no, done)
                    }))
                }
                None => Update::none(),
            },
            Msg::NewSale => Update::event(Event::NewSale),
            Msg::Loaded(Ok(found)) => {
                let fx = preview(&found.record);
                self.change = None;
                self.pages.clear();
                self.record = Some(found.record);
                Update::effect(fx)
            }
            Msg::Pages(Ok(pages)) => {
                self.pages = pages
                    .into_iter()
                    .map(|(w, h, rgba)| image::Handle::from_rgba(w, h, rgba))
                    .collect();
                Update::none()
            }
            Msg::Recent(Ok(list)) => {
                self.recent = list;
                Update::none()
            }
            Msg::Reprinted(no, Ok(())) => Update::event(Event::Reprinted(no)),
            Msg::Loaded(Err(e))
            | Msg::Pages(Err(e))
            | Msg::Recent(Err(e))
            | Msg::Reprinted(_, Err(e)) => Update::event(Event::Notice(e)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_looked_up_receipt_shows_and_asks_for_its_preview() {
        let mut s = State::default();
        assert!(s.update(Msg::Open).effects.is_empty(), "nothing typed");
        s.update(Msg::Lookup(" T01-000001 ".into()));
        assert!(s.update(Msg::Open).effects[0].is_work());
        assert!(
            s.update(Msg::Reprint).effects.is_empty(),
            "nothing shown yet"
        );
        let u = s.update(Msg::Recent(Err("disk".into())));
        assert_eq!(u.event, Some(Event::Notice("disk".into())));
        s.update(Msg::Recent(Ok(vec!["T01-000001".into()])));
        assert_eq!(s.recent, ["T01-000001"]);
        s.update(Msg::Pages(Ok(vec![(1, 1, vec![0, 0, 0, 255])])));
        assert_eq!(s.pages.len(), 1);
        let u = s.update(Msg::Reprinted("T01-000001".into(), Ok(())));
        assert_eq!(u.event, Some(Event::Reprinted("T01-000001".into())));
        assert_eq!(s.update(Msg::NewSale).event, Some(Event::NewSale));
    }
}

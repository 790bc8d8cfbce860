//! Refunds: find the original by receipt number (typed or scanned from the
//! receipt's barcode), pick lines and quantities, then a supervisor approves.
//! Post-void of a same-day sale lives here too.

use crate::ctx::Ctx;
use crate::effect::{Effect, Update};
use crate::screen::approval::Pending;
use crate::theme;
use iced::keyboard::key::Named;
use iced::widget::{column, container, row, scrollable, text, text_input, Column};
use iced::{Alignment, Element, Length};
use std::collections::BTreeMap;
use tillpoint_app::service::ReceiptLookup;
use tillpoint_core::cashier::Approval;
use tillpoint_core::catalog::{Qty, Unit};
use tillpoint_core::refund::refundable;
use tillpoint_core::sale::SaleRecord;

pub const LOOKUP_ID: &str = "refund-lookup";

#[derive(Debug, Clone, Default)]
pub struct State {
    pub lookup: String,
    pub original: Option<SaleRecord>,
    pub prior: Vec<SaleRecord>,
    pub voided: bool,
    /// Original line → quantity (thousandths) to give back.
    pub picks: BTreeMap<u32, i64>,
    /// The line the keys act on (↑ ↓ move it, + − change its quantity).
    pub cursor: usize,
}

#[derive(Debug, Clone)]
pub enum Msg {
    Lookup(String),
    Find,
    Inc(u32),
    Dec(u32),
    /// The keys' line, by its place in the list.
    Cursor(usize),
    All,
    Confirm,
    PostVoid,
    Back,
    /// The original sale found by its receipt number.
    Loaded(Result<Box<ReceiptLookup>, String>),
    /// The refund was recorded: its own receipt.
    Refunded(Result<Box<SaleRecord>, String>),
    /// The sale with this receipt number was voided.
    Voided(Result<String, String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A refund or post-void needs a supervisor first.
    Approve(Pending),
    Refunded(Box<SaleRecord>),
    Voided(String),
    Back,
    Notice(String),
}

/// Refunds the picked lines with the supervisor's approval (the action the
/// approval dialog obtained), answering on this screen.
pub fn refund(receipt: String, picks: Vec<(u32, Qty)>, cashier: u32, ap: Approval) -> Effect<Msg> {
    Effect::call(move |s| Msg::Refunded(s.refund(&receipt, &picks, cashier, &ap).map(Box::new)))
}

/// Voids the sale with the supervisor's approval.
pub fn post_void(receipt: String, ap: Approval) -> Effect<Msg> {
    Effect::call(move |s| Msg::Voided(s.post_void(&receipt, &ap)))
}

impl State {
    pub fn loaded(&mut self, original: SaleRecord, prior: Vec<SaleRecord>, voided: bool) {
        self.picks.clear();
        self.original = Some(original);
        self.prior = prior;
        self.voided = voided;
    }

    fn left(&self, line: u32) -> i64 {
        self.original
            .as_ref()
            .map(|o| refundable(o, &self.prior))
            .and_then(|v| v.into_iter().find(|(l, _)| *l == line))
            .map_or(0, |(_, q)| q.milli())
    }

    pub fn update(&mut self, msg: Msg, ctx: &Ctx<'_>) -> Update<Msg, Event> {
        match msg {
            Msg::Find => {
                let no = self.lookup.trim().to_string();
                if no.is_empty() {
                    return Update::none();
                }
                Update::effect(Effect::call(move |s| {
                    Msg::Loaded(s.receipt(&no).map(Box::new))
                }))
            }
            Msg::Loaded(Ok(found)) => {
                let found = *found;
                self.loaded(found.record, found.refunds, found.voided);
                self.cursor = 0;
                // The lines' keys (+ − * Enter) reach the screen, not the
                // number field; Tab goes back to it for another receipt.
                Update::effect(Effect::Unfocus)
            }
            Msg::Refunded(Ok(record)) => {
                *self = State::default();
                Update::event(Event::Refunded(record))
            }
            Msg::Voided(Ok(no)) => {
                *self = State::default();
                Update::event(Event::Voided(no))
            }
            Msg::Loaded(Err(e)) | Msg::Refunded(Err(e)) | Msg::Voided(Err(e)) => {
                Update::event(Event::Notice(e))
            }
            msg => Update {
                effects: Vec::new(),
                event: self.intent(msg, ctx),
            },
        }
    }

    /// The original's lines that can be picked, in the order shown.
    fn pickable(&self) -> Vec<u32> {
        self.original.as_ref().map_or_else(Vec::new, |o| {
            o.lines
                .iter()
                .filter(|l| !l.voided)
                .map(|l| l.line_no)
                .collect()
        })
    }

    /// The line the cursor is on.
    fn current(&self) -> Option<u32> {
        self.pickable().get(self.cursor).copied()
    }

    /// A key no field took: ↑ ↓ choose a line, Enter refunds what is
    /// picked, Delete voids the sale (each asks a supervisor first).
    pub fn key(&self, k: Named) -> Option<Msg> {
        self.original.as_ref()?;
        match k {
            Named::ArrowUp => Some(Msg::Cursor(self.cursor.saturating_sub(1))),
            Named::ArrowDown => {
                let last = self.pickable().len().saturating_sub(1);
                Some(Msg::Cursor((self.cursor + 1).min(last)))
            }
            Named::ArrowRight => self.current().map(Msg::Inc),
            Named::ArrowLeft => self.current().map(Msg::Dec),
            Named::Enter => Some(Msg::Confirm),
            Named::Delete => Some(Msg::PostVoid),
            _ => None,
        }
    }

    /// A character no field took: + and − change the chosen line's
    /// quantity, * picks every line.
    pub fn typed(&self, c: char) -> Option<Msg> {
        self.original.as_ref()?;
        match c {
            '+' | '=' => self.current().map(Msg::Inc),
            '-' | '_' => self.current().map(Msg::Dec),
            '*' => Some(Msg::All),
            _ => None,
        }
    }

    /// The screen's own controls: picks, and what they ask for.
    fn intent(&mut self, msg: Msg, ctx: &Ctx<'_>) -> Option<Event> {
        match msg {
            Msg::Lookup(s) => {
                self.lookup = s;
                None
            }
            Msg::Cursor(i) => {
                self.cursor = i;
                None
            }
            Msg::Inc(l) | Msg::Dec(l) => {
                let unit = self
                    .original
                    .as_ref()?
                    .lines
                    .iter()
                    .find(|x| x.line_no == l)?
                    .unit;
                let left = self.left(l);
                let step = if unit == Unit::Kg { left } else { 1000 };
                let cur = self.picks.get(&l).copied().unwrap_or(0);
                let next = if matches!(msg, Msg::Inc(_)) {
                    (cur + step).min(left)
                } else {
                    (cur - step).max(0)
                };
                if next == 0 {
                    self.picks.remove(&l);
                } else {
                    self.picks.insert(l, next);
                }
                None
            }
            Msg::All => {
                let lines: Vec<u32> = self
                    .original
                    .as_ref()?
                    .lines
                    .iter()
                    .map(|l| l.line_no)
                    .collect();
                for l in lines {
                    let left = self.left(l);
                    if left > 0 {
                        self.picks.insert(l, left);
                    }
                }
                None
            }
            Msg::Confirm => {
                let o = self.original.as_ref()?;
                if self.picks.is_empty() {
                    return Some(Event::Notice(ctx.t("refund-pick-lines")));
                }
                Some(Event::Approve(Pending::Refund(
                    o.receipt_no.clone(),
                    self.picks.iter().map(|(l, q)| (*l, Qty(*q))).collect(),
                )))
            }
            Msg::PostVoid => self
                .original
                .as_ref()
                .map(|o| Event::Approve(Pending::PostVoid(o.receipt_no.clone()))),
            Msg::Back => Some(Event::Back),
            Msg::Find | Msg::Loaded(_) | Msg::Refunded(_) | Msg::Voided(_) => None,
        }
    }

    pub fn view<'a>(&'a self, ctx: &Ctx<'_>) -> Element<'a, Msg> {
        let find = row![
            text_input(&ctx.t("refund-lookup-hint"), &self.lookup)
                .id(LOOKUP_ID)
                .on_input(Msg::Lookup)
                .on_submit(Msg::Find)
                .size(theme::TITLE)
                .padding(10),
            theme::primary(ctx.t("refund-find"), Some(Msg::Find)).width(160),
        ]
        .spacing(theme::GAP);
        let mut body = column![theme::title(ctx.t("refund-title")), find].spacing(theme::GAP);
        if let Some(o) = &self.original {
            body = body.push(
                text(ctx.ta(
                    "refund-original",
                    &[
                        ("number", o.receipt_no.clone()),
                        ("date", ctx.datetime(o.completed_at_ms)),
                        (
                            "total",
                            o.settled().map_or_else(|e| e.to_string(), |m| ctx.money(m)),
                        ),
                    ],
                ))
                .size(theme::TEXT),
            );
            if self.voided {
                body = body.push(theme::notice(&ctx.t("refund-voided"), true));
            }
            let mut lines = Column::new().spacing(4);
            for (i, l) in o.lines.iter().filter(|l| !l.voided).enumerate() {
                let mark = if i == self.cursor { "›" } else { "" };
                let left = Qty(self.left(l.line_no));
                let pick = Qty(self.picks.get(&l.line_no).copied().unwrap_or(0));
                lines = lines.push(
                    row![
                        text(mark).size(theme::TITLE).width(16),
                        text(l.name.clone()).size(theme::TEXT).width(Length::Fill),
                        text(ctx.ta("refund-left", &[("qty", left.to_string())]))
                            .size(theme::SMALL)
                            .width(110),
                        text(ctx.money(l.gross)).size(theme::TEXT).width(110),
                        theme::secondary("−".into(), Some(Msg::Dec(l.line_no))).width(52),
                        text(pick.to_string())
                            .size(theme::TITLE)
                            .width(70)
                            .align_x(Alignment::Center),
                        theme::secondary("+".into(), Some(Msg::Inc(l.line_no))).width(52),
                    ]
                    .spacing(theme::GAP)
                    .align_y(Alignment::Center),
                );
            }
            body = body
                .push(theme::panel(scrollable(lines).height(Length::Fill)).height(Length::Fill));
            body = body.push(
                row![
                    theme::secondary(theme::keyed(ctx.t("refund-all"), "*"), Some(Msg::All))
                        .width(Length::Fill),
                    theme::danger(
                        theme::keyed(ctx.t("refund-post-void"), "Del"),
                        Some(Msg::PostVoid)
                    )
                    .width(Length::Fill),
                    theme::primary(
                        theme::keyed(ctx.t("refund-confirm"), "Enter"),
                        Some(Msg::Confirm)
                    )
                    .width(Length::Fill),
                ]
                .spacing(theme::GAP),
            );
        }
        body = body.push(theme::secondary(ctx.t("common-back"), Some(Msg::Back)).width(200));
        container(body.max_width(1000))
            .center_x(Length::Fill)
            .padding(theme::PAD)
            .into()
    }
}

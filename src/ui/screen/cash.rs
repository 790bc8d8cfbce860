//! Cash in, cash out and no-sale (the last one needs a supervisor).

use crate::ctx::Ctx;
use crate::theme;
use iced::widget::{button, column, container, row, text_input};
use iced::{Element, Length};
use tillpoint_app::backend::CashMovement;
use tillpoint_core::money::{Currency, Money};

#[derive(Debug, Clone)]
pub struct State {
    pub kind: CashMovement,
    pub amount: String,
    pub reason: String,
}

impl Default for State {
    fn default() -> Self {
        State {
            kind: CashMovement::In,
            amount: String::new(),
            reason: String::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Msg {
    Kind(CashMovement),
    Amount(String),
    Reason(String),
    Submit,
    NoSale,
    Back,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Move(CashMovement, Money, String),
    NoSale,
    Back,
    Notice(String),
}

impl State {
    pub fn update(&mut self, msg: Msg, currency: Currency, ctx: &Ctx<'_>) -> Option<Event> {
        match msg {
            Msg::Kind(k) => self.kind = k,
            Msg::Amount(s) => self.amount = s,
            Msg::Reason(s) => self.reason = s,
            Msg::Submit => {
                return match Money::parse(&self.amount, currency) {
                    Ok(m) if m.minor > 0 => {
                        self.amount.clear();
                        Some(Event::Move(self.kind, m, std::mem::take(&mut self.reason)))
                    }
                    _ => Some(Event::Notice(ctx.t("tender-bad-amount"))),
                }
            }
            Msg::NoSale => return Some(Event::NoSale),
            Msg::Back => return Some(Event::Back),
        }
        None
    }

    pub fn view<'a>(&'a self, ctx: &Ctx<'_>) -> Element<'a, Msg> {
        let kind = |k: CashMovement, label: String| {
            let b = theme::big(label, Some(Msg::Kind(k))).width(Length::Fill);
            if self.kind == k {
                b.style(button::primary)
            } else {
                b.style(button::secondary)
            }
        };
        container(
            column![
                theme::title(ctx.t("cash-title")),
                row![
                    kind(CashMovement::In, ctx.t("cash-in")),
                    kind(CashMovement::Out, ctx.t("cash-out"))
                ]
                .spacing(theme::GAP),
                text_input(&ctx.t("cash-amount"), &self.amount)
                    .id("cash-amount")
                    .on_submit(Msg::Submit)
                    .on_input(Msg::Amount)
                    .size(theme::TITLE)
                    .padding(10),
                text_input(&ctx.t("cash-reason"), &self.reason)
                    .on_input(Msg::Reason)
                    .on_submit(Msg::Submit)
                    .size(theme::TEXT)
                    .padding(12),
                theme::primary(ctx.t("cash-record"), Some(Msg::Submit)).width(Length::Fill),
                theme::danger(ctx.t("cash-no-sale"), Some(Msg::NoSale)).width(Length::Fill),
                theme::secondary(ctx.t("common-back"), Some(Msg::Back)).width(200),
            ]
            .spacing(theme::GAP)
            .max_width(600),
        )
        .center_x(Length::Fill)
        .padding(theme::PAD)
        .into()
    }
}

//! Cash in, cash out and no-sale (the last one needs a supervisor).

use crate::ctx::Ctx;
use crate::effect::{Effect, Update};
use crate::screen::approval::Pending;
use crate::theme;
use iced::keyboard::key::Named;
use iced::widget::{button, column, container, row, text_input};
use iced::{Element, Length};
use tillpoint_app::service::CashMovement;
use tillpoint_core::cashier::Approval;
use tillpoint_core::money::{Currency, Money};

/// The amount field, where the focus starts.
pub const AMOUNT_ID: &str = "cash-amount";

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
    /// The movement was recorded (the drawer opened for a no-sale).
    Done(Result<CashMovement, String>),
    /// Cash out over the shop's limit: a supervisor must approve it.
    OverLimit(Money, String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A no-sale needs a supervisor first.
    Approve(Pending),
    Done(CashMovement),
    Back,
    Notice(String),
}

/// A no-sale with the supervisor's approval: the drawer opens.
pub fn no_sale(cashier: u32, ap: Approval, currency: Currency) -> Effect<Msg> {
    Effect::call(move |s| {
        Msg::Done(s.cash(
            CashMovement::NoSale,
            Money::zero(currency),
            cashier,
            Some(&ap),
            "",
        ))
    })
}

/// Cash out over the limit with the supervisor's approval of that amount.
pub fn cash_out(amount: Money, reason: String, cashier: u32, ap: Approval) -> Effect<Msg> {
    Effect::call(move |s| Msg::Done(s.cash(CashMovement::Out, amount, cashier, Some(&ap), &reason)))
}

impl State {
    pub fn update(
        &mut self,
        msg: Msg,
        cashier: u32,
        currency: Currency,
        ctx: &Ctx<'_>,
    ) -> Update<Msg, Event> {
        match msg {
            Msg::Done(Ok(kind)) => Update::event(Event::Done(kind)),
            Msg::Done(Err(e)) => Update::event(Event::Notice(e)),
            Msg::OverLimit(amount, reason) => {
                Update::event(Event::Approve(Pending::CashOut(amount, reason)))
            }
            Msg::NoSale => Update::event(Event::Approve(Pending::NoSale)),
            Msg::Back => Update::event(Event::Back),
            msg => match self.intent(msg, currency, ctx) {
                Some(Ok((kind, amount, reason))) => Update::effect(Effect::call(move |s| {
                    if kind == CashMovement::Out && s.cash_out_needs_approval(amount) {
                        Msg::OverLimit(amount, reason)
                    } else {
                        Msg::Done(s.cash(kind, amount, cashier, None, &reason))
                    }
                })),
                Some(Err(notice)) => Update::event(Event::Notice(notice)),
                None => Update::none(),
            },
        }
    }

    /// The form: a movement to record, or why not.
    #[allow(clippy::type_complexity)] // private, single use
    fn intent(
        &mut self,
        msg: Msg,
        currency: Currency,
        ctx: &Ctx<'_>,
    ) -> Option<Result<(CashMovement, Money, String), String>> {
        match msg {
            Msg::Kind(k) => self.kind = k,
            Msg::Amount(s) => self.amount = s,
            Msg::Reason(s) => self.reason = s,
            Msg::Submit => {
                return match Money::parse(&self.amount, currency) {
                    Ok(m) if m.minor > 0 => {
                        self.amount.clear();
                        Some(Ok((self.kind, m, std::mem::take(&mut self.reason))))
                    }
                    _ => Some(Err(ctx.t("tender-bad-amount"))),
                }
            }
            Msg::NoSale | Msg::Back | Msg::Done(_) | Msg::OverLimit(..) => {}
        }
        None
    }

    /// ↑ ↓ switch between cash in and cash out (the amount field keeps
    /// the focus; Enter there records), F3 opens the drawer (no sale).
    pub fn key(&self, k: Named) -> Option<Msg> {
        match k {
            Named::ArrowUp | Named::ArrowDown => Some(Msg::Kind(match self.kind {
                CashMovement::In => CashMovement::Out,
                _ => CashMovement::In,
            })),
            Named::F3 => Some(Msg::NoSale),
            _ => None,
        }
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
                    .id(AMOUNT_ID)
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
                theme::danger(theme::keyed(ctx.t("cash-no-sale"), "F3"), Some(Msg::NoSale))
                    .width(Length::Fill),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_amount_is_recorded_and_a_no_sale_asks_for_approval() {
        let ctx = Ctx::for_tests();
        let mut s = State::default();
        s.update(Msg::Amount("abc".into()), 1001, Currency::CNY, &ctx);
        let u = s.update(Msg::Submit, 1001, Currency::CNY, &ctx);
        assert_eq!(u.event, Some(Event::Notice(ctx.t("tender-bad-amount"))));
        s.update(Msg::Kind(CashMovement::Out), 1001, Currency::CNY, &ctx);
        s.update(Msg::Amount("20.00".into()), 1001, Currency::CNY, &ctx);
        let u = s.update(Msg::Submit, 1001, Currency::CNY, &ctx);
        assert!(u.effects[0].is_work() && u.event.is_none());
        assert!(s.amount.is_empty());
        let u = s.update(Msg::NoSale, 1001, Currency::CNY, &ctx);
        assert_eq!(u.event, Some(Event::Approve(Pending::NoSale)));
        let u = s.update(Msg::Done(Ok(CashMovement::Out)), 1001, Currency::CNY, &ctx);
        assert_eq!(u.event, Some(Event::Done(CashMovement::Out)));
    }
}

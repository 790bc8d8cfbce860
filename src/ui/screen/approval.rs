//! The supervisor approval dialog, over whichever screen asked for it: a
//! supervisor's number and PIN for one action (price override, refund,
//! post-void, no-sale, Z report). The approval it obtains is for that
//! action only; the application carries the action out with it.

use crate::ctx::Ctx;
use crate::effect::{Effect, Update};
use crate::theme;
use iced::widget::{column, container, row, text, text_input};
use iced::{Element, Length};
use tillpoint_app::service::Denied;
use tillpoint_core::cashier::{Action, Approval, Target};
use tillpoint_core::catalog::Qty;
use tillpoint_core::money::Money;
use tillpoint_core::sale::Discount;

pub const NUMBER_ID: &str = "approval-number";
pub const PIN_ID: &str = "approval-pin";

/// An action waiting for a supervisor's number and PIN.
#[derive(Debug, Clone, PartialEq)]
pub enum Pending {
    Override(u32, Money),
    Refund(String, Vec<(u32, Qty)>),
    PostVoid(String),
    NoSale,
    ZReport,
    /// Settings to write (section, key, value): a manager's.
    Settings(Vec<(String, String, String)>),
    /// A change to the sale in progress over what a cashier may do alone
    /// (a big discount, a void once paying began), with what the sale
    /// engine said the approval must name.
    Change(Change, Action, Target),
    /// Cash out over `[policy] cash_out_limit`, with its reason.
    CashOut(Money, String),
    /// Selling on after the start-up check found the records altered: a
    /// manager's.
    Integrity,
    /// A change to the cashiers: a manager's, for that cashier number.
    Cashiers(crate::screen::cashiers::Change),
}

/// A change to the sale in progress that waits for a supervisor.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Void(u32),
    LineDiscount(u32, Discount),
    SaleDiscount(Discount),
}

impl Pending {
    fn action(&self) -> Action {
        match self {
            Pending::Override(..) => Action::PriceOverride,
            Pending::Refund(..) => Action::Refund,
            Pending::PostVoid(_) => Action::PostVoid,
            Pending::NoSale => Action::NoSale,
            Pending::ZReport => Action::ZReport,
            Pending::Settings(_) => Action::ChangeSettings,
            Pending::Change(_, action, _) => *action,
            Pending::CashOut(..) => Action::CashOut,
            Pending::Integrity => Action::AcknowledgeIntegrity,
            Pending::Cashiers(_) => Action::ManageCashiers,
        }
    }

    /// What the approval names, so that it covers this and nothing else.
    fn target(&self) -> Target {
        match self {
            Pending::Override(line_no, price) => Target::Line {
                line_no: *line_no,
                minor: price.minor,
            },
            Pending::Refund(receipt, picks) => Target::Refund {
                receipt: receipt.clone(),
                picks: picks.iter().map(|(l, q)| (*l, q.milli())).collect(),
            },
            Pending::PostVoid(receipt) => Target::Receipt(receipt.clone()),
            Pending::NoSale | Pending::ZReport | Pending::Settings(_) | Pending::Integrity => {
                Target::Till
            }
            Pending::Change(_, _, target) => target.clone(),
            Pending::CashOut(amount, _) => Target::CashOut {
                minor: amount.minor,
            },
            Pending::Cashiers(change) => Target::Cashier(change.number()),
        }
    }
}

/// `Debug` leaves the PIN out (see [`crate::secret`]).
#[derive(Clone)]
pub struct State {
    pub pending: Pending,
    pub number: String,
    pub pin: String,
    pub error: Option<String>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("pending", &self.pending)
            .field("number", &self.number)
            .field("pin", &crate::secret::Redacted(&self.pin))
            .field("error", &self.error)
            .finish()
    }
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Number(n) => f.debug_tuple("Number").field(n).finish(),
            Msg::Pin(p) => f
                .debug_tuple("Pin")
                .field(&crate::secret::Redacted(p))
                .finish(),
            Msg::Submit => f.write_str("Submit"),
            Msg::Cancel => f.write_str("Cancel"),
            Msg::Answer(a) => f.debug_tuple("Answer").field(a).finish(),
        }
    }
}

/// `Debug` leaves the PIN out.
#[derive(Clone)]
pub enum Msg {
    Number(String),
    Pin(String),
    Submit,
    Cancel,
    /// The service's answer: the approval, or why there is none.
    Answer(Result<Approval, Denied>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Approved: carry out the pending action with this approval.
    Approved(Pending, Approval),
    Cancelled,
}

impl State {
    /// Asks for approval of `pending`; the focus goes to the number.
    pub fn ask(pending: Pending) -> (State, Effect<Msg>) {
        (
            State {
                pending,
                number: String::new(),
                pin: String::new(),
                error: None,
            },
            Effect::Focus(NUMBER_ID),
        )
    }

    pub fn update(&mut self, msg: Msg, ctx: &Ctx<'_>) -> Update<Msg, Event> {
        match msg {
            Msg::Number(s) => {
                self.number = s.chars().filter(char::is_ascii_digit).take(6).collect();
                Update::none()
            }
            Msg::Pin(s) => {
                self.pin = s.chars().filter(char::is_ascii_digit).take(8).collect();
                Update::none()
            }
            Msg::Cancel => Update::event(Event::Cancelled),
            Msg::Submit => {
                let Ok(number) = self.number.parse::<u32>() else {
                    return Update::effect(Effect::Focus(NUMBER_ID));
                };
                if self.pin.len() < 4 {
                    return Update::effect(Effect::Focus(PIN_ID));
                }
                let pin = std::mem::take(&mut self.pin);
                let (action, target) = (self.pending.action(), self.pending.target());
                Update::effect(Effect::call(move |s| {
                    Msg::Answer(s.approve(number, &pin, action, target))
                }))
            }
            Msg::Answer(Ok(approval)) => {
                Update::event(Event::Approved(self.pending.clone(), approval))
            }
            Msg::Answer(Err(why)) => {
                self.error = Some(match why {
                    Denied::WrongPin => ctx.t("approval-wrong"),
                    Denied::NotAllowed(_) => ctx.t("approval-denied"),
                    Denied::Locked { until_ms } => ctx.pin_locked(until_ms),
                    Denied::Failed(words) => words,
                });
                self.number.clear();
                Update::effect(Effect::Focus(NUMBER_ID))
            }
        }
    }

    pub fn view<'a>(&'a self, ctx: &Ctx<'_>) -> Element<'a, Msg> {
        let what = match &self.pending {
            Pending::Override(..) => ctx.t("approval-override"),
            Pending::Refund(..) => ctx.t("approval-refund"),
            Pending::PostVoid(_) => ctx.t("approval-post-void"),
            Pending::NoSale => ctx.t("approval-no-sale"),
            Pending::ZReport => ctx.t("approval-z"),
            Pending::Settings(_) => ctx.t("approval-settings"),
            Pending::Change(Change::Void(_), ..) => ctx.t("approval-line-void"),
            Pending::Change(..) => ctx.t("approval-discount"),
            Pending::CashOut(amount, _) => {
                ctx.ta("approval-cash-out", &[("amount", ctx.money(*amount))])
            }
            Pending::Integrity => ctx.t("approval-integrity"),
            Pending::Cashiers(change) => ctx.ta(
                "approval-cashiers",
                &[("number", change.number().to_string())],
            ),
        };
        let mut c = column![
            theme::title(ctx.t("approval-title")),
            text(what).size(theme::TEXT),
            text_input(&ctx.t("approval-number"), &self.number)
                .id(NUMBER_ID)
                .on_input(Msg::Number)
                .on_submit(Msg::Submit)
                .size(theme::TITLE)
                .padding(10),
            text_input(&ctx.t("approval-pin"), &self.pin)
                .id(PIN_ID)
                .secure(true)
                .on_input(Msg::Pin)
                .on_submit(Msg::Submit)
                .size(theme::TITLE)
                .padding(10),
            row![
                theme::secondary(ctx.t("common-cancel"), Some(Msg::Cancel)).width(Length::Fill),
                theme::primary(ctx.t("approval-approve"), Some(Msg::Submit)).width(Length::Fill),
            ]
            .spacing(theme::GAP),
        ]
        .spacing(theme::GAP)
        .max_width(480);
        if let Some(e) = &self.error {
            c = c.push(theme::notice(e, true));
        }
        container(theme::panel(c).max_width(520))
            .center(Length::Fill)
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_form_asks_the_service_and_an_answer_decides() {
        let ctx = Ctx::for_tests();
        let (mut s, focus) = State::ask(Pending::ZReport);
        assert!(focus.is_focus(NUMBER_ID));
        assert!(s.update(Msg::Submit, &ctx).effects[0].is_focus(NUMBER_ID));
        s.update(Msg::Number("20x01".into()), &ctx);
        assert_eq!(s.number, "2001");
        assert!(s.update(Msg::Submit, &ctx).effects[0].is_focus(PIN_ID));
        s.update(Msg::Pin("2468".into()), &ctx);
        let u = s.update(Msg::Submit, &ctx);
        assert!(u.effects[0].is_work());
        assert!(s.pin.is_empty(), "the PIN does not stay on screen");

        s.update(Msg::Answer(Err(Denied::WrongPin)), &ctx);
        assert_eq!(s.error.as_deref(), Some(ctx.t("approval-wrong").as_str()));
        assert!(s.number.is_empty());
        s.update(Msg::Answer(Err(Denied::NotAllowed("cashier".into()))), &ctx);
        assert_eq!(s.error.as_deref(), Some(ctx.t("approval-denied").as_str()));
        // A failing store is said as such, not as a lack of rights.
        s.update(
            Msg::Answer(Err(Denied::Failed("disk I/O error".into()))),
            &ctx,
        );
        assert_eq!(s.error.as_deref(), Some("disk I/O error"));

        assert_eq!(s.update(Msg::Cancel, &ctx).event, Some(Event::Cancelled));
    }
}

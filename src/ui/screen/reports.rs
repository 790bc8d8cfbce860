//! X and Z reports: totals per tender and per tax rate, the drawer, and a
//! chart of sales by hour. A Z report needs a supervisor.

use crate::ctx::Ctx;
use crate::effect::{Effect, Update};
use crate::screen::approval::Pending;
use crate::theme;
use crate::widget::chart::HourChart;
use iced::widget::{canvas, column, container, row, scrollable, text, Column};
use iced::{Element, Length};
use tillpoint_app::service::{CardSummary, ReportView, SettlementOutcomeRow};
use tillpoint_core::cashier::Approval;
use tillpoint_core::report::Report;
use tillpoint_core::tender::TenderKind;

#[derive(Debug, Clone, Default)]
pub struct State {
    pub report: Option<Report>,
    /// Card and QR money of the report: fees, net, settlement.
    pub card: Option<CardSummary>,
}

#[derive(Debug, Clone)]
pub enum Msg {
    X,
    Z,
    Back,
    /// An X or Z report with its card figures.
    Loaded(Result<Box<ReportView>, String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A Z report needs a supervisor first.
    Approve(Pending),
    Back,
    Notice(String),
}

/// The X report so far.
pub fn x() -> Effect<Msg> {
    Effect::call(|s| Msg::Loaded(s.report(None).map(Box::new)))
}

/// A new Z report with the supervisor's approval (settling first when
/// configured).
pub fn z(ap: Approval) -> Effect<Msg> {
    Effect::call(move |s| Msg::Loaded(s.report(Some(&ap)).map(Box::new)))
}

impl State {
    /// X and Z on the keyboard ask for those reports (a Z asks a
    /// supervisor first), as the buttons do.
    pub fn typed(&self, c: char) -> Option<Msg> {
        match c.to_ascii_lowercase() {
            'x' => Some(Msg::X),
            'z' => Some(Msg::Z),
            _ => None,
        }
    }

    /// The screen opened: the X report is asked for.
    pub fn open() -> (State, Effect<Msg>) {
        (State::default(), x())
    }

    pub fn update(&mut self, msg: Msg) -> Update<Msg, Event> {
        match msg {
            Msg::X => Update::effect(x()),
            Msg::Z => Update::event(Event::Approve(Pending::ZReport)),
            Msg::Back => Update::event(Event::Back),
            Msg::Loaded(Ok(view)) => {
                let view = *view;
                self.report = Some(view.report);
                self.card = view.card;
                match view.problem {
                    Some(p) => Update::event(Event::Notice(p)),
                    None => Update::none(),
                }
            }
            Msg::Loaded(Err(e)) => Update::event(Event::Notice(e)),
        }
    }
}

fn line<'a, M: 'a>(label: String, count: Option<i64>, value: String) -> Element<'a, M> {
    row![
        text(label).size(theme::TEXT).width(Length::Fill),
        text(count.map(|c| c.to_string()).unwrap_or_default())
            .size(theme::TEXT)
            .width(60),
        text(value).size(theme::TEXT).width(150),
    ]
    .into()
}

/// A percentage as the shop owner writes it ("1.5%").
fn percent(rate: rust_decimal::Decimal) -> String {
    format!(
        "{}%",
        (rate * rust_decimal::Decimal::ONE_HUNDRED).normalize()
    )
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// "How much of this will reach my account?": the fee per scheme at the
/// configured rate, the net, and what still waits for the acquirer.
fn card_section<'a>(
    mut col: Column<'a, Msg>,
    card: &CardSummary,
    ctx: &Ctx<'_>,
) -> Column<'a, Msg> {
    let f = &card.fees;
    col = col.push(text(ctx.t("reports-card")).size(theme::TEXT));
    for s in &f.schemes {
        col = col.push(line(
            ctx.ta(
                "reports-card-scheme",
                &[
                    ("scheme", ctx.scheme(&s.scheme)),
                    ("rate", percent(s.rate)),
                    ("fee", ctx.minor(s.fee)),
                ],
            ),
            Some(s.sales.count + s.refunds.count),
            ctx.minor(s.net),
        ));
    }
    col = col.push(line(ctx.t("reports-card-gross"), None, ctx.minor(f.gross)));
    col = col.push(line(ctx.t("reports-card-fees"), None, ctx.minor(-f.fees)));
    col = col.push(line(ctx.t("reports-card-net"), None, ctx.minor(f.net)));
    if !card.fees_configured {
        col = col.push(text(ctx.t("reports-card-no-rates")).size(theme::SMALL));
    }
    let Some(st) = &card.settlement else {
        return col.push(
            text(ctx.t("reports-settlement-unreadable"))
                .size(theme::SMALL)
                .color(theme::error_color()),
        );
    };
    let open = &st.open_totals;
    col = col.push(line(
        ctx.ta(
            "reports-settlement-open",
            &[("batch", format!("{:06}", st.open_batch))],
        ),
        Some(to_i64(open.debits_count + open.credits_count)),
        ctx.minor(to_i64(open.debits_amount) - to_i64(open.credits_amount)),
    ));
    let waiting = st.advices_waiting + st.refunds_voids_waiting + st.reversals_pending;
    col = col.push(line(
        ctx.t("reports-settlement-waiting"),
        Some(to_i64(waiting)),
        String::new(),
    ));
    let refused = st.advices_refused + st.refunds_voids_refused;
    if refused > 0 {
        col = col.push(
            text(ctx.ta(
                "reports-settlement-refused",
                &[("count", refused.to_string())],
            ))
            .size(theme::TEXT)
            .color(theme::error_color()),
        );
    }
    let last = match &st.last {
        None => ctx.t("reports-settlement-none"),
        Some(l) => {
            let id = match l.outcome {
                SettlementOutcomeRow::Matched | SettlementOutcomeRow::MatchedAfterUpload => {
                    "reports-settlement-matched"
                }
                SettlementOutcomeRow::Mismatch | SettlementOutcomeRow::Failed => {
                    "reports-settlement-failed"
                }
            };
            ctx.ta(
                id,
                &[
                    ("batch", format!("{:06}", l.batch)),
                    ("time", ctx.datetime(l.at_ms)),
                ],
            )
        }
    };
    col.push(text(last).size(theme::SMALL))
}

pub fn view<'a>(state: &'a State, ctx: &Ctx<'_>) -> Element<'a, Msg> {
    let buttons = row![
        theme::secondary(theme::keyed(ctx.t("reports-x"), "X"), Some(Msg::X)).width(Length::Fill),
        theme::danger(theme::keyed(ctx.t("reports-z"), "Z"), Some(Msg::Z)).width(Length::Fill),
        theme::secondary(ctx.t("common-back"), Some(Msg::Back)).width(Length::Fill),
    ]
    .spacing(theme::GAP);
    let mut body = column![theme::title(ctx.t("reports-title")), buttons].spacing(theme::GAP);
    if let Some(r) = &state.report {
        let t = &r.totals;
        let heading = match r.z_number {
            Some(n) => ctx.ta("reports-z-heading", &[("number", n.to_string())]),
            None => ctx.t("reports-x-heading"),
        };
        let mut left = Column::new().spacing(4);
        left = left.push(text(heading).size(theme::TITLE));
        left = left.push(
            text(format!(
                "{} – {}",
                ctx.datetime(r.opened_at_ms),
                ctx.datetime(r.closed_at_ms)
            ))
            .size(theme::SMALL),
        );
        if let Some(head) = &r.chain_head {
            left = left.push(
                text(ctx.ta("reports-anchor", &[("anchor", head.clone())])).size(theme::SMALL),
            );
        }
        if let Some(by) = r.approved_by {
            left = left.push(
                text(ctx.ta("reports-approved-by", &[("number", by.to_string())]))
                    .size(theme::SMALL),
            );
        }
        left = left.push(line(
            ctx.t("reports-sales"),
            Some(t.sales.count),
            ctx.minor(t.sales.amount),
        ));
        left = left.push(line(
            ctx.t("reports-refunds"),
            Some(t.refunds.count),
            ctx.minor(t.refunds.amount),
        ));
        left = left.push(line(
            ctx.t("reports-voids"),
            Some(t.post_voids.count),
            ctx.minor(t.post_voids.amount),
        ));
        left = left.push(line(
            ctx.t("reports-discounts"),
            None,
            ctx.minor(t.discounts),
        ));
        left = left.push(line(ctx.t("reports-net"), None, ctx.minor(t.net())));
        left = left.push(text(ctx.t("reports-per-tender")).size(theme::TEXT));
        for (kind, tt) in &t.tenders {
            let name = match kind {
                TenderKind::Cash => ctx.t("tender-cash"),
                TenderKind::Card => ctx.t("tender-card"),
                TenderKind::Qr => ctx.t("tender-qr"),
            };
            left = left.push(line(
                name,
                Some(tt.sales.count + tt.refunds.count),
                ctx.minor(tt.sales.amount + tt.refunds.amount),
            ));
        }
        left = left.push(text(ctx.t("reports-per-tax")).size(theme::TEXT));
        for tx in t.tax.values() {
            left = left.push(line(
                ctx.ta(
                    "reports-tax-line",
                    &[("name", tx.name.clone()), ("net", ctx.minor(tx.net))],
                ),
                None,
                ctx.minor(tx.tax),
            ));
        }
        left = left.push(text(ctx.t("reports-drawer")).size(theme::TEXT));
        left = left.push(line(
            ctx.t("reports-float"),
            None,
            ctx.minor(t.opening_float),
        ));
        left = left.push(line(
            ctx.t("reports-cash-in"),
            Some(t.cash_in.count),
            ctx.minor(t.cash_in.amount),
        ));
        left = left.push(line(
            ctx.t("reports-cash-out"),
            Some(t.cash_out.count),
            ctx.minor(t.cash_out.amount),
        ));
        left = left.push(line(
            ctx.t("reports-no-sales"),
            Some(t.no_sales),
            String::new(),
        ));
        left = left.push(line(
            ctx.t("reports-expected"),
            None,
            ctx.minor(t.cash_expected()),
        ));

        let mut chart = column![
            text(ctx.t("reports-by-hour")).size(theme::TEXT),
            canvas(HourChart {
                by_hour: t.by_hour.clone()
            })
            .width(Length::Fill)
            .height(200),
        ]
        .spacing(4);
        // The card money sits beside the cash drawer, under the chart.
        if let Some(card) = &state.card {
            chart = card_section(chart, card, ctx);
        }
        body = body.push(
            row![
                scrollable(left).width(Length::FillPortion(1)),
                scrollable(chart).width(Length::FillPortion(1))
            ]
            .spacing(16),
        );
    }
    container(body).padding(theme::PAD).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_asks_the_service_z_asks_a_supervisor_first() {
        let (mut s, fx) = State::open();
        assert!(fx.is_work());
        assert!(s.update(Msg::X).effects[0].is_work());
        assert_eq!(
            s.update(Msg::Z).event,
            Some(Event::Approve(Pending::ZReport))
        );
        let u = s.update(Msg::Loaded(Err("settlement".into())));
        assert_eq!(u.event, Some(Event::Notice("settlement".into())));
        assert!(s.report.is_none());
    }
}

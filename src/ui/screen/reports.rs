//! X and Z reports: totals per tender and per tax rate, the drawer, and a
//! chart of sales by hour. A Z report needs a supervisor.

use crate::core::report::Report;
use crate::core::tender::TenderKind;
use crate::ui::ctx::Ctx;
use crate::ui::theme;
use crate::ui::widget::chart::HourChart;
use iced::widget::{canvas, column, container, row, scrollable, text, Column};
use iced::{Element, Length};

#[derive(Debug, Clone, Default)]
pub struct State {
    pub report: Option<Report>,
}

#[derive(Debug, Clone)]
pub enum Msg {
    X,
    Z,
    Back,
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

pub fn view<'a>(state: &'a State, ctx: &Ctx<'_>) -> Element<'a, Msg> {
    let buttons = row![
        theme::secondary(ctx.t("reports-x"), Some(Msg::X)).width(Length::Fill),
        theme::danger(ctx.t("reports-z"), Some(Msg::Z)).width(Length::Fill),
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
        let chart = column![
            text(ctx.t("reports-by-hour")).size(theme::TEXT),
            canvas(HourChart {
                by_hour: t.by_hour.clone()
            })
            .width(Length::Fill)
            .height(260),
        ]
        .spacing(4);
        body = body.push(
            row![
                scrollable(left).width(Length::FillPortion(3)),
                chart.width(Length::FillPortion(2))
            ]
            .spacing(16),
        );
    }
    container(body).padding(theme::PAD).into()
}

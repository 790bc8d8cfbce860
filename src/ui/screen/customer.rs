//! The customer display: the second window of a dual-screen register,
//! turned to the customer. It only shows; nothing on it takes input.
//!
//! It draws the same [`CustomerView`] the pole display shows, with what a
//! screen has room for besides: the lines as they are scanned, the shop's
//! QR code while the customer is to scan it, and words in the customer's
//! own language.

use crate::ctx::Ctx;
use crate::theme;
use iced::widget::{column, container, qr_code, row, scrollable, text, Column};
use iced::{Alignment, Element, Length};
use tillpoint_app::customer::{CardPrompt, CustomerView};
use tillpoint_core::catalog::Unit;
use tillpoint_core::sale::{Sale, Totals};

/// The newest lines the customer sees; older ones scroll off the top.
const LINES_SHOWN: usize = 12;

/// What the customer display draws beyond the [`CustomerView`].
pub struct Counter<'a> {
    pub shop: &'a str,
    pub sale: &'a Sale,
    pub totals: Option<Totals>,
    /// The shop's code for the customer to scan, while one is shown.
    pub code: Option<&'a qr_code::Data>,
    /// The demo's emulated pole display, drawn below (a shop's pole
    /// display is its own device on the counter).
    pub pole: Option<&'a [String; 2]>,
}

/// The customer display for `view`; `ctx` is in the customer's language.
pub fn view<'a, M: 'a>(ctx: &Ctx<'_>, view: &CustomerView, counter: Counter<'a>) -> Element<'a, M> {
    let demo_pole = counter.pole;
    let screen = container(display(ctx, view, counter)).height(Length::Fill);
    match demo_pole {
        Some(lines) => column![screen, pole(ctx, lines)]
            .padding(iced::Padding::ZERO.bottom(theme::PAD))
            .align_x(Alignment::Center)
            .into(),
        None => screen.into(),
    }
}

/// The screen's own part: the welcome, the sale, the payment, the thanks.
fn display<'a, M: 'a>(ctx: &Ctx<'_>, view: &CustomerView, counter: Counter<'a>) -> Element<'a, M> {
    let panel: Element<'a, M> = match view {
        CustomerView::Idle { shop } => {
            return container(
                column![
                    text(ctx.t("customer-welcome")).size(theme::HUGE * 1.6),
                    text(shop.clone()).size(theme::HUGE),
                ]
                .spacing(24)
                .align_x(Alignment::Center),
            )
            .center(Length::Fill)
            .into();
        }
        CustomerView::Sale { last, total } => {
            let mut col = column![].spacing(12).align_x(Alignment::Center);
            if let Some((name, price)) = last {
                col = col.push(text(name.clone()).size(theme::TITLE));
                col = col.push(text(ctx.money(*price)).size(theme::TITLE));
            }
            col.push(figure(ctx, "customer-total", *total)).into()
        }
        CustomerView::Paying { total, due } => column![
            figure(ctx, "customer-total", *total),
            figure(ctx, "customer-to-pay", *due),
        ]
        .spacing(24)
        .align_x(Alignment::Center)
        .into(),
        CustomerView::Card { prompt, amount } => {
            let mut col = column![figure(ctx, "customer-to-pay", *amount)]
                .spacing(20)
                .align_x(Alignment::Center);
            match (prompt, counter.code) {
                (CardPrompt::Qr, Some(data)) => {
                    col = col.push(
                        container(qr_code(data).cell_size(7))
                            .padding(14)
                            .style(container::bordered_box),
                    );
                    col = col.push(prompt_text(ctx.t("customer-scan")));
                }
                (CardPrompt::Qr, None) => col = col.push(prompt_text(ctx.t("customer-show-code"))),
                (p, _) => col = col.push(prompt_text(ctx.t(prompt_id(*p)))),
            }
            col.into()
        }
        CustomerView::Done {
            total,
            paid,
            change,
        } => {
            return container(
                column![
                    figure(ctx, "customer-total", *total),
                    figure(ctx, "customer-paid", *paid),
                    figure(ctx, "customer-change", *change),
                    text(ctx.t("customer-thanks")).size(theme::HUGE),
                ]
                .spacing(24)
                .align_x(Alignment::Center),
            )
            .center(Length::Fill)
            .into();
        }
    };
    let header = text(counter.shop.to_string()).size(theme::TITLE);
    let body = row![
        container(lines(ctx, &counter))
            .width(Length::FillPortion(3))
            .height(Length::Fill),
        container(panel)
            .center(Length::FillPortion(2))
            .height(Length::Fill),
    ]
    .spacing(theme::GAP * 2.0);
    column![header, body]
        .spacing(theme::GAP)
        .padding(theme::PAD * 2.0)
        .into()
}

/// The demo's pole display as a 2×20 vacuum-fluorescent panel.
fn pole<'a, M: 'a>(ctx: &Ctx<'_>, lines: &[String; 2]) -> Element<'a, M> {
    let vfd = iced::Color::from_rgb8(0x5f, 0xf5, 0xd0);
    let line = |l: &str| {
        text(format!("{l:<20}"))
            .font(iced::Font::MONOSPACE)
            .size(theme::TITLE)
            .color(vfd)
    };
    column![
        text(ctx.t("customer-pole-demo")).size(theme::SMALL),
        container(column![line(&lines[0]), line(&lines[1])].spacing(2))
            .padding(10)
            .style(|_| container::Style {
                background: Some(iced::Color::from_rgb8(0x10, 0x14, 0x12).into()),
                ..container::Style::default()
            }),
    ]
    .spacing(4)
    .into()
}

/// A labelled amount, large enough to read from across the counter.
fn figure<'a, M: 'a>(
    ctx: &Ctx<'_>,
    label: &str,
    amount: tillpoint_core::money::Money,
) -> Element<'a, M> {
    column![
        text(ctx.t(label)).size(theme::TITLE),
        text(ctx.money(amount)).size(theme::HUGE * 1.4),
    ]
    .spacing(4)
    .align_x(Alignment::Center)
    .into()
}

fn prompt_text<'a>(s: String) -> text::Text<'a> {
    text(s)
        .size(theme::TITLE)
        .align_x(Alignment::Center)
        .width(Length::Fill)
}

/// The customer's words for where a card payment stands.
pub fn prompt_id(p: CardPrompt) -> &'static str {
    match p {
        CardPrompt::InsertOrTap => "customer-insert",
        CardPrompt::EnterPin => "customer-pin",
        CardPrompt::Processing => "customer-wait",
        CardPrompt::Approved => "customer-approved",
        CardPrompt::Declined => "customer-declined",
        CardPrompt::Qr => "customer-show-code",
    }
}

/// The sale's lines, newest at the bottom; voided lines are left out
/// (the customer is not charged for them).
fn lines<'a, M: 'a>(ctx: &Ctx<'_>, counter: &Counter<'a>) -> Element<'a, M> {
    let live: Vec<_> = counter.sale.live_lines().collect();
    let start = live.len().saturating_sub(LINES_SHOWN);
    let mut list = Column::new().spacing(6);
    for l in &live[start..] {
        let amount = counter
            .totals
            .as_ref()
            .and_then(|t| t.lines.iter().find(|x| x.line_no == l.line_no))
            .map(|t| ctx.money(t.gross))
            .unwrap_or_default();
        let qty = if l.unit == Unit::Kg {
            format!("{} kg × {}", l.qty, ctx.money(l.unit_price))
        } else {
            format!("{} × {}", l.qty, ctx.money(l.unit_price))
        };
        list = list.push(
            row![
                column![
                    text(l.name.clone()).size(theme::TEXT),
                    text(qty).size(theme::SMALL)
                ]
                .spacing(2)
                .width(Length::Fill),
                text(amount).size(theme::TEXT).align_x(Alignment::End),
            ]
            .spacing(theme::GAP)
            .align_y(Alignment::Center),
        );
    }
    theme::panel(scrollable(list).height(Length::Fill).anchor_bottom())
        .width(Length::Fill)
        .height(Length::Fill)
        .into()
}

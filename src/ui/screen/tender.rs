//! Taking payment: cash with quick note buttons and change due, card and QR
//! with a progress screen, and split payment until the balance is zero.

use crate::ctx::Ctx;
use crate::theme;
use iced::widget::{column, container, row, text, text_input, Column};
use iced::{Alignment, Element, Length};
use tillpoint_core::money::Money;
use tillpoint_core::sale::Sale;
use tillpoint_core::tender::TenderKind;

pub const CASH_ID: &str = "cash";
/// The amount of a part payment by card or QR.
pub const PART_ID: &str = "tender-part";
/// The field the scanner types the customer's payment code into.
pub const CODE_ID: &str = "payment-code";

/// Where an electronic payment stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub kind: TenderKind,
    pub amount: Money,
    /// 0 waiting for card / code, 1 PIN on the PIN pad, 2 processing, 3 done.
    pub step: u8,
    pub approved: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct State {
    pub cash: String,
    /// Amount for the next card/QR payment (empty: the whole balance).
    pub part: String,
    pub progress: Option<Progress>,
    pub last_change: Option<Money>,
    /// Demo: which virtual card the customer "inserts".
    pub profile: String,
    /// Digits typed on the on-screen PIN pad (shown as asterisks only).
    pub pin_len: usize,
    /// Whether the window shows the customer's PIN pad (demo devices).
    pub on_screen_pad: bool,
    /// Whether a QR payment waits for the customer's code to be scanned
    /// (the shop's devices) before it goes to the acquirer.
    pub scan_code: bool,
    /// The scanned payment code.
    pub code: String,
    /// Whether a payment in progress can be cancelled from the screen
    /// (payment devices; not the demo's simulated steps).
    pub cancellable: bool,
}

#[derive(Debug, Clone)]
pub enum Msg {
    Cash(String),
    Part(String),
    Note(i64),
    Exact,
    PayCash,
    Card,
    Qr,
    Dismiss,
    Back,
    Profile(String),
    /// A key on the customer's PIN pad (demo): digit, 'E' enter, 'C' clear, 'X' cancel.
    Pad(char),
    /// The scanner typing the customer's payment code.
    Code(String),
    /// The scanner's Enter after the code.
    CodeScanned,
    /// The cashier stops the payment in progress.
    Cancel,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A key for the simulated PIN pad.
    Pad(char),
    Cash(Money),
    Electronic(TenderKind, Money),
    /// A QR payment waits for the code: focus the code field.
    AwaitCode,
    /// The customer's code was scanned: pay `amount` with it.
    Code(Money, String),
    /// Stop the payment in progress.
    Cancel,
    Back,
    Notice(String),
}

/// Note values offered as one-touch buttons, in minor units.
const NOTES: [i64; 5] = [1_000, 2_000, 5_000, 10_000, 20_000];

impl State {
    pub fn update(&mut self, msg: Msg, balance: Money, ctx: &Ctx<'_>) -> Option<Event> {
        match msg {
            Msg::Cash(s) => {
                self.cash = s;
                None
            }
            Msg::Part(s) => {
                self.part = s;
                None
            }
            Msg::Note(minor) => Some(Event::Cash(Money::new(minor, balance.currency))),
            Msg::Exact => Some(Event::Cash(balance)),
            Msg::PayCash => match Money::parse(&self.cash, balance.currency) {
                Ok(m) if m.minor > 0 => {
                    self.cash.clear();
                    Some(Event::Cash(m))
                }
                _ => Some(Event::Notice(ctx.t("tender-bad-amount"))),
            },
            Msg::Card | Msg::Qr => {
                let kind = if matches!(msg, Msg::Card) {
                    TenderKind::Card
                } else {
                    TenderKind::Qr
                };
                let amount = if self.part.trim().is_empty() {
                    balance
                } else {
                    match Money::parse(&self.part, balance.currency) {
                        Ok(m) if m.minor > 0 && m.minor <= balance.minor => m,
                        _ => return Some(Event::Notice(ctx.t("tender-bad-amount"))),
                    }
                };
                self.part.clear();
                self.progress = Some(Progress {
                    kind,
                    amount,
                    step: 0,
                    approved: None,
                });
                if kind == TenderKind::Qr && self.scan_code {
                    self.code.clear();
                    return Some(Event::AwaitCode);
                }
                Some(Event::Electronic(kind, amount))
            }
            Msg::Code(c) => {
                self.code = c;
                None
            }
            Msg::CodeScanned => {
                let code = self.code.trim().to_string();
                match &self.progress {
                    Some(p) if p.kind == TenderKind::Qr && p.step == 0 && !code.is_empty() => {
                        self.code.clear();
                        Some(Event::Code(p.amount, code))
                    }
                    _ => None,
                }
            }
            Msg::Cancel => {
                let waiting_for_code = self
                    .progress
                    .as_ref()
                    .is_some_and(|p| p.kind == TenderKind::Qr && p.step == 0 && self.scan_code);
                if waiting_for_code {
                    // Nothing was sent yet.
                    self.progress = None;
                    self.code.clear();
                    return None;
                }
                Some(Event::Cancel)
            }
            Msg::Dismiss => {
                self.progress = None;
                None
            }
            Msg::Back => Some(Event::Back),
            Msg::Profile(p) => {
                self.profile = p;
                None
            }
            Msg::Pad(k) => {
                match k {
                    '0'..='9' => self.pin_len = (self.pin_len + 1).min(12),
                    'C' => self.pin_len = 0,
                    _ => {}
                }
                Some(Event::Pad(k))
            }
        }
    }

    pub fn view<'a>(
        &'a self,
        ctx: &Ctx<'_>,
        sale: &'a Sale,
        balance: Money,
        cash_due: Money,
    ) -> Element<'a, Msg> {
        if let Some(p) = &self.progress {
            return self.progress_view(ctx, p);
        }
        let mut paid = Column::new().spacing(4);
        for t in &sale.tenders {
            let label = match t.kind {
                TenderKind::Cash => ctx.t("tender-cash"),
                TenderKind::Card => ctx.t("tender-card"),
                TenderKind::Qr => ctx.t("tender-qr"),
            };
            paid = paid.push(row![
                text(label).width(Length::Fill).size(theme::TEXT),
                text(ctx.money(t.amount)).size(theme::TEXT)
            ]);
        }
        let header = column![
            text(ctx.t("tender-balance")).size(theme::TITLE),
            text(ctx.money(balance)).size(theme::HUGE * 1.4),
            text(ctx.ta("tender-cash-due", &[("amount", ctx.money(cash_due))])).size(theme::TEXT),
        ]
        .spacing(4)
        .align_x(Alignment::Center);
        let mut notes = iced::widget::Row::new().spacing(theme::GAP);
        notes =
            notes.push(theme::success(ctx.t("tender-exact"), Some(Msg::Exact)).width(Length::Fill));
        for n in NOTES.iter().filter(|n| **n >= cash_due.minor).take(4) {
            notes = notes
                .push(theme::secondary(ctx.minor(*n), Some(Msg::Note(*n))).width(Length::Fill));
        }
        let cash = row![
            text_input(&ctx.t("tender-cash-hint"), &self.cash)
                .id(CASH_ID)
                .on_input(Msg::Cash)
                .on_submit(Msg::PayCash)
                .size(theme::TITLE)
                .padding(10),
            theme::primary(ctx.t("tender-take-cash"), Some(Msg::PayCash)).width(200),
        ]
        .spacing(theme::GAP);
        let electronic = row![
            text_input(&ctx.t("tender-part-hint"), &self.part)
                .id(PART_ID)
                .on_input(Msg::Part)
                .size(theme::TEXT)
                .padding(12),
            theme::primary(ctx.t("tender-card"), Some(Msg::Card)).width(160),
            theme::primary(ctx.t("tender-qr"), Some(Msg::Qr)).width(160),
        ]
        .spacing(theme::GAP);
        let mut body = column![header].spacing(16).max_width(900);
        if !sale.tenders.is_empty() {
            body = body.push(theme::panel(paid).width(Length::Fill));
        }
        body = body.push(notes).push(cash).push(electronic);
        if ctx.demo {
            let mut cards = iced::widget::Row::new().spacing(4);
            for (i, name) in crate::app::DEMO_CARDS.iter().enumerate() {
                let chosen = self.profile == *name || (self.profile.is_empty() && i == 0);
                let b = theme::big((*name).to_string(), Some(Msg::Profile((*name).to_string())))
                    .width(Length::Fill);
                cards = cards.push(if chosen {
                    b.style(iced::widget::button::primary)
                } else {
                    b.style(iced::widget::button::secondary)
                });
            }
            body = body.push(
                column![text(ctx.t("tender-demo-card")).size(theme::SMALL), cards].spacing(4),
            );
        }
        if let Some(ch) = self.last_change {
            body = body.push(theme::notice(
                &ctx.ta("tender-change", &[("amount", ctx.money(ch))]),
                false,
            ));
        }
        body = body.push(theme::secondary(ctx.t("tender-back"), Some(Msg::Back)).width(200));
        container(body)
            .center_x(Length::Fill)
            .padding(theme::PAD)
            .into()
    }

    fn progress_view<'a>(&'a self, ctx: &Ctx<'_>, p: &Progress) -> Element<'a, Msg> {
        let steps: Vec<String> = match p.kind {
            TenderKind::Card => vec![
                ctx.t("pay-insert-card"),
                ctx.t("pay-enter-pin"),
                ctx.t("pay-processing"),
            ],
            _ => vec![ctx.t("pay-scan-code"), ctx.t("pay-processing")],
        };
        let mut col = column![text(ctx.money(p.amount)).size(theme::HUGE),]
            .spacing(16)
            .align_x(Alignment::Center);
        for (i, s) in steps.iter().enumerate() {
            let mark = if (i as u8) < p.step {
                "✓"
            } else if i as u8 == p.step && p.approved.is_none() {
                "…"
            } else {
                " "
            };
            col = col.push(text(format!("{mark} {s}")).size(theme::TITLE));
        }
        if p.kind == TenderKind::Card && p.step == 1 && p.approved.is_none() && self.on_screen_pad {
            let key = |label: String, k: char| {
                theme::secondary(label, Some(Msg::Pad(k)))
                    .width(80)
                    .height(56)
            };
            let digits = |a: char, b: char, c: char| {
                row![
                    key(a.to_string(), a),
                    key(b.to_string(), b),
                    key(c.to_string(), c)
                ]
                .spacing(6)
            };
            let pad = column![
                text(ctx.t("pay-pin-pad")).size(theme::TEXT),
                text("*".repeat(self.pin_len)).size(theme::TITLE),
                digits('1', '2', '3'),
                digits('4', '5', '6'),
                digits('7', '8', '9'),
                row![
                    key(ctx.t("key-clear"), 'C'),
                    key("0".into(), '0'),
                    key(ctx.t("key-enter"), 'E')
                ]
                .spacing(6),
                theme::danger(ctx.t("common-cancel"), Some(Msg::Pad('X'))).width(252),
            ]
            .spacing(6)
            .align_x(Alignment::Center);
            col = col.push(theme::panel(pad));
        }
        if p.kind == TenderKind::Qr && p.step == 0 && p.approved.is_none() && self.scan_code {
            col = col.push(
                text_input(&ctx.t("pay-scan-hint"), &self.code)
                    .id(CODE_ID)
                    .on_input(Msg::Code)
                    .on_submit(Msg::CodeScanned)
                    .size(theme::TITLE)
                    .padding(10)
                    .width(520),
            );
            col = col.push(text(ctx.t("pay-scan-help")).size(theme::SMALL));
        }
        if p.approved.is_none() && (self.cancellable || self.scan_code) {
            col = col.push(theme::danger(ctx.t("common-cancel"), Some(Msg::Cancel)).width(200));
        }
        match p.approved {
            Some(true) => {
                col = col.push(theme::notice(&ctx.t("pay-approved"), false));
                col = col.push(theme::primary(ctx.t("common-ok"), Some(Msg::Dismiss)).width(200));
            }
            Some(false) => {
                col = col.push(theme::notice(&ctx.t("pay-declined"), true));
                col = col.push(theme::primary(ctx.t("common-ok"), Some(Msg::Dismiss)).width(200));
            }
            None => {}
        }
        container(col).center(Length::Fill).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tillpoint_core::money::Currency;
    use tillpoint_i18n::{I18n, Lang};

    #[test]
    fn cash_card_and_split_amounts() {
        let i = I18n::load();
        let ctx = Ctx {
            i18n: &i,
            lang: Lang::En,
            currency: Currency::CNY,
            offset_secs: 0,
            demo: true,
        };
        let bal = Money::new(1250, Currency::CNY);
        let mut s = State::default();
        assert_eq!(s.update(Msg::Exact, bal, &ctx), Some(Event::Cash(bal)));
        assert_eq!(
            s.update(Msg::Note(5000), bal, &ctx),
            Some(Event::Cash(Money::new(5000, Currency::CNY)))
        );
        s.update(Msg::Cash("x".into()), bal, &ctx);
        assert!(matches!(
            s.update(Msg::PayCash, bal, &ctx),
            Some(Event::Notice(_))
        ));
        s.update(Msg::Part("5.00".into()), bal, &ctx);
        assert_eq!(
            s.update(Msg::Card, bal, &ctx),
            Some(Event::Electronic(
                TenderKind::Card,
                Money::new(500, Currency::CNY)
            ))
        );
        assert_eq!(s.progress.as_ref().map(|p| p.step), Some(0));
        s.update(Msg::Dismiss, bal, &ctx);
        s.update(Msg::Part("99.00".into()), bal, &ctx);
        assert!(
            matches!(s.update(Msg::Qr, bal, &ctx), Some(Event::Notice(_))),
            "more than the balance"
        );
        s.update(Msg::Part(String::new()), bal, &ctx);
        assert_eq!(
            s.update(Msg::Qr, bal, &ctx),
            Some(Event::Electronic(TenderKind::Qr, bal)),
            "empty part = balance"
        );
    }
}

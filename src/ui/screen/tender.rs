//! Taking payment: cash with quick note buttons and change due, card and QR
//! with a progress screen, and split payment until the balance is zero.

use crate::ctx::Ctx;
use crate::effect::{Effect, Update};
use crate::theme;
use crate::widget::wedge::Swiped;
use iced::keyboard::key::Named;
use iced::widget::qr_code;
use iced::widget::{column, container, row, text, text_input, Column};
use iced::{Alignment, Element, Length};
use std::rc::Rc;
use tillpoint_app::qr_desk::ShownCode;
use tillpoint_app::service::{PadKey, PayProgress, PayRefusal, PayStep};
use tillpoint_core::money::Money;
use tillpoint_core::sale::{PricingRules, Sale, SaleRecord};
use tillpoint_core::tender::{CardEntry, CardRef, Cvm, TenderKind};

/// Virtual cards offered on the demo's tender screen, the default first.
/// The contactless ones (from "tap-unionpay" on) are tapped, not inserted.
pub const DEMO_CARDS: [&str; 16] = [
    "unionpay-online-pin",
    "visa-online-pin",
    "offline-approve",
    "declining",
    "expired",
    "two-apps",
    "mastercard-cda",
    "broken-tlv",
    "stripe-only",
    "tap-unionpay",
    "tap-visa",
    "tap-mastercard",
    "phone-wallet",
    "tap-over-limit",
    "tap-two-cards",
    "tap-removed",
];

/// The demo card without a chip: swiped, never inserted.
const STRIPE_ONLY: &str = "stripe-only";

/// What the till's payment devices can do, as the tender screen needs to
/// know it (read once from the service when the window opens).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Devices {
    /// A payment terminal takes card and QR payments (the demo's or the shop's).
    pub terminal: bool,
    /// QR payments need the customer's code scanned first (the shop's devices).
    pub scans_codes: bool,
    /// The customer types the PIN on the window's pad (the demo's simulated pad).
    pub pin_pad: bool,
    /// Demo mode: without a terminal the payment steps are simulated.
    pub demo: bool,
    /// The QR gateway can make a code for the customer to scan.
    pub shows_codes: bool,
    /// A contactless reader takes taps.
    pub contactless: bool,
}

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
    /// The card's applications to choose from, while the card waits for
    /// the choice.
    pub choices: Vec<String>,
    /// A tapped card has been read: the customer may take it away.
    pub card_read: bool,
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
    pub devices: Devices,
    /// The paid sale is being recorded: the screen stays until the till
    /// answers, so the answer always finds it (and the counter is cleared).
    pub completing: bool,
    /// The shop's code on show for the customer to scan, drawn.
    pub shown: Option<(ShownCode, Rc<qr_code::Data>)>,
}

/// Completes the sale once nothing is left to pay (the screen then stays
/// until the till says it is recorded); else the cash field takes the
/// focus for the rest.
fn complete_if_paid(state: &mut State, sale: &Sale, rules: &PricingRules) -> Update<Msg, Event> {
    let paid = sale.balance(rules).is_ok_and(|b| b.is_zero());
    if !paid {
        return Update::effect(Effect::Focus(CASH_ID));
    }
    state.completing = true;
    let sale = sale.clone();
    Update::effect(Effect::call(move |s| {
        Msg::Completed(s.complete(&sale).map(Box::new))
    }))
}

/// What a simulated card or QR approval leaves on the receipt (demo mode).
fn demo_card_ref(kind: TenderKind, now_ms: i64) -> CardRef {
    let auth = format!("{:06}", now_ms.rem_euclid(1_000_000));
    match kind {
        TenderKind::Qr => CardRef {
            scheme: "QR".into(),
            auth_code: auth,
            ..CardRef::new(CardEntry::Qr, Cvm::None)
        },
        _ => CardRef {
            masked_pan: "621234*********4567".into(),
            scheme: "UnionPay".into(),
            app_label: "UnionPay Debit".into(),
            aid: "A000000333010101".into(),
            tvr: "0000000000".into(),
            tsi: "E800".into(),
            auth_code: auth,
            ..CardRef::new(CardEntry::Chip, Cvm::Pin)
        },
    }
}

#[derive(Debug, Clone)]
pub enum Msg {
    /// A card was swiped through the keyboard-wedge reader.
    Swiped(Swiped),
    /// Demo: the customer swipes the chosen demo card (F4).
    DemoSwipe,
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
    /// Show the shop's code for the customer to scan instead.
    ShowCode,
    /// The gateway made the code (or why not).
    Shown(Result<ShownCode, PayRefusal>),
    /// The cashier stops the payment in progress.
    Cancel,
    /// One simulated step of the demo's payment: the next step, and at the
    /// last whether the card approved.
    Step(TenderKind, Money, PayStep, Option<bool>),
    /// The payment devices moved on.
    Stage(PayStep),
    /// The tapped card has been read.
    CardRead,
    /// The card asks which of its applications to use (labels).
    ChooseApplication(Vec<String>),
    /// The cardholder or cashier picked application `n` on screen.
    Application(usize),
    /// A device payment ended: the card data for the tender, or why not.
    Paid(TenderKind, Money, Result<Box<CardRef>, PayRefusal>),
    /// The sale, paid in full, was recorded.
    Completed(Result<Box<SaleRecord>, String>),
}

/// What the tender screen tells the application.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The sale was recorded; the change to hand back after cash.
    Completed(Box<SaleRecord>, Option<Money>),
    Back,
    Notice(String),
}

/// What the screen's controls ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Intent {
    /// A key for the simulated PIN pad.
    Pad(char),
    Cash(Money),
    Electronic(TenderKind, Money),
    /// A QR payment waits for the code: focus the code field.
    AwaitCode,
    /// The shop's code for `amount` is asked for, to show the customer.
    ShowCode(Money),
    /// The customer's code was scanned: pay `amount` with it.
    Code(Money, String),
    /// A card was swiped: pay `amount` with it.
    Swipe(Money, Swiped),
    /// Stop the payment in progress.
    Cancel,
    /// Use the card's application `n`.
    Application(usize),
    Back,
    Notice(String),
}

/// Note values offered as one-touch buttons, in minor units.
const NOTES: [i64; 5] = [1_000, 2_000, 5_000, 10_000, 20_000];

/// A card or QR payment on the payment devices, its stages reported on
/// the way.
fn pay(kind: TenderKind, amount: Money, input: String) -> Effect<Msg> {
    Effect::stream(move |s, emit| {
        let paid = s.pay(kind, amount, &input, &mut |p| {
            emit(match p {
                PayProgress::Step(step) => Msg::Stage(step),
                PayProgress::CardRead => Msg::CardRead,
                PayProgress::ChooseApplication(labels) => Msg::ChooseApplication(labels),
            })
        });
        Msg::Paid(kind, amount, paid.map(Box::new))
    })
}

/// A card payment by the tracks of a swipe.
fn pay_swipe(amount: Money, tracks: Swiped) -> Effect<Msg> {
    Effect::stream(move |s, emit| {
        let paid = s.pay_swipe(amount, &tracks.0, &mut |p| {
            emit(match p {
                PayProgress::Step(step) => Msg::Stage(step),
                PayProgress::CardRead => Msg::CardRead,
                PayProgress::ChooseApplication(labels) => Msg::ChooseApplication(labels),
            })
        });
        Msg::Paid(TenderKind::Card, amount, paid.map(Box::new))
    })
}

/// Waits for the customer to pay the shown code.
fn wait_shown(shown: ShownCode) -> Effect<Msg> {
    Effect::call(move |s| {
        let paid = s.wait_qr(&shown);
        Msg::Paid(TenderKind::Qr, shown.amount, paid.map(Box::new))
    })
}

fn step(kind: TenderKind, amount: Money, step: PayStep) -> Effect<Msg> {
    Effect::call(move |s| {
        let (next, approved) = s.simulated_step(kind, amount, step);
        Msg::Step(kind, amount, next, approved)
    })
}

impl State {
    /// Whether a payment or the recording of the paid sale is under way:
    /// no shortcut, Esc or idle lock may leave the screen then.
    pub fn busy(&self) -> bool {
        self.progress.is_some() || self.completing
    }

    /// What a key no field took means here: F3 card and F2 QR, Up and
    /// Down choose the demo's card; while a payment runs, Esc cancels it
    /// and Enter closes its answer (on the demo's PIN pad, Enter and
    /// Backspace are its Enter and Clear).
    pub fn key(&self, k: Named) -> Option<Msg> {
        let Some(p) = &self.progress else {
            return match k {
                Named::F3 => Some(Msg::Card),
                Named::F2 => Some(Msg::Qr),
                Named::F4 if self.devices.demo && self.devices.terminal => Some(Msg::DemoSwipe),
                Named::ArrowDown | Named::ArrowUp => {
                    let now = DEMO_CARDS
                        .iter()
                        .position(|c| *c == self.profile)
                        .unwrap_or(0);
                    let n = DEMO_CARDS.len();
                    let next = if k == Named::ArrowDown {
                        now + 1
                    } else {
                        now + n - 1
                    };
                    Some(Msg::Profile(DEMO_CARDS[next % n].to_string()))
                }
                _ => None,
            };
        };
        let on_pad = p.kind == TenderKind::Card && p.step <= 1 && self.on_screen_pad;
        match (k, p.approved) {
            (Named::F2, None) if p.kind == TenderKind::Qr && p.step == 0 => Some(Msg::ShowCode),
            // The demo's on-screen PIN pad: Enter and Backspace are its
            // Enter and Clear, as the digits are its digits.
            (Named::Enter, None) if on_pad => Some(Msg::Pad('E')),
            (Named::Backspace, None) if on_pad => Some(Msg::Pad('C')),
            (Named::Enter, Some(_)) => Some(Msg::Dismiss),
            (Named::Escape, None) if self.cancellable || self.scan_code => Some(Msg::Cancel),
            _ => None,
        }
    }

    /// A character no field took: the number of a card application to
    /// choose, or a key on the demo's on-screen PIN pad (also while the
    /// card is still being read: the simulated pad keeps keys typed just
    /// before it asks, so a quick customer's first digit is not lost).
    pub fn typed(&self, c: char) -> Option<Msg> {
        let p = self.progress.as_ref().filter(|p| p.approved.is_none())?;
        let digit = c.to_digit(10)?;
        if !p.choices.is_empty() {
            return (digit >= 1).then(|| Msg::Application(digit as usize - 1));
        }
        (p.kind == TenderKind::Card && p.step <= 1 && self.on_screen_pad).then_some(Msg::Pad(c))
    }

    /// The demo card the customer inserts (F3) or swipes (F4).
    fn chosen_card(&self) -> &str {
        if self.profile.is_empty() {
            DEMO_CARDS[0]
        } else {
            &self.profile
        }
    }

    /// The amount of the next card or QR payment: the part typed (then
    /// cleared) or the whole balance; `None` for a part that is not a
    /// positive amount within the balance.
    fn part_amount(&mut self, balance: Money) -> Option<Money> {
        let amount = if self.part.trim().is_empty() {
            balance
        } else {
            match Money::parse(&self.part, balance.currency) {
                Ok(m) if m.minor > 0 && m.minor <= balance.minor => m,
                _ => return None,
            }
        };
        self.part.clear();
        Some(amount)
    }

    /// The tender screen for a sale, with what the devices can do.
    pub fn new(devices: Devices) -> State {
        State {
            scan_code: devices.scans_codes,
            cancellable: devices.terminal,
            on_screen_pad: devices.pin_pad,
            devices,
            ..State::default()
        }
    }

    /// Handles a message on the tender screen: tenders go on `sale`; once
    /// it is paid in full it is completed through the service.
    pub fn update(
        &mut self,
        msg: Msg,
        sale: &mut Sale,
        rules: &PricingRules,
        ctx: &Ctx<'_>,
    ) -> Update<Msg, Event> {
        let balance = sale.balance(rules).unwrap_or(Money::zero(sale.currency));
        match msg {
            Msg::DemoSwipe if self.progress.is_none() => {
                let profile = self.chosen_card().to_owned();
                Update::effect(Effect::call(move |s| {
                    Msg::Swiped(Swiped(s.demo_stripe(&profile)))
                }))
            }
            Msg::Step(kind, amount, next, approved) => {
                if let Some(p) = &mut self.progress {
                    p.step = next;
                    p.approved = approved;
                }
                match approved {
                    None => Update::effect(step(kind, amount, next)),
                    // The tour's decline beeps as a real one does.
                    Some(false) => Update::effect(Effect::beep()),
                    Some(true) => {
                        let card = demo_card_ref(kind, ctx.now_ms);
                        self.electronic(sale, rules, kind, amount, card)
                    }
                }
            }
            Msg::Stage(step) => {
                if let Some(p) = &mut self.progress {
                    p.step = step;
                    p.choices.clear();
                }
                Update::none()
            }
            Msg::ChooseApplication(labels) => {
                if let Some(p) = &mut self.progress {
                    p.choices = labels;
                }
                Update::none()
            }
            Msg::CardRead => {
                if let Some(p) = &mut self.progress {
                    p.card_read = true;
                }
                Update::none()
            }
            Msg::Paid(kind, amount, Ok(card)) => {
                self.shown = None;
                let (stan, order) = (card.stan.clone(), card.order_id.clone());
                let u = self.electronic(sale, rules, kind, amount, *card);
                if u.event.is_some() {
                    // Approved but not on the sale: give it back.
                    return u.with(Effect::run(move |s| {
                        s.abandon_approval(&stan);
                        s.abandon_qr(&order);
                    }));
                }
                u
            }
            Msg::Shown(Ok(code)) => match qr_code::Data::new(code.code_url.as_bytes()) {
                Ok(data) => {
                    self.shown = Some((code.clone(), Rc::new(data)));
                    Update::effect(wait_shown(code))
                }
                Err(e) => {
                    let order = code.order.clone();
                    self.shown = None;
                    if let Some(p) = &mut self.progress {
                        p.approved = Some(false);
                    }
                    Update::event(Event::Notice(e.to_string()))
                        .with(Effect::run(move |s| s.abandon_qr(&order)))
                }
            },
            Msg::Paid(_, _, Err(why)) | Msg::Shown(Err(why)) => {
                self.shown = None;
                if let Some(p) = &mut self.progress {
                    p.approved = Some(false);
                }
                let args: Vec<(&str, String)> =
                    why.args.iter().map(|(k, v)| (*k, v.clone())).collect();
                Update::event(Event::Notice(ctx.ta(why.id, &args)))
            }
            Msg::Completed(Ok(record)) => {
                let change = self.last_change.filter(|c| !c.is_zero());
                Update::event(Event::Completed(record, change))
            }
            Msg::Completed(Err(e)) => {
                self.completing = false;
                Update::event(Event::Notice(e))
            }
            msg => match self.intent(msg, balance, ctx) {
                Some(i) => self.apply(i, sale, rules, ctx),
                None => Update::none(),
            },
        }
    }

    /// An approved card or QR tender goes on the sale.
    fn electronic(
        &mut self,
        sale: &mut Sale,
        rules: &PricingRules,
        kind: TenderKind,
        amount: Money,
        card: CardRef,
    ) -> Update<Msg, Event> {
        if let Err(e) = sale.pay_electronic(kind, amount, card, rules) {
            return Update::event(Event::Notice(e.to_string()));
        }
        self.progress = None;
        complete_if_paid(self, sale, rules)
    }

    fn apply(
        &mut self,
        i: Intent,
        sale: &mut Sale,
        rules: &PricingRules,
        ctx: &Ctx<'_>,
    ) -> Update<Msg, Event> {
        match i {
            Intent::Cash(given) => match sale.pay_cash(given, rules) {
                Ok(change) => {
                    self.last_change = Some(change);
                    complete_if_paid(self, sale, rules)
                }
                Err(e) => Update::event(Event::Notice(e.to_string())),
            },
            Intent::Electronic(kind, amount) => {
                self.pin_len = 0;
                if self.devices.terminal {
                    let input = if kind == TenderKind::Qr {
                        String::new()
                    } else {
                        self.chosen_card().to_owned()
                    };
                    Update::effect(pay(kind, amount, input))
                } else if self.devices.demo {
                    Update::effect(step(kind, amount, 0))
                } else {
                    // A real till never pretends: without the acquirer
                    // link there is no card payment.
                    self.progress = None;
                    Update::event(Event::Notice(ctx.t("tender-no-devices")))
                }
            }
            Intent::AwaitCode => Update::effect(Effect::Focus(CODE_ID)),
            Intent::ShowCode(amount) => {
                Update::effect(Effect::call(move |s| Msg::Shown(s.show_qr(amount))))
            }
            Intent::Code(amount, code) => Update::effect(pay(TenderKind::Qr, amount, code)),
            Intent::Swipe(amount, tracks) => {
                self.pin_len = 0;
                Update::effect(pay_swipe(amount, tracks))
            }
            Intent::Cancel => Update::effect(Effect::run(|s| s.cancel_payment())),
            Intent::Application(n) => Update::effect(Effect::run(move |s| s.choose_application(n))),
            Intent::Back if self.completing => Update::none(),
            Intent::Back => Update::event(Event::Back),
            Intent::Pad(k) => {
                let key = match k {
                    'E' => PadKey::Enter,
                    'C' => PadKey::Clear,
                    'X' => PadKey::Cancel,
                    d => PadKey::Digit(d.to_digit(10).unwrap_or(0) as u8),
                };
                // In order, at once: digits must reach the pad as typed.
                Update::effect(Effect::now(move |s| s.press(key)))
            }
            Intent::Notice(n) => Update::event(Event::Notice(n)),
        }
    }

    /// The screen's own controls; what they ask for.
    fn intent(&mut self, msg: Msg, balance: Money, ctx: &Ctx<'_>) -> Option<Intent> {
        match msg {
            Msg::Cash(s) => {
                self.cash = s;
                None
            }
            Msg::Part(s) => {
                self.part = s;
                None
            }
            Msg::Note(minor) => Some(Intent::Cash(Money::new(minor, balance.currency))),
            Msg::Exact => Some(Intent::Cash(balance)),
            Msg::PayCash => match Money::parse(&self.cash, balance.currency) {
                Ok(m) if m.minor > 0 => {
                    self.cash.clear();
                    Some(Intent::Cash(m))
                }
                _ => Some(Intent::Notice(ctx.t("tender-bad-amount"))),
            },
            // A payment is running: the demo's swipe waits for it.
            Msg::DemoSwipe => None,
            Msg::Swiped(tracks) => {
                if self.progress.is_some() {
                    // A payment is running: this swipe is not for it.
                    return Some(Intent::Notice(ctx.t("swipe-busy")));
                }
                if !self.devices.terminal {
                    return Some(Intent::Notice(ctx.t("tender-no-devices")));
                }
                let amount = match self.part_amount(balance) {
                    Some(a) => a,
                    None => return Some(Intent::Notice(ctx.t("tender-bad-amount"))),
                };
                self.progress = Some(Progress {
                    kind: TenderKind::Card,
                    amount,
                    step: 0,
                    approved: None,
                    choices: Vec::new(),
                    card_read: false,
                });
                Some(Intent::Swipe(amount, tracks))
            }
            Msg::Card if self.devices.demo && self.chosen_card() == STRIPE_ONLY => {
                Some(Intent::Notice(ctx.t("demo-card-no-chip")))
            }
            Msg::Card | Msg::Qr => {
                let kind = if matches!(msg, Msg::Card) {
                    TenderKind::Card
                } else {
                    TenderKind::Qr
                };
                let Some(amount) = self.part_amount(balance) else {
                    return Some(Intent::Notice(ctx.t("tender-bad-amount")));
                };
                self.progress = Some(Progress {
                    kind,
                    amount,
                    step: 0,
                    approved: None,
                    choices: Vec::new(),
                    card_read: false,
                });
                if kind == TenderKind::Qr && self.scan_code {
                    self.code.clear();
                    return Some(Intent::AwaitCode);
                }
                Some(Intent::Electronic(kind, amount))
            }
            Msg::Code(c) => {
                self.code = c;
                None
            }
            Msg::ShowCode => match &mut self.progress {
                Some(p)
                    if p.kind == TenderKind::Qr
                        && p.step == 0
                        && p.approved.is_none()
                        && self.devices.shows_codes =>
                {
                    p.step = 1;
                    self.code.clear();
                    Some(Intent::ShowCode(p.amount))
                }
                _ => None,
            },
            Msg::CodeScanned => {
                let code = self.code.trim().to_string();
                match &self.progress {
                    Some(p) if p.kind == TenderKind::Qr && p.step == 0 && !code.is_empty() => {
                        self.code.clear();
                        Some(Intent::Code(p.amount, code))
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
                Some(Intent::Cancel)
            }
            Msg::Application(n) => {
                let p = self.progress.as_mut()?;
                if n >= p.choices.len() {
                    return None;
                }
                p.choices.clear();
                Some(Intent::Application(n))
            }
            Msg::Dismiss => {
                self.progress = None;
                None
            }
            Msg::Back => Some(Intent::Back),
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
                Some(Intent::Pad(k))
            }
            Msg::Step(..)
            | Msg::Stage(_)
            | Msg::CardRead
            | Msg::ChooseApplication(_)
            | Msg::Paid(..)
            | Msg::Shown(_)
            | Msg::Completed(_) => None,
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
            theme::primary(theme::keyed(ctx.t("tender-card"), "F3"), Some(Msg::Card)).width(160),
            theme::primary(theme::keyed(ctx.t("tender-qr"), "F2"), Some(Msg::Qr)).width(160),
        ]
        .spacing(theme::GAP);
        let mut body = column![header].spacing(16).max_width(900);
        if !sale.tenders.is_empty() {
            body = body.push(theme::panel(paid).width(Length::Fill));
        }
        body = body.push(notes).push(cash).push(electronic);
        if ctx.demo {
            let mut cards = iced::widget::Row::new().spacing(4);
            for (i, name) in DEMO_CARDS.iter().enumerate() {
                let chosen = self.profile == *name || (self.profile.is_empty() && i == 0);
                // Five to a row (the row wraps): nine cards fit the screen.
                let b = theme::big(ctx.demo_card(name), Some(Msg::Profile((*name).to_string())))
                    .width(176);
                cards = cards.push(if chosen {
                    b.style(iced::widget::button::primary)
                } else {
                    b.style(iced::widget::button::secondary)
                });
            }
            body = body.push(
                column![
                    text(ctx.t("tender-demo-card")).size(theme::SMALL),
                    cards.wrap().vertical_spacing(4)
                ]
                .spacing(4),
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
                ctx.t(if self.devices.contactless {
                    "pay-insert-or-tap"
                } else {
                    "pay-insert-card"
                }),
                ctx.t("pay-enter-pin"),
                ctx.t("pay-processing"),
            ],
            _ if self.shown.is_some() => {
                vec![ctx.t("pay-customer-scans"), ctx.t("pay-processing")]
            }
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
        if !p.choices.is_empty() && p.approved.is_none() {
            let mut apps = column![text(ctx.t("pay-choose-app")).size(theme::TITLE)]
                .spacing(8)
                .align_x(Alignment::Center);
            for (i, label) in p.choices.iter().enumerate() {
                apps = apps.push(
                    theme::primary(format!("{}  {label}", i + 1), Some(Msg::Application(i)))
                        .width(360),
                );
            }
            col = col.push(theme::panel(apps));
        }
        if p.card_read && p.approved.is_none() {
            col = col.push(theme::notice(&ctx.t("pay-card-read"), false));
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
            if let Some(w) = tillpoint_app::qr_desk::wallet_of(&self.code) {
                col = col.push(text(ctx.scheme(w)).size(theme::TITLE));
            }
            if ctx.demo && self.devices.shows_codes {
                col = col.push(text(ctx.t("pay-demo-code")).size(theme::SMALL));
            }
            if self.devices.shows_codes {
                col = col.push(
                    theme::secondary(
                        theme::keyed(ctx.t("pay-show-code"), "F2"),
                        Some(Msg::ShowCode),
                    )
                    .width(360),
                );
            }
        }
        if let (Some((_, data)), None) = (&self.shown, p.approved) {
            col = col.push(
                container(qr_code(data).cell_size(6))
                    .padding(12)
                    .style(container::bordered_box),
            );
            col = col.push(text(ctx.t("pay-shown-help")).size(theme::TEXT));
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

    /// On the demo's PIN pad the keyboard's Enter and Backspace are the
    /// pad's; before the PIN step and after the answer they are not.
    #[test]
    fn enter_and_backspace_work_the_on_screen_pin_pad() {
        let mut s = State {
            on_screen_pad: true,
            ..State::default()
        };
        let mut p = Progress {
            kind: TenderKind::Card,
            amount: Money::new(585, Currency::CNY),
            step: 1,
            approved: None,
            choices: Vec::new(),
            card_read: false,
        };
        s.progress = Some(p.clone());
        assert!(matches!(s.key(Named::Enter), Some(Msg::Pad('E'))));
        assert!(matches!(s.key(Named::Backspace), Some(Msg::Pad('C'))));
        p.step = 2;
        s.progress = Some(p.clone());
        assert!(
            s.key(Named::Enter).is_none(),
            "processing: nothing to enter"
        );
        p.approved = Some(true);
        s.progress = Some(p);
        assert!(matches!(s.key(Named::Enter), Some(Msg::Dismiss)));
    }

    #[test]
    fn the_cards_applications_are_offered_and_one_is_picked() {
        let ctx = Ctx::for_tests();
        let bal = Money::new(1250, Currency::CNY);
        let mut s = State::default();
        s.intent(Msg::Card, bal, &ctx);
        let mut sale = sale_of(1250);
        let rules = rules();
        let labels = vec!["VISA CREDIT".to_string(), "VISA ELECTRON".to_string()];
        let _ = s.update(
            Msg::ChooseApplication(labels.clone()),
            &mut sale,
            &rules,
            &ctx,
        );
        assert_eq!(s.progress.as_ref().map(|p| p.choices.clone()), Some(labels));
        assert_eq!(
            s.intent(Msg::Application(2), bal, &ctx),
            None,
            "no third app"
        );
        assert_eq!(
            s.intent(Msg::Application(1), bal, &ctx),
            Some(Intent::Application(1))
        );
        assert!(
            s.progress.as_ref().unwrap().choices.is_empty(),
            "asked once"
        );
        assert_eq!(s.intent(Msg::Application(1), bal, &ctx), None);
    }

    #[test]
    fn cash_card_and_split_amounts() {
        let ctx = Ctx::for_tests();
        let bal = Money::new(1250, Currency::CNY);
        let mut s = State::default();
        assert_eq!(s.intent(Msg::Exact, bal, &ctx), Some(Intent::Cash(bal)));
        assert_eq!(
            s.intent(Msg::Note(5000), bal, &ctx),
            Some(Intent::Cash(Money::new(5000, Currency::CNY)))
        );
        s.intent(Msg::Cash("x".into()), bal, &ctx);
        assert!(matches!(
            s.intent(Msg::PayCash, bal, &ctx),
            Some(Intent::Notice(_))
        ));
        s.intent(Msg::Part("5.00".into()), bal, &ctx);
        assert_eq!(
            s.intent(Msg::Card, bal, &ctx),
            Some(Intent::Electronic(
                TenderKind::Card,
                Money::new(500, Currency::CNY)
            ))
        );
        assert_eq!(s.progress.as_ref().map(|p| p.step), Some(0));
        s.intent(Msg::Dismiss, bal, &ctx);
        s.intent(Msg::Part("99.00".into()), bal, &ctx);
        assert!(
            matches!(s.intent(Msg::Qr, bal, &ctx), Some(Intent::Notice(_))),
            "more than the balance"
        );
        s.intent(Msg::Part(String::new()), bal, &ctx);
        assert_eq!(
            s.intent(Msg::Qr, bal, &ctx),
            Some(Intent::Electronic(TenderKind::Qr, bal)),
            "empty part = balance"
        );
    }

    fn rules() -> PricingRules {
        tillpoint_config::Config::parse("").unwrap().0.pricing
    }

    fn sale_of(minor: i64) -> Sale {
        let r = rules();
        let mut sale = Sale::new(r.currency, 1);
        let p = tillpoint_core::catalog::Product {
            sku: "1".into(),
            name: "Tea".into(),
            barcodes: vec![],
            price: Money::new(minor, r.currency),
            tax_class: r.tax.rates[0].class.clone(),
            category: "c".into(),
            unit: tillpoint_core::catalog::Unit::Piece,
        };
        sale.add(&p, tillpoint_core::catalog::Qty::ONE).unwrap();
        sale
    }

    #[test]
    fn enough_cash_completes_the_sale_through_the_service() {
        let ctx = Ctx::for_tests();
        let r = rules();
        let mut sale = sale_of(1250);
        let mut s = State::new(Devices::default());
        let u = s.update(Msg::Note(1000), &mut sale, &r, &ctx);
        assert!(u.effects[0].is_focus(CASH_ID), "2.50 still to pay");
        let u = s.update(Msg::Note(1000), &mut sale, &r, &ctx);
        assert!(u.effects[0].is_work(), "paid: the sale is completed");
        assert_eq!(s.last_change.map(|m| m.minor), Some(750));
        let u = s.update(Msg::Completed(Err("disk full".into())), &mut sale, &r, &ctx);
        assert_eq!(u.event, Some(Event::Notice("disk full".into())));
    }

    #[test]
    fn cards_without_devices_refuse_outside_the_demo_and_simulate_in_it() {
        let ctx = Ctx::for_tests();
        let r = rules();
        let mut sale = sale_of(1250);
        let mut s = State::new(Devices::default());
        let u = s.update(Msg::Card, &mut sale, &r, &ctx);
        assert_eq!(u.event, Some(Event::Notice(ctx.t("tender-no-devices"))));
        assert!(s.progress.is_none());
        let mut s = State::new(Devices {
            demo: true,
            ..Devices::default()
        });
        assert!(s.update(Msg::Card, &mut sale, &r, &ctx).effects[0].is_work());
        let bal = Money::new(1250, r.currency);
        let u = s.update(
            Msg::Step(TenderKind::Card, bal, 3, Some(false)),
            &mut sale,
            &r,
            &ctx,
        );
        assert!(u.event.is_none(), "declined: stays");
        assert!(
            u.effects.len() == 1 && u.effects[0].is_work(),
            "declined: the beep"
        );
        assert_eq!(s.progress.as_ref().and_then(|p| p.approved), Some(false));
        let u = s.update(
            Msg::Step(TenderKind::Card, bal, 3, Some(true)),
            &mut sale,
            &r,
            &ctx,
        );
        assert!(u.effects[0].is_work(), "approved: paid in full, completed");
        assert_eq!(sale.tenders.len(), 1);
    }

    #[test]
    fn a_card_the_sale_refuses_is_given_back() {
        let ctx = Ctx::for_tests();
        let r = rules();
        let mut sale = sale_of(1250);
        let mut s = State::new(Devices {
            terminal: true,
            ..Devices::default()
        });
        s.update(Msg::Card, &mut sale, &r, &ctx);
        let too_much = Money::new(99_999, r.currency);
        let card = CardRef {
            stan: "000042".into(),
            ..CardRef::default()
        };
        let u = s.update(
            Msg::Paid(TenderKind::Card, too_much, Ok(Box::new(card))),
            &mut sale,
            &r,
            &ctx,
        );
        assert!(matches!(u.event, Some(Event::Notice(_))));
        assert!(
            u.effects.iter().any(Effect::is_work),
            "the approval is reversed"
        );
        let u = s.update(
            Msg::Paid(
                TenderKind::Card,
                too_much,
                Err(PayRefusal {
                    id: "decline-issuer",
                    args: vec![("code", "51".into())],
                    text: "declined by the card issuer: insufficient funds (51)".into(),
                }),
            ),
            &mut sale,
            &r,
            &ctx,
        );
        assert_eq!(
            u.event,
            Some(Event::Notice(
                ctx.ta("decline-issuer", &[("code", "51".into())])
            ))
        );
        let Some(Event::Notice(text)) = &u.event else {
            unreachable!()
        };
        assert!(
            text.contains("51") && !text.contains("decline-issuer"),
            "{text}"
        );
    }
}

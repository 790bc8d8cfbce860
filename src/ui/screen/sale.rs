//! The sale screen: an always-focused entry for the barcode scanner and
//! typed SKUs, name search, quick keys by category, the cart with its
//! controls, totals with tax, and the Pay button.

use crate::ctx::Ctx;
use crate::effect::{Effect, Update};
use crate::screen::approval::{Change, Pending};
use crate::theme;
use iced::keyboard::key::Named;
use iced::widget::{button, column, container, row, scrollable, text, text_input, Column};
use iced::{Alignment, Element, Length};
use rust_decimal::Decimal;
use tillpoint_app::service::{ScanHit, WeighRefusal, Weight};
use tillpoint_core::cashier::Approval;
use tillpoint_core::catalog::{EmbeddedKind, Product, Qty, Unit};
use tillpoint_core::money::Money;
use tillpoint_core::sale::{Discount, Sale, SaleError, Totals};

/// The scanner entry's widget id: focus returns here after every action.
pub const SCAN_ID: &str = "scan";
pub const SEARCH_ID: &str = "search";

/// Cart lines built per frame.
pub const CART_WINDOW: usize = 30;

/// The quick keys: the catalog's categories and the products of the one
/// chosen. Catalog data the till keeps while the cashier moves between
/// screens, loaded once after login.
#[derive(Debug, Clone, Default)]
pub struct Shelf {
    pub categories: Vec<String>,
    pub category: Option<String>,
    pub quick: Vec<Product>,
}

impl Shelf {
    /// Asks the service for the categories (after a login).
    pub fn load() -> Effect<Msg> {
        Effect::call(|s| Msg::Categories(s.categories()))
    }
}

#[derive(Debug, Clone, Default)]
pub struct State {
    pub entry: String,
    pub search: String,
    pub results: Vec<Product>,
    pub selected: Option<u32>,
    /// Amount or percentage typed for a discount or a price override.
    pub amount: String,
    /// A weighed product waiting for its weight.
    pub weighing: Option<(Product, String)>,
    /// How many lines back from the newest the cart view is paged.
    pub cart_back: usize,
    /// The quantity typed before a code ("3*" then the scan), for the line
    /// the code brings.
    pub times: Option<Qty>,
    /// The scale's last answer while a weight is asked for.
    pub scale: Option<Result<Weight, WeighRefusal>>,
    /// The cashier typed the weight: the scale no longer fills it in.
    pub manual: bool,
    /// Which weighing the scale's answers belong to.
    pub weigh_seq: u32,
}

/// How often the weigh screen reads the scale while the weight moves, and
/// while the scale refuses (overload, unplugged).
const SCALE_POLL: std::time::Duration = std::time::Duration::from_millis(300);
const SCALE_RETRY: std::time::Duration = std::time::Duration::from_millis(800);

/// Reads the scale for weighing `seq` after `delay`.
fn weigh(seq: u32, placed: bool, delay: std::time::Duration) -> Effect<Msg> {
    Effect::call(move |s| {
        std::thread::sleep(delay);
        Msg::Weighed(seq, s.weigh(placed))
    })
}

fn kg(grams: i64) -> String {
    format!("{}.{:03}", grams.div_euclid(1000), grams.rem_euclid(1000))
}

/// Where the amount typed for discounts and price changes is entered.
pub const AMOUNT_ID: &str = "sale-amount";

/// "3*6901234567892" → (3, the code); "3*" → (3, ""); no `*` → None.
/// A quantity of 0 voids; a bad quantity is `Some(None)`.
fn times(entry: &str) -> Option<(Option<Qty>, &str)> {
    let (q, code) = entry.split_once('*')?;
    let q = q.trim();
    let qty = match q.parse::<u32>() {
        Ok(n) if n <= 9999 => Some(Qty(i64::from(n) * 1000)),
        _ => None,
    };
    Some((qty, code.trim()))
}

#[derive(Debug, Clone)]
pub enum Msg {
    Entry(String),
    Submit,
    Search(String),
    SearchSubmit,
    Pick(Product),
    Category(String),
    Select(u32),
    Inc(u32),
    Dec(u32),
    Void(u32),
    Amount(String),
    LineDiscount,
    SaleDiscount,
    Override,
    Weight(String),
    WeightOk,
    WeightCancel,
    CartBack,
    CartForward,
    Go(Nav),
    /// A scanned or typed code, and what the catalog has for it.
    Resolved(String, Result<Option<ScanHit>, String>),
    /// Products whose names match the search.
    Found(Result<Vec<Product>, String>),
    /// The quick keys' categories.
    Categories(Result<Vec<String>, String>),
    /// The scale's reading for weighing number `.0` (`None`: no scale).
    Weighed(u32, Result<Option<Weight>, WeighRefusal>),
    /// The products of one category.
    Shelved(String, Result<Vec<Product>, String>),
    /// The sale was parked under this number.
    Parked(Result<i64, String>),
}

/// Places the sale screen leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Pay,
    Park,
    Parked,
    Refund,
    Cash,
    Reports,
    Receipts,
    Settings,
    Help,
    Lock,
    Logout,
}

/// What the sale screen tells the application.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A price override needs a supervisor first.
    Approve(Pending),
    /// Another screen (never `Park`, which the sale screen does itself).
    Go(Nav),
    /// The sale was parked: a new one starts.
    Parked(i64),
    Notice(String),
}

/// What the screen's controls ask for, applied to the sale by `update`.
#[derive(Debug, Clone, PartialEq)]
enum Intent {
    Resolve(String),
    Search(String),
    Category(String),
    Add(Product, Qty),
    SetQty(u32, Qty),
    Void(u32),
    LineDiscount(u32, Discount),
    SaleDiscount(Discount),
    /// Needs a supervisor: the app asks for approval first.
    Override(u32, Money),
    Go(Nav),
    Notice(String),
}

fn resolve(code: String) -> Effect<Msg> {
    Effect::call(move |s| {
        let hit = s.resolve(&code);
        Msg::Resolved(code, hit)
    })
}

fn shelve(category: String) -> Effect<Msg> {
    Effect::call(move |s| {
        let found = s.category(&category);
        Msg::Shelved(category, found)
    })
}

/// Parses "10%" as a percentage and "2.50" as an amount.
fn parse_discount(text: &str, sale: &Sale) -> Option<Discount> {
    let t = text.trim();
    if let Some(p) = t.strip_suffix('%') {
        let p: Decimal = p.trim().parse().ok()?;
        (p > Decimal::ZERO && p <= Decimal::ONE_HUNDRED).then_some(Discount::Percent(p))
    } else {
        let m = Money::parse(t, sale.currency).ok()?;
        (m.minor > 0).then_some(Discount::Amount(m.minor))
    }
}

impl State {
    /// Handles a message on the sale screen: the cashier's controls change
    /// the sale in front of them; lookups go to the service and come back
    /// as messages here.
    pub fn update(
        &mut self,
        msg: Msg,
        sale: &mut Sale,
        shelf: &mut Shelf,
        ctx: &Ctx<'_>,
    ) -> Update<Msg, Event> {
        let was_weighing = self.weighing.is_some();
        let mut u = match msg {
            Msg::Weighed(seq, reading) => self.weighed(seq, reading),
            Msg::Category(c) => {
                shelf.category = Some(c.clone());
                Update::effect(shelve(c))
            }
            Msg::Resolved(code, Ok(hit)) => self.scanned(code, hit, sale, ctx),
            Msg::Found(Ok(found)) => {
                self.results = found;
                Update::none()
            }
            Msg::Categories(Ok(list)) => {
                let first = list.first().cloned();
                shelf.categories = list;
                match (&shelf.category, first) {
                    (None, Some(c)) => {
                        shelf.category = Some(c.clone());
                        Update::effect(shelve(c))
                    }
                    _ => Update::none(),
                }
            }
            Msg::Shelved(c, Ok(products)) => {
                if shelf.category.as_deref() == Some(c.as_str()) {
                    shelf.quick = products;
                    self.results.clear();
                }
                Update::none()
            }
            Msg::Parked(Ok(id)) => Update::event(Event::Parked(id)),
            Msg::Resolved(_, Err(e))
            | Msg::Found(Err(e))
            | Msg::Categories(Err(e))
            | Msg::Shelved(_, Err(e))
            | Msg::Parked(Err(e)) => Update::event(Event::Notice(e)),
            msg => match self.intent(msg, sale, ctx) {
                Some(i) => self.apply(i, sale, ctx),
                None => Update::none(),
            },
        };
        // A new weighing reads the scale at once.
        if !was_weighing && self.weighing.is_some() {
            self.weigh_seq = self.weigh_seq.wrapping_add(1);
            self.scale = None;
            self.manual = false;
            u.effects
                .push(weigh(self.weigh_seq, true, std::time::Duration::ZERO));
        }
        // The scanner's entry keeps the focus, except while a weight is typed.
        if self.weighing.is_none() && !u.effects.iter().any(|e| matches!(e, Effect::Focus(_))) {
            u.effects.push(Effect::Focus(SCAN_ID));
        }
        u
    }

    /// The scale answered: its weight fills the field (unless the cashier
    /// typed one), and it is read again while the weighing is open.
    fn weighed(
        &mut self,
        seq: u32,
        reading: Result<Option<Weight>, WeighRefusal>,
    ) -> Update<Msg, Event> {
        let Some((_, typed)) = &mut self.weighing else {
            return Update::none();
        };
        if seq != self.weigh_seq {
            return Update::none();
        }
        let again = match reading {
            Ok(None) => return Update::none(),
            Ok(Some(w)) => {
                if !self.manual {
                    *typed = kg(w.grams);
                }
                self.scale = Some(Ok(w));
                SCALE_POLL
            }
            Err(r) => {
                self.scale = Some(Err(r));
                SCALE_RETRY
            }
        };
        Update::effect(weigh(seq, false, again))
    }

    /// The weight to sell by: a typed one as typed; the scale's only when
    /// it is at rest and above zero.
    fn weight_to_sell(&self, typed: &str, ctx: &Ctx<'_>) -> Result<Qty, String> {
        match (&self.scale, self.manual) {
            (Some(Ok(w)), false) if !w.stable => Err(ctx.t("scale-not-stable")),
            (Some(Err(r)), false) => Err(ctx.t(r.id)),
            _ => match Qty::parse(typed) {
                Some(q) if q.milli() > 0 => Ok(q),
                _ => Err(ctx.t("sale-bad-weight")),
            },
        }
    }

    /// A code came back from the catalog: the product goes on the sale
    /// (with its embedded price or weight), or a weighed one asks for its
    /// weight, or the cashier is told nothing has that code.
    fn scanned(
        &mut self,
        code: String,
        hit: Option<ScanHit>,
        sale: &mut Sale,
        ctx: &Ctx<'_>,
    ) -> Update<Msg, Event> {
        let Some(hit) = hit else {
            return Update::event(Event::Notice(
                ctx.ta("sale-unknown-code", &[("code", code)]),
            ));
        };
        let added = match &hit.embedded {
            Some(e) if e.kind == EmbeddedKind::Price => {
                sale.add_with_embedded_price(&hit.product, Money::new(e.value, sale.currency))
            }
            Some(e) => sale.add(&hit.product, Qty(e.value)),
            None => {
                return match self.pick(hit.product) {
                    Some(i) => self.apply(i, sale, ctx),
                    None => Update::effect(Effect::Focus("weight")),
                }
            }
        };
        self.added(added)
    }

    fn added(&mut self, added: Result<u32, SaleError>) -> Update<Msg, Event> {
        match added {
            Ok(l) => {
                self.selected = Some(l);
                Update::none()
            }
            Err(e) => Update::event(Event::Notice(e.to_string())),
        }
    }

    /// Carries out what the controls asked for.
    fn apply(&mut self, i: Intent, sale: &mut Sale, ctx: &Ctx<'_>) -> Update<Msg, Event> {
        let changed = match i {
            Intent::Resolve(code) => return Update::effect(resolve(code)),
            Intent::Search(q) => {
                return Update::effect(Effect::call(move |s| Msg::Found(s.search(&q))))
            }
            Intent::Category(c) => return Update::effect(shelve(c)),
            Intent::Add(p, q) => return self.added(sale.add(&p, q)),
            Intent::SetQty(l, q) => sale.set_qty(l, q),
            Intent::Void(l) => return supervised(Change::Void(l), sale, ctx, None),
            Intent::LineDiscount(l, d) => {
                return supervised(Change::LineDiscount(l, d), sale, ctx, None)
            }
            Intent::SaleDiscount(d) => return supervised(Change::SaleDiscount(d), sale, ctx, None),
            Intent::Override(l, price) => {
                return Update::event(Event::Approve(Pending::Override(l, price)))
            }
            Intent::Notice(n) => return Update::event(Event::Notice(n)),
            Intent::Go(Nav::Pay | Nav::Park) if sale.live_lines().next().is_none() => {
                return Update::event(Event::Notice(ctx.t("sale-empty")))
            }
            Intent::Go(Nav::Park) => {
                let label = format!("{} {}", ctx.t("parked-label"), ctx.datetime(ctx.now_ms));
                let parked = sale.clone();
                return Update::effect(Effect::call(move |s| Msg::Parked(s.park(&parked, &label))));
            }
            Intent::Go(nav) => return Update::event(Event::Go(nav)),
        };
        match changed {
            Ok(()) => Update::none(),
            Err(e) => Update::event(Event::Notice(e.to_string())),
        }
    }

    /// The screen's own controls; what they ask for.
    fn intent(&mut self, msg: Msg, sale: &Sale, ctx: &Ctx<'_>) -> Option<Intent> {
        match msg {
            Msg::Entry(s) => {
                self.entry = s;
                None
            }
            Msg::Submit => {
                self.cart_back = 0;
                let entry = std::mem::take(&mut self.entry).trim().to_string();
                // Card data that reached the field after all (a reader set
                // up to send something else first) is dropped unseen: never
                // looked up, never echoed in "no product for …".
                if looks_like_card_data(&entry) {
                    return Some(Intent::Notice(ctx.t("swipe-not-here")));
                }
                match times(&entry) {
                    Some((None, _)) => Some(Intent::Notice(ctx.t("sale-bad-times"))),
                    // "3*" alone: the selected line's quantity.
                    Some((Some(q), "")) => match self.selected {
                        Some(_) if q.milli() == 0 => self.selected.map(Intent::Void),
                        Some(l) => Some(Intent::SetQty(l, q)),
                        None => Some(Intent::Notice(ctx.t("sale-select-line"))),
                    },
                    Some((Some(q), code)) if q.milli() > 0 => {
                        self.times = Some(q);
                        Some(Intent::Resolve(code.to_string()))
                    }
                    Some((Some(_), _)) => Some(Intent::Notice(ctx.t("sale-bad-times"))),
                    // Enter on an empty entry goes to payment, as a till's
                    // subtotal key does.
                    None if entry.is_empty() => {
                        sale.live_lines().next().map(|_| Intent::Go(Nav::Pay))
                    }
                    None => Some(Intent::Resolve(entry)),
                }
            }
            Msg::Search(s) => {
                self.search = s;
                (self.search.chars().count() >= 2).then(|| Intent::Search(self.search.clone()))
            }
            Msg::SearchSubmit => Some(Intent::Search(self.search.clone())),
            Msg::Pick(p) => self.pick(p),
            Msg::Category(c) => Some(Intent::Category(c)),
            Msg::Select(l) => {
                self.selected = Some(l);
                None
            }
            Msg::Inc(l) | Msg::Dec(l) => {
                let line = sale.lines.iter().find(|x| x.line_no == l && !x.voided)?;
                let step = if line.unit == Unit::Kg { 100 } else { 1000 };
                let q = if matches!(msg, Msg::Inc(_)) {
                    line.qty.milli() + step
                } else {
                    line.qty.milli() - step
                };
                self.selected = Some(l);
                if q <= 0 {
                    Some(Intent::Void(l))
                } else {
                    Some(Intent::SetQty(l, Qty(q)))
                }
            }
            Msg::Void(l) => Some(Intent::Void(l)),
            Msg::Amount(s) => {
                self.amount = s;
                None
            }
            Msg::LineDiscount => {
                let Some(l) = self.selected else {
                    return Some(Intent::Notice(ctx.t("sale-select-line")));
                };
                match parse_discount(&self.amount, sale) {
                    Some(d) => {
                        self.amount.clear();
                        Some(Intent::LineDiscount(l, d))
                    }
                    None => Some(Intent::Notice(ctx.t("sale-bad-discount"))),
                }
            }
            Msg::SaleDiscount => match parse_discount(&self.amount, sale) {
                Some(d) => {
                    self.amount.clear();
                    Some(Intent::SaleDiscount(d))
                }
                None => Some(Intent::Notice(ctx.t("sale-bad-discount"))),
            },
            Msg::Override => {
                let Some(l) = self.selected else {
                    return Some(Intent::Notice(ctx.t("sale-select-line")));
                };
                match Money::parse(&self.amount, sale.currency) {
                    Ok(m) if m.minor >= 0 => {
                        self.amount.clear();
                        Some(Intent::Override(l, m))
                    }
                    _ => Some(Intent::Notice(ctx.t("sale-bad-price"))),
                }
            }
            Msg::Weight(s) => {
                if let Some((_, w)) = &mut self.weighing {
                    *w = s;
                    self.manual = true;
                }
                None
            }
            Msg::WeightOk => {
                let (p, w) = self.weighing.take()?;
                match self.weight_to_sell(&w, ctx) {
                    Ok(q) => Some(Intent::Add(p, q)),
                    Err(why) => {
                        self.weighing = Some((p, w));
                        Some(Intent::Notice(why))
                    }
                }
            }
            Msg::WeightCancel => {
                self.weighing = None;
                None
            }
            Msg::CartBack => {
                self.cart_back += CART_WINDOW;
                None
            }
            Msg::CartForward => {
                self.cart_back = self.cart_back.saturating_sub(CART_WINDOW);
                None
            }
            Msg::Go(n) => Some(Intent::Go(n)),
            Msg::Resolved(..)
            | Msg::Weighed(..)
            | Msg::Found(_)
            | Msg::Categories(_)
            | Msg::Shelved(..)
            | Msg::Parked(_) => None,
        }
    }

    /// A product chosen from search or quick keys: weighed goods ask for the weight.
    fn pick(&mut self, p: Product) -> Option<Intent> {
        let times = self.times.take();
        if p.unit == Unit::Kg {
            self.weighing = Some((p, String::new()));
            None
        } else {
            Some(Intent::Add(p, times.unwrap_or(Qty::ONE)))
        }
    }

    /// What a key no field took means here: Up and Down select the line
    /// above or below, for a quantity ("3*" Enter), a line discount or a
    /// void ("0*" Enter); F3 gives the typed amount as a discount on the
    /// whole sale.
    pub fn key(&self, k: Named, sale: &Sale) -> Option<Msg> {
        let lines: Vec<u32> = sale.live_lines().map(|l| l.line_no).collect();
        let at = self
            .selected
            .and_then(|s| lines.iter().position(|l| *l == s));
        match k {
            Named::ArrowUp => {
                let i = at.map_or(lines.len().checked_sub(1)?, |i| i.saturating_sub(1));
                lines.get(i).copied().map(Msg::Select)
            }
            Named::ArrowDown => {
                let i = at.map_or(0, |i| (i + 1).min(lines.len().saturating_sub(1)));
                lines.get(i).copied().map(Msg::Select)
            }
            Named::F3 => Some(Msg::SaleDiscount),
            _ => None,
        }
    }

    pub fn view<'a>(
        &'a self,
        ctx: &Ctx<'_>,
        sale: &'a Sale,
        totals: Option<&Totals>,
        shelf: &'a Shelf,
    ) -> Element<'a, Msg> {
        let left = column![
            self.entry_bar(ctx),
            self.cart(ctx, sale, totals),
            self.line_tools(ctx)
        ]
        .spacing(theme::GAP)
        .width(Length::FillPortion(3));
        let right = column![
            self.totals(ctx, totals),
            self.browse(ctx, shelf),
            self.nav(ctx)
        ]
        .spacing(theme::GAP)
        .width(Length::FillPortion(2));
        let body: Element<'a, Msg> = row![left, right]
            .spacing(theme::GAP)
            .height(Length::Fill)
            .into();
        match &self.weighing {
            Some((p, w)) => {
                let dialog = theme::panel(
                    column![
                        text(ctx.ta("sale-weigh", &[("name", p.name.clone())])).size(theme::TEXT),
                        text_input("0.000", w)
                            .id("weight")
                            .on_input(Msg::Weight)
                            .on_submit(Msg::WeightOk)
                            .size(theme::TITLE)
                            .padding(8),
                        self.scale_line(ctx),
                        row![
                            theme::secondary(ctx.t("common-cancel"), Some(Msg::WeightCancel))
                                .width(Length::Fill),
                            theme::primary(ctx.t("common-ok"), Some(Msg::WeightOk))
                                .width(Length::Fill),
                        ]
                        .spacing(theme::GAP)
                    ]
                    .spacing(theme::GAP)
                    .max_width(420),
                );
                column![container(dialog).center_x(Length::Fill), body]
                    .spacing(theme::GAP)
                    .into()
            }
            None => body,
        }
    }

    /// What the scale says, under the weight field.
    fn scale_line<'a>(&'a self, ctx: &Ctx<'_>) -> Element<'a, Msg> {
        let (words, bad) = match (&self.scale, self.manual) {
            (_, true) => (ctx.t("scale-typed"), false),
            (None, false) => (ctx.t("scale-none"), false),
            (Some(Ok(w)), false) if w.stable => {
                (ctx.ta("scale-stable", &[("weight", kg(w.grams))]), false)
            }
            (Some(Ok(w)), false) => (ctx.ta("scale-moving", &[("weight", kg(w.grams))]), true),
            (Some(Err(r)), false) => (ctx.t(r.id), true),
        };
        if bad {
            theme::notice(&words, true)
        } else {
            text(words).size(theme::SMALL).into()
        }
    }

    fn entry_bar<'a>(&'a self, ctx: &Ctx<'_>) -> Element<'a, Msg> {
        row![
            text_input(&ctx.t("sale-scan-hint"), &self.entry)
                .id(SCAN_ID)
                .on_input(Msg::Entry)
                .on_submit(Msg::Submit)
                .size(theme::TITLE)
                .padding(10)
                .width(Length::FillPortion(3)),
            text_input(&ctx.t("sale-search-hint"), &self.search)
                .id(SEARCH_ID)
                .on_input(Msg::Search)
                .on_submit(Msg::SearchSubmit)
                .size(theme::TEXT)
                .padding(12)
                .width(Length::FillPortion(2)),
        ]
        .spacing(theme::GAP)
        .into()
    }

    fn cart<'a>(
        &'a self,
        ctx: &Ctx<'_>,
        sale: &'a Sale,
        totals: Option<&Totals>,
    ) -> Element<'a, Msg> {
        let mut list = Column::new().spacing(4);
        if sale.lines.is_empty() {
            list = list.push(text(ctx.t("sale-empty")).size(theme::TEXT));
        }
        // Only a window of lines is built and laid out, so a 500-line cart
        // costs the same per frame as a short one; the newest line is at the
        // bottom unless the cashier pages back.
        let n = sale.lines.len();
        let end = n.saturating_sub(self.cart_back.min(n.saturating_sub(1)));
        let start = end.saturating_sub(CART_WINDOW);
        if start > 0 || end < n {
            list = list.push(
                row![
                    theme::secondary(ctx.t("sale-earlier"), (start > 0).then_some(Msg::CartBack))
                        .width(Length::Fill),
                    text(ctx.ta(
                        "sale-lines-shown",
                        &[
                            ("from", (start + 1).to_string()),
                            ("to", end.to_string()),
                            ("count", n.to_string())
                        ]
                    ))
                    .size(theme::SMALL)
                    .width(Length::Fill)
                    .align_x(Alignment::Center),
                    theme::secondary(ctx.t("sale-later"), (end < n).then_some(Msg::CartForward))
                        .width(Length::Fill),
                ]
                .spacing(theme::GAP)
                .align_y(Alignment::Center),
            );
        }
        let by_line: std::collections::HashMap<u32, &tillpoint_core::sale::LineTotals> = totals
            .map(|t| t.lines.iter().map(|x| (x.line_no, x)).collect())
            .unwrap_or_default();
        for l in &sale.lines[start..end] {
            let amount = by_line
                .get(&l.line_no)
                .copied()
                .map(|t| ctx.money(t.gross))
                .unwrap_or_else(|| ctx.t("sale-voided"));
            let qty = if l.unit == Unit::Kg {
                format!("{} kg × {}", l.qty, ctx.money(l.unit_price))
            } else {
                format!("{} × {}", l.qty, ctx.money(l.unit_price))
            };
            let mut info = column![
                text(l.name.clone()).size(theme::TEXT),
                text(qty).size(theme::SMALL)
            ]
            .spacing(2);
            if l.discount.is_some() {
                info = info.push(text(ctx.t("sale-discounted")).size(theme::SMALL));
            }
            if l.override_by.is_some() {
                info = info.push(text(ctx.t("sale-overridden")).size(theme::SMALL));
            }
            let controls: Element<'a, Msg> = if l.voided {
                text(ctx.t("sale-voided")).size(theme::TEXT).into()
            } else {
                row![
                    theme::secondary("−".into(), Some(Msg::Dec(l.line_no))).width(52),
                    theme::secondary("+".into(), Some(Msg::Inc(l.line_no))).width(52),
                    theme::danger(ctx.t("sale-void"), Some(Msg::Void(l.line_no))).width(90),
                ]
                .spacing(4)
                .into()
            };
            let line = row![
                info.width(Length::Fill),
                text(amount)
                    .size(theme::TEXT)
                    .width(120)
                    .align_x(Alignment::End),
                controls
            ]
            .spacing(theme::GAP)
            .align_y(Alignment::Center);
            let selected = self.selected == Some(l.line_no);
            list = list.push(
                button(line)
                    .on_press(Msg::Select(l.line_no))
                    .width(Length::Fill)
                    .padding(6)
                    .style(if selected {
                        button::subtle
                    } else {
                        button::text
                    }),
            );
        }
        theme::panel(scrollable(list).height(Length::Fill).anchor_bottom())
            .height(Length::Fill)
            .into()
    }

    fn line_tools<'a>(&'a self, ctx: &Ctx<'_>) -> Element<'a, Msg> {
        row![
            text_input(&ctx.t("sale-amount-hint"), &self.amount)
                .id(AMOUNT_ID)
                .on_input(Msg::Amount)
                .on_submit(Msg::LineDiscount)
                .size(theme::TEXT)
                .padding(12)
                .width(Length::FillPortion(2)),
            theme::secondary(ctx.t("sale-line-discount"), Some(Msg::LineDiscount))
                .width(Length::FillPortion(2)),
            theme::secondary(
                format!("{} F3", ctx.t("sale-sale-discount")),
                Some(Msg::SaleDiscount)
            )
            .width(Length::FillPortion(2)),
            theme::secondary(ctx.t("sale-override"), Some(Msg::Override))
                .width(Length::FillPortion(2)),
        ]
        .spacing(theme::GAP)
        .into()
    }

    fn totals<'a>(&'a self, ctx: &Ctx<'_>, totals: Option<&Totals>) -> Element<'a, Msg> {
        let Some(t) = totals else {
            return theme::panel(text(ctx.t("sale-empty")))
                .width(Length::Fill)
                .into();
        };
        let line = |label: String, value: String| {
            row![
                text(label).size(theme::TEXT).width(Length::Fill),
                text(value).size(theme::TEXT)
            ]
        };
        let mut c = column![line(ctx.t("sale-subtotal"), ctx.money(t.subtotal))].spacing(2);
        // Both were checked when the totals were made; the sum is for show.
        let disc = Money::new(
            t.line_discounts.minor.saturating_add(t.sale_discount.minor),
            t.line_discounts.currency,
        );
        if !disc.is_zero() {
            c = c.push(line(ctx.t("sale-discount"), ctx.money(-disc)));
        }
        for tx in &t.tax {
            c = c.push(line(
                ctx.ta("sale-tax", &[("name", tx.name.clone())]),
                ctx.money(tx.tax),
            ));
        }
        c = c.push(
            row![
                text(ctx.t("sale-total"))
                    .size(theme::TITLE)
                    .width(Length::Fill),
                text(ctx.money(t.total)).size(theme::HUGE)
            ]
            .align_y(Alignment::Center),
        );
        theme::panel(c).width(Length::Fill).into()
    }

    fn browse<'a>(&'a self, ctx: &Ctx<'_>, shelf: &'a Shelf) -> Element<'a, Msg> {
        let shown: &[Product] = if !self.results.is_empty() {
            &self.results
        } else {
            &shelf.quick
        };
        let mut tabs = iced::widget::Row::new().spacing(4);
        for c in &shelf.categories {
            let short: String = c.split_whitespace().last().unwrap_or(c).to_string();
            let b = theme::big(short, Some(Msg::Category(c.clone())));
            tabs = tabs.push(if shelf.category.as_deref() == Some(c) {
                b.style(button::primary)
            } else {
                b.style(button::secondary)
            });
        }
        let mut grid = Column::new().spacing(4);
        for chunk in shown.chunks(3) {
            let mut r = iced::widget::Row::new().spacing(4);
            for p in chunk {
                let label = column![
                    text(p.name.clone()).size(theme::SMALL),
                    text(if p.unit == Unit::Kg {
                        format!("{}/kg", ctx.money(p.price))
                    } else {
                        ctx.money(p.price)
                    })
                    .size(theme::SMALL)
                ];
                r = r.push(
                    button(label)
                        .on_press(Msg::Pick(p.clone()))
                        .width(Length::FillPortion(1))
                        .height(64)
                        .padding(4)
                        .style(button::secondary),
                );
            }
            for _ in chunk.len()..3 {
                r = r.push(iced::widget::space::horizontal().width(Length::FillPortion(1)));
            }
            grid = grid.push(r);
        }
        if shown.is_empty() {
            grid = grid.push(text(ctx.t("sale-no-results")).size(theme::SMALL));
        }
        column![
            scrollable(tabs).direction(scrollable::Direction::Horizontal(
                scrollable::Scrollbar::new()
            )),
            theme::panel(scrollable(grid).height(Length::Fill)).height(Length::Fill)
        ]
        .spacing(4)
        .height(Length::Fill)
        .into()
    }

    fn nav<'a>(&'a self, ctx: &Ctx<'_>) -> Element<'a, Msg> {
        let b = |id: &str, key: &str, n: Nav| {
            theme::secondary(format!("{} {key}", ctx.t(id)), Some(Msg::Go(n))).width(Length::Fill)
        };
        column![
            row![
                b("nav-park", "F4", Nav::Park),
                b("nav-parked", "F5", Nav::Parked),
                b("nav-refund", "F6", Nav::Refund)
            ]
            .spacing(4),
            row![
                b("nav-cash", "F7", Nav::Cash),
                b("nav-reports", "F8", Nav::Reports),
                b("nav-receipts", "F11", Nav::Receipts)
            ]
            .spacing(4),
            row![
                b("nav-settings", "F9", Nav::Settings),
                b("nav-help", "F1", Nav::Help),
                b("nav-lock", "F10", Nav::Lock)
            ]
            .spacing(4),
            theme::primary(
                theme::keyed(ctx.t("nav-pay"), "F12"),
                Some(Msg::Go(Nav::Pay))
            )
            .width(Length::Fill)
            .height(72),
        ]
        .spacing(4)
        .into()
    }
}

/// Applies a change a cashier may make alone within the shop's limits;
/// past them the sale engine names the approval it needs, and the app asks
/// a supervisor for exactly that.
pub fn supervised<M>(
    change: Change,
    sale: &mut Sale,
    ctx: &Ctx<'_>,
    approval: Option<&Approval>,
) -> Update<M, Event> {
    let done = match &change {
        Change::Void(l) => sale.void_line(*l, ctx.rules, approval),
        Change::LineDiscount(l, d) => {
            sale.set_line_discount(*l, Some(d.clone()), ctx.discount_limit, approval)
        }
        Change::SaleDiscount(d) => {
            sale.set_sale_discount(Some(d.clone()), ctx.discount_limit, approval)
        }
    };
    match done {
        Ok(()) => Update::none(),
        Err(SaleError::NeedsApproval(action, target)) if approval.is_none() => {
            Update::event(Event::Approve(Pending::Change(change, action, target)))
        }
        Err(e) => Update::event(Event::Notice(e.to_string())),
    }
}

/// A track of a magnetic stripe (`%B…^` or `;…=`) or a card number
/// (12 or more digits next to a track separator).
fn looks_like_card_data(entry: &str) -> bool {
    let digits_run = entry
        .split(|c: char| !c.is_ascii_digit())
        .any(|run| run.len() >= 12);
    entry.starts_with("%B") || (digits_run && entry.contains(['=', '^', ';', '?']))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tillpoint_core::money::Currency;
    use tillpoint_i18n::I18n;

    fn ctx(_: &I18n) -> Ctx<'static> {
        Ctx::for_tests()
    }

    fn product(unit: Unit) -> Product {
        Product {
            sku: "1".into(),
            name: "Tea".into(),
            barcodes: vec![],
            price: Money::new(350, Currency::CNY),
            tax_class: "A".into(),
            category: "c".into(),
            unit,
        }
    }

    /// Track data that reached the scan field is dropped unseen: not
    /// looked up, not echoed; barcodes and quantities are not mistaken.
    #[test]
    fn card_data_in_the_scan_field_is_never_looked_up_or_shown() {
        let i = I18n::load();
        let mut s = State::default();
        let sale = Sale::new(Currency::CNY, 1);
        for track in [
            ";6212345678901232=30121200000000000000?",
            "%B6212345678901232^TEST/CARD^3012120?",
            "6212345678901232=3012120",
        ] {
            s.intent(Msg::Entry(track.into()), &sale, &ctx(&i));
            let got = s.intent(Msg::Submit, &sale, &ctx(&i));
            assert_eq!(
                got,
                Some(Intent::Notice(ctx(&i).t("swipe-not-here"))),
                "{track}"
            );
            assert!(s.entry.is_empty());
        }
        for code in ["6930181590837", "3*00001", "10%", "2300001012506"] {
            assert!(!looks_like_card_data(code), "{code}");
        }
    }

    #[test]
    fn scanning_submits_the_code_and_clears_the_entry() {
        let i = I18n::load();
        let mut s = State::default();
        let sale = Sale::new(Currency::CNY, 1);
        s.intent(Msg::Entry("6901234567892".into()), &sale, &ctx(&i));
        assert_eq!(
            s.intent(Msg::Submit, &sale, &ctx(&i)),
            Some(Intent::Resolve("6901234567892".into()))
        );
        assert!(s.entry.is_empty());
        assert_eq!(
            s.intent(Msg::Submit, &sale, &ctx(&i)),
            None,
            "an empty Enter on an empty sale does nothing"
        );
    }

    /// The keyboard alone: "3*" before a code multiplies it, "3*" alone
    /// sets the selected line, "0*" voids it, an empty Enter pays, and the
    /// arrows select lines.
    #[test]
    fn quantities_voids_and_payment_by_keyboard() {
        let i = I18n::load();
        let c = ctx(&i);
        let mut s = State::default();
        let mut sale = Sale::new(Currency::CNY, 1);
        let mut shelf = Shelf::default();
        s.entry = "3*6901234567892".into();
        let u = s.update(Msg::Submit, &mut sale, &mut shelf, &c);
        assert!(
            u.effects.iter().any(Effect::is_work),
            "the code is looked up"
        );
        let hit = ScanHit {
            product: product(Unit::Piece),
            embedded: None,
        };
        s.update(
            Msg::Resolved("6901234567892".into(), Ok(Some(hit.clone()))),
            &mut sale,
            &mut shelf,
            &c,
        );
        assert_eq!(sale.lines[0].qty, Qty(3000), "3 of them");
        assert!(s.times.is_none(), "the multiplier is used once");
        let mut other = hit;
        other.product.sku = "2".into();
        s.update(
            Msg::Resolved("2".into(), Ok(Some(other))),
            &mut sale,
            &mut shelf,
            &c,
        );
        assert_eq!(sale.lines[1].qty, Qty::ONE);
        assert_eq!(
            s.key(Named::ArrowUp, &sale).map(|m| format!("{m:?}")),
            Some("Select(1)".into())
        );
        s.selected = Some(1);
        assert_eq!(
            s.key(Named::ArrowDown, &sale).map(|m| format!("{m:?}")),
            Some("Select(2)".into())
        );
        s.entry = "5*".into();
        s.update(Msg::Submit, &mut sale, &mut shelf, &c);
        assert_eq!(sale.lines[0].qty, Qty(5000), "the selected line");
        s.entry = "x*1".into();
        let u = s.update(Msg::Submit, &mut sale, &mut shelf, &c);
        assert!(
            matches!(u.event, Some(Event::Notice(_))),
            "a bad quantity is said"
        );
        s.entry = "0*".into();
        let u = s.update(Msg::Submit, &mut sale, &mut shelf, &c);
        assert!(
            matches!(u.event, Some(Event::Approve(_))) || sale.lines[0].voided,
            "0* voids the selected line (with a supervisor where the rules say)"
        );
        let u = s.update(Msg::Submit, &mut sale, &mut shelf, &c);
        assert_eq!(u.event, Some(Event::Go(Nav::Pay)), "an empty Enter pays");
    }

    #[test]
    fn weighed_products_ask_for_a_weight() {
        let i = I18n::load();
        let mut s = State::default();
        let sale = Sale::new(Currency::CNY, 1);
        assert_eq!(
            s.intent(Msg::Pick(product(Unit::Kg)), &sale, &ctx(&i)),
            None
        );
        assert!(s.weighing.is_some());
        s.intent(Msg::Weight("abc".into()), &sale, &ctx(&i));
        assert!(matches!(
            s.intent(Msg::WeightOk, &sale, &ctx(&i)),
            Some(Intent::Notice(_))
        ));
        s.intent(Msg::Weight("0.750".into()), &sale, &ctx(&i));
        assert_eq!(
            s.intent(Msg::WeightOk, &sale, &ctx(&i)),
            Some(Intent::Add(product(Unit::Kg), Qty(750)))
        );
        assert_eq!(
            s.intent(Msg::Pick(product(Unit::Piece)), &sale, &ctx(&i)),
            Some(Intent::Add(product(Unit::Piece), Qty::ONE))
        );
    }

    /// A new weighing asks the scale at once; readings of an older
    /// weighing are dropped; a reading asks for the next; a refusal is
    /// kept to be said; typing by hand stops the scale filling the field.
    #[test]
    fn the_weigh_dialog_reads_the_scale_until_it_closes() {
        let i = I18n::load();
        let c = ctx(&i);
        let mut s = State::default();
        let mut sale = Sale::new(Currency::CNY, 1);
        let mut shelf = Shelf::default();
        let u = s.update(Msg::Pick(product(Unit::Kg)), &mut sale, &mut shelf, &c);
        assert!(u.effects.iter().any(Effect::is_work), "the scale is read");
        let seq = s.weigh_seq;
        let steady = Weight {
            grams: 812,
            stable: true,
        };
        let u = s.update(
            Msg::Weighed(seq.wrapping_sub(1), Ok(Some(steady))),
            &mut sale,
            &mut shelf,
            &c,
        );
        assert!(
            u.effects.is_empty() && s.scale.is_none(),
            "an old weighing's reading"
        );
        let u = s.update(
            Msg::Weighed(seq, Ok(Some(steady))),
            &mut sale,
            &mut shelf,
            &c,
        );
        assert!(u.effects.iter().any(Effect::is_work), "read again");
        assert_eq!(s.weighing.as_ref().map(|w| w.1.as_str()), Some("0.812"));
        let refusal = WeighRefusal {
            id: "scale-overload",
            detail: "the scale is overloaded".into(),
        };
        s.update(Msg::Weighed(seq, Err(refusal)), &mut sale, &mut shelf, &c);
        let u = s.update(Msg::WeightOk, &mut sale, &mut shelf, &c);
        assert!(matches!(u.event, Some(Event::Notice(ref n)) if n.contains("overloaded")));
        s.update(Msg::Weight("0.400".into()), &mut sale, &mut shelf, &c);
        s.update(
            Msg::Weighed(seq, Ok(Some(steady))),
            &mut sale,
            &mut shelf,
            &c,
        );
        assert_eq!(
            s.weighing.as_ref().map(|w| w.1.as_str()),
            Some("0.400"),
            "typed stays"
        );
        s.update(Msg::WeightOk, &mut sale, &mut shelf, &c);
        assert_eq!(sale.lines[0].qty, Qty(400));
        let u = s.update(
            Msg::Weighed(seq, Ok(Some(steady))),
            &mut sale,
            &mut shelf,
            &c,
        );
        assert!(
            !u.effects.iter().any(Effect::is_work),
            "closed: no more readings"
        );
        // Without a scale the service answers None and nothing more is asked.
        s.update(Msg::Pick(product(Unit::Kg)), &mut sale, &mut shelf, &c);
        let u = s.update(
            Msg::Weighed(s.weigh_seq, Ok(None)),
            &mut sale,
            &mut shelf,
            &c,
        );
        assert!(!u.effects.iter().any(Effect::is_work));
    }

    #[test]
    fn minus_on_the_last_unit_voids_the_line_and_discounts_parse() {
        let i = I18n::load();
        let mut s = State::default();
        let mut sale = Sale::new(Currency::CNY, 1);
        let l = sale.add(&product(Unit::Piece), Qty::ONE).unwrap();
        assert_eq!(
            s.intent(Msg::Dec(l), &sale, &ctx(&i)),
            Some(Intent::Void(l))
        );
        assert_eq!(
            s.intent(Msg::Inc(l), &sale, &ctx(&i)),
            Some(Intent::SetQty(l, Qty(2000)))
        );
        s.intent(Msg::Amount("10%".into()), &sale, &ctx(&i));
        assert_eq!(
            s.intent(Msg::LineDiscount, &sale, &ctx(&i)),
            Some(Intent::LineDiscount(
                l,
                Discount::Percent(Decimal::from(10))
            ))
        );
        s.intent(Msg::Amount("1.50".into()), &sale, &ctx(&i));
        assert_eq!(
            s.intent(Msg::SaleDiscount, &sale, &ctx(&i)),
            Some(Intent::SaleDiscount(Discount::Amount(150)))
        );
        s.intent(Msg::Amount("150%".into()), &sale, &ctx(&i));
        assert!(matches!(
            s.intent(Msg::SaleDiscount, &sale, &ctx(&i)),
            Some(Intent::Notice(_))
        ));
        s.intent(Msg::Amount("2.00".into()), &sale, &ctx(&i));
        assert_eq!(
            s.intent(Msg::Override, &sale, &ctx(&i)),
            Some(Intent::Override(l, Money::new(200, Currency::CNY)))
        );
    }

    #[test]
    fn a_scanned_code_goes_to_the_service_and_its_answer_onto_the_sale() {
        let ctx = Ctx::for_tests();
        let mut s = State::default();
        let mut shelf = Shelf::default();
        let mut sale = Sale::new(Currency::CNY, 1);
        s.update(Msg::Entry("00010".into()), &mut sale, &mut shelf, &ctx);
        let u = s.update(Msg::Submit, &mut sale, &mut shelf, &ctx);
        assert!(u.effects[0].is_work() && u.effects[1].is_focus(SCAN_ID));
        let hit = ScanHit {
            product: product(Unit::Piece),
            embedded: None,
        };
        s.update(
            Msg::Resolved("00010".into(), Ok(Some(hit))),
            &mut sale,
            &mut shelf,
            &ctx,
        );
        assert_eq!(sale.live_lines().count(), 1);
        let u = s.update(
            Msg::Resolved("999".into(), Ok(None)),
            &mut sale,
            &mut shelf,
            &ctx,
        );
        assert!(matches!(u.event, Some(Event::Notice(ref n)) if n.contains("999")));
        // A weighed product asks for its weight and takes the focus there.
        let hit = ScanHit {
            product: product(Unit::Kg),
            embedded: None,
        };
        let u = s.update(
            Msg::Resolved("00020".into(), Ok(Some(hit))),
            &mut sale,
            &mut shelf,
            &ctx,
        );
        assert!(u.effects.iter().any(|e| e.is_focus("weight")));
        assert!(s.weighing.is_some());
    }

    #[test]
    fn pay_and_park_need_lines_and_the_shelf_fills_in() {
        let ctx = Ctx::for_tests();
        let mut s = State::default();
        let mut shelf = Shelf::default();
        let mut sale = Sale::new(Currency::CNY, 1);
        let u = s.update(Msg::Go(Nav::Pay), &mut sale, &mut shelf, &ctx);
        assert_eq!(u.event, Some(Event::Notice(ctx.t("sale-empty"))));
        sale.add(&product(Unit::Piece), Qty::ONE).unwrap();
        let u = s.update(Msg::Go(Nav::Pay), &mut sale, &mut shelf, &ctx);
        assert_eq!(u.event, Some(Event::Go(Nav::Pay)));
        let u = s.update(Msg::Go(Nav::Park), &mut sale, &mut shelf, &ctx);
        assert!(u.event.is_none() && u.effects[0].is_work());
        let u = s.update(Msg::Parked(Ok(7)), &mut sale, &mut shelf, &ctx);
        assert_eq!(u.event, Some(Event::Parked(7)));
        let u = s.update(Msg::Override, &mut sale, &mut shelf, &ctx);
        assert!(
            matches!(u.event, Some(Event::Notice(_))),
            "no line selected"
        );

        let u = s.update(
            Msg::Categories(Ok(vec!["Drinks".into(), "Food".into()])),
            &mut sale,
            &mut shelf,
            &ctx,
        );
        assert_eq!(shelf.category.as_deref(), Some("Drinks"));
        assert!(u.effects[0].is_work(), "the first category's products");
        s.update(
            Msg::Shelved("Drinks".into(), Ok(vec![product(Unit::Piece)])),
            &mut sale,
            &mut shelf,
            &ctx,
        );
        assert_eq!(shelf.quick.len(), 1);
        s.update(
            Msg::Shelved("Food".into(), Ok(vec![])),
            &mut sale,
            &mut shelf,
            &ctx,
        );
        assert_eq!(
            shelf.quick.len(),
            1,
            "an answer for another category is dropped"
        );
    }
}

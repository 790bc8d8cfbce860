//! The sale engine: lines, discounts, overrides, totals and tenders of a sale
//! in progress, and the immutable record a completed sale becomes.

use super::cashier::{require, Action, Approval, PermissionDenied, Target};
use super::catalog::{Product, Qty, Unit};
use super::money::{allocate, round_div, Currency, Money, MoneyError, Rounding};
use super::tax::{breakdown, TaxError, TaxLine, TaxRules};
use super::tender::{CardRef, Tender, TenderKind};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The shop's rules for turning lines into money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricingRules {
    pub currency: Currency,
    pub tax: TaxRules,
    /// Rounding of quantity × price and of percentage discounts.
    pub line_rounding: Rounding,
    /// Cash is paid in multiples of this many minor units (1 = no cash rounding).
    pub cash_increment: i64,
    pub cash_rounding: Rounding,
}

/// A discount on a line or on the whole sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Discount {
    /// Percent off, e.g. 10 for 10 %.
    Percent(Decimal),
    /// A fixed amount off, in minor units.
    Amount(i64),
}

impl Discount {
    /// The discount on `base`, never more than `base` itself and never negative.
    fn of(&self, base: i64, rounding: Rounding) -> Result<i64, MoneyError> {
        let d = match self {
            Discount::Percent(p) => {
                let p = (*p).clamp(Decimal::ZERO, Decimal::ONE_HUNDRED);
                rounding.round(Decimal::from(base) * p / Decimal::ONE_HUNDRED)?
            }
            Discount::Amount(a) => *a,
        };
        Ok(d.clamp(0, base.max(0)))
    }

    /// Whether this discount takes more than `limit_percent` off `base`.
    pub fn exceeds(&self, base: i64, limit_percent: Decimal) -> bool {
        match self {
            Discount::Percent(p) => *p > limit_percent,
            Discount::Amount(a) => {
                // No more than the base is ever taken off (see `of`).
                let base = base.max(0);
                Decimal::from((*a).clamp(0, base)) * Decimal::ONE_HUNDRED
                    > limit_percent * Decimal::from(base)
            }
        }
    }

    /// The discount as an approval names it: `10%`, or an amount in minor
    /// units such as `500`.
    pub fn describe(&self) -> String {
        match self {
            Discount::Percent(p) => format!("{}%", p.normalize()),
            Discount::Amount(a) => a.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaleKind {
    Sale,
    Refund,
}

impl SaleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SaleKind::Sale => "sale",
            SaleKind::Refund => "refund",
        }
    }
}

/// A line of a sale in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleLine {
    pub line_no: u32,
    pub sku: String,
    pub name: String,
    pub tax_class: String,
    pub unit: Unit,
    pub qty: Qty,
    pub unit_price: Money,
    /// The catalog price, kept when a supervisor overrides it.
    pub list_price: Money,
    pub override_by: Option<u32>,
    pub discount: Option<Discount>,
    /// The supervisor who approved a discount over the shop's limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_by: Option<u32>,
    pub voided: bool,
    /// The supervisor who approved voiding the line after payment began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voided_by: Option<u32>,
}

impl SaleLine {
    /// Quantity × unit price rounded half up: what a discount is measured
    /// against when it is checked against the shop's limit.
    fn base(&self) -> i64 {
        round_div(
            i128::from(self.unit_price.minor) * i128::from(self.qty.milli()),
            1000,
            Rounding::HalfUp,
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaleError {
    #[error("there is no line {0}")]
    NoSuchLine(u32),
    #[error("line {0} is voided")]
    LineVoided(u32),
    #[error("the sale has payments; remove them before changing lines")]
    Locked,
    #[error("the sale has no lines")]
    Empty,
    #[error("quantity must be positive")]
    BadQuantity,
    #[error("{0} is sold by weight; enter a weight")]
    NeedsWeight(String),
    #[error("{0} is sold by the piece; the quantity must be whole")]
    NeedsWholeQuantity(String),
    #[error("nothing is left to pay")]
    NothingDue,
    #[error("amount must be positive")]
    BadAmount,
    #[error("amount {0} exceeds the balance {1}")]
    OverBalance(Money, Money),
    #[error("the sale is not fully paid: {0} still due")]
    NotPaid(Money),
    #[error("a sale with payments cannot be parked")]
    CannotPark,
    #[error(transparent)]
    Tax(#[from] TaxError),
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Permission(#[from] PermissionDenied),
    /// The change is over what a cashier may do alone; ask for this
    /// approval and try again with it.
    #[error("this needs a supervisor's approval")]
    NeedsApproval(Action, Target),
    #[error(
        "{0} is already paid, more than would be left to pay; refund it after the sale instead"
    )]
    PaidBeyond(Money),
}

/// A line's money after all discounts, as the receipt and the books see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineTotals {
    pub line_no: u32,
    /// Quantity × unit price, rounded once.
    pub before_discount: Money,
    /// Line discount plus this line's share of the sale discount.
    pub discount: Money,
    /// What the line costs in the shop's pricing mode (incl. tax when inclusive).
    pub amount: Money,
    pub tax: Money,
    /// What the customer pays for the line, tax included.
    pub gross: Money,
}

/// The totals of a sale: the one computation the screen, receipt and books share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub subtotal: Money,
    pub line_discounts: Money,
    pub sale_discount: Money,
    pub tax: Vec<TaxLine>,
    pub total: Money,
    pub lines: Vec<LineTotals>,
}

/// A sale being rung up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    pub currency: Currency,
    pub cashier: u32,
    pub lines: Vec<SaleLine>,
    pub discount: Option<Discount>,
    pub tenders: Vec<Tender>,
    /// Cash rounding added to (or taken from) the total when cash settled it.
    pub rounding: Money,
    /// The supervisor who approved a sale discount over the shop's limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_by: Option<u32>,
    next_line: u32,
}

impl Sale {
    pub fn new(currency: Currency, cashier: u32) -> Sale {
        Sale {
            currency,
            cashier,
            lines: Vec::new(),
            discount: None,
            tenders: Vec::new(),
            rounding: Money::zero(currency),
            discount_by: None,
            next_line: 1,
        }
    }

    fn unlocked(&self) -> Result<(), SaleError> {
        if self.tenders.is_empty() {
            Ok(())
        } else {
            Err(SaleError::Locked)
        }
    }

    fn line_mut(&mut self, line_no: u32) -> Result<&mut SaleLine, SaleError> {
        let line = self
            .lines
            .iter_mut()
            .find(|l| l.line_no == line_no)
            .ok_or(SaleError::NoSuchLine(line_no))?;
        if line.voided {
            return Err(SaleError::LineVoided(line_no));
        }
        Ok(line)
    }

    fn check_qty(product_name: &str, unit: Unit, qty: Qty) -> Result<(), SaleError> {
        if qty.milli() <= 0 {
            return Err(SaleError::BadQuantity);
        }
        if unit == Unit::Piece && !qty.is_whole() {
            return Err(SaleError::NeedsWholeQuantity(product_name.to_string()));
        }
        Ok(())
    }

    /// Adds a product; returns the new line number. A product sold by the
    /// piece that is already on the last line just gets its quantity raised,
    /// as a cashier scanning the same tin twice expects.
    pub fn add(&mut self, product: &Product, qty: Qty) -> Result<u32, SaleError> {
        self.unlocked()?;
        Self::check_qty(&product.name, product.unit, qty)?;
        if product.unit == Unit::Piece {
            if let Some(last) = self.lines.last_mut() {
                if !last.voided
                    && last.sku == product.sku
                    && last.override_by.is_none()
                    && last.discount.is_none()
                    && last.unit_price == product.price
                {
                    last.qty = Qty(last.qty.milli() + qty.milli());
                    return Ok(last.line_no);
                }
            }
        }
        self.push_line(product, qty, product.price);
        Ok(self.next_line - 1)
    }

    /// Adds a line whose price came from a price-embedded barcode.
    pub fn add_with_embedded_price(
        &mut self,
        product: &Product,
        price: Money,
    ) -> Result<u32, SaleError> {
        self.unlocked()?;
        self.push_line(product, Qty::ONE, price);
        Ok(self.next_line - 1)
    }

    fn push_line(&mut self, product: &Product, qty: Qty, price: Money) {
        self.lines.push(SaleLine {
            line_no: self.next_line,
            sku: product.sku.clone(),
            name: product.name.clone(),
            tax_class: product.tax_class.clone(),
            unit: product.unit,
            qty,
            unit_price: price,
            list_price: product.price,
            override_by: None,
            discount: None,
            discount_by: None,
            voided: false,
            voided_by: None,
        });
        self.next_line += 1;
    }

    pub fn set_qty(&mut self, line_no: u32, qty: Qty) -> Result<(), SaleError> {
        self.unlocked()?;
        let line = self.line_mut(line_no)?;
        Self::check_qty(&line.name.clone(), line.unit, qty)?;
        line.qty = qty;
        Ok(())
    }

    /// Voids a line; it stays on the record, marked, for the audit. Before
    /// any payment a cashier may; once the sale is partly paid it needs a
    /// supervisor's approval of that line at its value, and what stays to pay
    /// must still cover what was paid.
    pub fn void_line(
        &mut self,
        line_no: u32,
        rules: &PricingRules,
        approval: Option<&Approval>,
    ) -> Result<(), SaleError> {
        if self.tenders.is_empty() {
            self.line_mut(line_no)?.voided = true;
            return Ok(());
        }
        let value = self.line_value(line_no, rules)?;
        let target = Target::Line {
            line_no,
            minor: value,
        };
        let approval =
            approval.ok_or(SaleError::NeedsApproval(Action::LineVoid, target.clone()))?;
        require(approval, Action::LineVoid, &target)?;
        let mut after = self.clone();
        after.line_mut(line_no)?.voided = true;
        let paid = after.paid()?;
        if after.totals(rules)?.total.minor < paid.minor {
            return Err(SaleError::PaidBeyond(paid));
        }
        let line = self.line_mut(line_no)?;
        line.voided = true;
        line.voided_by = Some(approval.approver());
        Ok(())
    }

    /// What a live line costs the customer now, tax and discounts included.
    fn line_value(&self, line_no: u32, rules: &PricingRules) -> Result<i64, SaleError> {
        self.totals(rules)?
            .lines
            .iter()
            .find(|l| l.line_no == line_no)
            .map(|l| l.gross.minor)
            .ok_or(SaleError::NoSuchLine(line_no))
    }

    /// Replaces a line's unit price; needs a supervisor's approval.
    pub fn override_price(
        &mut self,
        line_no: u32,
        price: Money,
        approval: &Approval,
    ) -> Result<(), SaleError> {
        require(
            approval,
            Action::PriceOverride,
            &Target::Line {
                line_no,
                minor: price.minor,
            },
        )?;
        self.unlocked()?;
        if price.minor < 0 {
            return Err(SaleError::BadAmount);
        }
        let line = self.line_mut(line_no)?;
        line.unit_price = price;
        line.override_by = Some(approval.approver());
        Ok(())
    }

    /// Sets (or clears) a line's discount. One over `limit_percent` of the
    /// line needs a supervisor's approval of exactly that discount.
    pub fn set_line_discount(
        &mut self,
        line_no: u32,
        discount: Option<Discount>,
        limit_percent: Decimal,
        approval: Option<&Approval>,
    ) -> Result<(), SaleError> {
        self.unlocked()?;
        let base = self.line_mut(line_no)?.base();
        let by = Self::discount_approval(
            discount.as_ref(),
            base,
            limit_percent,
            Some(line_no),
            approval,
        )?;
        let line = self.line_mut(line_no)?;
        line.discount = discount;
        line.discount_by = by;
        Ok(())
    }

    /// Sets (or clears) the discount off the whole sale, under the same
    /// limit as a line's.
    pub fn set_sale_discount(
        &mut self,
        discount: Option<Discount>,
        limit_percent: Decimal,
        approval: Option<&Approval>,
    ) -> Result<(), SaleError> {
        self.unlocked()?;
        let base = self
            .live_lines()
            .map(|l| {
                let b = l.base();
                let off = l
                    .discount
                    .as_ref()
                    .map_or(Ok(0), |d| d.of(b, Rounding::HalfUp));
                off.map(|o| b - o)
            })
            .try_fold(0i64, |sum, b| b.map(|b| sum.saturating_add(b)))?;
        self.discount_by =
            Self::discount_approval(discount.as_ref(), base, limit_percent, None, approval)?;
        self.discount = discount;
        Ok(())
    }

    /// The first discount over `limit_percent` that names no approver, if
    /// any: the store refuses to complete such a sale, so a sale edited
    /// around [`Sale::set_line_discount`] (its fields are public, for
    /// parking) cannot slip one through.
    pub fn unapproved_discount(&self, limit_percent: Decimal) -> Option<Target> {
        for l in self.live_lines() {
            if let Some(d) = &l.discount {
                if l.discount_by.is_none() && d.exceeds(l.base(), limit_percent) {
                    return Some(Target::Discount {
                        line_no: Some(l.line_no),
                        off: d.describe(),
                    });
                }
            }
        }
        let d = self.discount.as_ref()?;
        let base = self
            .live_lines()
            .map(|l| {
                let b = l.base();
                b - l
                    .discount
                    .as_ref()
                    .map_or(0, |d| d.of(b, Rounding::HalfUp).unwrap_or(0))
            })
            .fold(0i64, i64::saturating_add);
        (self.discount_by.is_none() && d.exceeds(base, limit_percent)).then(|| Target::Discount {
            line_no: None,
            off: d.describe(),
        })
    }

    /// The approver a discount of `base` needs, if it is over the limit:
    /// `None` when it is within it, an error when the approval is missing or
    /// for something else.
    fn discount_approval(
        discount: Option<&Discount>,
        base: i64,
        limit_percent: Decimal,
        line_no: Option<u32>,
        approval: Option<&Approval>,
    ) -> Result<Option<u32>, SaleError> {
        let Some(discount) = discount else {
            return Ok(None);
        };
        if !discount.exceeds(base, limit_percent) {
            return Ok(None);
        }
        let target = Target::Discount {
            line_no,
            off: discount.describe(),
        };
        let approval =
            approval.ok_or(SaleError::NeedsApproval(Action::Discount, target.clone()))?;
        require(approval, Action::Discount, &target)?;
        Ok(Some(approval.approver()))
    }

    pub fn live_lines(&self) -> impl Iterator<Item = &SaleLine> {
        self.lines.iter().filter(|l| !l.voided)
    }

    /// Computes every amount of the sale from its lines and the rules.
    pub fn totals(&self, rules: &PricingRules) -> Result<Totals, SaleError> {
        let cur = self.currency;
        let live: Vec<&SaleLine> = self.live_lines().collect();
        let mut before = Vec::with_capacity(live.len());
        let mut line_disc = Vec::with_capacity(live.len());
        for l in &live {
            let b = round_div(
                i128::from(l.unit_price.minor) * i128::from(l.qty.milli()),
                1000,
                rules.line_rounding,
            );
            let d = match &l.discount {
                Some(d) => d.of(b, rules.line_rounding)?,
                None => 0,
            };
            before.push(b);
            line_disc.push(d);
        }
        let after: Vec<i64> = before.iter().zip(&line_disc).map(|(b, d)| b - d).collect();
        let after_sum: i64 = after.iter().sum();
        let sale_disc = match &self.discount {
            Some(d) => d.of(after_sum, rules.line_rounding)?,
            None => 0,
        };
        let shares = allocate(sale_disc, &after);
        let amounts: Vec<i64> = after.iter().zip(&shares).map(|(a, s)| a - s).collect();
        let tax_input: Vec<(&str, Money)> = live
            .iter()
            .zip(&amounts)
            .map(|(l, a)| (l.tax_class.as_str(), Money::new(*a, cur)))
            .collect();
        let (tax, line_tax) = breakdown(&tax_input, &rules.tax, cur)?;
        let exclusive = rules.tax.mode == super::tax::TaxMode::Exclusive;
        let lines: Vec<LineTotals> = live
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let amount = Money::new(amounts[i], cur);
                let t = line_tax[i];
                Ok(LineTotals {
                    line_no: l.line_no,
                    before_discount: Money::new(before[i], cur),
                    discount: Money::new(line_disc[i] + shares[i], cur),
                    amount,
                    tax: t,
                    gross: if exclusive {
                        amount.checked_add(t)?
                    } else {
                        amount
                    },
                })
            })
            .collect::<Result<_, MoneyError>>()?;
        let total = tax
            .iter()
            .try_fold(Money::zero(cur), |acc, t| acc.checked_add(t.gross))?;
        Ok(Totals {
            subtotal: Money::new(before.iter().sum(), cur),
            line_discounts: Money::new(line_disc.iter().sum(), cur),
            sale_discount: Money::new(sale_disc, cur),
            tax,
            total,
            lines,
        })
    }

    /// What the tenders taken so far add up to.
    pub fn paid(&self) -> Result<Money, SaleError> {
        Ok(self
            .tenders
            .iter()
            .try_fold(Money::zero(self.currency), |a, t| a.checked_add(t.amount))?)
    }

    /// What is still to pay (before any cash rounding of the remainder).
    pub fn balance(&self, rules: &PricingRules) -> Result<Money, SaleError> {
        Ok(self
            .totals(rules)?
            .total
            .checked_add(self.rounding)?
            .checked_sub(self.paid()?)?)
    }

    /// What the customer must hand over to settle the balance in cash.
    pub fn cash_due(&self, rules: &PricingRules) -> Result<Money, SaleError> {
        let b = self.balance(rules)?;
        Ok(b.round_to_increment(rules.cash_increment, rules.cash_rounding))
    }

    /// Takes cash; returns the change. Cash short of the balance is a partial
    /// payment (split tender); cash that settles it rounds to the cash increment.
    pub fn pay_cash(&mut self, given: Money, rules: &PricingRules) -> Result<Money, SaleError> {
        if given.minor <= 0 {
            return Err(SaleError::BadAmount);
        }
        if self.live_lines().next().is_none() {
            return Err(SaleError::Empty);
        }
        let balance = self.balance(rules)?;
        if balance.minor <= 0 {
            return Err(SaleError::NothingDue);
        }
        let due = balance.round_to_increment(rules.cash_increment, rules.cash_rounding);
        let (applied, change) = if given.minor >= due.minor {
            self.rounding = self.rounding.checked_add(due.checked_sub(balance)?)?;
            (due, given.checked_sub(due)?)
        } else {
            (given, Money::zero(self.currency))
        };
        self.tenders.push(Tender {
            kind: TenderKind::Cash,
            amount: applied,
            given: Some(given),
            change,
            card: None,
            refund_of: None,
        });
        Ok(change)
    }

    /// Records an approved card or QR payment of `amount` (at most the balance).
    pub fn pay_electronic(
        &mut self,
        kind: TenderKind,
        amount: Money,
        card: CardRef,
        rules: &PricingRules,
    ) -> Result<(), SaleError> {
        if amount.minor <= 0 {
            return Err(SaleError::BadAmount);
        }
        let balance = self.balance(rules)?;
        if amount.minor > balance.minor {
            return Err(SaleError::OverBalance(amount, balance));
        }
        self.tenders.push(Tender::electronic(kind, amount, card));
        Ok(())
    }

    /// Checks the sale can be parked (no payment taken yet).
    pub fn check_parkable(&self) -> Result<(), SaleError> {
        if self.tenders.is_empty() {
            Ok(())
        } else {
            Err(SaleError::CannotPark)
        }
    }

    /// Turns a fully paid sale into its immutable record.
    pub fn complete(&self, rules: &PricingRules, stamp: Stamp) -> Result<SaleRecord, SaleError> {
        if self.live_lines().next().is_none() {
            return Err(SaleError::Empty);
        }
        let totals = self.totals(rules)?;
        let due = totals
            .total
            .checked_add(self.rounding)?
            .checked_sub(self.paid()?)?;
        if !due.is_zero() {
            return Err(SaleError::NotPaid(due));
        }
        let mut lines = Vec::with_capacity(self.lines.len());
        for l in &self.lines {
            let t = totals.lines.iter().find(|t| t.line_no == l.line_no);
            let zero = Money::zero(self.currency);
            lines.push(RecordLine {
                line_no: l.line_no,
                sku: l.sku.clone(),
                name: l.name.clone(),
                tax_class: l.tax_class.clone(),
                unit: l.unit,
                qty: l.qty,
                unit_price: l.unit_price,
                list_price: l.list_price,
                override_by: l.override_by,
                voided: l.voided,
                before_discount: t.map_or(zero, |t| t.before_discount),
                discount: t.map_or(zero, |t| t.discount),
                tax: t.map_or(zero, |t| t.tax),
                gross: t.map_or(zero, |t| t.gross),
                refund_of: None,
            });
        }
        Ok(SaleRecord {
            receipt_no: stamp.receipt_no,
            kind: SaleKind::Sale,
            cashier: self.cashier,
            currency: self.currency,
            completed_at_ms: stamp.at_ms,
            local_hour: stamp.local_hour,
            lines,
            tenders: self.tenders.clone(),
            tax: totals.tax,
            subtotal: totals.subtotal,
            discount: totals.line_discounts.checked_add(totals.sale_discount)?,
            total: totals.total,
            rounding: self.rounding,
            original_receipt: None,
            approved_by: None,
        })
    }
}

/// Identity and time of a completion, supplied by the caller (core has no clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub receipt_no: String,
    pub at_ms: i64,
    /// Hour of day in the shop's time zone, for the sales-by-hour chart.
    pub local_hour: u8,
}

/// A line of a completed sale or refund, with its amounts fixed forever.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordLine {
    pub line_no: u32,
    pub sku: String,
    pub name: String,
    pub tax_class: String,
    pub unit: Unit,
    /// Negative on a refund.
    pub qty: Qty,
    pub unit_price: Money,
    pub list_price: Money,
    pub override_by: Option<u32>,
    pub voided: bool,
    pub before_discount: Money,
    pub discount: Money,
    pub tax: Money,
    /// Tax-inclusive amount of the line; lines' gross adds up to the total.
    pub gross: Money,
    /// On a refund: the original line this returns.
    pub refund_of: Option<u32>,
}

/// A completed sale or refund: what the journal, the receipt and the reports read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleRecord {
    pub receipt_no: String,
    pub kind: SaleKind,
    pub cashier: u32,
    pub currency: Currency,
    pub completed_at_ms: i64,
    pub local_hour: u8,
    pub lines: Vec<RecordLine>,
    pub tenders: Vec<Tender>,
    pub tax: Vec<TaxLine>,
    pub subtotal: Money,
    pub discount: Money,
    /// Tax-inclusive total before cash rounding (negative on a refund).
    pub total: Money,
    pub rounding: Money,
    pub original_receipt: Option<String>,
    /// Supervisor who approved (refunds).
    pub approved_by: Option<u32>,
}

impl SaleRecord {
    /// What the tenders settled: total plus cash rounding (an error only
    /// for a record whose figures were edited beyond any real sale).
    pub fn settled(&self) -> Result<Money, MoneyError> {
        self.total.checked_add(self.rounding)
    }

    pub fn change(&self) -> Result<Money, MoneyError> {
        self.tenders
            .iter()
            .try_fold(Money::zero(self.currency), |a, t| a.checked_add(t.change))
    }
}

#[cfg(test)]
mod tests {
    use super::super::cashier::{approval_for_test, Cashier, Role, Target};
    use super::super::tax::{TaxMode, TaxRate, TaxRoundingLevel};
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn rules(
        mode: TaxMode,
        level: TaxRoundingLevel,
        cash_increment: i64,
    ) -> PricingRules {
        PricingRules {
            currency: Currency::EUR,
            tax: TaxRules {
                mode,
                level,
                rounding: Rounding::HalfUp,
                rates: vec![
                    TaxRate {
                        class: "A".into(),
                        name: "Standard".into(),
                        rate: Decimal::new(20, 2),
                    },
                    TaxRate {
                        class: "B".into(),
                        name: "Reduced".into(),
                        rate: Decimal::new(55, 3),
                    },
                    TaxRate {
                        class: "C".into(),
                        name: "Zero".into(),
                        rate: Decimal::ZERO,
                    },
                ],
            },
            line_rounding: Rounding::HalfUp,
            cash_increment,
            cash_rounding: Rounding::HalfUp,
        }
    }

    fn product(sku: &str, price: i64, class: &str, unit: Unit) -> Product {
        Product {
            sku: sku.into(),
            name: format!("P{sku}"),
            barcodes: vec![],
            price: Money::new(price, Currency::EUR),
            tax_class: class.into(),
            category: "x".into(),
            unit,
        }
    }

    fn stamp() -> Stamp {
        Stamp {
            receipt_no: "T1-000001".into(),
            at_ms: 0,
            local_hour: 10,
        }
    }

    /// The default `[policy] discount_limit_percent`.
    const LIMIT: Decimal = Decimal::TEN;

    fn sue() -> Cashier {
        Cashier {
            number: 9,
            name: "Sue".into(),
            role: Role::Supervisor,
        }
    }

    #[test]
    fn a_discount_over_the_limit_needs_a_supervisor_for_exactly_it() {
        let mut s = Sale::new(Currency::EUR, 1);
        let l = s
            .add(&product("1", 1000, "A", Unit::Piece), Qty::ONE)
            .unwrap();
        // Within the limit, by percent or by amount: the cashier alone.
        s.set_line_discount(l, Some(Discount::Percent(LIMIT)), LIMIT, None)
            .unwrap();
        s.set_line_discount(l, Some(Discount::Amount(100)), LIMIT, None)
            .unwrap();
        assert_eq!(s.lines[0].discount_by, None);
        // Over it: the engine names the approval it needs.
        let big = Discount::Amount(101);
        let err = s
            .set_line_discount(l, Some(big.clone()), LIMIT, None)
            .unwrap_err();
        let SaleError::NeedsApproval(Action::Discount, target) = err else {
            panic!("{err:?}")
        };
        assert_eq!(
            s.lines[0].discount,
            Some(Discount::Amount(100)),
            "unchanged"
        );
        // An approval of a smaller discount does not cover it.
        let small = approval_for_test(
            &sue(),
            Action::Discount,
            Target::Discount {
                line_no: Some(l),
                off: "50%".into(),
            },
        )
        .unwrap();
        assert!(matches!(
            s.set_line_discount(
                l,
                Some(Discount::Percent(Decimal::from(60))),
                LIMIT,
                Some(&small)
            ),
            Err(SaleError::Permission(_))
        ));
        let ok = approval_for_test(&sue(), Action::Discount, target).unwrap();
        s.set_line_discount(l, Some(big), LIMIT, Some(&ok)).unwrap();
        assert_eq!(s.lines[0].discount_by, Some(9));
        // The sale discount is measured against what the lines leave.
        let err = s
            .set_sale_discount(Some(Discount::Percent(Decimal::from(11))), LIMIT, None)
            .unwrap_err();
        assert!(matches!(
            err,
            SaleError::NeedsApproval(Action::Discount, Target::Discount { line_no: None, .. })
        ));
        s.set_sale_discount(Some(Discount::Amount(89)), LIMIT, None)
            .unwrap();
        assert!(s
            .set_sale_discount(Some(Discount::Amount(90)), LIMIT, None)
            .is_err());
        assert_eq!(s.unapproved_discount(LIMIT), None);
        // A discount written straight into the fields is found.
        s.lines[0].discount_by = None;
        assert!(matches!(
            s.unapproved_discount(LIMIT),
            Some(Target::Discount {
                line_no: Some(_),
                ..
            })
        ));
    }

    #[test]
    fn a_void_once_paying_began_needs_a_supervisor_and_must_leave_enough_to_pay() {
        let r = rules(TaxMode::Inclusive, TaxRoundingLevel::PerLine, 1);
        let mut s = Sale::new(Currency::EUR, 1);
        let tea = s
            .add(&product("1", 300, "A", Unit::Piece), Qty::ONE)
            .unwrap();
        let cake = s
            .add(&product("2", 700, "A", Unit::Piece), Qty::ONE)
            .unwrap();
        s.pay_cash(Money::new(500, Currency::EUR), &r).unwrap();
        let err = s.void_line(tea, &r, None).unwrap_err();
        let SaleError::NeedsApproval(Action::LineVoid, target) = err else {
            panic!("{err:?}")
        };
        assert_eq!(
            target,
            Target::Line {
                line_no: tea,
                minor: 300
            }
        );
        let for_tea = approval_for_test(&sue(), Action::LineVoid, target).unwrap();
        assert!(
            matches!(
                s.void_line(cake, &r, Some(&for_tea)),
                Err(SaleError::Permission(_))
            ),
            "an approval for the tea does not void the cake"
        );
        s.void_line(tea, &r, Some(&for_tea)).unwrap();
        assert_eq!(s.lines[0].voided_by, Some(9));
        assert_eq!(s.balance(&r).unwrap().minor, 200);
        // Voiding the cake would leave less to pay than was paid.
        let for_cake = approval_for_test(
            &sue(),
            Action::LineVoid,
            Target::Line {
                line_no: cake,
                minor: 700,
            },
        )
        .unwrap();
        assert!(matches!(
            s.void_line(cake, &r, Some(&for_cake)),
            Err(SaleError::PaidBeyond(_))
        ));
        assert!(!s.lines[1].voided);
    }

    #[test]
    fn worked_sale_with_discounts_and_change() {
        let r = rules(TaxMode::Inclusive, TaxRoundingLevel::PerReceipt, 1);
        let mut s = Sale::new(Currency::EUR, 1);
        s.add(&product("1", 250, "A", Unit::Piece), Qty::pieces(2))
            .unwrap(); // 5.00
        let l2 = s
            .add(&product("2", 1299, "B", Unit::Kg), Qty(1500))
            .unwrap(); // 19.485 → 19.49
        s.set_line_discount(l2, Some(Discount::Percent(Decimal::from(10))), LIMIT, None)
            .unwrap(); // 1.95 → 17.54
        s.set_sale_discount(Some(Discount::Amount(54)), LIMIT, None)
            .unwrap(); // 22.54 - 0.54 = 22.00
        let t = s.totals(&r).unwrap();
        assert_eq!(t.subtotal.minor, 500 + 1949);
        assert_eq!(t.line_discounts.minor, 195);
        assert_eq!(t.total.minor, 2200);
        assert_eq!(t.lines.iter().map(|l| l.gross.minor).sum::<i64>(), 2200);
        let change = s.pay_cash(Money::new(5000, Currency::EUR), &r).unwrap();
        assert_eq!(change.minor, 2800);
        let rec = s.complete(&r, stamp()).unwrap();
        assert_eq!(rec.settled().unwrap().minor, 2200);
        assert_eq!(rec.change().unwrap().minor, 2800);
    }

    #[test]
    fn split_tender_and_cash_rounding() {
        let r = rules(TaxMode::Inclusive, TaxRoundingLevel::PerLine, 5);
        let mut s = Sale::new(Currency::EUR, 1);
        s.add(&product("1", 1233, "A", Unit::Piece), Qty::ONE)
            .unwrap();
        s.pay_electronic(
            TenderKind::Card,
            Money::new(1000, Currency::EUR),
            CardRef::default(),
            &r,
        )
        .unwrap();
        // 2.33 left; cash due rounds to 2.35.
        assert_eq!(s.cash_due(&r).unwrap().minor, 235);
        assert!(s.complete(&r, stamp()).is_err());
        let change = s.pay_cash(Money::new(300, Currency::EUR), &r).unwrap();
        assert_eq!(change.minor, 65);
        let rec = s.complete(&r, stamp()).unwrap();
        assert_eq!(rec.rounding.minor, 2);
        assert_eq!(rec.tenders.len(), 2);
        assert!(matches!(
            s.add(&product("9", 1, "A", Unit::Piece), Qty::ONE),
            Err(SaleError::Locked)
        ));
    }

    #[test]
    fn electronic_tender_cannot_exceed_balance() {
        let r = rules(TaxMode::Exclusive, TaxRoundingLevel::PerLine, 1);
        let mut s = Sale::new(Currency::EUR, 1);
        s.add(&product("1", 1000, "A", Unit::Piece), Qty::ONE)
            .unwrap();
        assert_eq!(s.balance(&r).unwrap().minor, 1200);
        assert!(matches!(
            s.pay_electronic(
                TenderKind::Qr,
                Money::new(1201, Currency::EUR),
                CardRef::default(),
                &r
            ),
            Err(SaleError::OverBalance(..))
        ));
    }

    #[test]
    fn price_override_needs_the_right_approval() {
        let r = rules(TaxMode::Inclusive, TaxRoundingLevel::PerLine, 1);
        let sup = Cashier {
            number: 9,
            name: "Sue".into(),
            role: Role::Supervisor,
        };
        let mut s = Sale::new(Currency::EUR, 1);
        let l = s
            .add(&product("1", 1000, "A", Unit::Piece), Qty::ONE)
            .unwrap();
        let wrong = approval_for_test(&sup, Action::Refund, Target::Till).unwrap();
        assert!(matches!(
            s.override_price(l, Money::new(500, Currency::EUR), &wrong),
            Err(SaleError::Permission(_))
        ));
        let other_price = approval_for_test(
            &sup,
            Action::PriceOverride,
            Target::Line {
                line_no: l,
                minor: 50,
            },
        )
        .unwrap();
        assert!(matches!(
            s.override_price(l, Money::new(500, Currency::EUR), &other_price),
            Err(SaleError::Permission(_))
        ));
        let ok = approval_for_test(
            &sup,
            Action::PriceOverride,
            Target::Line {
                line_no: l,
                minor: 500,
            },
        )
        .unwrap();
        s.override_price(l, Money::new(500, Currency::EUR), &ok)
            .unwrap();
        assert_eq!(s.totals(&r).unwrap().total.minor, 500);
        assert_eq!(s.lines[0].override_by, Some(9));
    }

    #[test]
    fn weighed_and_piece_quantities_are_checked() {
        let mut s = Sale::new(Currency::EUR, 1);
        assert!(matches!(
            s.add(&product("1", 100, "A", Unit::Piece), Qty(1500)),
            Err(SaleError::NeedsWholeQuantity(_))
        ));
        assert!(matches!(
            s.add(&product("1", 100, "A", Unit::Kg), Qty(0)),
            Err(SaleError::BadQuantity)
        ));
        // Scanning the same piece product twice raises the quantity.
        let p = product("1", 100, "A", Unit::Piece);
        let a = s.add(&p, Qty::ONE).unwrap();
        let b = s.add(&p, Qty::ONE).unwrap();
        assert_eq!(a, b);
        assert_eq!(s.lines[0].qty, Qty::pieces(2));
        s.void_line(
            a,
            &rules(TaxMode::Inclusive, TaxRoundingLevel::PerLine, 1),
            None,
        )
        .unwrap();
        assert!(matches!(
            s.set_qty(a, Qty::ONE),
            Err(SaleError::LineVoided(_))
        ));
    }

    fn arb_discount() -> impl Strategy<Value = Option<Discount>> {
        prop_oneof![
            Just(None),
            (0u32..=100).prop_map(|p| Some(Discount::Percent(Decimal::from(p)))),
            (0i64..5000).prop_map(|a| Some(Discount::Amount(a))),
        ]
    }

    proptest! {
        #[test]
        fn lines_always_sum_to_totals(
            items in prop::collection::vec((1i64..100_000, 1i64..5000, 0usize..3, any::<bool>(), arb_discount()), 1..15),
            sale_disc in arb_discount(),
            exclusive in any::<bool>(),
            per_line in any::<bool>(),
        ) {
            let mode = if exclusive { TaxMode::Exclusive } else { TaxMode::Inclusive };
            let level = if per_line { TaxRoundingLevel::PerLine } else { TaxRoundingLevel::PerReceipt };
            let r = rules(mode, level, 1);
            let mut s = Sale::new(Currency::EUR, 1);
            for (i, (price, qty, class, kg, disc)) in items.iter().enumerate() {
                let unit = if *kg { Unit::Kg } else { Unit::Piece };
                let q = if *kg { Qty(*qty) } else { Qty::pieces(qty % 20 + 1) };
                let p = product(&i.to_string(), *price, ["A", "B", "C"][*class], unit);
                let l = s.add(&p, q).unwrap();
                s.set_line_discount(l, disc.clone(), Decimal::ONE_HUNDRED, None).unwrap();
            }
            s.set_sale_discount(sale_disc, Decimal::ONE_HUNDRED, None).unwrap();
            let t = s.totals(&r).unwrap();
            let gross: i64 = t.lines.iter().map(|l| l.gross.minor).sum();
            prop_assert_eq!(gross, t.total.minor);
            let tax_lines: i64 = t.lines.iter().map(|l| l.tax.minor).sum();
            let tax_rates: i64 = t.tax.iter().map(|l| l.tax.minor).sum();
            prop_assert_eq!(tax_lines, tax_rates);
            let amounts: i64 = t.lines.iter().map(|l| l.amount.minor).sum();
            prop_assert_eq!(amounts, t.subtotal.minor - t.line_discounts.minor - t.sale_discount.minor);
            for l in &t.lines {
                prop_assert!(l.amount.minor >= 0, "negative line {:?}", l);
            }
            for tl in &t.tax {
                prop_assert_eq!(tl.net.minor + tl.tax.minor, tl.gross.minor);
            }
        }
    }
}

//! X and Z report totals: what a shift took, per tender and per tax rate,
//! and how much cash should be in the drawer.
//!
//! Totals are accumulated event by event with [`ReportTotals::apply`], the
//! one place that decides how a sale, refund, void or cash movement counts.
//! The store keeps the running totals of the open period beside the sales
//! (so a Z report reads a handful of rows, not a day of sales) and
//! `tillpoint check` replays the period's events through the same function
//! to prove the two agree.

use super::money::{Currency, Money, MoneyError, Rounding};
use super::sale::{SaleKind, SaleRecord};
use super::tender::{Tender, TenderKind};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Count and amount of one kind of event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountAmount {
    pub count: i64,
    /// Minor units, signed (refunds negative).
    pub amount: i64,
}

impl CountAmount {
    fn add(&mut self, amount: i64) -> Result<(), MoneyError> {
        acc(&mut self.count, 1)?;
        acc(&mut self.amount, amount)
    }

    fn remove(&mut self, amount: i64) -> Result<(), MoneyError> {
        acc(&mut self.count, -1)?;
        acc(
            &mut self.amount,
            amount.checked_neg().ok_or(MoneyError::Overflow)?,
        )
    }

    /// Adds (`sign` 1) or takes away (`sign` −1) one event of `amount`.
    fn book(&mut self, amount: i64, sign: i64) -> Result<(), MoneyError> {
        if sign > 0 {
            self.add(amount)
        } else {
            self.remove(amount)
        }
    }
}

/// `*total += sign × amount`, refusing overflow: report totals are sums of
/// amounts read back from the database, which an edited file could make
/// absurd, and an absurd figure must be an error, not a panic or a wrap.
fn acc(total: &mut i64, amount: i64) -> Result<(), MoneyError> {
    *total = total.checked_add(amount).ok_or(MoneyError::Overflow)?;
    Ok(())
}

fn signed(sign: i64, amount: i64) -> Result<i64, MoneyError> {
    sign.checked_mul(amount).ok_or(MoneyError::Overflow)
}

/// One tender kind's takings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenderTotals {
    pub sales: CountAmount,
    pub refunds: CountAmount,
}

/// One tax rate's share.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxTotals {
    pub name: String,
    pub rate: String,
    pub net: i64,
    pub tax: i64,
    pub gross: i64,
}

/// An event that moves the period's totals.
#[derive(Debug, Clone, Copy)]
pub enum ReportEvent<'a> {
    Completed(&'a SaleRecord),
    PostVoided(&'a SaleRecord),
    CashIn(Money),
    CashOut(Money),
    NoSale,
}

/// The totals of one reporting period (from one Z report to the next).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportTotals {
    pub currency: Currency,
    pub sales: CountAmount,
    pub refunds: CountAmount,
    pub post_voids: CountAmount,
    pub line_voids: i64,
    pub discounts: i64,
    pub rounding: i64,
    pub cash_in: CountAmount,
    pub cash_out: CountAmount,
    pub no_sales: i64,
    pub tenders: BTreeMap<TenderKind, TenderTotals>,
    pub tax: BTreeMap<String, TaxTotals>,
    /// Net takings per hour of day, for the chart.
    pub by_hour: Vec<i64>,
    /// Electronic takings per card scheme or wallet ([`scheme_key`]), the
    /// base of the merchant fees on the Z report. Absent in totals written
    /// before it existed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_scheme: BTreeMap<String, TenderTotals>,
    /// Cash in the drawer when the period opened.
    pub opening_float: i64,
}

impl ReportTotals {
    pub fn new(currency: Currency, opening_float: i64) -> ReportTotals {
        ReportTotals {
            currency,
            sales: CountAmount::default(),
            refunds: CountAmount::default(),
            post_voids: CountAmount::default(),
            line_voids: 0,
            discounts: 0,
            rounding: 0,
            cash_in: CountAmount::default(),
            cash_out: CountAmount::default(),
            no_sales: 0,
            tenders: BTreeMap::new(),
            tax: BTreeMap::new(),
            by_hour: vec![0; 24],
            by_scheme: BTreeMap::new(),
            opening_float,
        }
    }

    /// Folds one event into the totals. A post-void undoes exactly what the
    /// completion added, so voided sales vanish from tender and tax totals.
    /// An amount that would overflow is an error; the totals are then left
    /// part-way and must be discarded.
    pub fn apply(&mut self, event: ReportEvent<'_>) -> Result<(), MoneyError> {
        match event {
            ReportEvent::Completed(r) => self.sale(r, 1),
            ReportEvent::PostVoided(r) => {
                self.sale(r, -1)?;
                self.post_voids.add(r.settled()?.minor)
            }
            ReportEvent::CashIn(m) => self.cash_in.add(m.minor),
            ReportEvent::CashOut(m) => self.cash_out.add(m.minor),
            ReportEvent::NoSale => acc(&mut self.no_sales, 1),
        }
    }

    fn sale(&mut self, r: &SaleRecord, sign: i64) -> Result<(), MoneyError> {
        let settled = r.settled()?.minor;
        let counter = match r.kind {
            SaleKind::Sale => &mut self.sales,
            SaleKind::Refund => &mut self.refunds,
        };
        counter.book(settled, sign)?;
        acc(&mut self.discounts, signed(sign, r.discount.minor)?)?;
        acc(&mut self.rounding, signed(sign, r.rounding.minor)?)?;
        let voids = r.lines.iter().filter(|l| l.voided).count() as i64;
        acc(&mut self.line_voids, signed(sign, voids)?)?;
        if let Some(h) = self.by_hour.get_mut(usize::from(r.local_hour)) {
            acc(h, signed(sign, settled)?)?;
        }
        for t in &r.tenders {
            let mut entries = vec![self.tenders.entry(t.kind).or_default()];
            if t.kind.is_electronic() {
                entries.push(self.by_scheme.entry(scheme_key(t)).or_default());
            }
            for tt in entries {
                let c = match r.kind {
                    SaleKind::Sale => &mut tt.sales,
                    SaleKind::Refund => &mut tt.refunds,
                };
                c.book(t.amount.minor, sign)?;
            }
        }
        for t in &r.tax {
            let e = self
                .tax
                .entry(t.class.clone())
                .or_insert_with(|| TaxTotals {
                    name: t.name.clone(),
                    rate: t.rate.normalize().to_string(),
                    ..TaxTotals::default()
                });
            acc(&mut e.net, signed(sign, t.net.minor)?)?;
            acc(&mut e.tax, signed(sign, t.tax.minor)?)?;
            acc(&mut e.gross, signed(sign, t.gross.minor)?)?;
        }
        Ok(())
    }

    /// Net takings: sales minus refunds (post-voids already removed).
    pub fn net(&self) -> i64 {
        self.sales.amount + self.refunds.amount
    }

    /// What should be in the cash drawer: the float, cash taken net of change
    /// and of cash refunds, plus cash put in, minus cash taken out.
    pub fn cash_expected(&self) -> i64 {
        let cash = self
            .tenders
            .get(&TenderKind::Cash)
            .cloned()
            .unwrap_or_default();
        self.opening_float + cash.sales.amount + cash.refunds.amount + self.cash_in.amount
            - self.cash_out.amount
    }

    /// True when nothing happened in the period (a Z would close nothing).
    pub fn is_empty(&self) -> bool {
        self.sales.count == 0
            && self.refunds.count == 0
            && self.post_voids.count == 0
            && self.cash_in.count == 0
            && self.cash_out.count == 0
            && self.no_sales == 0
    }
}

/// The [`ReportTotals::by_scheme`] key of an electronic tender: its card's
/// scheme in lower case ("visa", "unionpay", "alipay"), or the tender kind
/// ("card", "qr") when the payment named none.
pub fn scheme_key(t: &Tender) -> String {
    t.card
        .as_ref()
        .map(|c| c.scheme.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| t.kind.as_str().to_owned())
}

/// Merchant fee rates (the acquirer's "merchant discount rate") per scheme
/// key, and the rate for schemes not listed. Decimals: 0.006 is 0.6 %.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FeeRates {
    pub by_scheme: BTreeMap<String, Decimal>,
    pub default: Decimal,
}

impl FeeRates {
    /// The rate for a scheme key (case-insensitive).
    pub fn rate_for(&self, scheme: &str) -> Decimal {
        self.by_scheme
            .get(&scheme.trim().to_lowercase())
            .copied()
            .unwrap_or(self.default)
    }
}

/// How a scheme's fee is rounded to minor units: once per scheme and
/// period, half up. The acquirer's statement may round per transaction and
/// differ by a few minor units; the Z report calls the figure an estimate.
pub const FEE_ROUNDING: Rounding = Rounding::HalfUp;

/// One scheme's line of the fee estimate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemeFee {
    pub scheme: String,
    pub sales: CountAmount,
    /// Refunds, negative amounts.
    pub refunds: CountAmount,
    /// The rate applied.
    pub rate: Decimal,
    /// The fee on the sales (refunds do not give the fee back), in minor units.
    pub fee: i64,
    /// What reaches the shop's account: sales + refunds − fee.
    pub net: i64,
}

/// "How much of this will actually reach my account?": electronic takings
/// per scheme, the merchant fee at the configured rate, and the net.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeSummary {
    pub currency: Currency,
    pub schemes: Vec<SchemeFee>,
    /// Electronic takings: sales + refunds of every scheme.
    pub gross: i64,
    pub fees: i64,
    pub net: i64,
}

/// The fee estimate of a period's electronic takings. Fails only when an
/// amount times its rate does not fit (a corrupt total).
pub fn merchant_fees(totals: &ReportTotals, rates: &FeeRates) -> Result<FeeSummary, MoneyError> {
    let mut schemes = Vec::with_capacity(totals.by_scheme.len());
    for (scheme, tt) in &totals.by_scheme {
        if tt.sales.count == 0 && tt.refunds.count == 0 {
            continue;
        }
        let rate = rates.rate_for(scheme);
        let fee = Money::new(tt.sales.amount, totals.currency)
            .mul_decimal(rate, FEE_ROUNDING)?
            .minor;
        schemes.push(SchemeFee {
            scheme: scheme.clone(),
            sales: tt.sales,
            refunds: tt.refunds,
            rate,
            fee,
            net: tt.sales.amount + tt.refunds.amount - fee,
        });
    }
    let gross = schemes
        .iter()
        .map(|f| f.sales.amount + f.refunds.amount)
        .sum();
    let fees = schemes.iter().map(|f| f.fee).sum();
    Ok(FeeSummary {
        currency: totals.currency,
        gross,
        fees,
        net: gross - fees,
        schemes,
    })
}

/// A finished report: an X (peek) or a numbered Z (closes the period).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// None for an X report.
    pub z_number: Option<i64>,
    pub opened_at_ms: i64,
    pub closed_at_ms: i64,
    pub totals: ReportTotals,
    /// A Z report's anchor: the first 16 hex digits of the journal's last
    /// hash before the Z, printed so that `tillpoint check --anchor` can
    /// later prove the journal still holds it with the Z after it (an older
    /// backup restored, or a cut tail, does not). `None` for an X report and
    /// for a Z taken before anchors existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_head: Option<String>,
    /// The supervisor or manager who approved a Z report, as journaled with
    /// it. `None` for an X report and for a Z taken before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Product, Qty, Unit};
    use crate::money::Rounding;
    use crate::sale::{PricingRules, Sale, Stamp};
    use crate::tax::{TaxMode, TaxRate, TaxRoundingLevel, TaxRules};
    use rust_decimal::Decimal;

    #[test]
    fn cash_expected_and_void_undo() {
        let rules = PricingRules {
            currency: Currency::CNY,
            tax: TaxRules {
                mode: TaxMode::Inclusive,
                level: TaxRoundingLevel::PerReceipt,
                rounding: Rounding::HalfUp,
                rates: vec![TaxRate {
                    class: "A".into(),
                    name: "13%".into(),
                    rate: Decimal::new(13, 2),
                }],
            },
            line_rounding: Rounding::HalfUp,
            cash_increment: 1,
            cash_rounding: Rounding::HalfUp,
        };
        let p = Product {
            sku: "1".into(),
            name: "Tea".into(),
            barcodes: vec![],
            price: Money::new(1130, Currency::CNY),
            tax_class: "A".into(),
            category: "c".into(),
            unit: Unit::Piece,
        };
        let mut s = Sale::new(Currency::CNY, 1);
        s.add(&p, Qty::ONE).unwrap();
        s.pay_cash(Money::new(2000, Currency::CNY), &rules).unwrap();
        let rec = s
            .complete(
                &rules,
                Stamp {
                    receipt_no: "1".into(),
                    at_ms: 0,
                    local_hour: 9,
                },
            )
            .unwrap();
        let mut t = ReportTotals::new(Currency::CNY, 10_000);
        t.apply(ReportEvent::Completed(&rec)).unwrap();
        t.apply(ReportEvent::CashIn(Money::new(500, Currency::CNY)))
            .unwrap();
        t.apply(ReportEvent::CashOut(Money::new(200, Currency::CNY)))
            .unwrap();
        assert_eq!(t.cash_expected(), 10_000 + 1130 + 500 - 200);
        assert_eq!(t.tax["A"].tax, 130);
        assert_eq!(t.by_hour[9], 1130);
        let before_void = t.clone();
        t.apply(ReportEvent::PostVoided(&rec)).unwrap();
        assert_eq!(t.cash_expected(), 10_000 + 500 - 200);
        assert_eq!(t.sales.count, 0);
        assert_eq!(t.post_voids.count, 1);
        assert_ne!(before_void, t);
    }

    #[test]
    fn merchant_fees_per_scheme() {
        use crate::tender::{CardRef, Tender};
        let cur = Currency::CNY;
        let mut t = ReportTotals::new(cur, 0);
        let card = |scheme: &str| CardRef {
            scheme: scheme.into(),
            ..CardRef::default()
        };
        let mk = |kind, amount: i64, scheme: &str, sale_kind| SaleRecord {
            receipt_no: "T-1".into(),
            kind: sale_kind,
            cashier: 1,
            currency: cur,
            completed_at_ms: 0,
            local_hour: 9,
            lines: vec![],
            tenders: vec![Tender::electronic(
                kind,
                Money::new(amount, cur),
                card(scheme),
            )],
            tax: vec![],
            subtotal: Money::new(amount, cur),
            discount: Money::zero(cur),
            total: Money::new(amount, cur),
            rounding: Money::zero(cur),
            original_receipt: None,
            approved_by: None,
        };
        for (kind, amount, scheme, sk) in [
            (TenderKind::Card, 10_000, "Visa", SaleKind::Sale),
            (TenderKind::Card, 5_050, "VISA", SaleKind::Sale),
            (TenderKind::Card, -2_000, "visa", SaleKind::Refund),
            (TenderKind::Card, 33_333, "UnionPay", SaleKind::Sale),
            (TenderKind::Qr, 1_000, "", SaleKind::Sale),
        ] {
            t.apply(ReportEvent::Completed(&mk(kind, amount, scheme, sk)))
                .unwrap();
        }
        let rates = FeeRates {
            by_scheme: [
                ("visa".to_string(), Decimal::new(15, 3)),
                ("unionpay".to_string(), Decimal::new(6, 3)),
            ]
            .into_iter()
            .collect(),
            default: Decimal::new(38, 4),
        };
        let f = merchant_fees(&t, &rates).unwrap();
        let by = |s: &str| f.schemes.iter().find(|x| x.scheme == s).unwrap().clone();
        // 150.50 × 1.5 % = 2.2575 → 2.26; refunds keep their fee.
        assert_eq!(by("visa").fee, 226);
        assert_eq!(by("visa").net, 15_050 - 2_000 - 226);
        // 333.33 × 0.6 % = 1.99998 → 2.00.
        assert_eq!(by("unionpay").fee, 200);
        // No scheme named: keyed by tender kind, default rate 0.38 %.
        assert_eq!(by("qr").fee, 4);
        assert_eq!(f.gross, 15_050 - 2_000 + 33_333 + 1_000);
        assert_eq!(f.fees, 226 + 200 + 4);
        assert_eq!(f.net, f.gross - f.fees);
    }
}

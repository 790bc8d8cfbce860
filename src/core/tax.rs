//! Tax rates, pricing modes and the per-rate breakdown of a sale.

use super::money::{allocate, Currency, Money, MoneyError, Rounding};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Whether shelf prices include tax (CN/EU) or tax is added at the till (US).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TaxMode {
    #[default]
    Inclusive,
    Exclusive,
}

/// Where tax is rounded: on each line then summed, or once per rate on the
/// receipt. Jurisdictions differ; the receipt must say the same as the books.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TaxRoundingLevel {
    PerLine,
    #[default]
    PerReceipt,
}

/// One tax rate, referred to by products through its class code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxRate {
    /// Short code printed beside each receipt line, e.g. "A".
    pub class: String,
    pub name: String,
    /// As a fraction: 0.13 for 13 %.
    pub rate: Decimal,
}

/// Everything that decides how a sale's tax and cash totals are computed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxRules {
    pub mode: TaxMode,
    pub level: TaxRoundingLevel,
    pub rounding: Rounding,
    pub rates: Vec<TaxRate>,
}

impl TaxRules {
    pub fn rate(&self, class: &str) -> Result<&TaxRate, TaxError> {
        self.rates
            .iter()
            .find(|r| r.class == class)
            .ok_or_else(|| TaxError::UnknownClass(class.to_string()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaxError {
    #[error("no tax rate is configured for tax class {0:?}")]
    UnknownClass(String),
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// One rate's share of a sale, as printed in the receipt's tax block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxLine {
    pub class: String,
    pub name: String,
    pub rate: Decimal,
    pub net: Money,
    pub tax: Money,
    pub gross: Money,
}

/// The tax contained in (inclusive) or due on (exclusive) `amount`.
fn tax_on(amount: Money, rate: Decimal, rules: &TaxRules) -> Result<Money, MoneyError> {
    let factor = match rules.mode {
        TaxMode::Exclusive => rate,
        TaxMode::Inclusive => rate / (Decimal::ONE + rate),
    };
    amount.mul_decimal(factor, rules.rounding)
}

/// Computes the per-rate breakdown of `lines` (tax class, amount after all
/// discounts, in the shop's pricing mode) and each line's share of tax.
///
/// Returns the breakdown (ordered by class) and, per input line, its tax. With
/// per-receipt rounding the rate's tax is spread over its lines by amount, so
/// line taxes always add up to the rate's tax and a partial refund can give back
/// exactly the tax that was charged.
pub fn breakdown(
    lines: &[(&str, Money)],
    rules: &TaxRules,
    currency: Currency,
) -> Result<(Vec<TaxLine>, Vec<Money>), TaxError> {
    let mut by_class: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (class, _)) in lines.iter().enumerate() {
        rules.rate(class)?;
        by_class.entry(class).or_default().push(i);
    }
    let mut line_tax = vec![Money::zero(currency); lines.len()];
    let mut out = Vec::new();
    for (class, idxs) in by_class {
        let rate = rules.rate(class)?;
        let amount: i64 = idxs.iter().map(|i| lines[*i].1.minor).sum();
        let amount = Money::new(amount, currency);
        let tax = match rules.level {
            TaxRoundingLevel::PerLine => {
                let mut t = Money::zero(currency);
                for i in &idxs {
                    let lt = tax_on(lines[*i].1, rate.rate, rules)?;
                    line_tax[*i] = lt;
                    t = t.checked_add(lt)?;
                }
                t
            }
            TaxRoundingLevel::PerReceipt => {
                let t = tax_on(amount, rate.rate, rules)?;
                let weights: Vec<i64> = idxs.iter().map(|i| lines[*i].1.minor.abs()).collect();
                for (i, share) in idxs.iter().zip(allocate(t.minor, &weights)) {
                    line_tax[*i] = Money::new(share, currency);
                }
                t
            }
        };
        let (net, gross) = match rules.mode {
            TaxMode::Inclusive => (amount.checked_sub(tax)?, amount),
            TaxMode::Exclusive => (amount, amount.checked_add(tax)?),
        };
        out.push(TaxLine {
            class: class.to_string(),
            name: rate.name.clone(),
            rate: rate.rate,
            net,
            tax,
            gross,
        });
    }
    Ok((out, line_tax))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(mode: TaxMode, level: TaxRoundingLevel) -> TaxRules {
        TaxRules {
            mode,
            level,
            rounding: Rounding::HalfUp,
            rates: vec![
                TaxRate {
                    class: "A".into(),
                    name: "VAT 13%".into(),
                    rate: Decimal::new(13, 2),
                },
                TaxRate {
                    class: "B".into(),
                    name: "VAT 9%".into(),
                    rate: Decimal::new(9, 2),
                },
                TaxRate {
                    class: "Z".into(),
                    name: "Exempt".into(),
                    rate: Decimal::ZERO,
                },
            ],
        }
    }

    fn m(v: i64) -> Money {
        Money::new(v, Currency::CNY)
    }

    #[test]
    fn inclusive_worked_example() {
        // 11.30 incl. 13 % contains 1.30 tax; 10.90 incl. 9 % contains 0.90.
        let r = rules(TaxMode::Inclusive, TaxRoundingLevel::PerReceipt);
        let (b, _) = breakdown(&[("A", m(1130)), ("B", m(1090))], &r, Currency::CNY).unwrap();
        assert_eq!(
            (b[0].net.minor, b[0].tax.minor, b[0].gross.minor),
            (1000, 130, 1130)
        );
        assert_eq!(
            (b[1].net.minor, b[1].tax.minor, b[1].gross.minor),
            (1000, 90, 1090)
        );
    }

    #[test]
    fn per_line_and_per_receipt_rounding_differ_as_expected() {
        // Three lines of 0.10 excl. 13 %: per line 0.013 → 0.01 each = 0.03;
        // per receipt 0.39 → 0.04 (0.039 rounds up).
        let lines = [("A", m(10)), ("A", m(10)), ("A", m(10))];
        let pl = rules(TaxMode::Exclusive, TaxRoundingLevel::PerLine);
        let pr = rules(TaxMode::Exclusive, TaxRoundingLevel::PerReceipt);
        let (b1, t1) = breakdown(&lines, &pl, Currency::CNY).unwrap();
        let (b2, t2) = breakdown(&lines, &pr, Currency::CNY).unwrap();
        assert_eq!(b1[0].tax.minor, 3);
        assert_eq!(b2[0].tax.minor, 4);
        assert_eq!(t1.iter().map(|t| t.minor).sum::<i64>(), 3);
        assert_eq!(t2.iter().map(|t| t.minor).sum::<i64>(), 4);
        assert_eq!(b2[0].gross.minor, 34);
    }

    #[test]
    fn unknown_class_is_an_error() {
        let r = rules(TaxMode::Inclusive, TaxRoundingLevel::PerLine);
        assert_eq!(
            breakdown(&[("Q", m(1))], &r, Currency::CNY).unwrap_err(),
            TaxError::UnknownClass("Q".into())
        );
    }
}

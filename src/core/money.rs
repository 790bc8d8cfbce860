//! Money as integer minor units tagged with an ISO 4217 currency.
//!
//! Floating point never touches an amount: prices, totals and tenders are
//! `i64` counts of the currency's minor unit, and every conversion from a
//! decimal (a tax rate, a percentage, a weight) goes through [`round_div`]
//! or [`Money::mul_decimal`] with a named [`Rounding`].

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Neg;
use std::str::FromStr;

/// The currencies a till can be configured for. The exponent (number of
/// minor-unit digits) comes from ISO 4217, never from configuration, so a
/// typo cannot turn yen into hundredths of yen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Currency {
    CNY,
    EUR,
    USD,
    JPY,
    GBP,
    HKD,
    CHF,
    BRL,
}

impl Currency {
    /// Minor-unit digits per ISO 4217.
    pub fn exponent(self) -> u32 {
        match self {
            Currency::JPY => 0,
            _ => 2,
        }
    }

    /// ISO 4217 numeric code, as EMV (tag 5F2A) and ISO 8583 (field 49) need it.
    pub fn numeric(self) -> u16 {
        match self {
            Currency::CNY => 156,
            Currency::EUR => 978,
            Currency::USD => 840,
            Currency::JPY => 392,
            Currency::GBP => 826,
            Currency::HKD => 344,
            Currency::CHF => 756,
            Currency::BRL => 986,
        }
    }

    /// ISO 3166 numeric code of the currency's home country: the default
    /// terminal country (EMV tag 9F1A) of a till selling in it.
    pub fn home_country(self) -> u16 {
        match self {
            Currency::CNY => 156,
            Currency::EUR => 276,
            Currency::USD => 840,
            Currency::JPY => 392,
            Currency::GBP => 826,
            Currency::HKD => 344,
            Currency::CHF => 756,
            Currency::BRL => 76,
        }
    }

    /// Alphabetic code.
    pub fn code(self) -> &'static str {
        match self {
            Currency::CNY => "CNY",
            Currency::EUR => "EUR",
            Currency::USD => "USD",
            Currency::JPY => "JPY",
            Currency::GBP => "GBP",
            Currency::HKD => "HKD",
            Currency::CHF => "CHF",
            Currency::BRL => "BRL",
        }
    }

    /// Minor units per major unit (100 for cents, 1 for yen).
    pub fn minor_per_major(self) -> i64 {
        10_i64.pow(self.exponent())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_uppercase().as_str() {
            "CNY" => Currency::CNY,
            "EUR" => Currency::EUR,
            "USD" => Currency::USD,
            "JPY" => Currency::JPY,
            "GBP" => Currency::GBP,
            "HKD" => Currency::HKD,
            "CHF" => Currency::CHF,
            "BRL" => Currency::BRL,
            other => return Err(MoneyError::UnknownCurrency(other.to_string())),
        })
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why an amount could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown currency code {0:?}")]
    UnknownCurrency(String),
    #[error("not an amount: {0:?}")]
    BadAmount(String),
    #[error("{0:?} has more decimals than {1} allows")]
    TooManyDecimals(String, Currency),
    #[error("amount out of range")]
    Overflow,
    #[error("an amount in {0} and one in {1} cannot be added")]
    CurrencyMismatch(Currency, Currency),
}

/// How a value between two representable amounts is resolved. Each use site
/// names its rounding, so the receipt can be reproduced from the rules alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Halves away from zero: the usual shop rule (2.345 → 2.35, −2.345 → −2.35).
    #[default]
    HalfUp,
    /// Halves to the even neighbour ("banker's rounding"), required by some
    /// tax authorities to avoid a systematic upward bias.
    HalfEven,
    /// Toward zero; used where a customer must never be charged a fraction more.
    Down,
}

impl Rounding {
    fn strategy(self) -> RoundingStrategy {
        match self {
            Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
            Rounding::Down => RoundingStrategy::ToZero,
        }
    }

    /// Rounds a decimal count of minor units to a whole count.
    pub fn round(self, minor: Decimal) -> Result<i64, MoneyError> {
        minor
            .round_dp_with_strategy(0, self.strategy())
            .to_i64()
            .ok_or(MoneyError::Overflow)
    }
}

/// Divides `num` by `den` (den > 0) and rounds the quotient with `rounding`;
/// exact integer arithmetic for quantity × price and allocations.
pub fn round_div(num: i128, den: i128, rounding: Rounding) -> i64 {
    debug_assert!(den > 0);
    let q = num / den;
    let r = num % den;
    if r == 0 {
        return q as i64;
    }
    let away = if num < 0 { -1 } else { 1 };
    let twice = 2 * r.abs();
    let adjust = match rounding {
        Rounding::Down => 0,
        Rounding::HalfUp => i128::from(twice >= den),
        Rounding::HalfEven => {
            if twice > den || (twice == den && q % 2 != 0) {
                1
            } else {
                0
            }
        }
    };
    (q + adjust * away) as i64
}

/// An amount of money: a count of minor units and its currency.
///
/// Amounts are added with [`Money::checked_add`], which refuses two
/// currencies and overflow with an error rather than a panic; amounts from
/// outside are parsed with [`Money::parse`], which never panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub const fn new(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    pub const fn zero(currency: Currency) -> Self {
        Money { minor: 0, currency }
    }

    pub fn is_zero(&self) -> bool {
        self.minor == 0
    }

    pub fn is_negative(&self) -> bool {
        self.minor < 0
    }

    /// Parses "12.50" (or "12,50") in major units; more decimals than the
    /// currency has is an error rather than a silent rounding.
    pub fn parse(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let cleaned = text.trim().replace(',', ".");
        let d = Decimal::from_str(&cleaned).map_err(|_| MoneyError::BadAmount(text.to_string()))?;
        if d.scale() > currency.exponent() && d.normalize().scale() > currency.exponent() {
            return Err(MoneyError::TooManyDecimals(text.to_string(), currency));
        }
        // Checked: a 28-digit "price" must be refused, not panic (found by
        // the catalog import's fuzz target).
        let minor = d
            .checked_mul(Decimal::from(currency.minor_per_major()))
            .and_then(|m| m.to_i64())
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, currency))
    }

    /// The amount as a decimal in major units (for display and export).
    pub fn to_decimal(&self) -> Decimal {
        Decimal::new(self.minor, self.currency.exponent())
    }

    /// Multiplies by a decimal factor (a rate, a percentage / 100) and rounds.
    pub fn mul_decimal(&self, factor: Decimal, rounding: Rounding) -> Result<Money, MoneyError> {
        let product = Decimal::from(self.minor)
            .checked_mul(factor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(rounding.round(product)?, self.currency))
    }

    /// Rounds to a multiple of `increment` minor units (cash rounding, e.g. 5
    /// for Swiss 0.05 francs); an increment of 0 or 1 leaves the amount alone.
    pub fn round_to_increment(&self, increment: i64, rounding: Rounding) -> Money {
        if increment <= 1 {
            return *self;
        }
        let units = round_div(i128::from(self.minor), i128::from(increment), rounding);
        Money::new(units * increment, self.currency)
    }

    pub fn abs(&self) -> Money {
        Money::new(self.minor.abs(), self.currency)
    }

    pub fn min(self, other: Money) -> Money {
        if self.minor <= other.minor {
            self
        } else {
            other
        }
    }

    /// The sum, or an error for amounts of two currencies or one too large
    /// for an `i64` of minor units: amounts read from a database or a
    /// message go through this, never through a panic.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same(&other)?;
        self.minor
            .checked_add(other.minor)
            .map(|m| Money::new(m, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// The difference, checked like [`Money::checked_add`].
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same(&other)?;
        self.minor
            .checked_sub(other.minor)
            .map(|m| Money::new(m, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    fn same(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, other.currency))
        }
    }
}

impl fmt::Display for Money {
    /// Plain "12.50" with a dot; locale formatting belongs to the UI.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_decimal())
    }
}

impl Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money::new(-self.minor, self.currency)
    }
}

/// Splits `total` over `weights` in proportion, so the parts always add up to
/// `total` exactly (largest remainder). Used to spread a sale discount over
/// its lines and a refund over tenders.
pub fn allocate(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
    if weights.is_empty() {
        return Vec::new();
    }
    if sum == 0 {
        let mut out = vec![0; weights.len()];
        out[0] = total;
        return out;
    }
    let mut parts: Vec<i64> = Vec::with_capacity(weights.len());
    let mut rems: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let num = i128::from(total) * i128::from(*w);
        parts.push((num / sum) as i64);
        rems.push(((num % sum).abs(), i));
    }
    let mut left = total - parts.iter().sum::<i64>();
    rems.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let step = left.signum();
    let mut k = 0;
    while left != 0 && !rems.is_empty() {
        let idx = rems[k % rems.len()].1;
        parts[idx] += step;
        left -= step;
        k += 1;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn exponents_follow_iso_4217() {
        assert_eq!(Currency::JPY.exponent(), 0);
        assert_eq!(Currency::CNY.exponent(), 2);
        assert_eq!(Currency::EUR.numeric(), 978);
        assert_eq!(Currency::CNY.numeric(), 156);
    }

    #[test]
    fn parse_rejects_extra_decimals_and_garbage() {
        assert_eq!(Money::parse("12.50", Currency::EUR).unwrap().minor, 1250);
        assert_eq!(Money::parse("12,5", Currency::EUR).unwrap().minor, 1250);
        assert_eq!(Money::parse("300", Currency::JPY).unwrap().minor, 300);
        assert_eq!(
            Money::parse("6901234567901223456789567891", Currency::CNY),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::parse("92233720368547758.08", Currency::CNY),
            Err(MoneyError::Overflow)
        );
        assert!(Money::parse("1.5", Currency::JPY).is_err());
        assert!(Money::parse("1.005", Currency::USD).is_err());
        assert!(Money::parse("abc", Currency::USD).is_err());
    }

    #[test]
    fn worked_rounding_examples() {
        // 2.345 EUR in minor units is 234.5 cents.
        let half = d("234.5");
        assert_eq!(Rounding::HalfUp.round(half).unwrap(), 235);
        assert_eq!(Rounding::HalfEven.round(half).unwrap(), 234);
        assert_eq!(Rounding::HalfEven.round(d("235.5")).unwrap(), 236);
        assert_eq!(Rounding::Down.round(d("235.9")).unwrap(), 235);
        assert_eq!(Rounding::HalfUp.round(d("-234.5")).unwrap(), -235);
        // round_div agrees with the decimal rounding.
        assert_eq!(round_div(2345, 10, Rounding::HalfUp), 235);
        assert_eq!(round_div(2345, 10, Rounding::HalfEven), 234);
        assert_eq!(round_div(-2345, 10, Rounding::HalfUp), -235);
        assert_eq!(round_div(2355, 10, Rounding::HalfEven), 236);
    }

    #[test]
    fn cash_rounding_to_five_cents() {
        let m = Money::new(1233, Currency::CHF);
        assert_eq!(m.round_to_increment(5, Rounding::HalfUp).minor, 1235);
        assert_eq!(
            Money::new(1232, Currency::CHF)
                .round_to_increment(5, Rounding::HalfUp)
                .minor,
            1230
        );
        assert_eq!(
            Money::new(1232, Currency::CHF)
                .round_to_increment(0, Rounding::HalfUp)
                .minor,
            1232
        );
    }

    proptest! {
        #[test]
        fn round_div_matches_decimal(num in -1_000_000_000i64..1_000_000_000, den in 1i64..100_000) {
            for r in [Rounding::HalfUp, Rounding::HalfEven, Rounding::Down] {
                let d = Decimal::from(num) / Decimal::from(den);
                prop_assert_eq!(round_div(num.into(), den.into(), r), r.round(d).unwrap());
            }
        }

        #[test]
        fn allocate_sums_exactly(total in -1_000_000i64..1_000_000, weights in prop::collection::vec(0i64..100_000, 1..20)) {
            let parts = allocate(total, &weights);
            prop_assert_eq!(parts.iter().sum::<i64>(), total);
            prop_assert_eq!(parts.len(), weights.len());
        }
    }
}

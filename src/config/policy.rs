//! `[policy]`: the shop's own limits on what a login may do, read with the
//! same field-by-field tolerance as every section.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The shop's limits. Each field falls back to its default alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// Wrong PINs in a row before a cashier number is locked.
    pub pin_attempts: u32,
    /// How long the first lockout lasts; each further one doubles it.
    pub lockout_minutes: u32,
    /// The shortest PIN a supervisor or manager may be given (a cashier's
    /// PIN is 4 to 8 digits).
    pub supervisor_pin_min: usize,
    /// The largest discount, in percent of the line or sale, a cashier may
    /// give without a supervisor.
    pub discount_limit_percent: Decimal,
    /// The most cash, in the shop's currency, a cashier may take out of the
    /// drawer without a supervisor.
    pub cash_out_limit: Decimal,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            pin_attempts: 5,
            lockout_minutes: 5,
            supervisor_pin_min: 6,
            discount_limit_percent: Decimal::TEN,
            cash_out_limit: Decimal::ONE_HUNDRED,
        }
    }
}

impl Policy {
    /// The `[policy]` section of `config`, problems added to `warnings`.
    pub fn load(config: &crate::Config, warnings: &mut Vec<String>) -> Policy {
        let mut p: Policy = config.section("policy", warnings);
        if p.pin_attempts == 0 {
            warnings.push("[policy] pin_attempts: must be at least 1; using 5".into());
            p.pin_attempts = 5;
        }
        if !(4..=8).contains(&p.supervisor_pin_min) {
            warnings.push(format!(
                "[policy] supervisor_pin_min: {} is not 4 to 8 digits; using 6",
                p.supervisor_pin_min
            ));
            p.supervisor_pin_min = 6;
        }
        if !(Decimal::ZERO..=Decimal::ONE_HUNDRED).contains(&p.discount_limit_percent) {
            warnings.push(format!(
                "[policy] discount_limit_percent: {} is not 0 to 100; using 10",
                p.discount_limit_percent
            ));
            p.discount_limit_percent = Decimal::TEN;
        }
        if p.cash_out_limit.is_sign_negative() {
            warnings.push("[policy] cash_out_limit: must not be negative; using 100".into());
            p.cash_out_limit = Decimal::ONE_HUNDRED;
        }
        p
    }
}

//! `[policy]`: the shop's own limits on what a login may do, read with the
//! same field-by-field tolerance as every section.

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
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            pin_attempts: 5,
            lockout_minutes: 5,
            supervisor_pin_min: 6,
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
        p
    }
}

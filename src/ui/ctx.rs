//! What every view needs to turn state into words: translations, the
//! language, the currency and the shop's time zone.

use rust_decimal::Decimal;
use tillpoint_core::money::{Currency, Money};
use tillpoint_core::sale::PricingRules;
use tillpoint_i18n::{self as i18n, I18n, Lang};

/// Rendering context handed to each screen's `view`.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub i18n: &'a I18n,
    pub lang: Lang,
    pub currency: Currency,
    pub offset_secs: i32,
    pub demo: bool,
    /// The time the screens show (the last tick), for labels such as a
    /// parked sale's.
    pub now_ms: i64,
    /// The shop's pricing, for the sale's totals.
    pub rules: &'a PricingRules,
    /// `[policy] discount_limit_percent`: a bigger discount asks for a
    /// supervisor.
    pub discount_limit: Decimal,
}

impl Ctx<'_> {
    /// The message `id` in the current language.
    pub fn t(&self, id: &str) -> String {
        self.i18n.tr(self.lang, id)
    }

    /// The message `id` with arguments.
    pub fn ta(&self, id: &str, args: &[(&str, String)]) -> String {
        self.i18n.tr_args(self.lang, id, args)
    }

    /// Why a PIN was not checked: the number is locked for a while.
    pub fn pin_locked(&self, until_ms: i64) -> String {
        let minutes = ((until_ms - self.now_ms).max(1) + 59_999) / 60_000;
        self.ta("pin-locked", &[("minutes", minutes.to_string())])
    }

    pub fn money(&self, m: Money) -> String {
        i18n::money(self.lang, m)
    }

    pub fn minor(&self, minor: i64) -> String {
        i18n::money(self.lang, Money::new(minor, self.currency))
    }

    /// A scheme key ("unionpay", "qr") as the cashier reads it, in the
    /// window's language; a key without a name of its own shows as it is.
    pub fn scheme(&self, key: &str) -> String {
        let id = format!("scheme-{}", key.to_lowercase());
        if self.i18n.has(self.lang, &id) {
            self.t(&id)
        } else {
            key.to_string()
        }
    }

    /// A demo card's name ("unionpay-online-pin") as the cashier reads it.
    pub fn demo_card(&self, name: &str) -> String {
        let id = format!("demo-card-{name}");
        if self.i18n.has(self.lang, &id) {
            self.t(&id)
        } else {
            name.to_string()
        }
    }

    pub fn datetime(&self, at_ms: i64) -> String {
        i18n::datetime(self.lang, at_ms, self.offset_secs)
    }
}

#[cfg(test)]
impl Ctx<'static> {
    /// English, CNY, UTC, demo: what the screens' unit tests render with.
    pub fn for_tests() -> Ctx<'static> {
        static I18N: std::sync::OnceLock<I18n> = std::sync::OnceLock::new();
        static RULES: std::sync::OnceLock<PricingRules> = std::sync::OnceLock::new();
        Ctx {
            i18n: I18N.get_or_init(I18n::load),
            lang: Lang::En,
            currency: Currency::CNY,
            offset_secs: 0,
            demo: true,
            now_ms: 0,
            rules: RULES.get_or_init(|| {
                tillpoint_config::Config::parse("")
                    .map(|(c, _)| c.pricing)
                    .expect("the default config parses")
            }),
            discount_limit: Decimal::TEN,
        }
    }
}

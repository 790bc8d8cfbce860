//! Every user-visible string, in English and Simplified Chinese, from the
//! Fluent files under `i18n/`; also locale formatting of amounts and dates.
//!
//! The files are compiled in, so a till never starts without its texts. A
//! missing message shows its id (visible, never blank) and a test fails on
//! any id used in code that a language lacks.

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use std::sync::Arc;
use tillpoint_core::money::{Currency, Money};
use unic_langid::{langid, LanguageIdentifier};

/// The languages the till speaks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Zh];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en-US",
            Lang::Zh => "zh-CN",
        }
    }

    pub fn from_code(code: &str) -> Lang {
        if code.starts_with("zh") {
            Lang::Zh
        } else {
            Lang::En
        }
    }

    fn langid(self) -> LanguageIdentifier {
        match self {
            Lang::En => langid!("en-US"),
            Lang::Zh => langid!("zh-CN"),
        }
    }

    /// The Fluent sources of this language, one per area.
    pub fn sources(self) -> &'static [&'static str] {
        match self {
            Lang::En => &[
                include_str!("../../i18n/en-US/till.ftl"),
                include_str!("../../i18n/en-US/receipt.ftl"),
            ],
            Lang::Zh => &[
                include_str!("../../i18n/zh-CN/till.ftl"),
                include_str!("../../i18n/zh-CN/receipt.ftl"),
            ],
        }
    }
}

/// Loaded translations for both languages; cheap to clone and share.
#[derive(Clone)]
pub struct I18n {
    en: Arc<FluentBundle<FluentResource>>,
    zh: Arc<FluentBundle<FluentResource>>,
}

impl std::fmt::Debug for I18n {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("I18n")
    }
}

fn bundle(lang: Lang) -> FluentBundle<FluentResource> {
    let mut b = FluentBundle::new_concurrent(vec![lang.langid()]);
    // No Unicode isolation marks: they show as boxes on receipt printers.
    b.set_use_isolating(false);
    for src in lang.sources() {
        match FluentResource::try_new((*src).to_string()) {
            Ok(res) => {
                if let Err(errs) = b.add_resource(res) {
                    tracing::error!("i18n {}: {errs:?}", lang.code());
                }
            }
            Err((res, errs)) => {
                tracing::error!("i18n {}: syntax errors {errs:?}", lang.code());
                let _ = b.add_resource(res);
            }
        }
    }
    b
}

impl Default for I18n {
    fn default() -> Self {
        I18n::load()
    }
}

impl I18n {
    pub fn load() -> I18n {
        I18n {
            en: Arc::new(bundle(Lang::En)),
            zh: Arc::new(bundle(Lang::Zh)),
        }
    }

    fn bundle(&self, lang: Lang) -> &FluentBundle<FluentResource> {
        match lang {
            Lang::En => &self.en,
            Lang::Zh => &self.zh,
        }
    }

    /// The message `id` in `lang`, or the id itself when missing.
    pub fn tr(&self, lang: Lang, id: &str) -> String {
        self.tr_args(lang, id, &[])
    }

    /// The message `id` with arguments (`{ $name }` in the .ftl file).
    pub fn tr_args(&self, lang: Lang, id: &str, args: &[(&str, String)]) -> String {
        let b = self.bundle(lang);
        let Some(pattern) = b.get_message(id).and_then(|m| m.value()) else {
            tracing::warn!("i18n: no message {id} in {}", lang.code());
            return id.to_string();
        };
        let mut fa = FluentArgs::new();
        for (k, v) in args {
            fa.set(*k, FluentValue::from(v.clone()));
        }
        let mut errors = Vec::new();
        b.format_pattern(pattern, Some(&fa), &mut errors)
            .into_owned()
    }

    /// Whether `lang` has message `id` (for the completeness test).
    pub fn has(&self, lang: Lang, id: &str) -> bool {
        self.bundle(lang).has_message(id)
    }
}

fn symbol(c: Currency) -> &'static str {
    match c {
        Currency::CNY | Currency::JPY => "¥",
        Currency::EUR => "€",
        Currency::USD => "$",
        Currency::GBP => "£",
        Currency::HKD => "HK$",
        Currency::CHF => "CHF ",
        Currency::BRL => "R$",
    }
}

/// Formats an amount for `lang`: symbol, thousands separators, the
/// currency's decimals ("¥1,234.50"; "-€3.20").
pub fn money(lang: Lang, m: Money) -> String {
    let _ = lang; // both languages group by thousands with "," and use "."
    let exp = m.currency.exponent();
    let abs = m.minor.unsigned_abs();
    let unit = 10u64.pow(exp);
    let major = abs / unit;
    let digits = major.to_string();
    let mut grouped = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let sign = if m.minor < 0 { "-" } else { "" };
    if exp == 0 {
        format!("{sign}{}{grouped}", symbol(m.currency))
    } else {
        format!(
            "{sign}{}{grouped}.{:0w$}",
            symbol(m.currency),
            abs % unit,
            w = exp as usize
        )
    }
}

/// Formats a local date and time: "11/21/2026 14:05" or "2026年11月21日 14:05".
pub fn datetime(lang: Lang, at_ms: i64, offset_secs: i32) -> String {
    let off = time::UtcOffset::from_whole_seconds(offset_secs).unwrap_or(time::UtcOffset::UTC);
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(at_ms.div_euclid(1000)) else {
        return String::new();
    };
    let t = t.to_offset(off);
    match lang {
        Lang::En => format!(
            "{:02}/{:02}/{} {:02}:{:02}",
            u8::from(t.month()),
            t.day(),
            t.year(),
            t.hour(),
            t.minute()
        ),
        Lang::Zh => format!(
            "{}年{}月{}日 {:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn ids(src: &str) -> BTreeSet<String> {
        src.lines()
            .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_string()))
            .collect()
    }

    #[test]
    fn both_languages_have_the_same_messages() {
        let en: BTreeSet<String> = Lang::En.sources().iter().flat_map(|s| ids(s)).collect();
        let zh: BTreeSet<String> = Lang::Zh.sources().iter().flat_map(|s| ids(s)).collect();
        let only_en: Vec<_> = en.difference(&zh).collect();
        let only_zh: Vec<_> = zh.difference(&en).collect();
        assert!(
            only_en.is_empty() && only_zh.is_empty(),
            "only en: {only_en:?}; only zh: {only_zh:?}"
        );
        assert!(en.len() > 20);
    }

    /// Every `tr(…, "id")` / `tr_args(…, "id", …)` / `t("id")` in the code must
    /// exist in both languages.
    #[test]
    fn every_id_used_in_code_exists() {
        let i = I18n::load();
        let mut missing = Vec::new();
        let mut seen = 0;
        let mut stack = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/.."
        ))];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    let text = std::fs::read_to_string(&p).unwrap();
                    for id in used_ids(&text) {
                        seen += 1;
                        for lang in Lang::ALL {
                            if !i.has(lang, &id) {
                                missing.push(format!("{} {} ({})", lang.code(), id, p.display()));
                            }
                        }
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "missing messages:\n{}",
            missing.join("\n")
        );
        assert!(seen > 10, "found only {seen} ids: the scan is broken");
    }

    /// Ids are string literals right after `.t(`, `.ta(`, `.tr(lang, ` or `.tr_args(lang, `,
    /// made of lowercase letters, digits and dashes.
    fn used_ids(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for marker in [
            ".t(\"",
            ".tr(self.lang, \"",
            ".tr(lang, \"",
            ".tr_args(lang, \"",
            ".tr_args(self.lang, \"",
            ".ta(\"",
        ] {
            let mut rest = text;
            while let Some(pos) = rest.find(marker) {
                let after = &rest[pos + marker.len()..];
                let end = after.find('"').unwrap_or(0);
                let id = &after[..end];
                if !id.is_empty()
                    && id
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                {
                    out.push(id.to_string());
                }
                rest = &after[end..];
            }
        }
        out
    }

    #[test]
    fn amounts_and_dates_per_locale() {
        assert_eq!(
            money(Lang::En, Money::new(123450, Currency::CNY)),
            "¥1,234.50"
        );
        assert_eq!(money(Lang::Zh, Money::new(-320, Currency::EUR)), "-€3.20");
        assert_eq!(money(Lang::En, Money::new(1200, Currency::JPY)), "¥1,200");
        // 2026-01-01T00:30:00Z in +08:00.
        assert_eq!(
            datetime(Lang::En, 1_767_227_400_000, 8 * 3600),
            "01/01/2026 08:30"
        );
        assert_eq!(
            datetime(Lang::Zh, 1_767_227_400_000, 8 * 3600),
            "2026年1月1日 08:30"
        );
        let i = I18n::load();
        assert_eq!(i.tr(Lang::Zh, "no-such-id"), "no-such-id");
    }
}

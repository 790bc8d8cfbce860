//! The till's configuration: one TOML file, read tolerantly.
//!
//! A missing file gives the defaults. A file that is not TOML at all is an
//! error (the owner must fix it). Within a good file, every field that is
//! missing or invalid falls back to its default with a warning, and unknown
//! keys are reported, so an upgrade or a typo never bricks a till.

pub mod edit;
pub mod policy;
pub mod private;

use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use tillpoint_core::catalog::EmbeddedKind;
use tillpoint_core::money::{Currency, Money, Rounding};
use tillpoint_core::receipt::ShopInfo;
use tillpoint_core::sale::PricingRules;
use tillpoint_core::tax::{TaxMode, TaxRate, TaxRoundingLevel, TaxRules};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
}

/// Till identity and behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TillSettings {
    pub id: String,
    pub currency: Currency,
    /// "en-US" or "zh-CN".
    pub locale: String,
    pub opening_float: i64,
    pub idle_lock_minutes: u32,
    /// Shop time zone as "+08:00"; empty means the machine's.
    pub utc_offset: String,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    pub shop: ShopInfo,
    pub till: TillSettings,
    pub pricing: PricingRules,
    /// In-store barcode prefixes (20–29) and what their value field means.
    pub embedded_prefixes: Vec<(u8, EmbeddedKind)>,
    pub log_level: String,
    pub log_max_files: usize,
    /// Sections owned by other modules (devices, payment), kept raw so each
    /// reads its own with the same tolerance.
    #[serde(skip)]
    pub sections: toml::Table,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            shop: ShopInfo {
                name: "tillpoint".into(),
                address: vec![],
                tax_id: String::new(),
                footer: vec!["Thank you!".into()],
            },
            till: TillSettings {
                id: "T01".into(),
                currency: Currency::CNY,
                locale: "en-US".into(),
                opening_float: 0,
                idle_lock_minutes: 5,
                utc_offset: String::new(),
            },
            pricing: PricingRules {
                currency: Currency::CNY,
                tax: TaxRules {
                    mode: TaxMode::Inclusive,
                    level: TaxRoundingLevel::PerReceipt,
                    rounding: Rounding::HalfUp,
                    rates: default_rates(),
                },
                line_rounding: Rounding::HalfUp,
                cash_increment: 1,
                cash_rounding: Rounding::HalfUp,
            },
            embedded_prefixes: default_prefixes(),
            log_level: "info".into(),
            log_max_files: 14,
            sections: toml::Table::new(),
        }
    }
}

fn default_rates() -> Vec<TaxRate> {
    vec![
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
            class: "C".into(),
            name: "VAT 6%".into(),
            rate: Decimal::new(6, 2),
        },
        TaxRate {
            class: "Z".into(),
            name: "Exempt".into(),
            rate: Decimal::ZERO,
        },
    ]
}

fn default_prefixes() -> Vec<(u8, EmbeddedKind)> {
    (20..=22)
        .map(|p| (p, EmbeddedKind::Price))
        .chain((23..=29).map(|p| (p, EmbeddedKind::Weight)))
        .collect()
}

/// Collects warnings while fields are read.
struct Reader<'a> {
    root: &'a toml::Table,
    warnings: Vec<String>,
}

impl<'a> Reader<'a> {
    fn section(&mut self, name: &str, known: &[&str]) -> Option<&'a toml::Table> {
        match self.root.get(name) {
            None => None,
            Some(toml::Value::Table(t)) => {
                for k in t.keys() {
                    if !known.contains(&k.as_str()) {
                        self.warnings
                            .push(format!("[{name}] {k}: unknown setting, ignored"));
                    }
                }
                Some(t)
            }
            Some(_) => {
                self.warnings
                    .push(format!("[{name}] is not a table; using defaults"));
                None
            }
        }
    }

    /// One field: its value if present and valid, else the default (with a warning if invalid).
    fn get<T: DeserializeOwned>(
        &mut self,
        sect: Option<&toml::Table>,
        section: &str,
        key: &str,
        default: T,
    ) -> T {
        let Some(v) = sect.and_then(|s| s.get(key)) else {
            return default;
        };
        match v.clone().try_into::<T>() {
            Ok(x) => x,
            Err(e) => {
                self.warnings.push(format!(
                    "[{section}] {key}: invalid ({}); using the default",
                    e.message().trim()
                ));
                default
            }
        }
    }

    /// A field parsed from text by `parse`, falling back like [`Reader::get`].
    fn parsed<T, E: std::fmt::Display>(
        &mut self,
        sect: Option<&toml::Table>,
        section: &str,
        key: &str,
        default: T,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> T {
        let text: Option<String> = self.get(sect, section, key, None);
        match text {
            None => default,
            Some(t) => match parse(&t) {
                Ok(v) => v,
                Err(e) => {
                    self.warnings
                        .push(format!("[{section}] {key}: {e}; using the default"));
                    default
                }
            },
        }
    }
}

fn parse_rounding(s: &str) -> Result<Rounding, String> {
    match s {
        "half_up" => Ok(Rounding::HalfUp),
        "half_even" => Ok(Rounding::HalfEven),
        "down" => Ok(Rounding::Down),
        o => Err(format!("{o:?} is not half_up, half_even or down")),
    }
}

/// Sections other modules own; listed so they are not reported as unknown.
pub const DEVICE_SECTIONS: &[&str] = &[
    "printer", "pinpad", "reader", "emv", "acquirer", "ui", "scale", "display", "qr",
];

impl Config {
    /// Reads the file at `path`; a missing file yields the defaults.
    pub fn load(path: &Path) -> Result<(Config, Vec<String>), ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((
                    Config::default(),
                    vec![format!(
                        "no config file at {}; using defaults",
                        path.display()
                    )],
                ))
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        Config::parse(&text).map_err(|message| ConfigError::Syntax {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses TOML text tolerantly (see the module documentation).
    pub fn parse(text: &str) -> Result<(Config, Vec<String>), String> {
        let root: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
        let d = Config::default();
        let mut r = Reader {
            root: &root,
            warnings: Vec::new(),
        };
        for k in root.keys() {
            if !["shop", "till", "pricing", "barcodes", "log", "policy"].contains(&k.as_str())
                && !DEVICE_SECTIONS.contains(&k.as_str())
            {
                r.warnings.push(format!("[{k}]: unknown section, ignored"));
            }
        }
        let s = r.section("shop", &["name", "address", "tax_id", "footer"]);
        let shop = ShopInfo {
            name: r.get(s, "shop", "name", d.shop.name.clone()),
            address: r.get(s, "shop", "address", d.shop.address.clone()),
            tax_id: r.get(s, "shop", "tax_id", d.shop.tax_id.clone()),
            footer: r.get(s, "shop", "footer", d.shop.footer.clone()),
        };
        let t = r.section(
            "till",
            &[
                "id",
                "currency",
                "locale",
                "opening_float",
                "idle_lock_minutes",
                "utc_offset",
            ],
        );
        let currency = r.parsed(t, "till", "currency", d.till.currency, Currency::from_str);
        let locale = r.parsed(t, "till", "locale", d.till.locale.clone(), |s| match s {
            "en-US" | "zh-CN" => Ok(s.to_string()),
            o => Err(format!("{o:?} is not a supported language (en-US, zh-CN)")),
        });
        let till = TillSettings {
            id: r.parsed(t, "till", "id", d.till.id.clone(), |s| {
                if !s.is_empty() && s.len() <= 8 && s.chars().all(|c| c.is_ascii_alphanumeric()) {
                    Ok(s.to_string())
                } else {
                    Err("a till id is 1 to 8 letters or digits".to_string())
                }
            }),
            currency,
            locale,
            opening_float: r.parsed(t, "till", "opening_float", 0, |s| {
                Money::parse(s, currency).map(|m| m.minor)
            }),
            idle_lock_minutes: r.get(t, "till", "idle_lock_minutes", d.till.idle_lock_minutes),
            utc_offset: r.parsed(t, "till", "utc_offset", String::new(), |s| {
                parse_offset(s)
                    .map(|_| s.to_string())
                    .ok_or("not an offset like +08:00")
            }),
        };
        let p = r.section(
            "pricing",
            &[
                "tax_mode",
                "tax_rounding_level",
                "rounding",
                "cash_increment",
                "cash_rounding",
                "tax_rates",
            ],
        );
        let dp = &d.pricing;
        let mode = r.parsed(p, "pricing", "tax_mode", dp.tax.mode, |s| match s {
            "inclusive" => Ok(TaxMode::Inclusive),
            "exclusive" => Ok(TaxMode::Exclusive),
            o => Err(format!("{o:?} is not inclusive or exclusive")),
        });
        let level = r.parsed(
            p,
            "pricing",
            "tax_rounding_level",
            dp.tax.level,
            |s| match s {
                "per_line" => Ok(TaxRoundingLevel::PerLine),
                "per_receipt" => Ok(TaxRoundingLevel::PerReceipt),
                o => Err(format!("{o:?} is not per_line or per_receipt")),
            },
        );
        let rounding = r.parsed(p, "pricing", "rounding", dp.tax.rounding, parse_rounding);
        let cash_rounding = r.parsed(
            p,
            "pricing",
            "cash_rounding",
            dp.cash_rounding,
            parse_rounding,
        );
        let cash_increment = r.parsed(p, "pricing", "cash_increment", 1, |s| {
            match Money::parse(s, currency) {
                Ok(m) if m.minor >= 1 => Ok(m.minor),
                Ok(_) => Err("must be positive".to_string()),
                Err(e) => Err(e.to_string()),
            }
        });
        let rates = read_rates(&mut r, p).unwrap_or_else(default_rates);
        let pricing = PricingRules {
            currency,
            tax: TaxRules {
                mode,
                level,
                rounding,
                rates,
            },
            line_rounding: rounding,
            cash_increment,
            cash_rounding,
        };
        let b = r.section("barcodes", &["price_prefixes", "weight_prefixes"]);
        let price: Vec<u8> = r.get(b, "barcodes", "price_prefixes", vec![20, 21, 22]);
        let weight: Vec<u8> = r.get(b, "barcodes", "weight_prefixes", (23..=29).collect());
        let mut embedded_prefixes: Vec<(u8, EmbeddedKind)> = price
            .iter()
            .map(|p| (*p, EmbeddedKind::Price))
            .chain(weight.iter().map(|p| (*p, EmbeddedKind::Weight)))
            .collect();
        if embedded_prefixes
            .iter()
            .any(|(p, _)| !(20..=29).contains(p))
        {
            r.warnings
                .push("[barcodes] prefixes must be 20 to 29; using the defaults".into());
            embedded_prefixes = default_prefixes();
        }
        let l = r.section("log", &["level", "max_files"]);
        let log_level = r.parsed(l, "log", "level", d.log_level.clone(), |s| match s {
            "error" | "warn" | "info" | "debug" | "trace" => Ok(s.to_string()),
            o => Err(format!("{o:?} is not error, warn, info, debug or trace")),
        });
        let log_max_files = r.get(l, "log", "max_files", d.log_max_files);
        let mut sections = toml::Table::new();
        for k in DEVICE_SECTIONS {
            if let Some(v) = root.get(*k) {
                sections.insert((*k).to_string(), v.clone());
            }
        }
        let warnings = r.warnings;
        Ok((
            Config {
                shop,
                till,
                pricing,
                embedded_prefixes,
                log_level,
                log_max_files,
                sections,
            },
            warnings,
        ))
    }

    /// Tax classes products may use.
    pub fn tax_classes(&self) -> Vec<String> {
        self.pricing
            .tax
            .rates
            .iter()
            .map(|r| r.class.clone())
            .collect()
    }

    /// Reads a device or payment section into `T` (a `#[serde(default)]`
    /// struct), field by field: a field that does not fit falls back to its
    /// default with a warning naming it, and the section's other fields
    /// stay as written (a bad `paper` must not switch the printer off).
    pub fn section<T: DeserializeOwned + Default>(
        &self,
        name: &str,
        warnings: &mut Vec<String>,
    ) -> T {
        let Some(v) = self.sections.get(name) else {
            return T::default();
        };
        if let Ok(x) = v.clone().try_into::<T>() {
            return x;
        }
        let Some(written) = v.as_table() else {
            warnings.push(format!("[{name}]: not a table; using the defaults"));
            return T::default();
        };
        // Keep each field that still reads together with those kept before it.
        let mut kept = toml::Table::new();
        for (key, value) in written {
            let mut trial = kept.clone();
            trial.insert(key.clone(), value.clone());
            match toml::Value::Table(trial).try_into::<T>() {
                Ok(_) => {
                    kept.insert(key.clone(), value.clone());
                }
                Err(e) => warnings.push(format!(
                    "[{name}] {key}: invalid ({}); using the default",
                    e.message().trim()
                )),
            }
        }
        toml::Value::Table(kept).try_into().unwrap_or_default()
    }
}

fn read_rates(r: &mut Reader<'_>, p: Option<&toml::Table>) -> Option<Vec<TaxRate>> {
    let list = p?.get("tax_rates")?;
    let Some(arr) = list.as_array() else {
        r.warnings
            .push("[pricing] tax_rates: must be a list of tables; using the defaults".into());
        return None;
    };
    let mut out: Vec<TaxRate> = Vec::new();
    for (i, v) in arr.iter().enumerate() {
        let class = v.get("class").and_then(|x| x.as_str()).unwrap_or("");
        let name = v.get("name").and_then(|x| x.as_str()).unwrap_or(class);
        let rate = v
            .get("rate")
            .and_then(|x| x.as_str())
            .and_then(|x| Decimal::from_str(x).ok());
        match rate {
            Some(rate)
                if !class.is_empty()
                    && rate >= Decimal::ZERO
                    && rate < Decimal::ONE
                    && !out.iter().any(|o| o.class == class) =>
            {
                out.push(TaxRate {
                    class: class.into(),
                    name: name.into(),
                    rate,
                });
            }
            _ => {
                r.warnings.push(format!(
                    "[pricing] tax_rates[{i}]: needs a unique class and a rate like \"0.13\" between 0 and 1; using the default rates"
                ));
                return None;
            }
        }
    }
    if out.is_empty() {
        r.warnings
            .push("[pricing] tax_rates: empty; using the default rates".into());
        return None;
    }
    Some(out)
}

/// Parses "+08:00" / "-05:30" into seconds east of UTC.
pub fn parse_offset(s: &str) -> Option<i32> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    if h > 14 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_fields_fall_back_with_warnings() {
        let (c, w) = Config::parse(
            r#"
            [till]
            currency = "XYZ"
            idle_lock_minutes = "soon"
            id = "T07"
            opening_float = "150.00"
            [pricing]
            tax_mode = "exclusive"
            cash_increment = "0.05"
            [typo]
            x = 1
            "#,
        )
        .unwrap();
        assert_eq!(c.till.currency, Currency::CNY);
        assert_eq!(c.till.idle_lock_minutes, 5);
        assert_eq!(c.till.id, "T07");
        assert_eq!(c.till.opening_float, 15000);
        assert_eq!(c.pricing.tax.mode, TaxMode::Exclusive);
        assert_eq!(c.pricing.cash_increment, 5);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w.iter().any(|x| x.contains("currency")));
        assert!(w.iter().any(|x| x.contains("idle_lock_minutes")));
        assert!(w.iter().any(|x| x.contains("typo")));
    }

    #[test]
    fn corrupt_toml_is_an_error() {
        assert!(Config::parse("[till\nid = ").is_err());
    }

    #[test]
    fn bad_tax_rates_keep_defaults() {
        let (c, w) =
            Config::parse("[[pricing.tax_rates]]\nclass = \"A\"\nrate = \"1.5\"\n").unwrap();
        assert_eq!(c.pricing.tax.rates, default_rates());
        assert_eq!(w.len(), 1);
        let (c, w) = Config::parse(
            "[[pricing.tax_rates]]\nclass = \"S\"\nname = \"Std\"\nrate = \"0.20\"\n[[pricing.tax_rates]]\nclass = \"R\"\nrate = \"0.05\"\n",
        )
        .unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.tax_classes(), vec!["S".to_string(), "R".to_string()]);
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+08:00"), Some(8 * 3600));
        assert_eq!(parse_offset("-05:30"), Some(-(5 * 3600 + 1800)));
        assert_eq!(parse_offset("8"), None);
    }
}

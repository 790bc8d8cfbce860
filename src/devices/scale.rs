//! The weighing scale on a serial port, speaking Mettler Toledo's MT-SICS
//! level 0 (`S` and `SI`); the weigh screen reads it live and takes only a
//! stable, in-range weight.
//!
//! MT-SICS answers one line per request, ended by CR LF:
//!
//! | answer              | meaning                                         |
//! |---------------------|-------------------------------------------------|
//! | `S S     1.250 kg`  | stable weight                                   |
//! | `S D     1.250 kg`  | dynamic (still moving; `SI` only)               |
//! | `S I`               | not executable now (no stable weight in time)   |
//! | `S +` / `S -`       | overload / underload                            |
//! | `ES` `ET` `EL`      | syntax, transmission, logical error             |
//!
//! A second protocol is a second [`Protocol`] variant with its own request
//! and parser; the port handling stays.

use crate::serial::{self, Line};
use serde::Deserialize;
use std::time::Duration;

/// `[scale]` in tillpoint.toml.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScaleConfig {
    /// The serial device ("/dev/ttyUSB1", "COM4"); empty: no scale, the
    /// weight is typed.
    pub port: String,
    pub baud: u32,
    pub protocol: Protocol,
    /// How long one answer may take.
    pub timeout_ms: u64,
}

impl Default for ScaleConfig {
    fn default() -> Self {
        ScaleConfig {
            port: String::new(),
            baud: 9600,
            protocol: Protocol::MtSics,
            timeout_ms: 1500,
        }
    }
}

impl ScaleConfig {
    pub fn from_till_config(config: &tillpoint_config::Config, warnings: &mut Vec<String>) -> Self {
        config.section("scale", warnings)
    }

    pub fn is_configured(&self) -> bool {
        !self.port.trim().is_empty()
    }
}

/// The scale's command set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    MtSics,
}

/// Which weight to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// `S`: the next stable weight (the scale answers `S I` if none comes).
    Stable,
    /// `SI`: the weight now, stable or not.
    Immediate,
}

/// One reading, in grams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// Net weight in milligrams (what the scale said, not rounded).
    pub milligrams: i64,
    pub stable: bool,
}

impl Reading {
    /// The weight in whole grams, half up: the sale's kilogram quantity
    /// in thousandths.
    pub fn grams(self) -> i64 {
        (self.milligrams + 500).div_euclid(1000)
    }
}

/// Why there is no weight to sell by.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScaleError {
    #[error("the scale is overloaded")]
    Overload,
    #[error("the scale reads below zero (underload): empty and tare it")]
    Underload,
    #[error("the scale found no stable weight in time")]
    NotStable,
    #[error("the scale refused the command ({0})")]
    Refused(&'static str),
    #[error("the scale sent a unit tillpoint does not sell by: {0}")]
    Unit(String),
    #[error("the scale's answer is garbled: {0:?}")]
    Garbled(String),
    #[error("the scale did not answer in time")]
    Timeout,
    #[error("scale port {port}: {reason}")]
    Port { port: String, reason: String },
}

/// The request bytes for `ask`.
pub fn request(ask: Ask) -> &'static [u8] {
    match ask {
        Ask::Stable => b"S\r\n",
        Ask::Immediate => b"SI\r\n",
    }
}

/// Parses one MT-SICS answer line (without CR LF).
pub fn parse(line: &str) -> Result<Reading, ScaleError> {
    let garbled = || ScaleError::Garbled(line.chars().take(40).collect());
    let mut words = line.split_ascii_whitespace();
    match (words.next(), words.next()) {
        (Some("ES"), None) => Err(ScaleError::Refused("syntax error")),
        (Some("ET"), None) => Err(ScaleError::Refused("transmission error")),
        (Some("EL"), None) => Err(ScaleError::Refused("logical error")),
        (Some("S" | "SI"), Some("I")) => Err(ScaleError::NotStable),
        (Some("S" | "SI"), Some("+")) => Err(ScaleError::Overload),
        (Some("S" | "SI"), Some("-")) => Err(ScaleError::Underload),
        (Some("S" | "SI"), Some(status @ ("S" | "D"))) => {
            let value = words.next().ok_or_else(garbled)?;
            let unit = words.next().ok_or_else(garbled)?;
            if words.next().is_some() {
                return Err(garbled());
            }
            let milligrams = milligrams(value, unit)?;
            Ok(Reading {
                milligrams,
                stable: status == "S",
            })
        }
        _ => Err(garbled()),
    }
}

/// "1.250" "kg" → 1 250 000 mg; "-0.5" "g" → -500. At most 6 decimals.
fn milligrams(value: &str, unit: &str) -> Result<i64, ScaleError> {
    let garbled = || ScaleError::Garbled(format!("{value} {unit}"));
    let scale_mg: i64 = match unit {
        "kg" => 1_000_000,
        "g" => 1_000,
        "mg" => 1,
        other => return Err(ScaleError::Unit(other.chars().take(8).collect())),
    };
    let (neg, digits) = match value.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || int.len() > 7 || frac.len() > 6 || !all_digits(int) || !all_digits(frac) {
        return Err(garbled());
    }
    let int: i64 = int.parse().map_err(|_| garbled())?;
    let frac_micro: i64 = format!("{frac:0<6}").parse().map_err(|_| garbled())?;
    // In micro-units of `unit`, then to milligrams (i128: 9 999 999 kg in
    // micrograms does not fit an i64).
    let micro = i128::from(int) * 1_000_000 + i128::from(frac_micro);
    let mg = i64::try_from((micro * i128::from(scale_mg)).div_euclid(1_000_000))
        .map_err(|_| garbled())?;
    Ok(if neg { -mg } else { mg })
}

/// The scale on its serial port, opened on first use and again after the
/// port fails (unplugged and plugged back in).
pub struct SerialScale {
    config: ScaleConfig,
    line: Option<Line>,
}

impl SerialScale {
    pub fn new(config: ScaleConfig) -> Self {
        SerialScale { config, line: None }
    }

    pub fn port(&self) -> &str {
        &self.config.port
    }

    /// Asks for a weight and reads the answer. Bytes left from an earlier
    /// answer are dropped first, so a late reply is never taken for this
    /// one.
    pub fn read(&mut self, ask: Ask) -> Result<Reading, ScaleError> {
        let timeout = Duration::from_millis(self.config.timeout_ms.max(50));
        let port_error = |reason: String| ScaleError::Port {
            port: self.config.port.clone(),
            reason,
        };
        if self.line.is_none() {
            let line = serial::open(&self.config.port, self.config.baud).map_err(&port_error)?;
            self.line = Some(line);
        }
        let Some(line) = self.line.as_mut() else {
            return Err(port_error("not open".into()));
        };
        let answer = line
            .drain()
            .and_then(|()| line.send(request(ask)))
            .and_then(|()| line.read_line(timeout, 64));
        match answer {
            Ok(Some(text)) => parse(&text),
            Ok(None) => Err(ScaleError::Timeout),
            Err(e) => {
                // The port is gone: the next read opens it again.
                self.line = None;
                Err(port_error(e.to_string()))
            }
        }
    }
}

impl std::fmt::Debug for SerialScale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerialScale")
            .field("port", &self.config.port)
            .field("open", &self.line.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mt_sics_answers_as_the_reference_manual_writes_them() {
        let r = parse("S S      1.250 kg").unwrap();
        assert_eq!((r.milligrams, r.stable, r.grams()), (1_250_000, true, 1250));
        let r = parse("S D    735.4 g").unwrap();
        assert_eq!((r.milligrams, r.stable, r.grams()), (735_400, false, 735));
        assert_eq!(parse("S S     -0.005 kg").unwrap().milligrams, -5_000);
        assert_eq!(
            parse("S S 0.0005 kg").unwrap().grams(),
            1,
            "half a gram rounds up"
        );
        assert_eq!(parse("S I"), Err(ScaleError::NotStable));
        assert_eq!(parse("S +"), Err(ScaleError::Overload));
        assert_eq!(parse("S -"), Err(ScaleError::Underload));
        assert_eq!(parse("ES"), Err(ScaleError::Refused("syntax error")));
        assert_eq!(parse("EL"), Err(ScaleError::Refused("logical error")));
        assert_eq!(request(Ask::Stable), b"S\r\n");
        assert_eq!(request(Ask::Immediate), b"SI\r\n");
    }

    #[test]
    fn garbage_and_foreign_units_are_refused() {
        for bad in [
            "",
            "S",
            "S S",
            "S S 1.2",
            "S S 1..2 kg",
            "S S 1.2.3 kg",
            "S S abc kg",
            "S S 1.2 kg extra",
            "S S 12345678 kg",
            "S S 1.1234567 kg",
            "S X 1.2 kg",
            "\u{0}\u{7f}\u{ff}",
            "S S .5 kg",
        ] {
            assert!(
                matches!(parse(bad), Err(ScaleError::Garbled(_))),
                "{bad:?} → {:?}",
                parse(bad)
            );
        }
        assert_eq!(parse("S S 2.5 lb"), Err(ScaleError::Unit("lb".into())));
        // The largest value the format allows converts without overflow.
        assert_eq!(
            parse("S S 9999999.999999 kg").unwrap().milligrams,
            9_999_999_999_999
        );
    }

    #[test]
    fn a_section_with_a_bad_field_keeps_the_others() {
        let (c, _) = tillpoint_config::Config::parse(
            "[scale]\nport = \"/dev/ttyUSB1\"\nbaud = \"fast\"\nprotocol = \"mt-sics\"\n",
        )
        .unwrap();
        let mut warnings = vec![];
        let s = ScaleConfig::from_till_config(&c, &mut warnings);
        assert_eq!(s.port, "/dev/ttyUSB1");
        assert_eq!(s.baud, 9600);
        assert!(warnings.iter().any(|w| w.contains("baud")), "{warnings:?}");
        assert!(!ScaleConfig::default().is_configured());
    }
}

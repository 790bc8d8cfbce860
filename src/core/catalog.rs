//! Products, units, quantities and the barcodes that find them.

use super::money::Money;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a product is counted. Weighed goods carry three-decimal quantities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Piece,
    Kg,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Piece => "piece",
            Unit::Kg => "kg",
        }
    }

    pub fn parse(s: &str) -> Option<Unit> {
        match s.trim().to_ascii_lowercase().as_str() {
            "piece" | "pc" | "pcs" | "ea" | "" => Some(Unit::Piece),
            "kg" => Some(Unit::Kg),
            _ => None,
        }
    }
}

/// A quantity in thousandths of a unit: 1 piece is 1000, 0.250 kg is 250.
/// Integer thousandths keep weight × price exact before its one rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Qty(pub i64);

impl Qty {
    pub const ONE: Qty = Qty(1000);

    pub fn pieces(n: i64) -> Qty {
        Qty(n * 1000)
    }

    pub fn milli(self) -> i64 {
        self.0
    }

    /// Parses "2", "0.250" or "1,5"; at most three decimals.
    pub fn parse(text: &str) -> Option<Qty> {
        let t = text.trim().replace(',', ".");
        let (int, frac) = match t.split_once('.') {
            Some((i, f)) => (i, f),
            None => (t.as_str(), ""),
        };
        if int.is_empty() && frac.is_empty() || frac.len() > 3 {
            return None;
        }
        if !int.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let i: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let mut f: i64 = if frac.is_empty() {
            0
        } else {
            frac.parse().ok()?
        };
        for _ in frac.len()..3 {
            f *= 10;
        }
        i.checked_mul(1000)?.checked_add(f).map(Qty)
    }

    pub fn is_whole(self) -> bool {
        self.0 % 1000 == 0
    }
}

impl fmt::Display for Qty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_whole() {
            write!(f, "{}", self.0 / 1000)
        } else {
            let sign = if self.0 < 0 { "-" } else { "" };
            write!(
                f,
                "{sign}{}.{:03}",
                self.0.abs() / 1000,
                self.0.abs() % 1000
            )
        }
    }
}

/// A product as the till sells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub sku: String,
    pub name: String,
    pub barcodes: Vec<String>,
    /// Price per unit (per piece or per kg), tax-inclusive or exclusive as
    /// the shop's tax mode says.
    pub price: Money,
    pub tax_class: String,
    pub category: String,
    pub unit: Unit,
}

/// Why a barcode was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BarcodeError {
    #[error("barcode {0:?} contains something other than digits")]
    NotDigits(String),
    #[error("barcode {0:?} has {1} digits; EAN-8, UPC-A and EAN-13 have 8, 12 or 13")]
    BadLength(String, usize),
    #[error("barcode {0:?} has a wrong check digit (expected {1})")]
    BadCheckDigit(String, u8),
}

/// The GS1 mod-10 check digit of `body` (all digits but the check digit).
pub fn gs1_check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(*d) * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// Validates an EAN-13, EAN-8 or UPC-A code and returns it normalised: UPC-A
/// becomes the equivalent EAN-13 (leading zero) so one lookup finds both.
pub fn normalize_barcode(code: &str) -> Result<String, BarcodeError> {
    let code = code.trim();
    let digits: Vec<u8> = code
        .bytes()
        .map(|b| {
            if b.is_ascii_digit() {
                Ok(b - b'0')
            } else {
                Err(())
            }
        })
        .collect::<Result<_, _>>()
        .map_err(|_| BarcodeError::NotDigits(code.to_string()))?;
    match digits.len() {
        8 | 12 | 13 => {}
        n => return Err(BarcodeError::BadLength(code.to_string(), n)),
    }
    let (body, check) = digits.split_at(digits.len() - 1);
    let expected = gs1_check_digit(body);
    if check[0] != expected {
        return Err(BarcodeError::BadCheckDigit(code.to_string(), expected));
    }
    Ok(if digits.len() == 12 {
        format!("0{code}")
    } else {
        code.to_string()
    })
}

/// What the value field of an in-store (prefix 2x) EAN-13 means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmbeddedKind {
    /// The last five digits before the check digit are the price in minor units.
    Price,
    /// They are the weight in grams.
    Weight,
}

/// A scanned in-store barcode, split into the product key and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Embedded {
    /// The barcode with the value field zeroed and the check digit redone:
    /// the form under which the product is stored in the catalog.
    pub product_code: String,
    pub kind: EmbeddedKind,
    pub value: i64,
}

/// Recognises price- and weight-embedded EAN-13 (layout `2P IIIII VVVVV C`)
/// by the shop's prefix table, e.g. 20–22 price and 23–29 weight.
pub fn parse_embedded(ean13: &str, prefixes: &[(u8, EmbeddedKind)]) -> Option<Embedded> {
    let b = ean13.as_bytes();
    if b.len() != 13 || b[0] != b'2' || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let prefix = (b[0] - b'0') * 10 + (b[1] - b'0');
    let kind = prefixes.iter().find(|(p, _)| *p == prefix)?.1;
    let value: i64 = ean13[7..12].parse().ok()?;
    let mut body: Vec<u8> = b[..12].iter().map(|c| c - b'0').collect();
    for d in &mut body[7..12] {
        *d = 0;
    }
    let check = gs1_check_digit(&body);
    let product_code: String = body
        .iter()
        .chain(std::iter::once(&check))
        .map(|d| char::from(b'0' + d))
        .collect();
    Some(Embedded {
        product_code,
        kind,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digits_of_real_codes() {
        assert_eq!(normalize_barcode("4006381333931").unwrap(), "4006381333931");
        assert_eq!(normalize_barcode("96385074").unwrap(), "96385074");
        // UPC-A 036000291452 is EAN-13 0036000291452.
        assert_eq!(normalize_barcode("036000291452").unwrap(), "0036000291452");
        assert_eq!(
            normalize_barcode("4006381333932"),
            Err(BarcodeError::BadCheckDigit("4006381333932".into(), 1))
        );
        assert!(matches!(
            normalize_barcode("12345"),
            Err(BarcodeError::BadLength(_, 5))
        ));
        assert!(matches!(
            normalize_barcode("40063813339x1"),
            Err(BarcodeError::NotDigits(_))
        ));
    }

    #[test]
    fn embedded_weight_barcode() {
        let prefixes = [(21, EmbeddedKind::Price), (23, EmbeddedKind::Weight)];
        // 23 01234 01250 C : item 01234, 1.250 kg.
        let mut body: Vec<u8> = "230123401250".bytes().map(|b| b - b'0').collect();
        let c = gs1_check_digit(&body);
        body.push(c);
        let code: String = body.iter().map(|d| char::from(b'0' + d)).collect();
        let e = parse_embedded(&code, &prefixes).unwrap();
        assert_eq!(e.kind, EmbeddedKind::Weight);
        assert_eq!(e.value, 1250);
        assert_eq!(&e.product_code[..7], "2301234");
        assert!(normalize_barcode(&e.product_code).is_ok());
        assert!(parse_embedded("4006381333931", &prefixes).is_none());
        assert!(parse_embedded(&code.replacen("23", "25", 1), &prefixes).is_none());
    }

    #[test]
    fn quantities_parse_and_print() {
        assert_eq!(Qty::parse("2"), Some(Qty(2000)));
        assert_eq!(Qty::parse("0.25"), Some(Qty(250)));
        assert_eq!(Qty::parse("1,125"), Some(Qty(1125)));
        assert_eq!(Qty::parse("1.2345"), None);
        assert_eq!(Qty::parse("x"), None);
        assert_eq!(Qty(1250).to_string(), "1.250");
        assert_eq!(Qty(3000).to_string(), "3");
    }
}

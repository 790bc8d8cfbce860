//! Field specification types for ISO 8583:1987 messages.
//!
//! A host profile is data, not code: a sorted table of [`FieldSpec`]s that the
//! generic packer in [`super::codec`] walks. Adding or changing a field for a
//! new acquirer means editing one table row, as with jPOS packagers.

use std::fmt;

/// Which bytes a field may contain. Checked on both pack and unpack so that a
/// bad value is caught at the edge instead of deep inside the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    /// `n`: ASCII digits `0`-`9`. Fixed-length numeric fields are left-padded with `0`.
    Numeric,
    /// `ans`: printable ASCII (0x20-0x7E). Fixed-length fields are right-padded with spaces.
    Text,
    /// `z`: track-2 characters as ASCII: digits, `=` and `D` as field separator.
    Track2,
    /// `b`: raw bytes (PIN block, chip data, MAC); the length counts bytes.
    Binary,
}

impl Charset {
    /// Whether `byte` may appear in a field of this charset.
    pub fn allows(self, byte: u8) -> bool {
        match self {
            Charset::Numeric => byte.is_ascii_digit(),
            Charset::Text => (0x20..=0x7e).contains(&byte),
            Charset::Track2 => byte.is_ascii_digit() || byte == b'=' || byte == b'D',
            Charset::Binary => true,
        }
    }

    /// The padding byte for fixed-length fields, and whether it goes on the left.
    pub(crate) fn padding(self) -> Option<(u8, bool)> {
        match self {
            Charset::Numeric => Some((b'0', true)),
            Charset::Text => Some((b' ', false)),
            Charset::Track2 | Charset::Binary => None,
        }
    }
}

/// How a field's length is known on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    /// Always exactly this many characters (or bytes for binary).
    Fixed(u16),
    /// Two ASCII digits of length, then up to `max` (≤ 99) characters.
    LlVar(u16),
    /// Three ASCII digits of length, then up to `max` (≤ 999) characters.
    LllVar(u16),
}

impl Length {
    /// The largest value length the field accepts.
    pub fn max(self) -> usize {
        match self {
            Length::Fixed(n) | Length::LlVar(n) | Length::LllVar(n) => usize::from(n),
        }
    }

    /// Number of ASCII length digits that precede the value (0 for fixed fields).
    pub fn prefix_digits(self) -> usize {
        match self {
            Length::Fixed(_) => 0,
            Length::LlVar(_) => 2,
            Length::LllVar(_) => 3,
        }
    }
}

/// Where the filler nibble of an odd number of BCD digits goes. Binary
/// profiles say this field by field: amounts are right-aligned (`0` nibble
/// first), entry modes and account numbers left-aligned (`0` nibble last).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// The value ends at the last nibble; the filler comes first.
    Right,
    /// The value starts at the first nibble; the filler comes last.
    Left,
}

/// One data element of a profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    /// Data element number, 2..=128 (1 is the secondary bitmap, never a table row).
    pub number: u8,
    /// Short name used in error messages and the profile documentation.
    pub name: &'static str,
    pub length: Length,
    pub charset: Charset,
    /// For BCD profiles: where an odd digit count is filled (ignored for ASCII).
    pub align: Align,
}

impl FieldSpec {
    pub const fn fixed(number: u8, name: &'static str, len: u16, charset: Charset) -> Self {
        FieldSpec {
            number,
            name,
            length: Length::Fixed(len),
            charset,
            align: Align::Right,
        }
    }

    /// Variable-length digits are left-aligned in every BCD profile we know.
    pub const fn llvar(number: u8, name: &'static str, max: u16, charset: Charset) -> Self {
        FieldSpec {
            number,
            name,
            length: Length::LlVar(max),
            charset,
            align: Align::Left,
        }
    }

    pub const fn lllvar(number: u8, name: &'static str, max: u16, charset: Charset) -> Self {
        FieldSpec {
            number,
            name,
            length: Length::LllVar(max),
            charset,
            align: Align::Left,
        }
    }

    /// The same field with its BCD digits left-aligned.
    pub const fn left(self) -> Self {
        FieldSpec {
            align: Align::Left,
            ..self
        }
    }
}

/// How the length of a variable field is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefix {
    /// `LL`/`LLL` as 2 or 3 ASCII digits.
    Ascii,
    /// `LL` as one BCD byte, `LLL` as two (`0000`-`0999`).
    Bcd,
    /// `LL` as one binary byte, `LLL` as two big-endian bytes (hosts that
    /// count in binary; the maximum still comes from the field table).
    Binary,
}

/// How digits are written: numeric and track-2 values and the MTI (the
/// length prefixes are [`Prefix`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Digits {
    /// One ASCII character per digit; `LL`/`LLL` prefixes are 2 or 3 ASCII
    /// digits; the MTI is 4 ASCII digits.
    Ascii,
    /// Packed BCD, two digits per byte (track 2's separator is nibble `D`);
    /// the MTI is 2 bytes. A length prefix counts digits for `n`/`z` fields
    /// and bytes for the others.
    Bcd,
}

/// How the primary and secondary bitmaps are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitmapEncoding {
    /// 8 raw bytes per bitmap (the usual choice on binary-capable links).
    Binary,
    /// 16 uppercase hex characters per bitmap (hosts that want printable messages).
    Hex,
}

/// A complete host profile: bitmap encoding plus the field table.
#[derive(Debug)]
pub struct Spec {
    pub name: &'static str,
    pub bitmap: BitmapEncoding,
    pub digits: Digits,
    pub prefix: Prefix,
    /// Sorted by field number, no duplicates; [`Spec::check`] verifies it.
    pub fields: &'static [FieldSpec],
    /// Upper bound on one packed message: the framing layer refuses a
    /// longer length prefix before allocating.
    pub max_message_len: usize,
}

/// A defect in a profile table. Found by [`Spec::check`] in a unit test, so a
/// broken table never ships.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("profile field {0} is out of range 2..=128 or reserved for a bitmap (1, 65)")]
    BadNumber(u8),
    #[error("profile fields are not strictly ascending at field {0}")]
    NotSorted(u8),
    #[error("profile field {field}: maximum length {max} does not fit its length prefix")]
    BadMax { field: u8, max: u16 },
}

impl Spec {
    /// The row for data element `number`, if the profile carries it.
    pub fn field(&self, number: u8) -> Option<&FieldSpec> {
        self.fields
            .binary_search_by_key(&number, |f| f.number)
            .ok()
            .and_then(|i| self.fields.get(i))
    }

    /// Validates the table's shape: numbers, order and length bounds.
    pub fn check(&self) -> Result<(), SpecError> {
        let mut previous = 1u8;
        for f in self.fields {
            if f.number < 2 || f.number > 128 || f.number == 65 {
                return Err(SpecError::BadNumber(f.number));
            }
            if f.number <= previous {
                return Err(SpecError::NotSorted(f.number));
            }
            previous = f.number;
            let ok = match f.length {
                Length::Fixed(n) => n > 0,
                Length::LlVar(n) => n > 0 && n <= 99,
                Length::LllVar(n) => n > 0 && n <= 999,
            };
            if !ok {
                return Err(SpecError::BadMax {
                    field: f.number,
                    max: f.length.max() as u16,
                });
            }
        }
        Ok(())
    }
}

/// Message type indicator, e.g. `0200`. Kept as its decimal value; always
/// written as four ASCII digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mti(u16);

impl Mti {
    pub const AUTH_REQUEST: Mti = Mti(100);
    pub const AUTH_RESPONSE: Mti = Mti(110);
    pub const FINANCIAL_REQUEST: Mti = Mti(200);
    pub const FINANCIAL_RESPONSE: Mti = Mti(210);
    pub const FINANCIAL_ADVICE: Mti = Mti(220);
    pub const FINANCIAL_ADVICE_REPEAT: Mti = Mti(221);
    pub const FINANCIAL_ADVICE_RESPONSE: Mti = Mti(230);
    pub const BATCH_UPLOAD: Mti = Mti(320);
    pub const BATCH_UPLOAD_RESPONSE: Mti = Mti(330);
    pub const REVERSAL: Mti = Mti(400);
    pub const REVERSAL_REPEAT: Mti = Mti(401);
    pub const REVERSAL_RESPONSE: Mti = Mti(410);
    pub const SETTLEMENT: Mti = Mti(500);
    pub const SETTLEMENT_RESPONSE: Mti = Mti(510);
    pub const NETWORK: Mti = Mti(800);
    pub const NETWORK_RESPONSE: Mti = Mti(810);

    /// Builds an MTI from its decimal value; `None` above 9999.
    pub const fn new(value: u16) -> Option<Mti> {
        if value <= 9999 {
            Some(Mti(value))
        } else {
            None
        }
    }

    /// Parses four ASCII digits.
    pub fn from_ascii(bytes: &[u8]) -> Option<Mti> {
        if bytes.len() != 4 || !bytes.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let v = bytes
            .iter()
            .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'));
        Some(Mti(v))
    }

    pub fn value(self) -> u16 {
        self.0
    }

    /// The MTI as two packed BCD bytes (binary profiles).
    pub fn to_bcd(self) -> [u8; 2] {
        let [a, b, c, d] = self.to_ascii().map(|x| x - b'0');
        [(a << 4) | b, (c << 4) | d]
    }

    /// Parses two packed BCD bytes; `None` when a nibble is not a digit.
    pub fn from_bcd(bytes: &[u8]) -> Option<Mti> {
        let [hi, lo] = <[u8; 2]>::try_from(bytes).ok()?;
        let digits = [hi >> 4, hi & 0xf, lo >> 4, lo & 0xf];
        if digits.iter().any(|d| *d > 9) {
            return None;
        }
        Some(Mti(digits
            .iter()
            .fold(0u16, |acc, d| acc * 10 + u16::from(*d))))
    }

    /// The four ASCII digits.
    pub fn to_ascii(self) -> [u8; 4] {
        let v = self.0;
        [
            b'0' + (v / 1000 % 10) as u8,
            b'0' + (v / 100 % 10) as u8,
            b'0' + (v / 10 % 10) as u8,
            b'0' + (v % 10) as u8,
        ]
    }

    /// The response MTI for a request or advice: function digit + 1, origin
    /// digit reset (0221 → 0230, 0401 → 0410).
    pub fn response(self) -> Mti {
        Mti(self.0 - self.0 % 10 + 10)
    }

    /// Whether this is a repeat (origin digit 1: 0221, 0401).
    pub fn is_repeat(self) -> bool {
        self.0 % 10 == 1
    }

    /// Whether the function digit says "response" (x1x0 or x3x0).
    pub fn is_response(self) -> bool {
        matches!((self.0 / 10) % 10, 1 | 3)
    }

    /// The message class digit (2 financial, 4 reversal, ...).
    pub fn class(self) -> u16 {
        (self.0 / 100) % 10
    }
}

impl fmt::Display for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.0)
    }
}

impl fmt::Debug for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mti({:04})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mti_response_and_repeat_rules() {
        assert_eq!(Mti::FINANCIAL_REQUEST.response(), Mti::FINANCIAL_RESPONSE);
        assert_eq!(
            Mti::FINANCIAL_ADVICE_REPEAT.response(),
            Mti::FINANCIAL_ADVICE_RESPONSE
        );
        assert_eq!(Mti::REVERSAL_REPEAT.response(), Mti::REVERSAL_RESPONSE);
        assert_eq!(Mti::BATCH_UPLOAD.response(), Mti::BATCH_UPLOAD_RESPONSE);
        assert!(Mti::REVERSAL_REPEAT.is_repeat());
        assert!(!Mti::REVERSAL.is_repeat());
        assert!(Mti::FINANCIAL_ADVICE_RESPONSE.is_response());
        assert!(!Mti::FINANCIAL_ADVICE.is_response());
        assert_eq!(Mti::SETTLEMENT.class(), 5);
    }

    #[test]
    fn mti_ascii_round_trip_and_rejects() {
        assert_eq!(Mti::from_ascii(b"0200"), Some(Mti::FINANCIAL_REQUEST));
        assert_eq!(&Mti::NETWORK.to_ascii(), b"0800");
        assert_eq!(Mti::from_ascii(b"02a0"), None);
        assert_eq!(Mti::from_ascii(b"020"), None);
        assert_eq!(Mti::new(10_000), None);
        assert_eq!(Mti::NETWORK.to_string(), "0800");
    }

    #[test]
    fn mti_bcd_round_trip_and_rejects() {
        assert_eq!(Mti::FINANCIAL_REQUEST.to_bcd(), [0x02, 0x00]);
        assert_eq!(Mti::from_bcd(&[0x08, 0x10]), Some(Mti::NETWORK_RESPONSE));
        assert_eq!(Mti::from_bcd(&[0x0a, 0x00]), None);
        assert_eq!(Mti::from_bcd(&[0x02]), None);
    }

    #[test]
    fn check_rejects_bad_tables() {
        static UNSORTED: [FieldSpec; 2] = [
            FieldSpec::fixed(11, "stan", 6, Charset::Numeric),
            FieldSpec::fixed(3, "proc", 6, Charset::Numeric),
        ];
        let spec = Spec {
            name: "t",
            bitmap: BitmapEncoding::Binary,
            digits: Digits::Ascii,
            prefix: Prefix::Ascii,
            fields: &UNSORTED,
            max_message_len: 4096,
        };
        assert_eq!(spec.check(), Err(SpecError::NotSorted(3)));

        static BITMAP_FIELD: [FieldSpec; 1] = [FieldSpec::fixed(65, "x", 8, Charset::Binary)];
        let spec = Spec {
            name: "t",
            bitmap: BitmapEncoding::Binary,
            digits: Digits::Ascii,
            prefix: Prefix::Ascii,
            fields: &BITMAP_FIELD,
            max_message_len: 4096,
        };
        assert_eq!(spec.check(), Err(SpecError::BadNumber(65)));

        static TOO_LONG: [FieldSpec; 1] = [FieldSpec::llvar(2, "pan", 100, Charset::Numeric)];
        let spec = Spec {
            name: "t",
            bitmap: BitmapEncoding::Binary,
            digits: Digits::Ascii,
            prefix: Prefix::Ascii,
            fields: &TOO_LONG,
            max_message_len: 4096,
        };
        assert_eq!(spec.check(), Err(SpecError::BadMax { field: 2, max: 100 }));
    }

    #[test]
    fn charsets() {
        assert!(Charset::Numeric.allows(b'7'));
        assert!(!Charset::Numeric.allows(b' '));
        assert!(Charset::Track2.allows(b'='));
        assert!(Charset::Track2.allows(b'D'));
        assert!(!Charset::Track2.allows(b'A'));
        assert!(Charset::Text.allows(b'~'));
        assert!(!Charset::Text.allows(0x7f));
        assert!(Charset::Binary.allows(0));
    }
}

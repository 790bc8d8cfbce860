//! Generic ISO 8583 packer and unpacker driven by a [`Spec`] table.
//!
//! Nothing here knows what field 4 or field 55 mean: the profile table says
//! how each field is written, and this code only walks the bitmap. Unpacking
//! reads network bytes, so every step is bounds-checked and every defect is a
//! [`CodecError`] naming the field — never a panic, never an unbounded
//! allocation (lengths are capped by the table).

use std::collections::BTreeMap;
use std::fmt;

use zeroize::Zeroize;

use super::spec::{Align, BitmapEncoding, Charset, Digits, FieldSpec, Length, Mti, Prefix, Spec};

/// A defect found while packing or unpacking a message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("message ends early: {what} needs {needed} more byte(s), {available} left")]
    Truncated {
        what: String,
        needed: usize,
        available: usize,
    },
    #[error("message type indicator is not four ASCII digits")]
    BadMti,
    #[error("bitmap is not valid hex")]
    BadBitmap,
    #[error("bitmap sets field {0}, which this profile does not define")]
    UnknownField(u8),
    #[error("field {field} ({name}): length prefix is not ASCII digits")]
    BadLengthPrefix { field: u8, name: &'static str },
    #[error("field {field} ({name}): length {len} exceeds the maximum {max}")]
    TooLong {
        field: u8,
        name: &'static str,
        len: usize,
        max: usize,
    },
    #[error("field {field} ({name}): fixed length {expected}, got {len}")]
    WrongLength {
        field: u8,
        name: &'static str,
        expected: usize,
        len: usize,
    },
    #[error("field {field} ({name}): byte 0x{byte:02x} at offset {offset} is not allowed")]
    BadCharacter {
        field: u8,
        name: &'static str,
        byte: u8,
        offset: usize,
    },
    #[error("{0} unexpected byte(s) after the last field")]
    TrailingBytes(usize),
    #[error("field number {0} cannot be set (1 and 65 are bitmaps, range is 2..=128)")]
    ReservedField(u8),
}

/// An ISO 8583 message: an MTI and a set of field values.
///
/// Values are stored as wire characters (ASCII for `n`/`ans`/`z`, raw bytes
/// for `b`), unpadded as given by the caller or as read. Field values are
/// wiped when the message is dropped because they may hold a PAN or chip data,
/// and `Debug` never prints sensitive fields.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    pub mti: Mti,
    fields: BTreeMap<u8, Vec<u8>>,
}

/// Fields whose content is card data or key material and must not appear in
/// logs: PAN, track 2, PIN block, security info, chip data, QR payment code.
const SENSITIVE: &[u8] = &[2, 35, 45, 52, 53, 55, 62];

impl Message {
    pub fn new(mti: Mti) -> Self {
        Message {
            mti,
            fields: BTreeMap::new(),
        }
    }

    /// Sets a field from raw wire bytes. Validation happens when packing.
    pub fn set(&mut self, field: u8, value: impl Into<Vec<u8>>) -> Result<(), CodecError> {
        if !(2..=128).contains(&field) || field == 65 {
            return Err(CodecError::ReservedField(field));
        }
        if let Some(mut old) = self.fields.insert(field, value.into()) {
            old.zeroize();
        }
        Ok(())
    }

    /// Sets a text or numeric field.
    pub fn set_str(&mut self, field: u8, value: &str) -> Result<(), CodecError> {
        self.set(field, value.as_bytes().to_vec())
    }

    /// Builder-style `set` for code that assembles messages in one expression.
    pub fn with(mut self, field: u8, value: impl Into<Vec<u8>>) -> Result<Self, CodecError> {
        self.set(field, value)?;
        Ok(self)
    }

    pub fn get(&self, field: u8) -> Option<&[u8]> {
        self.fields.get(&field).map(Vec::as_slice)
    }

    /// A field as text; `None` if absent or not UTF-8 (binary fields).
    pub fn get_str(&self, field: u8) -> Option<&str> {
        self.get(field).and_then(|v| std::str::from_utf8(v).ok())
    }

    pub fn has(&self, field: u8) -> bool {
        self.fields.contains_key(&field)
    }

    pub fn remove(&mut self, field: u8) {
        if let Some(mut v) = self.fields.remove(&field) {
            v.zeroize();
        }
    }

    /// Field numbers present, ascending.
    pub fn field_numbers(&self) -> impl Iterator<Item = u8> + '_ {
        self.fields.keys().copied()
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        for v in self.fields.values_mut() {
            v.zeroize();
        }
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        map.entry(&"mti", &self.mti);
        for (n, v) in &self.fields {
            if SENSITIVE.contains(n) {
                map.entry(n, &format_args!("<redacted {} bytes>", v.len()));
            } else {
                match std::str::from_utf8(v) {
                    Ok(s) => map.entry(n, &s),
                    Err(_) => map.entry(n, &format_args!("0x{}", hex::encode(v))),
                };
            }
        }
        map.finish()
    }
}

/// Packs `msg` with `spec`: MTI, bitmap(s), then each present field in order.
pub fn pack(spec: &Spec, msg: &Message) -> Result<Vec<u8>, CodecError> {
    let mut bitmap = [0u8; 16];
    let mut secondary = false;
    for n in msg.fields.keys() {
        let field = spec.field(*n).ok_or(CodecError::UnknownField(*n))?;
        set_bit(&mut bitmap, field.number);
        if field.number > 64 {
            secondary = true;
        }
    }
    if secondary {
        set_bit(&mut bitmap, 1);
    }
    let bitmap_len = if secondary { 16 } else { 8 };

    let mut out = Vec::with_capacity(64);
    match spec.digits {
        Digits::Ascii => out.extend_from_slice(&msg.mti.to_ascii()),
        Digits::Bcd => out.extend_from_slice(&msg.mti.to_bcd()),
    }
    let bitmap_bytes = bitmap.get(..bitmap_len).unwrap_or(&bitmap);
    match spec.bitmap {
        BitmapEncoding::Binary => out.extend_from_slice(bitmap_bytes),
        BitmapEncoding::Hex => out.extend_from_slice(hex::encode_upper(bitmap_bytes).as_bytes()),
    }
    for (n, value) in &msg.fields {
        let field = spec.field(*n).ok_or(CodecError::UnknownField(*n))?;
        pack_field(spec, field, value, &mut out)?;
    }
    Ok(out)
}

fn set_bit(bitmap: &mut [u8; 16], field: u8) {
    let bit = usize::from(field.saturating_sub(1));
    if let Some(byte) = bitmap.get_mut(bit / 8) {
        *byte |= 0x80 >> (bit % 8);
    }
}

fn bit_is_set(bitmap: &[u8], field: u8) -> bool {
    let bit = usize::from(field.saturating_sub(1));
    bitmap
        .get(bit / 8)
        .is_some_and(|b| b & (0x80 >> (bit % 8)) != 0)
}

fn check_chars(field: &FieldSpec, value: &[u8]) -> Result<(), CodecError> {
    match value.iter().position(|b| !field.charset.allows(*b)) {
        Some(offset) => Err(CodecError::BadCharacter {
            field: field.number,
            name: field.name,
            byte: value.get(offset).copied().unwrap_or(0),
            offset,
        }),
        None => Ok(()),
    }
}

fn pack_field(
    spec: &Spec,
    field: &FieldSpec,
    value: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    check_chars(field, value)?;
    let max = field.length.max();
    if value.len() > max {
        return Err(CodecError::TooLong {
            field: field.number,
            name: field.name,
            len: value.len(),
            max,
        });
    }
    let padded;
    let value = match field.length {
        Length::Fixed(_) => {
            let missing = max - value.len();
            match field.charset.padding() {
                Some((pad, left)) => {
                    let fill = std::iter::repeat_n(pad, missing);
                    padded = if left {
                        fill.chain(value.iter().copied()).collect::<Vec<u8>>()
                    } else {
                        value.iter().copied().chain(fill).collect()
                    };
                    padded.as_slice()
                }
                None if missing != 0 => {
                    return Err(CodecError::WrongLength {
                        field: field.number,
                        name: field.name,
                        expected: max,
                        len: value.len(),
                    })
                }
                None => value,
            }
        }
        Length::LlVar(_) | Length::LllVar(_) => {
            write_length(spec.prefix, field.length, value.len(), out);
            value
        }
    };
    if spec.digits == Digits::Bcd && is_digit_field(field) {
        pack_bcd(value, field.align, out);
    } else {
        out.extend_from_slice(value);
    }
    Ok(())
}

/// Whether a field's value is digits, packed two to a byte in a BCD profile.
fn is_digit_field(field: &FieldSpec) -> bool {
    matches!(field.charset, Charset::Numeric | Charset::Track2)
}

/// The nibble for a digit or track-2 separator (checked by `check_chars`).
fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        _ => 0xd,
    }
}

/// Packs ASCII digits two to a byte; an odd count gets a `0` filler nibble
/// on the side `align` says.
fn pack_bcd(value: &[u8], align: Align, out: &mut Vec<u8>) {
    let odd = value.len() % 2 == 1;
    let mut nibbles = Vec::with_capacity(value.len() + 1);
    if odd && align == Align::Right {
        nibbles.push(0);
    }
    nibbles.extend(value.iter().map(|c| nibble(*c)));
    if odd && align == Align::Left {
        nibbles.push(0);
    }
    out.extend(nibbles.chunks(2).map(|p| match p {
        [hi, lo] => (hi << 4) | lo,
        [hi] => hi << 4,
        _ => 0,
    }));
}

/// Writes a variable field's length prefix.
/// Writes a variable field's length prefix (the table bounds `len`: at most
/// 99 for `LL`, 999 for `LLL`).
fn write_length(prefix: Prefix, length: Length, len: usize, out: &mut Vec<u8>) {
    let short = matches!(length, Length::LlVar(_));
    match (prefix, short) {
        (Prefix::Ascii, true) => out.extend_from_slice(format!("{len:02}").as_bytes()),
        (Prefix::Ascii, false) => out.extend_from_slice(format!("{len:03}").as_bytes()),
        (Prefix::Bcd, true) => pack_bcd(format!("{len:02}").as_bytes(), Align::Right, out),
        (Prefix::Bcd, false) => pack_bcd(format!("{len:04}").as_bytes(), Align::Right, out),
        (Prefix::Binary, true) => out.push(u8::try_from(len).unwrap_or(u8::MAX)),
        (Prefix::Binary, false) => {
            out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes())
        }
    }
}

/// A bounds-checked reader over the input bytes.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: impl FnOnce() -> String) -> Result<&'a [u8], CodecError> {
        let available = self.data.len().saturating_sub(self.pos);
        let end = self.pos.checked_add(n).filter(|_| n <= available);
        match end.and_then(|end| self.data.get(self.pos..end)) {
            Some(slice) => {
                self.pos += n;
                Ok(slice)
            }
            None => Err(CodecError::Truncated {
                what: what(),
                needed: n,
                available,
            }),
        }
    }

    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }
}

/// Unpacks one whole message. Every byte must belong to the message.
pub fn unpack(spec: &Spec, data: &[u8]) -> Result<Message, CodecError> {
    let mut cur = Cursor { data, pos: 0 };
    let mti = match spec.digits {
        Digits::Ascii => Mti::from_ascii(cur.take(4, || "message type indicator".into())?),
        Digits::Bcd => Mti::from_bcd(cur.take(2, || "message type indicator".into())?),
    }
    .ok_or(CodecError::BadMti)?;
    let mut bitmap = [0u8; 16];
    read_bitmap(spec, &mut cur, &mut bitmap, 0, "primary bitmap")?;
    if bit_is_set(&bitmap, 1) {
        read_bitmap(spec, &mut cur, &mut bitmap, 8, "secondary bitmap")?;
    }
    let mut msg = Message::new(mti);
    for n in 2u8..=128 {
        if !bit_is_set(&bitmap, n) {
            continue;
        }
        let field = spec.field(n).ok_or(CodecError::UnknownField(n))?;
        let value = unpack_field(spec, field, &mut cur)?;
        msg.fields.insert(n, value);
    }
    match cur.remaining() {
        0 => Ok(msg),
        extra => Err(CodecError::TrailingBytes(extra)),
    }
}

fn read_bitmap(
    spec: &Spec,
    cur: &mut Cursor<'_>,
    bitmap: &mut [u8; 16],
    at: usize,
    what: &'static str,
) -> Result<(), CodecError> {
    let target = bitmap.get_mut(at..at + 8).ok_or(CodecError::BadBitmap)?;
    match spec.bitmap {
        BitmapEncoding::Binary => {
            target.copy_from_slice(cur.take(8, || what.into())?);
        }
        BitmapEncoding::Hex => {
            let text = cur.take(16, || what.into())?;
            hex::decode_to_slice(text, target).map_err(|_| CodecError::BadBitmap)?;
        }
    }
    Ok(())
}

fn unpack_field(
    spec: &Spec,
    field: &FieldSpec,
    cur: &mut Cursor<'_>,
) -> Result<Vec<u8>, CodecError> {
    let max = field.length.max();
    let len = match field.length {
        Length::Fixed(n) => usize::from(n),
        Length::LlVar(_) | Length::LllVar(_) => {
            let len = read_length(spec.prefix, field, cur)?;
            if len > max {
                return Err(CodecError::TooLong {
                    field: field.number,
                    name: field.name,
                    len,
                    max,
                });
            }
            len
        }
    };
    let what = || format!("field {} ({})", field.number, field.name);
    let value = if spec.digits == Digits::Bcd && is_digit_field(field) {
        let bytes = cur.take(len.div_ceil(2), what)?;
        unpack_bcd(field, bytes, len)?
    } else {
        cur.take(len, what)?.to_vec()
    };
    check_chars(field, &value)?;
    Ok(value)
}

/// Reads a variable field's length prefix.
fn read_length(
    prefix: Prefix,
    field: &FieldSpec,
    cur: &mut Cursor<'_>,
) -> Result<usize, CodecError> {
    let bad = || CodecError::BadLengthPrefix {
        field: field.number,
        name: field.name,
    };
    let what = || format!("field {} length", field.number);
    let short = matches!(field.length, Length::LlVar(_));
    match prefix {
        Prefix::Binary => {
            let bytes = cur.take(if short { 1 } else { 2 }, what)?;
            Ok(bytes
                .iter()
                .fold(0usize, |acc, b| acc * 256 + usize::from(*b)))
        }
        Prefix::Ascii => {
            let prefix = cur.take(field.length.prefix_digits(), what)?;
            if !prefix.iter().all(u8::is_ascii_digit) {
                return Err(bad());
            }
            Ok(prefix
                .iter()
                .fold(0usize, |acc, b| acc * 10 + usize::from(b - b'0')))
        }
        Prefix::Bcd => {
            let n = if short { 1 } else { 2 };
            let prefix = cur.take(n, what)?;
            let mut len = 0usize;
            for b in prefix {
                let (hi, lo) = (b >> 4, b & 0xf);
                if hi > 9 || lo > 9 {
                    return Err(bad());
                }
                len = len * 100 + usize::from(hi) * 10 + usize::from(lo);
            }
            Ok(len)
        }
    }
}

/// Unpacks `len` BCD digits (or track-2 characters) from `bytes`; the filler
/// nibble of an odd count must be `0` (`F` is also accepted in track 2).
fn unpack_bcd(field: &FieldSpec, bytes: &[u8], len: usize) -> Result<Vec<u8>, CodecError> {
    let nibbles: Vec<u8> = bytes.iter().flat_map(|b| [b >> 4, b & 0xf]).collect();
    let skip = usize::from(len % 2 == 1 && field.align == Align::Right);
    let filler = if len.is_multiple_of(2) {
        None
    } else if skip == 1 {
        nibbles.first()
    } else {
        nibbles.last()
    };
    let track2 = field.charset == Charset::Track2;
    if let Some(f) = filler.copied() {
        if f != 0 && !(track2 && f == 0xf) {
            return Err(CodecError::BadCharacter {
                field: field.number,
                name: field.name,
                byte: f,
                offset: if skip == 1 { 0 } else { len },
            });
        }
    }
    nibbles
        .iter()
        .skip(skip)
        .take(len)
        .enumerate()
        .map(|(offset, d)| match d {
            0..=9 => Ok(b'0' + d),
            0xd if track2 => Ok(b'='),
            _ => Err(CodecError::BadCharacter {
                field: field.number,
                name: field.name,
                byte: *d,
                offset,
            }),
        })
        .collect()
}

/// The MTI of raw bytes that may not unpack completely, so a host can still
/// answer a format error with the matching response type.
pub fn peek_mti(spec: &Spec, data: &[u8]) -> Option<Mti> {
    match spec.digits {
        Digits::Ascii => data.get(..4).and_then(Mti::from_ascii),
        Digits::Bcd => data.get(..2).and_then(Mti::from_bcd),
    }
}

/// Whether `value` would pack into `field` of `spec`, so callers can reject
/// input (e.g. a scanned QR code) before building a message.
pub fn value_fits(spec: &Spec, field: u8, value: &[u8]) -> bool {
    let Some(f) = spec.field(field) else {
        return false;
    };
    let binary_fixed = matches!(f.length, Length::Fixed(_)) && f.charset == Charset::Binary;
    let length_ok = if binary_fixed {
        value.len() == f.length.max()
    } else {
        value.len() <= f.length.max()
    };
    length_ok && value.iter().all(|b| f.charset.allows(*b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iso8583::spec::FieldSpec;
    use proptest::prelude::*;

    static FIELDS: [FieldSpec; 9] = [
        FieldSpec::llvar(2, "pan", 19, Charset::Numeric),
        FieldSpec::fixed(4, "amount", 12, Charset::Numeric),
        FieldSpec::fixed(7, "transmission", 10, Charset::Numeric),
        FieldSpec::fixed(11, "stan", 6, Charset::Numeric),
        FieldSpec::fixed(41, "tid", 8, Charset::Text),
        FieldSpec::fixed(52, "pin block", 8, Charset::Binary),
        FieldSpec::lllvar(55, "icc", 255, Charset::Binary),
        FieldSpec::fixed(70, "network code", 3, Charset::Numeric),
        FieldSpec::llvar(35, "track2", 37, Charset::Track2),
    ];
    // FIELDS above is deliberately unsorted at the end to prove `check` is
    // needed; the tests use SORTED.
    static SORTED: [FieldSpec; 9] = [
        FieldSpec::llvar(2, "pan", 19, Charset::Numeric),
        FieldSpec::fixed(4, "amount", 12, Charset::Numeric),
        FieldSpec::fixed(7, "transmission", 10, Charset::Numeric),
        FieldSpec::fixed(11, "stan", 6, Charset::Numeric),
        FieldSpec::llvar(35, "track2", 37, Charset::Track2),
        FieldSpec::fixed(41, "tid", 8, Charset::Text),
        FieldSpec::fixed(52, "pin block", 8, Charset::Binary),
        FieldSpec::lllvar(55, "icc", 255, Charset::Binary),
        FieldSpec::fixed(70, "network code", 3, Charset::Numeric),
    ];
    static BIN: Spec = Spec {
        name: "test-binary",
        bitmap: BitmapEncoding::Binary,
        digits: Digits::Ascii,
        prefix: Prefix::Ascii,
        fields: &SORTED,
        max_message_len: 4096,
    };
    static HEX: Spec = Spec {
        name: "test-hex",
        bitmap: BitmapEncoding::Hex,
        digits: Digits::Ascii,
        prefix: Prefix::Ascii,
        fields: &SORTED,
        max_message_len: 4096,
    };

    #[test]
    fn test_tables_are_checked() {
        assert!(BIN.check().is_ok());
        let unsorted = Spec {
            name: "bad",
            bitmap: BitmapEncoding::Binary,
            digits: Digits::Ascii,
            prefix: Prefix::Ascii,
            fields: &FIELDS,
            max_message_len: 4096,
        };
        assert!(unsorted.check().is_err());
    }

    /// Hand-assembled echo request: MTI 0800, bitmap with bits 1, 7, 11
    /// (0x82 0x20 ...), secondary bitmap with bit 70 (byte 9 = 0x04).
    fn echo_bytes() -> Vec<u8> {
        let mut b = b"0800".to_vec();
        b.extend_from_slice(&[0x82, 0x20, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&[0x04, 0, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(b"0131235959");
        b.extend_from_slice(b"000042");
        b.extend_from_slice(b"301");
        b
    }

    #[test]
    fn decodes_hand_made_echo() {
        let msg = unpack(&BIN, &echo_bytes()).unwrap();
        assert_eq!(msg.mti, Mti::NETWORK);
        assert_eq!(msg.get_str(7), Some("0131235959"));
        assert_eq!(msg.get_str(11), Some("000042"));
        assert_eq!(msg.get_str(70), Some("301"));
        assert_eq!(msg.field_numbers().collect::<Vec<_>>(), vec![7, 11, 70]);
        // And packing the decoded message gives the same bytes back.
        assert_eq!(pack(&BIN, &msg).unwrap(), echo_bytes());
    }

    #[test]
    fn decodes_hand_made_financial_with_binary_fields() {
        // 0200 with fields 2, 4, 11, 52, 55: bitmap byte0 = 0x50 (bits 2, 4),
        // byte1 = 0x20 (bit 11), byte6 = 0x12 (bits 52, 55).
        let mut b = b"0200".to_vec();
        b.extend_from_slice(&[0x50, 0x20, 0, 0, 0, 0, 0x12, 0]);
        b.extend_from_slice(b"164761739001010010");
        b.extend_from_slice(b"000000001000");
        b.extend_from_slice(b"000123");
        b.extend_from_slice(&[0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0]);
        b.extend_from_slice(b"004");
        b.extend_from_slice(&[0x9f, 0x27, 0x01, 0x80]);
        let msg = unpack(&BIN, &b).unwrap();
        assert_eq!(msg.get_str(2), Some("4761739001010010"));
        assert_eq!(msg.get_str(4), Some("000000001000"));
        assert_eq!(
            msg.get(52),
            Some(&[0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0][..])
        );
        assert_eq!(msg.get(55), Some(&[0x9f, 0x27, 0x01, 0x80][..]));
        assert_eq!(pack(&BIN, &msg).unwrap(), b);
    }

    #[test]
    fn hex_bitmap_round_trip() {
        let mut msg = Message::new(Mti::NETWORK);
        msg.set_str(11, "000001").unwrap();
        msg.set_str(70, "001").unwrap();
        let bytes = pack(&HEX, &msg).unwrap();
        assert_eq!(&bytes[..4], b"0800");
        assert_eq!(&bytes[4..36], b"80200000000000000400000000000000");
        assert_eq!(unpack(&HEX, &bytes).unwrap(), msg);
        let mut bad = bytes.clone();
        bad[5] = b'G';
        assert_eq!(unpack(&HEX, &bad), Err(CodecError::BadBitmap));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let full = echo_bytes();
        for cut in 0..full.len() {
            assert!(unpack(&BIN, &full[..cut]).is_err(), "prefix {cut} decoded");
        }
    }

    #[test]
    fn rejects_malformed_input() {
        let mut extra = echo_bytes();
        extra.push(b'0');
        assert_eq!(unpack(&BIN, &extra), Err(CodecError::TrailingBytes(1)));

        let mut bad_mti = echo_bytes();
        bad_mti[1] = b'X';
        assert_eq!(unpack(&BIN, &bad_mti), Err(CodecError::BadMti));

        let mut bad_digit = echo_bytes();
        bad_digit[31] = b'A'; // inside field 11 (bytes 30..36)
        assert!(matches!(
            unpack(&BIN, &bad_digit),
            Err(CodecError::BadCharacter { field: 11, .. })
        ));

        // Field 3 is not in the table.
        let mut unknown = b"0800".to_vec();
        unknown.extend_from_slice(&[0x20, 0, 0, 0, 0, 0, 0, 0]);
        unknown.extend_from_slice(b"000000");
        assert_eq!(unpack(&BIN, &unknown), Err(CodecError::UnknownField(3)));

        // LLVAR length above the profile maximum.
        let mut long_pan = b"0200".to_vec();
        long_pan.extend_from_slice(&[0x40, 0, 0, 0, 0, 0, 0, 0]);
        long_pan.extend_from_slice(b"20");
        long_pan.extend_from_slice(b"12345678901234567890");
        assert!(matches!(
            unpack(&BIN, &long_pan),
            Err(CodecError::TooLong {
                field: 2,
                len: 20,
                max: 19,
                ..
            })
        ));

        // Length prefix that is not digits.
        let mut bad_prefix = b"0200".to_vec();
        bad_prefix.extend_from_slice(&[0x40, 0, 0, 0, 0, 0, 0, 0]);
        bad_prefix.extend_from_slice(b"1x");
        assert!(matches!(
            unpack(&BIN, &bad_prefix),
            Err(CodecError::BadLengthPrefix { field: 2, .. })
        ));

        // LLLVAR claiming more bytes than present.
        let mut short_icc = b"0200".to_vec();
        short_icc.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x02, 0]);
        short_icc.extend_from_slice(b"200");
        short_icc.extend_from_slice(&[1, 2, 3]);
        assert!(matches!(
            unpack(&BIN, &short_icc),
            Err(CodecError::Truncated { needed: 200, .. })
        ));
    }

    #[test]
    fn pack_validates_values() {
        let mut msg = Message::new(Mti::FINANCIAL_REQUEST);
        msg.set_str(4, "12a").unwrap();
        assert!(matches!(
            pack(&BIN, &msg),
            Err(CodecError::BadCharacter { field: 4, .. })
        ));
        let mut msg = Message::new(Mti::FINANCIAL_REQUEST);
        msg.set(52, vec![1, 2, 3]).unwrap();
        assert!(matches!(
            pack(&BIN, &msg),
            Err(CodecError::WrongLength { field: 52, .. })
        ));
        let mut msg = Message::new(Mti::FINANCIAL_REQUEST);
        msg.set_str(4, "1234567890123").unwrap();
        assert!(matches!(
            pack(&BIN, &msg),
            Err(CodecError::TooLong { field: 4, .. })
        ));
        let mut msg = Message::new(Mti::FINANCIAL_REQUEST);
        msg.set_str(3, "000000").unwrap();
        assert_eq!(pack(&BIN, &msg), Err(CodecError::UnknownField(3)));
        assert_eq!(
            Message::new(Mti::NETWORK).set(65, vec![0; 8]),
            Err(CodecError::ReservedField(65))
        );
    }

    #[test]
    fn fixed_fields_are_padded() {
        let mut msg = Message::new(Mti::FINANCIAL_REQUEST);
        msg.set_str(4, "1000").unwrap();
        msg.set_str(41, "T1").unwrap();
        let bytes = pack(&BIN, &msg).unwrap();
        let back = unpack(&BIN, &bytes).unwrap();
        assert_eq!(back.get_str(4), Some("000000001000"));
        assert_eq!(back.get_str(41), Some("T1      "));
    }

    #[test]
    fn debug_redacts_card_data() {
        let mut msg = Message::new(Mti::FINANCIAL_REQUEST);
        msg.set_str(2, "4761739001010010").unwrap();
        msg.set_str(11, "000001").unwrap();
        let text = format!("{msg:?}");
        assert!(!text.contains("4761739001010010"));
        assert!(text.contains("redacted 16 bytes"));
        assert!(text.contains("000001"));
    }

    #[test]
    fn value_fits_checks_table() {
        assert!(value_fits(&BIN, 2, b"4761739001010010"));
        assert!(!value_fits(&BIN, 2, b"47617390010100101234"));
        assert!(!value_fits(&BIN, 52, &[0; 7]));
        assert!(value_fits(&BIN, 52, &[0; 8]));
        assert!(!value_fits(&BIN, 3, b"000000"));
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        (
            proptest::option::of("[0-9]{12,19}"),
            proptest::option::of("[0-9]{1,12}"),
            proptest::option::of("[0-9]{6}"),
            proptest::option::of("[0-9]{12,19}=[0-9]{4,15}"),
            proptest::option::of("[ -~]{8}"),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 8)),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..=255)),
            proptest::option::of("[0-9]{3}"),
        )
            .prop_map(|(pan, amount, stan, t2, tid, pin, icc, nmic)| {
                let mut m = Message::new(Mti::FINANCIAL_REQUEST);
                if let Some(v) = pan {
                    m.set_str(2, &v).unwrap();
                }
                if let Some(v) = amount {
                    m.set_str(4, &format!("{v:0>12}")).unwrap();
                }
                if let Some(v) = stan {
                    m.set_str(11, &v).unwrap();
                }
                if let Some(v) = t2 {
                    m.set_str(35, &v).unwrap();
                }
                if let Some(v) = tid {
                    m.set_str(41, &v).unwrap();
                }
                if let Some(v) = pin {
                    m.set(52, v).unwrap();
                }
                if let Some(v) = icc {
                    m.set(55, v).unwrap();
                }
                if let Some(v) = nmic {
                    m.set_str(70, &v).unwrap();
                }
                m
            })
    }

    static BCD_FIELDS: [FieldSpec; 8] = [
        FieldSpec::llvar(2, "pan", 19, Charset::Numeric),
        FieldSpec::fixed(4, "amount", 12, Charset::Numeric),
        FieldSpec::fixed(22, "entry mode", 3, Charset::Numeric).left(),
        FieldSpec::fixed(23, "sequence", 3, Charset::Numeric),
        FieldSpec::llvar(35, "track2", 37, Charset::Track2),
        FieldSpec::fixed(41, "tid", 8, Charset::Text),
        FieldSpec::lllvar(55, "icc", 255, Charset::Binary),
        FieldSpec::lllvar(60, "reserved", 17, Charset::Numeric),
    ];
    static BCD: Spec = Spec {
        name: "test-bcd",
        bitmap: BitmapEncoding::Binary,
        digits: Digits::Bcd,
        prefix: Prefix::Bcd,
        fields: &BCD_FIELDS,
        max_message_len: 4096,
    };

    /// A hand-assembled binary message: BCD MTI, BCD LL prefix counting
    /// digits with the odd PAN left-aligned, a right-aligned n3 and a
    /// left-aligned one, track 2 with its `D` nibble and `0` filler, an
    /// ASCII field and a binary LLL field whose BCD prefix counts bytes.
    #[test]
    fn bcd_fields_pack_as_binary_profiles_write_them() {
        let mut m = Message::new(Mti::FINANCIAL_REQUEST);
        m.set_str(2, "6212345678901234569").unwrap();
        m.set_str(4, "1234").unwrap();
        m.set_str(22, "051").unwrap();
        m.set_str(23, "1").unwrap();
        m.set_str(35, "6212345678901234569=2912").unwrap();
        m.set_str(41, "T1").unwrap();
        m.set(55, vec![0x9f, 0x26]).unwrap();
        m.set_str(60, "22000001").unwrap();
        let bytes = pack(&BCD, &m).unwrap();
        let mut want = hex::decode("02005000060020800210").unwrap();
        want.extend(hex::decode("1962123456789012345690").unwrap());
        want.extend(hex::decode("000000001234").unwrap());
        want.extend(hex::decode("0510").unwrap());
        want.extend(hex::decode("0001").unwrap());
        want.extend(hex::decode("246212345678901234569D2912").unwrap());
        want.extend(b"T1      ");
        want.extend(hex::decode("00029f26").unwrap());
        want.extend(hex::decode("000822000001").unwrap());
        assert_eq!(hex::encode(&bytes), hex::encode(&want));
        let back = unpack(&BCD, &bytes).unwrap();
        assert_eq!(back.get_str(35), Some("6212345678901234569=2912"));
        assert_eq!(back.get_str(4), Some("000000001234"));
        assert_eq!(back.get_str(23), Some("001"));
        assert_eq!(back.get_str(22), Some("051"));
        assert_eq!(back.get_str(2), Some("6212345678901234569"));
        assert_eq!(peek_mti(&BCD, &bytes), Some(Mti::FINANCIAL_REQUEST));
    }

    /// Binary length prefixes: one byte for LL, two big-endian for LLL,
    /// still bounded by the table.
    #[test]
    fn binary_length_prefixes() {
        static BIN_LEN: Spec = Spec {
            name: "test-binary-lengths",
            bitmap: BitmapEncoding::Binary,
            digits: Digits::Bcd,
            prefix: Prefix::Binary,
            fields: &BCD_FIELDS,
            max_message_len: 4096,
        };
        let mut m = Message::new(Mti::FINANCIAL_REQUEST);
        m.set_str(2, "123").unwrap();
        m.set(
            55,
            vec![0xaa; 300].into_iter().take(255).collect::<Vec<u8>>(),
        )
        .unwrap();
        let bytes = pack(&BIN_LEN, &m).unwrap();
        assert_eq!(&bytes[10..13], &[0x03, 0x12, 0x30], "LL 3 digits, BCD left");
        assert_eq!(&bytes[13..15], &[0x00, 0xff], "LLL 255 bytes");
        assert_eq!(unpack(&BIN_LEN, &bytes).unwrap(), m);
        let mut long = bytes.clone();
        long[10] = 20; // 20 digits > 19
        assert!(matches!(
            unpack(&BIN_LEN, &long),
            Err(CodecError::TooLong { field: 2, .. })
        ));
        let mut short = bytes;
        short.truncate(14);
        assert!(matches!(
            unpack(&BIN_LEN, &short),
            Err(CodecError::Truncated { .. })
        ));
    }

    #[test]
    fn bcd_rejects_bad_nibbles_fillers_and_prefixes() {
        let mut m = Message::new(Mti::FINANCIAL_REQUEST);
        m.set_str(2, "123").unwrap();
        let good = pack(&BCD, &m).unwrap();
        assert_eq!(hex::encode(&good), "02004000000000000000031230");
        let mut bad = good.clone();
        bad[11] = 0x1a; // a nibble that is not a digit
        assert!(matches!(
            unpack(&BCD, &bad),
            Err(CodecError::BadCharacter { field: 2, .. })
        ));
        let mut bad = good.clone();
        bad[12] = 0x35; // a filler nibble that is not 0
        assert!(matches!(
            unpack(&BCD, &bad),
            Err(CodecError::BadCharacter { field: 2, .. })
        ));
        let mut bad = good.clone();
        bad[10] = 0x0a; // a length prefix that is not BCD
        assert!(matches!(
            unpack(&BCD, &bad),
            Err(CodecError::BadLengthPrefix { field: 2, .. })
        ));
        let mut bad = good.clone();
        bad[10] = 0x20; // 20 digits > 19
        assert!(matches!(
            unpack(&BCD, &bad),
            Err(CodecError::TooLong { field: 2, .. })
        ));
        assert_eq!(unpack(&BCD, &[0x0a, 0x00]), Err(CodecError::BadMti));
        for cut in 0..good.len() {
            assert!(unpack(&BCD, &good[..cut]).is_err(), "cut at {cut}");
        }
    }

    proptest! {
        #[test]
        fn round_trip(msg in arb_message()) {
            for spec in [&BIN, &HEX] {
                let bytes = pack(spec, &msg).unwrap();
                prop_assert_eq!(&unpack(spec, &bytes).unwrap(), &msg);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = unpack(&BIN, &data);
            let _ = unpack(&HEX, &data);
        }

        /// The fuzz target's property on the real host profile: a valid
        /// header followed by arbitrary field bytes never panics, and what
        /// decodes round-trips.
        #[test]
        fn host_profile_decoder_round_trips_what_it_accepts(
            bitmap in proptest::collection::vec(any::<u8>(), 16),
            body in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            use crate::iso8583::profile::HOST_PROFILE;
            let mut data = b"0210".to_vec();
            data.extend_from_slice(&bitmap);
            data.extend_from_slice(&body);
            if let Ok(msg) = unpack(&HOST_PROFILE, &data) {
                let packed = pack(&HOST_PROFILE, &msg).unwrap();
                prop_assert_eq!(unpack(&HOST_PROFILE, &packed).unwrap(), msg);
            }
        }

        /// Whatever the BCD decoder accepts packs back to a message that
        /// decodes equal (the `cups` fuzz target's property).
        #[test]
        fn bcd_decoder_round_trips_what_it_accepts(
            bitmap in proptest::collection::vec(any::<u8>(), 8),
            body in proptest::collection::vec(any::<u8>(), 0..120),
        ) {
            let mut data = vec![0x02, 0x10];
            data.extend_from_slice(&bitmap);
            data.extend_from_slice(&body);
            if let Ok(msg) = unpack(&BCD, &data) {
                let packed = pack(&BCD, &msg).unwrap();
                prop_assert_eq!(unpack(&BCD, &packed).unwrap(), msg);
            }
        }

        #[test]
        fn mutated_valid_messages_never_panic(msg in arb_message(), pos in any::<usize>(), byte in any::<u8>()) {
            let mut bytes = pack(&BIN, &msg).unwrap();
            let i = pos % bytes.len();
            bytes[i] = byte;
            let _ = unpack(&BIN, &bytes);
        }
    }
}

//! BER-TLV as EMV uses it (EMV Book 3, Annex B), written in-house.
//!
//! Own code rather than a crate because EMV needs a few things general BER
//! parsers do not give: tolerance of `00`/`FF` filler bytes between objects,
//! a hard bound on tag size (3 bytes) and on nesting depth (card data is
//! hostile input), and an order-preserving tree that can be re-encoded byte
//! for byte for field 55 and for the static data of offline authentication.

use std::fmt;

use thiserror::Error;

/// Deepest nesting we accept. Real EMV templates nest at most 3-4 levels
/// (6F > A5 > BF0C > 61); the bound keeps a malicious card from driving the
/// recursive parser into a stack overflow.
const MAX_DEPTH: usize = 8;

/// Why a byte string is not valid BER-TLV.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TlvError {
    /// The input ended inside a tag, a length or a value.
    #[error("TLV truncated at offset {offset}: {what}")]
    Truncated {
        /// Byte offset where the missing data should start.
        offset: usize,
        /// Which part was cut off.
        what: &'static str,
    },
    /// A tag longer than the 3 bytes EMV allows.
    #[error("TLV tag at offset {offset} is longer than 3 bytes")]
    TagTooLong {
        /// Byte offset of the tag.
        offset: usize,
    },
    /// Indefinite length (0x80) or a length field longer than 3 bytes.
    #[error("TLV length form 0x{byte:02X} at offset {offset} is not allowed in EMV")]
    BadLength {
        /// Byte offset of the length.
        offset: usize,
        /// The first length byte.
        byte: u8,
    },
    /// Constructed objects nested deeper than [`MAX_DEPTH`].
    #[error("TLV nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// A BER-TLV tag, kept as its raw 1-3 bytes packed big-endian in a `u32`
/// (e.g. `0x9F02`), because that is how EMV documents write them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u32);

impl Tag {
    /// The tag's encoded bytes (1 to 3).
    pub fn to_bytes(self) -> Vec<u8> {
        let v = self.0;
        if v > 0xFFFF {
            vec![(v >> 16) as u8, (v >> 8) as u8, v as u8]
        } else if v > 0xFF {
            vec![(v >> 8) as u8, v as u8]
        } else {
            vec![v as u8]
        }
    }

    /// First byte of the encoding: it carries the class and constructed bit.
    fn first_byte(self) -> u8 {
        let v = self.0;
        if v > 0xFFFF {
            (v >> 16) as u8
        } else if v > 0xFF {
            (v >> 8) as u8
        } else {
            v as u8
        }
    }

    /// Constructed tags (bit 6 of the first byte) hold nested TLV objects.
    pub fn is_constructed(self) -> bool {
        self.first_byte() & 0x20 != 0
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}", self.0)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}", self.0)
    }
}

/// One TLV object. Constructed objects keep their parsed children; the raw
/// value is re-created on encoding, which for DER-shaped EMV data is the
/// same bytes the card sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Tlv {
    /// The tag.
    pub tag: Tag,
    /// Value: bytes for primitive tags, children for constructed ones.
    pub value: Value,
}

/// Contents of a [`Tlv`].
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    /// Raw bytes of a primitive object.
    Primitive(Vec<u8>),
    /// Children of a constructed object, in card order.
    Constructed(Vec<Tlv>),
}

impl fmt::Debug for Tlv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Value::Primitive(v) => write!(f, "{}={}", self.tag, hex::encode_upper(v)),
            Value::Constructed(c) => write!(f, "{}{:?}", self.tag, c),
        }
    }
}

impl Tlv {
    /// A primitive object.
    pub fn primitive(tag: u32, value: impl Into<Vec<u8>>) -> Tlv {
        Tlv {
            tag: Tag(tag),
            value: Value::Primitive(value.into()),
        }
    }

    /// A constructed object from children.
    pub fn constructed(tag: u32, children: Vec<Tlv>) -> Tlv {
        Tlv {
            tag: Tag(tag),
            value: Value::Constructed(children),
        }
    }

    /// Primitive value bytes, or `None` for a constructed object.
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.value {
            Value::Primitive(v) => Some(v),
            Value::Constructed(_) => None,
        }
    }

    /// Children, empty for a primitive object.
    pub fn children(&self) -> &[Tlv] {
        match &self.value {
            Value::Primitive(_) => &[],
            Value::Constructed(c) => c,
        }
    }

    /// Depth-first search for the first object with `tag`, this one included.
    pub fn find(&self, tag: u32) -> Option<&Tlv> {
        if self.tag.0 == tag {
            return Some(self);
        }
        find(self.children(), tag)
    }

    /// Encoded value bytes (for constructed: the encoded children).
    pub fn value_bytes(&self) -> Vec<u8> {
        match &self.value {
            Value::Primitive(v) => v.clone(),
            Value::Constructed(c) => encode_all(c),
        }
    }

    /// The full encoding: tag, length, value.
    pub fn to_bytes(&self) -> Vec<u8> {
        let value = self.value_bytes();
        let mut out = self.tag.to_bytes();
        out.extend(encode_length(value.len()));
        out.extend(value);
        out
    }
}

/// Depth-first search through a list of objects.
pub fn find(list: &[Tlv], tag: u32) -> Option<&Tlv> {
    list.iter().find_map(|t| t.find(tag))
}

/// Value bytes of the first primitive object with `tag` anywhere in `list`.
pub fn find_bytes(list: &[Tlv], tag: u32) -> Option<&[u8]> {
    find(list, tag).and_then(Tlv::bytes)
}

/// Encodes a list of objects one after another.
pub fn encode_all(list: &[Tlv]) -> Vec<u8> {
    list.iter().flat_map(Tlv::to_bytes).collect()
}

/// BER definite length: short form below 128, then 81 xx / 82 xx xx / 83 ....
pub fn encode_length(len: usize) -> Vec<u8> {
    if len < 0x80 {
        vec![len as u8]
    } else if len <= 0xFF {
        vec![0x81, len as u8]
    } else if len <= 0xFFFF {
        vec![0x82, (len >> 8) as u8, len as u8]
    } else {
        vec![0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]
    }
}

/// Parses a tag at `pos`, returning it and the offset after it.
pub fn parse_tag(data: &[u8], pos: usize) -> Result<(Tag, usize), TlvError> {
    let first = *data.get(pos).ok_or(TlvError::Truncated {
        offset: pos,
        what: "tag",
    })?;
    let mut value = u32::from(first);
    let mut at = pos + 1;
    if first & 0x1F == 0x1F {
        loop {
            let b = *data.get(at).ok_or(TlvError::Truncated {
                offset: at,
                what: "tag",
            })?;
            value = (value << 8) | u32::from(b);
            at += 1;
            if at - pos > 3 {
                return Err(TlvError::TagTooLong { offset: pos });
            }
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    Ok((Tag(value), at))
}

/// Parses a definite length at `pos`, returning it and the offset after it.
pub fn parse_length(data: &[u8], pos: usize) -> Result<(usize, usize), TlvError> {
    let first = *data.get(pos).ok_or(TlvError::Truncated {
        offset: pos,
        what: "length",
    })?;
    if first < 0x80 {
        return Ok((usize::from(first), pos + 1));
    }
    let count = usize::from(first & 0x7F);
    if count == 0 || count > 3 {
        return Err(TlvError::BadLength {
            offset: pos,
            byte: first,
        });
    }
    let bytes = data
        .get(pos + 1..pos + 1 + count)
        .ok_or(TlvError::Truncated {
            offset: pos + 1,
            what: "length",
        })?;
    let len = bytes
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    Ok((len, pos + 1 + count))
}

/// Parses a sequence of TLV objects, skipping the `00`/`FF` filler bytes
/// EMV allows before, between and after objects (Book 3, B1).
pub fn parse_all(data: &[u8]) -> Result<Vec<Tlv>, TlvError> {
    parse_level(data, 0)
}

/// Parses exactly one TLV object and rejects trailing non-filler bytes;
/// used for response templates such as `6F`, `70`, `77`, `80`.
pub fn parse_one(data: &[u8]) -> Result<Tlv, TlvError> {
    let mut list = parse_all(data)?;
    match list.len() {
        1 => Ok(list.remove(0)),
        0 => Err(TlvError::Truncated {
            offset: 0,
            what: "object",
        }),
        _ => Err(TlvError::Truncated {
            offset: data.len(),
            what: "single object (found several)",
        }),
    }
}

fn parse_level(data: &[u8], depth: usize) -> Result<Vec<Tlv>, TlvError> {
    if depth > MAX_DEPTH {
        return Err(TlvError::TooDeep);
    }
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        if data.get(pos).is_some_and(|b| *b == 0x00 || *b == 0xFF) {
            pos += 1;
            continue;
        }
        let (tag, after_tag) = parse_tag(data, pos)?;
        let (len, after_len) = parse_length(data, after_tag)?;
        let end = after_len.checked_add(len).ok_or(TlvError::Truncated {
            offset: after_len,
            what: "value",
        })?;
        let value = data.get(after_len..end).ok_or(TlvError::Truncated {
            offset: after_len,
            what: "value",
        })?;
        let value = if tag.is_constructed() {
            Value::Constructed(parse_level(value, depth + 1)?)
        } else {
            Value::Primitive(value.to_vec())
        };
        out.push(Tlv { tag, value });
        pos = end;
    }
    Ok(out)
}

/// Walks a byte string that is a *template value* and yields (tag, raw value)
/// pairs of the primitive objects at every level, in order. Used to collect
/// record data into the kernel's data store.
pub fn flatten(list: &[Tlv]) -> Vec<(Tag, &[u8])> {
    let mut out = Vec::new();
    for t in list {
        match &t.value {
            Value::Primitive(v) => out.push((t.tag, v.as_slice())),
            Value::Constructed(c) => out.extend(flatten(c)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fci_template() {
        // FCI of a PSE as printed in EMV Book 1, 11.3.4 shape:
        // 6F { 84 "1PAY.SYS.DDF01", A5 { 88 01 } }
        let bytes = hex::decode("6F15840E315041592E5359532E4444463031A503880101").unwrap();
        let t = parse_one(&bytes).unwrap();
        assert_eq!(t.tag, Tag(0x6F));
        assert_eq!(t.find(0x84).unwrap().bytes().unwrap(), b"1PAY.SYS.DDF01");
        assert_eq!(t.find(0x88).unwrap().bytes().unwrap(), &[0x01]);
        assert_eq!(t.to_bytes(), bytes);
    }

    #[test]
    fn multi_byte_tags_and_long_lengths() {
        let value = vec![0xAB; 200];
        let t = Tlv::primitive(0x9F4B, value.clone());
        let enc = t.to_bytes();
        assert_eq!(&enc[..4], &[0x9F, 0x4B, 0x81, 200]);
        let back = parse_one(&enc).unwrap();
        assert_eq!(back.bytes().unwrap(), value.as_slice());
        let big = Tlv::primitive(0xDF8101, vec![1; 300]).to_bytes();
        assert_eq!(&big[..6], &[0xDF, 0x81, 0x01, 0x82, 0x01, 0x2C]);
        assert_eq!(parse_one(&big).unwrap().tag, Tag(0xDF8101));
    }

    #[test]
    fn skips_filler_bytes() {
        let list = parse_all(&hex::decode("00005A0841111111111111110000FF").unwrap()).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].tag, Tag(0x5A));
    }

    #[test]
    fn rejects_malformed() {
        // value shorter than declared
        assert!(matches!(
            parse_all(&[0x5A, 0x08, 0x41]),
            Err(TlvError::Truncated { .. })
        ));
        // indefinite length
        assert!(matches!(
            parse_all(&[0x70, 0x80, 0x00, 0x00]),
            Err(TlvError::BadLength { .. })
        ));
        // four-byte tag
        assert!(matches!(
            parse_all(&[0x9F, 0x81, 0x81, 0x01, 0x00]),
            Err(TlvError::TagTooLong { .. })
        ));
        // tag cut in the middle
        assert!(parse_all(&[0x9F]).is_err());
        // length field cut
        assert!(parse_all(&[0x9F, 0x02, 0x82, 0x01]).is_err());
    }

    #[test]
    fn depth_is_bounded() {
        let mut data = vec![0x01, 0x00];
        for _ in 0..40 {
            let mut outer = vec![0x70];
            outer.extend(encode_length(data.len()));
            outer.extend(data);
            data = outer;
        }
        assert_eq!(parse_all(&data), Err(TlvError::TooDeep));
    }

    #[test]
    fn flatten_collects_primitives_in_order() {
        let t = parse_all(&hex::decode("70095A0212349F3602000C").unwrap()).unwrap();
        let flat = flatten(&t);
        assert_eq!(flat.len(), 2);
        assert_eq!(flat[0].0, Tag(0x5A));
        assert_eq!(flat[1].1, &[0x00, 0x0C]);
    }
}

//! Data Object Lists (EMV Book 3, 5.4): the card names the data it wants
//! (PDOL, CDOL1, CDOL2, DDOL, TDOL) as tag+length pairs and the terminal
//! answers with the concatenated values, padded or cut to those lengths.

use std::collections::BTreeMap;

use thiserror::Error;

use super::tags::{self, Format};
use super::tlv::{parse_length, parse_tag, Tag, TlvError};

/// A DOL that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DolError {
    /// A tag or length inside the DOL is malformed.
    #[error("malformed DOL: {0}")]
    Malformed(#[from] TlvError),
    /// The DOL asks for more data than fits in one command APDU.
    #[error("DOL asks for {0} bytes, more than a short APDU can carry")]
    TooLong(usize),
}

/// One requested element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DolEntry {
    /// Requested tag.
    pub tag: Tag,
    /// Length the card wants.
    pub len: usize,
}

/// Parses a DOL (tags with lengths, no values).
pub fn parse(dol: &[u8]) -> Result<Vec<DolEntry>, DolError> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut total = 0usize;
    while pos < dol.len() {
        let (tag, after_tag) = parse_tag(dol, pos)?;
        let (len, after_len) = parse_length(dol, after_tag)?;
        total = total.saturating_add(len);
        if total > 252 {
            return Err(DolError::TooLong(total));
        }
        out.push(DolEntry { tag, len });
        pos = after_len;
    }
    Ok(out)
}

/// Where DOL values come from: the kernel's store of terminal and card data.
pub trait DataSource {
    /// The current value of `tag`, if known.
    fn value(&self, tag: Tag) -> Option<&[u8]>;
}

/// The kernel's data store: terminal data, card data and transaction data by
/// tag, so DOLs, field 55 and diagnostics all see the same values.
#[derive(Debug, Clone, Default)]
pub struct DataStore {
    map: BTreeMap<Tag, Vec<u8>>,
}

impl DataStore {
    /// Empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets or replaces a value.
    pub fn set(&mut self, tag: u32, value: impl Into<Vec<u8>>) {
        self.map.insert(Tag(tag), value.into());
    }

    /// Sets a value only if it is not present yet; the card must not be able
    /// to overwrite data it already sent (Book 3, 7.5: duplicates are an
    /// error the kernel reports separately).
    pub fn set_if_absent(&mut self, tag: Tag, value: &[u8]) -> bool {
        if self.map.contains_key(&tag) {
            return false;
        }
        self.map.insert(tag, value.to_vec());
        true
    }

    /// Value of `tag`.
    pub fn get(&self, tag: u32) -> Option<&[u8]> {
        self.map.get(&Tag(tag)).map(Vec::as_slice)
    }

    /// Whether `tag` is present.
    pub fn has(&self, tag: u32) -> bool {
        self.map.contains_key(&Tag(tag))
    }

    /// Removes a value (used to zero sensitive data early).
    pub fn remove(&mut self, tag: u32) -> Option<Vec<u8>> {
        self.map.remove(&Tag(tag))
    }
}

impl DataSource for DataStore {
    fn value(&self, tag: Tag) -> Option<&[u8]> {
        self.map.get(&tag).map(Vec::as_slice)
    }
}

impl Drop for DataStore {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for v in self.map.values_mut() {
            v.zeroize();
        }
    }
}

/// Fits one value to the length the DOL asks for (Book 3, 5.4):
/// numeric is right-justified (cut or zero-padded on the left), compressed
/// numeric is padded with `F` on the right, everything else is cut or
/// zero-padded on the right.
pub fn fit(value: &[u8], len: usize, format: Format) -> Vec<u8> {
    use std::cmp::Ordering;
    match value.len().cmp(&len) {
        Ordering::Equal => value.to_vec(),
        Ordering::Greater => match format {
            Format::N => value[value.len() - len..].to_vec(),
            _ => value[..len].to_vec(),
        },
        Ordering::Less => {
            let pad = len - value.len();
            match format {
                Format::N => {
                    let mut out = vec![0u8; pad];
                    out.extend_from_slice(value);
                    out
                }
                Format::Cn => {
                    let mut out = value.to_vec();
                    out.resize(len, 0xFF);
                    out
                }
                _ => {
                    let mut out = value.to_vec();
                    out.resize(len, 0x00);
                    out
                }
            }
        }
    }
}

/// Builds the data the card asked for. Unknown or missing elements and
/// constructed tags are sent as zeros of the requested length.
pub fn build(entries: &[DolEntry], source: &dyn DataSource) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        match source.value(e.tag) {
            Some(v) if !e.tag.is_constructed() => {
                out.extend(fit(v, e.len, tags::format(e.tag)));
            }
            _ => out.extend(std::iter::repeat_n(0u8, e.len)),
        }
    }
    out
}

/// Splits DOL-related data back into (tag, value) pairs; the virtual card
/// uses it to read what the terminal sent against its own DOL.
pub fn split<'a>(entries: &[DolEntry], data: &'a [u8]) -> Option<Vec<(Tag, &'a [u8])>> {
    let mut pos = 0usize;
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let end = pos.checked_add(e.len)?;
        out.push((e.tag, data.get(pos..end)?));
        pos = end;
    }
    (pos == data.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cdol1() {
        // A typical CDOL1 (Visa VSDC shape).
        let dol = hex::decode("9F02069F03069F1A0295055F2A029A039C019F3704").unwrap();
        let e = parse(&dol).unwrap();
        assert_eq!(e.len(), 8);
        assert_eq!(
            e[0],
            DolEntry {
                tag: Tag(0x9F02),
                len: 6
            }
        );
        assert_eq!(
            e[7],
            DolEntry {
                tag: Tag(0x9F37),
                len: 4
            }
        );
        assert_eq!(e.iter().map(|x| x.len).sum::<usize>(), 29);
    }

    #[test]
    fn builds_with_padding_rules() {
        let mut s = DataStore::new();
        s.set(0x9F02, hex::decode("000000001234").unwrap());
        s.set(0x5F2A, hex::decode("0978").unwrap());
        s.set(0x5A, hex::decode("4761739001010010").unwrap());
        s.set(0x50, b"VISA".to_vec());
        // 9F02 asked as 4 bytes (numeric: keep the rightmost), 5F2A as 3
        // (numeric: pad left), 5A as 10 (cn: pad F right), 50 as 2 (an: cut
        // right), 9F37 missing (zeros), 70 constructed (zeros).
        let dol = hex::decode("9F0204 5F2A03 5A0A 5002 9F3704 7001".replace(' ', "")).unwrap();
        let out = build(&parse(&dol).unwrap(), &s);
        assert_eq!(
            hex::encode_upper(out),
            "00001234".to_owned() + "000978" + "4761739001010010FFFF" + "5649" + "00000000" + "00"
        );
    }

    #[test]
    fn split_inverts_build() {
        let mut s = DataStore::new();
        s.set(0x9A, hex::decode("250101").unwrap());
        s.set(0x9C, vec![0x00]);
        let e = parse(&hex::decode("9A039C01").unwrap()).unwrap();
        let data = build(&e, &s);
        let parts = split(&e, &data).unwrap();
        assert_eq!(parts[0].1, &[0x25, 0x01, 0x01]);
        assert!(split(&e, &data[..3]).is_none());
    }

    #[test]
    fn rejects_oversized_and_malformed() {
        assert!(matches!(
            parse(&hex::decode("9F0281FF9F0281FF").unwrap()),
            Err(DolError::TooLong(_))
        ));
        assert!(parse(&[0x9F]).is_err());
    }
}

//! The journal's hash chain, as a till writes it and a head office checks
//! it: the one place the rule is written. Each entry's hash is SHA-256 over
//! the previous entry's hash and the entry's canonical text (sequence,
//! time, kind, reference, payload), so changing, removing or reordering any
//! entry breaks every hash after it. Anyone can verify the plain chain; the
//! till's MACs over it (store) need the till's key and stay at the till.

use crate::money::{Currency, Money};
use crate::report::ReportEvent;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A journal entry as the till stored it and as it travels to head office.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: i64,
    pub at_ms: i64,
    pub kind: String,
    pub reference: Option<String>,
    pub payload: String,
    pub prev_hash: String,
    pub hash: String,
}

/// How an entry fails to follow the one before it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// Not the next number: entries are missing, or come out of order.
    #[error("entry {got} does not follow entry {after}")]
    Gap { after: i64, got: i64 },
    /// It names another entry as the one before it.
    #[error("entry {seq} does not link to the entry before it")]
    Link { seq: i64 },
    /// Its hash is not the hash of its content.
    #[error("entry {seq}'s hash is not the hash of its content")]
    Hash { seq: i64 },
}

/// The hash rule.
pub fn entry_hash(
    prev_hash: &str,
    seq: i64,
    at_ms: i64,
    kind: &str,
    reference: Option<&str>,
    payload: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(seq.to_string().as_bytes());
    h.update(b"\n");
    h.update(at_ms.to_string().as_bytes());
    h.update(b"\n");
    h.update(kind.as_bytes());
    h.update(b"\n");
    h.update(reference.unwrap_or("").as_bytes());
    h.update(b"\n");
    h.update(payload.as_bytes());
    hex::encode(h.finalize())
}

impl Entry {
    /// The hash this entry's content gives.
    pub fn computed_hash(&self) -> String {
        entry_hash(
            &self.prev_hash,
            self.seq,
            self.at_ms,
            &self.kind,
            self.reference.as_deref(),
            &self.payload,
        )
    }

    /// Whether this entry follows `(seq, hash)` of the one before it
    /// (`(0, GENESIS)` before the first) and is what its hash says.
    pub fn follows(&self, after_seq: i64, after_hash: &str) -> Result<(), ChainBreak> {
        if self.seq != after_seq + 1 {
            return Err(ChainBreak::Gap {
                after: after_seq,
                got: self.seq,
            });
        }
        if self.prev_hash != after_hash {
            return Err(ChainBreak::Link { seq: self.seq });
        }
        if self.computed_hash() != self.hash {
            return Err(ChainBreak::Hash { seq: self.seq });
        }
        Ok(())
    }
}

/// Kinds of cash movement that are not sales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CashMovement {
    In,
    Out,
    NoSale,
}

impl CashMovement {
    pub fn as_str(self) -> &'static str {
        match self {
            CashMovement::In => "in",
            CashMovement::Out => "out",
            CashMovement::NoSale => "no_sale",
        }
    }
}

/// The payload of a `cash` entry. Written by the till, read back by head
/// office to total the period the way the till's Z report did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashEntry {
    pub kind: CashMovement,
    pub amount: i64,
    pub currency: Currency,
    pub cashier: u32,
    pub approved_by: Option<u32>,
    pub reason: String,
}

impl CashEntry {
    /// How the movement counts in the period's totals.
    pub fn event(&self) -> ReportEvent<'static> {
        let amount = Money {
            minor: self.amount,
            currency: self.currency,
        };
        match self.kind {
            CashMovement::In => ReportEvent::CashIn(amount),
            CashMovement::Out => ReportEvent::CashOut(amount),
            CashMovement::NoSale => ReportEvent::NoSale,
        }
    }
}

/// The payload of a `post_void` entry: which receipt was voided, by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoidEntry {
    pub receipt_no: String,
    pub approved_by: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(prev: &str, seq: i64, payload: &str) -> Entry {
        let hash = entry_hash(prev, seq, 1_000 * seq, "sale", Some("T01-1"), payload);
        Entry {
            seq,
            at_ms: 1_000 * seq,
            kind: "sale".into(),
            reference: Some("T01-1".into()),
            payload: payload.into(),
            prev_hash: prev.into(),
            hash,
        }
    }

    #[test]
    fn the_hash_is_sha256_of_the_canonical_text() {
        // sha256("0…0\n1\n1000\nsale\nT01-1\n{}"), computed independently
        // (Python hashlib).
        let e = entry(GENESIS, 1, "{}");
        assert_eq!(
            e.hash,
            "e8940513829ef5d2761f162ebecc192d0239ac65c7bdefd5b0167a89d4d09daf"
        );
    }

    #[test]
    fn a_chain_follows_and_each_break_is_named() {
        let a = entry(GENESIS, 1, "{}");
        let b = entry(&a.hash, 2, "{\"x\":1}");
        assert_eq!(a.follows(0, GENESIS), Ok(()));
        assert_eq!(b.follows(1, &a.hash), Ok(()));
        assert_eq!(
            b.follows(0, GENESIS),
            Err(ChainBreak::Gap { after: 0, got: 2 })
        );
        let other = entry(GENESIS, 1, "{\"y\":2}");
        assert_eq!(b.follows(1, &other.hash), Err(ChainBreak::Link { seq: 2 }));
        let mut changed = b.clone();
        changed.payload = "{\"x\":2}".into();
        assert_eq!(
            changed.follows(1, &a.hash),
            Err(ChainBreak::Hash { seq: 2 })
        );
    }
}

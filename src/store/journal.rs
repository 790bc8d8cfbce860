//! The append-only, hash-chained journal.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and the
//! entry's canonical text (sequence, time, kind, reference, payload), so
//! changing, removing or reordering any entry breaks every hash after it.
//! SQLite triggers refuse UPDATE and DELETE; the chain catches what goes
//! around them (a raw edit of the file, a dropped trigger).

use super::{Result, Store};
use rusqlite::{params, OptionalExtension, Transaction};
use sha2::{Digest, Sha256};
use tillpoint_core::cashier::{require, Action, Approval, Target};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A journal entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: i64,
    pub at_ms: i64,
    pub kind: String,
    pub reference: Option<String>,
    pub payload: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash rule: the one place it is written.
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

/// Appends an entry inside the caller's transaction; returns its sequence number.
pub(crate) fn append(
    tx: &Transaction<'_>,
    at_ms: i64,
    kind: &str,
    reference: Option<&str>,
    payload: &str,
) -> Result<i64> {
    let last: Option<(i64, String)> = tx
        .prepare_cached("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (seq, prev) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_string()),
    };
    let hash = entry_hash(&prev, seq, at_ms, kind, reference, payload);
    tx.prepare_cached("INSERT INTO journal(seq, at_ms, kind, ref, payload, prev_hash, hash) VALUES (?1,?2,?3,?4,?5,?6,?7)")?.execute(
        params![seq, at_ms, kind, reference, payload, prev, hash],
    )?;
    Ok(seq)
}

/// The hash of the journal's last entry (the genesis hash when empty).
pub(crate) fn head(conn: &rusqlite::Connection) -> Result<String> {
    Ok(conn
        .prepare_cached("SELECT hash FROM journal ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?
        .unwrap_or_else(|| GENESIS.to_string()))
}

/// The anchor a Z report prints: the first 16 hex digits of a hash.
pub fn anchor_of(hash: &str) -> String {
    hash.chars().take(16).collect()
}

/// What `--anchor` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorCheck {
    /// The anchor's entry is there, followed by the Z report that printed
    /// it (the entry number of that Z).
    Held { z_seq: i64 },
    /// No entry has that hash: the journal is not the one the Z was printed
    /// from (an older backup, a rewritten chain).
    Missing,
    /// The entry is there but the Z that printed the anchor is not after
    /// it: the journal was cut back.
    Cut { seq: i64 },
}

/// Where the chain first breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub seq: i64,
    pub reason: String,
}

impl Store {
    /// Walks the whole chain; `Ok(Ok(n))` with the number of entries, or the
    /// first broken entry.
    pub fn verify_journal(&self) -> Result<std::result::Result<i64, Broken>> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, at_ms, kind, ref, payload, prev_hash, hash FROM journal ORDER BY seq",
        )?;
        let mut rows = stmt.query([])?;
        let mut prev = GENESIS.to_string();
        let mut expected_seq = 1;
        let mut n = 0;
        while let Some(r) = rows.next()? {
            let e = Entry {
                seq: r.get(0)?,
                at_ms: r.get(1)?,
                kind: r.get(2)?,
                reference: r.get(3)?,
                payload: r.get(4)?,
                prev_hash: r.get(5)?,
                hash: r.get(6)?,
            };
            if e.seq != expected_seq {
                return Ok(Err(Broken {
                    seq: expected_seq,
                    reason: format!("entry {expected_seq} is missing (next is {})", e.seq),
                }));
            }
            if e.prev_hash != prev {
                return Ok(Err(Broken {
                    seq: e.seq,
                    reason: "does not link to the entry before it".into(),
                }));
            }
            let h = entry_hash(
                &e.prev_hash,
                e.seq,
                e.at_ms,
                &e.kind,
                e.reference.as_deref(),
                &e.payload,
            );
            if h != e.hash {
                return Ok(Err(Broken {
                    seq: e.seq,
                    reason: "its content does not match its hash (edited after it was written)"
                        .into(),
                }));
            }
            prev = e.hash;
            expected_seq += 1;
            n += 1;
        }
        Ok(Ok(n))
    }

    /// Proves the journal still holds the entry a Z report's anchor names,
    /// with that Z report right after it (so nothing was cut after it).
    /// The chain itself is proved by [`Store::verify_journal`].
    pub fn verify_anchor(&self, anchor: &str) -> Result<AnchorCheck> {
        let anchor = anchor.trim().to_ascii_lowercase();
        if anchor.len() != 16 || !anchor.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(AnchorCheck::Missing);
        }
        let seq: Option<i64> = if anchor == anchor_of(GENESIS) {
            Some(0)
        } else {
            self.conn
                .query_row(
                    "SELECT seq FROM journal WHERE substr(hash, 1, 16) = ?1 ORDER BY seq LIMIT 1",
                    [&anchor],
                    |r| r.get(0),
                )
                .optional()?
        };
        let Some(seq) = seq else {
            return Ok(AnchorCheck::Missing);
        };
        let next: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT kind, COALESCE(json_extract(payload, '$.chain_head'), '') FROM journal WHERE seq = ?1",
                [seq + 1],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(match next {
            Some((kind, head)) if kind == "z_report" && head == anchor => {
                AnchorCheck::Held { z_seq: seq + 1 }
            }
            _ => AnchorCheck::Cut { seq },
        })
    }

    /// Journals a change of the till's settings: who approved it and each
    /// key's old and new value (`(section, key, old, new)`).
    pub fn record_settings_change(
        &mut self,
        approval: &Approval,
        changes: &[(String, String, String, String)],
        at_ms: i64,
    ) -> Result<i64> {
        require(approval, Action::ChangeSettings, &Target::Till)?;
        #[derive(serde::Serialize)]
        struct Change<'a> {
            section: &'a str,
            key: &'a str,
            old: &'a str,
            new: &'a str,
        }
        #[derive(serde::Serialize)]
        struct Payload<'a> {
            approved_by: u32,
            changes: Vec<Change<'a>>,
        }
        let payload = super::to_json(&Payload {
            approved_by: approval.approver(),
            changes: changes
                .iter()
                .map(|(section, key, old, new)| Change {
                    section,
                    key,
                    old,
                    new,
                })
                .collect(),
        })?;
        let tx = crate::begin_write(&mut self.conn)?;
        let seq = append(&tx, at_ms, "settings", None, &payload)?;
        tx.commit()?;
        Ok(seq)
    }

    /// Reads one entry (for diagnostics and tests).
    pub fn journal_entry(&self, seq: i64) -> Result<Option<Entry>> {
        Ok(self
            .conn
            .query_row(
                "SELECT seq, at_ms, kind, ref, payload, prev_hash, hash FROM journal WHERE seq = ?1",
                [seq],
                |r| {
                    Ok(Entry {
                        seq: r.get(0)?,
                        at_ms: r.get(1)?,
                        kind: r.get(2)?,
                        reference: r.get(3)?,
                        payload: r.get(4)?,
                        prev_hash: r.get(5)?,
                        hash: r.get(6)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn journal_len(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM journal", [], |r| r.get(0))?)
    }
}

//! The append-only, hash-chained journal.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and the
//! entry's canonical text (sequence, time, kind, reference, payload), so
//! changing, removing or reordering any entry breaks every hash after it.
//! SQLite triggers refuse UPDATE and DELETE; the chain catches what goes
//! around them (a raw edit of the file, a dropped trigger).
//!
//! The plain chain can be recomputed by anyone who edits the file, so each
//! entry also carries an HMAC-SHA-256 of its hash under the journal key
//! (`journal.key`, sealed by the key-encryption key outside the data
//! directory): without the key a recomputed chain cannot carry the right
//! MACs. A head office verifies the plain chain without the key. Entries
//! written before the key existed keep their links and have no MAC; a
//! `journal_keyed` entry ("keyed from entry N", itself MAC'd) starts the
//! MACs, and every entry from it on must carry one. Old entries are never
//! re-chained.

use super::{Result, Store};
use hmac::{Hmac, Mac};
use rusqlite::{params, OptionalExtension, Transaction};
use sha2::Sha256;
use tillpoint_core::cashier::{require, Action, Approval, Target};
use zeroize::Zeroizing;

/// The kind of the entry from which every entry carries a MAC.
pub const KEYED: &str = "journal_keyed";

/// The journal's HMAC key. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct JournalKey {
    key: Zeroizing<[u8; 32]>,
    /// Made just now (no journal entry can carry it yet), so a journal with
    /// entries but no `journal_keyed` entry is keyed from here on rather
    /// than taken for one whose keyed part was cut away.
    fresh: bool,
}

impl std::fmt::Debug for JournalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JournalKey(<redacted>)")
    }
}

impl JournalKey {
    pub fn new(key: Zeroizing<[u8; 32]>, fresh: bool) -> JournalKey {
        JournalKey { key, fresh }
    }

    /// The MAC of an entry: HMAC-SHA-256 over its (hex) hash, which
    /// already covers its content and the entry before it.
    pub fn mac(&self, hash: &str) -> String {
        // HMAC takes a key of any length; 32 bytes never fails.
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key[..])
            .unwrap_or_else(|_| unreachable_key());
        m.update(b"tillpoint-journal-mac-v1\n");
        m.update(hash.as_bytes());
        hex::encode(m.finalize().into_bytes())
    }
}

#[allow(clippy::panic)] // HMAC accepts every key length: never reached
fn unreachable_key() -> Hmac<Sha256> {
    panic!("HMAC-SHA-256 refused a 32-byte key")
}

pub use tillpoint_core::journal::{entry_hash, Entry, GENESIS};

/// Appends an entry inside the caller's transaction; returns its sequence
/// number. The entry carries a MAC when the store has a journal `key`.
pub(crate) fn append(
    tx: &Transaction<'_>,
    key: Option<&JournalKey>,
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
    let mac = key.map(|k| k.mac(&hash));
    tx.prepare_cached("INSERT INTO journal(seq, at_ms, kind, ref, payload, prev_hash, hash, mac) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)")?.execute(
        params![seq, at_ms, kind, reference, payload, prev, hash, mac],
    )?;
    Ok(seq)
}

/// Starts the MACs when the store has a key and its journal none yet: a
/// `journal_keyed` entry, "keyed from entry N" with N its own number. An
/// existing key with a journal that has entries but no such entry is left
/// alone: that journal lost its keyed part, and the check says so.
pub(crate) fn start_keying(
    conn: &mut rusqlite::Connection,
    key: &JournalKey,
    at_ms: i64,
) -> Result<()> {
    let keyed: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM journal WHERE kind = ?1)",
        [KEYED],
        |r| r.get(0),
    )?;
    let entries: i64 = conn.query_row("SELECT COUNT(*) FROM journal", [], |r| r.get(0))?;
    if keyed || (entries > 0 && !key.fresh) {
        return Ok(());
    }
    let tx = crate::begin_write(conn)?;
    let from: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM journal", [], |r| {
        r.get(0)
    })?;
    let payload = format!(r#"{{"from":{from}}}"#);
    append(&tx, Some(key), at_ms, KEYED, None, &payload)?;
    tx.commit()?;
    Ok(())
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
            "SELECT seq, at_ms, kind, ref, payload, prev_hash, hash, mac FROM journal ORDER BY seq",
        )?;
        let mut rows = stmt.query([])?;
        let mut prev = GENESIS.to_string();
        let mut expected_seq = 1;
        let mut n = 0;
        let key = self.settings.journal_key.as_ref();
        let mut keyed = false;
        while let Some(r) = rows.next()? {
            let mac: Option<String> = r.get(7)?;
            let e = entry_row(r)?;
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
            if let Some(key) = key {
                keyed |= e.kind == KEYED;
                if keyed && mac.as_deref() != Some(key.mac(&e.hash).as_str()) {
                    return Ok(Err(Broken {
                        seq: e.seq,
                        reason: match mac {
                            None => "has no MAC though the journal is keyed (written around the till)".into(),
                            Some(_) => "its MAC does not match (the chain was recomputed without the journal key)".into(),
                        },
                    }));
                }
            }
            prev = e.hash;
            expected_seq += 1;
            n += 1;
        }
        if key.is_some() && !keyed && n > 0 {
            return Ok(Err(Broken {
                seq: 1,
                reason: "the journal's keyed part is gone: no entry says it is keyed, though the till has a journal key".into(),
            }));
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
        let seq = append(
            &tx,
            self.settings.journal_key.as_ref(),
            at_ms,
            "settings",
            None,
            &payload,
        )?;
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
                entry_row,
            )
            .optional()?)
    }

    pub fn journal_len(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM journal", [], |r| r.get(0))?)
    }
}

fn entry_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    Ok(Entry {
        seq: r.get(0)?,
        at_ms: r.get(1)?,
        kind: r.get(2)?,
        reference: r.get(3)?,
        payload: r.get(4)?,
        prev_hash: r.get(5)?,
        hash: r.get(6)?,
    })
}

/// Reads the journal on its own connection to the till's database, so a
/// worker sending it elsewhere (head office) never holds the till's store
/// while it waits on the network. WAL lets it read beside the till's writes.
pub struct JournalReader {
    conn: rusqlite::Connection,
}

impl JournalReader {
    pub fn open(path: &std::path::Path) -> Result<JournalReader> {
        Ok(JournalReader {
            conn: super::open_connection(path)?,
        })
    }

    /// Up to `limit` entries after entry `seq`, in order.
    pub fn after(&self, seq: i64, limit: usize) -> Result<Vec<Entry>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut st = self.conn.prepare_cached(
            "SELECT seq, at_ms, kind, ref, payload, prev_hash, hash FROM journal WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = st.query_map(params![seq, limit], entry_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The number of the last entry (0 for none) and its hash.
    pub fn head(&self) -> Result<(i64, String)> {
        Ok(self
            .conn
            .query_row(
                "SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .unwrap_or((0, GENESIS.to_string())))
    }

    /// The hash of entry `seq`, if the journal has it.
    pub fn hash_of(&self, seq: i64) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT hash FROM journal WHERE seq = ?1", [seq], |r| {
                r.get(0)
            })
            .optional()?)
    }
}

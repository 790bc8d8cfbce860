//! Ingest of a till's journal, exactly once: entries are stored keyed by
//! (shop, till, sequence) in the order the till wrote them, each checked to
//! follow the one before it by the journal's own hash rule. A repeat of an
//! entry held unchanged counts as a duplicate and changes nothing; an entry
//! that differs from the one held, skips ahead or breaks the chain is
//! refused, flagged for the owner, and nothing after it is stored.

use tillpoint_core::headoffice::{IngestReport, JournalHead, Refused};
use tillpoint_core::journal::Entry;
use tokio_postgres::Client;

use crate::db::HqError;
use crate::tills::TillId;

/// What head office holds of the till's journal.
pub async fn head(client: &Client, till: &TillId) -> Result<JournalHead, HqError> {
    let row = client
        .query_one(
            "SELECT last_seq, last_hash FROM tills WHERE shop_id = $1 AND till_id = $2",
            &[&till.shop, &till.till],
        )
        .await?;
    Ok(JournalHead {
        last_seq: row.get(0),
        last_hash: row.get(1),
    })
}

/// Stores `entries` (in the till's order) in one transaction.
pub async fn ingest(
    client: &mut Client,
    till: &TillId,
    entries: &[Entry],
) -> Result<IngestReport, HqError> {
    let tx = client.transaction().await?;
    // One ingest per till at a time: the row lock orders them.
    let row = tx
        .query_one(
            "SELECT last_seq, last_hash FROM tills WHERE shop_id = $1 AND till_id = $2 FOR UPDATE",
            &[&till.shop, &till.till],
        )
        .await?;
    let (mut last_seq, mut last_hash): (i64, String) = (row.get(0), row.get(1));
    let mut report = IngestReport {
        accepted: 0,
        duplicates: 0,
        last_seq,
        refused: None,
    };
    // What head office already holds of the entries resent, in one query.
    let resent: Vec<i64> = entries
        .iter()
        .map(|e| e.seq)
        .filter(|s| *s <= last_seq)
        .collect();
    let held: std::collections::HashMap<i64, String> = if resent.is_empty() {
        Default::default()
    } else {
        tx.query(
            "SELECT seq, hash FROM journal WHERE shop_id = $1 AND till_id = $2 AND seq = ANY($3)",
            &[&till.shop, &till.till, &resent],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
    };
    // The chain is checked in memory; the new entries go in one statement.
    let mut new: Vec<&Entry> = Vec::new();
    for e in entries {
        if e.seq <= last_seq && new.is_empty() {
            if held.get(&e.seq) == Some(&e.hash) && e.computed_hash() == e.hash {
                report.duplicates += 1;
                continue;
            }
            report.refused = Some(Refused {
                seq: e.seq,
                problem: format!(
                    "entry {} differs from the entry {} head office already holds",
                    e.seq, e.seq
                ),
            });
            break;
        }
        if let Err(b) = e.follows(last_seq, &last_hash) {
            report.refused = Some(Refused {
                seq: e.seq,
                problem: b.to_string(),
            });
            break;
        }
        last_seq = e.seq;
        last_hash.clone_from(&e.hash);
        new.push(e);
    }
    insert_entries(&tx, till, &new).await?;
    report.accepted = u32::try_from(new.len()).unwrap_or(u32::MAX);
    tx.execute(
        "UPDATE tills SET last_seq = $3, last_hash = $4, last_seen = now()
         WHERE shop_id = $1 AND till_id = $2",
        &[&till.shop, &till.till, &last_seq, &last_hash],
    )
    .await?;
    if let Some(r) = &report.refused {
        tracing::warn!(shop = %till.shop, till = %till.till, seq = r.seq, problem = %r.problem, "journal entry refused");
        tx.execute(
            "INSERT INTO till_flags (shop_id, till_id, seq, problem) VALUES ($1, $2, $3, $4)",
            &[&till.shop, &till.till, &r.seq, &r.problem],
        )
        .await?;
    }
    tx.commit().await?;
    report.last_seq = last_seq;
    Ok(report)
}

/// The refusals flagged for a till, oldest first: (sequence, problem).
pub async fn flags(client: &Client, till: &TillId) -> Result<Vec<(i64, String)>, HqError> {
    Ok(client
        .query(
            "SELECT seq, problem FROM till_flags WHERE shop_id = $1 AND till_id = $2 ORDER BY id",
            &[&till.shop, &till.till],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// Inserts `entries` of `till` as they are, in one statement (arrays
/// unnested), so a batch costs one round trip whatever its size. The
/// bench's baseline is this same insert without the checks.
pub async fn insert_entries(
    tx: &impl tokio_postgres::GenericClient,
    till: &TillId,
    entries: &[&Entry],
) -> Result<(), HqError> {
    if entries.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&Entry) -> i64| entries.iter().map(|e| f(e)).collect::<Vec<i64>>();
    let text = |f: fn(&Entry) -> &str| entries.iter().map(|e| f(e)).collect::<Vec<&str>>();
    let refs: Vec<Option<&str>> = entries.iter().map(|e| e.reference.as_deref()).collect();
    tx.execute(
        "INSERT INTO journal (shop_id, till_id, seq, at_ms, kind, reference, payload, prev_hash, hash)
         SELECT $1, $2, * FROM UNNEST($3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])",
        &[
            &till.shop,
            &till.till,
            &col(|e| e.seq),
            &col(|e| e.at_ms),
            &text(|e| e.kind.as_str()),
            &refs,
            &text(|e| e.payload.as_str()),
            &text(|e| e.prev_hash.as_str()),
            &text(|e| e.hash.as_str()),
        ],
    )
    .await?;
    Ok(())
}

//! `tillpoint hq bench`: ingest of many tills' journals through the real
//! ingest path (row lock, duplicate check, chain check, one insert per
//! batch), against a bare batched insert of the same rows into the same
//! table in the same run. The journals are made up here, chained by the
//! journal's own rule, so every entry would pass at a real head office.

use std::time::{Duration, Instant};

use tillpoint_core::headoffice::MAX_BATCH;
use tillpoint_core::journal::{entry_hash, Entry, GENESIS};
use tokio_postgres::Client;

use crate::db::HqError;
use crate::ingest::{ingest, insert_entries};
use crate::tills::TillId;

/// The two rates of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IngestFigures {
    pub entries: usize,
    pub tills: usize,
    pub ingest: Duration,
    pub bare: Duration,
}

impl IngestFigures {
    pub fn ingest_rate(&self) -> f64 {
        self.entries as f64 / self.ingest.as_secs_f64().max(1e-9)
    }
    pub fn bare_rate(&self) -> f64 {
        self.entries as f64 / self.bare.as_secs_f64().max(1e-9)
    }
    /// Ingest's rate as a share of the bare insert's (goal: at least 0.5).
    pub fn ratio(&self) -> f64 {
        self.ingest_rate() / self.bare_rate().max(1e-9)
    }
}

/// One till's made-up journal of `n` sale-sized entries.
fn journal(till: usize, n: usize) -> Vec<Entry> {
    let mut prev = GENESIS.to_string();
    (1..=n)
        .map(|i| {
            let seq = i64::try_from(i).unwrap_or(i64::MAX);
            let at_ms = 1_790_000_000_000 + seq * 1_000;
            let reference = format!("T{till:03}-{i:06}");
            let payload = format!(
                "{{\"receipt_no\":\"{reference}\",\"kind\":\"sale\",\"cashier\":1001,\"currency\":\"CNY\",\
                 \"lines\":[{{\"sku\":\"00001\",\"name\":\"Coca-Cola 330ml\",\"qty\":{q},\"unit_price\":585}}],\
                 \"tenders\":[{{\"kind\":\"cash\",\"amount\":{t}}}],\"total\":{t}}}",
                q = 1 + i % 3,
                t = 585 * (1 + i % 3)
            );
            let hash = entry_hash(&prev, seq, at_ms, "sale", Some(&reference), &payload);
            Entry {
                seq,
                at_ms,
                kind: "sale".into(),
                reference: Some(reference),
                payload,
                prev_hash: std::mem::replace(&mut prev, hash.clone()),
                hash,
            }
        })
        .collect()
}

async fn make_tills(client: &Client, shop: &str, n: usize) -> Result<Vec<TillId>, HqError> {
    client
        .execute("INSERT INTO shops (id) VALUES ($1)", &[&shop])
        .await?;
    let mut out = Vec::new();
    for t in 0..n {
        let till = format!("B{t:03}");
        client
            .execute(
                "INSERT INTO tills (shop_id, till_id, last_hash) VALUES ($1, $2, $3)",
                &[&shop, &till, &GENESIS],
            )
            .await?;
        out.push(TillId {
            shop: shop.to_owned(),
            till,
        });
    }
    Ok(out)
}

/// `entries` entries from `tills` tills, sent round-robin in full batches
/// as the tills' senders would; then the same rows by bare insert under
/// another shop's name. `run` names this run's shops (they stay, so runs
/// can be compared in the database too).
pub async fn run(
    client: &mut Client,
    run: &str,
    entries: usize,
    tills: usize,
) -> Result<IngestFigures, HqError> {
    let tills = tills.max(1);
    let per_till = entries.div_ceil(tills);
    let journals: Vec<Vec<Entry>> = (0..tills).map(|t| journal(t, per_till)).collect();
    let total: usize = journals.iter().map(Vec::len).sum();

    let ids = make_tills(client, &format!("bench-{run}"), tills).await?;
    let started = Instant::now();
    for start in (0..per_till).step_by(MAX_BATCH) {
        for (id, j) in ids.iter().zip(&journals) {
            let batch = &j[start..(start + MAX_BATCH).min(j.len())];
            let r = ingest(client, id, batch).await?;
            if r.refused.is_some() || r.accepted as usize != batch.len() {
                return Err(HqError::Refused(format!("bench batch not taken: {r:?}")));
            }
        }
    }
    let ingest_took = started.elapsed();

    let bare_ids = make_tills(client, &format!("bare-{run}"), tills).await?;
    let started = Instant::now();
    for start in (0..per_till).step_by(MAX_BATCH) {
        for (id, j) in bare_ids.iter().zip(&journals) {
            let batch: Vec<&Entry> = j[start..(start + MAX_BATCH).min(j.len())].iter().collect();
            let tx = client.transaction().await?;
            insert_entries(&tx, id, &batch).await?;
            tx.commit().await?;
        }
    }
    Ok(IngestFigures {
        entries: total,
        tills,
        ingest: ingest_took,
        bare: started.elapsed(),
    })
}

//! The projector: what head office derives from the journals it holds.
//! It reads each till's entries in order from where it last stopped
//! (`tills.projected_seq`) and books sales, refunds and post-voids into
//! `sales` and `stock`, and each Z report beside head office's own count of
//! the same period, made with the till's own rule
//! ([`ReportTotals::apply`]), so "head office agrees with the Z report" is
//! a comparison of two results of one function, not of two programs.
//!
//! Ingest only stores entries; projecting runs after it, so a slow report
//! never slows a till's upload, and every derived row can be rebuilt from
//! the journal. An entry whose payload head office cannot read is flagged
//! and passed over: the chain vouched for it, so it stays in the journal.

use std::collections::HashMap;

use tillpoint_core::journal::{CashEntry, VoidEntry};
use tillpoint_core::report::{scheme_key, Report, ReportEvent, ReportTotals};
use tillpoint_core::sale::{SaleKind, SaleRecord};
use tokio_postgres::{Client, Transaction};

use crate::db::HqError;
use crate::tills::TillId;

/// Entries read per till per round: one transaction each.
const CHUNK: i64 = 1000;

/// Brings every till's projection up to its journal; returns how many
/// entries it read. Each till's chunk is one transaction under the till's
/// row lock, so two projectors (or a projector and a rebuild) never book
/// an entry twice.
pub async fn catch_up(client: &mut Client) -> Result<u64, HqError> {
    let behind: Vec<TillId> = client
        .query(
            "SELECT shop_id, till_id FROM tills WHERE projected_seq < last_seq ORDER BY 1, 2",
            &[],
        )
        .await?
        .iter()
        .map(|r| TillId {
            shop: r.get(0),
            till: r.get(1),
        })
        .collect();
    let mut read = 0;
    for till in behind {
        loop {
            let n = project_chunk(client, &till).await?;
            read += n;
            if n < CHUNK as u64 {
                break;
            }
        }
    }
    Ok(read)
}

struct Row {
    seq: i64,
    kind: String,
    payload: String,
}

async fn project_chunk(client: &mut Client, till: &TillId) -> Result<u64, HqError> {
    let tx = client.transaction().await?;
    let row = tx
        .query_one(
            "SELECT t.projected_seq, t.open_totals, s.timezone FROM tills t JOIN shops s ON s.id = t.shop_id
             WHERE t.shop_id = $1 AND t.till_id = $2 FOR UPDATE OF t",
            &[&till.shop, &till.till],
        )
        .await?;
    let from: i64 = row.get(0);
    let open: Option<String> = row.get(1);
    let timezone: String = row.get(2);
    let mut totals: Option<ReportTotals> = open.and_then(|t| serde_json::from_str(&t).ok());
    let rows: Vec<Row> = tx
        .query(
            "SELECT seq, kind, payload FROM journal WHERE shop_id = $1 AND till_id = $2 AND seq > $3
             ORDER BY seq LIMIT $4",
            &[&till.shop, &till.till, &from, &CHUNK],
        )
        .await?
        .iter()
        .map(|r| Row {
            seq: r.get(0),
            kind: r.get(1),
            payload: r.get(2),
        })
        .collect();
    let mut p = Projection {
        tx: &tx,
        till,
        timezone: &timezone,
        records: HashMap::new(),
    };
    let mut last = from;
    for r in &rows {
        if let Err(problem) = p.entry(r, &mut totals).await? {
            tracing::warn!(shop = %till.shop, till = %till.till, seq = r.seq, %problem, "entry not projected");
            tx.execute(
                "INSERT INTO till_flags (shop_id, till_id, seq, problem) VALUES ($1, $2, $3, $4)",
                &[&till.shop, &till.till, &r.seq, &problem],
            )
            .await?;
        }
        last = r.seq;
    }
    let open = totals.as_ref().map(serde_json::to_string).transpose();
    let open = open.map_err(|e| HqError::Refused(format!("totals: {e}")))?;
    tx.execute(
        "UPDATE tills SET projected_seq = $3, open_totals = $4 WHERE shop_id = $1 AND till_id = $2",
        &[&till.shop, &till.till, &last, &open],
    )
    .await?;
    tx.commit().await?;
    Ok(rows.len() as u64)
}

/// One chunk's work: the records it booked, for post-voids of sales in the
/// same chunk.
struct Projection<'a> {
    tx: &'a Transaction<'a>,
    till: &'a TillId,
    timezone: &'a str,
    records: HashMap<String, SaleRecord>,
}

/// A payload head office could not read, with why.
type Unreadable = String;

impl Projection<'_> {
    async fn entry(
        &mut self,
        r: &Row,
        totals: &mut Option<ReportTotals>,
    ) -> Result<Result<(), Unreadable>, HqError> {
        match r.kind.as_str() {
            "sale" | "refund" => {
                let rec: SaleRecord = match serde_json::from_str(&r.payload) {
                    Ok(rec) => rec,
                    Err(e) => return Ok(Err(format!("a {} head office cannot read: {e}", r.kind))),
                };
                if let Err(e) = open(totals, &rec).apply(ReportEvent::Completed(&rec)) {
                    return Ok(Err(format!("{}: {e}", rec.receipt_no)));
                }
                self.sale(r.seq, &rec).await?;
                self.records.insert(rec.receipt_no.clone(), rec);
            }
            "post_void" => {
                let v: VoidEntry = match serde_json::from_str(&r.payload) {
                    Ok(v) => v,
                    Err(e) => return Ok(Err(format!("a void head office cannot read: {e}"))),
                };
                let Some(rec) = self.record(&v.receipt_no).await? else {
                    return Ok(Err(format!(
                        "a void of {}, a receipt head office does not hold",
                        v.receipt_no
                    )));
                };
                if let Err(e) = open(totals, &rec).apply(ReportEvent::PostVoided(&rec)) {
                    return Ok(Err(format!("{}: {e}", rec.receipt_no)));
                }
                self.void(r.seq, &rec).await?;
            }
            "cash" => {
                let c: CashEntry = match serde_json::from_str(&r.payload) {
                    Ok(c) => c,
                    Err(e) => {
                        return Ok(Err(format!("a cash movement head office cannot read: {e}")))
                    }
                };
                let t = totals.get_or_insert_with(|| ReportTotals::new(c.currency, 0));
                if let Err(e) = t.apply(c.event()) {
                    return Ok(Err(format!("cash movement: {e}")));
                }
            }
            "z_report" => {
                let z: Report = match serde_json::from_str(&r.payload) {
                    Ok(z) => z,
                    Err(e) => return Ok(Err(format!("a Z report head office cannot read: {e}"))),
                };
                let counted = totals.take();
                self.z_report(r.seq, &z, counted).await?;
            }
            _ => {}
        }
        Ok(Ok(()))
    }

    /// A receipt booked earlier in this chunk or before it.
    async fn record(&self, receipt_no: &str) -> Result<Option<SaleRecord>, HqError> {
        if let Some(r) = self.records.get(receipt_no) {
            return Ok(Some(r.clone()));
        }
        let row = self
            .tx
            .query_opt(
                "SELECT record FROM sales WHERE shop_id = $1 AND till_id = $2 AND receipt_no = $3",
                &[&self.till.shop, &self.till.till, &receipt_no],
            )
            .await?;
        Ok(row.and_then(|r| serde_json::from_str(&r.get::<_, String>(0)).ok()))
    }

    async fn sale(&self, seq: i64, rec: &SaleRecord) -> Result<(), HqError> {
        let (shop, till) = (&self.till.shop, &self.till.till);
        let kind = match rec.kind {
            SaleKind::Sale => "sale",
            SaleKind::Refund => "refund",
        };
        let settled = rec.settled().map(|m| m.minor).unwrap_or(rec.total.minor);
        let json = serde_json::to_string(rec).map_err(|e| HqError::Refused(e.to_string()))?;
        self.tx
            .execute(
                "INSERT INTO sales (shop_id, till_id, receipt_no, seq, kind, at_ms, day, local_hour, cashier, currency, settled_minor, record)
                 VALUES ($1, $2, $3, $4, $5, $6, (to_timestamp($6::bigint / 1000.0) AT TIME ZONE $7)::date, $8, $9, $10, $11, $12)
                 ON CONFLICT DO NOTHING",
                &[
                    shop,
                    till,
                    &rec.receipt_no,
                    &seq,
                    &kind,
                    &rec.completed_at_ms,
                    &self.timezone,
                    &i16::from(rec.local_hour),
                    &i32::try_from(rec.cashier).unwrap_or(i32::MAX),
                    &rec.currency.code(),
                    &settled,
                    &json,
                ],
            )
            .await?;
        for (i, t) in rec.tenders.iter().enumerate() {
            let c = t.card.as_ref();
            let text = |f: fn(&tillpoint_core::tender::CardRef) -> &str| {
                c.map(f).filter(|s| !s.is_empty()).map(str::to_owned)
            };
            let scheme = t.kind.is_electronic().then(|| scheme_key(t));
            self.tx
                .execute(
                    "INSERT INTO sale_tenders (shop_id, till_id, receipt_no, idx, kind, amount_minor, scheme, stan, rrn, auth_code, order_id, pan_masked, offline)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING",
                    &[
                        shop,
                        till,
                        &rec.receipt_no,
                        &(i as i32),
                        &t.kind.as_str(),
                        &t.amount.minor,
                        &scheme,
                        &text(|c| &c.stan),
                        &text(|c| &c.rrn),
                        &text(|c| &c.auth_code),
                        &text(|c| &c.order_id),
                        &text(|c| &c.masked_pan),
                        &c.is_some_and(|c| c.offline),
                    ],
                )
                .await?;
        }
        let reason = kind;
        self.stock(rec, -1, reason).await
    }

    async fn void(&self, seq: i64, rec: &SaleRecord) -> Result<(), HqError> {
        self.tx
            .execute(
                "UPDATE sales SET voided_seq = $4 WHERE shop_id = $1 AND till_id = $2 AND receipt_no = $3",
                &[&self.till.shop, &self.till.till, &rec.receipt_no, &seq],
            )
            .await?;
        self.stock(rec, 1, "void").await
    }

    /// Moves stock by `sign` × each line's quantity: a sale (−1) takes its
    /// goods out, a refund's negative quantities put them back, a void (+1)
    /// undoes the sale it voids.
    async fn stock(&self, rec: &SaleRecord, sign: i64, reason: &str) -> Result<(), HqError> {
        let mut by_sku: Vec<(String, i64)> = Vec::new();
        for l in rec.lines.iter().filter(|l| !l.voided) {
            let q = sign.saturating_mul(l.qty.milli());
            match by_sku.iter_mut().find(|(s, _)| *s == l.sku) {
                Some((_, t)) => *t = t.saturating_add(q),
                None => by_sku.push((l.sku.clone(), q)),
            }
        }
        for (sku, qty) in by_sku.iter().filter(|(_, q)| *q != 0) {
            crate::stock::book(self.tx, &self.till.shop, sku, *qty, reason, &rec.receipt_no)
                .await?;
        }
        Ok(())
    }

    async fn z_report(
        &self,
        seq: i64,
        z: &Report,
        counted: Option<ReportTotals>,
    ) -> Result<(), HqError> {
        let Some(number) = z.z_number else {
            return Ok(());
        };
        let mut hq = counted.unwrap_or_else(|| ReportTotals::new(z.totals.currency, 0));
        // The float is what the till started the period with: head office
        // has no other record of it.
        hq.opening_float = z.totals.opening_float;
        let agrees = hq == z.totals;
        let json = |t: &ReportTotals| {
            serde_json::to_string(t).map_err(|e| HqError::Refused(format!("totals: {e}")))
        };
        if !agrees {
            tracing::warn!(shop = %self.till.shop, till = %self.till.till, z = number, "head office's count differs from the Z report");
        }
        self.tx
            .execute(
                "INSERT INTO z_reports (shop_id, till_id, z_number, seq, opened_at_ms, closed_at_ms, day, till_totals, hq_totals, till_net, hq_net, agrees)
                 VALUES ($1, $2, $3, $4, $5, $6, (to_timestamp($6::bigint / 1000.0) AT TIME ZONE $7)::date, $8, $9, $10, $11, $12)
                 ON CONFLICT DO NOTHING",
                &[
                    &self.till.shop,
                    &self.till.till,
                    &number,
                    &seq,
                    &z.opened_at_ms,
                    &z.closed_at_ms,
                    &self.timezone,
                    &json(&z.totals)?,
                    &json(&hq)?,
                    &z.totals.net(),
                    &hq.net(),
                    &agrees,
                ],
            )
            .await?;
        Ok(())
    }
}

/// The open period's totals, begun with the record's currency.
fn open<'t>(totals: &'t mut Option<ReportTotals>, rec: &SaleRecord) -> &'t mut ReportTotals {
    totals.get_or_insert_with(|| ReportTotals::new(rec.currency, 0))
}

/// Projects for as long as the server runs, on its own connection: at
/// once after an ingest, and every few seconds anyway (a wake-up lost
/// while a round ran, or entries stored by another head-office process).
pub async fn run(mut client: Client, state: std::sync::Arc<crate::HqState>) {
    loop {
        if let Err(e) = catch_up(&mut client).await {
            tracing::error!(error = %e, "projector");
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), state.ingested.notified())
            .await;
    }
}

/// Clears every derived row and reads every journal again from the start:
/// after a fix to the projector, or to prove the derived rows are only
/// the journal's index. Stock received and adjusted at head office is not
/// derived and is kept.
pub async fn rebuild(client: &mut Client) -> Result<u64, HqError> {
    let tx = client.transaction().await?;
    tx.batch_execute(
        "LOCK TABLE tills IN EXCLUSIVE MODE;
         DELETE FROM sale_tenders; DELETE FROM sales; DELETE FROM z_reports;
         DELETE FROM stock_moves WHERE reason IN ('sale', 'refund', 'void');
         UPDATE stock SET qty_milli = COALESCE((SELECT SUM(m.qty_milli) FROM stock_moves m
             WHERE m.shop_id = stock.shop_id AND m.sku = stock.sku), 0);
         UPDATE tills SET projected_seq = 0, open_totals = NULL;",
    )
    .await?;
    tx.commit().await?;
    catch_up(client).await
}

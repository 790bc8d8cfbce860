//! X and Z reports, and how a period's totals are kept.
//!
//! Everything goes through `ReportTotals::apply`, the one rule for what
//! counts where. A sale's commit does not touch its period's row (one page
//! less in the commit the cashier waits for): the row's stored totals cover
//! every cash movement and void and the sales below `totals_upto_sale`;
//! the sales from there on are replayed from their journal payloads when a
//! report is read, and folded into the stored totals by the printer side
//! after it prints (`fold_new_sales`, in a write it makes anyway), by an X
//! report and by the Z that closes the period. The check replays every
//! period from scratch and compares it with what is stored.

use super::journal::append;
use super::{to_json, Result, Store, StoreError};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use tillpoint_core::cashier::{require, Action, Approval, Target};
use tillpoint_core::money::{Currency, Money};
use tillpoint_core::report::{Report, ReportEvent, ReportTotals};
use tillpoint_core::sale::SaleRecord;

impl Store {
    /// The open period so far (an X report); changes nothing on disk except
    /// opening a period if none is open yet.
    pub fn x_report(&mut self, at_ms: i64) -> Result<Report> {
        let tx = crate::begin_write(&mut self.conn)?;
        let id = open_period(
            &tx,
            at_ms,
            self.settings.currency,
            self.settings.opening_float,
        )?;
        fold_new_sales(&tx, id)?;
        let (opened, totals) = period_totals(&tx, id)?;
        tx.commit()?;
        Ok(Report {
            z_number: None,
            opened_at_ms: opened,
            closed_at_ms: at_ms,
            totals,
            chain_head: None,
            approved_by: None,
        })
    }

    /// Closes the open period with the next Z number. Refuses when nothing
    /// happened since the last Z, so a Z cannot be repeated by accident.
    pub fn z_report(&mut self, approval: &Approval, at_ms: i64) -> Result<Report> {
        require(approval, Action::ZReport, &Target::Till)?;
        let tx = crate::begin_write(&mut self.conn)?;
        let id = open_period(
            &tx,
            at_ms,
            self.settings.currency,
            self.settings.opening_float,
        )?;
        fold_new_sales(&tx, id)?;
        let (opened, totals) = period_totals(&tx, id)?;
        if totals.is_empty() {
            let last: Option<i64> =
                tx.query_row("SELECT MAX(z_number) FROM periods", [], |r| r.get(0))?;
            return Err(StoreError::Rejected(match last {
                Some(n) => {
                    format!("nothing happened since Z report {n}; there is nothing to close")
                }
                None => "nothing happened yet; there is nothing to close".into(),
            }));
        }
        let z: i64 = tx.query_row(
            "SELECT COALESCE(MAX(z_number), 0) + 1 FROM periods",
            [],
            |r| r.get(0),
        )?;
        let report = Report {
            z_number: Some(z),
            opened_at_ms: opened,
            closed_at_ms: at_ms,
            totals,
            chain_head: Some(super::journal::anchor_of(&super::journal::head(&tx)?)),
            approved_by: Some(approval.approver()),
        };
        append(
            &tx,
            self.settings.journal_key.as_ref(),
            at_ms,
            "z_report",
            Some(&z.to_string()),
            &to_json(&report)?,
        )?;
        tx.execute(
            "UPDATE periods SET closed_at_ms = ?2, z_number = ?3 WHERE id = ?1",
            params![id, at_ms, z],
        )?;
        tx.commit()?;
        Ok(report)
    }

    /// A past Z report, to reprint (marked as a copy by the caller).
    pub fn z_by_number(&self, z: i64) -> Result<Option<Report>> {
        let row: Option<(i64, i64, String)> = self
            .conn
            .query_row(
                "SELECT opened_at_ms, closed_at_ms, totals FROM periods WHERE z_number = ?1",
                [z],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let (chain_head, approved_by): (Option<String>, Option<u32>) = self
            .conn
            .query_row(
                "SELECT json_extract(payload, '$.chain_head'), json_extract(payload, '$.approved_by')
                 FROM journal WHERE kind = 'z_report' AND ref = ?1 ORDER BY seq DESC LIMIT 1",
                [z.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .unwrap_or_default();
        row.map(|(o, c, json)| {
            Ok(Report {
                z_number: Some(z),
                opened_at_ms: o,
                closed_at_ms: c,
                totals: serde_json::from_str(&json)
                    .map_err(|e| StoreError::Corrupt(format!("Z {z}: {e}")))?,
                chain_head,
                approved_by,
            })
        })
        .transpose()
    }

    /// Replays every period from scratch (its sales from their journal
    /// payloads, their voids, its cash movements) and returns the first
    /// whose stored totals disagree with the replay of what they cover.
    pub fn verify_period_totals(&self) -> Result<Option<i64>> {
        let mut periods = self.conn.prepare(
            "SELECT id, totals, first_sale_id, totals_upto_sale FROM periods ORDER BY id",
        )?;
        let list: Vec<(i64, String, Option<i64>, Option<i64>)> = periods
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (id, json, first, upto) in list {
            let stored: ReportTotals = serde_json::from_str(&json)
                .map_err(|e| StoreError::Corrupt(format!("period {id}: {e}")))?;
            let mut replay = ReportTotals::new(stored.currency, stored.opening_float);
            let sales = first.unwrap_or(0)..upto.unwrap_or(i64::MAX);
            fold_sales(&self.conn, id, sales, &mut replay)?;
            fold_cash(&self.conn, id, &mut replay)?;
            // Totals written before per-scheme totals existed have none;
            // everything else must still agree.
            if stored.by_scheme.is_empty() {
                replay.by_scheme.clear();
            }
            if replay != stored {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Folds the sales completed since the open period's totals were last
    /// stored into them, so that reading a report replays little.
    pub fn fold_period_totals(&mut self) -> Result<()> {
        let tx = crate::begin_write(&mut self.conn)?;
        fold_open_period(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// Numbers of the Z reports taken, newest first.
    pub fn z_numbers(&self) -> Result<Vec<i64>> {
        let mut stmt = self.conn.prepare(
            "SELECT z_number FROM periods WHERE z_number IS NOT NULL ORDER BY z_number DESC",
        )?;
        let v = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }
}

/// The open period's id, opening one if none is open. A period's stored
/// totals are not rewritten sale by sale (that would be one more page in
/// every sale's commit); see `reports` for how they are kept.
pub(crate) fn open_period(
    tx: &Transaction<'_>,
    at_ms: i64,
    currency: Currency,
    float: i64,
) -> Result<i64> {
    let id: Option<i64> = tx
        .prepare_cached("SELECT id FROM periods WHERE closed_at_ms IS NULL")?
        .query_row([], |r| r.get(0))
        .optional()?;
    if let Some(id) = id {
        return Ok(id);
    }
    let opening = ReportTotals::new(currency, float);
    tx.prepare_cached(
        "INSERT INTO periods(opened_at_ms, totals, first_sale_id, totals_upto_sale)
         SELECT ?1, ?2, n, n FROM (SELECT COALESCE(MAX(id), 0) + 1 AS n FROM sales)",
    )?
    .execute(params![at_ms, to_json(&opening)?])?;
    Ok(tx.last_insert_rowid())
}

/// A period's stored totals and the first sale they do not cover yet.
fn stored(conn: &Connection, id: i64) -> Result<(i64, ReportTotals, i64)> {
    let (opened, json, upto): (i64, String, Option<i64>) = conn
        .prepare_cached("SELECT opened_at_ms, totals, totals_upto_sale FROM periods WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let totals = serde_json::from_str(&json)
        .map_err(|e| StoreError::Corrupt(format!("period {id}: {e}")))?;
    Ok((opened, totals, upto.unwrap_or(0)))
}

fn store_totals(conn: &Connection, id: i64, totals: &ReportTotals, upto: i64) -> Result<()> {
    conn.prepare_cached("UPDATE periods SET totals = ?2, totals_upto_sale = ?3 WHERE id = ?1")?
        .execute(params![id, to_json(totals)?, upto])?;
    Ok(())
}

/// When a period opened and its totals: the stored totals plus the sales
/// they do not cover yet, replayed.
pub(crate) fn period_totals(conn: &Connection, id: i64) -> Result<(i64, ReportTotals)> {
    let (opened, mut totals, upto) = stored(conn, id)?;
    fold_sales(conn, id, upto..i64::MAX, &mut totals)?;
    Ok((opened, totals))
}

/// Books a cash movement (or no-sale) into the open period's stored
/// totals: rare enough that one more page in its commit costs nothing.
pub(crate) fn book(conn: &Connection, id: i64, event: ReportEvent<'_>) -> Result<()> {
    let (_, mut totals, upto) = stored(conn, id)?;
    totals.apply(event).map_err(absurd)?;
    store_totals(conn, id, &totals, upto)
}

/// Books a post-void. A sale the stored totals already cover is taken out
/// of them; one above them is replayed with its void flag, so it is not
/// booked twice.
pub(crate) fn book_void(
    conn: &Connection,
    period: i64,
    sale_id: i64,
    record: &SaleRecord,
) -> Result<()> {
    let (_, _, upto) = stored(conn, period)?;
    if sale_id < upto {
        book(conn, period, ReportEvent::PostVoided(record))?;
    }
    Ok(())
}

/// Folds the open period's new sales into its stored totals, inside a
/// write the caller makes anyway (the print queue's, after each receipt).
pub(crate) fn fold_open_period(conn: &Connection) -> Result<()> {
    let open: Option<i64> = conn
        .prepare_cached("SELECT id FROM periods WHERE closed_at_ms IS NULL")?
        .query_row([], |r| r.get(0))
        .optional()?;
    match open {
        Some(id) => fold_new_sales(conn, id),
        None => Ok(()),
    }
}

/// Folds the sales above the stored totals into them.
pub(crate) fn fold_new_sales(conn: &Connection, id: i64) -> Result<()> {
    let (_, mut totals, upto) = stored(conn, id)?;
    let next = fold_sales(conn, id, upto..i64::MAX, &mut totals)?;
    if next > upto {
        store_totals(conn, id, &totals, next)?;
    }
    Ok(())
}

/// Applies the period's sales whose row ids are in `ids` (each from its
/// journal payload, a voided one voided) and returns the id after the last
/// one applied (`ids.start` when there was none). A period's sales are a
/// run of row ids, so this reads a range rather than the whole table.
fn fold_sales(
    conn: &Connection,
    period: i64,
    ids: std::ops::Range<i64>,
    totals: &mut ReportTotals,
) -> Result<i64> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.id, j.payload, s.voided_at_ms IS NOT NULL
         FROM sales s LEFT JOIN journal j ON j.seq = s.journal_seq
         WHERE s.id >= ?2 AND s.id < ?3 AND s.period_id = ?1 ORDER BY s.id",
    )?;
    let mut rows = stmt.query(params![period, ids.start, ids.end])?;
    let mut next = ids.start;
    while let Some(r) = rows.next()? {
        let sale_id: i64 = r.get(0)?;
        let payload: Option<String> = r.get(1)?;
        let payload = payload
            .ok_or_else(|| StoreError::Corrupt(format!("sale {sale_id} has no journal entry")))?;
        let record: SaleRecord = serde_json::from_str(&payload)
            .map_err(|e| StoreError::Corrupt(format!("sale {sale_id}: journal payload: {e}")))?;
        totals
            .apply(ReportEvent::Completed(&record))
            .map_err(absurd)?;
        if r.get::<_, bool>(2)? {
            totals
                .apply(ReportEvent::PostVoided(&record))
                .map_err(absurd)?;
        }
        next = sale_id + 1;
    }
    Ok(next)
}

/// Applies the period's cash movements.
fn fold_cash(conn: &Connection, period: i64, totals: &mut ReportTotals) -> Result<()> {
    let mut stmt =
        conn.prepare_cached("SELECT kind, amount FROM cash_movements WHERE period_id = ?1")?;
    let mut rows = stmt.query([period])?;
    while let Some(r) = rows.next()? {
        let kind: String = r.get(0)?;
        let m = Money::new(r.get(1)?, totals.currency);
        totals
            .apply(match kind.as_str() {
                "in" => ReportEvent::CashIn(m),
                "out" => ReportEvent::CashOut(m),
                _ => ReportEvent::NoSale,
            })
            .map_err(absurd)?;
    }
    Ok(())
}

/// Totals that overflow can only come from edited rows or payloads.
fn absurd(e: tillpoint_core::money::MoneyError) -> StoreError {
    StoreError::Corrupt(format!("the period's totals cannot be summed: {e}"))
}

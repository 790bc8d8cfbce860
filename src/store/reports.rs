//! X and Z reports from the period's running totals, and the check that
//! replays the period to prove those totals right.

use super::journal::append;
use super::sales::{load_record, open_period, to_json};
use super::{Result, Store, StoreError};
use rusqlite::{params, OptionalExtension};
use tillpoint_core::cashier::{require, Action, Approval};
use tillpoint_core::money::Money;
use tillpoint_core::report::{Report, ReportEvent, ReportTotals};

impl Store {
    /// The open period so far (an X report); changes nothing on disk except
    /// opening a period if none is open yet.
    pub fn x_report(&mut self, at_ms: i64) -> Result<Report> {
        let tx = crate::begin_write(&mut self.conn)?;
        let (id, totals) = open_period(
            &tx,
            at_ms,
            self.settings.currency,
            self.settings.opening_float,
        )?;
        let opened: i64 = tx.query_row(
            "SELECT opened_at_ms FROM periods WHERE id = ?1",
            [id],
            |r| r.get(0),
        )?;
        tx.commit()?;
        Ok(Report {
            z_number: None,
            opened_at_ms: opened,
            closed_at_ms: at_ms,
            totals,
        })
    }

    /// Closes the open period with the next Z number. Refuses when nothing
    /// happened since the last Z, so a Z cannot be repeated by accident.
    pub fn z_report(&mut self, approval: &Approval, at_ms: i64) -> Result<Report> {
        require(approval, Action::ZReport)?;
        let tx = crate::begin_write(&mut self.conn)?;
        let (id, totals) = open_period(
            &tx,
            at_ms,
            self.settings.currency,
            self.settings.opening_float,
        )?;
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
        let opened: i64 = tx.query_row(
            "SELECT opened_at_ms FROM periods WHERE id = ?1",
            [id],
            |r| r.get(0),
        )?;
        let report = Report {
            z_number: Some(z),
            opened_at_ms: opened,
            closed_at_ms: at_ms,
            totals,
        };
        append(
            &tx,
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
        row.map(|(o, c, json)| {
            Ok(Report {
                z_number: Some(z),
                opened_at_ms: o,
                closed_at_ms: c,
                totals: serde_json::from_str(&json)
                    .map_err(|e| StoreError::Corrupt(format!("Z {z}: {e}")))?,
            })
        })
        .transpose()
    }

    /// Replays every period's sales, voids and cash movements through the
    /// same rule that built the running totals; returns the first period
    /// whose stored totals disagree.
    pub fn verify_period_totals(&self) -> Result<Option<i64>> {
        let cur = self.settings.currency;
        let mut periods = self
            .conn
            .prepare("SELECT id, totals FROM periods ORDER BY id")?;
        let list: Vec<(i64, String)> = periods
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (id, json) in list {
            let stored: ReportTotals = serde_json::from_str(&json)
                .map_err(|e| StoreError::Corrupt(format!("period {id}: {e}")))?;
            let mut replay = ReportTotals::new(stored.currency, stored.opening_float);
            let mut stmt = self.conn.prepare_cached(
                "SELECT id, voided_at_ms IS NOT NULL FROM sales WHERE period_id = ?1",
            )?;
            let sales: Vec<(i64, bool)> = stmt
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (sid, voided) in sales {
                let rec = load_record(&self.conn, sid)?;
                replay.apply(ReportEvent::Completed(&rec));
                if voided {
                    replay.apply(ReportEvent::PostVoided(&rec));
                }
            }
            let mut stmt = self
                .conn
                .prepare_cached("SELECT kind, amount FROM cash_movements WHERE period_id = ?1")?;
            let moves: Vec<(String, i64)> = stmt
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (kind, amount) in moves {
                let m = Money::new(amount, cur);
                replay.apply(match kind.as_str() {
                    "in" => ReportEvent::CashIn(m),
                    "out" => ReportEvent::CashOut(m),
                    _ => ReportEvent::NoSale,
                });
            }
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

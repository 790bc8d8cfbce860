//! Completing, refunding, voiding and parking sales; cash movements.
//!
//! Completing a sale is ONE transaction: the sale with its lines, tenders and
//! tax, the journal entry, the outbox rows of its electronic tenders, its
//! print job and the period's running totals. Either all of it is on disk or
//! none of it is.

use super::journal::append;
use super::reports::{self, open_period};
use super::{to_json, Result, Store, StoreError, StoreSettings};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use tillpoint_core::cashier::{require, Action, Approval, Target};
use tillpoint_core::catalog::Qty;
use tillpoint_core::money::Money;
use tillpoint_core::receipt::Receipt;
use tillpoint_core::refund::{build_refund, RefundRequest};
use tillpoint_core::sale::{PricingRules, Sale, SaleKind, SaleRecord, Stamp};
use tillpoint_core::tender::TenderKind;

/// What a completed sale or refund left in the store.
#[derive(Debug, Clone)]
pub struct Completion {
    pub sale_id: i64,
    pub record: SaleRecord,
    pub journal_seq: i64,
    pub print_job: i64,
}

/// Encrypted card data for an offline advice, keyed by tender index. Only
/// the payment layer makes these; the store keeps them opaque.
pub type OutboxPayloads<'a> = &'a [(u32, Vec<u8>)];

/// A parked sale as listed for resuming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parked {
    pub id: i64,
    pub cashier: u32,
    pub parked_at_ms: i64,
    pub label: String,
    pub lines: usize,
}

pub use tillpoint_core::journal::CashMovement;
use tillpoint_core::journal::{CashEntry, VoidEntry};

/// The row id of a receipt. Receipt numbers end in their sales row's id
/// (see [`next_receipt_no`]), so the lookup is a primary-key probe and the
/// sales table needs no second index written on every sale; a number that
/// does not follow the rule (a till id changed by hand, an imported row) is
/// still found by a scan.
pub(crate) fn sale_id_of(conn: &Connection, receipt_no: &str) -> Result<Option<i64>> {
    let receipt_no = receipt_no.trim();
    let by_id = receipt_no
        .rsplit_once('-')
        .and_then(|(_, n)| n.parse::<i64>().ok());
    if let Some(id) = by_id {
        let hit: Option<i64> = conn
            .prepare_cached("SELECT id FROM sales WHERE id = ?1 AND receipt_no = ?2")?
            .query_row(params![id, receipt_no], |r| r.get(0))
            .optional()?;
        if hit.is_some() {
            return Ok(hit);
        }
    }
    Ok(conn
        .prepare_cached("SELECT id FROM sales WHERE receipt_no = ?1 ORDER BY id LIMIT 1")?
        .query_row([receipt_no], |r| r.get(0))
        .optional()?)
}

pub(crate) fn next_receipt_no(tx: &Transaction<'_>, settings: &StoreSettings) -> Result<String> {
    // Receipt numbers follow the sales table's own row ids: no separate
    // counter row to write on every sale, and no gaps after a rollback.
    let n: i64 = tx
        .prepare_cached("SELECT COALESCE(MAX(id), 0) + 1 FROM sales")?
        .query_row([], |r| r.get(0))?;
    Ok(format!("{}-{:06}", settings.till_id, n))
}

fn insert_record(
    tx: &Transaction<'_>,
    r: &SaleRecord,
    period_id: i64,
    journal_seq: i64,
) -> Result<i64> {
    tx.prepare_cached(
        "INSERT INTO sales(receipt_no, kind, period_id, cashier, completed_at_ms, total, original_receipt, journal_seq)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
    )?
    .execute(params![
        r.receipt_no,
        r.kind.as_str(),
        period_id,
        r.cashier,
        r.completed_at_ms,
        r.total.minor,
        r.original_receipt,
        journal_seq
    ])?;
    Ok(tx.last_insert_rowid())
}

/// The columns of a sales row, which must agree with the journal's record.
#[derive(Debug, PartialEq, Eq)]
struct IndexRow {
    receipt_no: String,
    kind: String,
    cashier: u32,
    completed_at_ms: i64,
    total: i64,
    original_receipt: Option<String>,
}

impl IndexRow {
    fn of(r: &SaleRecord) -> IndexRow {
        IndexRow {
            receipt_no: r.receipt_no.clone(),
            kind: r.kind.as_str().to_string(),
            cashier: r.cashier,
            completed_at_ms: r.completed_at_ms,
            total: r.total.minor,
            original_receipt: r.original_receipt.clone(),
        }
    }
}

/// Reads a sale back from its journal entry, exactly as it was recorded.
pub(crate) fn load_record(conn: &Connection, sale_id: i64) -> Result<SaleRecord> {
    let payload: String = conn
        .prepare_cached(
            "SELECT j.payload FROM sales s JOIN journal j ON j.seq = s.journal_seq WHERE s.id = ?1",
        )?
        .query_row([sale_id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::Corrupt(format!("sale {sale_id} has no journal entry")))?;
    serde_json::from_str(&payload)
        .map_err(|e| StoreError::Corrupt(format!("sale {sale_id}: journal payload: {e}")))
}

impl Store {
    /// Writes a completed record with everything that belongs to it.
    pub(crate) fn record_completion(
        settings: &StoreSettings,
        tx: &Transaction<'_>,
        record: SaleRecord,
        at_ms: i64,
        card_data: OutboxPayloads<'_>,
    ) -> Result<Completion> {
        let payload = to_json(&record)?;
        let kind = match record.kind {
            SaleKind::Sale => "sale",
            SaleKind::Refund => "refund",
        };
        let seq = append(
            tx,
            settings.journal_key.as_ref(),
            at_ms,
            kind,
            Some(&record.receipt_no),
            &payload,
        )?;
        let period = open_period(tx, at_ms, settings.currency, settings.opening_float)?;
        let sale_id = insert_record(tx, &record, period, seq)?;
        for (i, t) in record.tenders.iter().enumerate() {
            let outbox_kind = match (record.kind, t.kind, &t.card) {
                (SaleKind::Sale, TenderKind::Card, Some(c)) if c.offline => Some("advice"),
                // Paid through the QR gateway: refunded through it too.
                (SaleKind::Refund, _, Some(c)) if !c.order_id.is_empty() => Some("qr_refund"),
                (SaleKind::Refund, k, _) if k.is_electronic() => Some("refund"),
                _ => None,
            };
            if let Some(k) = outbox_kind {
                let data = card_data
                    .iter()
                    .find(|(idx, _)| *idx as usize == i)
                    .map(|(_, d)| d.as_slice());
                tx.prepare_cached("INSERT INTO outbox(sale_id, tender_idx, kind, created_at_ms, card_data) VALUES (?1,?2,?3,?4,?5)")?.execute(
                    params![sale_id, i as i64, k, at_ms, data],
                )?;
            }
        }
        let copies = Receipt::copies_for(&record).len() as i64;
        tx.prepare_cached("INSERT INTO print_jobs(sale_id, kind, copies, created_at_ms) VALUES (?1, 'receipt', ?2, ?3)")?.execute(
            params![sale_id, copies, at_ms],
        )?;
        let print_job = tx.last_insert_rowid();
        Ok(Completion {
            sale_id,
            record,
            journal_seq: seq,
            print_job,
        })
    }

    /// Completes a fully paid sale durably. When this returns Ok the sale is
    /// on disk (WAL, synchronous=FULL) and may be reported to the cashier.
    pub fn complete_sale(
        &mut self,
        sale: &Sale,
        rules: &PricingRules,
        at_ms: i64,
        local_hour: u8,
        card_data: OutboxPayloads<'_>,
    ) -> Result<Completion> {
        let settings = self.settings.clone();
        if let Some(what) = sale.unapproved_discount(settings.policy.discount_limit_percent) {
            return Err(StoreError::Rejected(format!(
                "a discount over the shop's limit has no supervisor's approval ({what:?})"
            )));
        }
        let tx = crate::begin_write(&mut self.conn)?;
        let receipt_no = next_receipt_no(&tx, &settings)?;
        let record = sale.complete(
            rules,
            Stamp {
                receipt_no,
                at_ms,
                local_hour,
            },
        )?;
        let done = Self::record_completion(&settings, &tx, record, at_ms, card_data)?;
        tx.commit()?;
        Ok(done)
    }

    fn sale_id(conn: &Connection, receipt_no: &str) -> Result<i64> {
        sale_id_of(conn, receipt_no)?
            .ok_or_else(|| StoreError::NoSuchReceipt(receipt_no.trim().to_string()))
    }

    /// Loads a completed sale or refund by receipt number.
    pub fn sale_by_receipt(&self, receipt_no: &str) -> Result<SaleRecord> {
        let id = Self::sale_id(&self.conn, receipt_no.trim())?;
        load_record(&self.conn, id)
    }

    /// The refunds already made against a receipt.
    pub fn refunds_of(&self, receipt_no: &str) -> Result<Vec<SaleRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM sales WHERE original_receipt = ?1 AND kind = 'refund' ORDER BY id",
        )?;
        let ids: Vec<i64> = stmt
            .query_map([receipt_no], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        ids.into_iter()
            .map(|id| load_record(&self.conn, id))
            .collect()
    }

    pub fn is_voided(&self, receipt_no: &str) -> Result<bool> {
        let id = Self::sale_id(&self.conn, receipt_no)?;
        let v: Option<i64> =
            self.conn
                .query_row("SELECT voided_at_ms FROM sales WHERE id = ?1", [id], |r| {
                    r.get(0)
                })?;
        Ok(v.is_some())
    }

    /// Refunds lines of an earlier receipt (supervisor approval required);
    /// the original, its earlier refunds and the new refund are read and
    /// written in one transaction, so two tills cannot refund the same item twice.
    #[allow(clippy::too_many_arguments)] // each is a distinct fact of the refund; a struct would only rename them
    pub fn complete_refund(
        &mut self,
        original_receipt: &str,
        picks: &[(u32, Qty)],
        rules: &PricingRules,
        cashier: u32,
        approval: &Approval,
        at_ms: i64,
        local_hour: u8,
    ) -> Result<Completion> {
        let settings = self.settings.clone();
        let tx = crate::begin_write(&mut self.conn)?;
        let orig_id = Self::sale_id(&tx, original_receipt.trim())?;
        let original = load_record(&tx, orig_id)?;
        let voided: Option<i64> = tx
            .prepare_cached("SELECT voided_at_ms FROM sales WHERE id = ?1")?
            .query_row([orig_id], |r| r.get(0))?;
        let mut stmt =
            tx.prepare("SELECT id FROM sales WHERE original_receipt = ?1 AND kind = 'refund'")?;
        let ids: Vec<i64> = stmt
            .query_map([&original.receipt_no], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        drop(stmt);
        let prior = ids
            .into_iter()
            .map(|id| load_record(&tx, id))
            .collect::<Result<Vec<_>>>()?;
        let receipt_no = next_receipt_no(&tx, &settings)?;
        let record = build_refund(
            &RefundRequest {
                original: &original,
                original_voided: voided.is_some(),
                prior: &prior,
                picks,
            },
            rules,
            cashier,
            approval,
            Stamp {
                receipt_no,
                at_ms,
                local_hour,
            },
        )?;
        let done = Self::record_completion(&settings, &tx, record, at_ms, &[])?;
        tx.commit()?;
        Ok(done)
    }

    /// Voids a completed sale of the open period (supervisor approval
    /// required). The sale stays on record, marked; the totals drop it; its
    /// electronic tenders get a void in the outbox for the acquirer.
    pub fn post_void(
        &mut self,
        receipt_no: &str,
        approval: &Approval,
        at_ms: i64,
    ) -> Result<SaleRecord> {
        require(
            approval,
            Action::PostVoid,
            &Target::Receipt(receipt_no.trim().to_owned()),
        )?;
        let tx = crate::begin_write(&mut self.conn)?;
        let id = Self::sale_id(&tx, receipt_no.trim())?;
        let record = load_record(&tx, id)?;
        let (voided, period): (Option<i64>, i64) = tx
            .prepare_cached("SELECT voided_at_ms, period_id FROM sales WHERE id = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if record.kind != SaleKind::Sale {
            return Err(StoreError::Rejected(format!(
                "{receipt_no} is a refund; refunds cannot be voided"
            )));
        }
        if voided.is_some() {
            return Err(StoreError::Rejected(format!(
                "{receipt_no} is already voided"
            )));
        }
        let open: Option<i64> = tx
            .prepare_cached("SELECT id FROM periods WHERE closed_at_ms IS NULL")?
            .query_row([], |r| r.get(0))
            .optional()?;
        if open != Some(period) {
            return Err(StoreError::Rejected(format!(
                "{receipt_no} belongs to a closed day (Z report taken); use a refund instead"
            )));
        }
        let refunded: i64 = tx
            .prepare_cached("SELECT COUNT(*) FROM sales WHERE original_receipt = ?1")?
            .query_row([&record.receipt_no], |r| r.get(0))?;
        if refunded > 0 {
            return Err(StoreError::Rejected(format!(
                "{receipt_no} has refunds and cannot be voided"
            )));
        }
        let payload = to_json(&VoidEntry {
            receipt_no: record.receipt_no.clone(),
            approved_by: approval.approver(),
        })?;
        append(
            &tx,
            self.settings.journal_key.as_ref(),
            at_ms,
            "post_void",
            Some(&record.receipt_no),
            &payload,
        )?;
        tx.prepare_cached("UPDATE sales SET voided_at_ms = ?2, voided_by = ?3 WHERE id = ?1")?
            .execute(params![id, at_ms, approval.approver()])?;
        reports::book_void(&tx, period, id, &record)?;
        for (i, t) in record.tenders.iter().enumerate() {
            let through_gateway = t.card.as_ref().is_some_and(|c| !c.order_id.is_empty());
            let kind = if through_gateway { "qr_void" } else { "void" };
            if t.kind.is_electronic() {
                tx.prepare_cached("INSERT INTO outbox(sale_id, tender_idx, kind, created_at_ms) VALUES (?1,?2,?3,?4)")?.execute(
                    params![id, i as i64, kind, at_ms],
                )?;
            }
        }
        tx.commit()?;
        Ok(record)
    }

    /// Cash in, cash out or a no-sale drawer opening. A no-sale needs a
    /// supervisor's approval; cash in and out are journaled with the cashier.
    pub fn cash_movement(
        &mut self,
        kind: CashMovement,
        amount: Money,
        cashier: u32,
        approval: Option<&Approval>,
        reason: &str,
        at_ms: i64,
    ) -> Result<()> {
        if kind == CashMovement::NoSale {
            let ap = approval
                .ok_or_else(|| StoreError::Rejected("a no-sale needs a supervisor".into()))?;
            require(ap, Action::NoSale, &Target::Till)?;
        } else if amount.minor <= 0 {
            return Err(StoreError::Rejected("the amount must be positive".into()));
        } else if kind == CashMovement::Out && self.cash_out_needs_approval(amount) {
            let target = Target::CashOut {
                minor: amount.minor,
            };
            let ap = approval.ok_or_else(|| {
                StoreError::Rejected("taking this much cash out needs a supervisor".into())
            })?;
            require(ap, Action::CashOut, &target)?;
        }
        let amount = if kind == CashMovement::NoSale {
            Money::zero(amount.currency)
        } else {
            amount
        };
        let settings = self.settings.clone();
        let tx = crate::begin_write(&mut self.conn)?;
        let entry = CashEntry {
            kind,
            amount: amount.minor,
            currency: amount.currency,
            cashier,
            approved_by: approval.map(Approval::approver),
            reason: reason.to_owned(),
        };
        let payload = to_json(&entry)?;
        let seq = append(
            &tx,
            settings.journal_key.as_ref(),
            at_ms,
            "cash",
            None,
            &payload,
        )?;
        let period = open_period(&tx, at_ms, settings.currency, settings.opening_float)?;
        reports::book(&tx, period, entry.event())?;
        tx.prepare_cached("INSERT INTO cash_movements(period_id, kind, amount, cashier, approved_by, reason, at_ms, journal_seq)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8)")?.execute(
            params![period, kind.as_str(), amount.minor, cashier, approval.map(Approval::approver), reason, at_ms, seq],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Whether taking `amount` out of the drawer is over `[policy]
    /// cash_out_limit`, so that it needs a supervisor's approval.
    pub fn cash_out_needs_approval(&self, amount: Money) -> bool {
        let limit = self.settings.policy.cash_out_limit
            * rust_decimal::Decimal::from(amount.currency.minor_per_major());
        rust_decimal::Decimal::from(amount.minor) > limit
    }

    /// Parks a sale without payments so another customer can be served.
    pub fn park(&mut self, sale: &Sale, label: &str, at_ms: i64) -> Result<i64> {
        sale.check_parkable()?;
        self.conn.execute(
            "INSERT INTO parked(cashier, parked_at_ms, label, sale) VALUES (?1,?2,?3,?4)",
            params![sale.cashier, at_ms, label, to_json(sale)?],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn parked(&self) -> Result<Vec<Parked>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, cashier, parked_at_ms, label, sale FROM parked ORDER BY id")?;
        let rows: Vec<(i64, u32, i64, String, String)> = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter()
            .map(|(id, cashier, at, label, json)| {
                let sale: Sale = serde_json::from_str(&json)
                    .map_err(|e| StoreError::Corrupt(format!("parked {id}: {e}")))?;
                Ok(Parked {
                    id,
                    cashier,
                    parked_at_ms: at,
                    label,
                    lines: sale.live_lines().count(),
                })
            })
            .collect()
    }

    /// Takes a parked sale back; it leaves the parked list in the same step.
    pub fn resume(&mut self, id: i64) -> Result<Sale> {
        let tx = crate::begin_write(&mut self.conn)?;
        let json: String = tx
            .prepare_cached("SELECT sale FROM parked WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| StoreError::Rejected(format!("no parked sale {id}")))?;
        let sale = serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("parked {id}: {e}")))?;
        tx.prepare_cached("DELETE FROM parked WHERE id = ?1")?
            .execute([id])?;
        tx.commit()?;
        Ok(sale)
    }

    /// Completed sales and refunds in a time range, oldest first, with whether
    /// each was voided.
    pub fn sales_between(&self, from_ms: i64, to_ms: i64) -> Result<Vec<(SaleRecord, bool)>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, voided_at_ms IS NOT NULL FROM sales
             WHERE completed_at_ms >= ?1 AND completed_at_ms < ?2 ORDER BY id",
        )?;
        let ids: Vec<(i64, bool)> = stmt
            .query_map([from_ms, to_ms], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        ids.into_iter()
            .map(|(id, v)| Ok((load_record(&self.conn, id)?, v)))
            .collect()
    }

    /// The most recent receipts, newest first, for the reprint list.
    pub fn recent_receipts(&self, limit: usize) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT receipt_no FROM sales ORDER BY id DESC LIMIT ?1")?;
        let v = stmt
            .query_map([limit as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }

    pub fn sale_count(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM sales", [], |r| r.get(0))?)
    }

    /// Checks every sales row against the journal entry it points to: a row
    /// edited after completion (a total lowered, a receipt renamed) no longer
    /// matches what the hash chain vouches for. Returns the first mismatch.
    pub fn verify_sales_against_journal(&self) -> Result<Option<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT s.receipt_no, s.kind, s.cashier, s.completed_at_ms, s.total, s.original_receipt, j.payload, j.kind
             FROM sales s LEFT JOIN journal j ON j.seq = s.journal_seq ORDER BY s.id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let row = IndexRow {
                receipt_no: r.get(0)?,
                kind: r.get(1)?,
                cashier: r.get(2)?,
                completed_at_ms: r.get(3)?,
                total: r.get(4)?,
                original_receipt: r.get(5)?,
            };
            let payload: Option<String> = r.get(6)?;
            let entry_kind: Option<String> = r.get(7)?;
            let matches = payload
                .and_then(|p| serde_json::from_str::<SaleRecord>(&p).ok())
                .is_some_and(|rec| {
                    IndexRow::of(&rec) == row && entry_kind.as_deref() == Some(rec.kind.as_str())
                });
            if !matches {
                return Ok(Some(row.receipt_no));
            }
        }
        Ok(None)
    }
}

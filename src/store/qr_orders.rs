//! QR orders the till made at the gateway. A row is written before the
//! first request names the order, and moves on as the provider answers:
//!
//! `open` → `paid` (the provider took the money) → `recorded` (the sale
//! with it is in the journal); or `open`/`paid` → `closed` (nothing was
//! taken) or `reversed` (the money went back). An `open` or `paid` row after
//! a restart is a payment whose end the till never saw: it is settled with
//! the provider at once (app's QR desk).

use super::sales::load_record;
use super::{Result, Store};
use rusqlite::{params, OptionalExtension};

/// Where the till believes an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrOrderState {
    Open,
    Paid,
    Recorded,
    Closed,
    Reversed,
}

impl QrOrderState {
    pub fn as_str(self) -> &'static str {
        match self {
            QrOrderState::Open => "open",
            QrOrderState::Paid => "paid",
            QrOrderState::Recorded => "recorded",
            QrOrderState::Closed => "closed",
            QrOrderState::Reversed => "reversed",
        }
    }

    fn parse(s: &str) -> QrOrderState {
        match s {
            "paid" => QrOrderState::Paid,
            "recorded" => QrOrderState::Recorded,
            "closed" => QrOrderState::Closed,
            "reversed" => QrOrderState::Reversed,
            _ => QrOrderState::Open,
        }
    }
}

/// One order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrOrder {
    pub out_trade_no: String,
    /// "code" (the customer's code scanned) or "shown" (the till's code).
    pub origin: String,
    pub amount: i64,
    pub currency: String,
    pub scheme: String,
    pub state: QrOrderState,
    pub transaction_id: String,
    pub created_at_ms: i64,
}

impl Store {
    /// A new order number, unique on this till: `<till>Q<counter>`.
    pub fn next_qr_order_no(&mut self) -> Result<String> {
        let n: i64 = self.conn.query_row(
            "UPDATE counters SET value = value + 1 WHERE name = 'qr_order' RETURNING value",
            [],
            |r| r.get(0),
        )?;
        let till: String = self
            .settings
            .till_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(12)
            .collect();
        Ok(format!("{till}Q{n:010}"))
    }

    /// Writes a new order, before anything is sent for it.
    pub fn open_qr_order(&mut self, o: &QrOrder, now_ms: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO qr_orders(out_trade_no, origin, amount, currency, scheme, state, created_at_ms, updated_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?6)",
            params![o.out_trade_no, o.origin, o.amount, o.currency, o.scheme, now_ms],
        )?;
        Ok(())
    }

    /// Moves an order on; `transaction_id` and `scheme` are kept when empty.
    pub fn set_qr_order(
        &mut self,
        out_trade_no: &str,
        state: QrOrderState,
        transaction_id: &str,
        scheme: &str,
        note: &str,
        now_ms: i64,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE qr_orders SET state = ?2,
                 transaction_id = CASE WHEN ?3 = '' THEN transaction_id ELSE ?3 END,
                 scheme = CASE WHEN ?4 = '' THEN scheme ELSE ?4 END,
                 note = ?5, updated_at_ms = ?6
             WHERE out_trade_no = ?1",
            params![
                out_trade_no,
                state.as_str(),
                transaction_id,
                scheme,
                note,
                now_ms
            ],
        )?;
        Ok(())
    }

    pub fn qr_order(&self, out_trade_no: &str) -> Result<Option<QrOrder>> {
        Ok(self
            .conn
            .query_row(
                "SELECT out_trade_no, origin, amount, currency, scheme, state, transaction_id, created_at_ms
                 FROM qr_orders WHERE out_trade_no = ?1",
                [out_trade_no],
                row,
            )
            .optional()?)
    }

    /// Orders whose end the till has not seen (open, or paid without a
    /// recorded sale), oldest first.
    pub fn unfinished_qr_orders(&self) -> Result<Vec<QrOrder>> {
        let mut st = self.conn.prepare_cached(
            "SELECT out_trade_no, origin, amount, currency, scheme, state, transaction_id, created_at_ms
             FROM qr_orders WHERE state IN ('open', 'paid') ORDER BY created_at_ms, out_trade_no",
        )?;
        let rows = st.query_map([], row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Whether a sale in the journal, made at or after `since_ms`, was paid
    /// by this order (its tender names the order). Read only when an
    /// order's end was missed, so a scan of the day's journal is fine.
    pub fn sale_paid_by_qr_order(&self, out_trade_no: &str, since_ms: i64) -> Result<bool> {
        let pattern = format!("%\"order_id\":\"{out_trade_no}\"%");
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM journal WHERE kind = 'sale' AND at_ms >= ?1 AND payload LIKE ?2 LIMIT 1",
                params![since_ms, pattern],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }
}

/// A refund or post-void of a sale paid through the QR gateway, waiting to
/// be sent there (outbox kinds `qr_refund` and `qr_void`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrInstruction {
    pub id: i64,
    /// The till's number for this refund at the provider: a repeat of the
    /// same request is the same refund.
    pub refund_no: String,
    pub order_id: String,
    /// Minor units, positive.
    pub amount: i64,
    pub currency: String,
    /// What the order was paid, as the provider knows it.
    pub order_total: i64,
}

impl Store {
    /// Refunds and voids of gateway payments that wait, oldest first.
    pub fn qr_instructions_pending(&self) -> Result<Vec<QrInstruction>> {
        let rows: Vec<(i64, i64, i64)> = self
            .conn
            .prepare_cached(
                "SELECT id, sale_id, tender_idx FROM outbox
                 WHERE state = 'pending' AND kind IN ('qr_refund', 'qr_void') ORDER BY id",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::new();
        for (id, sale_id, idx) in rows {
            let record = load_record(&self.conn, sale_id)?;
            let Some(t) = usize::try_from(idx)
                .ok()
                .and_then(|i| record.tenders.get(i))
            else {
                continue;
            };
            let Some(card) = &t.card else { continue };
            let order_total = self
                .qr_order(&card.order_id)?
                .map_or(t.amount.minor.abs(), |o| o.amount);
            out.push(QrInstruction {
                id,
                refund_no: format!("{}R{idx}", record.receipt_no.replace('-', "")),
                order_id: card.order_id.clone(),
                amount: t.amount.minor.abs(),
                currency: t.amount.currency.code().into(),
                order_total,
            });
        }
        Ok(out)
    }

    /// The provider refunded: the row is done, with its refund number.
    pub fn qr_instruction_done(&mut self, id: i64, refund_id: &str, at_ms: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE outbox SET state = 'done', done_at_ms = ?2, rrn = ?3 WHERE id = ?1",
            params![id, at_ms, refund_id],
        )?;
        Ok(())
    }

    /// The provider refused for good (the order is not paid, the amount is
    /// more than was paid): set aside with the reason, for the owner.
    pub fn qr_instruction_failed(&mut self, id: i64, why: &str, at_ms: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE outbox SET state = 'failed', done_at_ms = ?2, last_error = ?3 WHERE id = ?1",
            params![id, at_ms, why],
        )?;
        Ok(())
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<QrOrder> {
    Ok(QrOrder {
        out_trade_no: r.get(0)?,
        origin: r.get(1)?,
        amount: r.get(2)?,
        currency: r.get(3)?,
        scheme: r.get(4)?,
        state: QrOrderState::parse(&r.get::<_, String>(5)?),
        transaction_id: r.get(6)?,
        created_at_ms: r.get(7)?,
    })
}

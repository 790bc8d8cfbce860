//! The checks that the tables indexing the journal still say what the
//! journal vouches for, in both directions: every sale, refund and cash
//! movement row has its journal entry and agrees with it, every such entry
//! has its row, and a sale is voided exactly when the journal holds its
//! post-void. (Each entry's content is vouched for by the hash chain,
//! `journal::verify_journal`; the period totals by their replay,
//! `reports`.) An edit of the file that goes around the triggers — a row
//! deleted, an amount changed, a sale marked voided — is named here.

use super::journal::append;
use super::{to_json, Result, Store, StoreError};
use rusqlite::OptionalExtension;
use serde::Deserialize;
use tillpoint_core::cashier::{require, Action, Approval, Target};

/// A cash movement as its journal entry records it.
#[derive(Deserialize)]
struct Movement {
    kind: String,
    amount: i64,
}

/// A post-void as its journal entry records it.
#[derive(Deserialize)]
struct Void {
    receipt_no: String,
}

impl Store {
    /// Every disagreement between the journal and the rows indexing it, in
    /// words (empty when there is none); at most `limit` are listed.
    pub fn verify_index(&self, limit: usize) -> Result<Vec<String>> {
        let mut found = Vec::new();
        // Journal entries of sales and refunds without their row.
        let mut stmt = self.conn.prepare(
            "SELECT j.seq, j.kind, j.ref FROM journal j
             WHERE j.kind IN ('sale', 'refund')
               AND NOT EXISTS (SELECT 1 FROM sales s WHERE s.journal_seq = j.seq)
             ORDER BY j.seq",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (seq, kind, no): (i64, String, Option<String>) = (r.get(0)?, r.get(1)?, r.get(2)?);
            found.push(format!(
                "journal entry {seq} ({kind} {}) has no sales row: the {kind} was deleted",
                no.unwrap_or_default()
            ));
        }
        // Sales rows pointing at the same entry twice.
        let mut stmt = self.conn.prepare(
            "SELECT journal_seq, COUNT(*) FROM sales GROUP BY journal_seq HAVING COUNT(*) > 1",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (seq, n): (i64, i64) = (r.get(0)?, r.get(1)?);
            found.push(format!("{n} sales rows claim journal entry {seq}"));
        }
        // Cash movements: each entry its row, each row its entry, the same.
        let mut stmt = self.conn.prepare(
            "SELECT j.seq, j.payload, c.id, c.kind, c.amount FROM journal j
             LEFT JOIN cash_movements c ON c.journal_seq = j.seq
             WHERE j.kind = 'cash' ORDER BY j.seq",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let seq: i64 = r.get(0)?;
            let payload: String = r.get(1)?;
            let row: Option<i64> = r.get(2)?;
            let Some(id) = row else {
                found.push(format!(
                    "journal entry {seq} (cash movement) has no cash_movements row: it was deleted"
                ));
                continue;
            };
            let (kind, amount): (String, i64) = (r.get(3)?, r.get(4)?);
            let agrees = serde_json::from_str::<Movement>(&payload)
                .is_ok_and(|m| m.kind == kind && m.amount == amount);
            if !agrees {
                found.push(format!(
                    "cash movement {id} differs from its journal entry {seq} (kind or amount edited)"
                ));
            }
        }
        let mut stmt = self.conn.prepare(
            "SELECT c.id FROM cash_movements c
             WHERE NOT EXISTS (SELECT 1 FROM journal j WHERE j.seq = c.journal_seq AND j.kind = 'cash')
             ORDER BY c.id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            found.push(format!(
                "cash movement {id} has no journal entry: it was added or its entry removed"
            ));
        }
        // Voids: a sale is voided exactly when the journal holds its post-void.
        let mut voids = std::collections::BTreeSet::new();
        let mut stmt = self
            .conn
            .prepare("SELECT seq, payload FROM journal WHERE kind = 'post_void' ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (seq, payload): (i64, String) = (r.get(0)?, r.get(1)?);
            match serde_json::from_str::<Void>(&payload) {
                Ok(v) => {
                    voids.insert(v.receipt_no);
                }
                Err(_) => found.push(format!("journal entry {seq} is not a readable post-void")),
            }
        }
        let mut stmt = self.conn.prepare(
            "SELECT receipt_no, voided_at_ms IS NOT NULL FROM sales
             WHERE voided_at_ms IS NOT NULL OR receipt_no IN (SELECT ref FROM journal WHERE kind = 'post_void')
             ORDER BY id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (no, voided): (String, bool) = (r.get(0)?, r.get(1)?);
            match (voided, voids.contains(&no)) {
                (true, false) => found.push(format!(
                    "sale {no} is marked voided but the journal holds no post-void of it"
                )),
                (false, true) => found.push(format!(
                    "sale {no} was post-voided in the journal but its row is not marked voided"
                )),
                _ => {}
            }
        }
        found.truncate(limit);
        Ok(found)
    }
}

#[derive(serde::Serialize, Deserialize)]
struct Acknowledged {
    failures: Vec<String>,
    approved_by: u32,
}

impl Store {
    /// Records that a manager saw these record failures of the start-up
    /// check and lets the till sell on; the check keeps reporting them.
    pub fn acknowledge_integrity(
        &mut self,
        failures: &[String],
        approval: &Approval,
        at_ms: i64,
    ) -> Result<()> {
        require(approval, Action::AcknowledgeIntegrity, &Target::Till)?;
        let payload = to_json(&Acknowledged {
            failures: failures.to_vec(),
            approved_by: approval.approver(),
        })?;
        let tx = crate::begin_write(&mut self.conn)?;
        append(
            &tx,
            self.settings.journal_key.as_ref(),
            at_ms,
            "integrity_acknowledged",
            None,
            &payload,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The failures a manager last acknowledged, if any: the same failures
    /// found again at the next start do not stop the till again.
    pub fn acknowledged_failures(&self) -> Result<Option<Vec<String>>> {
        let payload: Option<String> = self
            .conn
            .query_row(
                "SELECT payload FROM journal WHERE kind = 'integrity_acknowledged' ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        payload
            .map(|p| {
                serde_json::from_str::<Acknowledged>(&p)
                    .map(|a| a.failures)
                    .map_err(|e| StoreError::Corrupt(format!("acknowledgement: {e}")))
            })
            .transpose()
    }
}

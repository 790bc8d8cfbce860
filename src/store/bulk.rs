//! Batch operations for benchmarks and data migration, where one
//! transaction per thousand sales is acceptable. The till itself always
//! commits each sale on its own (see `complete_sale`).

use super::{Result, Store};
use tillpoint_core::sale::{PricingRules, Sale};

impl Store {
    /// Completes many paid sales in one transaction, through the same
    /// recording path as [`Store::complete_sale`].
    pub fn complete_sales_batch(
        &mut self,
        sales: &[Sale],
        rules: &PricingRules,
        at_ms: i64,
        local_hour: u8,
    ) -> Result<()> {
        let settings = self.settings.clone();
        let tx = crate::begin_write(&mut self.conn)?;
        for sale in sales {
            let receipt_no = super::sales::next_receipt_no(&tx, &settings)?;
            let record = sale.complete(
                rules,
                tillpoint_core::sale::Stamp {
                    receipt_no,
                    at_ms,
                    local_hour,
                },
            )?;
            Self::record_completion(&settings, &tx, record, at_ms, &[])?;
        }
        super::reports::fold_open_period(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// Baseline for the commit benchmark: one bare row INSERT and COMMIT at
    /// the store's pragmas (WAL, synchronous=FULL).
    pub fn bench_bare_commit(&mut self, payload: &[u8]) -> Result<()> {
        let tx = crate::begin_write(&mut self.conn)?;
        tx.execute(
            "CREATE TABLE IF NOT EXISTS bench_baseline(id INTEGER PRIMARY KEY, v BLOB)",
            [],
        )?;
        tx.execute("INSERT INTO bench_baseline(v) VALUES (?1)", [payload])?;
        tx.commit()?;
        Ok(())
    }

    /// Baseline for lookups: the bare index probe on the barcode table.
    pub fn bench_bare_barcode_probe(&self, code: &str) -> Result<bool> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM barcodes WHERE code = ?1")?;
        Ok(stmt.exists([code])?)
    }

    /// Baseline for search: the bare FTS5 match, no product rows read.
    pub fn bench_bare_fts(&self, query: &str, limit: usize) -> Result<usize> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT rowid FROM products_fts WHERE products_fts MATCH ?1 LIMIT ?2",
        )?;
        let n = stmt
            .query_map(rusqlite::params![query, limit as i64], |r| {
                r.get::<_, i64>(0)
            })?
            .count();
        Ok(n)
    }

    /// Baseline for the Z report: one aggregate scan over the sales table,
    /// what a report without running totals would at least have to do.
    pub fn bench_sales_scan(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(SUM(total), 0) FROM sales", [], |r| {
                r.get(0)
            })?)
    }
}

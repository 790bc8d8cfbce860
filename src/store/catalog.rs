//! Catalog storage: CSV import (all or nothing), barcode and SKU lookup, and
//! name search through an FTS5 index that also finds Chinese names.

use super::{Result, Store, StoreError};
use rusqlite::{params, OptionalExtension, Row};
use std::io::Read;
use tillpoint_core::catalog::{
    normalize_barcode, parse_embedded, Embedded, EmbeddedKind, Product, Unit,
};
use tillpoint_core::money::{Currency, Money};

/// One bad row of an import: the line it is on and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub message: String,
}

/// Why an import was refused. Nothing was imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{} bad row(s), nothing imported:\n{}", .0.len(), .0.iter().map(|e| format!("  line {}: {}", e.line, e.message)).collect::<Vec<_>>().join("\n"))]
    Rows(Vec<RowError>),
    #[error("the file is not readable CSV: {0}")]
    Csv(String),
    #[error("the header must name the columns sku,name,price,tax_class,category,unit,barcodes; missing {0}")]
    Header(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportSummary {
    pub added: u64,
    pub updated: u64,
}

/// Errors past this many are counted but not listed, to keep the message usable.
const MAX_LISTED_ERRORS: usize = 50;

const COLUMNS: [&str; 7] = [
    "sku",
    "name",
    "price",
    "tax_class",
    "category",
    "unit",
    "barcodes",
];

/// The text indexed for a product: Latin words as they are, and every CJK
/// character as a token of its own, so "可乐" finds "可口可乐" (FTS5's
/// unicode61 tokenizer would otherwise keep a whole CJK run as one token).
pub fn search_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if is_cjk(c) {
            out.push(' ');
            out.push(c);
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F | 0x3040..=0x30FF | 0xAC00..=0xD7AF)
}

/// Turns what the cashier typed into an FTS5 query: each Latin word becomes a
/// prefix term, each CJK run a phrase of its characters (so they must stand
/// together); all terms must match. None when nothing searchable was typed.
pub fn fts_query(input: &str) -> Option<String> {
    let mut terms = Vec::new();
    let mut word = String::new();
    let mut run: Vec<char> = Vec::new();
    let flush_word = |word: &mut String, terms: &mut Vec<String>| {
        if !word.is_empty() {
            terms.push(format!("\"{word}\"*"));
            word.clear();
        }
    };
    let flush_run = |run: &mut Vec<char>, terms: &mut Vec<String>| {
        if !run.is_empty() {
            let chars: Vec<String> = run.iter().map(char::to_string).collect();
            terms.push(format!("\"{}\"", chars.join(" ")));
            run.clear();
        }
    };
    for c in input.chars() {
        if is_cjk(c) {
            flush_word(&mut word, &mut terms);
            run.push(c);
        } else if c.is_alphanumeric() {
            flush_run(&mut run, &mut terms);
            word.push(c);
        } else {
            flush_word(&mut word, &mut terms);
            flush_run(&mut run, &mut terms);
        }
    }
    flush_word(&mut word, &mut terms);
    flush_run(&mut run, &mut terms);
    if terms.is_empty() {
        None
    } else {
        Some(terms.join(" "))
    }
}

/// What a scan or typed code resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanHit {
    pub product: Product,
    /// Present when the code was a price- or weight-embedded in-store barcode.
    pub embedded: Option<Embedded>,
}

fn product_from_row(r: &Row<'_>, currency: Currency) -> rusqlite::Result<(i64, Product)> {
    let unit: String = r.get(6)?;
    Ok((
        r.get(0)?,
        Product {
            sku: r.get(1)?,
            name: r.get(2)?,
            barcodes: Vec::new(),
            price: Money::new(r.get(3)?, currency),
            tax_class: r.get(4)?,
            category: r.get(5)?,
            unit: Unit::parse(&unit).unwrap_or(Unit::Piece),
        },
    ))
}

const PRODUCT_COLS: &str = "p.id, p.sku, p.name, p.price, p.tax_class, p.category, p.unit";

impl Store {
    /// Imports products from CSV (header `sku,name,price,tax_class,category,unit,barcodes`,
    /// barcodes separated by `|`). Existing SKUs are updated. Every row is
    /// checked; if any is bad, nothing is written and every bad line is named.
    pub fn import_catalog<R: Read>(
        &mut self,
        input: R,
        tax_classes: &[String],
    ) -> std::result::Result<ImportSummary, ImportError> {
        let currency = self.settings.currency;
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(input);
        let headers = rdr
            .headers()
            .map_err(|e| ImportError::Csv(e.to_string()))?
            .clone();
        let mut idx = [0usize; 7];
        for (i, col) in COLUMNS.iter().enumerate() {
            idx[i] = headers
                .iter()
                .position(|h| h.eq_ignore_ascii_case(col))
                .ok_or_else(|| ImportError::Header((*col).to_string()))?;
        }
        let tx = crate::begin_write(&mut self.conn).map_err(StoreError::from)?;
        let mut errors: Vec<RowError> = Vec::new();
        let mut error_count = 0usize;
        let mut summary = ImportSummary::default();
        {
            let mut find = tx
                .prepare("SELECT id FROM products WHERE sku = ?1")
                .map_err(StoreError::from)?;
            let mut insert = tx
                .prepare("INSERT INTO products(sku, name, price, tax_class, category, unit) VALUES (?1,?2,?3,?4,?5,?6)")
                .map_err(StoreError::from)?;
            let mut update = tx
                .prepare("UPDATE products SET name=?2, price=?3, tax_class=?4, category=?5, unit=?6 WHERE id=?1")
                .map_err(StoreError::from)?;
            let mut drop_codes = tx
                .prepare("DELETE FROM barcodes WHERE product_id = ?1")
                .map_err(StoreError::from)?;
            let mut add_code = tx
                .prepare("INSERT INTO barcodes(code, product_id) VALUES (?1, ?2) ON CONFLICT(code) DO NOTHING")
                .map_err(StoreError::from)?;
            let mut owner = tx
                .prepare("SELECT p.sku FROM barcodes b JOIN products p ON p.id = b.product_id WHERE b.code = ?1")
                .map_err(StoreError::from)?;
            let mut fts = tx
                .prepare("INSERT OR REPLACE INTO products_fts(rowid, tokens) VALUES (?1, ?2)")
                .map_err(StoreError::from)?;
            let mut record = csv::StringRecord::new();
            loop {
                let more = match rdr.read_record(&mut record) {
                    Ok(m) => m,
                    Err(e) => {
                        let line = e.position().map_or(0, |p| p.line());
                        errors.push(RowError {
                            line,
                            message: format!("unreadable: {e}"),
                        });
                        error_count += 1;
                        break;
                    }
                };
                if !more {
                    break;
                }
                let line = record.position().map_or(0, |p| p.line());
                let mut fail = |message: String| {
                    error_count += 1;
                    if errors.len() < MAX_LISTED_ERRORS {
                        errors.push(RowError { line, message });
                    }
                };
                let field = |i: usize| record.get(idx[i]).unwrap_or("");
                let sku = field(0);
                let name = field(1);
                if sku.is_empty() {
                    fail("sku is empty".into());
                    continue;
                }
                if name.is_empty() {
                    fail(format!("product {sku}: name is empty"));
                    continue;
                }
                let price = match Money::parse(field(2), currency) {
                    Ok(p) if p.minor >= 0 => p,
                    Ok(_) => {
                        fail(format!("product {sku}: price is negative"));
                        continue;
                    }
                    Err(e) => {
                        fail(format!("product {sku}: price: {e}"));
                        continue;
                    }
                };
                let class = field(3);
                if !tax_classes.iter().any(|c| c == class) {
                    fail(format!(
                        "product {sku}: tax class {class:?} is not configured (known: {})",
                        tax_classes.join(", ")
                    ));
                    continue;
                }
                let Some(unit) = Unit::parse(field(5)) else {
                    fail(format!(
                        "product {sku}: unit {:?} is neither piece nor kg",
                        field(5)
                    ));
                    continue;
                };
                let mut codes = Vec::new();
                let mut bad_code = None;
                for c in field(6)
                    .split(['|', ';'])
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                {
                    match normalize_barcode(c) {
                        Ok(n) => codes.push(n),
                        Err(e) => bad_code = Some(e.to_string()),
                    }
                }
                if let Some(e) = bad_code {
                    fail(format!("product {sku}: {e}"));
                    continue;
                }
                let category = field(4);
                let existing: Option<i64> = find
                    .query_row([sku], |r| r.get(0))
                    .optional()
                    .map_err(StoreError::from)?;
                let id = match existing {
                    Some(id) => {
                        update
                            .execute(params![
                                id,
                                name,
                                price.minor,
                                class,
                                category,
                                unit.as_str()
                            ])
                            .map_err(StoreError::from)?;
                        drop_codes.execute([id]).map_err(StoreError::from)?;
                        summary.updated += 1;
                        id
                    }
                    None => {
                        insert
                            .execute(params![
                                sku,
                                name,
                                price.minor,
                                class,
                                category,
                                unit.as_str()
                            ])
                            .map_err(StoreError::from)?;
                        summary.added += 1;
                        tx.last_insert_rowid()
                    }
                };
                for code in &codes {
                    if add_code
                        .execute(params![code, id])
                        .map_err(StoreError::from)?
                        == 0
                    {
                        let other: String = owner
                            .query_row([code], |r| r.get(0))
                            .map_err(StoreError::from)?;
                        if other != sku {
                            fail(format!(
                                "product {sku}: barcode {code} already belongs to product {other}"
                            ));
                        }
                    }
                }
                fts.execute(params![
                    id,
                    search_tokens(&format!("{name} {sku} {category}"))
                ])
                .map_err(StoreError::from)?;
            }
        }
        if error_count > 0 {
            if error_count > errors.len() {
                errors.push(RowError {
                    line: 0,
                    message: format!("… and {} more", error_count - errors.len()),
                });
            }
            return Err(ImportError::Rows(errors));
        }
        tx.commit().map_err(StoreError::from)?;
        Ok(summary)
    }

    fn with_barcodes(&self, id: i64, mut p: Product) -> Result<Product> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT code FROM barcodes WHERE product_id = ?1 ORDER BY code")?;
        p.barcodes = stmt
            .query_map([id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(p)
    }

    pub fn product_by_sku(&self, sku: &str) -> Result<Option<Product>> {
        let cur = self.settings.currency;
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {PRODUCT_COLS} FROM products p WHERE p.sku = ?1"
        ))?;
        match stmt
            .query_row([sku], |r| product_from_row(r, cur))
            .optional()?
        {
            Some((id, p)) => Ok(Some(self.with_barcodes(id, p)?)),
            None => Ok(None),
        }
    }

    /// Finds a product by an exact (normalised) barcode.
    pub fn product_by_barcode(&self, code: &str) -> Result<Option<Product>> {
        let cur = self.settings.currency;
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {PRODUCT_COLS} FROM barcodes b JOIN products p ON p.id = b.product_id WHERE b.code = ?1"
        ))?;
        match stmt
            .query_row([code], |r| product_from_row(r, cur))
            .optional()?
        {
            Some((id, p)) => Ok(Some(self.with_barcodes(id, p)?)),
            None => Ok(None),
        }
    }

    /// Resolves what the scanner or the cashier entered: a barcode (exact, or
    /// an in-store price/weight barcode by its prefix), else a SKU.
    pub fn resolve_code(
        &self,
        input: &str,
        prefixes: &[(u8, EmbeddedKind)],
    ) -> Result<Option<ScanHit>> {
        let input = input.trim();
        if let Ok(code) = normalize_barcode(input) {
            if let Some(product) = self.product_by_barcode(&code)? {
                return Ok(Some(ScanHit {
                    product,
                    embedded: None,
                }));
            }
            if let Some(e) = parse_embedded(&code, prefixes) {
                if let Some(product) = self.product_by_barcode(&e.product_code)? {
                    return Ok(Some(ScanHit {
                        product,
                        embedded: Some(e),
                    }));
                }
            }
        }
        Ok(self.product_by_sku(input)?.map(|product| ScanHit {
            product,
            embedded: None,
        }))
    }

    /// Name search (also matches SKU and category words), at most `limit` hits.
    pub fn search_products(&self, input: &str, limit: usize) -> Result<Vec<Product>> {
        let Some(q) = fts_query(input) else {
            return Ok(Vec::new());
        };
        let cur = self.settings.currency;
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {PRODUCT_COLS} FROM products_fts f JOIN products p ON p.id = f.rowid
             WHERE products_fts MATCH ?1 LIMIT ?2"
        ))?;
        let rows = stmt
            .query_map(params![q, limit as i64], |r| product_from_row(r, cur))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, p) in rows {
            out.push(self.with_barcodes(id, p)?);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Categories with their product counts, for the quick-key tabs.
    pub fn categories(&self) -> Result<Vec<(String, i64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT category, COUNT(*) FROM products GROUP BY category ORDER BY category",
        )?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Products of a category by name, for the quick-key grid.
    pub fn products_in_category(&self, category: &str, limit: usize) -> Result<Vec<Product>> {
        let cur = self.settings.currency;
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {PRODUCT_COLS} FROM products p WHERE p.category = ?1 ORDER BY p.name LIMIT ?2"
        ))?;
        let rows = stmt
            .query_map(params![category, limit as i64], |r| {
                product_from_row(r, cur)
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(id, p)| self.with_barcodes(id, p))
            .collect()
    }

    pub fn product_count(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM products", [], |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_tokens_and_queries() {
        assert_eq!(
            search_tokens("可乐 Cola")
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["可", "乐", "Cola"]
        );
        assert_eq!(fts_query("可乐").unwrap(), "\"可 乐\"");
        assert_eq!(fts_query("cola可乐").unwrap(), "\"cola\"* \"可 乐\"");
        assert_eq!(fts_query("co mi").unwrap(), "\"co\"* \"mi\"*");
        assert_eq!(fts_query(" \"*( "), None);
    }
}

//! Versioned schema migrations. Each step runs once, in order, inside a
//! transaction, and bumps `PRAGMA user_version`; re-running is a no-op.

use rusqlite::Connection;

/// Migration steps; index + 1 is the schema version they lead to. Never edit
/// a released step: add a new one.
const STEPS: &[&str] = &[
    // 1: catalog, sales, journal, queues, cashiers.
    r#"
    CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;

    CREATE TABLE products(
        id INTEGER PRIMARY KEY,
        sku TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        price INTEGER NOT NULL,
        tax_class TEXT NOT NULL,
        category TEXT NOT NULL,
        unit TEXT NOT NULL CHECK (unit IN ('piece','kg'))
    );
    CREATE INDEX products_category ON products(category, name);
    CREATE TABLE barcodes(
        code TEXT PRIMARY KEY,
        product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE INDEX barcodes_product ON barcodes(product_id);
    CREATE VIRTUAL TABLE products_fts USING fts5(tokens, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2');

    CREATE TABLE periods(
        id INTEGER PRIMARY KEY,
        opened_at_ms INTEGER NOT NULL,
        closed_at_ms INTEGER,
        z_number INTEGER UNIQUE,
        totals TEXT NOT NULL
    );

    -- A completed sale's full record lives once, in its journal entry's
    -- payload; this table indexes it for lookups, reports and voids.
    CREATE TABLE sales(
        id INTEGER PRIMARY KEY,
        receipt_no TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN ('sale','refund')),
        period_id INTEGER NOT NULL REFERENCES periods(id),
        cashier INTEGER NOT NULL,
        completed_at_ms INTEGER NOT NULL,
        total INTEGER NOT NULL,
        original_receipt TEXT,
        journal_seq INTEGER NOT NULL REFERENCES journal(seq),
        voided_at_ms INTEGER,
        voided_by INTEGER
    );
    CREATE INDEX sales_time ON sales(completed_at_ms);
    CREATE INDEX sales_original ON sales(original_receipt) WHERE original_receipt IS NOT NULL;

    CREATE TABLE journal(
        seq INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        kind TEXT NOT NULL,
        ref TEXT,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
        BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
    CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
        BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;

    CREATE TABLE cash_movements(
        id INTEGER PRIMARY KEY,
        period_id INTEGER NOT NULL REFERENCES periods(id),
        kind TEXT NOT NULL CHECK (kind IN ('in','out','no_sale')),
        amount INTEGER NOT NULL,
        cashier INTEGER NOT NULL,
        approved_by INTEGER,
        reason TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        journal_seq INTEGER NOT NULL
    );

    CREATE TABLE outbox(
        id INTEGER PRIMARY KEY,
        sale_id INTEGER NOT NULL REFERENCES sales(id),
        tender_idx INTEGER NOT NULL,
        kind TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','done','failed')),
        created_at_ms INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        stan INTEGER,
        card_data BLOB,
        last_error TEXT,
        done_at_ms INTEGER
    );
    CREATE INDEX outbox_pending ON outbox(state, id);

    CREATE TABLE print_jobs(
        id INTEGER PRIMARY KEY,
        sale_id INTEGER REFERENCES sales(id),
        kind TEXT NOT NULL,
        copies INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued','printed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        created_at_ms INTEGER NOT NULL,
        printed_at_ms INTEGER
    );
    CREATE INDEX print_jobs_queued ON print_jobs(state, id);

    CREATE TABLE parked(
        id INTEGER PRIMARY KEY,
        cashier INTEGER NOT NULL,
        parked_at_ms INTEGER NOT NULL,
        label TEXT NOT NULL,
        sale TEXT NOT NULL
    );

    CREATE TABLE cashiers(
        number INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('cashier','supervisor','manager')),
        pin_hash TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1
    );
    "#,
];

/// The schema version this build writes.
pub const LATEST: i64 = STEPS.len() as i64;

/// Brings the database up to [`LATEST`]; refuses a database from a newer build.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<MigrateOutcome> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > LATEST {
        return Ok(MigrateOutcome::TooNew { found: current });
    }
    for (i, step) in STEPS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(MigrateOutcome::AtVersion(LATEST))
}

/// What a migration run found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrateOutcome {
    AtVersion(i64),
    TooNew { found: i64 },
}

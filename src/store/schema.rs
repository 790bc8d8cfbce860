//! Versioned schema migrations. Each step runs once, in order, inside a
//! transaction, and bumps `PRAGMA user_version`; re-running is a no-op.

use rusqlite::{Connection, OptionalExtension};

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
    // 2: the acquirer link (store/acquirer.rs). The STAN counter and the open
    // batch live in `counters`; pending reversals, captured transactions and
    // settlements get their own tables; the outbox is rebuilt (SQLite cannot
    // relax NOT NULL in place) so that an advice queued without a sale is
    // possible and every row can carry the ISO 8583 fields of its advice.
    // Existing rows are kept as they were.
    r#"
    INSERT OR IGNORE INTO counters(name, value) VALUES ('acquirer_stan', 0), ('acquirer_batch', 1);

    CREATE TABLE acquirer_reversals(
        id INTEGER PRIMARY KEY,
        original_stan INTEGER NOT NULL UNIQUE,
        original_mti INTEGER NOT NULL,
        original_transmitted TEXT NOT NULL,
        txn_kind TEXT NOT NULL,
        amount INTEGER NOT NULL,
        batch INTEGER NOT NULL,
        reason TEXT NOT NULL,
        stan INTEGER NOT NULL,
        transmitted TEXT NOT NULL,
        local_time TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        due INTEGER NOT NULL DEFAULT 0
    );

    CREATE TABLE acquirer_captures(
        id INTEGER PRIMARY KEY,
        batch INTEGER NOT NULL,
        original_mti INTEGER NOT NULL,
        stan INTEGER NOT NULL,
        transmitted TEXT NOT NULL,
        txn_kind TEXT NOT NULL,
        amount INTEGER NOT NULL,
        local_time TEXT NOT NULL,
        rrn TEXT,
        auth_code TEXT,
        voided INTEGER NOT NULL DEFAULT 0,
        sale_id INTEGER REFERENCES sales(id)
    );
    CREATE INDEX acquirer_captures_batch ON acquirer_captures(batch, stan);

    CREATE TABLE acquirer_settlements(
        id INTEGER PRIMARY KEY,
        batch INTEGER NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('matched','matched_after_upload','mismatch','failed')),
        at_ms INTEGER NOT NULL,
        till_debits_count INTEGER NOT NULL,
        till_debits_amount INTEGER NOT NULL,
        till_credits_count INTEGER NOT NULL,
        till_credits_amount INTEGER NOT NULL,
        host_debits_count INTEGER,
        host_debits_amount INTEGER,
        host_credits_count INTEGER,
        host_credits_amount INTEGER,
        uploaded INTEGER NOT NULL DEFAULT 0,
        note TEXT
    );

    CREATE TABLE outbox_v2(
        id INTEGER PRIMARY KEY,
        sale_id INTEGER REFERENCES sales(id),
        tender_idx INTEGER,
        kind TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','done','failed')),
        created_at_ms INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        stan INTEGER,
        card_data BLOB,
        last_error TEXT,
        done_at_ms INTEGER,
        transmitted TEXT,
        local_time TEXT,
        batch INTEGER,
        txn_kind TEXT,
        amount INTEGER,
        auth_code TEXT,
        masked_pan TEXT
    );
    INSERT INTO outbox_v2(id, sale_id, tender_idx, kind, state, created_at_ms, attempts, stan, card_data, last_error, done_at_ms)
        SELECT id, sale_id, tender_idx, kind, state, created_at_ms, attempts, stan, card_data, last_error, done_at_ms FROM outbox;
    DROP TABLE outbox;
    ALTER TABLE outbox_v2 RENAME TO outbox;
    CREATE INDEX outbox_pending ON outbox(state, id);
        CREATE INDEX outbox_advices ON outbox(id) WHERE state = 'pending' AND txn_kind IS NOT NULL;
    "#,
    // 3: refunds and post-voids of card and QR tenders go to the host as
    // referenced 0200s (store/instructions.rs): the outbox row keeps the
    // host's RRN of the delivered message, and the original payment's
    // capture is found by its sale.
    r#"
    ALTER TABLE outbox ADD COLUMN rrn TEXT;
        CREATE INDEX acquirer_captures_sale ON acquirer_captures(sale_id) WHERE sale_id IS NOT NULL;
    CREATE INDEX acquirer_captures_stan ON acquirer_captures(stan);
    CREATE INDEX outbox_instructions ON outbox(id) WHERE state = 'pending' AND kind IN ('refund', 'void');
    "#,
    // 4: a sale writes fewer pages (one WAL fsync is the floor; each page
    // more is time the cashier waits). Receipt numbers end in the sales
    // row's id, so the UNIQUE index on receipt_no goes (lookups probe the
    // id, `sales::sale_id_of`); so does the time index (the export scans);
    // a period's stored totals are no longer rewritten per sale: they cover
    // the sales below `totals_upto_sale` (and every cash movement and void),
    // the sales above it are replayed from their journal payloads when a
    // report is read, and the printer side folds them in later
    // (`reports::fold_new_sales`); each period remembers its first sale so a
    // full replay reads a range;
    // queued print jobs are found above a floor the printer side moves, not
    // through an index every sale writes. The sales table is rebuilt, as
    // SQLite cannot drop a UNIQUE constraint in place (`migrate` runs every
    // step with foreign keys off and checks them before committing).
    r#"
    CREATE TABLE sales_v4(
        id INTEGER PRIMARY KEY,
        receipt_no TEXT NOT NULL,
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
    INSERT INTO sales_v4(id, receipt_no, kind, period_id, cashier, completed_at_ms, total, original_receipt, journal_seq, voided_at_ms, voided_by)
        SELECT id, receipt_no, kind, period_id, cashier, completed_at_ms, total, original_receipt, journal_seq, voided_at_ms, voided_by FROM sales;
    DROP TABLE sales;
    ALTER TABLE sales_v4 RENAME TO sales;
    CREATE INDEX sales_original ON sales(original_receipt) WHERE original_receipt IS NOT NULL;

    ALTER TABLE periods ADD COLUMN first_sale_id INTEGER;
    ALTER TABLE periods ADD COLUMN totals_upto_sale INTEGER;
    UPDATE periods SET
        first_sale_id = COALESCE(
            (SELECT MIN(id) FROM sales WHERE period_id = periods.id),
            (SELECT COALESCE(MAX(id), 0) + 1 FROM sales)),
        totals_upto_sale = (SELECT COALESCE(MAX(id), 0) + 1 FROM sales);

    DROP INDEX print_jobs_queued;
    INSERT INTO counters(name, value)
        SELECT 'print_floor', COALESCE(
            (SELECT MIN(id) FROM print_jobs WHERE state = 'queued'),
            (SELECT COALESCE(MAX(id), 0) + 1 FROM print_jobs));
    "#,
    // 5: wrong PINs in a row per cashier number (known or not), and the
    // lockout they led to (store/cashiers.rs).
    r#"
    CREATE TABLE login_failures(
        number INTEGER PRIMARY KEY,
        failures INTEGER NOT NULL DEFAULT 0,
        lockouts INTEGER NOT NULL DEFAULT 0,
        locked_until_ms INTEGER
    );
    "#,
    // 6: each journal entry may carry an HMAC of its hash (store/journal.rs),
    // from the entry that says the chain is keyed on.
    r#"
    ALTER TABLE journal ADD COLUMN mac TEXT;
    "#,
    // 7: QR orders at the gateway (store/qr_orders.rs): each is written
    // before its first request and ends recorded, closed or reversed, so a
    // QR payment never stays one-sided, even across a crash.
    r#"
    CREATE TABLE qr_orders(
        out_trade_no TEXT PRIMARY KEY,
        origin TEXT NOT NULL CHECK (origin IN ('code', 'shown')),
        amount INTEGER NOT NULL,
        currency TEXT NOT NULL,
        scheme TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL CHECK (state IN ('open', 'paid', 'recorded', 'closed', 'reversed')),
        transaction_id TEXT NOT NULL DEFAULT '',
        created_at_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL,
        note TEXT NOT NULL DEFAULT ''
    ) WITHOUT ROWID;
    CREATE INDEX qr_orders_unfinished ON qr_orders(state) WHERE state IN ('open', 'paid');
    INSERT OR IGNORE INTO counters(name, value) VALUES ('qr_order', 0);
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
    if current == LATEST {
        return Ok(MigrateOutcome::AtVersion(LATEST));
    }
    // A step may rebuild a table others refer to (SQLite's own recipe:
    // foreign keys off, rebuild, check, commit); the pragma cannot change
    // inside a transaction, so it is set around the steps and restored.
    let enforced: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let result = run_steps(conn, current);
    conn.pragma_update(None, "foreign_keys", if enforced { "ON" } else { "OFF" })?;
    result?;
    Ok(MigrateOutcome::AtVersion(LATEST))
}

fn run_steps(conn: &mut Connection, current: i64) -> rusqlite::Result<()> {
    for (i, step) in STEPS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(step)?;
        let broken: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()?;
        if let Some(table) = broken {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                Some(format!(
                    "schema step {} left a broken reference in {table}",
                    i + 1
                )),
            ));
        }
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// What a migration run found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrateOutcome {
    AtVersion(i64),
    TooNew { found: i64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A till that sold offline on schema 1 keeps its outbox rows, card
    /// data included, through step 2; new rows may then lack a sale.
    #[test]
    fn step_2_keeps_existing_outbox_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        let v1 = STEPS.first().copied().unwrap();
        conn.execute_batch(v1).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(
            "INSERT INTO periods(id, opened_at_ms, totals) VALUES (1, 0, '{}');
             INSERT INTO journal(seq, at_ms, kind, payload, prev_hash, hash) VALUES (1, 0, 'sale', '{}', 'x', 'y');
             INSERT INTO sales(id, receipt_no, kind, period_id, cashier, completed_at_ms, total, journal_seq)
                 VALUES (1, 'T01-000001', 'sale', 1, 1001, 0, 500, 1);
             INSERT INTO outbox(id, sale_id, tender_idx, kind, created_at_ms, card_data)
                 VALUES (7, 1, 0, 'advice', 5, x'010203');",
        )
        .unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        assert_eq!(
            migrate(&mut conn).unwrap(),
            MigrateOutcome::AtVersion(LATEST)
        );
        let row: (i64, Option<i64>, String, Vec<u8>, Option<String>) = conn
            .query_row(
                "SELECT id, sale_id, state, card_data, txn_kind FROM outbox",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(row, (7, Some(1), "pending".into(), vec![1, 2, 3], None));
        conn.execute(
            "INSERT INTO outbox(kind, created_at_ms, txn_kind) VALUES ('advice', 6, '000000')",
            [],
        )
        .unwrap();
        let stan: i64 = conn
            .query_row(
                "SELECT value FROM counters WHERE name = 'acquirer_stan'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stan, 0);
        // Re-running is a no-op.
        assert_eq!(
            migrate(&mut conn).unwrap(),
            MigrateOutcome::AtVersion(LATEST)
        );
    }

    /// A till on schema 3 keeps everything through step 4: its sales (found
    /// by receipt number without the dropped index), its open period's
    /// running totals (now stored totals covering every sale so far), its
    /// queued receipts (above the new print floor) and its foreign keys.
    #[test]
    fn step_4_keeps_sales_totals_and_queued_receipts() {
        let mut conn = Connection::open_in_memory().unwrap();
        for step in STEPS.iter().take(3) {
            conn.execute_batch(step).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        let running = r#"{"currency":"CNY","sales":{"count":2,"amount":1500},"refunds":{"count":0,"amount":0},"post_voids":{"count":0,"amount":0},"line_voids":0,"discounts":0,"rounding":0,"cash_in":{"count":0,"amount":0},"cash_out":{"count":0,"amount":0},"no_sales":0,"tenders":{},"tax":{},"by_hour":[],"opening_float":5000}"#;
        conn.execute(
            "INSERT INTO periods(id, opened_at_ms, totals) VALUES (1, 0, ?1)",
            [running],
        )
        .unwrap();
        conn.execute_batch(
            "INSERT INTO journal(seq, at_ms, kind, payload, prev_hash, hash) VALUES (1, 0, 'sale', '{}', 'x', 'y'), (2, 0, 'sale', '{}', 'y', 'z');
             INSERT INTO sales(id, receipt_no, kind, period_id, cashier, completed_at_ms, total, journal_seq)
                 VALUES (1, 'T01-000001', 'sale', 1, 1001, 0, 500, 1), (2, 'T01-000002', 'sale', 1, 1001, 0, 1000, 2);
             INSERT INTO print_jobs(id, sale_id, kind, copies, state, created_at_ms) VALUES
                 (1, 1, 'receipt', 1, 'printed', 0), (2, 2, 'receipt', 1, 'queued', 0);
             INSERT INTO outbox(sale_id, tender_idx, kind, created_at_ms) VALUES (2, 0, 'advice', 0);",
        )
        .unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        assert_eq!(
            migrate(&mut conn).unwrap(),
            MigrateOutcome::AtVersion(LATEST)
        );
        let fk: bool = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert!(fk, "foreign keys are enforced again after the rebuild");
        let unique: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sales'
                 AND name != 'sales_original'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(unique, 0, "a sale writes no receipt-number or time index");
        assert_eq!(
            crate::sales::sale_id_of(&conn, "T01-000002").unwrap(),
            Some(2)
        );
        let (_, totals) = crate::reports::period_totals(&conn, 1).unwrap();
        assert_eq!(
            (totals.sales.count, totals.opening_float),
            (2, 5000),
            "the running totals cover both sales and none is counted twice"
        );
        let floor: i64 = conn
            .query_row(
                "SELECT value FROM counters WHERE name = 'print_floor'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(floor, 2, "the queued receipt is at the floor");
        // The rebuilt table is still the one the outbox refers to.
        assert!(conn.execute("DELETE FROM sales WHERE id = 2", []).is_err());
    }
}

//! Tampering with a real till database, one way at a time, and what
//! `check` says: every edit below must fail a check that names it. The
//! pristine shop has sales (cash and card), a refund, a post-void, cash in
//! and out, a Z report (whose printed anchor `--anchor` proves) and sales
//! after it; each tampering works on its own copy of that file, as someone
//! with the file and the SQLite shell would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use common::{demo_store, refund_of, supervisor};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use tillpoint_app::check::{anchor_line, store_checks, CheckLine};
use tillpoint_app::till::{Paths, Till};
use tillpoint_core::cashier::{Action, Target};
use tillpoint_core::catalog::Qty;
use tillpoint_core::money::Money;
use tillpoint_core::sale::Sale;
use tillpoint_core::tender::{CardRef, TenderKind};
use tillpoint_store::journal::entry_hash;
use tillpoint_store::sales::CashMovement;
use tillpoint_store::Store;

const T: i64 = 1_763_700_000_000;

/// The pristine shop's files: the database, a copy taken before the Z (an
/// older backup), and the Z's anchor.
struct Shop {
    _dir: tempfile::TempDir,
    db: PathBuf,
    before_z: PathBuf,
    anchor: String,
}

fn sale(store: &Store, skus: &[(&str, i64)]) -> Sale {
    let mut s = Sale::new(store.settings().currency, 1001);
    for (sku, n) in skus {
        let p = store.product_by_sku(sku).unwrap().unwrap();
        s.add(&p, Qty::pieces(*n)).unwrap();
    }
    s
}

fn cash_sale(store: &mut Store, skus: &[(&str, i64)], at: i64) -> String {
    let rules = tillpoint_config::Config::parse(tillpoint_app::demo_shop::CONFIG_TOML)
        .unwrap()
        .0
        .pricing;
    let mut s = sale(store, skus);
    s.pay_cash(Money::new(100_000, rules.currency), &rules)
        .unwrap();
    store
        .complete_sale(&s, &rules, at, 10, &[])
        .unwrap()
        .record
        .receipt_no
}

fn shop() -> Shop {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let (mut store, config) = demo_store(&work);
    let rules = config.pricing.clone();
    cash_sale(&mut store, &[("00001", 2), ("00003", 1)], T); // T01-000001
    cash_sale(&mut store, &[("00010", 1)], T + 1); // T01-000002
    let mut card = sale(&store, &[("00001", 1)]);
    let due = card.balance(&rules).unwrap();
    card.pay_electronic(
        TenderKind::Card,
        due,
        CardRef {
            masked_pan: "476173******0010".into(),
            scheme: "Visa".into(),
            auth_code: "A1B2C3".into(),
            ..CardRef::default()
        },
        &rules,
    )
    .unwrap();
    store.complete_sale(&card, &rules, T + 2, 10, &[]).unwrap(); // T01-000003
    store
        .complete_refund(
            "T01-000001",
            &[(1, Qty::pieces(1))],
            &rules,
            1001,
            &supervisor(
                Action::Refund,
                refund_of("T01-000001", &[(1, Qty::pieces(1))]),
            ),
            T + 3,
            10,
        )
        .unwrap(); // T01-000004
    store
        .post_void(
            "T01-000002",
            &supervisor(Action::PostVoid, Target::Receipt("T01-000002".into())),
            T + 4,
        )
        .unwrap();
    // An older backup: the day before its cash movements and Z.
    let before_z = dir.path().join("before-z.db");
    vacuum_into(store.raw_connection(), &before_z);
    store
        .cash_movement(
            CashMovement::In,
            Money::new(5_000, rules.currency),
            1001,
            None,
            "float",
            T + 5,
        )
        .unwrap();
    store
        .cash_movement(
            CashMovement::Out,
            Money::new(2_000, rules.currency),
            1001,
            None,
            "bank",
            T + 6,
        )
        .unwrap();
    let z = store
        .z_report(&supervisor(Action::ZReport, Target::Till), T + 7)
        .unwrap();
    cash_sale(&mut store, &[("00003", 2)], T + 8); // T01-000005
    cash_sale(&mut store, &[("00001", 1)], T + 9); // T01-000006
    let db = dir.path().join("pristine.db");
    vacuum_into(store.raw_connection(), &db);
    Shop {
        _dir: dir,
        db,
        before_z,
        anchor: z.chain_head.unwrap(),
    }
}

fn vacuum_into(conn: &Connection, to: &Path) {
    conn.execute("VACUUM INTO ?1", [to.to_str().unwrap()])
        .unwrap();
}

/// The checks of a till whose database is a copy of `db` after `edit`,
/// with the anchor proof.
fn check_after(db: &Path, anchor: &str, edit: &str) -> Vec<CheckLine> {
    let dir = tempfile::tempdir().unwrap();
    let data = place(db, dir.path());
    if !edit.is_empty() {
        let c = Connection::open(data.join("till.db")).unwrap();
        // As in the SQLite shell, where foreign keys are off unless asked for.
        c.execute_batch("PRAGMA foreign_keys = OFF;").unwrap();
        c.execute_batch(edit).unwrap();
    }
    checks(&data, anchor)
}

/// A till data directory in `dir` holding a copy of `db`, private as the
/// till makes its files.
fn place(db: &Path, dir: &Path) -> PathBuf {
    let data = dir.join("data");
    tillpoint_config::private::create_dir(&data).unwrap();
    let to = data.join("till.db");
    tillpoint_config::private::write(&to, &std::fs::read(db).unwrap()).unwrap();
    data
}

fn checks(data: &Path, anchor: &str) -> Vec<CheckLine> {
    let cfg = data.join("tillpoint.toml");
    common::write_config(&cfg, tillpoint_app::demo_shop::CONFIG_TOML);
    let till = Till::open(Paths {
        config_file: cfg,
        data_dir: data.to_path_buf(),
    })
    .unwrap();
    let mut lines = store_checks(&till);
    lines.push(anchor_line(&till, anchor));
    lines
}

/// Rewrites every hash from entry `from` on, as someone who knows the
/// (public) chain rule would after editing an entry.
fn rechain(db: &Path, from: i64) {
    let c = Connection::open(db).unwrap();
    c.execute_batch("DROP TRIGGER IF EXISTS journal_no_update;")
        .unwrap();
    let mut prev: String = if from <= 1 {
        tillpoint_store::journal::GENESIS.to_string()
    } else {
        c.query_row("SELECT hash FROM journal WHERE seq = ?1", [from - 1], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let rows: Vec<(i64, i64, String, Option<String>, String)> = c
        .prepare("SELECT seq, at_ms, kind, ref, payload FROM journal WHERE seq >= ?1 ORDER BY seq")
        .unwrap()
        .query_map([from], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (seq, at, kind, reference, payload) in rows {
        let h = entry_hash(&prev, seq, at, &kind, reference.as_deref(), &payload);
        c.execute(
            "UPDATE journal SET prev_hash = ?2, hash = ?3 WHERE seq = ?1",
            rusqlite::params![seq, prev, h],
        )
        .unwrap();
        prev = h;
    }
}

fn failed(lines: &[CheckLine]) -> Vec<&CheckLine> {
    lines.iter().filter(|l| !l.ok).collect()
}

/// Asserts that `lines` fail `id` with `words` in its detail.
fn caught(name: &str, lines: &[CheckLine], id: &str, words: &str) {
    assert!(
        lines
            .iter()
            .any(|l| !l.ok && l.id == id && l.detail.contains(words)),
        "{name}: expected FAIL {id} naming {words:?}, got {:#?}",
        failed(lines)
    );
}

#[test]
fn every_tampering_fails_the_check_and_is_named() {
    let shop = shop();
    // The pristine shop passes, anchor included.
    let clean = check_after(&shop.db, &shop.anchor, "");
    assert!(failed(&clean).is_empty(), "{:#?}", failed(&clean));

    // (name, SQL, the check that must fail, what its detail names)
    let edits: &[(&str, &str, &str, &str)] = &[
        (
            "a deleted sale row",
            "DELETE FROM sales WHERE receipt_no = 'T01-000003';",
            "index",
            "has no sales row",
        ),
        (
            "a deleted refund row",
            "DELETE FROM sales WHERE receipt_no = 'T01-000004';",
            "index",
            "refund T01-000004",
        ),
        (
            "a deleted cash movement",
            "DELETE FROM cash_movements WHERE kind = 'out';",
            "index",
            "has no cash_movements row",
        ),
        (
            "a cash movement's amount edited",
            "UPDATE cash_movements SET amount = 200 WHERE kind = 'out';",
            "index",
            "differs from its journal entry",
        ),
        (
            "a forged cash movement",
            "INSERT INTO cash_movements(period_id, kind, amount, cashier, reason, at_ms, journal_seq)
                 VALUES (2, 'in', 100, 1001, 'x', 0, 999);",
            "index",
            "has no journal entry",
        ),
        (
            "an amount edited and the period totals rewritten to match",
            "UPDATE sales SET total = total - 100 WHERE receipt_no = 'T01-000001';
             UPDATE periods SET totals = json_set(totals, '$.sales.amount', json_extract(totals, '$.sales.amount') - 100);",
            "sales",
            "T01-000001 differs from its journal entry",
        ),
        (
            "the closed day's stored totals edited",
            "UPDATE periods SET totals = json_set(totals, '$.sales.amount', 1) WHERE z_number = 1;",
            "totals",
            "period 1",
        ),
        (
            "the open day's stored totals edited",
            "UPDATE periods SET totals = json_set(totals, '$.cash_in.amount', 99) WHERE closed_at_ms IS NULL;",
            "totals",
            "period 2",
        ),
        (
            "a sale marked voided",
            "UPDATE sales SET voided_at_ms = 1, voided_by = 2001 WHERE receipt_no = 'T01-000005';",
            "index",
            "T01-000005 is marked voided",
        ),
        (
            "a post-void undone",
            "UPDATE sales SET voided_at_ms = NULL, voided_by = NULL WHERE receipt_no = 'T01-000002';",
            "index",
            "T01-000002 was post-voided",
        ),
        (
            "a dropped trigger and an edited journal payload",
            "DROP TRIGGER journal_no_update;
             UPDATE journal SET payload = replace(payload, '\"cashier\":1001', '\"cashier\":1002') WHERE ref = 'T01-000005';",
            "journal",
            "does not match its hash",
        ),
        (
            "a journal entry deleted from the middle",
            "DROP TRIGGER journal_no_delete;
             DELETE FROM journal WHERE kind = 'post_void';",
            "journal",
            "is missing",
        ),
        (
            "a forged sales row",
            "INSERT INTO sales(receipt_no, kind, period_id, cashier, completed_at_ms, total, journal_seq)
                 VALUES ('T01-000099', 'sale', 2, 1001, 0, 100, 999);",
            "sales",
            "T01-000099",
        ),
        (
            "a second sales row for one entry",
            "INSERT INTO sales(receipt_no, kind, period_id, cashier, completed_at_ms, total, journal_seq)
                 SELECT 'T01-000077', kind, period_id, cashier, completed_at_ms, total, journal_seq FROM sales WHERE receipt_no = 'T01-000006';",
            "index",
            "claim journal entry",
        ),
        (
            "the journal's tail cut from the Z on (with its rows)",
            "DROP TRIGGER journal_no_delete;
             DELETE FROM sales WHERE receipt_no IN ('T01-000005', 'T01-000006');
             DELETE FROM print_jobs WHERE sale_id IN (5, 6);
             DELETE FROM journal WHERE seq >= (SELECT seq FROM journal WHERE kind = 'z_report');
             DELETE FROM periods WHERE closed_at_ms IS NULL;
             UPDATE periods SET closed_at_ms = NULL, z_number = NULL;",
            "anchor",
            "the journal was cut back",
        ),
    ];
    let mut tried = 0;
    for (name, sql, id, words) in edits {
        let lines = check_after(&shop.db, &shop.anchor, sql);
        caught(name, &lines, id, words);
        tried += 1;
    }

    // A recomputed chain: an earlier sale's payload edited, its row and the
    // closed day's totals made to match, every hash after it rewritten. The
    // chain verifies; the printed anchor does not.
    {
        let dir = tempfile::tempdir().unwrap();
        let data = place(&shop.db, dir.path());
        let db = data.join("till.db");
        let c = Connection::open(&db).unwrap();
        c.execute_batch(
            "DROP TRIGGER journal_no_update;
             UPDATE journal SET payload = replace(payload, '\"cashier\":1001', '\"cashier\":1003') WHERE ref = 'T01-000003';
             UPDATE sales SET cashier = 1003 WHERE receipt_no = 'T01-000003';",
        )
        .unwrap();
        let seq: i64 = c
            .query_row(
                "SELECT seq FROM journal WHERE ref = 'T01-000003'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        drop(c);
        rechain(&db, seq);
        let lines = checks(&data, &shop.anchor);
        assert!(
            lines.iter().any(|l| l.id == "journal" && l.ok),
            "the rewritten chain verifies on its own"
        );
        caught(
            "a recomputed chain",
            &lines,
            "anchor",
            "no journal entry has anchor",
        );
        tried += 1;
    }

    // An older backup put back: the journal before the Z.
    let lines = check_after(&shop.before_z, &shop.anchor, "");
    caught(
        "an older backup restored",
        &lines,
        "anchor",
        "no journal entry has anchor",
    );
    tried += 1;

    eprintln!("tampering: {tried} tried, {tried} caught");
    assert_eq!(tried, edits.len() + 2);
}

/// After the start-up check finds the records altered, the till completes
/// no sale until a manager acknowledges it (journaled, with the failures);
/// the check goes on reporting it, and the same failures found at the next
/// start do not stop the till again, while new ones do.
#[test]
fn altered_records_stop_selling_until_a_manager_acknowledges() {
    use tillpoint_app::service::Service;
    let shop = shop();
    let dir = tempfile::tempdir().unwrap();
    let data = place(&shop.db, dir.path());
    let edit = |sql: &str| {
        let c = Connection::open(data.join("till.db")).unwrap();
        c.execute_batch("PRAGMA foreign_keys = OFF;").unwrap();
        c.execute_batch(sql).unwrap();
    };
    edit("DELETE FROM sales WHERE receipt_no = 'T01-000003';");
    let cfg = data.join("tillpoint.toml");
    common::write_config(&cfg, tillpoint_app::demo_shop::CONFIG_TOML);
    let open = || {
        Service::new(
            Till::open(Paths {
                config_file: cfg.clone(),
                data_dir: data.clone(),
            })
            .unwrap(),
        )
    };
    let service = open();
    assert!(
        service.selling_hold().is_empty(),
        "nothing held before a check"
    );
    let lines = service.check();
    let hold = service.selling_hold();
    assert!(hold.iter().any(|h| h.starts_with("index:")), "{hold:?}");
    let rules = service.with_till(|t| t.config.pricing.clone());
    let paid = || {
        let mut s = service.with_till(|t| sale(&t.store, &[("00001", 1)]));
        let due = s.cash_due(&rules).unwrap();
        s.pay_cash(due, &rules).unwrap();
        s
    };
    let refused = service.complete(&paid()).unwrap_err();
    assert!(refused.contains("selling is stopped"), "{refused}");
    // A supervisor may not wave it through; the manager may.
    let sup = service
        .approve(2001, "2468", Action::AcknowledgeIntegrity, Target::Till)
        .unwrap_err();
    assert!(
        matches!(sup, tillpoint_app::service::Denied::NotAllowed(_)),
        "{sup:?}"
    );
    let manager = service
        .approve(9001, "9999", Action::AcknowledgeIntegrity, Target::Till)
        .unwrap();
    service.acknowledge_integrity(&manager).unwrap();
    assert!(service.selling_hold().is_empty());
    service.complete(&paid()).unwrap();
    let again = service.check();
    assert!(
        failed(&again).iter().any(|l| l.id == "index"),
        "the check still reports it"
    );
    assert!(
        service.selling_hold().is_empty(),
        "the same failure, acknowledged"
    );
    let payload: String = service.with_till(|t| {
        t.store
            .raw_connection()
            .query_row(
                "SELECT payload FROM journal WHERE kind = 'integrity_acknowledged'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    });
    assert!(
        payload.contains("\"approved_by\":9001") && payload.contains("has no sales row"),
        "{payload}"
    );
    drop((service, lines));
    // A new failure after the acknowledgement stops the next start again.
    edit("DELETE FROM cash_movements WHERE kind = 'out';");
    let restarted = open();
    restarted.check();
    assert!(
        !restarted.selling_hold().is_empty(),
        "the index line changed"
    );
}

/// With the journal key (sealed by the KEK, outside the database), a
/// rewritten chain is caught without any anchor: recomputing the hashes
/// after an edit, writing an entry around the till, or cutting away the
/// keyed part all leave MACs that do not match or are missing.
#[test]
fn a_keyed_journal_catches_a_recomputed_chain_without_an_anchor() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    tillpoint_config::private::create_dir(&data).unwrap();
    let cfg = data.join("tillpoint.toml");
    common::write_config(&cfg, tillpoint_app::demo_shop::CONFIG_TOML);
    let open = || {
        Till::open(Paths {
            config_file: cfg.clone(),
            data_dir: data.clone(),
        })
        .unwrap()
    };
    {
        let mut till = open();
        let classes = till.config.tax_classes();
        tillpoint_app::demo_shop::seed(&mut till.store, &classes).unwrap();
        cash_sale(&mut till.store, &[("00001", 1)], T);
        cash_sale(&mut till.store, &[("00003", 2)], T + 1);
    }
    let db = data.join("till.db");
    let pristine = dir.path().join("pristine.db");
    vacuum_into(&Connection::open(&db).unwrap(), &pristine);
    let restore = || {
        for f in ["till.db-wal", "till.db-shm"] {
            let _ = std::fs::remove_file(data.join(f));
        }
        std::fs::copy(&pristine, &db).unwrap();
    };
    let sql = |edit: &str| {
        let c = Connection::open(&db).unwrap();
        // As in the SQLite shell, where foreign keys are off unless asked for.
        c.execute_batch("PRAGMA foreign_keys = OFF;").unwrap();
        c.execute_batch(edit).unwrap();
    };
    let first_keyed: i64 = Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT seq FROM journal WHERE kind = 'journal_keyed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(first_keyed, 1, "a new till is keyed from its first entry");
    let clean = store_checks(&open());
    assert!(failed(&clean).is_empty(), "{:#?}", failed(&clean));

    // An edited sale with every hash after it recomputed.
    restore();
    sql("DROP TRIGGER journal_no_update;
         UPDATE journal SET payload = replace(payload, '\"cashier\":1001', '\"cashier\":1002')
           WHERE seq = (SELECT MAX(seq) FROM journal WHERE kind = 'sale');");
    let last_sale: i64 = Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT MAX(seq) FROM journal WHERE kind = 'sale'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    rechain(&db, last_sale);
    caught(
        "a recomputed chain",
        &store_checks(&open()),
        "journal",
        "MAC does not match",
    );

    // An entry written straight into the file, its plain hash right.
    restore();
    let (seq, prev): (i64, String) = Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let h = entry_hash(&prev, seq + 1, T + 9, "cash", None, "{}");
    sql(&format!(
        "INSERT INTO journal(seq, at_ms, kind, payload, prev_hash, hash) VALUES ({}, {}, 'cash', '{{}}', '{prev}', '{h}');",
        seq + 1,
        T + 9
    ));
    caught(
        "an entry without a MAC",
        &store_checks(&open()),
        "journal",
        "has no MAC",
    );

    // The keyed part cut away: the marker gone, the MACs stripped, the
    // chain recomputed from the start.
    restore();
    sql(
        "DROP TRIGGER journal_no_update; DROP TRIGGER journal_no_delete;
         DELETE FROM journal WHERE kind = 'journal_keyed';
         UPDATE journal SET seq = seq - 1, mac = NULL;",
    );
    rechain(&db, 1);
    caught(
        "the keyed part cut away",
        &store_checks(&open()),
        "journal",
        "keyed part is gone",
    );
}

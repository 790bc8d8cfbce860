//! Integration tests of the store on a real SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use common::{demo_store, refund_of, supervisor};
use tillpoint_core::cashier::{Action, Target};
use tillpoint_core::catalog::Qty;
use tillpoint_core::money::Money;
use tillpoint_core::sale::Sale;
use tillpoint_core::tender::{CardRef, TenderKind};
use tillpoint_store::cashiers::Login;
use tillpoint_store::catalog::ImportError;
use tillpoint_store::sales::CashMovement;
use tillpoint_store::{Store, StoreError};

const T: i64 = 1_763_700_000_000;

fn sale_of(store: &Store, skus: &[(&str, i64)]) -> Sale {
    let mut s = Sale::new(store.settings().currency, 1001);
    for (sku, n) in skus {
        let p = store.product_by_sku(sku).unwrap().unwrap();
        s.add(&p, Qty::pieces(*n)).unwrap();
    }
    s
}

#[test]
fn complete_park_resume_refund_and_z() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, config) = demo_store(dir.path());
    let rules = &config.pricing;
    let cur = rules.currency;

    // Park a sale, serve someone else, resume it.
    let parked = sale_of(&store, &[("00001", 2), ("00010", 1)]);
    let id = store.park(&parked, "blue jacket", T).unwrap();
    assert_eq!(store.parked().unwrap().len(), 1);
    let mut other = sale_of(&store, &[("00003", 1)]);
    other.pay_cash(Money::new(10_000, cur), rules).unwrap();
    let first = store.complete_sale(&other, rules, T, 9, &[]).unwrap();
    let mut resumed = store.resume(id).unwrap();
    assert_eq!(resumed, parked);
    assert!(store.parked().unwrap().is_empty());
    assert!(store.resume(id).is_err(), "a parked sale resumes once");

    // Pay the resumed sale by card and cash, complete it.
    let half = Money::new(resumed.balance(rules).unwrap().minor / 2, cur);
    let card = CardRef {
        masked_pan: "621234*********4567".into(),
        offline: true,
        ..CardRef::default()
    };
    resumed
        .pay_electronic(TenderKind::Card, half, card, rules)
        .unwrap();
    let due = resumed.cash_due(rules).unwrap();
    resumed.pay_cash(due, rules).unwrap();
    let second = store
        .complete_sale(&resumed, rules, T + 1000, 10, &[(0, vec![1, 2, 3])])
        .unwrap();
    assert_eq!(
        store.sale_by_receipt(&second.record.receipt_no).unwrap(),
        second.record
    );
    // The offline card tender waits in the outbox with its (opaque) card data.
    let out = store.pending_outbox(10).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, "advice");
    assert_eq!(out[0].card_data.as_deref(), Some(&[1u8, 2, 3][..]));
    assert!(store.outbox_done(out[0].id, T).unwrap());
    assert!(
        !store.outbox_done(out[0].id, T).unwrap(),
        "acknowledged once"
    );
    assert_eq!(store.pending_outbox(10).unwrap().len(), 0);

    // Refund one of the two colas; a second refund of 2 is refused.
    let ap = supervisor(
        Action::Refund,
        refund_of(&second.record.receipt_no, &[(1, Qty::ONE)]),
    );
    let refund = store
        .complete_refund(
            &second.record.receipt_no,
            &[(1, Qty::ONE)],
            rules,
            1001,
            &ap,
            T + 2000,
            11,
        )
        .unwrap();
    assert!(refund.record.total.minor < 0);
    assert_eq!(
        refund.record.tenders[0].kind,
        TenderKind::Card,
        "back to the card first"
    );
    let err = store
        .complete_refund(
            &second.record.receipt_no,
            &[(1, Qty::pieces(2))],
            rules,
            1001,
            &supervisor(
                Action::Refund,
                refund_of(&second.record.receipt_no, &[(1, Qty::pieces(2))]),
            ),
            T + 3000,
            11,
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Refund(_)), "{err}");
    assert_eq!(
        store.refunds_of(&second.record.receipt_no).unwrap().len(),
        1
    );

    // A refund approval does not void; a post-void approval does.
    assert!(store
        .post_void(&first.record.receipt_no, &ap, T + 4000)
        .is_err());
    store
        .post_void(
            &first.record.receipt_no,
            &supervisor(
                Action::PostVoid,
                Target::Receipt(first.record.receipt_no.clone()),
            ),
            T + 4000,
        )
        .unwrap();
    assert!(store
        .post_void(
            &first.record.receipt_no,
            &supervisor(
                Action::PostVoid,
                Target::Receipt(first.record.receipt_no.clone())
            ),
            T + 4001
        )
        .is_err());
    assert!(
        store
            .post_void(
                &second.record.receipt_no,
                &supervisor(
                    Action::PostVoid,
                    Target::Receipt(second.record.receipt_no.clone())
                ),
                T + 4002
            )
            .is_err(),
        "a refunded sale cannot be voided"
    );

    store
        .cash_movement(
            CashMovement::In,
            Money::new(5000, cur),
            1001,
            None,
            "change float",
            T,
        )
        .unwrap();
    store
        .cash_movement(
            CashMovement::Out,
            Money::new(2000, cur),
            1001,
            None,
            "pickup",
            T,
        )
        .unwrap();
    assert!(store
        .cash_movement(CashMovement::NoSale, Money::zero(cur), 1001, None, "", T)
        .is_err());
    store
        .cash_movement(
            CashMovement::NoSale,
            Money::zero(cur),
            1001,
            Some(&supervisor(Action::NoSale, Target::Till)),
            "change",
            T,
        )
        .unwrap();

    let x = store.x_report(T + 5000).unwrap();
    let t = &x.totals;
    assert_eq!(t.sales.count, 1, "the voided sale no longer counts");
    assert_eq!(t.refunds.count, 1);
    assert_eq!(t.post_voids.count, 1);
    assert_eq!(
        t.net(),
        second.record.settled().unwrap().minor + refund.record.settled().unwrap().minor
    );
    let cash_in_sales: i64 = second
        .record
        .tenders
        .iter()
        .filter(|t| t.kind == TenderKind::Cash)
        .map(|t| t.amount.minor)
        .sum();
    assert_eq!(t.cash_expected(), 50_000 + cash_in_sales + 5000 - 2000);
    let tax_gross: i64 = t.tax.values().map(|x| x.gross).sum();
    assert_eq!(tax_gross, t.net());

    // Z closes the period; a second Z right away has nothing to close.
    let z = store
        .z_report(&supervisor(Action::ZReport, Target::Till), T + 6000)
        .unwrap();
    assert_eq!(z.z_number, Some(1));
    assert_eq!(z.totals, x.totals);
    assert!(store
        .z_report(&supervisor(Action::ZReport, Target::Till), T + 7000)
        .is_err());
    assert!(store
        .z_report(&supervisor(Action::Refund, Target::Till), T + 7000)
        .is_err());
    assert_eq!(store.z_by_number(1).unwrap().unwrap(), z);
    // After the Z a sale of the closed day cannot be voided, and the new period starts clean.
    assert!(store
        .post_void(
            &second.record.receipt_no,
            &supervisor(
                Action::PostVoid,
                Target::Receipt(second.record.receipt_no.clone())
            ),
            T + 8000
        )
        .is_err());
    assert_eq!(store.x_report(T + 9000).unwrap().totals.sales.count, 0);

    // Everything verifies, and survives a reopen.
    drop(store);
    let (store, _) = demo_store(dir.path());
    assert_eq!(store.integrity_check().unwrap(), Ok(()));
    assert!(store.verify_journal().unwrap().is_ok());
    assert_eq!(store.verify_sales_against_journal().unwrap(), None);
    assert_eq!(store.verify_period_totals().unwrap(), None);
    assert_eq!(store.queued_print_jobs().unwrap().len(), 3);
}

#[test]
fn migrations_run_once_from_empty_and_refuse_newer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let (_, config) = demo_store(dir.path());
    let settings = tillpoint_app::till::store_settings(&config);
    let s = Store::open(&path, settings.clone()).unwrap();
    assert_eq!(s.schema_version().unwrap(), tillpoint_store::schema::LATEST);
    drop(s);
    // Re-opening re-runs nothing and keeps data.
    let s = Store::open(&path, settings.clone()).unwrap();
    assert_eq!(s.schema_version().unwrap(), tillpoint_store::schema::LATEST);
    s.raw_connection()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    drop(s);
    match Store::open(&path, settings) {
        Err(StoreError::TooNew { found: 99, .. }) => {}
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("opened a database from the future"),
    }
}

#[test]
fn csv_import_names_every_bad_line_and_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, config) = demo_store(dir.path());
    let before = store.product_count().unwrap();
    let csv = "sku,name,price,tax_class,category,unit,barcodes\n\
               X1,Good,1.00,A,c,piece,4006381333931\n\
               X2,Bad price,abc,A,c,piece,\n\
               X3,Bad class,1.00,Q,c,piece,\n\
               X4,Bad code,1.00,A,c,piece,4006381333932\n\
               X5,Bad unit,1.00,A,c,litre,\n\
               ,No sku,1.00,A,c,piece,\n\
               X7,Dup code,1.00,A,c,piece,4006381333931\n";
    let err = store
        .import_catalog(csv.as_bytes(), &config.tax_classes())
        .unwrap_err();
    let ImportError::Rows(rows) = &err else {
        panic!("{err}")
    };
    let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7, 8], "{err}");
    assert!(
        err.to_string()
            .contains("line 4: product X3: tax class \"Q\""),
        "{err}"
    );
    assert!(
        err.to_string().contains("already belongs to product X1"),
        "{err}"
    );
    assert_eq!(
        store.product_count().unwrap(),
        before,
        "nothing half-imported"
    );
    assert!(store.product_by_sku("X1").unwrap().is_none());
    let missing_col = store
        .import_catalog("sku,name\n1,a\n".as_bytes(), &config.tax_classes())
        .unwrap_err();
    assert!(
        missing_col.to_string().contains("missing price"),
        "{missing_col}"
    );
    // A good file imports, and updating a SKU replaces its barcodes.
    let ok =
        "sku,name,price,tax_class,category,unit,barcodes\nX1,Good,1.00,A,c,piece,4006381333931\n";
    assert_eq!(
        store
            .import_catalog(ok.as_bytes(), &config.tax_classes())
            .unwrap()
            .added,
        1
    );
    let upd =
        "sku,name,price,tax_class,category,unit,barcodes\nX1,Better,2.00,A,c,piece,96385074\n";
    assert_eq!(
        store
            .import_catalog(upd.as_bytes(), &config.tax_classes())
            .unwrap()
            .updated,
        1
    );
    assert!(store.product_by_barcode("4006381333931").unwrap().is_none());
    assert_eq!(
        store.product_by_barcode("96385074").unwrap().unwrap().name,
        "Better"
    );
}

#[test]
fn lookups_search_and_embedded_barcodes() {
    let dir = tempfile::tempdir().unwrap();
    let (store, config) = demo_store(dir.path());
    let cola = store.product_by_sku("00001").unwrap().unwrap();
    let hit = store
        .resolve_code(&cola.barcodes[0], &config.embedded_prefixes)
        .unwrap()
        .unwrap();
    assert_eq!(hit.product.sku, "00001");
    // Weight-embedded apples: 1.250 kg.
    let apples = store
        .resolve_code("2300001012506", &config.embedded_prefixes)
        .unwrap()
        .unwrap();
    assert_eq!(apples.embedded.unwrap().value, 1250);
    assert!(apples.product.name.contains("Apples"));
    assert!(store
        .resolve_code("0000000000000", &config.embedded_prefixes)
        .unwrap()
        .is_none());
    // Chinese inner match and Latin prefix match.
    let r = store.search_products("可乐", 10).unwrap();
    assert!(r.iter().any(|p| p.sku == "00001"), "{r:?}");
    let r = store.search_products("coca", 10).unwrap();
    assert!(r.iter().all(|p| p.name.contains("Coca")) && !r.is_empty());
    assert!(store.search_products("\"*)(", 10).unwrap().is_empty());
    assert!(store.categories().unwrap().len() >= 10);
}

#[test]
fn cashier_pins_are_hashed_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = demo_store(dir.path());
    assert!(
        matches!(store.login(1001, "1234", T).unwrap(), Login::Welcome(c) if c.cashier().number == 1001)
    );
    assert_eq!(
        store.login(1001, "4321", T).unwrap(),
        Login::Wrong { tries_left: 4 }
    );
    assert_eq!(
        store.login(4242, "1234", T).unwrap(),
        Login::Wrong { tries_left: 4 }
    );
    let hash: String = store
        .raw_connection()
        .query_row(
            "SELECT pin_hash FROM cashiers WHERE number = 1001",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(hash.starts_with("$argon2id$") && !hash.contains("1234"));
    let c = tillpoint_core::cashier::Cashier {
        number: 5,
        name: "X".into(),
        role: tillpoint_core::cashier::Role::Cashier,
    };
    let ok = manager(&mut store, 5);
    assert!(store.add_cashier(&c, "12", Some(&ok), T).is_err());
    assert!(store.add_cashier(&c, "12ab", Some(&ok), T).is_err());
}

#[test]
fn tampering_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, config) = demo_store(dir.path());
    let rules = &config.pricing;
    for _ in 0..3 {
        let mut s = sale_of(&store, &[("00001", 1)]);
        s.pay_cash(Money::new(10_000, rules.currency), rules)
            .unwrap();
        store.complete_sale(&s, rules, T, 9, &[]).unwrap();
    }
    let c = store.raw_connection();
    // The triggers refuse ordinary edits of the journal.
    assert!(c
        .execute("UPDATE journal SET payload = 'x' WHERE seq = 2", [])
        .is_err());
    assert!(c.execute("DELETE FROM journal WHERE seq = 3", []).is_err());
    // Editing a sale's total is caught by comparing with its journal entry.
    c.execute(
        "UPDATE sales SET total = total - 100 WHERE receipt_no = 'T01-000002'",
        [],
    )
    .unwrap();
    assert_eq!(
        store.verify_sales_against_journal().unwrap().as_deref(),
        Some("T01-000002")
    );
    // Going around the trigger breaks the chain at that entry.
    let seq: i64 = c
        .query_row(
            "SELECT seq FROM journal WHERE ref = 'T01-000002'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    c.execute_batch("DROP TRIGGER journal_no_update;").unwrap();
    c.execute(
        "UPDATE journal SET payload = replace(payload, '1001', '1002') WHERE seq = ?1",
        [seq],
    )
    .unwrap();
    let broken = store.verify_journal().unwrap().unwrap_err();
    assert_eq!(broken.seq, seq);
}

/// A period's totals are the same whether its sales were folded into the
/// stored totals (by the printer side or an X report) or replayed when the
/// report is read; voids of folded and unfolded sales and cash movements
/// count once. A twin store that folds after every step is the reference.
#[test]
fn period_totals_do_not_depend_on_when_sales_are_folded() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut lazy, config) = demo_store(a.path());
    let (mut eager, _) = demo_store(b.path());
    let rules = &config.pricing;
    let cur = rules.currency;
    let void = supervisor(Action::PostVoid, Target::Receipt("T01-000002".into()));
    let void3 = supervisor(Action::PostVoid, Target::Receipt("T01-000003".into()));
    let step = |i: usize, lazy: &mut Store, eager: &mut Store| {
        for store in [&mut *lazy, &mut *eager] {
            match i {
                3 => store.post_void("T01-000002", &void, T).map(drop).unwrap(),
                5 => store
                    .cash_movement(
                        CashMovement::In,
                        Money::new(700, cur),
                        1001,
                        None,
                        "float",
                        T,
                    )
                    .unwrap(),
                8 => store.post_void("T01-000003", &void3, T).map(drop).unwrap(),
                _ => {
                    let mut s = sale_of(store, &[("00001", 1 + i as i64 % 3), ("00003", 1)]);
                    s.pay_cash(Money::new(100_000, cur), rules).unwrap();
                    store
                        .complete_sale(&s, rules, T, (9 + i % 5) as u8, &[])
                        .unwrap();
                }
            }
        }
        eager.fold_period_totals().unwrap();
    };
    for i in 0..4 {
        step(i, &mut lazy, &mut eager);
    }
    // The printer prints the first receipts: that folds the three sales so
    // far (one of them already voided); the void at step 8 takes a folded
    // sale out of the stored totals.
    for job in lazy.queued_print_jobs().unwrap().into_iter().take(2) {
        assert!(lazy.mark_printed(job.id, T).unwrap());
    }
    for i in 4..10 {
        step(i, &mut lazy, &mut eager);
    }
    let x = lazy.x_report(T).unwrap();
    assert_eq!(x.totals, eager.x_report(T).unwrap().totals);
    assert_eq!(x.totals.sales.count, 7 - 2, "seven sales, two voided");
    assert_eq!(x.totals.post_voids.count, 2);
    assert_eq!(x.totals.cash_in.amount, 700);
    assert_eq!(lazy.verify_period_totals().unwrap(), None);
    // More sales after the X, then the Z closes with all of them.
    step(10, &mut lazy, &mut eager);
    let z = lazy
        .z_report(&supervisor(Action::ZReport, Target::Till), T)
        .unwrap();
    assert_eq!(z.totals.sales.count, 8 - 2);
    assert_eq!(
        z.totals,
        eager
            .z_report(&supervisor(Action::ZReport, Target::Till), T)
            .unwrap()
            .totals
    );
    assert_eq!(lazy.z_by_number(1).unwrap().unwrap().totals, z.totals);
    assert_eq!(lazy.verify_period_totals().unwrap(), None);
    // Stored totals edited to match a lowered figure are found, open or closed.
    lazy.raw_connection()
        .execute(
            "UPDATE periods SET totals = json_set(totals, '$.sales.amount', 1) WHERE id = 1",
            [],
        )
        .unwrap();
    assert_eq!(lazy.verify_period_totals().unwrap(), Some(1));
}

/// Receipts are found by the id their number ends in, and still found when
/// a number does not follow that rule.
#[test]
fn receipts_are_found_by_number_even_off_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, config) = demo_store(dir.path());
    let rules = &config.pricing;
    for _ in 0..2 {
        let mut s = sale_of(&store, &[("00001", 1)]);
        s.pay_cash(Money::new(10_000, rules.currency), rules)
            .unwrap();
        store.complete_sale(&s, rules, T, 9, &[]).unwrap();
    }
    assert!(!store.is_voided(" T01-000002 ").unwrap());
    store
        .raw_connection()
        .execute("UPDATE sales SET receipt_no = 'OLD-7' WHERE id = 1", [])
        .unwrap();
    assert!(!store.is_voided("OLD-7").unwrap());
    assert!(matches!(
        store.is_voided("T01-000001"),
        Err(StoreError::NoSuchReceipt(_))
    ));
    assert!(matches!(
        store.sale_by_receipt("T01-000009"),
        Err(StoreError::NoSuchReceipt(_))
    ));
}

/// A receipt stuck at the printer keeps its place while later jobs print:
/// finding queued jobs from the print floor up misses none of them.
#[test]
fn queued_print_jobs_survive_a_stuck_job_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, config) = demo_store(dir.path());
    let rules = &config.pricing;
    for _ in 0..4 {
        let mut s = sale_of(&store, &[("00001", 1)]);
        s.pay_cash(Money::new(10_000, rules.currency), rules)
            .unwrap();
        store.complete_sale(&s, rules, T, 9, &[]).unwrap();
    }
    let jobs: Vec<i64> = store
        .queued_print_jobs()
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(jobs.len(), 4);
    assert!(store.mark_printed(jobs[0], T).unwrap());
    store.mark_print_failed(jobs[1], "out of paper").unwrap();
    assert!(store.mark_printed(jobs[2], T).unwrap());
    assert!(!store.mark_printed(jobs[2], T).unwrap(), "printed once");
    let reprint = store.queue_reprint("T01-000001", T).unwrap();
    let settings = store.settings().clone();
    drop(store);
    let store = Store::open(&dir.path().join("till.db"), settings).unwrap();
    let left: Vec<i64> = store
        .queued_print_jobs()
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(left, vec![jobs[1], jobs[3], reprint]);
}

/// Five wrong PINs in a row lock a number (known or not) for five minutes,
/// then ten, and so on; the right PIN is not even checked while it is
/// locked; a good login forgets the count; a manager can lift a lockout;
/// every failure, lockout and unlock is journaled.
#[test]
fn wrong_pins_lock_the_number_for_longer_each_time() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = demo_store(dir.path());
    let min = 60_000;
    // A good login in between starts the count again.
    for _ in 0..4 {
        assert!(matches!(
            store.login(1001, "0000", T).unwrap(),
            Login::Wrong { .. }
        ));
    }
    assert!(matches!(
        store.login(1001, "1234", T).unwrap(),
        Login::Welcome(_)
    ));
    for left in (1..=4).rev() {
        assert_eq!(
            store.login(1001, "0000", T).unwrap(),
            Login::Wrong { tries_left: left }
        );
    }
    assert_eq!(
        store.login(1001, "0000", T).unwrap(),
        Login::Locked {
            until_ms: T + 5 * min
        }
    );
    // Locked: the right PIN is refused until the time has passed.
    assert_eq!(
        store.login(1001, "1234", T + 4 * min).unwrap(),
        Login::Locked {
            until_ms: T + 5 * min
        }
    );
    let later = T + 5 * min;
    for _ in 0..4 {
        store.login(1001, "0000", later).unwrap();
    }
    assert_eq!(
        store.login(1001, "0000", later).unwrap(),
        Login::Locked {
            until_ms: later + 10 * min
        },
        "the second lockout is twice as long"
    );
    // A number nobody has is locked the same way.
    for _ in 0..5 {
        store.login(777, "1111", T).unwrap();
    }
    assert!(matches!(
        store.login(777, "1111", T).unwrap(),
        Login::Locked { .. }
    ));
    // A manager lifts the lockout; a supervisor's approval does not.
    assert!(store
        .unlock_login(
            1001,
            &supervisor(Action::Refund, Target::Cashier(1001)),
            later
        )
        .is_err());
    // The demo's manager, by her PIN, for exactly that number.
    let Login::Welcome(max) = store.login(9001, "9999", later).unwrap() else {
        panic!("the demo manager's PIN")
    };
    let other = max
        .approve(Action::ManageCashiers, Target::Cashier(1002))
        .unwrap();
    assert!(
        store.unlock_login(1001, &other, later).is_err(),
        "an approval for another number"
    );
    let manager = max
        .approve(Action::ManageCashiers, Target::Cashier(1001))
        .unwrap();
    assert!(store.unlock_login(1001, &manager, later).unwrap());
    assert!(!store.unlock_login(1001, &manager, later).unwrap());
    assert!(matches!(
        store.login(1001, "1234", later).unwrap(),
        Login::Welcome(_)
    ));
    let kinds: Vec<String> = store
        .raw_connection()
        .prepare("SELECT kind FROM journal WHERE ref = '1001' ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let count = |k: &str| kinds.iter().filter(|x| x.as_str() == k).count();
    assert_eq!(count("login_failed"), 4 + 5 + 5);
    assert_eq!(count("locked_out"), 2);
    assert_eq!(count("login_unlocked"), 1);
    assert_eq!(store.verify_journal().unwrap().map(|_| ()), Ok(()));
}

/// Supervisors and managers need longer PINs than the demo's (the demo's
/// config allows four digits); a hash made with weaker Argon2 parameters is
/// redone with today's at the next good login.
#[test]
fn supervisor_pins_are_long_and_old_hashes_are_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let config = tillpoint_config::Config::default();
    let mut store = Store::open(
        &dir.path().join("till.db"),
        tillpoint_app::till::store_settings(&config),
    )
    .unwrap();
    let sup = |number, role| tillpoint_core::cashier::Cashier {
        number,
        name: "S".into(),
        role,
    };
    use tillpoint_core::cashier::Role;
    // The demo's manager, to approve the new ones.
    store
        .seed_cashiers(&[(sup(9001, Role::Manager), "9999")], T)
        .unwrap();
    let (for20, for21) = (manager(&mut store, 20), manager(&mut store, 21));
    let err = store
        .add_cashier(&sup(20, Role::Supervisor), "1234", Some(&for20), T)
        .unwrap_err();
    assert!(err.to_string().contains("at least 6 digits"), "{err}");
    store
        .add_cashier(&sup(20, Role::Supervisor), "123456", Some(&for20), T)
        .unwrap();
    store
        .add_cashier(&sup(21, Role::Cashier), "1234", Some(&for21), T)
        .unwrap();
    // A weak hash, as an older build might have written.
    use argon2::password_hash::{PasswordHasher, SaltString};
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(64, 1, 1, None).unwrap(),
    )
    .hash_password(
        b"1234",
        &SaltString::encode_b64(b"0123456789abcdef").unwrap(),
    )
    .unwrap()
    .to_string();
    let c = store.raw_connection();
    c.execute(
        "UPDATE cashiers SET pin_hash = ?1 WHERE number = 21",
        [&weak],
    )
    .unwrap();
    assert!(matches!(
        store.login(21, "1234", T).unwrap(),
        Login::Welcome(_)
    ));
    let now: String = store
        .raw_connection()
        .query_row("SELECT pin_hash FROM cashiers WHERE number = 21", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(now.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{now}");
    assert!(matches!(
        store.login(21, "1234", T).unwrap(),
        Login::Welcome(_)
    ));
}

/// Inputs the fuzzer found that once broke the catalog import: each is
/// refused (or imported) whole, never a panic, and a refusal changes
/// nothing.
#[test]
fn catalog_import_survives_what_the_fuzzer_found() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, config) = demo_store(dir.path());
    let classes = config.tax_classes();
    let found: &[&[u8]] = &[
        b"sku,name,price,tax_class,category,unit,barcodes\n=1,Tea,3.r\x00\x00\x00\x000es\nA,De,6901234567901223456789567891,Rice,12!00es\nA,\n",
    ];
    for input in found {
        let before = store.product_count().unwrap();
        if store.import_catalog(*input, &classes).is_err() {
            assert_eq!(store.product_count().unwrap(), before);
        }
    }
}

/// The demo manager's (9001) approval, by her PIN, to manage cashier `number`.
fn manager(store: &mut Store, number: u32) -> tillpoint_core::cashier::Approval {
    approve(store, 9001, "9999", number)
}

#[test]
fn cashiers_are_managed_by_a_manager_and_the_first_one_bootstraps_once() {
    use tillpoint_core::cashier::{Cashier, Role};
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = tillpoint_config::Config::parse("").unwrap();
    let mut store = Store::open(
        &dir.path().join("till.db"),
        tillpoint_app::till::store_settings(&config),
    )
    .unwrap();
    let person = |number, role| Cashier {
        number,
        name: format!("P{number}"),
        role,
    };
    // An empty till starts with its manager, unapproved, and nobody else.
    assert!(store
        .add_cashier(&person(1, Role::Cashier), "1234", None, T)
        .is_err());
    store
        .add_cashier(&person(9, Role::Manager), "135790", None, T)
        .unwrap();
    // Once: a second unapproved manager is refused.
    let again = store
        .add_cashier(&person(8, Role::Manager), "246802", None, T)
        .unwrap_err();
    assert!(again.to_string().contains("manager's approval"), "{again}");
    // A supervisor cannot approve managing cashiers at all.
    let for_five = approve(&mut store, 9, "135790", 5);
    store
        .add_cashier(&person(5, Role::Supervisor), "555555", Some(&for_five), T)
        .unwrap();
    let Login::Welcome(sup) = store.login(5, "555555", T).unwrap() else {
        panic!("the new supervisor's PIN")
    };
    assert!(sup
        .approve(Action::ManageCashiers, Target::Cashier(1))
        .is_err());
    // The manager's approval names one number: it does not add another.
    let for_one = approve(&mut store, 9, "135790", 1);
    assert!(store
        .add_cashier(&person(2, Role::Manager), "999999", Some(&for_one), T)
        .is_err());
    store
        .add_cashier(&person(1, Role::Cashier), "1234", Some(&for_one), T)
        .unwrap();
    // Changing a role or PIN is the same approved save; removal too.
    let promote = approve(&mut store, 9, "135790", 1);
    store
        .add_cashier(&person(1, Role::Supervisor), "112233", Some(&promote), T)
        .unwrap();
    assert!(matches!(
        store.login(1, "1234", T).unwrap(),
        Login::Wrong { .. }
    ));
    let remove = approve(&mut store, 9, "135790", 1);
    assert!(store.deactivate_cashier(1, &remove, T).unwrap());
    assert!(!matches!(
        store.login(1, "112233", T).unwrap(),
        Login::Welcome(_)
    ));
    // Each change is journaled with who approved it.
    let saved: Vec<(String, String)> = store
        .raw_connection()
        .prepare("SELECT kind, payload FROM journal WHERE kind IN ('cashier_saved', 'cashier_removed') ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(saved.len(), 5, "{saved:?}");
    assert!(saved[0].1.contains(r#""approved_by":null"#), "{saved:?}");
    assert!(
        saved[1..4]
            .iter()
            .all(|(_, p)| p.contains(r#""approved_by":9"#)),
        "{saved:?}"
    );
    assert_eq!(saved[4].0, "cashier_removed");
    assert!(saved[4].1.contains(r#""removed_by":9"#), "{saved:?}");
}

/// `manager`'s approval, by `pin`, to manage cashier `number`.
fn approve(
    store: &mut Store,
    manager: u32,
    pin: &str,
    number: u32,
) -> tillpoint_core::cashier::Approval {
    match store.login(manager, pin, T).unwrap() {
        Login::Welcome(v) => v
            .approve(Action::ManageCashiers, Target::Cashier(number))
            .unwrap(),
        other => panic!("manager {manager}'s PIN: {other:?}"),
    }
}

/// Acknowledged card data is erased from the database file and its WAL, not
/// only from the row: a copy of `till.db` and `till.db-wal` taken after the
/// acknowledgement holds no trace of the sealed blob.
#[test]
fn acknowledged_card_data_leaves_no_bytes_in_the_file_or_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, config) = demo_store(dir.path());
    let rules = &config.pricing;
    // A blob no other byte run in the file could match by chance.
    let blob: Vec<u8> = (0u8..64).map(|i| i.wrapping_mul(37) ^ 0xA5).collect();
    let mut sale = sale_of(&store, &[("00003", 1)]);
    let due = sale.balance(rules).unwrap();
    let card = CardRef {
        masked_pan: "621234*********4567".into(),
        offline: true,
        ..CardRef::default()
    };
    sale.pay_electronic(TenderKind::Card, due, card, rules)
        .unwrap();
    store
        .complete_sale(&sale, rules, T, 9, &[(0, blob.clone())])
        .unwrap();
    let files = || -> Vec<u8> {
        let mut all = std::fs::read(dir.path().join("till.db")).unwrap();
        if let Ok(wal) = std::fs::read(dir.path().join("till.db-wal")) {
            all.extend(wal);
        }
        all
    };
    let holds = |bytes: &[u8]| bytes.windows(blob.len()).any(|w| w == blob.as_slice());
    assert!(
        holds(&files()),
        "the waiting blob is on disk (the scan can see it)"
    );
    // Waiting past the acquirer's maximum age, it is counted as overdue.
    assert_eq!(store.overdue_outbox_count(T).unwrap(), 0);
    assert_eq!(store.overdue_outbox_count(T + 1).unwrap(), 1);
    let id = store.pending_outbox(10).unwrap()[0].id;
    assert!(store.outbox_done(id, T + 1).unwrap());
    assert_eq!(store.overdue_outbox_count(T + 1).unwrap(), 0);
    assert!(
        !holds(&files()),
        "the acknowledged blob is gone from till.db and its WAL"
    );
}

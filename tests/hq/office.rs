//! What head office makes of the journals it holds: sales, Z reports
//! checked against its own count, stock.

use super::common;
use super::common::postgres::Postgres;
use super::harness::*;
use std::time::{Duration, Instant};
use tillpoint_core::cashier::{Action, Target};
use tillpoint_core::catalog::Qty;
use tillpoint_core::journal::{entry_hash, Entry};
use tillpoint_core::money::Money;
use tillpoint_store::sales::CashMovement;

/// A day at a till: sales, a refund, a post-void, cash in, a Z report.
fn a_day(t: &mut Till, at: i64) -> Vec<String> {
    t.sell(4);
    let receipts = t.store.recent_receipts(4).unwrap();
    let refund_of = receipts[0].clone();
    let ap = common::supervisor(
        Action::Refund,
        Target::Refund {
            receipt: refund_of.clone(),
            picks: vec![(1, 1000)],
        },
    );
    t.store
        .complete_refund(
            &refund_of,
            &[(1, Qty::ONE)],
            &t.rules,
            1001,
            &ap,
            at + 10,
            9,
        )
        .unwrap();
    let voided = receipts[1].clone();
    let ap = common::supervisor(Action::PostVoid, Target::Receipt(voided.clone()));
    t.store.post_void(&voided, &ap, at + 20).unwrap();
    t.store
        .cash_movement(
            CashMovement::In,
            Money::new(5_000, t.rules.currency),
            1001,
            None,
            "change",
            at + 30,
        )
        .unwrap();
    let ap = common::supervisor(Action::ZReport, Target::Till);
    t.store.z_report(&ap, at + 40).unwrap();
    receipts
}

/// Waits until head office has projected every entry it holds.
fn projected(db: &str) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let behind: i64 = query(
            db,
            "SELECT count(*) FROM tills WHERE projected_seq < last_seq",
            &[],
        )[0]
        .get(0);
        if behind == 0 {
            return;
        }
        assert!(Instant::now() < until, "head office did not project");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn head_office_counts_each_period_as_the_till_did_and_keeps_stock() {
    let Some(pg) = Postgres::start() else { return };
    let db = database(&pg, "hq_projection");
    let hq = Hq::start(&db);
    let mut t = Till::new();
    assert!(t.enrol(&hq, &hq.add_till("shop1", "T01")).status.success());
    let receipts = a_day(&mut t, T + 100);
    assert!(t.sync().status.success());
    projected(&db);
    let z = t.store.z_by_number(1).unwrap().unwrap();
    let rows = query(
        &db,
        "SELECT z_number, till_net, hq_net, agrees, hq_totals FROM z_reports WHERE shop_id = 'shop1'",
        &[],
    );
    assert_eq!(rows.len(), 1);
    let (n, till_net, hq_net, agrees): (i64, i64, i64, bool) = (
        rows[0].get(0),
        rows[0].get(1),
        rows[0].get(2),
        rows[0].get(3),
    );
    assert_eq!((n, till_net), (1, z.totals.net()));
    assert_eq!(hq_net, z.totals.net(), "head office's own count");
    assert!(agrees, "every figure of the Z, not only the net");
    let hq_totals: tillpoint_core::report::ReportTotals =
        serde_json::from_str(&rows[0].get::<_, String>(4)).unwrap();
    assert_eq!(hq_totals, z.totals);
    assert_eq!(z.totals.post_voids.count, 1);
    assert_eq!(z.totals.refunds.count, 1);
    // Stock: sold 1+2+3+1 pieces of 00001 (the sells cycle 1, 2, 3), one
    // refunded, the voided sale's put back.
    let sold: i64 = [0, 1, 2, 3].iter().map(|i| 1 + i % 3).sum();
    let voided_qty = t.store.sale_by_receipt(&receipts[1]).unwrap().lines[0]
        .qty
        .milli();
    let level: i64 = query(
        &db,
        "SELECT qty_milli FROM stock WHERE shop_id = 'shop1' AND sku = '00001'",
        &[],
    )[0]
    .get(0);
    assert_eq!(level, -sold * 1000 + 1000 + voided_qty);
    let voided: i64 = query(
        &db,
        "SELECT count(*) FROM sales WHERE voided_seq IS NOT NULL",
        &[],
    )[0]
    .get(0);
    assert_eq!(voided, 1);
    // Goods received at head office add to it, and a rebuild from the
    // journal ends where the projector did.
    let out = common::bin()
        .args(["hq", "stock", "receive", "--database", &db])
        .args([
            "--shop", "shop1", "--sku", "00001", "--qty", "24", "--note", "DN-1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let before = query(&db, "SELECT qty_milli FROM stock ORDER BY sku", &[])
        .iter()
        .map(|r| r.get::<_, i64>(0))
        .collect::<Vec<_>>();
    assert_eq!(before[0], level + 24_000);
    block_on(async {
        let mut c = tillpoint_hq::connect(&db).await.unwrap();
        tillpoint_hq::project::rebuild(&mut c).await.unwrap();
    });
    let after = query(&db, "SELECT qty_milli FROM stock ORDER BY sku", &[])
        .iter()
        .map(|r| r.get::<_, i64>(0))
        .collect::<Vec<_>>();
    assert_eq!(before, after);
    let agree: i64 = query(&db, "SELECT count(*) FROM z_reports WHERE agrees", &[])[0].get(0);
    assert_eq!(agree, 1);
    // The low-stock report lists it once it falls to its reorder point.
    let out = common::bin()
        .args(["hq", "stock", "list", "--low", "--database", &db])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("00001"), "{}", text(&out));
    let out = common::bin()
        .args(["hq", "stock", "reorder", "--database", &db])
        .args(["--shop", "shop1", "--sku", "00001", "--at", "100"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = common::bin()
        .args(["hq", "stock", "list", "--low", "--database", &db])
        .output()
        .unwrap();
    assert!(text(&out).contains("shop1  00001"), "{}", text(&out));
}

/// An entry whose chain is good but whose payload head office cannot read
/// is kept and flagged, and the entries after it are still counted.
#[test]
fn an_unreadable_entry_is_flagged_and_passed_over() {
    let Some(pg) = Postgres::start() else { return };
    let db = database(&pg, "hq_unreadable");
    let hq = Hq::start(&db);
    let t = Till::new();
    assert!(t.enrol(&hq, &hq.add_till("shop2", "T01")).status.success());
    let mut entries = Vec::new();
    let mut prev = tillpoint_core::journal::GENESIS.to_owned();
    for (seq, kind, payload) in [(1, "sale", "{\"receipt_no\":7"), (2, "post_void", "[]")] {
        let hash = entry_hash(&prev, seq, T, kind, None, payload);
        entries.push(Entry {
            seq,
            at_ms: T,
            kind: kind.into(),
            reference: None,
            payload: payload.into(),
            prev_hash: prev.clone(),
            hash: hash.clone(),
        });
        prev = hash;
    }
    let (status, body) = post_batch(&t, &hq, entries);
    assert_eq!(status, 200, "{body}");
    projected(&db);
    let problems: Vec<String> = flags(&pg, "hq_unreadable")
        .into_iter()
        .map(|f| f.2)
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("cannot read"), "{problems:?}");
    assert_eq!(held(&pg, "hq_unreadable", "shop2", "T01").len(), 2);
}

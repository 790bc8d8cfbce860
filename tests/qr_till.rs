//! QR payments through the gateway as the till makes them, against
//! `qr-sim` over HTTPS on 127.0.0.1 and the till's real SQLite file: every
//! ending (paid, the customer confirming, declined, a shown code paid,
//! timed out or cancelled, the provider unreachable, a bad signature, the
//! till stopped while waiting), refunds back through the gateway, and
//! afterwards the provider's ledger and the till agree order by order.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::path::Path;
use tillpoint_app::service::Service;
use tillpoint_app::till::{Paths, Till};
use tillpoint_core::cashier::Action;
use tillpoint_core::catalog::Qty;
use tillpoint_core::money::Money;
use tillpoint_core::sale::Sale;
use tillpoint_core::tender::TenderKind;
use tillpoint_payment::qr_gateway::api::TradeState;
use tillpoint_sim::qr::{start_qr_sim, Faults, QrSimConfig, QrSimHandle};
use tillpoint_store::qr_orders::QrOrderState;

fn sim() -> QrSimHandle {
    start_qr_sim(QrSimConfig::demo("127.0.0.1:0".parse().unwrap()).unwrap()).unwrap()
}

fn till(dir: &Path, url: &str, wait: u64) -> Service {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let cfg = dir.join("tillpoint.toml");
    let shop = tillpoint_app::demo_shop::CONFIG_TOML;
    common::write_config(
        &cfg,
        format!("{shop}\n{}", common::qr_gateway_section(url, wait)),
    );
    let mut till = Till::open(Paths {
        config_file: cfg,
        data_dir: dir.to_path_buf(),
    })
    .unwrap();
    let classes = till.config.tax_classes();
    tillpoint_app::demo_shop::seed(&mut till.store, &classes).unwrap();
    let s = Service::new(till);
    assert!(s.has_qr_gateway());
    s
}

fn cola_sale(s: &Service) -> Sale {
    let hit = s.resolve("6930181590837").unwrap().unwrap();
    let mut sale = Sale::new(tillpoint_core::money::Currency::CNY, 1001);
    sale.add(&hit.product, Qty::ONE).unwrap();
    sale
}

fn cny(minor: i64) -> Money {
    Money::new(minor, tillpoint_core::money::Currency::CNY)
}

fn order_state(s: &Service, no: &str) -> QrOrderState {
    s.with_till(|t| t.store.qr_order(no).unwrap().unwrap().state)
}

/// The till's view of every order against the provider's.
fn ledgers_agree(s: &Service, sim: &QrSimHandle) {
    let orders: Vec<(String, QrOrderState)> = s.with_till(|t| {
        let db = rusqlite::Connection::open(t.paths.data_dir.join("till.db")).unwrap();
        let mut st = db
            .prepare("SELECT out_trade_no, state FROM qr_orders")
            .unwrap();
        st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .unwrap()
            .map(|r| {
                let (no, state) = r.unwrap();
                let st = match state.as_str() {
                    "recorded" => QrOrderState::Recorded,
                    "closed" => QrOrderState::Closed,
                    "reversed" => QrOrderState::Reversed,
                    "paid" => QrOrderState::Paid,
                    _ => QrOrderState::Open,
                };
                (no, st)
            })
            .collect()
    });
    assert!(!orders.is_empty());
    let l = sim.ledger();
    for (no, mine) in orders {
        let theirs = l.orders.get(&no).map(|o| o.state);
        let agree = matches!(
            (mine, theirs),
            (
                QrOrderState::Recorded,
                Some(TradeState::Success | TradeState::Refund)
            ) | (
                QrOrderState::Closed,
                None | Some(TradeState::Closed | TradeState::Payerror)
            ) | (QrOrderState::Reversed, Some(TradeState::Revoked))
        );
        assert!(agree, "order {no}: till {mine:?}, provider {theirs:?}");
    }
}

#[test]
fn codes_scanned_from_phones_pay_decline_and_refund_through_the_gateway() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let s = till(dir.path(), &sim.url(), 3);
    let mut sale = cola_sale(&s);
    let rules = s.with_till(|t| t.config.pricing.clone());
    let due = sale.balance(&rules).unwrap();
    let card = s
        .pay(TenderKind::Qr, due, "284500001234567890", &mut |_| {})
        .unwrap();
    assert_eq!(
        (card.scheme.as_str(), card.masked_pan.as_str()),
        ("alipay", "2845**********7890")
    );
    assert_eq!(order_state(&s, &card.order_id), QrOrderState::Paid);
    sale.pay_electronic(TenderKind::Qr, due, card.clone(), &rules)
        .unwrap();
    let record = s.complete(&sale).unwrap();
    assert_eq!(order_state(&s, &card.order_id), QrOrderState::Recorded);

    // Refunded: back through the gateway, once, however often it is sent.
    let approval = common::supervisor(
        Action::Refund,
        common::refund_of(&record.receipt_no, &[(1, Qty::ONE)]),
    );
    s.refund(&record.receipt_no, &[(1, Qty::ONE)], 1001, &approval)
        .unwrap();
    assert_eq!(s.send_qr_refunds(), 1);
    assert_eq!(s.send_qr_refunds(), 0, "nothing waits any more");
    assert_eq!(sim.ledger().orders[&card.order_id].refunded(), due.minor);

    // The customer confirms on the phone for two polls, then it is paid.
    sim.ledger().userpaying_polls = 2;
    let card = s
        .pay(TenderKind::Qr, cny(300), "134567890123456789", &mut |_| {})
        .unwrap();
    assert_eq!(card.scheme, "wechat");
    sim.ledger().userpaying_polls = 0;
    s.abandon_pending();
    // The sale was given up: the money goes back at once.
    for _ in 0..100 {
        if order_state(&s, &card.order_id) == QrOrderState::Reversed {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(order_state(&s, &card.order_id), QrOrderState::Reversed);

    // Declined: said, and the order is closed at the provider.
    let e = s
        .pay(TenderKind::Qr, cny(1213), "284500001234567890", &mut |_| {})
        .unwrap_err();
    assert_eq!(e.id, "qr-declined", "{e:?}");
    let e = s
        .pay(TenderKind::Qr, cny(100), "12ab", &mut |_| {})
        .unwrap_err();
    assert_eq!(e.id, "qr-bad-code");

    // A bad signature: nothing is believed; the order is cancelled or, if
    // the provider cannot be heard, settled later.
    sim.set_faults(Faults {
        bad_signature: true,
        ..Faults::default()
    });
    let e = s
        .pay(TenderKind::Qr, cny(200), "284500001234567890", &mut |_| {})
        .unwrap_err();
    assert_eq!(e.id, "qr-timed-out", "{e:?}");
    sim.set_faults(Faults::default());
    let done = s.recover_qr_orders();
    assert_eq!(done.len(), 1, "{done:?}");
    ledgers_agree(&s, &sim);

    // Unreachable: refused at once, nothing left open.
    let url = sim.url();
    drop(sim);
    let e = s
        .pay(TenderKind::Qr, cny(200), "284500001234567890", &mut |_| {})
        .unwrap_err();
    assert_eq!(e.id, "qr-unreachable", "{e:?}");
    assert!(s.recover_qr_orders().is_empty(), "{url}: no order waits");
}

#[test]
fn a_shown_code_is_paid_times_out_or_is_cancelled() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let s = till(dir.path(), &sim.url(), 2);
    let shown = s.show_qr(cny(880)).unwrap();
    assert!(shown.code_url.starts_with("https://"));
    let (tx, rx) = std::sync::mpsc::channel();
    let (s2, shown2) = (s.clone(), shown.clone());
    std::thread::spawn(move || tx.send(s2.wait_qr(&shown2)).unwrap());
    std::thread::sleep(std::time::Duration::from_millis(300));
    sim.ledger().customer_scans(&shown.order).unwrap();
    let card = rx.recv().unwrap().unwrap();
    assert_eq!(card.order_id, shown.order);

    let late = s.show_qr(cny(450)).unwrap();
    let e = s.wait_qr(&late).unwrap_err();
    assert_eq!(e.id, "qr-timed-out");
    assert_eq!(sim.ledger().orders[&late.order].state, TradeState::Closed);
    assert_eq!(
        sim.ledger()
            .customer_scans(&late.order)
            .unwrap()
            .trade_state,
        TradeState::Closed,
        "too late to pay"
    );

    let stopped = s.show_qr(cny(120)).unwrap();
    let (s3, st) = (s.clone(), stopped.clone());
    let waiting = std::thread::spawn(move || s3.wait_qr(&st));
    std::thread::sleep(std::time::Duration::from_millis(300));
    s.cancel_payment();
    assert_eq!(waiting.join().unwrap().unwrap_err().id, "qr-cancelled");
    assert_eq!(order_state(&s, &stopped.order), QrOrderState::Closed);
    // The paid one's sale was never recorded in this test: given back.
    s.abandon_pending();
    for _ in 0..100 {
        if order_state(&s, &card.order_id) == QrOrderState::Reversed {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    ledgers_agree(&s, &sim);
}

/// A till stopped while it waited leaves its orders as the database has
/// them; the next start settles each with the provider: paid with its sale
/// recorded → done, paid without a sale → reversed at once, unpaid →
/// closed.
#[test]
fn orders_a_stopped_till_left_are_settled_at_the_next_start() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let (sold, unsold, unpaid) = {
        let s = till(dir.path(), &sim.url(), 30);
        let rules = s.with_till(|t| t.config.pricing.clone());
        // Paid and recorded, but stopped before the order was marked.
        let mut sale = cola_sale(&s);
        let due = sale.balance(&rules).unwrap();
        let card = s
            .pay(TenderKind::Qr, due, "284500001234567890", &mut |_| {})
            .unwrap();
        sale.pay_electronic(TenderKind::Qr, due, card.clone(), &rules)
            .unwrap();
        s.complete(&sale).unwrap();
        s.with_till(|t| {
            let db = rusqlite::Connection::open(t.paths.data_dir.join("till.db")).unwrap();
            db.execute(
                "UPDATE qr_orders SET state = 'paid' WHERE out_trade_no = ?1",
                [&card.order_id],
            )
            .unwrap();
        });
        // Paid at the provider, the answer lost and the till stopped.
        sim.set_faults(Faults {
            no_answer: true,
            ..Faults::default()
        });
        let s2 = s.clone();
        let lost = std::thread::spawn(move || {
            s2.pay(TenderKind::Qr, cny(777), "284500001234567890", &mut |_| {})
        });
        std::thread::sleep(std::time::Duration::from_millis(2500));
        let unsold = s
            .with_till(|t| t.store.unfinished_qr_orders().unwrap())
            .into_iter()
            .find(|o| o.amount == 777)
            .unwrap()
            .out_trade_no;
        // A shown code nobody paid.
        sim.set_faults(Faults::default());
        let unpaid = s.show_qr(cny(555)).unwrap().order;
        std::mem::forget(lost); // the till is "killed" here: its wait never ends
        (card.order_id, unsold, unpaid)
    };
    assert_eq!(
        sim.ledger().orders[&unsold].state,
        TradeState::Success,
        "the provider took the money"
    );
    let s = till(dir.path(), &sim.url(), 30);
    let done = s.recover_qr_orders();
    assert_eq!(order_state(&s, &sold), QrOrderState::Recorded, "{done:?}");
    assert_eq!(order_state(&s, &unsold), QrOrderState::Reversed, "{done:?}");
    assert_eq!(order_state(&s, &unpaid), QrOrderState::Closed, "{done:?}");
    assert_eq!(sim.ledger().orders[&unsold].state, TradeState::Revoked);
    assert_eq!(sim.ledger().orders[&sold].state, TradeState::Success);
    ledgers_agree(&s, &sim);
}

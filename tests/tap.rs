//! Contactless payments through the till's service on the demo's real
//! parts (PIN pad on a pseudo-terminal, acquirer simulator over TCP on
//! 127.0.0.1 with its SQLite ledger, the till's own SQLite file): a tap
//! under the floor limit is approved offline and its advice reaches the
//! host, one above it goes online without a PIN, one above the CVM limit
//! with the PIN, a phone wallet verifies its owner itself, and every tapped
//! payment is refunded by reference like a chip one. The refusals a tap
//! can end in are the cashier's to see.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use common::demo_shop::{cola_sale, shop, shop_on, wait_for_host};
use tillpoint_app::service::{PayProgress, Service};
use tillpoint_core::cashier::Action;
use tillpoint_core::catalog::Qty;
use tillpoint_core::money::Money;
use tillpoint_core::sale::Sale;
use tillpoint_core::tender::{CardRef, TenderKind};
use tillpoint_payment::acquirer::wire::{CupsSettings, HostProfile};
use tillpoint_sim::acquirer::ledger::TxnStatus;

/// `pieces` colas (5.85 each) and what they come to.
fn colas(s: &Service, pieces: i64) -> (Sale, Money) {
    let (mut sale, _) = cola_sale(s);
    let rules = s.with_till(|t| t.config.pricing.clone());
    if pieces > 1 {
        let hit = s.resolve("6930181590837").unwrap().unwrap();
        sale.add(&hit.product, Qty::pieces(pieces - 1)).unwrap();
    }
    let due = sale.balance(&rules).unwrap();
    (sale, due)
}

/// Taps `profile` for the sale, completes it, and returns the card as
/// recorded and the receipt number; the steps the screen was shown too.
fn tap_and_complete(
    s: &Service,
    profile: &str,
    pieces: i64,
) -> (CardRef, String, Vec<PayProgress>) {
    let (mut sale, due) = colas(s, pieces);
    let mut steps = Vec::new();
    let card = s
        .pay(TenderKind::Card, due, profile, &mut |p| steps.push(p))
        .unwrap_or_else(|r| panic!("{profile}: {}", r.text));
    let rules = s.with_till(|t| t.config.pricing.clone());
    sale.pay_electronic(TenderKind::Card, due, card.clone(), &rules)
        .unwrap();
    let rec = s.complete(&sale).unwrap();
    (card, rec.receipt_no, steps)
}

fn refund_all(s: &Service, receipt: &str, pieces: i64) -> i64 {
    let picks = [(1, Qty::pieces(pieces))];
    let ap = common::supervisor(Action::Refund, common::refund_of(receipt, &picks));
    let refund = s.refund(receipt, &picks, 1001, &ap).unwrap();
    -refund.total.minor
}

#[test]
fn taps_pay_offline_online_and_with_a_pin_and_are_refunded_by_reference() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _link) = shop(dir.path());

    // 5.85: under the floor limit, the card's own approval (fDDA).
    let (small, small_rx, steps) = tap_and_complete(&s, "tap-unionpay", 1);
    assert_eq!(small.entry_mode, "contactless");
    assert!(small.offline, "{small:?}");
    assert_eq!(small.cvm, "none");
    assert!(
        steps.iter().any(|p| matches!(p, PayProgress::CardRead)),
        "the cashier is told the card may go: {steps:?}"
    );
    // 117.00: above the floor limit, online; under the CVM limit, no PIN.
    let (online, online_rx, _) = tap_and_complete(&s, "tap-visa", 20);
    assert!(!online.offline);
    assert_eq!(online.cvm, "none");
    assert_eq!(online.rrn.len(), 12);
    // 351.00: above the CVM limit, online PIN on the PIN pad.
    let (pinned, pinned_rx, _) = tap_and_complete(&s, "tap-visa", 60);
    assert_eq!(pinned.cvm, "pin");

    let rows = wait_for_host(dir.path(), |r| {
        r.iter().filter(|t| t.proc_code == "000000").count() >= 3
    });
    let purchases: Vec<i64> = rows
        .iter()
        .filter(|t| t.proc_code == "000000" && t.status == TxnStatus::Approved)
        .map(|t| t.amount)
        .collect();
    assert_eq!(purchases.len(), 3, "{rows:?}");
    for want in [585, 20 * 585, 60 * 585] {
        assert!(purchases.contains(&want), "{want} at the host: {rows:?}");
    }
    let advice = rows.iter().find(|t| t.amount == 585).unwrap();
    assert_eq!(advice.source, "advice", "the offline tap went as an advice");

    // Each is refunded by reference, as chip payments are.
    let refunded = [
        refund_all(&s, &small_rx, 1),
        refund_all(&s, &online_rx, 20),
        refund_all(&s, &pinned_rx, 60),
    ];
    assert_eq!(refunded, [585, 20 * 585, 60 * 585]);
    let rows = wait_for_host(dir.path(), |r| {
        r.iter().filter(|t| t.proc_code == "200000").count() >= 3
    });
    let credits: Vec<&_> = rows
        .iter()
        .filter(|t| t.proc_code == "200000" && t.status == TxnStatus::Approved)
        .collect();
    assert_eq!(credits.len(), 3, "{rows:?}");
    for c in credits {
        let original = rows.iter().find(|o| Some(o.id) == c.original_id);
        assert!(
            original.is_some_and(|o| o.amount == c.amount),
            "refund {c:?} names its tapped original"
        );
    }
}

#[test]
fn a_phone_asks_to_be_unlocked_then_pays_with_its_own_verification() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _link) = shop(dir.path());
    let (_, due) = colas(&s, 60);
    let refused = s
        .pay(TenderKind::Card, due, "phone-wallet", &mut |_| {})
        .unwrap_err();
    assert_eq!(refused.id, "decline-see-phone", "{}", refused.text);
    let (card, _, _) = tap_and_complete(&s, "phone-wallet", 60);
    assert_eq!(card.cvm, "device");
    assert_eq!(card.entry_mode, "contactless");
}

#[test]
fn the_refusals_a_tap_can_end_in_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _link) = shop(dir.path());
    let (_, due) = colas(&s, 1);
    for (profile, id) in [
        ("tap-over-limit", "decline-tap-insert"),
        ("tap-two-cards", "decline-tap-one-card"),
        ("tap-removed", "decline-tap-again"),
    ] {
        let r = s
            .pay(TenderKind::Card, due, profile, &mut |_| {})
            .unwrap_err();
        assert_eq!(r.id, id, "{profile}: {}", r.text);
    }
    // Over the reader's contactless limit (1000.00) the chip is asked for
    // before the card is even selected.
    let (_, due) = colas(&s, 200);
    let r = s
        .pay(TenderKind::Card, due, "tap-visa", &mut |_| {})
        .unwrap_err();
    assert_eq!(r.id, "decline-tap-over-limit", "{}", r.text);
}

/// Under the cups profile too: a tap above the floor limit goes online
/// (field 22 `07` and a PIN digit) and above the CVM limit with the PIN
/// under the session PIN key; the host approves both.
#[test]
fn taps_are_approved_under_the_cups_profile_too() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _link) = shop_on(dir.path(), HostProfile::Cups(CupsSettings::default()));
    let (online, _, _) = tap_and_complete(&s, "tap-unionpay", 20);
    assert!(!online.offline && online.cvm == "none", "{online:?}");
    let (pinned, _, _) = tap_and_complete(&s, "tap-unionpay", 60);
    assert_eq!(pinned.cvm, "pin");
    let rows = wait_for_host(dir.path(), |r| r.len() >= 2);
    let approved: Vec<i64> = rows
        .iter()
        .filter(|t| t.status == TxnStatus::Approved)
        .map(|t| t.amount)
        .collect();
    assert_eq!(approved, vec![20 * 585, 60 * 585], "{rows:?}");
}

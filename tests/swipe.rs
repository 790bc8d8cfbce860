//! Magnetic stripe payments end to end on the demo's real parts: the
//! tracks a keyboard-wedge reader types, the simulated PIN pad on a
//! pseudo-terminal, the acquirer simulator over TCP on 127.0.0.1 with its
//! SQLite ledger and the till's own SQLite file. A stripe-only card pays
//! online with its PIN and is refunded by reference; a chip card swiped is
//! told to use its chip, unless its chip just failed (fallback); a swipe is
//! never approved offline; garbled, expired and ATM-only swipes are refused
//! before anything is sent. And the swipe through the window: keystrokes
//! at reader speed pay the sale without touching a field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use common::demo_shop::{cola_sale, host_rows, shop, shop_on, wait_for_host};

use std::path::Path;

use tillpoint_core::cashier::Action;
use tillpoint_core::catalog::Qty;
use tillpoint_core::tender::TenderKind;
use tillpoint_payment::acquirer::wire::{CupsSettings, HostProfile};
use tillpoint_sim::acquirer::ledger::TxnStatus;
use zeroize::Zeroizing;

/// A stripe-only UnionPay card whose service code (120) asks for the PIN
/// and online authorization.
const STRIPE_ONLY: &str = ";6212345678901232=30121200000000000000?";
/// The Visa test card's track 2: service code 201, a chip card.
const CHIP_CARD: &str = ";4761739001010119=30122011143804489?";

fn tracks(t: &str) -> Zeroizing<String> {
    Zeroizing::new(t.to_owned())
}

#[test]
fn a_stripe_only_card_pays_online_with_its_pin_and_is_refunded_by_reference() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _link) = shop(dir.path());
    let (mut sale, due) = cola_sale(&s);
    let card = s.pay_swipe(due, &tracks(STRIPE_ONLY), &mut |_| {}).unwrap();
    assert_eq!(card.entry_mode, "swipe");
    assert_eq!(card.cvm, "pin", "service code 120 asks for the PIN");
    assert_eq!(card.masked_pan, "621234******1232");
    assert!(!card.offline);
    let rules = s.with_till(|t| t.config.pricing.clone());
    sale.pay_electronic(TenderKind::Card, due, card, &rules)
        .unwrap();
    let rec = s.complete(&sale).unwrap();
    let rows = wait_for_host(dir.path(), |r| !r.is_empty());
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].amount, rows[0].status, rows[0].proc_code.as_str()),
        (585, TxnStatus::Approved, "000000")
    );
    // Nothing of the track is on disk: not in the database, its
    // write-ahead log, or any other file the till or the host wrote.
    assert_no_pan_on_disk(dir.path(), "6212345678901232");

    let ap = common::supervisor(
        Action::Refund,
        common::refund_of(&rec.receipt_no, &[(1, Qty::ONE)]),
    );
    let refund = s
        .refund(&rec.receipt_no, &[(1, Qty::ONE)], 1001, &ap)
        .unwrap();
    assert_eq!(refund.total.minor, -585);
    let rows = wait_for_host(dir.path(), |r| r.iter().any(|t| t.proc_code == "200000"));
    let credit = rows.iter().find(|t| t.proc_code == "200000");
    assert!(
        credit.is_some_and(|t| t.amount == 585 && t.status == TxnStatus::Approved),
        "the refund reached the host by reference: {rows:?}"
    );
}

#[test]
fn a_chip_card_swiped_uses_its_chip_unless_the_chip_just_failed() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _link) = shop(dir.path());
    let (_, due) = cola_sale(&s);
    let refused = s
        .pay_swipe(due, &tracks(CHIP_CARD), &mut |_| {})
        .unwrap_err();
    assert_eq!(refused.id, "decline-use-chip", "{refused:?}");
    assert!(host_rows(dir.path()).is_empty(), "nothing was sent");

    // The chip fails (its answers are malformed) ...
    let failed = s.pay(TenderKind::Card, due, "broken-tlv", &mut |_| {});
    assert!(failed.is_err(), "{failed:?}");
    // ... so the stripe may be used: a fallback, online.
    let card = s.pay_swipe(due, &tracks(CHIP_CARD), &mut |_| {}).unwrap();
    assert_eq!(card.entry_mode, "fallback");
    assert_eq!(card.cvm, "signature", "service code 201 asks for no PIN");
    let rows = host_rows(dir.path());
    assert!(
        rows.iter()
            .any(|t| t.amount == due.minor && t.status == TxnStatus::Approved),
        "{rows:?}"
    );
    s.abandon_pending();
    // Once: the next swipe of a chip card is told to use the chip again.
    let again = s
        .pay_swipe(due, &tracks(CHIP_CARD), &mut |_| {})
        .unwrap_err();
    assert_eq!(again.id, "decline-use-chip");
}

#[test]
fn a_swipe_is_never_approved_offline_and_bad_swipes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (s, link) = shop(dir.path());
    let (_, due) = cola_sale(&s);
    link.set_up(false);
    let refused = s
        .pay_swipe(due, &tracks(STRIPE_ONLY), &mut |_| {})
        .unwrap_err();
    assert_eq!(refused.id, "decline-host-unavailable", "{refused:?}");
    link.set_up(true);
    for (swipe, id) in [
        (
            ";6212345678901233=30121200000000000000?",
            "swipe-unreadable",
        ),
        (";6212345678901232=30121200000000000000", "swipe-unreadable"),
        (
            "%B6212345678901232^TEST/CARD^3012120000?",
            "swipe-unreadable",
        ),
        (";6212345678901232=20011200000000000000?", "decline-expired"),
        (
            ";6212345678901232=30121230000000000000?",
            "decline-not-for-goods",
        ),
    ] {
        let r = s.pay_swipe(due, &tracks(swipe), &mut |_| {}).unwrap_err();
        assert_eq!(r.id, id, "{swipe}: {r:?}");
        assert!(!format!("{r:?}").contains("6212345678901232"), "{r:?}");
    }
    let rows = host_rows(dir.path());
    assert!(rows.is_empty(), "nothing reached the host: {rows:?}");
    let outbox: i64 = rusqlite::Connection::open(dir.path().join("till.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(outbox, 0, "no offline approval waits to be sent");
}

/// Under the cups profile too: the fallback goes as entry mode 80x with IC
/// condition code 2, the PIN under the session PIN key, and the host
/// approves both swipes.
#[test]
fn swipes_are_approved_under_the_cups_profile_too() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _link) = shop_on(dir.path(), HostProfile::Cups(CupsSettings::default()));
    let (_, due) = cola_sale(&s);
    let card = s.pay_swipe(due, &tracks(STRIPE_ONLY), &mut |_| {}).unwrap();
    assert_eq!(
        (card.entry_mode.as_str(), card.cvm.as_str()),
        ("swipe", "pin")
    );
    s.abandon_pending();
    assert!(s
        .pay(TenderKind::Card, due, "broken-tlv", &mut |_| {})
        .is_err());
    let card = s.pay_swipe(due, &tracks(CHIP_CARD), &mut |_| {}).unwrap();
    assert_eq!(card.entry_mode, "fallback");
    let rows = wait_for_host(dir.path(), |r| {
        r.iter().filter(|t| t.proc_code == "000000").count() >= 2
    });
    let approved = rows
        .iter()
        .filter(|t| t.proc_code == "000000" && t.amount == due.minor)
        .count();
    assert!(approved >= 2, "{rows:?}");
}

/// Every file under `dir` (database, WAL, logs, receipts, the host's
/// ledger), searched for `pan` as text.
fn assert_no_pan_on_disk(dir: &Path, pan: &str) {
    let mut todo = vec![dir.to_path_buf()];
    let mut files = 0;
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
                continue;
            }
            files += 1;
            let raw = std::fs::read(&p).unwrap_or_default();
            let hit = raw.windows(pan.len()).any(|w| w == pan.as_bytes());
            assert!(!hit, "the PAN is in {}", p.display());
        }
    }
    assert!(files > 2, "searched {files} files");
}

//! Taps through the real pcscd: the contactless virtual cards sit on vpcd's
//! second reader ("Virtual PCD 00 01", socket 35964), the kernel selects the
//! PPSE and runs the kernel the directory names, as with a hardware
//! contactless reader. Each tap's time with the card in the field is printed
//! (the benchmark, not this test, judges speed).

use super::*;
use tillpoint_payment::emv::entry::{SwitchReason, TapOutcome};
use tillpoint_sim::card::vpcd::VPCD_CONTACTLESS;

const TAP_READER: &str = SPARE_READER;

fn tap_addr() -> SocketAddr {
    VPCD_CONTACTLESS.parse().unwrap()
}

/// Waits until pcscd has seen the previous tap's card leave the field.
fn settle_tap() {
    if let Ok(r) = Reader::open(Some(TAP_READER)) {
        let _ = r.wait_for_removal(Duration::from_secs(5));
    }
}

/// A contactless card in the field of the second reader, as its profile
/// says (one taken away too early leaves after its APDUs).
fn in_field(profile: &str) -> Sim {
    settle_tap();
    let card = VirtualCard::from_profile_name(profile).unwrap();
    assert!(card.is_contactless(), "{profile} is a contactless profile");
    let remove_after_apdus = card.leaves_after();
    Sim::start_at(
        tap_addr(),
        card,
        SimOptions {
            connect_deadline: Some(Duration::from_secs(5)),
            remove_after_apdus,
            ..SimOptions::default()
        },
    )
}

/// What one tap showed.
struct Tapped {
    first: Result<Outcome, KernelError>,
    second: Option<Outcome>,
    apdus: usize,
    /// From the first APDU to the card's outcome: the time the customer
    /// holds the card to the reader.
    in_field: Duration,
}

/// One tap on the card already in the field; when the card asks to go
/// online the simulated issuer answers.
fn tap_once(profile: &str, amount: u64, holder: &mut ScriptedCardholder) -> Tapped {
    let reader = Reader::open(Some(TAP_READER)).unwrap();
    let atr = reader.wait_for_card(Duration::from_secs(5)).unwrap();
    let mut card = reader.connect().unwrap();
    let cfg = TerminalConfig::default();
    let mut k = Kernel::new(&mut card, &cfg);
    k.enable_trace();
    let started = Instant::now();
    let mut first = k.tap(&sample_purchase(amount), holder);
    let in_field = started.elapsed();
    let second = match &mut first {
        Ok(o) if o.decision == Decision::GoOnline => {
            let s = o.take_card_secrets().unwrap();
            let f55 = o.online.as_ref().unwrap().field55.clone();
            let host = issuer_approval(profile, &s.pan, s.pan_sequence.as_deref(), &f55).unwrap();
            Some(k.complete(host).unwrap())
        }
        _ => None,
    };
    let trace = k.take_trace();
    println!(
        "=== tap {profile} {amount} through pcscd/vpcd: ATR {}, {} APDUs, {in_field:?} in the field ===",
        hex::encode_upper(&atr),
        trace.len()
    );
    for t in &trace {
        println!("{t}");
    }
    Tapped {
        first,
        second,
        apdus: trace.len(),
        in_field,
    }
}

/// One tap of a fresh card of `profile`, then the card leaves.
fn tap(profile: &str, amount: u64) -> Tapped {
    let sim = in_field(profile);
    let t = tap_once(profile, amount, &mut ScriptedCardholder::default());
    let summary = sim.stop();
    assert_eq!(
        summary.apdus as usize, t.apdus,
        "every APDU reached the card"
    );
    settle_tap();
    t
}

#[test]
fn quick_chip_taps_approve_offline_under_the_floor_limit_and_go_online_above_the_cvm_limit() {
    let Some(_g) = setup() else { return };
    let mut times = Vec::new();
    for profile in ["tap-visa", "tap-unionpay"] {
        // 25.00: under the reader's floor limit, the card's TC and fDDA.
        let small = tap(profile, 25_00);
        let out = small.first.unwrap();
        assert_eq!(out.decision, Decision::ApprovedOffline, "{profile}");
        assert!(out.receipt.contactless, "{profile}");
        assert_eq!(
            out.receipt.cvm_results,
            [0x1F, 0x00, 0x02],
            "{profile}: no CVM"
        );
        assert!(small.second.is_none());
        times.push((profile, small.apdus, small.in_field));
        // 400.00: above the CVM limit, an ARQC with online PIN.
        let big = tap(profile, 40_000);
        let out = big.first.unwrap();
        assert_eq!(out.decision, Decision::GoOnline, "{profile}");
        assert_eq!(
            out.receipt.cvm_results,
            [0x02, 0x00, 0x00],
            "{profile}: online PIN"
        );
        assert_eq!(
            big.second.unwrap().decision,
            Decision::ApprovedOnline,
            "{profile}"
        );
        times.push((profile, big.apdus, big.in_field));
    }
    for (p, n, t) in times {
        println!("tap time through pcscd/vpcd: {p}: {n} APDUs in {t:?}");
    }
}

#[test]
fn mastercard_kind_tap_signs_its_one_cryptogram_with_cda() {
    let Some(_g) = setup() else { return };
    let t = tap("tap-mastercard", 25_00);
    let out = t.first.unwrap();
    assert!(out.receipt.contactless);
    assert_ne!(out.decision, Decision::DeclinedOffline, "{:?}", out.receipt);
    assert!(
        !has_bit(&out.receipt.tvr, tvr::CDA_FAILED),
        "the CDA signature verified: TVR {:02X?}",
        out.receipt.tvr
    );
    if out.decision == Decision::GoOnline {
        assert_eq!(t.second.unwrap().decision, Decision::ApprovedOnline);
    }
}

#[test]
fn a_locked_phone_says_see_phone_then_taps_with_its_own_verification() {
    let Some(_g) = setup() else { return };
    let sim = in_field("phone-wallet");
    let mut holder = ScriptedCardholder::default();
    let first = tap_once("phone-wallet", 40_000, &mut holder);
    assert!(
        matches!(first.first, Err(KernelError::Tap(TapOutcome::SeePhone))),
        "{:?}",
        first.first.err()
    );
    // The owner unlocks the phone and holds it to the reader again.
    let again = tap_once("phone-wallet", 40_000, &mut holder);
    let out = again.first.unwrap();
    assert_eq!(
        out.receipt.cvm_results,
        [0x01, 0x00, 0x02],
        "consumer device CVM"
    );
    assert_eq!(holder.pin_requests, 0, "no PIN for a phone that verified");
    assert_eq!(again.second.unwrap().decision, Decision::ApprovedOnline);
    sim.stop();
    settle_tap();
}

#[test]
fn a_card_over_its_contactless_allowance_asks_for_the_chip() {
    let Some(_g) = setup() else { return };
    let t = tap("tap-over-limit", 25_00);
    assert!(
        matches!(
            t.first,
            Err(KernelError::Tap(TapOutcome::TryAnotherInterface(
                SwitchReason::CardAsked
            )))
        ),
        "{:?}",
        t.first.err()
    );
}

#[test]
fn a_card_taken_away_mid_tap_is_a_transport_error_not_a_decision() {
    let Some(_g) = setup() else { return };
    let sim = in_field("tap-removed");
    let t = tap_once("tap-removed", 25_00, &mut ScriptedCardholder::default());
    assert!(
        matches!(t.first, Err(KernelError::Apdu(ApduError::Channel(_)))),
        "{:?}",
        t.first.err()
    );
    let summary = sim.stop();
    assert!(summary.removed, "{summary:?}");
    settle_tap();
}

/// The shop's devices from its config with both readers named: the till
/// watches the contact and the contactless reader at once. Two cards in
/// the field (the reader's collision ATR) ask for one card, a card taken
/// away asks for another tap, and a tap under the floor limit and one
/// between the floor and CVM limits (online, no CVM, no PIN pad needed)
/// are paid; the host's ledger holds the online one.
#[test]
fn live_devices_watch_both_readers_and_take_taps() {
    use tillpoint_core::money::{Currency, Money};
    use tillpoint_payment::session::{DeclineReason, PaymentDecision};

    let Some(_g) = setup() else { return };
    let dir = tempfile::tempdir().unwrap();
    let host = test_host(dir.path());
    let mut live = live_devices(
        dir.path(),
        &format!("[reader]\nname = \"{READER}\"\ncontactless = \"{TAP_READER}\""),
        &host,
        "TAP00001",
    );
    assert!(live.takes_taps());
    let mut pay = |profile: &str, amount: i64| {
        let sim = in_field(profile);
        let out = live
            .pay_card(Money::new(amount, Currency::USD), |_| {})
            .unwrap();
        sim.stop();
        settle_tap();
        out
    };

    let two = pay("tap-two-cards", 25_00);
    assert_eq!(
        two.decision,
        PaymentDecision::Declined(DeclineReason::PresentOneCard),
        "{two:?}"
    );
    let early = pay("tap-removed", 25_00);
    assert_eq!(
        early.decision,
        PaymentDecision::Declined(DeclineReason::TapAgain),
        "{early:?}"
    );
    let small = pay("tap-visa", 25_00);
    assert_eq!(small.decision, PaymentDecision::Approved, "{small:?}");
    assert_eq!(small.card.entry_mode, "contactless");
    assert!(small.card.offline);
    let online = pay("tap-visa", 10_000);
    assert_eq!(online.decision, PaymentDecision::Approved, "{online:?}");
    assert_eq!(online.card.entry_mode, "contactless");
    assert_eq!(online.card.rrn.len(), 12);
    let rows = host.ledger().unwrap().txns("TAP00001").unwrap();
    assert!(
        rows.iter()
            .any(|r| r.amount == 10_000 && r.rrn.as_deref() == Some(online.card.rrn.as_str())),
        "{rows:?}"
    );
    drop(live);
}

/// `card-test` on the contactless reader taps (the reader's Part 3 ATR says
/// so) and prints the masked trace from SELECT PPSE on; `card-sim --help`
/// names every contactless profile.
#[test]
fn card_test_taps_on_the_contactless_reader_and_card_sim_lists_the_taps() {
    let help = Command::new(env!("CARGO_BIN_EXE_tillpoint"))
        .args(["card-sim", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for p in tillpoint_sim::card::profile::all() {
        if p.contactless {
            assert!(help.contains(p.name), "card-sim --help lacks {}", p.name);
        }
    }
    let Some(_g) = setup() else { return };
    let sim = in_field("tap-visa");
    let out = Command::new(env!("CARGO_BIN_EXE_tillpoint"))
        .args(["card-test", "--reader", TAP_READER, "--profile", "tap-visa"])
        .args(["--amount", "40000"])
        .env("TILLPOINT_LOG", "error")
        .output()
        .unwrap();
    sim.stop();
    settle_tap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ppse = hex::encode_upper(tillpoint_payment::emv::entry::PPSE);
    let first_apdu = text.lines().find(|l| l.starts_with("SELECT")).unwrap_or("");
    assert!(first_apdu.contains(&ppse), "{text}");
    assert!(text.contains("GET PROCESSING OPTIONS"), "{text}");
    assert!(
        !text.contains("GENERATE AC"),
        "a tap has no GENERATE AC: {text}"
    );
    assert!(text.contains("ApprovedOnline"), "{text}");
    assert!(
        !text.contains("4761739001010150"),
        "clear PAN in the trace: {text}"
    );
}

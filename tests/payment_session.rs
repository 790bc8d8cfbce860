//! The card payment end to end, through the real parts: the EMV kernel
//! against the virtual card, the till's serial PIN pad adapter against the
//! PIN pad simulator over a real pseudo-terminal pair, and the acquirer
//! session (on the till's SQLite database) against the host simulator on a
//! loopback port with its own SQLite ledger, all in a temporary directory.
//! Every test runs twice: under the generic host profile, and under the
//! cups profile (`under_cups` at the end), where the till signs on, the pad
//! encrypts the PIN under the session key the host sent (Abecs GPN method
//! 1) and every message carries a MAC.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly
#![cfg(unix)]

use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use tillpoint_core::money::{Currency, Money};
use tillpoint_payment::session::{
    CardOutcome, CommitMode, DeclineReason, PaymentDecision, PaymentError, PendingCommit,
    ReversalState, Stage,
};
use tillpoint_sim::acquirer::ledger::{TxnRow, TxnStatus};
use tillpoint_sim::acquirer::Fault;
use tillpoint_sim::demo_devices::{DemoDevices, DemoOptions, DemoPin};
use tillpoint_sim::pinpad::{PadKey, PinOutcome, SimEvent};
use zeroize::Zeroizing;

const VISA: &str = "visa-online-pin";
const VISA_PAN: &str = "4761739001010010";
const TID: &str = "TILL0001";

struct Rig {
    dev: DemoDevices,
    events: Receiver<SimEvent>,
    dir: tempfile::TempDir,
}

thread_local! {
    static CUPS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn rig(configure: impl FnOnce(&mut DemoOptions)) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let (tx, events) = mpsc::channel();
    let mut opts = DemoOptions::new(Currency::EUR);
    if CUPS.with(std::cell::Cell::get) {
        opts.host_profile = tillpoint_payment::acquirer::wire::HostProfile::Cups(
            tillpoint_payment::acquirer::wire::CupsSettings::default(),
        );
    }
    opts.pin = DemoPin::OnScreen;
    opts.forwarder = false;
    opts.host_timeout = Duration::from_millis(1500);
    opts.pin_timeout = Duration::from_secs(10);
    opts.pad_events = Some(tx);
    configure(&mut opts);
    let dev = DemoDevices::start_with(dir.path(), opts).expect("demo devices start");
    Rig { dev, events, dir }
}

/// What the host records as the reversal reason: the generic profile's two
/// digits, or the cups field 39 code they map to.
fn host_reason(generic: &'static str) -> &'static str {
    match (CUPS.with(std::cell::Cell::get), generic) {
        (false, g) => g,
        (true, "01" | "02") => "98",
        (true, "03") => "96",
        (true, _) => "06",
    }
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::EUR)
}

/// The cardholder at the on-screen pad: types `pin` when asked for it.
fn typing(keys: Sender<PadKey>, pin: &'static str) -> impl FnMut(&Stage) {
    move |stage| {
        if matches!(stage, Stage::EnterPin { .. }) {
            for d in pin.bytes() {
                keys.send(PadKey::Digit(d - b'0')).unwrap();
            }
            keys.send(PadKey::Enter).unwrap();
        }
    }
}

fn pay(
    rig: &mut Rig,
    minor: i64,
    profile: &str,
    mut on_stage: impl FnMut(&Stage),
) -> (Result<CardOutcome, PaymentError>, Vec<Stage>) {
    let mut stages = Vec::new();
    let out = rig.dev.pay_card(eur(minor), profile, |s| {
        on_stage(&s);
        stages.push(s);
    });
    (out, stages)
}

fn kinds(stages: &[Stage]) -> Vec<&'static str> {
    stages
        .iter()
        .map(|s| match s {
            Stage::WaitingForCard => "waiting",
            Stage::ChooseApplication { .. } => "choose",
            Stage::AppSelected { .. } => "app",
            Stage::EnterPin { .. } => "pin",
            Stage::CardRead => "card-read",
            Stage::Processing => "processing",
            Stage::Approved { .. } => "approved",
            Stage::Declined { .. } => "declined",
            Stage::Failed { .. } => "failed",
        })
        .collect()
}

/// Waits (bounded) for the pad to report `want`.
fn wait_for(events: &Receiver<SimEvent>, want: SimEvent) {
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match events.recv_timeout(left) {
            Ok(e) if e == want => return,
            Ok(e) => seen.push(e),
            Err(_) => break,
        }
    }
    panic!("the PIN pad never reported {want:?}; saw {seen:?}");
}

fn host_txns(rig: &Rig) -> Vec<TxnRow> {
    rig.dev.host_ledger().unwrap().txns(TID).unwrap()
}

fn pending_reversals(rig: &Rig) -> usize {
    let acquirer = rig.dev.acquirer();
    let session = acquirer.lock().unwrap();
    tillpoint_payment::acquirer::AcquirerStore::pending_reversals(session.store())
        .unwrap()
        .len()
}

fn declined_with(out: &CardOutcome) -> &DeclineReason {
    match &out.decision {
        PaymentDecision::Declined(r) => r,
        PaymentDecision::Approved => panic!("expected a decline, got an approval: {out:?}"),
    }
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn demo_devices_can_move_to_a_worker_thread() {
    fn send<T: Send>() {}
    send::<DemoDevices>();
}

#[test]
fn online_pin_payment_is_approved_through_the_pty_pin_pad_and_the_loopback_host() {
    let mut rig = rig(|_| {});
    let keys = rig.dev.pin_keys();
    let (out, stages) = pay(&mut rig, 25_00, VISA, typing(keys.clone(), "1234"));
    let out = out.unwrap();
    assert!(out.approved(), "{out:?}");
    assert_eq!(
        kinds(&stages),
        ["waiting", "app", "pin", "processing", "approved"]
    );
    assert_eq!(
        stages[1],
        Stage::AppSelected {
            label: "VISA CREDIT".into(),
            aid: "A0000000031010".into()
        }
    );
    assert_eq!(
        stages[2],
        Stage::EnterPin {
            masked_pan: "476173******0010".into()
        }
    );

    let card = &out.card;
    assert_eq!(
        stages[4],
        Stage::Approved {
            card: Box::new(card.clone())
        }
    );
    assert_eq!(card.masked_pan, "476173******0010");
    assert_eq!(card.scheme, "VISA");
    assert_eq!(card.app_label, "VISA CREDIT");
    assert_eq!(card.aid, "A0000000031010");
    assert_eq!(card.entry_mode, "chip");
    assert_eq!(card.cvm, "pin");
    assert!(!card.offline);
    assert_eq!(card.tvr.len(), 10);
    assert_eq!(card.tsi.len(), 4);
    assert_eq!(card.auth_code.len(), 6);
    assert_eq!(card.rrn.len(), 12);
    assert_eq!(card.stan.len(), 6);
    assert_eq!(card.pan_hash.len(), 64);
    assert!(!out.signature_required);
    assert_eq!(out.response_code.as_deref(), Some("00"));
    assert_eq!(out.reversal, None);

    // The host decrypted the PIN block (DUKPT, or under the session key)
    // and found the PIN of record.
    assert_eq!(rig.dev.issuer().pins_recovered(), 1);
    assert_eq!(rig.dev.issuer().pins_matched(), 1);
    // The pad ran a real PIN entry, typed key by key.
    wait_for(&rig.events, SimEvent::PinDigits(4));
    wait_for(&rig.events, SimEvent::PinEntryEnded(PinOutcome::Entered));

    // The host's ledger and the till's batch agree.
    let txns = host_txns(&rig);
    assert_eq!(txns.len(), 1);
    assert_eq!(txns[0].status, TxnStatus::Approved);
    assert_eq!(txns[0].amount, 25_00);
    assert_eq!(txns[0].rrn.as_deref(), Some(card.rrn.as_str()));
    assert_eq!(txns[0].stan, card.stan);
    assert_eq!(txns[0].auth_code.as_deref(), Some(card.auth_code.as_str()));
    assert_eq!(pending_reversals(&rig), 0);

    // The same card hashes the same way next time; another card does not.
    let (again, _) = pay(&mut rig, 12_00, VISA, typing(keys.clone(), "1234"));
    let again = again.unwrap();
    assert!(again.approved());
    assert_eq!(again.card.pan_hash, card.pan_hash);
    assert_ne!(again.card.stan, card.stan);
    let (up, stages) = pay(&mut rig, 88_00, "unionpay-online-pin", typing(keys, "1234"));
    let up = up.unwrap();
    assert!(up.approved(), "{up:?}");
    assert_eq!(up.card.scheme, "UNIONPAY");
    assert_ne!(up.card.pan_hash, card.pan_hash);
    assert_eq!(
        kinds(&stages),
        ["waiting", "app", "pin", "processing", "approved"]
    );

    // The key behind the PAN hash is private to the till's user...
    use std::os::unix::fs::PermissionsExt;
    let key = rig.dir.path().join("pan-hash.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // ...and no file in the data directory (till database, host ledger,
    // PIN pad state) holds a clear card number.
    drop(rig.dev);
    for f in files(rig.dir.path()) {
        // A closing SQLite connection may remove its -wal/-shm meanwhile.
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        for pan in [VISA_PAN, "6212345678901232"] {
            assert!(
                !bytes.windows(pan.len()).any(|w| w == pan.as_bytes()),
                "{} holds a clear PAN",
                f.display()
            );
        }
    }
}

#[test]
fn wrong_pin_is_recovered_by_the_host_and_declined() {
    let mut rig = rig(|o| o.pin = DemoPin::Fixed(Zeroizing::new("9999".into())));
    let (out, stages) = pay(&mut rig, 25_00, VISA, |_| {});
    let out = out.unwrap();
    assert_eq!(
        declined_with(&out),
        &DeclineReason::Issuer { code: "55".into() }
    );
    assert_eq!(kinds(&stages).last(), Some(&"declined"));
    assert_eq!(rig.dev.issuer().pins_recovered(), 1);
    assert_eq!(rig.dev.issuer().pins_matched(), 0);
    let txns = host_txns(&rig);
    assert_eq!(txns.len(), 1);
    assert_eq!(txns[0].status, TxnStatus::Declined);
    assert_eq!(txns[0].decline_reason.as_deref(), Some("pin"));
    assert_eq!(pending_reversals(&rig), 0);
}

#[test]
fn host_decline_reaches_the_card_and_leaves_nothing_to_reverse() {
    let mut rig = rig(|o| o.pin = DemoPin::Fixed(Zeroizing::new("1234".into())));
    // Test-card rule: amounts ending in 51 are "insufficient funds".
    let (out, _) = pay(&mut rig, 20_51, VISA, |_| {});
    let out = out.unwrap();
    assert_eq!(
        declined_with(&out),
        &DeclineReason::Issuer { code: "51".into() }
    );
    assert_eq!(out.response_code.as_deref(), Some("51"));
    assert_eq!(out.reversal, None);
    assert_eq!(out.card.rrn.len(), 12, "a declined slip has the reference");
    let txns = host_txns(&rig);
    assert_eq!(txns.len(), 1);
    assert_eq!(txns[0].status, TxnStatus::Declined);
    assert_eq!(pending_reversals(&rig), 0);
}

#[test]
fn card_refusing_the_hosts_approval_is_reversed() {
    let mut rig = rig(|o| o.pin = DemoPin::Fixed(Zeroizing::new("1234".into())));
    // The host approves, but its ARPC fails the card's issuer authentication.
    rig.dev.issuer().tamper_next_arpcs(1);
    let (out, stages) = pay(&mut rig, 30_00, VISA, |_| {});
    let out = out.unwrap();
    assert_eq!(declined_with(&out), &DeclineReason::CardAfterApproval);
    assert_eq!(out.reversal, Some(ReversalState::Delivered));
    assert_eq!(out.response_code.as_deref(), Some("00"));
    assert_eq!(kinds(&stages).last(), Some(&"declined"));
    let txns = host_txns(&rig);
    assert_eq!(txns.len(), 1);
    assert_eq!(txns[0].status, TxnStatus::Reversed);
    assert_eq!(txns[0].reversal_reason.as_deref(), Some(host_reason("04")));
    assert_eq!(pending_reversals(&rig), 0);
}

#[test]
fn silent_host_is_reversed_and_the_card_decides_offline() {
    let mut rig = rig(|o| o.pin = DemoPin::Fixed(Zeroizing::new("1234".into())));
    // The host records the request but never answers it.
    rig.dev.host_faults().set_fault(Fault::NoAnswer, 1);
    let (out, _) = pay(&mut rig, 40_00, VISA, |_| {});
    let out = out.unwrap();
    // Unable to go online: this card never approves offline (Z3).
    assert_eq!(declined_with(&out), &DeclineReason::UnableToGoOnline);
    assert_eq!(out.card.auth_code, "Z3");
    assert_eq!(out.reversal, Some(ReversalState::Delivered));
    let txns = host_txns(&rig);
    assert_eq!(txns.len(), 1);
    assert_eq!(txns[0].status, TxnStatus::Reversed);
    assert_eq!(txns[0].reversal_reason.as_deref(), Some(host_reason("01")));
    assert_eq!(pending_reversals(&rig), 0);

    // The link works again for the next payment.
    let (next, _) = pay(&mut rig, 41_00, VISA, |_| {});
    assert!(next.unwrap().approved());
}

#[test]
fn offline_approval_under_the_floor_limit_goes_to_the_outbox_and_is_forwarded_once() {
    let mut rig = rig(|_| {});
    let (out, stages) = pay(&mut rig, 20_00, "offline-approve", |_| {});
    let out = out.unwrap();
    assert!(out.approved(), "{out:?}");
    assert_eq!(kinds(&stages), ["waiting", "app", "processing", "approved"]);
    let card = &out.card;
    assert!(card.offline);
    assert_eq!(card.auth_code, "Y1");
    assert_eq!(card.cvm, "signature");
    assert!(out.signature_required);
    assert_eq!(card.stan.len(), 6);
    assert!(card.rrn.is_empty());
    let id = out.outbox_id.expect("advice queued");

    // Nothing reached the host yet; the advice waits, card data sealed.
    assert!(host_txns(&rig).is_empty());
    {
        let acquirer = rig.dev.acquirer();
        let session = acquirer.lock().unwrap();
        let waiting =
            tillpoint_payment::acquirer::AcquirerStore::outbox_pending(session.store(), 10)
                .unwrap();
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].id, id);
        assert_eq!(waiting[0].amount, 20_00);
        assert_eq!(waiting[0].auth_code, "Y1");
        assert_eq!(waiting[0].masked_pan, "476173******0119");
        assert_eq!(waiting[0].stan.to_string(), card.stan);
        assert!(!waiting[0].sealed_card.is_empty());
    }

    let report = rig.dev.forward_outbox().unwrap();
    assert_eq!((report.delivered, report.remaining), (1, 0));
    let again = rig.dev.forward_outbox().unwrap();
    assert_eq!(again.delivered, 0, "forwarded exactly once");
    let txns = host_txns(&rig);
    assert_eq!(txns.len(), 1);
    assert_eq!(txns[0].source, "advice");
    assert_eq!(txns[0].amount, 20_00);
    assert_eq!(txns[0].auth_code.as_deref(), Some("Y1"));

    // Over the floor limit the same card goes online (signature, no PIN).
    let (big, _) = pay(&mut rig, 80_00, "offline-approve", |_| {});
    let big = big.unwrap();
    assert!(big.approved(), "{big:?}");
    assert!(!big.card.offline);
    assert_eq!(big.card.rrn.len(), 12);
}

#[test]
fn cashier_cancel_during_pin_entry_sends_nothing() {
    let mut rig = rig(|_| {});
    let cancel = rig.dev.canceller();
    let (out, stages) = pay(&mut rig, 25_00, VISA, move |stage| {
        if matches!(stage, Stage::EnterPin { .. }) {
            let cancel = cancel.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                cancel.cancel();
            });
        }
    });
    let out = out.unwrap();
    assert_eq!(declined_with(&out), &DeclineReason::CancelledByCashier);
    assert_eq!(out.card.masked_pan, "476173******0010");
    assert_eq!(out.reversal, None);
    assert_eq!(kinds(&stages), ["waiting", "app", "pin", "declined"]);
    // The till aborted the pad's PIN entry (CAN).
    wait_for(&rig.events, SimEvent::PinEntryEnded(PinOutcome::Aborted));
    assert!(host_txns(&rig).is_empty(), "nothing went to the host");
    assert_eq!(pending_reversals(&rig), 0);

    // The cancel does not leak into the next payment.
    let keys = rig.dev.pin_keys();
    let (next, _) = pay(&mut rig, 25_00, VISA, typing(keys, "1234"));
    assert!(next.unwrap().approved());
}

#[test]
fn two_applications_are_chosen_on_screen_or_cancelled() {
    let mut rig = rig(|_| {});
    let control = rig.dev.canceller();
    let mut labels = Vec::new();
    let (out, stages) = pay(&mut rig, 25_00, "two-apps", |stage| {
        if let Stage::ChooseApplication { labels: l } = stage {
            labels = l.clone();
            // The cardholder picks the second one, by its label.
            let i = l.iter().position(|x| x == "VISA ELECTRON").unwrap();
            control.choose_application(i);
        }
    });
    assert_eq!(labels, ["VISA CREDIT", "VISA ELECTRON"], "priority order");
    let out = out.unwrap();
    assert!(out.approved(), "{:?}", out.decision);
    assert_eq!(out.card.app_label, "VISA ELECTRON");
    assert_eq!(kinds(&stages)[..3], ["waiting", "choose", "app"]);

    // Cancel while the choice is on screen: nothing is selected or sent.
    let control = rig.dev.canceller();
    let before = host_txns(&rig).len();
    let (out, stages) = pay(&mut rig, 25_00, "two-apps", |stage| {
        if matches!(stage, Stage::ChooseApplication { .. }) {
            let c = control.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                c.cancel();
            });
        }
    });
    assert_eq!(
        declined_with(&out.unwrap()),
        &DeclineReason::CancelledByCashier
    );
    assert!(!kinds(&stages).contains(&"app"));
    assert_eq!(host_txns(&rig).len(), before);
}

#[test]
fn cardholder_cancel_on_the_pad_declines() {
    let mut rig = rig(|_| {});
    let keys = rig.dev.pin_keys();
    let (out, _) = pay(&mut rig, 25_00, VISA, move |stage| {
        if matches!(stage, Stage::EnterPin { .. }) {
            keys.send(PadKey::Cancel).unwrap();
        }
    });
    assert_eq!(
        declined_with(&out.unwrap()),
        &DeclineReason::CancelledByCardholder
    );
    assert!(host_txns(&rig).is_empty());
}

#[test]
fn qr_payment_is_approved_or_declined_by_the_host() {
    let mut rig = rig(|_| {});
    let mut stages = Vec::new();
    let out = rig
        .dev
        .pay_qr(eur(12_34), "281234567890123456", |s| stages.push(s))
        .unwrap();
    assert!(out.approved(), "{out:?}");
    assert_eq!(kinds(&stages), ["processing", "approved"]);
    assert_eq!(out.card.entry_mode, "qr");
    assert_eq!(out.card.scheme, "QR");
    assert_eq!(out.card.masked_pan, "2812**********3456");
    assert_eq!(out.card.auth_code.len(), 6);
    assert_eq!(out.card.rrn.len(), 12);
    assert!(out.card.pan_hash.is_empty());

    // Test-code rule: codes ending in 0000 are refused.
    let declined = rig
        .dev
        .pay_qr(eur(5_00), "281234567890120000", |_| {})
        .unwrap();
    assert_eq!(
        declined_with(&declined),
        &DeclineReason::Issuer { code: "14".into() }
    );

    let mut stages = Vec::new();
    let bad = rig.dev.pay_qr(eur(5_00), "123", |s| stages.push(s));
    assert!(matches!(bad, Err(PaymentError::InvalidQrCode(_))));
    assert_eq!(kinds(&stages), ["failed"]);

    let txns = host_txns(&rig);
    assert_eq!(txns.len(), 2);
    assert_eq!(txns[0].status, TxnStatus::Approved);
    assert_eq!(txns[1].status, TxnStatus::Declined);
    assert_eq!(pending_reversals(&rig), 0);
}

#[test]
fn with_sale_commit_hands_the_approval_back_until_the_sale_decides() {
    let mut rig = rig(|o| {
        o.pin = DemoPin::Fixed(Zeroizing::new("1234".into()));
        o.commit = CommitMode::WithSale;
    });
    let (out, _) = pay(&mut rig, 25_00, VISA, |_| {});
    let out = out.unwrap();
    assert!(out.approved());
    let Some(pending @ PendingCommit::Online(_)) = out.pending.clone() else {
        panic!("online approval handed back: {out:?}");
    };
    // The reversal stays armed until the sale is written.
    assert_eq!(pending_reversals(&rig), 1);
    // The sale was not completed: the approval is taken back.
    assert_eq!(
        rig.dev.payments().abandon(&pending),
        Some(ReversalState::Delivered)
    );
    assert_eq!(host_txns(&rig)[0].status, TxnStatus::Reversed);
    assert_eq!(pending_reversals(&rig), 0);

    // An offline approval comes back prepared, not queued.
    let (off, _) = pay(&mut rig, 20_00, "offline-approve", |_| {});
    let off = off.unwrap();
    assert!(off.approved());
    assert_eq!(off.outbox_id, None);
    let Some(pending @ PendingCommit::Offline { .. }) = off.pending.clone() else {
        panic!("offline approval handed back: {off:?}");
    };
    // Recorded on its own here (the till records it with the sale).
    let id = rig.dev.payments().commit(&pending).unwrap();
    assert!(id.is_some());
    assert_eq!(rig.dev.forward_outbox().unwrap().delivered, 1);
}

#[test]
fn unknown_profile_and_wrong_currency_fail_cleanly() {
    let mut rig = rig(|_| {});
    let mut stages = Vec::new();
    let e = rig
        .dev
        .pay_card(eur(1_00), "no-such-card", |s| stages.push(s));
    assert!(matches!(e, Err(PaymentError::NoCard(_))));
    assert_eq!(kinds(&stages), ["failed"]);
    let e = rig
        .dev
        .pay_card(Money::new(1_00, Currency::CNY), VISA, |_| {});
    assert!(matches!(e, Err(PaymentError::WrongCurrency { .. })));
}

/// The same tests under the cups host profile.
mod under_cups {
    #[test]
    fn demo_devices_can_move_to_a_worker_thread() {
        super::CUPS.with(|c| c.set(true));
        super::demo_devices_can_move_to_a_worker_thread();
    }
    #[test]
    fn online_pin_payment_is_approved_through_the_pty_pin_pad_and_the_loopback_host() {
        super::CUPS.with(|c| c.set(true));
        super::online_pin_payment_is_approved_through_the_pty_pin_pad_and_the_loopback_host();
    }
    #[test]
    fn wrong_pin_is_recovered_by_the_host_and_declined() {
        super::CUPS.with(|c| c.set(true));
        super::wrong_pin_is_recovered_by_the_host_and_declined();
    }
    #[test]
    fn host_decline_reaches_the_card_and_leaves_nothing_to_reverse() {
        super::CUPS.with(|c| c.set(true));
        super::host_decline_reaches_the_card_and_leaves_nothing_to_reverse();
    }
    #[test]
    fn card_refusing_the_hosts_approval_is_reversed() {
        super::CUPS.with(|c| c.set(true));
        super::card_refusing_the_hosts_approval_is_reversed();
    }
    #[test]
    fn silent_host_is_reversed_and_the_card_decides_offline() {
        super::CUPS.with(|c| c.set(true));
        super::silent_host_is_reversed_and_the_card_decides_offline();
    }
    #[test]
    fn offline_approval_under_the_floor_limit_goes_to_the_outbox_and_is_forwarded_once() {
        super::CUPS.with(|c| c.set(true));
        super::offline_approval_under_the_floor_limit_goes_to_the_outbox_and_is_forwarded_once();
    }
    #[test]
    fn cashier_cancel_during_pin_entry_sends_nothing() {
        super::CUPS.with(|c| c.set(true));
        super::cashier_cancel_during_pin_entry_sends_nothing();
    }
    #[test]
    fn two_applications_are_chosen_on_screen_or_cancelled() {
        super::CUPS.with(|c| c.set(true));
        super::two_applications_are_chosen_on_screen_or_cancelled();
    }
    #[test]
    fn cardholder_cancel_on_the_pad_declines() {
        super::CUPS.with(|c| c.set(true));
        super::cardholder_cancel_on_the_pad_declines();
    }
    #[test]
    fn qr_payment_is_approved_or_declined_by_the_host() {
        super::CUPS.with(|c| c.set(true));
        super::qr_payment_is_approved_or_declined_by_the_host();
    }
    #[test]
    fn with_sale_commit_hands_the_approval_back_until_the_sale_decides() {
        super::CUPS.with(|c| c.set(true));
        super::with_sale_commit_hands_the_approval_back_until_the_sale_decides();
    }
    #[test]
    fn unknown_profile_and_wrong_currency_fail_cleanly() {
        super::CUPS.with(|c| c.set(true));
        super::unknown_profile_and_wrong_currency_fail_cleanly();
    }
}

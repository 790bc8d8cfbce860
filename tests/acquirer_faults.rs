//! Fault injection: a TCP proxy between till and host that drops, delays,
//! garbles and half-closes, plus the simulator's own fault knobs. Every test
//! runs on the till's SQLite store and again on the in-memory store. After each
//! fault the link is restored and the till's batch must agree with the host
//! ledger: no transaction lost, none captured twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod acquirer_common;

use std::time::Duration;

use acquirer_common::proxy::{FaultProxy, Mode};
use acquirer_common::Rig;
use rand::{Rng, SeedableRng};
use tillpoint_payment::acquirer::{AcquirerStore, OnlineRequest, SessionError, SettlementOutcome};
use tillpoint_payment::iso8583::messages::TxnKind;
use tillpoint_payment::iso8583::ReversalReason;
use tillpoint_sim::acquirer::ledger::TxnStatus;
use tillpoint_sim::acquirer::Fault;

fn rig_with_proxy() -> (Rig, FaultProxy) {
    let mut rig = Rig::new();
    let proxy = FaultProxy::start(rig.sim.addr());
    rig.restart(proxy.addr());
    (rig, proxy)
}

/// Runs a purchase under `mode`, expects no definitive answer, restores the
/// link and checks that the host ends up with nothing captured.
fn purchase_under(mode: Mode, expected: ReversalReason) -> Rig {
    let (mut rig, proxy) = rig_with_proxy();
    proxy.set(mode);
    let card = rig.card(1500, None);
    let err = rig
        .session
        .authorize(&OnlineRequest::Purchase { amount: 1500, card })
        .unwrap_err();
    match err {
        SessionError::NoAnswer { reason, .. } => assert_eq!(reason, expected, "{mode:?}"),
        other => panic!("{mode:?}: unexpected {other:?}"),
    }
    proxy.set(Mode::Pass);
    // Answers still held by a delaying proxy may need a few rounds to drain.
    let mut flushed = false;
    for _ in 0..10 {
        if rig.session.flush_reversals().is_ok() {
            flushed = true;
            break;
        }
    }
    assert!(flushed, "{mode:?}: reversal not delivered");
    assert!(rig.store.pending_reversals().unwrap().is_empty());
    // The next sale goes through normally.
    let card = rig.card(200, None);
    let ok = rig
        .session
        .authorize(&OnlineRequest::Purchase { amount: 200, card })
        .unwrap();
    rig.session.confirm(&ok).unwrap();
    rig.assert_agree();
    rig
}

#[test]
fn proxy_drops_request() {
    let rig = purchase_under(Mode::DropRequest, ReversalReason::Timeout);
    // The host never saw the purchase; the reversal was answered "25".
    let rows = rig.host_rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].amount, 200);
}

#[test]
fn proxy_drops_answer() {
    let rig = purchase_under(Mode::DropAnswer, ReversalReason::Timeout);
    let rows = rig.host_rows();
    assert_eq!(rows[0].status, TxnStatus::Reversed);
    assert_eq!(
        rows[0].reversal_reason.as_deref(),
        Some(acquirer_common::host_reversal_code("01"))
    );
}

#[test]
fn proxy_delays_past_the_timeout() {
    let rig = purchase_under(
        Mode::Delay(Duration::from_millis(700)),
        ReversalReason::Timeout,
    );
    let rows = rig.host_rows();
    assert_eq!(rows[0].status, TxnStatus::Reversed);
}

#[test]
fn proxy_garbles_answer() {
    let rig = purchase_under(Mode::Garble, ReversalReason::MalformedResponse);
    let rows = rig.host_rows();
    assert_eq!(rows[0].status, TxnStatus::Reversed);
    assert_eq!(
        rows[0].reversal_reason.as_deref(),
        Some(acquirer_common::host_reversal_code("03"))
    );
}

#[test]
fn proxy_half_closes() {
    let rig = purchase_under(Mode::HalfClose, ReversalReason::Timeout);
    let rows = rig.host_rows();
    assert_eq!(rows[0].status, TxnStatus::Reversed);
}

#[test]
fn short_delay_within_timeout_is_harmless() {
    let (mut rig, proxy) = rig_with_proxy();
    proxy.set(Mode::Delay(Duration::from_millis(100)));
    let card = rig.card(1500, None);
    let auth = rig
        .session
        .authorize(&OnlineRequest::Purchase { amount: 1500, card })
        .unwrap();
    rig.session.confirm(&auth).unwrap();
    rig.assert_agree();
}

#[test]
fn simulator_fault_knobs() {
    for (fault, reason) in [
        (Fault::NoAnswer, ReversalReason::Timeout),
        (Fault::DropAfterRead, ReversalReason::Timeout),
        (Fault::Garble, ReversalReason::MalformedResponse),
        (Fault::Truncate, ReversalReason::MalformedResponse),
    ] {
        let mut rig = Rig::new();
        // Room for a loaded machine: the knob decides the reason, not the
        // clock (a garbled answer read after the timeout would be a timeout).
        rig.session
            .client_mut()
            .set_read_timeout(Duration::from_secs(2));
        if rig.session.client_mut().wire().needs_sign_on() {
            rig.sign_on_if_cups();
        }
        rig.sim.faults().set_fault(fault, 1);
        let card = rig.card(900, None);
        match rig
            .session
            .authorize(&OnlineRequest::Purchase { amount: 900, card })
        {
            Err(SessionError::NoAnswer { reason: r, .. }) => assert_eq!(r, reason, "{fault:?}"),
            other => panic!("{fault:?}: {other:?}"),
        }
        rig.session.flush_reversals().unwrap();
        assert!(rig.store.pending_reversals().unwrap().is_empty());
        rig.assert_agree();
    }
    // Delay knob longer than the read timeout.
    let mut rig = Rig::new();
    rig.sim.faults().set_delay(Duration::from_millis(600));
    let card = rig.card(900, None);
    assert!(rig
        .session
        .authorize(&OnlineRequest::Purchase { amount: 900, card })
        .is_err());
    rig.sim.faults().clear();
    // The delayed 0410 may still be in flight; retry until delivered.
    for _ in 0..10 {
        if rig.session.flush_reversals().is_ok() {
            break;
        }
    }
    assert!(rig.store.pending_reversals().unwrap().is_empty());
    rig.assert_agree();
}

/// The host's network taken down (the demo's switch): once the host has
/// closed the till's connection, a purchase finds it unreachable with
/// nothing sent and nothing to reverse; back up, the till reconnects and
/// the books agree.
#[test]
fn a_host_whose_link_is_down_refuses_then_serves_again() {
    let mut rig = Rig::new();
    rig.sign_on_if_cups();
    let card = rig.card(300, None);
    let ok = rig
        .session
        .authorize(&OnlineRequest::Purchase { amount: 300, card })
        .unwrap();
    rig.session.confirm(&ok).unwrap();

    rig.sim.link().set_up(false);
    // The host drops its connections between requests (within its poll).
    std::thread::sleep(Duration::from_millis(400));
    let card = rig.card(400, None);
    match rig
        .session
        .authorize(&OnlineRequest::Purchase { amount: 400, card })
    {
        Err(SessionError::Offline(_)) => {}
        other => panic!("expected the host to be unreachable: {other:?}"),
    }
    assert_eq!(rig.session.online(), Some(false));
    assert!(rig.store.pending_reversals().unwrap().is_empty());

    rig.sim.link().set_up(true);
    assert!(rig.sim.link().wait_until_listening(Duration::from_secs(5)));
    let card = rig.card(500, None);
    let ok = rig
        .session
        .authorize(&OnlineRequest::Purchase { amount: 500, card })
        .unwrap();
    rig.session.confirm(&ok).unwrap();
    assert_eq!(rig.session.online(), Some(true));
    rig.assert_agree();
}

/// Random faults while selling online, selling offline and forwarding; at
/// the end the link is healed and settlement must match on the first 0500
/// (no batch upload needed): the host captured exactly what the till did.
#[test]
fn random_faults_then_exact_settlement() {
    let seed: u64 = std::env::var("ACQ_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("fault seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut rig, proxy) = rig_with_proxy();
    rig.session
        .client_mut()
        .set_read_timeout(Duration::from_millis(250));
    let modes = [
        Mode::Pass,
        Mode::Pass,
        Mode::DropRequest,
        Mode::DropAnswer,
        Mode::Delay(Duration::from_millis(350)),
        Mode::Garble,
        Mode::HalfClose,
    ];
    let mut offline_queued = 0;
    for _ in 0..40 {
        let mode = modes[rng.gen_range(0..modes.len())];
        proxy.set(mode);
        let down = rng.gen_bool(0.1);
        proxy.set_down(down);
        let amount = rng.gen_range(1..400) * 100;
        match rng.gen_range(0..4) {
            0 | 1 => {
                let card = rig.card(amount, None);
                if let Ok(auth) = rig
                    .session
                    .authorize(&OnlineRequest::Purchase { amount, card })
                {
                    if auth.approved() {
                        if rng.gen_bool(0.2) {
                            let _ = rig.session.reverse(&auth, ReversalReason::CashierCancel);
                        } else {
                            rig.session.confirm(&auth).unwrap();
                        }
                    }
                }
            }
            2 => {
                let kind = if rng.gen_bool(0.8) {
                    TxnKind::Purchase
                } else {
                    TxnKind::Refund
                };
                let sale = rig.offline_sale(kind, amount);
                if rig.session.queue_offline(&sale).is_ok() {
                    offline_queued += 1;
                }
            }
            _ => {
                let _ = rig.session.forward_pending(5);
            }
        }
    }
    proxy.set_down(false);
    proxy.set(Mode::Pass);
    // Let delayed answers drain, then deliver everything owed.
    std::thread::sleep(Duration::from_millis(400));
    for _ in 0..5 {
        if rig.session.flush_reversals().is_ok() {
            break;
        }
    }
    let report = rig.session.forward_pending(1000).unwrap();
    assert_eq!(report.remaining, 0, "{report:?}");
    rig.assert_agree();
    let advices = rig
        .host_rows()
        .iter()
        .filter(|r| r.source == "advice")
        .count();
    assert_eq!(advices, offline_queued, "each advice captured exactly once");

    let settlement = rig.session.settle().unwrap();
    assert_eq!(
        settlement.outcome,
        SettlementOutcome::Matched,
        "seed {seed}: {settlement:?}"
    );
}

#[test]
fn late_answer_changes_the_reversal_reason() {
    let (mut rig, proxy) = rig_with_proxy();
    // Answers are held 600 ms; the read timeout is 400 ms. The 0210 arrives
    // while the till waits for the 0410 of the reversal it sent at once.
    proxy.set(Mode::Delay(Duration::from_millis(600)));
    let card = rig.card(1500, None);
    assert!(rig
        .session
        .authorize(&OnlineRequest::Purchase { amount: 1500, card })
        .is_err());
    let pending = rig.store.pending_reversals().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].reason, ReversalReason::LateResponse);
    proxy.set(Mode::Pass);
    for _ in 0..10 {
        if rig.session.flush_reversals().is_ok() {
            break;
        }
    }
    assert!(rig.store.pending_reversals().unwrap().is_empty());
    rig.assert_agree();
}

on_both_stores!(
    proxy_drops_request,
    proxy_drops_answer,
    proxy_delays_past_the_timeout,
    proxy_garbles_answer,
    proxy_half_closes,
    short_delay_within_timeout_is_harmless,
    simulator_fault_knobs,
    a_host_whose_link_is_down_refuses_then_serves_again,
    random_faults_then_exact_settlement,
    late_answer_changes_the_reversal_reason,
);

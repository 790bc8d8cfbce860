//! End to end against the acquirer host simulator on loopback: a real TCP
//! server with its own SQLite ledger and the EMV issuer (real ARQC/ARPC and
//! DUKPT PIN checks), a session over the till's SQLite store; every test
//! runs again on the in-memory store (`on_both_stores!` at the end).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod acquirer_common;

use std::time::Duration;

use acquirer_common::proxy::FaultProxy;
use acquirer_common::{Rig, StoreKind, OFFLINE_PAN, TID};
use tillpoint_payment::acquirer::{
    AcquirerStore, BatchItem, OfflineLimits, OfflineRefusal, OnlineRequest, OutboxState,
    SessionError, SettlementOutcome,
};
use tillpoint_payment::iso8583::messages::{OriginalData, Stan, Timestamp, TxnKind};
use tillpoint_payment::iso8583::{Mti, ReversalReason};
use tillpoint_sim::acquirer::ledger::TxnStatus;
use tillpoint_sim::acquirer::Fault;

#[test]
fn sign_on_and_echo() {
    let mut rig = Rig::new();
    assert!(rig.session.sign_on().unwrap().approved());
    assert!(rig.session.echo().unwrap());
    assert_eq!(rig.session.online(), Some(true));
}

#[test]
fn purchase_with_pin_and_chip_is_approved_and_captured() {
    let mut rig = Rig::new();
    let card = rig.card(2500, Some("1234"));
    let auth = rig
        .session
        .authorize(&OnlineRequest::Purchase { amount: 2500, card })
        .unwrap();
    assert!(auth.approved(), "{:?}", auth.reply);
    // Until confirmed, the reversal stays armed and blocks the next request.
    assert_eq!(rig.store.pending_reversals().unwrap().len(), 1);
    let card = rig.card(100, None);
    assert!(matches!(
        rig.session
            .authorize(&OnlineRequest::Purchase { amount: 100, card }),
        Err(SessionError::Unconfirmed(_))
    ));
    // The ARPC answers the ARQC: tag 91 by the card's Visa CVN 18, ARPC
    // method 2 with the CSU saying "issuer approves".
    let icc = auth.reply.icc.clone().unwrap();
    assert_eq!(&icc[..2], &[0x91, 0x08]);
    assert_eq!(&icc[6..10], &[0, 0x80, 0, 0]);
    rig.session.confirm(&auth).unwrap();
    assert!(rig.store.pending_reversals().unwrap().is_empty());

    let rows = rig.host_rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, TxnStatus::Approved);
    assert_eq!(rows[0].rrn, auth.reply.rrn, "RRN kept with the sale");
    let batch = rig.store.batch_items(1).unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].rrn, auth.reply.rrn);
    rig.assert_agree();
}

#[test]
fn wrong_pin_and_decline_leave_nothing_to_reverse() {
    let mut rig = Rig::new();
    let card = rig.card(2500, Some("4321"));
    let auth = rig
        .session
        .authorize(&OnlineRequest::Purchase { amount: 2500, card })
        .unwrap();
    assert_eq!(auth.reply.response_code, "55");
    let card = rig.card(1251, None);
    let auth = rig
        .session
        .authorize(&OnlineRequest::Purchase { amount: 1251, card })
        .unwrap();
    assert!(!auth.approved());
    assert_eq!(auth.reply.response_code, "51");
    rig.session.confirm(&auth).unwrap(); // no-op for a decline
    assert!(rig.store.pending_reversals().unwrap().is_empty());
    assert!(rig.store.batch_items(1).unwrap().is_empty());
    let rows = rig.host_rows();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.status == TxnStatus::Declined));
    assert_eq!(rows[0].decline_reason.as_deref(), Some("pin"));
    rig.assert_agree();
}

#[test]
fn refund_and_void() {
    let mut rig = Rig::new();
    let card = rig.card(4000, None);
    let purchase = rig
        .session
        .authorize(&OnlineRequest::Purchase { amount: 4000, card })
        .unwrap();
    rig.session.confirm(&purchase).unwrap();

    let card = rig.card(700, None);
    let refund = rig
        .session
        .authorize(&OnlineRequest::Refund { amount: 700, card })
        .unwrap();
    assert!(refund.approved());
    rig.session.confirm(&refund).unwrap();

    let card = rig.card(4000, None);
    let void = rig
        .session
        .authorize(&OnlineRequest::Void {
            amount: 4000,
            card,
            original: purchase.original_ref(),
        })
        .unwrap();
    assert!(void.approved(), "{:?}", void.reply);
    rig.session.confirm(&void).unwrap();

    let batch = rig.store.batch_items(1).unwrap();
    assert!(batch[0].voided);
    assert_eq!(batch[1].kind, TxnKind::Refund);
    let rows = rig.host_rows();
    assert_eq!(rows[0].status, TxnStatus::Voided);
    assert_eq!(rows[2].proc_code, "020000");
    rig.assert_agree();

    // A second void of the same purchase is refused by the host.
    let card = rig.card(4000, None);
    let again = rig
        .session
        .authorize(&OnlineRequest::Void {
            amount: 4000,
            card,
            original: purchase.original_ref(),
        })
        .unwrap();
    assert_eq!(again.reply.response_code, "12");
}

#[test]
fn qr_payment_goes_online_as_barcode_purchase() {
    let mut rig = Rig::new();
    let auth = rig
        .session
        .authorize(&OnlineRequest::Qr {
            amount: 1999,
            code: "284512345678901234".into(),
        })
        .unwrap();
    assert!(auth.approved());
    rig.session.confirm(&auth).unwrap();
    let rows = rig.host_rows();
    assert_eq!(rows[0].proc_code, "000000");
    assert_eq!(rows[0].status, TxnStatus::Approved);
    rig.assert_agree();
}

#[test]
fn timeout_sends_reversal_at_once() {
    let mut rig = Rig::new();
    // Host approves but its answer never comes.
    rig.sim.faults().set_fault(Fault::NoAnswer, 1);
    let card = rig.card(3000, None);
    let err = rig
        .session
        .authorize(&OnlineRequest::Purchase { amount: 3000, card })
        .unwrap_err();
    assert!(matches!(
        err,
        SessionError::NoAnswer {
            reason: ReversalReason::Timeout,
            ..
        }
    ));
    assert!(
        rig.store.pending_reversals().unwrap().is_empty(),
        "{:?} {:?}",
        rig.store.pending_reversals(),
        rig.host_rows()
    );
    let rows = rig.host_rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, TxnStatus::Reversed);
    assert_eq!(
        rows[0].reversal_reason.as_deref(),
        Some(acquirer_common::host_reversal_code("01"))
    );
    rig.assert_agree();
}

#[test]
fn card_decline_after_approval_is_reversed() {
    let mut rig = Rig::new();
    let card = rig.card(800, None);
    let auth = rig
        .session
        .authorize(&OnlineRequest::Purchase { amount: 800, card })
        .unwrap();
    assert!(auth.approved());
    assert!(rig
        .session
        .reverse(&auth, ReversalReason::CardDeclined)
        .unwrap());
    let rows = rig.host_rows();
    assert_eq!(rows[0].status, TxnStatus::Reversed);
    assert_eq!(
        rows[0].reversal_reason.as_deref(),
        Some(acquirer_common::host_reversal_code("04"))
    );
    assert!(rig.store.batch_items(1).unwrap().is_empty());
    rig.assert_agree();
}

#[test]
fn pending_reversal_blocks_until_delivered_and_restart_reverses_unconfirmed() {
    let proxy_rig = Rig::new();
    let proxy = FaultProxy::start(proxy_rig.sim.addr());
    let mut rig = proxy_rig;
    rig.restart(proxy.addr());

    // Approved, then the till "loses power" before confirming.
    let card = rig.card(1200, None);
    let auth = rig
        .session
        .authorize(&OnlineRequest::Purchase { amount: 1200, card })
        .unwrap();
    assert!(auth.approved());
    proxy.set_down(true);
    rig.restart(proxy.addr());
    let pending = rig.store.pending_reversals().unwrap();
    assert_eq!(pending.len(), 1);
    assert!(pending[0].due);
    assert_eq!(pending[0].reason, ReversalReason::PowerLoss);

    // Link down: the owed reversal blocks any new online request.
    let card = rig.card(100, None);
    assert!(matches!(
        rig.session
            .authorize(&OnlineRequest::Purchase { amount: 100, card }),
        Err(SessionError::ReversalPending { count: 1 })
    ));
    // Refused connections are not attempts: the first real send is a 0400.
    assert_eq!(rig.store.pending_reversals().unwrap()[0].attempts, 0);

    // Link back: the reversal goes first, then the sale.
    proxy.set_down(false);
    let card = rig.card(100, None);
    let next = rig
        .session
        .authorize(&OnlineRequest::Purchase { amount: 100, card })
        .unwrap();
    assert!(next.approved());
    rig.session.confirm(&next).unwrap();
    let rows = rig.host_rows();
    assert_eq!(rows[0].status, TxnStatus::Reversed);
    assert_eq!(
        rows[0].reversal_reason.as_deref(),
        Some(acquirer_common::host_reversal_code("06"))
    );
    rig.assert_agree();
}

#[test]
fn offline_advices_are_forwarded_once_after_link_returns() {
    let rig0 = Rig::new();
    let proxy = FaultProxy::start(rig0.sim.addr());
    let mut rig = rig0;
    rig.restart(proxy.addr());
    proxy.set_down(true);

    let mut queued = Vec::new();
    for (kind, amount) in [
        (TxnKind::Purchase, 1500),
        (TxnKind::Purchase, 990),
        (TxnKind::Refund, 300),
    ] {
        let sale = rig.offline_sale(kind, amount);
        queued.push(rig.session.queue_offline(&sale).unwrap());
    }
    // Card data is sealed at rest.
    for item in rig.store.outbox_all() {
        assert!(!item
            .sealed_card
            .windows(OFFLINE_PAN.len())
            .any(|w| w == OFFLINE_PAN.as_bytes()));
        assert_eq!(item.masked_pan, "476173******0119");
    }
    if rig.kind == StoreKind::Sqlite {
        // Not in the database file or its WAL either.
        for name in ["till.db", "till.db-wal"] {
            let bytes = std::fs::read(rig.dir.path().join(name)).unwrap_or_default();
            assert!(
                !bytes
                    .windows(OFFLINE_PAN.len())
                    .any(|w| w == OFFLINE_PAN.as_bytes()),
                "clear PAN in {name}"
            );
        }
    }
    let report = rig.session.forward_pending(10).unwrap();
    assert_eq!(report.delivered, 0);
    assert_eq!(report.remaining, 3);
    assert!(report.stopped.is_some());

    // Back up, but the first answer is lost after the host processed it:
    // the item is repeated as 0221 with the same STAN and deduplicated.
    proxy.set_down(false);
    proxy.set(acquirer_common::proxy::Mode::DropAnswer);
    let report = rig.session.forward_pending(10).unwrap();
    assert_eq!(report.delivered, 0);
    proxy.set(acquirer_common::proxy::Mode::Pass);
    let report = rig.session.forward_pending(10).unwrap();
    assert_eq!(report.delivered, 3, "{report:?}");
    assert_eq!(report.remaining, 0);

    let outbox = rig.store.outbox_all();
    assert!(outbox.iter().all(|i| i.state == OutboxState::Done));
    assert!(
        outbox.iter().all(|i| i.sealed_card.is_empty()),
        "card data deleted"
    );
    // The whole pipelined window had been sent once; each was repeated once (0221).
    assert!(outbox.iter().all(|i| i.attempts == 2), "{outbox:?}");

    let rows = rig.host_rows();
    assert_eq!(rows.len(), 3, "each advice captured exactly once");
    assert!(
        rows.iter().all(|r| r.mti == "0220"),
        "the 0221 repeat was deduplicated"
    );
    rig.assert_agree();
}

#[test]
fn offline_caps_stop_acceptance() {
    let mut rig = Rig::with(
        None,
        OfflineLimits {
            max_count: 2,
            max_amount: 5000,
            max_age: Duration::from_secs(3600),
            keep_track2: false,
        },
    );
    let s = rig.offline_sale(TxnKind::Purchase, 4000);
    rig.session.queue_offline(&s).unwrap();
    let s = rig.offline_sale(TxnKind::Purchase, 1001);
    assert!(matches!(
        rig.session.queue_offline(&s),
        Err(SessionError::OfflineRefused(OfflineRefusal::Amount {
            limit: 5000
        }))
    ));
    let s = rig.offline_sale(TxnKind::Purchase, 1000);
    rig.session.queue_offline(&s).unwrap();
    let s = rig.offline_sale(TxnKind::Purchase, 1);
    assert!(matches!(
        rig.session.queue_offline(&s),
        Err(SessionError::OfflineRefused(OfflineRefusal::Count {
            limit: 2
        }))
    ));
    // Forwarding frees the caps; then age applies to what waits.
    rig.session.forward_pending(10).unwrap();
    let s = rig.offline_sale(TxnKind::Purchase, 10);
    rig.session.queue_offline(&s).unwrap();
    rig.clock.advance(Duration::from_secs(3601));
    assert!(matches!(
        rig.session.check_offline(10),
        Err(SessionError::OfflineRefused(OfflineRefusal::Age { .. }))
    ));
}

#[test]
fn settlement_matches() {
    let mut rig = Rig::new();
    for amount in [1000, 2000] {
        let card = rig.card(amount, None);
        let a = rig
            .session
            .authorize(&OnlineRequest::Purchase { amount, card })
            .unwrap();
        rig.session.confirm(&a).unwrap();
    }
    let card = rig.card(500, None);
    let r = rig
        .session
        .authorize(&OnlineRequest::Refund { amount: 500, card })
        .unwrap();
    rig.session.confirm(&r).unwrap();
    let sale = rig.offline_sale(TxnKind::Purchase, 250);
    rig.session.queue_offline(&sale).unwrap();
    rig.assert_agree_after_forward();

    let report = rig.session.settle().unwrap();
    assert_eq!(report.outcome, SettlementOutcome::Matched);
    assert_eq!(report.till.debits_count, 3);
    assert_eq!(report.till.debits_amount, 3250);
    assert_eq!(report.till.credits_count, 1);
    assert_eq!(report.till.credits_amount, 500);
    assert_eq!(report.host, Some(report.till));
    assert_eq!(rig.store.current_batch().unwrap(), 2);
    assert!(rig.sim.ledger().unwrap().is_settled(TID, "000001").unwrap());
}

/// An approval held for its sale (recorded with the sale later) keeps the
/// batch from settling: the host would count it and the till not yet.
#[test]
fn settlement_waits_for_an_approval_held_for_its_sale() {
    let mut rig = Rig::new();
    let card = rig.card(1500, None);
    let auth = rig
        .session
        .authorize(&OnlineRequest::Purchase { amount: 1500, card })
        .unwrap();
    rig.session.hold(auth.request.stan);
    // Held, it does not block the next payment...
    let card = rig.card(200, None);
    let second = rig
        .session
        .authorize(&OnlineRequest::Purchase { amount: 200, card })
        .unwrap();
    rig.session.hold(second.request.stan);
    // ...but it does block settlement.
    assert!(matches!(
        rig.session.settle(),
        Err(SessionError::Unconfirmed(_))
    ));
    rig.session.confirm(&auth).unwrap();
    rig.session.confirm(&second).unwrap();
    assert_eq!(
        rig.session.settle().unwrap().outcome,
        SettlementOutcome::Matched
    );
}

#[test]
fn settlement_mismatch_is_repaired_by_batch_upload() {
    let mut rig = Rig::new();
    let card = rig.card(1000, None);
    let a = rig
        .session
        .authorize(&OnlineRequest::Purchase { amount: 1000, card })
        .unwrap();
    rig.session.confirm(&a).unwrap();

    // The host has a capture the till does not: an approval sent by another
    // client with this terminal id (as if the till lost it).
    let mut other = acquirer_common::client_to(rig.sim.addr(), 1000);
    // Under cups its sign-on replaces the till's working keys on the host:
    // the session's next message meets an A0 and signs on again by itself.
    acquirer_common::sign_on_raw(&mut other);
    let card = rig.card(777, None);
    let stray = tillpoint_payment::iso8583::messages::purchase(
        &acquirer_common::ids(),
        &tillpoint_payment::iso8583::messages::Stamp {
            stan: Stan::new(900_001).unwrap(),
            transmitted: Timestamp::from_datetime(time::OffsetDateTime::now_utc()),
            local: Timestamp::from_datetime(time::OffsetDateTime::now_utc()),
            batch: 1,
        },
        777,
        &card,
    )
    .unwrap();
    assert_eq!(other.exchange(&stray).unwrap().get_str(39), Some("00"));

    // And the till has a capture the host never saw.
    let t = Timestamp::from_datetime(time::OffsetDateTime::now_utc());
    rig.store
        .add_capture(&BatchItem {
            original: OriginalData {
                mti: Mti::FINANCIAL_ADVICE,
                stan: Stan::new(900_002).unwrap(),
                transmitted: t,
            },
            kind: TxnKind::Refund,
            amount: 120,
            local: t,
            batch: 1,
            rrn: None,
            auth_code: Some("Y1".into()),
            voided: false,
        })
        .unwrap();

    let report = rig.session.settle().unwrap();
    assert_eq!(report.outcome, SettlementOutcome::MatchedAfterUpload);
    assert_eq!(report.uploaded, 2);
    assert_eq!(report.host, Some(report.till));
    let rows = rig.host_rows();
    let stray_row = rows.iter().find(|r| r.stan == "900001").unwrap();
    assert_eq!(stray_row.status, TxnStatus::Uncaptured);
    let uploaded = rows.iter().find(|r| r.stan == "900002").unwrap();
    assert_eq!(uploaded.source, "upload");
    assert_eq!(uploaded.status, TxnStatus::Approved);
    assert_eq!(rig.store.current_batch().unwrap(), 2);
}

trait ForwardHelper {
    fn assert_agree_after_forward(&mut self);
}

impl ForwardHelper for Rig {
    fn assert_agree_after_forward(&mut self) {
        let report = self.session.forward_pending(100).unwrap();
        assert_eq!(report.remaining, 0);
        self.assert_agree();
    }
}

/// A second session on the rig's store, as the till's background worker
/// has, talking to `addr` (a fault proxy).
fn worker_session(
    rig: &Rig,
    addr: std::net::SocketAddr,
) -> tillpoint_payment::acquirer::Session<acquirer_common::SharedStore> {
    tillpoint_payment::acquirer::Session::new(
        rig.store.clone(),
        acquirer_common::client_to(addr, 400),
        tillpoint_payment::acquirer::SessionConfig {
            ids: acquirer_common::ids(),
            limits: OfflineLimits::default(),
        },
        Box::new(rig.clock.clone()),
        tillpoint_payment::acquirer::DataKey::load_or_create(rig.dir.path()).unwrap(),
    )
    .unwrap()
}

#[test]
fn background_forwarder_drains_the_outbox_when_the_link_returns() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;
    use tillpoint_payment::acquirer::{spawn_forwarder, Backoff, WorkerConfig};

    let mut rig = Rig::new();
    let proxy = FaultProxy::start(rig.sim.addr());
    for amount in [100, 200, 300, 400, 500] {
        let sale = rig.offline_sale(TxnKind::Purchase, amount);
        rig.session.queue_offline(&sale).unwrap();
    }
    proxy.set_down(true);
    let shared = Arc::new(Mutex::new(worker_session(&rig, proxy.addr())));
    let stop = Arc::new(AtomicBool::new(false));
    let handle = spawn_forwarder(
        shared.clone(),
        WorkerConfig {
            idle_poll: Duration::from_millis(20),
            backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(100)),
            echo_every: Duration::ZERO,
        },
        stop.clone(),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(
        rig.store.offline_exposure().unwrap().count,
        5,
        "link is down"
    );
    proxy.set_down(false);
    let start = Instant::now();
    while rig.store.offline_exposure().unwrap().count > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "worker did not drain"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    handle.join().unwrap();
    assert_eq!(shared.lock().unwrap().online(), Some(true));
    assert_eq!(rig.host_rows().len(), 5);
    rig.assert_agree();
}

/// With nothing to send, the worker's echoes keep the till's online status
/// true: it goes down with the link and comes back with it.
#[test]
fn idle_worker_echoes_so_the_status_follows_the_link() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;
    use tillpoint_payment::acquirer::{spawn_forwarder, Backoff, WorkerConfig};

    let rig = Rig::new();
    let proxy = FaultProxy::start(rig.sim.addr());
    let shared = Arc::new(Mutex::new(worker_session(&rig, proxy.addr())));
    let stop = Arc::new(AtomicBool::new(false));
    let handle = spawn_forwarder(
        shared.clone(),
        WorkerConfig {
            idle_poll: Duration::from_millis(20),
            backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(100)),
            echo_every: Duration::from_millis(50),
        },
        stop.clone(),
    )
    .unwrap();
    let wait_for = |want: bool| {
        let start = Instant::now();
        while shared.lock().unwrap().online() != Some(want) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "status never became {want}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for(true);
    proxy.set_down(true);
    wait_for(false);
    proxy.set_down(false);
    wait_for(true);
    stop.store(true, Ordering::Relaxed);
    handle.join().unwrap();
    assert!(rig.host_rows().is_empty(), "an echo books nothing");
}

on_both_stores!(
    settlement_waits_for_an_approval_held_for_its_sale,
    idle_worker_echoes_so_the_status_follows_the_link,
    sign_on_and_echo,
    purchase_with_pin_and_chip_is_approved_and_captured,
    wrong_pin_and_decline_leave_nothing_to_reverse,
    refund_and_void,
    qr_payment_goes_online_as_barcode_purchase,
    timeout_sends_reversal_at_once,
    card_decline_after_approval_is_reversed,
    pending_reversal_blocks_until_delivered_and_restart_reverses_unconfirmed,
    offline_advices_are_forwarded_once_after_link_returns,
    offline_caps_stop_acceptance,
    settlement_matches,
    settlement_mismatch_is_repaired_by_batch_upload,
    background_forwarder_drains_the_outbox_when_the_link_returns,
);

/// An offline advice keeps no track 2 equivalent data on disk unless the
/// host profile asks for it (`[acquirer] advice_track2`); the PAN, expiry
/// and chip data it needs are kept, sealed.
#[test]
fn offline_advices_keep_track2_only_when_the_host_asks() {
    use tillpoint_payment::acquirer::forwarder::open_card;
    for keep in [false, true] {
        let mut rig = Rig::with(
            None,
            OfflineLimits {
                keep_track2: keep,
                ..OfflineLimits::default()
            },
        );
        let sale = rig.offline_sale(TxnKind::Purchase, 1200);
        rig.session.queue_offline(&sale).unwrap();
        let item = rig.store.outbox_pending(1).unwrap().remove(0);
        let card = open_card(&rig.key, &bound(&item), &item.sealed_card).unwrap();
        assert_eq!(card.pan, OFFLINE_PAN);
        assert_eq!(card.expiry.as_deref(), Some("3012"));
        assert!(card.icc.is_some());
        assert_eq!(card.track2.is_some(), keep, "keep_track2 = {keep}");
    }
}

/// `keys rotate`: every waiting advice is sealed again under a new outbox
/// key that its blob names; a rotation stopped after any step loses
/// nothing (both keys open what waits) and finishes when run again; the
/// forwarder then delivers them.
#[test]
fn rotating_the_outbox_key_reseals_what_waits_and_survives_a_stop() {
    use tillpoint_payment::acquirer::forwarder::{open_card, seal_card};
    use tillpoint_payment::acquirer::rotate::{next_key, rotate_outbox_key};
    use tillpoint_payment::acquirer::DataKey;
    let mut rig = Rig::with(None, OfflineLimits::default());
    for amount in [1200, 3400] {
        let sale = rig.offline_sale(TxnKind::Purchase, amount);
        rig.session.queue_offline(&sale).unwrap();
    }
    let dir = rig.dir.path().to_path_buf();
    let old = DataKey::load_or_create(&dir).unwrap();
    let pending = || rig.store.outbox_pending(10).unwrap();
    let opens_all = |key: &DataKey| {
        pending()
            .iter()
            .all(|item| open_card(key, &bound(item), &item.sealed_card).is_ok())
    };
    assert!(opens_all(&old));
    // Stopped after the first step: the next key exists, nothing moved.
    let next = next_key(&dir).unwrap();
    assert!(opens_all(&DataKey::load_or_create(&dir).unwrap()));
    // Stopped after the second: every blob is under the next key.
    let moved: Vec<(u64, Vec<u8>)> = pending()
        .iter()
        .map(|item| {
            let card = open_card(&old, &bound(item), &item.sealed_card).unwrap();
            (item.id, seal_card(&next, &bound(item), &card).unwrap())
        })
        .collect();
    rig.store.outbox_reseal(&moved).unwrap();
    assert!(!opens_all(&old), "the old key alone no longer opens them");
    assert!(
        opens_all(&DataKey::load_or_create(&dir).unwrap()),
        "the till, restarted, opens them with the next key"
    );
    // Run again: it finishes, under the key it had begun with.
    let r = rotate_outbox_key(&rig.store, &dir, TID).unwrap();
    assert_eq!((r.resealed, r.old_id.clone()), (2, old.id()));
    assert_eq!(r.new_id, next.id());
    assert!(!dir.join("outbox.key.next").exists());
    let now = DataKey::load_or_create(&dir).unwrap();
    assert_eq!(now.id(), next.id());
    assert!(opens_all(&now));
    for item in pending() {
        assert_eq!(&item.sealed_card[..4], b"TPO2");
        assert_eq!(hex::encode(&item.sealed_card[4..12]), now.id());
    }
    // A second rotation moves them on again, to a third key.
    let again = rotate_outbox_key(&rig.store, &dir, TID).unwrap();
    assert_ne!(again.new_id, now.id());
    assert!(opens_all(&DataKey::load_or_create(&dir).unwrap()));
    assert!(!opens_all(&now));
}

/// What an outbox item's sealed card data is bound to, on the rig's till.
fn bound(
    item: &tillpoint_payment::acquirer::PendingAdvice,
) -> tillpoint_payment::acquirer::forwarder::Binding<'_> {
    tillpoint_payment::acquirer::forwarder::Binding {
        tid: TID,
        stan: item.stan,
        transmitted: item.transmitted,
        kind: item.kind,
        amount: item.amount,
        auth_code: &item.auth_code,
    }
}

/// Once the host has acknowledged every advice, their sealed card data is
/// gone from the database file and from its WAL, not only from the rows.
#[test]
fn delivered_advices_leave_no_card_data_in_the_file_or_the_wal() {
    let mut rig = Rig::with(None, OfflineLimits::default());
    if rig.kind != StoreKind::Sqlite {
        return;
    }
    let sale = rig.offline_sale(TxnKind::Purchase, 2100);
    rig.session.queue_offline(&sale).unwrap();
    let blob = rig.store.outbox_pending(1).unwrap().remove(0).sealed_card;
    let files = || -> Vec<u8> {
        let mut all = std::fs::read(rig.dir.path().join("till.db")).unwrap();
        if let Ok(wal) = std::fs::read(rig.dir.path().join("till.db-wal")) {
            all.extend(wal);
        }
        all
    };
    let holds = |bytes: &[u8]| bytes.windows(blob.len()).any(|w| w == blob.as_slice());
    assert!(holds(&files()), "the waiting blob is on disk");
    let report = rig.session.forward_pending(10).unwrap();
    assert_eq!((report.delivered, report.remaining), (1, 0));
    assert!(
        !holds(&files()),
        "the delivered blob is gone from till.db and its WAL"
    );
}

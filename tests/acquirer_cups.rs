//! What only the cups profile has, over real TCP on loopback against the
//! simulator: the frame's TPDU and header, the MAC in both directions (a
//! request whose MAC fails is answered A0 and leaves nothing at the host; an
//! answer whose MAC fails is not believed and the purchase is reversed),
//! sign-on key downloads checked by their check values, a host that lost or
//! replaced the till's keys, a host that asks for a new sign-on in its
//! header, sign-off, and the X9.19 MAC. (Everything else the acquirer link
//! does runs under both profiles in the other acquirer test files.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod acquirer_common;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use acquirer_common::proxy::{FaultProxy, Mode};
use acquirer_common::{with_cups, Rig, TEST_TMK};
use tillpoint_payment::acquirer::mac::MacAlgorithm;
use tillpoint_payment::acquirer::wire::{encode_cups, CupsFrame, CupsSettings, HostProfile, Wire};
use tillpoint_payment::acquirer::SessionError;
use tillpoint_payment::iso8583::cups::{Header, Tpdu};
use tillpoint_payment::iso8583::framing::{read_frame, write_frame};
use tillpoint_payment::iso8583::messages::{self, Stamp, Stan, Timestamp};
use tillpoint_payment::iso8583::ReversalReason;
use tillpoint_payment::pin::master_session::WorkingKeys;
use tillpoint_sim::acquirer::ledger::TxnStatus;
use zeroize::Zeroizing;

fn cups(test: fn()) {
    with_cups(test);
}

fn stamp(stan: u32) -> Stamp {
    let now = Timestamp::from_datetime(time::OffsetDateTime::now_utc());
    Stamp {
        stan: Stan::new(stan).unwrap(),
        transmitted: now,
        local: now,
        batch: 1,
    }
}

/// Sends `frame` on a fresh connection and returns the answer's frame.
fn raw_exchange(addr: std::net::SocketAddr, frame: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    write_frame(&mut s, frame).unwrap();
    read_frame(&mut s, 4096, Duration::from_secs(5)).unwrap()
}

#[test]
fn frames_carry_the_tpdu_header_and_a_mac_and_a_bad_request_mac_gets_a0() {
    cups(|| {
        let mut rig = Rig::new();
        let card = rig.card(1234, None);
        let purchase =
            messages::purchase(&acquirer_common::ids(), &stamp(700), 1234, &card).unwrap();
        let tpdu = Tpdu {
            destination: 1,
            source: 0,
        };
        // Under a MAC key the host never issued: A0, and no MAC on the answer.
        let wrong = [0x5a; 16];
        let frame = encode_cups(
            &purchase,
            tpdu,
            Header::till(),
            Some((MacAlgorithm::UnionPayEcb, &wrong)),
        )
        .unwrap();
        assert_eq!(&frame[..11], &[0x60, 0, 1, 0, 0, 0x60, 0x31, 0, 0, 0, 0]);
        assert_eq!(&frame[11..13], &[0x02, 0x00], "BCD MTI");
        let answer = CupsFrame::parse(&raw_exchange(rig.sim.addr(), &frame)).unwrap();
        assert_eq!(
            answer.tpdu,
            tpdu.reversed(),
            "the answer goes back to the till"
        );
        assert_eq!(answer.wire.get_str(39), Some("A0"));
        assert!(!answer.wire.has(64));
        assert!(
            rig.host_rows().is_empty(),
            "nothing of a bad-MAC request is kept"
        );

        // The session's own purchase carries a MAC the host verifies, and
        // the host's answer a MAC the till verified before believing it.
        approved_purchase(&mut rig, 1234);
        rig.assert_agree();
    });
}

/// A cups rig whose session talks to the host through a fault proxy.
fn rig_with_proxy() -> (Rig, FaultProxy) {
    let mut rig = Rig::new();
    let proxy = FaultProxy::start(rig.sim.addr());
    rig.restart(proxy.addr());
    (rig, proxy)
}

/// Approves `amount` and confirms it, so the sale is captured on both sides.
fn approved_purchase(rig: &mut Rig, amount: u64) {
    let a = rig.purchase(amount, None).unwrap();
    assert!(a.approved(), "{:?}", a.reply);
    rig.session.confirm(&a).unwrap();
}

#[test]
fn a_tampered_request_mac_is_refused_and_nothing_is_booked() {
    cups(|| {
        let (mut rig, proxy) = rig_with_proxy();
        proxy.set(Mode::FlipRequestMac);
        let a = rig.purchase(900, None).unwrap();
        // Signed on again and sent once more: still A0, so declined.
        assert_eq!(a.reply.response_code, "A0");
        assert!(!a.approved());
        assert!(rig.host_rows().is_empty());
        proxy.set(Mode::Pass);
        approved_purchase(&mut rig, 900);
        rig.assert_agree();
    });
}

#[test]
fn a_tampered_answer_mac_is_not_believed_and_the_purchase_is_reversed() {
    cups(|| {
        let (mut rig, proxy) = rig_with_proxy();
        proxy.set(Mode::FlipAnswerMac);
        let err = rig.purchase(1500, None).unwrap_err();
        match err {
            SessionError::NoAnswer { reason, .. } => {
                assert_eq!(reason, ReversalReason::MalformedResponse)
            }
            other => panic!("unexpected {other:?}"),
        }
        proxy.set(Mode::Pass);
        rig.session.flush_reversals().unwrap();
        let rows = rig.host_rows();
        assert_eq!(rows[0].status, TxnStatus::Reversed);
        assert_eq!(rows[0].reversal_reason.as_deref(), Some("96"));
        rig.assert_agree();
    });
}

#[test]
fn a_host_that_forgot_the_keys_or_asks_for_a_sign_on_gets_one() {
    cups(|| {
        let mut rig = Rig::new();
        let before = rig.session.client_mut().wire().pin_key_under_tmk();
        // The host lost its key table (a restart): A0, sign-on, sent again.
        rig.sim.keys().forget_all();
        let a = rig.purchase(300, None).unwrap();
        assert!(a.approved(), "{:?}", a.reply);
        rig.session.confirm(&a).unwrap();
        let after = rig.session.client_mut().wire().pin_key_under_tmk();
        assert_ne!(before, after, "new working keys");

        // The host asks in its header: the answer is used, and the next
        // message waits for a new sign-on.
        rig.sim.keys().ask_sign_on();
        assert!(rig.session.echo().unwrap());
        assert!(rig.session.client_mut().wire().needs_sign_on());
        // A card payment signs on before the PIN is taken, so the pad
        // encrypts under the key the host will use.
        rig.session.ensure_signed_on().unwrap();
        let a = rig.purchase(400, Some("1234")).unwrap();
        assert!(a.approved(), "{:?}", a.reply);
        rig.session.confirm(&a).unwrap();
        assert!(!rig.sim.keys().sign_on_asked());
        assert_ne!(rig.session.client_mut().wire().pin_key_under_tmk(), after);
        rig.assert_agree();
    });
}

#[test]
fn online_pin_under_the_session_key_is_checked_by_the_host() {
    cups(|| {
        let mut rig = Rig::new();
        let a = rig.purchase(500, Some("1234")).unwrap();
        assert!(a.approved(), "{:?}", a.reply);
        rig.session.confirm(&a).unwrap();
        let a = rig.purchase(600, Some("9999")).unwrap();
        assert_eq!(a.reply.response_code, "55");
        let rows = rig.host_rows();
        assert_eq!(rows.last().unwrap().decline_reason.as_deref(), Some("pin"));
    });
}

#[test]
fn sign_off_stops_the_keys_until_the_next_sign_on() {
    cups(|| {
        let mut rig = Rig::new();
        assert!(rig.session.sign_off().unwrap().approved());
        assert!(rig.session.client_mut().wire().needs_sign_on());
        // Both sides dropped the keys: the next message signs on first.
        let a = rig.purchase(700, None).unwrap();
        assert!(a.approved(), "{:?}", a.reply);
    });
}

/// A host whose sign-on answer carries keys with a wrong check value: the
/// till keeps no key, says why, and sends nothing that needs a MAC.
#[test]
fn a_download_with_a_wrong_check_value_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let host = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let req = read_frame(&mut s, 4096, Duration::from_secs(5)).unwrap();
        let f = CupsFrame::parse(&req).unwrap();
        let mut answer = f.to_generic().unwrap();
        answer.mti = answer.mti.response();
        answer.set_str(39, "00").unwrap();
        let mut download = WorkingKeys::download(&TEST_TMK, &[1; 16], &[2; 16]);
        download[39] ^= 0xff;
        answer.set(62, download).unwrap();
        let bytes = encode_cups(&answer, f.tpdu.reversed(), Header::till(), None).unwrap();
        write_frame(&mut s, &bytes).unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        rest
    });
    let profile = HostProfile::Cups(CupsSettings::default());
    let mut cfg = tillpoint_payment::acquirer::ClientConfig::new(addr);
    cfg.profile = profile;
    cfg.read_timeout = Duration::from_secs(5);
    let mut client = tillpoint_payment::acquirer::AcquirerClient::new(cfg);
    client.set_wire(Wire::with_tmk(profile, Zeroizing::new(TEST_TMK)));
    let req = messages::network_request(
        &acquirer_common::ids(),
        &stamp(1),
        messages::NetworkRequest::SignOn,
    )
    .unwrap();
    let err = client.exchange(&req).unwrap_err();
    assert!(err.to_string().contains("check value"), "{err}");
    assert!(client.wire().needs_sign_on());
    let card = tillpoint_payment::iso8583::messages::CardInput {
        pan: acquirer_common::PAN.into(),
        expiry: None,
        sequence: None,
        track2: None,
        entry: tillpoint_payment::iso8583::messages::EntryMode::Manual,
        icc: None,
        pin: None,
    };
    let purchase = messages::purchase(&acquirer_common::ids(), &stamp(2), 100, &card).unwrap();
    assert!(client.send(&purchase).is_err(), "no MAC key, nothing sent");
    client.disconnect();
    assert!(host.join().unwrap().is_empty());
}

#[test]
fn x919_macs_work_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = tillpoint_sim::acquirer::EmvIssuer::test_cards();
    let settings = CupsSettings {
        mac: MacAlgorithm::X919,
        ..CupsSettings::default()
    };
    let mut sim_cfg = acquirer_common::sim_config(dir.path().join("host.db"), &issuer);
    sim_cfg.profile = HostProfile::Cups(settings);
    let sim = tillpoint_sim::acquirer::start_acquirer_sim(sim_cfg).unwrap();
    let mut cfg = tillpoint_payment::acquirer::ClientConfig::new(sim.addr());
    cfg.read_timeout = Duration::from_secs(5);
    let mut client = tillpoint_payment::acquirer::AcquirerClient::new(cfg);
    client.set_wire(Wire::with_tmk(
        HostProfile::Cups(settings),
        Zeroizing::new(TEST_TMK),
    ));
    let sign_on = messages::network_request(
        &acquirer_common::ids(),
        &stamp(1),
        messages::NetworkRequest::SignOn,
    )
    .unwrap();
    assert_eq!(client.exchange(&sign_on).unwrap().get_str(39), Some("00"));
    let card = tillpoint_payment::iso8583::messages::CardInput {
        pan: acquirer_common::PAN.into(),
        expiry: Some("3012".into()),
        sequence: None,
        track2: None,
        entry: tillpoint_payment::iso8583::messages::EntryMode::Manual,
        icc: None,
        pin: None,
    };
    let purchase = messages::purchase(&acquirer_common::ids(), &stamp(2), 100, &card).unwrap();
    let answer = client.exchange(&purchase).unwrap();
    assert_eq!(answer.get_str(39), Some("00"));
    // An ECB till on an X9.19 host: the host cannot verify it.
    let mut ecb = tillpoint_payment::acquirer::ClientConfig::new(sim.addr());
    ecb.read_timeout = Duration::from_secs(5);
    let mut ecb = tillpoint_payment::acquirer::AcquirerClient::new(ecb);
    ecb.set_wire(Wire::with_tmk(
        HostProfile::Cups(CupsSettings::default()),
        Zeroizing::new(TEST_TMK),
    ));
    let sign_on = messages::network_request(
        &acquirer_common::ids(),
        &stamp(3),
        messages::NetworkRequest::SignOn,
    )
    .unwrap();
    ecb.exchange(&sign_on).unwrap();
    let purchase = messages::purchase(&acquirer_common::ids(), &stamp(4), 100, &card).unwrap();
    assert_eq!(ecb.exchange(&purchase).unwrap().get_str(39), Some("A0"));
}

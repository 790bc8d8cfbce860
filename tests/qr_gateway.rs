//! The QR gateway client against `qr-sim` over real HTTPS on 127.0.0.1:
//! every ending of a call (paid, the customer still confirming, declined,
//! a bad signature, a garbled body, no answer, nobody there), and the
//! signatures checked by an independent implementation (openssl).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

use std::path::PathBuf;
use std::time::Duration;
use tillpoint_payment::qr_gateway::api::{PayRequest, PrecreateRequest, RefundRequest, TradeState};
use tillpoint_payment::qr_gateway::{sign, GatewayClient, GatewayConfig, GatewayError};
use tillpoint_sim::qr::{demo_keys, start_qr_sim, Faults, QrSimConfig, QrSimHandle};

fn asset(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("assets/demo/qr")
        .join(name)
}

fn sim() -> QrSimHandle {
    start_qr_sim(QrSimConfig::demo("127.0.0.1:0".parse().unwrap()).unwrap()).unwrap()
}

fn client(url: &str, timeout: Duration) -> GatewayClient {
    GatewayClient::new(GatewayConfig {
        url: url.into(),
        mchid: demo_keys::MCHID.into(),
        serial_no: demo_keys::SERIAL.into(),
        merchant_key: asset("merchant.key.pem"),
        platform_key: asset("platform.pub.pem"),
        ca: Some(asset("ca.pem")),
        timeout,
    })
    .unwrap()
}

fn pay(no: &str, total: i64) -> PayRequest {
    PayRequest {
        out_trade_no: no.into(),
        total,
        currency: "CNY".into(),
        auth_code: "284500001234567890".into(),
        description: "tillpoint test".into(),
    }
}

#[test]
fn every_ending_of_a_call_over_https() {
    let sim = sim();
    let c = client(&sim.url(), Duration::from_secs(5));
    let a = c.pay(&pay("T01-1", 1250)).unwrap();
    assert_eq!(
        (a.trade_state, a.scheme.as_str()),
        (TradeState::Success, "alipay")
    );
    assert!(!a.transaction_id.is_empty());
    assert_eq!(
        c.pay(&pay("T01-2", 1213)).unwrap().trade_state,
        TradeState::Payerror
    );

    sim.ledger().userpaying_polls = 2;
    assert_eq!(
        c.pay(&pay("T01-3", 500)).unwrap().trade_state,
        TradeState::Userpaying
    );
    assert_eq!(
        c.query("T01-3").unwrap().trade_state,
        TradeState::Userpaying
    );
    assert_eq!(c.query("T01-3").unwrap().trade_state, TradeState::Success);
    assert_eq!(c.cancel("T01-3").unwrap().trade_state, TradeState::Revoked);
    sim.ledger().userpaying_polls = 0;

    let shown = c
        .precreate(&PrecreateRequest {
            out_trade_no: "T01-4".into(),
            total: 880,
            currency: "CNY".into(),
            description: "tillpoint test".into(),
            expire_seconds: 120,
        })
        .unwrap();
    assert!(shown.code_url.starts_with("https://"));
    assert_eq!(c.query("T01-4").unwrap().trade_state, TradeState::Notpay);
    sim.ledger().customer_scans("T01-4").unwrap();
    assert_eq!(c.query("T01-4").unwrap().trade_state, TradeState::Success);
    let r = c
        .refund(&RefundRequest {
            out_trade_no: "T01-4".into(),
            out_refund_no: "T01-4-R1".into(),
            refund: 880,
            total: 880,
            currency: "CNY".into(),
        })
        .unwrap();
    assert!(!r.refund_id.is_empty());
    let e = c.close("T01-1").unwrap_err();
    assert!(e.is_refusal("ORDER_PAID") && !e.outcome_unknown(), "{e}");
    assert!(c
        .query("NO-SUCH")
        .unwrap_err()
        .is_refusal("ORDER_NOT_EXIST"));

    sim.set_faults(Faults {
        bad_signature: true,
        ..Faults::default()
    });
    let e = c.query("T01-1").unwrap_err();
    assert!(
        matches!(e, GatewayError::BadSignature(_)) && e.outcome_unknown(),
        "{e}"
    );
    sim.set_faults(Faults {
        garbled: true,
        ..Faults::default()
    });
    let e = c.query("T01-1").unwrap_err();
    assert!(
        matches!(e, GatewayError::Garbled(_)) && e.outcome_unknown(),
        "{e}"
    );

    // No answer: the provider acted (the order is paid there) and the till
    // must find out by asking.
    sim.set_faults(Faults {
        no_answer: true,
        ..Faults::default()
    });
    let slow = client(&sim.url(), Duration::from_millis(800));
    let e = slow.pay(&pay("T01-5", 300)).unwrap_err();
    assert_eq!(e, GatewayError::NoAnswer);
    assert!(e.outcome_unknown());
    sim.set_faults(Faults::default());
    assert_eq!(c.query("T01-5").unwrap().trade_state, TradeState::Success);

    let url = sim.url();
    sim.stop();
    let e = client(&url, Duration::from_secs(2))
        .query("T01-1")
        .unwrap_err();
    assert!(
        matches!(e, GatewayError::Unreachable(_)) && !e.outcome_unknown(),
        "{e}"
    );
}

/// A client that trusts another CA does not talk to the gateway at all.
#[test]
fn an_untrusted_certificate_is_refused() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-ca.pem");
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    std::fs::write(&other, params.self_signed(&key).unwrap().pem()).unwrap();
    let c = GatewayClient::new(GatewayConfig {
        url: sim.url(),
        mchid: demo_keys::MCHID.into(),
        serial_no: demo_keys::SERIAL.into(),
        merchant_key: asset("merchant.key.pem"),
        platform_key: asset("platform.pub.pem"),
        ca: Some(other),
        timeout: Duration::from_secs(3),
    })
    .unwrap();
    let e = c.pay(&pay("T02-1", 100)).unwrap_err();
    assert!(matches!(e, GatewayError::Unreachable(_)), "{e}");
    assert!(
        sim.ledger().orders.is_empty(),
        "nothing reached the provider"
    );
}

/// Our RSA-SHA256 signatures are the standard ones: openssl verifies
/// them, and we verify openssl's.
#[test]
fn signatures_agree_with_openssl() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let msg = sign::request_message(
        "POST",
        "/v1/trade/pay",
        1_554_208_460,
        "593BEC0C930BF1AFEB40B4A08C8FB242",
        "{\"total\":1}",
    );
    let m = dir.path().join("msg");
    std::fs::write(&m, &msg).unwrap();
    let key = sign::private_key(demo_keys::MERCHANT_KEY).unwrap();
    let ours = base64::engine::general_purpose::STANDARD
        .decode(sign::sign(&key, &msg))
        .unwrap();
    let sig = dir.path().join("sig");
    std::fs::write(&sig, &ours).unwrap();
    let ok = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(asset("merchant.pub.pem"))
        .arg("-signature")
        .arg(&sig)
        .arg(&m)
        .output()
        .expect("openssl is installed (.ci/deps)");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let theirs = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(asset("merchant.key.pem"))
        .arg(&m)
        .output()
        .unwrap();
    assert!(theirs.status.success());
    assert_eq!(theirs.stdout, ours, "PKCS#1 v1.5: the same bytes");
    let public = sign::public_key(demo_keys::MERCHANT_PUB).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&theirs.stdout);
    assert_eq!(sign::verify(&public, &msg, &b64), Ok(()));
}

/// `tillpoint qr-sim` serves the gateway as the in-process simulator does.
#[test]
fn the_qr_sim_command_serves_the_gateway() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tillpoint"))
        .args([
            "qr-sim",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--userpaying",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let c = client(&format!("https://127.0.0.1:{port}"), Duration::from_secs(3));
    let mut answer = Err(GatewayError::NoAnswer);
    for _ in 0..100 {
        answer = c.pay(&pay("CLI-1", 100));
        if !matches!(answer, Err(GatewayError::Unreachable(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        answer.unwrap().trade_state,
        TradeState::Userpaying,
        "--userpaying 1"
    );
}

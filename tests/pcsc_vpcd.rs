//! Integration tests through the REAL pcscd with vsmartcard's vpcd driver:
//! the virtual EMV card connects to vpcd's socket, the kernel talks to it
//! through libpcsclite, exactly as with a hardware reader.
//!
//! Needs `pcscd` and `vsmartcard-vpcd` (Debian packages). When pcscd is not
//! running the tests start `pcscd --foreground` themselves and leave it
//! running (with `--auto-exit` it could go away 60 s after its last client,
//! between one test's check that it runs and that test's first call: a
//! flake seen once as `NoService`). When pcscd is missing:
//! with CI=true the tests fail; otherwise they print a loud warning and
//! pass without testing anything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tillpoint_devices::reader::{self, Reader, ReaderError};
use tillpoint_payment::emv::apdu::{ApduError, CardChannel, ChannelError};
use tillpoint_payment::emv::kernel::{has_bit, tvr, Decision, Kernel, KernelError, Outcome};
use tillpoint_payment::emv::TerminalConfig;
use tillpoint_sim::card::{
    issuer_approval, run_card_sim_with, sample_purchase, ScriptedCardholder, SimOptions,
    SimSummary, VirtualCard,
};

const READER: &str = "Virtual PCD 00 00";
const SPARE_READER: &str = "Virtual PCD 00 01";

/// vpcd has one socket per reader; tests share reader 00 00 one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn vpcd_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 35963))
}

/// The contactless cards: taps on the second vpcd reader.
#[path = "pcsc_vpcd/contactless.rs"]
mod contactless;

fn pcscd_binary() -> Option<&'static str> {
    ["/usr/sbin/pcscd", "/usr/local/sbin/pcscd", "/sbin/pcscd"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

fn vpcd_readers_visible() -> bool {
    reader::list_readers().is_ok_and(|r| r.iter().any(|n| n == READER))
}

/// Makes sure pcscd with vpcd runs. Returns the serialisation guard, or
/// `None` when the test must be skipped (developer machine without pcscd).
fn setup() -> Option<MutexGuard<'static, ()>> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if vpcd_readers_visible() {
        settle();
        return Some(guard);
    }
    if let Some(bin) = pcscd_binary() {
        let _ = Command::new(bin)
            .args(["--foreground"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if vpcd_readers_visible() {
                settle();
                return Some(guard);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let msg = "pcscd with vsmartcard-vpcd is not available (apt-get install pcscd vsmartcard-vpcd)";
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true: {msg}; PC/SC integration tests must run in CI");
    }
    eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("!!! WARNING: {msg}");
    eprintln!("!!! PC/SC integration test SKIPPED on this machine.");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
    None
}

/// Waits until pcscd has noticed that the previous test's card is gone, so
/// a new virtual card is never mistaken for the old one.
fn settle() {
    if let Ok(r) = Reader::open(Some(READER)) {
        let _ = r.wait_for_removal(Duration::from_secs(5));
    }
}

struct Sim {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<SimSummary, String>>>,
}

impl Sim {
    fn start(card: VirtualCard, opts: SimOptions) -> Sim {
        Sim::start_at(vpcd_addr(), card, opts)
    }

    /// The card on vpcd's socket `addr` (one socket per virtual reader).
    fn start_at(addr: SocketAddr, card: VirtualCard, opts: SimOptions) -> Sim {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            run_card_sim_with(card, addr, &s, opts).map_err(|e| e.to_string())
        });
        Sim {
            stop,
            handle: Some(handle),
        }
    }

    fn profile(name: &str) -> Sim {
        Sim::start(
            VirtualCard::from_profile_name(name).unwrap(),
            SimOptions {
                connect_deadline: Some(Duration::from_secs(5)),
                ..SimOptions::default()
            },
        )
    }

    fn stop(mut self) -> SimSummary {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap().unwrap()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Waits for the virtual card in reader 00 00 and connects.
fn insert() -> (Reader, tillpoint_devices::reader::PcscCard) {
    let reader = Reader::open(Some(READER)).unwrap();
    let atr = reader.wait_for_card(Duration::from_secs(5)).unwrap();
    assert!(!atr.is_empty());
    let card = reader.connect().unwrap();
    assert_eq!(card.atr(), atr.as_slice());
    (reader, card)
}

fn wait_removed(reader: &Reader) {
    reader.wait_for_removal(Duration::from_secs(5)).unwrap();
}

/// Full transaction of `profile` through pcscd; completes online with an
/// approval computed like the issuer would.
fn transact(
    profile: &'static str,
    amount: u64,
    choice: usize,
    print_trace: bool,
) -> (Outcome, Option<Outcome>) {
    let sim = Sim::profile(profile);
    let (reader, mut card) = insert();
    let cfg = TerminalConfig::default();
    let mut ch = ScriptedCardholder {
        choice,
        ..ScriptedCardholder::default()
    };
    let (first, second, trace) = {
        let mut k = Kernel::new(&mut card, &cfg);
        k.enable_trace();
        let mut first = k.start(&sample_purchase(amount), &mut ch).unwrap();
        let second = if first.decision == Decision::GoOnline {
            let s = first.take_card_secrets().unwrap();
            let f55 = first.online.as_ref().unwrap().field55.clone();
            let host = issuer_approval(profile, &s.pan, s.pan_sequence.as_deref(), &f55).unwrap();
            Some(k.complete(host).unwrap())
        } else {
            None
        };
        (first, second, k.take_trace())
    };
    if print_trace {
        println!(
            "=== {profile} through pcscd/vpcd ({} APDUs, protocol {}) ===",
            trace.len(),
            card.protocol()
        );
        println!("ATR {}", hex::encode_upper(card.atr()));
        for t in &trace {
            println!("{t}");
        }
        println!("first: {:?}", first.receipt);
        if let Some(s) = &second {
            println!("final: {:?} {:?}", s.decision, s.receipt);
        }
    }
    drop(card);
    let summary = sim.stop();
    assert_eq!(
        summary.apdus as usize,
        trace.len(),
        "every kernel APDU reached the card"
    );
    wait_removed(&reader);
    (first, second)
}

#[test]
fn visa_online_pin_through_pcscd() {
    let Some(_g) = setup() else { return };
    let (first, second) = transact("visa-online-pin", 25_00, 0, true);
    assert_eq!(first.decision, Decision::GoOnline);
    assert!(has_bit(&first.receipt.tvr, tvr::ONLINE_PIN_ENTERED));
    assert!(!has_bit(&first.receipt.tvr, tvr::DDA_FAILED));
    assert_eq!(second.unwrap().decision, Decision::ApprovedOnline);
}

#[test]
fn unionpay_online_pin_through_pcscd() {
    let Some(_g) = setup() else { return };
    let (first, second) = transact("unionpay-online-pin", 88_00, 0, true);
    assert_eq!(first.decision, Decision::GoOnline);
    assert!(!has_bit(&first.receipt.tvr, tvr::SDA_FAILED));
    assert_eq!(second.unwrap().decision, Decision::ApprovedOnline);
}

/// The signed cryptograms of CDA and a 19-digit UnionPay card, through
/// the real reader stack.
#[test]
fn cda_and_nineteen_digit_cards_through_pcscd() {
    let Some(_g) = setup() else { return };
    let (first, second) = transact("mastercard-cda", 25_00, 0, true);
    assert_eq!(first.decision, Decision::GoOnline);
    assert!(!has_bit(&first.receipt.tvr, tvr::CDA_FAILED));
    let second = second.unwrap();
    assert_eq!(second.decision, Decision::ApprovedOnline);
    assert!(!has_bit(&second.receipt.tvr, tvr::CDA_FAILED));
    let (first, second) = transact("unionpay-19", 88_00, 0, true);
    assert_eq!(first.decision, Decision::GoOnline);
    assert_eq!(second.unwrap().decision, Decision::ApprovedOnline);
    let (o, _) = transact("cda-wrong-hash", 25_00, 0, false);
    assert!(has_bit(&o.receipt.tvr, tvr::CDA_FAILED));
    assert_eq!(o.decision, Decision::DeclinedOffline);
}

#[test]
fn offline_declining_expired_two_apps_through_pcscd() {
    let Some(_g) = setup() else { return };
    let (o, _) = transact("offline-approve", 20_00, 0, false);
    assert_eq!(o.decision, Decision::ApprovedOffline);
    let (o, _) = transact("declining", 20_00, 0, false);
    assert_eq!(o.decision, Decision::DeclinedOffline);
    let (o, _) = transact("expired", 20_00, 0, false);
    assert_eq!(o.decision, Decision::DeclinedOffline);
    assert!(has_bit(&o.receipt.tvr, tvr::EXPIRED));
    let (o, _) = transact("two-apps", 20_00, 1, false);
    assert_eq!(o.receipt.app_label, "VISA ELECTRON");
    assert_eq!(o.decision, Decision::ApprovedOffline);
}

fn failing(profile: &str) -> KernelError {
    let sim = Sim::profile(profile);
    let (reader, mut card) = insert();
    card.set_timeout(Duration::from_millis(1500));
    let cfg = TerminalConfig::default();
    let err = Kernel::new(&mut card, &cfg)
        .start(&sample_purchase(10_00), &mut ScriptedCardholder::default())
        .unwrap_err();
    drop(card);
    sim.stop();
    wait_removed(&reader);
    err
}

#[test]
fn broken_cards_through_pcscd() {
    let Some(_g) = setup() else { return };
    assert!(matches!(failing("broken-length"), KernelError::CardData(_)));
    assert!(matches!(failing("broken-tlv"), KernelError::CardData(_)));
    assert!(matches!(
        failing("broken-status"),
        KernelError::CardStatus { .. }
    ));
    // The silent card blocks pcscd's transmit; the adapter's timeout ends it.
    let started = Instant::now();
    let e = failing("silent");
    assert!(
        matches!(
            e,
            KernelError::Apdu(ApduError::Channel(ChannelError::Timeout(1500)))
        ),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn card_removed_mid_transaction_through_pcscd() {
    let Some(_g) = setup() else { return };
    let sim = Sim::start(
        VirtualCard::from_profile_name("visa-online-pin").unwrap(),
        SimOptions {
            remove_after_apdus: Some(6),
            connect_deadline: Some(Duration::from_secs(5)),
            ..SimOptions::default()
        },
    );
    let (reader, mut card) = insert();
    let cfg = TerminalConfig::default();
    let err = Kernel::new(&mut card, &cfg)
        .start(&sample_purchase(10_00), &mut ScriptedCardholder::default())
        .unwrap_err();
    assert!(err.is_card_removed(), "expected 'card removed', got {err}");
    let summary = sim.stop();
    assert!(summary.removed);
    wait_removed(&reader);
    // A further APDU on the old handle reports the removal too.
    assert!(matches!(
        card.transmit(&[0x00, 0xA4, 0x04, 0x00, 0x00]),
        Err(ChannelError::CardRemoved)
    ));
}

#[test]
fn reader_absent_and_no_card() {
    let Some(_g) = setup() else { return };
    assert_eq!(
        Reader::open(Some("No Such Reader 99")).err(),
        Some(ReaderError::ReaderNotFound("No Such Reader 99".into()))
    );
    let names = reader::list_readers().unwrap();
    assert!(names.iter().any(|n| n == SPARE_READER), "{names:?}");
    // The spare vpcd reader has no card: connecting says so.
    let spare = Reader::open(Some(SPARE_READER)).unwrap();
    assert_eq!(spare.connect().err(), Some(ReaderError::NoCard));
    assert_eq!(
        spare.wait_for_card(Duration::from_millis(300)),
        Err(ReaderError::Timeout)
    );
    // A wait for a card can be cancelled from another thread.
    let c = spare.canceller();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        c.cancel()
    });
    assert_eq!(
        spare.wait_for_card(Duration::from_secs(10)),
        Err(ReaderError::Cancelled)
    );
    t.join().unwrap().unwrap();
}

#[test]
fn reconnect_finds_the_reader_again() {
    let Some(_g) = setup() else { return };
    let mut r = Reader::open(Some(READER)).unwrap();
    r.reconnect(Duration::from_secs(2)).unwrap();
    assert_eq!(r.name(), READER);
    // The card can come and go between transactions on the same reader.
    for _ in 0..2 {
        let sim = Sim::profile("offline-approve");
        r.wait_for_card(Duration::from_secs(5)).unwrap();
        sim.stop();
        r.wait_for_removal(Duration::from_secs(5)).unwrap();
    }
}

#[test]
fn apdu_latency_is_low_with_nodelay() {
    let Some(_g) = setup() else { return };
    let sim = Sim::profile("visa-online-pin");
    let (reader, mut card) = insert();
    let select = hex::decode("00A404000E315041592E5359532E444446303100").unwrap();
    let start = Instant::now();
    for _ in 0..50 {
        let r = card.transmit(&select).unwrap();
        assert_eq!(&r[r.len() - 2..], &[0x90, 0x00]);
    }
    let per = start.elapsed() / 50;
    println!("mean APDU round trip through pcscd/vpcd: {per:?}");
    assert!(
        per < Duration::from_millis(20),
        "delayed-ACK latency is back: {per:?}"
    );
    drop(card);
    sim.stop();
    wait_removed(&reader);
}

/// Without pcscd the till says so in words, whichever way it looks for a
/// reader: listing them, the first one, or one by name. libpcsclite reads
/// PCSCLITE_CSOCK_NAME once per process, so the "no pcscd" view is the real
/// `tillpoint` binary in its own process, pointed at a socket that does not
/// exist (the running pcscd is left alone).
#[test]
fn pcscd_absent_is_a_clear_error() {
    let Some(_g) = setup() else { return };
    let runs: [&[&str]; 3] = [
        &["readers"],
        &["card-test"],
        &["card-test", "--reader", READER],
    ];
    for args in runs {
        let out = Command::new(env!("CARGO_BIN_EXE_tillpoint"))
            .args(args)
            .env("PCSCLITE_CSOCK_NAME", "/nonexistent/pcscd.comm")
            .env("TILLPOINT_LOG", "error")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded without pcscd");
        assert!(
            err.contains(&ReaderError::NoService.to_string()),
            "{args:?}: {err}"
        );
    }
}

/// The acquirer simulator on loopback with the test cards' issuer, its
/// ledger in `dir`.
fn test_host(dir: &std::path::Path) -> tillpoint_sim::acquirer::SimHandle {
    use tillpoint_sim::acquirer::{start_acquirer_sim, EmvIssuer, SimConfig};
    start_acquirer_sim(SimConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        dir.join("host.db"),
        Arc::new(EmvIssuer::test_cards()),
    ))
    .unwrap()
}

/// The shop's payment devices as the window builds them from a till whose
/// config (in `dir`) is `sections` plus `[acquirer]` for `host` as `tid`.
fn live_devices(
    dir: &std::path::Path,
    sections: &str,
    host: &tillpoint_sim::acquirer::SimHandle,
    tid: &str,
) -> tillpoint_app::terminal::LiveDevices {
    use tillpoint_app::till::{Paths, Till};
    let config = dir.join("tillpoint.toml");
    std::fs::write(
        &config,
        format!(
            "[till]\ncurrency = \"USD\"\n{sections}\n[acquirer]\nhost = \"{}\"\ntid = \"{tid}\"\nread_timeout_ms = 5000\n",
            host.addr()
        ),
    )
    .unwrap();
    let till = Till::open(Paths {
        config_file: config,
        data_dir: dir.join("data"),
    })
    .unwrap();
    tillpoint_app::terminal::LiveDevices::start(&till)
        .unwrap()
        .expect("an acquirer is configured")
}

/// The shop's own payment devices as the window builds them outside the
/// demo, from the till's config only: `[reader]` names the vpcd reader of
/// the real pcscd, `[pinpad]` a pseudo-terminal with the Abecs PIN pad
/// simulator on its other end (the cardholder types 1234), `[acquirer]`
/// the host simulator on loopback. One online-PIN chip payment goes all
/// the way through, and the host's ledger holds it.
#[test]
fn live_devices_from_the_config_take_an_online_pin_payment() {
    use serialport::{SerialPort, TTYPort};
    use tillpoint_core::money::{Currency, Money};
    use tillpoint_payment::abecs::link::PortLine;
    use tillpoint_payment::pin::CancelToken;
    use tillpoint_payment::session::PaymentDecision;
    use tillpoint_sim::acquirer::ledger::TxnStatus;
    use tillpoint_sim::pinpad::{PinPadSim, PinSource, SimOptions as PadOptions};

    let Some(_g) = setup() else { return };
    let dir = tempfile::tempdir().unwrap();
    let host = test_host(dir.path());
    let (master, slave) = TTYPort::pair().unwrap();
    let pad_path = slave.name().unwrap();
    let mut pad_opts = PadOptions::new(&pad_path, dir.path().join("pad-ksn.toml"));
    pad_opts.pin_source = PinSource::Script(vec!["1234".into()]);
    let stop = CancelToken::new();
    pad_opts.stop = stop.clone();
    let mut pad = PinPadSim::new(pad_opts).unwrap();
    let pad_stop = stop.clone();
    let pad_thread = std::thread::spawn(move || {
        let mut line = PortLine::new(Box::new(master));
        while !pad_stop.is_cancelled() {
            let _ = pad.serve(&mut line, &pad_stop);
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let mut live = live_devices(
        dir.path(),
        &format!("[reader]\nname = \"{READER}\"\n[pinpad]\nport = \"{pad_path}\""),
        &host,
        "LIVE0001",
    );

    let card = Sim::profile("visa-online-pin");
    let mut stages = Vec::new();
    let out = live
        .pay_card(Money::new(25_00, Currency::USD), |s| stages.push(s))
        .unwrap();
    card.stop();
    assert_eq!(
        out.decision,
        PaymentDecision::Approved,
        "{out:?} {stages:?}"
    );
    assert_eq!(out.card.cvm, "pin");
    assert_eq!(out.card.rrn.len(), 12);
    assert_eq!(out.card.masked_pan, "476173******0010");
    let rows = host.ledger().unwrap().txns("LIVE0001").unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].amount, rows[0].status),
        (25_00, TxnStatus::Approved)
    );
    assert_eq!(rows[0].rrn.as_deref(), Some(out.card.rrn.as_str()));

    // The card is taken out; with none inserted the cashier's Cancel ends
    // the wait for the next one.
    settle();
    let cancel = live.canceller();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        cancel.cancel();
    });
    let none = live.pay_card(Money::new(10_00, Currency::USD), |_| {});
    canceller.join().unwrap();
    let none = none.unwrap();
    assert_eq!(
        none.decision,
        PaymentDecision::Declined(tillpoint_payment::session::DeclineReason::CancelledByCashier),
        "{none:?}"
    );
    assert_eq!(host.ledger().unwrap().txns("LIVE0001").unwrap().len(), 1);

    stop.cancel();
    drop(live);
    pad_thread.join().unwrap();
    drop(slave);
}

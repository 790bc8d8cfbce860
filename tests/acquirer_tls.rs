//! The acquirer link over TLS: the host simulator serves TLS on loopback with
//! a CA and server certificate generated at test time (rcgen), and the till
//! connects through `TlsConnector`. Checks the happy path (sign-on, echo, a
//! PIN purchase), mutual TLS, and that each misconfiguration is refused at
//! connect time with a precise error rather than a hang.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair};
use tillpoint_payment::acquirer::tls::{server_config, tls_error, TlsConnector, TlsError};
use tillpoint_payment::acquirer::wire::{CupsSettings, HostProfile, Wire};
use tillpoint_payment::acquirer::PinKeying;
use tillpoint_payment::acquirer::{
    AcquirerClient, ClientConfig, Connector, DataKey, LinkError, MemoryStore, OfflineLimits,
    OnlineRequest, Session, SessionConfig, SessionError, SystemClock,
};
use tillpoint_payment::iso8583::messages::{CardInput, EntryMode, PinData, TerminalIds};
use tillpoint_payment::pin::master_session;
use tillpoint_sim::acquirer::host_keys::DEMO_TMK;
use tillpoint_sim::acquirer::ledger::TxnStatus;
use tillpoint_sim::acquirer::{
    start_acquirer_sim, test_pin_block, EmvIssuer, SimConfig, SimHandle,
};

const HOST: &str = "acquirer.test";
const TID: &str = "TILL0001";
/// The visa-online-pin virtual card.
const PAN: &str = "4761739001010010";

struct Ca {
    cert: Certificate,
    key: KeyPair,
    pem: PathBuf,
}

/// A self-signed CA, written to `dir/<name>.pem`.
fn ca(dir: &Path, name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let cert = params.self_signed(&key).unwrap();
    let pem = dir.join(format!("{name}.pem"));
    std::fs::write(&pem, cert.pem()).unwrap();
    Ca { cert, key, pem }
}

/// A leaf certificate for `names` issued by `ca`; returns (cert, key) paths.
fn leaf(dir: &Path, ca: &Ca, file: &str, names: &[&str]) -> (PathBuf, PathBuf) {
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
    let (cert_path, key_path) = (
        dir.join(format!("{file}.crt.pem")),
        dir.join(format!("{file}.key.pem")),
    );
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
    server: (PathBuf, PathBuf),
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(dir.path(), "acquirer");
    let server = leaf(dir.path(), &ca, "server", &[HOST]);
    Pki { dir, ca, server }
}

/// The simulator serving TLS with the server certificate (and requiring a
/// client certificate from `client_ca` if given).
fn tls_sim(pki: &Pki, client_ca: Option<&Path>) -> SimHandle {
    tls_sim_idle(pki, client_ca, Duration::from_secs(120))
}

/// [`tls_sim`] closing connections idle for `idle`.
fn tls_sim_idle(pki: &Pki, client_ca: Option<&Path>, idle: Duration) -> SimHandle {
    let mut cfg = SimConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        pki.dir.path().join("host.db"),
        Arc::new(EmvIssuer::test_cards()),
    );
    cfg.idle_timeout = idle;
    cfg.tls = Some(server_config(&pki.server.0, &pki.server.1, client_ca).unwrap());
    cfg.profile = profile();
    start_acquirer_sim(cfg).unwrap()
}

thread_local! {
    static CUPS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The host profile of this run: the `under_cups` copies speak cups.
fn profile() -> HostProfile {
    if CUPS.with(std::cell::Cell::get) {
        HostProfile::Cups(CupsSettings::default())
    } else {
        HostProfile::Generic
    }
}

fn client(addr: SocketAddr, connector: Option<TlsConnector>) -> AcquirerClient {
    let mut cfg = ClientConfig::new(addr);
    cfg.connect_timeout = Duration::from_millis(1500);
    cfg.read_timeout = Duration::from_millis(1500);
    let mut client = match connector {
        Some(c) => AcquirerClient::with_connector(cfg, Box::new(c)),
        None => AcquirerClient::new(cfg),
    };
    client.set_wire(Wire::with_tmk(profile(), zeroize::Zeroizing::new(DEMO_TMK)));
    client
}

fn session(client: AcquirerClient) -> Session<Arc<MemoryStore>> {
    Session::new(
        Arc::new(MemoryStore::new()),
        client,
        SessionConfig {
            ids: TerminalIds {
                tid: TID.into(),
                mid: "SHOP00000000001".into(),
                currency: 978,
            },
            limits: OfflineLimits::default(),
        },
        Box::new(SystemClock),
        DataKey::generate(),
    )
    .unwrap()
}

/// A chip card with an online PIN: DUKPT, or under cups format 0 under the
/// session PIN key the session signed on for (the pad's side of GPN method 1).
fn card(
    s: &mut Session<Arc<MemoryStore>>,
    issuer: &EmvIssuer,
    amount: u64,
    pin: &str,
) -> CardInput {
    let (block, ksn) = match s.pin_keying() {
        PinKeying::Session(Some(under_tmk)) => {
            let key = master_session::unwrap(&DEMO_TMK, &under_tmk);
            (
                master_session::encrypt_pin(&key, pin, PAN).unwrap(),
                Vec::new(),
            )
        }
        _ => test_pin_block(pin, PAN, 1).unwrap(),
    };
    CardInput {
        pan: PAN.into(),
        expiry: Some("3012".into()),
        sequence: Some("001".into()),
        track2: Some(format!("{PAN}D30122011143878089")),
        entry: EntryMode::Chip,
        icc: issuer.icc_for(PAN, amount, 1),
        pin: Some(PinData { block, ksn }),
    }
}

/// The `TlsError` behind a failed connect.
fn connect_error(mut c: AcquirerClient) -> LinkError {
    let err = c.connect().unwrap_err();
    assert!(!err.request_may_have_arrived(), "{err}");
    assert!(!c.is_connected());
    err
}

fn tls_kind(err: &LinkError) -> &TlsError {
    let LinkError::Connect(io) = err else {
        panic!("expected a connect error, got {err}");
    };
    tls_error(io).unwrap_or_else(|| panic!("no TlsError in {io}"))
}

#[test]
fn sign_on_echo_and_purchase_over_tls() {
    let pki = pki();
    let sim = tls_sim(&pki, None);
    let connector = TlsConnector::new(&pki.ca.pem, HOST, None).unwrap();
    let mut s = session(client(sim.addr(), Some(connector)));
    assert!(s.sign_on().unwrap().approved());
    assert!(s.echo().unwrap());
    assert_eq!(s.online(), Some(true));

    let issuer = EmvIssuer::test_cards();
    let card = card(&mut s, &issuer, 2500, "1234");
    let auth = s
        .authorize(&OnlineRequest::Purchase { amount: 2500, card })
        .unwrap();
    assert!(auth.approved(), "{:?}", auth.reply);
    s.confirm(&auth).unwrap();
    // The same connection carried everything.
    assert!(s.client_mut().is_connected());
    let rows = sim.ledger().unwrap().txns(TID).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, TxnStatus::Approved);
    assert_eq!(rows[0].amount, 2500);
}

#[test]
fn reconnects_after_the_host_drops_the_tls_connection() {
    let pki = pki();
    let sim = tls_sim_idle(&pki, None, Duration::from_millis(400));
    let connector = TlsConnector::new(&pki.ca.pem, HOST, None).unwrap();
    let mut s = session(client(sim.addr(), Some(connector)));
    assert!(s.echo().unwrap());
    // The host closes the idle connection; the till notices before writing
    // and reconnects instead of losing the request.
    std::thread::sleep(Duration::from_millis(1200));
    assert!(s.echo().unwrap());
    s.client_mut().disconnect();
    assert!(s.echo().unwrap());
}

#[test]
fn certificate_from_another_ca_is_refused() {
    let pki = pki();
    let sim = tls_sim(&pki, None);
    let other = ca(pki.dir.path(), "other");
    let connector = TlsConnector::new(&other.pem, HOST, None).unwrap();
    let err = connect_error(client(sim.addr(), Some(connector)));
    assert!(
        matches!(
            tls_kind(&err),
            TlsError::UntrustedCertificate(rustls::CertificateError::UnknownIssuer)
        ),
        "{err}"
    );
    assert!(err.to_string().contains("does not verify"), "{err}");
    // Through the session: "unreachable, nothing was sent".
    let connector = TlsConnector::new(&other.pem, HOST, None).unwrap();
    let mut s = session(client(sim.addr(), Some(connector)));
    assert!(matches!(
        s.echo(),
        Err(SessionError::Offline(_)) | Ok(false)
    ));
}

#[test]
fn wrong_server_name_is_refused() {
    let pki = pki();
    let sim = tls_sim(&pki, None);
    let connector = TlsConnector::new(&pki.ca.pem, "other-acquirer.test", None).unwrap();
    let err = connect_error(client(sim.addr(), Some(connector)));
    match tls_kind(&err) {
        TlsError::ServerNameMismatch { expected } => assert_eq!(expected, "other-acquirer.test"),
        other => panic!("expected a name mismatch, got {other}"),
    }
}

#[test]
fn plain_client_against_tls_host_fails_within_the_timeout() {
    let pki = pki();
    let sim = tls_sim(&pki, None);
    let mut c = client(sim.addr(), None);
    let start = Instant::now();
    let mut s = session({
        c.set_read_timeout(Duration::from_millis(800));
        c
    });
    let err = s.sign_on().unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}",
        start.elapsed()
    );
    // The host's TLS alert is read as an oversized frame header.
    assert!(
        matches!(
            err,
            SessionError::Link(LinkError::Malformed(_) | LinkError::NoAnswer(_))
        ),
        "{err}"
    );
    // The host is still fine for a TLS till afterwards.
    let connector = TlsConnector::new(&pki.ca.pem, HOST, None).unwrap();
    assert!(session(client(sim.addr(), Some(connector))).echo().unwrap());
}

#[test]
fn tls_client_against_plain_host_fails_within_the_timeout() {
    let pki = pki();
    let sim = start_acquirer_sim(SimConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        pki.dir.path().join("host.db"),
        Arc::new(EmvIssuer::test_cards()),
    ))
    .unwrap();
    let connector = TlsConnector::new(&pki.ca.pem, HOST, None).unwrap();
    let start = Instant::now();
    let err = connect_error(client(sim.addr(), Some(connector)));
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    assert!(
        matches!(
            tls_kind(&err),
            TlsError::HandshakeTimeout(_) | TlsError::HandshakeClosed | TlsError::Handshake(_)
        ),
        "{err}"
    );
}

#[test]
fn mutual_tls_with_a_client_certificate() {
    let pki = pki();
    let till_ca = ca(pki.dir.path(), "till");
    let (cert, key) = leaf(pki.dir.path(), &till_ca, "till", &["till0001.test"]);
    let sim = tls_sim(&pki, Some(&till_ca.pem));

    let connector = TlsConnector::new(&pki.ca.pem, HOST, Some((&cert, &key))).unwrap();
    let mut s = session(client(sim.addr(), Some(connector)));
    assert!(s.sign_on().unwrap().approved());
    assert!(s.echo().unwrap());

    // Without a client certificate the host refuses the till. Under TLS 1.3
    // the refusal arrives after the client's side of the handshake, so it
    // may surface on the first exchange; either way it fails promptly.
    let connector = TlsConnector::new(&pki.ca.pem, HOST, None).unwrap();
    let mut c = client(sim.addr(), Some(connector));
    let start = Instant::now();
    let refused = match c.connect() {
        Err(_) => true,
        Ok(()) => !matches!(session(c).echo(), Ok(true)),
    };
    assert!(refused, "host accepted a till without certificate");
    assert!(start.elapsed() < Duration::from_secs(4));
}

#[test]
fn connector_is_usable_as_a_trait_object() {
    let pki = pki();
    let sim = tls_sim(&pki, None);
    let connector: Box<dyn Connector> =
        Box::new(TlsConnector::new(&pki.ca.pem, HOST, None).unwrap());
    let stream = connector.connect(sim.addr(), Duration::from_secs(2));
    assert!(stream.is_ok());
}

/// `tillpoint check` makes the connection a payment makes, TLS handshake
/// included: a host whose certificate does not verify fails the check even
/// though it accepts TCP; the right CA passes it.
#[test]
fn the_check_shakes_hands_with_the_host() {
    let pki = pki();
    let sim = tls_sim(&pki, None);
    let other = ca(pki.dir.path(), "other");
    let check = |ca: &Path| {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("till.toml");
        common::write_config(
            &cfg,
            format!(
                "[acquirer]\nhost = \"{}\"\ntls_ca = \"{}\"\ntls_server_name = \"{HOST}\"\n",
                sim.addr(),
                ca.display()
            ),
        );
        let out = common::bin()
            .args(["check", "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--config")
            .arg(&cfg)
            .env("TILLPOINT_LOG", "error")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = check(&other.pem);
    assert!(
        out.contains("FAIL acquirer") && out.contains("does not verify"),
        "{out}"
    );
    let out = check(&pki.ca.pem);
    assert!(
        out.contains(&format!(
            "ok   acquirer  acquirer host {} answers over TLS",
            sim.addr()
        )),
        "{out}"
    );
}

/// The end-to-end TLS tests again under the cups profile (the handshake
/// tests do not depend on the profile).
mod under_cups {
    #[test]
    fn sign_on_echo_and_purchase_over_tls() {
        super::CUPS.with(|c| c.set(true));
        super::sign_on_echo_and_purchase_over_tls();
    }

    #[test]
    fn reconnects_after_the_host_drops_the_tls_connection() {
        super::CUPS.with(|c| c.set(true));
        super::reconnects_after_the_host_drops_the_tls_connection();
    }
}

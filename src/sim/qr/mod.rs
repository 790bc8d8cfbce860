//! `qr-sim`: a QR payment provider on 127.0.0.1, speaking the gateway's
//! signed JSON over HTTPS (axum on hyper, TLS by rustls), with its own
//! ledger and fault knobs: a delay, no answer at all (after acting, as a
//! provider whose answer is lost), the customer confirming for N polls, a
//! garbled body, a bad signature.

pub mod ledger;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::link::{LinkSwitch, SwitchedListener};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use ledger::{Ledger, Refusal};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::de::DeserializeOwned;
use tillpoint_payment::qr_gateway::api::{self, codes, ErrorAnswer};
use tillpoint_payment::qr_gateway::sign::{self, Authorization};

/// The keys of the demo (published with the source; see assets/demo/qr).
pub mod demo_keys {
    pub const MERCHANT_KEY: &str = include_str!("../../../assets/demo/qr/merchant.key.pem");
    pub const MERCHANT_PUB: &str = include_str!("../../../assets/demo/qr/merchant.pub.pem");
    pub const PLATFORM_KEY: &str = include_str!("../../../assets/demo/qr/platform.key.pem");
    pub const PLATFORM_PUB: &str = include_str!("../../../assets/demo/qr/platform.pub.pem");
    pub const CA: &str = include_str!("../../../assets/demo/qr/ca.pem");
    pub const CERT: &str = include_str!("../../../assets/demo/qr/gateway.crt.pem");
    pub const CERT_KEY: &str = include_str!("../../../assets/demo/qr/gateway.key.pem");
    pub const MCHID: &str = "1900000109";
    pub const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A72";
}

/// How the next answers misbehave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Wait this long before each answer.
    pub delay: Duration,
    /// Act, then never answer (the connection is held until it times out).
    pub no_answer: bool,
    /// Answer a body that is not JSON (signed, so only its content is wrong).
    pub garbled: bool,
    /// Sign answers with the wrong key.
    pub bad_signature: bool,
}

pub struct QrSimConfig {
    pub listen: SocketAddr,
    /// `None`: plain HTTP (only for a test of the client's refusal).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub mchid: String,
    pub merchant_key: RsaPublicKey,
    pub platform_key: RsaPrivateKey,
    /// The network between the till and the provider (the demo's switch).
    pub link: LinkSwitch,
}

impl QrSimConfig {
    /// The demo's provider: its keys and certificate, on `listen`.
    pub fn demo(listen: SocketAddr) -> std::io::Result<QrSimConfig> {
        let bad = |e: String| std::io::Error::other(e);
        let certs = rustls_pemfile::certs(&mut demo_keys::CERT.as_bytes())
            .collect::<Result<Vec<_>, _>>()?;
        let key = rustls_pemfile::private_key(&mut demo_keys::CERT_KEY.as_bytes())?
            .ok_or_else(|| bad("no key in the demo certificate key".into()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| bad(e.to_string()))?;
        Ok(QrSimConfig {
            listen,
            tls: Some(Arc::new(tls)),
            mchid: demo_keys::MCHID.into(),
            merchant_key: sign::public_key(demo_keys::MERCHANT_PUB)
                .map_err(|e| bad(e.to_string()))?,
            platform_key: sign::private_key(demo_keys::PLATFORM_KEY)
                .map_err(|e| bad(e.to_string()))?,
            link: LinkSwitch::new(),
        })
    }
}

struct Shared {
    ledger: Mutex<Ledger>,
    faults: Mutex<Faults>,
    mchid: String,
    merchant_key: RsaPublicKey,
    platform_key: RsaPrivateKey,
    /// Signs answers when `bad_signature` is set.
    wrong_key: RsaPrivateKey,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running provider.
pub struct QrSimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl QrSimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL for the till's `[qr] url`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The ledger, to look at or to change how it answers.
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        locked(&self.shared.ledger)
    }

    pub fn set_faults(&self, f: Faults) {
        *locked(&self.shared.faults) = f;
    }

    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for QrSimHandle {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Starts the provider on its own thread and runtime.
pub fn start_qr_sim(config: QrSimConfig) -> std::io::Result<QrSimHandle> {
    let listener = SwitchedListener::new(
        std::net::TcpListener::bind(config.listen)?,
        config.link.clone(),
    )?;
    let addr = listener.addr();
    let wrong_key = sign::private_key(demo_keys::MERCHANT_KEY)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let shared = Arc::new(Shared {
        ledger: Mutex::new(Ledger::default()),
        faults: Mutex::new(Faults::default()),
        mchid: config.mchid,
        merchant_key: config.merchant_key,
        platform_key: config.platform_key,
        wrong_key,
    });
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (s, st, tls, link) = (shared.clone(), stop.clone(), config.tls, config.link);
    let thread = std::thread::Builder::new()
        .name("qr-sim".into())
        .spawn(move || runtime.block_on(serve(listener, s, st, tls, link)))?;
    Ok(QrSimHandle {
        addr,
        shared,
        stop,
        thread: Some(thread),
    })
}

async fn serve(
    mut listener: SwitchedListener,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    tls: Option<Arc<rustls::ServerConfig>>,
    link: LinkSwitch,
) {
    let app = Router::new().fallback(handle).with_state(shared);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    while !stop.load(Ordering::SeqCst) {
        let tcp = match listener.accept() {
            // Linux hands out accepted sockets blocking, whatever the
            // listener is; tokio takes only non-blocking ones.
            Ok(Some((tcp, _))) => tcp
                .set_nonblocking(true)
                .and_then(|()| tokio::net::TcpStream::from_std(tcp)),
            Ok(None) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "qr-sim accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let tcp = match tcp {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::warn!(error = %e, "qr-sim cannot take a connection");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (app, acceptor, link) = (app.clone(), acceptor.clone(), link.clone());
        tokio::spawn(async move {
            match acceptor {
                Some(a) => {
                    if let Ok(stream) = a.accept(tcp).await {
                        connection(stream, app, link).await;
                    }
                }
                None => connection(tcp, app, link).await,
            }
        });
    }
}

/// Serves one connection until the peer closes it or the link goes down.
async fn connection<S>(stream: S, app: Router, link: LinkSwitch)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(app);
    let served = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::pin!(served);
    loop {
        tokio::select! {
            _ = &mut served => return,
            _ = tokio::time::sleep(Duration::from_millis(50)) => {
                if !link.is_up() {
                    return;
                }
            }
        }
    }
}

fn parse<T: DeserializeOwned>(body: &str) -> Result<T, Refusal> {
    serde_json::from_str(body).map_err(|e| (400, codes::PARAM_ERROR, e.to_string()))
}

fn json<T: serde::Serialize>(r: Result<T, Refusal>) -> Result<String, Refusal> {
    r.and_then(|v| serde_json::to_string(&v).map_err(|e| (500, codes::SYSTEM_ERROR, e.to_string())))
}

/// Checks the request's signature, then does what its path asks.
fn act(shared: &Shared, path: &str, headers: &HeaderMap, body: &str) -> Result<String, Refusal> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or((
            401,
            codes::SIGN_ERROR,
            "no Authorization header".to_string(),
        ))?;
    let auth = Authorization::parse(auth).map_err(|e| (401, codes::SIGN_ERROR, e.to_string()))?;
    if auth.mchid != shared.mchid {
        return Err((
            401,
            codes::SIGN_ERROR,
            format!("unknown merchant {}", auth.mchid),
        ));
    }
    let now = unix_now();
    if (auth.timestamp - now).abs() > sign::MAX_SKEW_SECS {
        return Err((
            401,
            codes::SIGN_ERROR,
            "the request's timestamp is too far off".into(),
        ));
    }
    let message = sign::request_message("POST", path, auth.timestamp, &auth.nonce, body);
    sign::verify(&shared.merchant_key, &message, &auth.signature)
        .map_err(|e| (401, codes::SIGN_ERROR, e.to_string()))?;
    let mut l = locked(&shared.ledger);
    match path {
        api::PAY => json(parse(body).and_then(|r| l.pay(&r))),
        api::PRECREATE => json(parse(body).and_then(|r| l.precreate(&r))),
        api::QUERY => json(parse::<api::OrderRequest>(body).and_then(|r| l.query(&r.out_trade_no))),
        api::CANCEL => {
            json(parse::<api::OrderRequest>(body).and_then(|r| l.cancel(&r.out_trade_no)))
        }
        api::CLOSE => json(parse::<api::OrderRequest>(body).and_then(|r| l.close(&r.out_trade_no))),
        api::REFUND => json(parse(body).and_then(|r| l.refund(&r))),
        other => Err((404, codes::PARAM_ERROR, format!("no method {other}"))),
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let faults = locked(&shared.faults).clone();
    let done = act(&shared, uri.path(), &headers, &body);
    if !faults.delay.is_zero() {
        tokio::time::sleep(faults.delay).await;
    }
    if faults.no_answer {
        tokio::time::sleep(Duration::from_secs(120)).await;
    }
    let (status, mut text) = match done {
        Ok(t) => (200, t),
        Err((status, code, message)) => (
            status,
            serde_json::to_string(&ErrorAnswer {
                code: code.into(),
                message,
            })
            .unwrap_or_default(),
        ),
    };
    if faults.garbled {
        let head: String = text.chars().take(20).collect();
        text = format!("{{\"trade_state\": {head}");
    }
    let ts = unix_now();
    let nonce = sign::nonce();
    let key = if faults.bad_signature {
        &shared.wrong_key
    } else {
        &shared.platform_key
    };
    let signature = sign::sign(key, &sign::answer_message(ts, &nonce, &text));
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        text,
    )
        .into_response();
    let h = r.headers_mut();
    let put = |v: String| HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static(""));
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("qr-timestamp", put(ts.to_string()));
    h.insert("qr-nonce", put(nonce));
    h.insert("qr-serial", HeaderValue::from_static("PLATFORM-SIM-1"));
    h.insert("qr-signature", put(signature));
    r
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

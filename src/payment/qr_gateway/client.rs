//! The gateway client: signed JSON over HTTPS (ureq on rustls), every
//! answer's signature checked against the provider's platform key before
//! a word of it is believed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::api::{self, ErrorAnswer};
use super::sign::{self, Authorization, SignError};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// `[qr]` settings the client needs.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// "https://127.0.0.1:8443"
    pub url: String,
    /// The merchant number at the provider.
    pub mchid: String,
    /// The serial number of the merchant's key, as registered.
    pub serial_no: String,
    /// The merchant's private key (PKCS#8 PEM).
    pub merchant_key: PathBuf,
    /// The provider's platform public key (SPKI PEM).
    pub platform_key: PathBuf,
    /// The CA that issued the gateway's TLS certificate (PEM); `None`: the
    /// system's roots are not used either, so it must be set for HTTPS.
    pub ca: Option<PathBuf>,
    pub timeout: Duration,
}

/// Why a call gave no answer to act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("the QR gateway could not be reached: {0}")]
    Unreachable(String),
    #[error("the QR gateway did not answer in time")]
    NoAnswer,
    #[error("the QR gateway's answer is not signed by its key: {0}")]
    BadSignature(String),
    #[error("the QR gateway's answer is garbled: {0}")]
    Garbled(String),
    #[error("the QR gateway refused ({code}): {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("QR gateway setup: {0}")]
    Setup(String),
}

impl GatewayError {
    /// Whether the provider may have acted on the call although the till
    /// got no usable answer: the order must be queried (and cancelled if
    /// the sale does not go on) before the till forgets it.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            GatewayError::NoAnswer | GatewayError::BadSignature(_) | GatewayError::Garbled(_)
        ) || matches!(self, GatewayError::Refused { status, .. } if *status >= 500)
    }

    pub fn is_refusal(&self, code: &str) -> bool {
        matches!(self, GatewayError::Refused { code: c, .. } if c == code)
    }
}

/// The client, cheap to clone.
#[derive(Clone)]
pub struct GatewayClient {
    config: GatewayConfig,
    key: Arc<RsaPrivateKey>,
    platform: Arc<RsaPublicKey>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for GatewayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayClient")
            .field("url", &self.config.url)
            .field("mchid", &self.config.mchid)
            .finish_non_exhaustive()
    }
}

fn read(path: &std::path::Path) -> Result<String, GatewayError> {
    std::fs::read_to_string(path)
        .map_err(|e| GatewayError::Setup(format!("{}: {e}", path.display())))
}

fn setup(e: SignError) -> GatewayError {
    GatewayError::Setup(e.to_string())
}

impl GatewayClient {
    pub fn new(config: GatewayConfig) -> Result<GatewayClient, GatewayError> {
        let key = sign::private_key(&read(&config.merchant_key)?).map_err(setup)?;
        let platform = sign::public_key(&read(&config.platform_key)?).map_err(setup)?;
        let mut tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()));
        if let Some(ca) = &config.ca {
            let pem = read(ca)?;
            let cert = ureq::tls::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| GatewayError::Setup(format!("{}: {e}", ca.display())))?;
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&[cert]));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(GatewayClient {
            config,
            key: Arc::new(key),
            platform: Arc::new(platform),
            agent,
        })
    }

    /// One signed call: the answer's body, once its signature verified.
    fn call<Q: Serialize, A: DeserializeOwned>(
        &self,
        path: &str,
        req: &Q,
    ) -> Result<A, GatewayError> {
        let body = serde_json::to_string(req).map_err(|e| GatewayError::Setup(e.to_string()))?;
        let timestamp = unix_now();
        let nonce = sign::nonce();
        let signature = sign::sign(
            &self.key,
            &sign::request_message("POST", path, timestamp, &nonce, &body),
        );
        let auth = Authorization {
            mchid: self.config.mchid.clone(),
            nonce,
            timestamp,
            serial_no: self.config.serial_no.clone(),
            signature,
        };
        let url = format!("{}{path}", self.config.url.trim_end_matches('/'));
        let sent = self
            .agent
            .post(&url)
            .header("Authorization", auth.header())
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .send(body.as_bytes());
        let mut answer = match sent {
            Ok(a) => a,
            Err(ureq::Error::Timeout(_)) => return Err(GatewayError::NoAnswer),
            Err(e @ (ureq::Error::ConnectionFailed | ureq::Error::HostNotFound)) => {
                return Err(GatewayError::Unreachable(e.to_string()))
            }
            Err(ureq::Error::Io(e)) if before_sending(&e) => {
                return Err(GatewayError::Unreachable(e.to_string()))
            }
            Err(ureq::Error::Tls(e)) => return Err(GatewayError::Unreachable(e.to_string())),
            Err(ureq::Error::Rustls(e)) => return Err(GatewayError::Unreachable(e.to_string())),
            Err(e) => return Err(GatewayError::Garbled(e.to_string())),
        };
        let status = answer.status().as_u16();
        let header = |name: &str| {
            answer
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (ts, nonce, sig) = (
            header("Qr-Timestamp"),
            header("Qr-Nonce"),
            header("Qr-Signature"),
        );
        let text = answer
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
            .map_err(|e| match e {
                ureq::Error::Timeout(_) => GatewayError::NoAnswer,
                e => GatewayError::Garbled(e.to_string()),
            })?;
        let (Some(ts), Some(nonce), Some(sig)) = (ts, nonce, sig) else {
            return Err(GatewayError::BadSignature(
                "the answer carries no signature".into(),
            ));
        };
        let ts: i64 = ts
            .parse()
            .map_err(|_| GatewayError::BadSignature("Qr-Timestamp is not a number".into()))?;
        if (ts - unix_now()).abs() > sign::MAX_SKEW_SECS {
            return Err(GatewayError::BadSignature(format!(
                "the answer's timestamp {ts} is more than {} s off",
                sign::MAX_SKEW_SECS
            )));
        }
        sign::verify(
            &self.platform,
            &sign::answer_message(ts, &nonce, &text),
            &sig,
        )
        .map_err(|e| GatewayError::BadSignature(e.to_string()))?;
        if status != 200 {
            let e: ErrorAnswer = serde_json::from_str(&text).map_err(|e| {
                GatewayError::Garbled(format!("status {status}, body not an error: {e}"))
            })?;
            return Err(GatewayError::Refused {
                status,
                code: e.code,
                message: e.message,
            });
        }
        serde_json::from_str(&text).map_err(|e| GatewayError::Garbled(e.to_string()))
    }

    /// Pays with a code scanned from the customer's phone.
    pub fn pay(&self, req: &api::PayRequest) -> Result<api::TradeAnswer, GatewayError> {
        self.call(api::PAY, req)
    }

    /// Asks for a code the customer scans.
    pub fn precreate(
        &self,
        req: &api::PrecreateRequest,
    ) -> Result<api::PrecreateAnswer, GatewayError> {
        self.call(api::PRECREATE, req)
    }

    pub fn query(&self, out_trade_no: &str) -> Result<api::TradeAnswer, GatewayError> {
        self.call(api::QUERY, &order(out_trade_no))
    }

    /// Closes an unpaid order, or gives a paid one's money back.
    pub fn cancel(&self, out_trade_no: &str) -> Result<api::TradeAnswer, GatewayError> {
        self.call(api::CANCEL, &order(out_trade_no))
    }

    /// Closes an order that must not be paid any more (unpaid only).
    pub fn close(&self, out_trade_no: &str) -> Result<api::TradeAnswer, GatewayError> {
        self.call(api::CLOSE, &order(out_trade_no))
    }

    pub fn refund(&self, req: &api::RefundRequest) -> Result<api::RefundAnswer, GatewayError> {
        self.call(api::REFUND, req)
    }
}

/// An I/O error from before the request could have left the till: the
/// connection refused, or the TLS handshake failed (an untrusted
/// certificate); nothing reached the provider.
fn before_sending(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::ConnectionRefused | K::AddrNotAvailable | K::NetworkUnreachable | K::HostUnreachable
    ) || e
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}

fn order(out_trade_no: &str) -> api::OrderRequest {
    api::OrderRequest {
        out_trade_no: out_trade_no.to_owned(),
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

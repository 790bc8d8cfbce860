//! Request and answer signatures: RSA PKCS#1 v1.5 over SHA-256, base64,
//! built as WeChat Pay API v3 builds them.
//!
//! - A request's signed string is `METHOD \n PATH \n TIMESTAMP \n NONCE \n
//!   BODY \n`; the signature travels in `Authorization: TILLPOINT-RSA-SHA256
//!   mchid="…",nonce_str="…",timestamp="…",serial_no="…",signature="…"`.
//! - An answer's signed string is `TIMESTAMP \n NONCE \n BODY \n`, signed by
//!   the provider's platform key; its headers are `Qr-Timestamp`,
//!   `Qr-Nonce`, `Qr-Serial` and `Qr-Signature`.

use base64::Engine;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;

/// The `Authorization` scheme name.
pub const SCHEME: &str = "TILLPOINT-RSA-SHA256";
/// How far an answer's timestamp may be from the till's clock.
pub const MAX_SKEW_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("not an RSA key in PEM: {0}")]
    Key(String),
    #[error("the signature is not base64")]
    Encoding,
    #[error("the signature does not verify")]
    Mismatch,
    #[error("the Authorization header is malformed: {0}")]
    Header(&'static str),
}

/// The string a request's signature covers.
pub fn request_message(
    method: &str,
    path: &str,
    timestamp: i64,
    nonce: &str,
    body: &str,
) -> String {
    format!("{method}\n{path}\n{timestamp}\n{nonce}\n{body}\n")
}

/// The string an answer's signature covers.
pub fn answer_message(timestamp: i64, nonce: &str, body: &str) -> String {
    format!("{timestamp}\n{nonce}\n{body}\n")
}

/// A private key in PKCS#8 PEM ("BEGIN PRIVATE KEY").
pub fn private_key(pem: &str) -> Result<RsaPrivateKey, SignError> {
    RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| SignError::Key(e.to_string()))
}

/// A public key in SPKI PEM ("BEGIN PUBLIC KEY").
pub fn public_key(pem: &str) -> Result<RsaPublicKey, SignError> {
    RsaPublicKey::from_public_key_pem(pem).map_err(|e| SignError::Key(e.to_string()))
}

/// The public half of `key` in SPKI PEM, to register with the provider.
pub fn public_pem(key: &RsaPrivateKey) -> Result<String, SignError> {
    RsaPublicKey::from(key)
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| SignError::Key(e.to_string()))
}

/// Signs `message`; the base64 signature.
pub fn sign(key: &RsaPrivateKey, message: &str) -> String {
    let signer = SigningKey::<Sha256>::new(key.clone());
    let sig = signer.sign(message.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sig.to_bytes())
}

/// Checks a base64 `signature` of `message` under `key`.
pub fn verify(key: &RsaPublicKey, message: &str, signature: &str) -> Result<(), SignError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| SignError::Encoding)?;
    let sig = Signature::try_from(bytes.as_slice()).map_err(|_| SignError::Encoding)?;
    VerifyingKey::<Sha256>::new(key.clone())
        .verify(message.as_bytes(), &sig)
        .map_err(|_| SignError::Mismatch)
}

/// The fields of an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub mchid: String,
    pub nonce: String,
    pub timestamp: i64,
    pub serial_no: String,
    pub signature: String,
}

impl Authorization {
    pub fn header(&self) -> String {
        format!(
            "{SCHEME} mchid=\"{}\",nonce_str=\"{}\",timestamp=\"{}\",serial_no=\"{}\",signature=\"{}\"",
            self.mchid, self.nonce, self.timestamp, self.serial_no, self.signature
        )
    }

    /// Parses a header as [`Authorization::header`] writes it.
    pub fn parse(header: &str) -> Result<Authorization, SignError> {
        let rest = header
            .strip_prefix(SCHEME)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or(SignError::Header("another scheme"))?;
        let field = |name: &str| -> Result<String, SignError> {
            rest.split(',')
                .filter_map(|kv| kv.trim().split_once('='))
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| v.strip_prefix('"')?.strip_suffix('"'))
                .map(str::to_owned)
                .ok_or(SignError::Header("a field is missing"))
        };
        Ok(Authorization {
            mchid: field("mchid")?,
            nonce: field("nonce_str")?,
            timestamp: field("timestamp")?
                .parse()
                .map_err(|_| SignError::Header("timestamp is not a number"))?,
            serial_no: field("serial_no")?,
            signature: field("signature")?,
        })
    }
}

/// A fresh nonce: 32 hex digits from the OS's random source.
pub fn nonce() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode_upper(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A throwaway 2048-bit test key (never used outside tests).
    pub(crate) const TEST_KEY: &str = include_str!("../../../assets/demo/qr/merchant.key.pem");

    #[test]
    fn signs_and_verifies_and_refuses_a_changed_message() {
        let key = private_key(TEST_KEY).unwrap();
        let public = public_key(&public_pem(&key).unwrap()).unwrap();
        let m = request_message("POST", "/v1/trade/pay", 1_700_000_000, "N1", "{\"a\":1}");
        assert_eq!(m, "POST\n/v1/trade/pay\n1700000000\nN1\n{\"a\":1}\n");
        let s = sign(&key, &m);
        assert_eq!(s, sign(&key, &m), "PKCS#1 v1.5 is deterministic");
        assert_eq!(verify(&public, &m, &s), Ok(()));
        assert_eq!(
            verify(&public, &m.replace('1', "2"), &s),
            Err(SignError::Mismatch)
        );
        assert_eq!(verify(&public, &m, "!!"), Err(SignError::Encoding));
    }

    #[test]
    fn authorization_headers_round_trip() {
        let a = Authorization {
            mchid: "1900000001".into(),
            nonce: "593BEC0C930BF1AFEB40B4A08C8FB242".into(),
            timestamp: 1_554_208_460,
            serial_no: "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C".into(),
            signature: "uOVRnA4qG/MNnYzdQxJanN+zU+lTgIcnU9BxGw5dKjK+VdEUz2FeIoC+D5sB/LN+nGzX3hfZg6r5wT1pl2ZobmIc6p0ldN7J6yDgUzbX8Uk3sD4a4eZVPTBvqNDoUqcYMlZ9uuDdCvNv4TM3c1WzsXUrExwVkI1XO5jCNbgDJ25nkT/c1gIFvqoogl7MdSFGc4W4xZsqCItnqbypR3RuGIlR9h9vlRsy7zJR9PBI83X8alLDIfR1ukt1P7tMnmogZ0cuDY8cZsd8ZlCgLadmvej58SLsIkVxFJ8XyUgx9FmutKSYTmYtWBZ0+tNvfGmbXU7cob8H/4nLBiCwIUFluw==".into(),
        };
        assert_eq!(Authorization::parse(&a.header()), Ok(a.clone()));
        assert!(Authorization::parse("WECHATPAY2-SHA256-RSA2048 mchid=\"1\"").is_err());
        assert!(Authorization::parse(&a.header().replace("nonce_str", "nonce")).is_err());
    }
}

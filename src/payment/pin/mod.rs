//! Online PIN: the `PinEntry` trait the payment session uses, and the ISO 9564
//! PIN block and DUKPT primitives behind it.
//!
//! The till never sees a clear PIN. A `PinEntry` (the serial PIN pad, or its
//! simulator behind the same adapter) shows the amount, lets the cardholder type
//! the PIN on the pad and hands back only an [`EncryptedPin`]: the encrypted
//! block, the DUKPT key serial number and the block format. The acquirer side
//! (BDK holder) turns it back into a PIN with [`recover_pin`].

pub mod dukpt_aes;
pub mod dukpt_tdes;
pub mod master_session;
pub mod pinblock;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

/// Errors of PIN block building, decoding and DUKPT derivation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// The PIN is not 4 to 12 decimal digits.
    #[error("PIN must be 4 to 12 decimal digits")]
    InvalidPin,
    /// The PAN is not 8 to 19 decimal digits.
    #[error("PAN must be 8 to 19 decimal digits")]
    InvalidPan,
    /// The decrypted block is not a valid PIN block: wrong key, wrong PAN or tampering.
    #[error("PIN block does not decode: {0}")]
    MalformedBlock(&'static str),
    /// A DUKPT transaction counter that a PIN pad never uses.
    #[error("DUKPT transaction counter is not a valid counter")]
    InvalidCounter,
    /// The block or KSN has the wrong length for its format.
    #[error("{what} has {got} bytes, expected {expected}")]
    WrongLength {
        /// Which field.
        what: &'static str,
        /// Bytes received.
        got: usize,
        /// Bytes required by the format.
        expected: usize,
    },
    /// No BDK was supplied for the block's key management scheme.
    #[error("no base derivation key for {0:?}")]
    MissingKey(PinBlockFormat),
}

/// Block format and key management scheme of an encrypted PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinBlockFormat {
    /// ISO 9564 format 0 under an ANSI X9.24-1 TDES DUKPT PIN key: 8-byte block,
    /// 10-byte KSN. The standard path every Abecs PIN pad supports.
    Iso0TdesDukpt,
    /// ISO 9564 format 4 under an ANSI X9.24-3 AES-128 DUKPT PIN key: 16-byte
    /// block, 12-byte KSN. Used only when pad and till both support it.
    Iso4AesDukpt,
    /// ISO 9564 format 0 under a session (working) PIN key that the host
    /// sent under the terminal master key (Abecs GPN method 1, the cups
    /// profile): 8-byte block; the pad's KSN field is 10 zero bytes.
    Iso0TdesSession,
}

impl PinBlockFormat {
    /// Length of the encrypted block in bytes.
    pub fn block_len(self) -> usize {
        match self {
            PinBlockFormat::Iso0TdesDukpt | PinBlockFormat::Iso0TdesSession => 8,
            PinBlockFormat::Iso4AesDukpt => 16,
        }
    }

    /// Length of the key serial number in bytes.
    pub fn ksn_len(self) -> usize {
        match self {
            PinBlockFormat::Iso0TdesDukpt | PinBlockFormat::Iso0TdesSession => dukpt_tdes::KSN_LEN,
            PinBlockFormat::Iso4AesDukpt => dukpt_aes::KSN_LEN,
        }
    }
}

/// What the PIN pad returns: the encrypted PIN block and the KSN that lets the
/// acquirer derive the key. No clear PIN ever crosses this type.
///
/// The block is wiped on drop and never printed; the KSN is not secret.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptedPin {
    /// The encrypted PIN block (8 bytes for format 0, 16 for format 4).
    pub block: Zeroizing<Vec<u8>>,
    /// The DUKPT key serial number (10 bytes TDES, 12 bytes AES).
    pub ksn: Vec<u8>,
    /// Format and key management scheme.
    pub format: PinBlockFormat,
}

impl EncryptedPin {
    /// Builds an `EncryptedPin`, checking block and KSN lengths against the format.
    pub fn new(block: Vec<u8>, ksn: Vec<u8>, format: PinBlockFormat) -> Result<Self, PinError> {
        let block = Zeroizing::new(block);
        if block.len() != format.block_len() {
            return Err(PinError::WrongLength {
                what: "PIN block",
                got: block.len(),
                expected: format.block_len(),
            });
        }
        if ksn.len() != format.ksn_len() {
            return Err(PinError::WrongLength {
                what: "KSN",
                got: ksn.len(),
                expected: format.ksn_len(),
            });
        }
        Ok(Self { block, ksn, format })
    }
}

impl fmt::Debug for EncryptedPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedPin")
            .field("block", &"<redacted>")
            .field("ksn", &hex::encode_upper(&self.ksn))
            .field("format", &self.format)
            .finish()
    }
}

/// Base derivation keys held by the acquirer side, one per scheme.
#[derive(Default, Clone)]
pub struct BaseDerivationKeys {
    /// Double-length TDES BDK for ANSI X9.24-1 DUKPT.
    pub tdes: Option<Zeroizing<[u8; 16]>>,
    /// AES-128 BDK for ANSI X9.24-3 DUKPT.
    pub aes: Option<Zeroizing<[u8; 16]>>,
}

impl fmt::Debug for BaseDerivationKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaseDerivationKeys")
            .field("tdes", &self.tdes.as_ref().map(|_| "<redacted>"))
            .field("aes", &self.aes.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Recovers the clear PIN from an encrypted PIN with the BDK (acquirer side,
/// e.g. the acquirer host simulator). The result is wiped on drop.
pub fn recover_pin(
    keys: &BaseDerivationKeys,
    encrypted: &EncryptedPin,
    pan: &str,
) -> Result<Zeroizing<String>, PinError> {
    let wrong = |what, got, expected| PinError::WrongLength {
        what,
        got,
        expected,
    };
    match encrypted.format {
        PinBlockFormat::Iso0TdesDukpt => {
            let bdk = keys
                .tdes
                .as_ref()
                .ok_or(PinError::MissingKey(encrypted.format))?;
            let ksn: [u8; dukpt_tdes::KSN_LEN] = encrypted
                .ksn
                .as_slice()
                .try_into()
                .map_err(|_| wrong("KSN", encrypted.ksn.len(), dukpt_tdes::KSN_LEN))?;
            let block: [u8; 8] = encrypted
                .block
                .as_slice()
                .try_into()
                .map_err(|_| wrong("PIN block", encrypted.block.len(), 8))?;
            dukpt_tdes::recover_pin(bdk, &ksn, &block, pan)
        }
        PinBlockFormat::Iso4AesDukpt => {
            let bdk = keys
                .aes
                .as_ref()
                .ok_or(PinError::MissingKey(encrypted.format))?;
            let ksn: [u8; dukpt_aes::KSN_LEN] = encrypted
                .ksn
                .as_slice()
                .try_into()
                .map_err(|_| wrong("KSN", encrypted.ksn.len(), dukpt_aes::KSN_LEN))?;
            let block: [u8; 16] = encrypted
                .block
                .as_slice()
                .try_into()
                .map_err(|_| wrong("PIN block", encrypted.block.len(), 16))?;
            dukpt_aes::recover_pin(bdk, &ksn, &block, pan)
        }
        // The host holds the session key, not a BDK (see `master_session`).
        PinBlockFormat::Iso0TdesSession => Err(PinError::MissingKey(encrypted.format)),
    }
}

/// Text for the PIN pad's display: the amount (already formatted with its
/// currency by the caller) and a short message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prompt {
    /// Formatted amount, e.g. "EUR 12.34", shown on the first line.
    pub amount: Option<String>,
    /// Message, e.g. "INSERT CARD" or "ENTER PIN".
    pub message: String,
}

/// Which block formats the till accepts for this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FormatPreference {
    /// ISO 9564 format 0 / TDES DUKPT only.
    #[default]
    TdesOnly,
    /// Format 4 / AES DUKPT when the pad announces it, else format 0 / TDES.
    AesIfSupported,
    /// Format 0 under this session PIN key, given as the host sent it under
    /// the terminal master key the pad holds (GPN method 1).
    SessionKey([u8; 16]),
}

/// A request for an online PIN.
///
/// The PAN is needed by the pad to build the block; it is held in wiped storage
/// and never printed.
#[derive(Clone)]
pub struct PinRequest {
    /// Card PAN (8 to 19 digits).
    pub pan: Zeroizing<String>,
    /// Minimum PIN length (4 to 12).
    pub min_len: u8,
    /// Maximum PIN length (min_len to 12).
    pub max_len: u8,
    /// How long the till waits for the cardholder before cancelling the entry.
    /// The pad also gives up by itself after its own inactivity timeout.
    pub timeout: Duration,
    /// Formatted amount shown while the PIN is typed.
    pub amount: Option<String>,
    /// Prompt shown while the PIN is typed, e.g. "ENTER PIN".
    pub message: String,
    /// Which block formats the till accepts.
    pub formats: FormatPreference,
}

impl PinRequest {
    /// A request with the usual defaults: 4 to 12 digits, 60 s, "ENTER PIN",
    /// TDES only.
    pub fn new(pan: &str, amount: Option<String>) -> Self {
        Self {
            pan: Zeroizing::new(pan.to_owned()),
            min_len: 4,
            max_len: 12,
            timeout: Duration::from_secs(60),
            amount,
            message: "ENTER PIN".to_owned(),
            formats: FormatPreference::TdesOnly,
        }
    }

    /// Checks PAN and length limits before anything is sent to the pad.
    pub fn validate(&self) -> Result<(), PinEntryError> {
        pinblock::validate_pan(&self.pan)
            .map_err(|_| PinEntryError::InvalidRequest("PAN must be 8 to 19 digits".into()))?;
        let (min, max) = (usize::from(self.min_len), usize::from(self.max_len));
        if min < pinblock::MIN_PIN_LEN || max > pinblock::MAX_PIN_LEN || min > max {
            return Err(PinEntryError::InvalidRequest(format!(
                "PIN length limits {min}..{max} outside 4..12"
            )));
        }
        if self.timeout.is_zero() {
            return Err(PinEntryError::InvalidRequest(
                "timeout must not be zero".into(),
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for PinRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinRequest")
            .field("pan", &"<redacted>")
            .field("min_len", &self.min_len)
            .field("max_len", &self.max_len)
            .field("timeout", &self.timeout)
            .field("amount", &self.amount)
            .field("message", &self.message)
            .field("formats", &self.formats)
            .finish()
    }
}

/// A cancel switch shared between the thread blocked in a PIN pad call and the
/// one that wants to stop it (the cashier's Cancel button).
///
/// Blocking serial I/O holds `&mut` on the pad, so cancelling goes through this
/// token instead of a method call on the pad.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the operation in flight to stop as soon as it can.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Clears a request, before the next operation starts.
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Why a PIN entry did not produce a PIN block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinEntryError {
    /// The cashier (till side) cancelled.
    #[error("PIN entry was cancelled at the till")]
    CancelledByCashier,
    /// The cardholder pressed Cancel on the pad.
    #[error("the cardholder cancelled PIN entry")]
    CancelledByCardholder,
    /// Nobody typed a PIN in time (pad or till timeout).
    #[error("PIN entry timed out")]
    Timeout,
    /// The request itself is wrong (PAN, length limits).
    #[error("invalid PIN request: {0}")]
    InvalidRequest(String),
    /// The pad holds no key for the requested scheme or slot.
    #[error("the PIN pad has no key for this request")]
    KeyMissing,
    /// The pad refuses PIN entry for now (security limits).
    #[error("the PIN pad is temporarily refusing PIN entry")]
    PinPadBusy,
    /// The pad cannot be reached: port missing, busy, unplugged.
    #[error("PIN pad unavailable: {0}")]
    Unavailable(String),
    /// The pad answered but something went wrong.
    #[error("PIN pad error: {0}")]
    Device(String),
}

/// The PIN entry device the payment session uses: the serial PIN pad in the
/// shop, the same adapter against the simulator in the demo and the tests.
pub trait PinEntry: Send {
    /// Shows the amount and a message on the pad's display.
    fn show(&mut self, prompt: &Prompt) -> Result<(), PinEntryError>;

    /// Lets the cardholder type an online PIN for `request.pan`; blocks until the
    /// pad answers, the timeout expires or the cancel token fires.
    fn request_online_pin(&mut self, request: &PinRequest) -> Result<EncryptedPin, PinEntryError>;

    /// The token that cancels a call in flight from another thread.
    fn cancel_token(&self) -> CancelToken;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_pin_checks_lengths_and_redacts() {
        let e =
            EncryptedPin::new(vec![0xAB; 8], vec![1; 10], PinBlockFormat::Iso0TdesDukpt).unwrap();
        let shown = format!("{e:?}");
        assert!(shown.contains("redacted") && !shown.contains("AB"));
        assert!(
            EncryptedPin::new(vec![0; 16], vec![1; 10], PinBlockFormat::Iso0TdesDukpt).is_err()
        );
        assert!(EncryptedPin::new(vec![0; 16], vec![1; 10], PinBlockFormat::Iso4AesDukpt).is_err());
    }

    #[test]
    fn request_validation_and_redaction() {
        let mut r = PinRequest::new("4012345678909", Some("EUR 1.00".into()));
        assert!(r.validate().is_ok());
        assert!(!format!("{r:?}").contains("4012345678909"));
        r.min_len = 3;
        assert!(r.validate().is_err());
        r.min_len = 6;
        r.max_len = 5;
        assert!(r.validate().is_err());
        let bad = PinRequest::new("40123", None);
        assert!(bad.validate().is_err());
    }

    #[test]
    fn recover_dispatches_on_format() {
        // ANSI X9.24-1:2009 Annex A: KSN FFFF9876543210E00001, PIN 1234,
        // PAN 4012345678909 → 1B9C1845EB993A7A.
        let keys = BaseDerivationKeys {
            tdes: Some(Zeroizing::new(
                hex::decode("0123456789ABCDEFFEDCBA9876543210")
                    .unwrap()
                    .try_into()
                    .unwrap(),
            )),
            aes: None,
        };
        let e = EncryptedPin::new(
            hex::decode("1B9C1845EB993A7A").unwrap(),
            hex::decode("FFFF9876543210E00001").unwrap(),
            PinBlockFormat::Iso0TdesDukpt,
        )
        .unwrap();
        assert_eq!(
            recover_pin(&keys, &e, "4012345678909").unwrap().as_str(),
            "1234"
        );
        let aes =
            EncryptedPin::new(vec![0; 16], vec![0; 12], PinBlockFormat::Iso4AesDukpt).unwrap();
        assert_eq!(
            recover_pin(&keys, &aes, "4012345678909"),
            Err(PinError::MissingKey(PinBlockFormat::Iso4AesDukpt))
        );
    }

    #[test]
    fn cancel_token_is_shared() {
        let t = CancelToken::new();
        let u = t.clone();
        u.cancel();
        assert!(t.is_cancelled());
        t.reset();
        assert!(!u.is_cancelled());
    }
}

//! The EMV contact terminal kernel (EMV 4.4 Books 3 and 4): from
//! application selection to the second GENERATE AC, over a [`CardChannel`].
//!
//! It takes everything variable as input (amount, currency, date,
//! unpredictable number, random-selection number) and holds no clock and no
//! RNG, so every decision is reproducible in tests. It never sees a PIN: an
//! online PIN is requested from the caller, who drives the PIN pad.
//!
//! Sections, in transaction order: input and outcome types, the kernel state
//! machine, offline data authentication, processing restrictions, CVM list,
//! terminal risk management, terminal action analysis, completion and
//! issuer scripts.

use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPublicKey};
use sha1::{Digest, Sha1};
use thiserror::Error;
use tillpoint_core::tender::mask_pan;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::apdu::{Apdu, ApduError, CardChannel, Command, Response, StatusWord, TraceEntry};
use super::config::{ApplicationConfig, CaPublicKey, TerminalConfig};
use super::dol::{self, DataStore, DolError};
use super::select::{self, ApplicationChooser, SelectError, Selected};
use super::tags;
use super::tlv::{self, Tag, Tlv, TlvError};

mod contactless;

// ---------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------

/// A calendar date passed in by the caller (the kernel has no clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TxnDate {
    /// Full year, e.g. 2025.
    pub year: u16,
    /// 1-12.
    pub month: u8,
    /// 1-31.
    pub day: u8,
}

impl TxnDate {
    /// YYMMDD as BCD, the format of tag 9A.
    pub fn to_bcd(self) -> [u8; 3] {
        [
            bcd2((self.year % 100) as u8),
            bcd2(self.month),
            bcd2(self.day),
        ]
    }

    /// Parses a card date YYMMDD (BCD); years 00-49 are 20xx (Book 4, 6.7.3).
    pub fn from_bcd(b: &[u8]) -> Option<TxnDate> {
        let [y, m, d] = <[u8; 3]>::try_from(b).ok()?;
        let (y, m, d) = (from_bcd2(y)?, from_bcd2(m)?, from_bcd2(d)?);
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return None;
        }
        let year = if y < 50 {
            2000 + u16::from(y)
        } else {
            1900 + u16::from(y)
        };
        Some(TxnDate {
            year,
            month: m,
            day: d,
        })
    }
}

fn bcd2(v: u8) -> u8 {
    ((v / 10) << 4) | (v % 10)
}

fn from_bcd2(b: u8) -> Option<u8> {
    let (hi, lo) = (b >> 4, b & 0x0F);
    (hi <= 9 && lo <= 9).then_some(hi * 10 + lo)
}

/// Encodes `value` as `len` bytes of BCD, right-justified.
fn bcd_number(mut value: u64, len: usize) -> Option<Vec<u8>> {
    let mut out = vec![0u8; len];
    for byte in out.iter_mut().rev() {
        let lo = (value % 10) as u8;
        value /= 10;
        let hi = (value % 10) as u8;
        value /= 10;
        *byte = (hi << 4) | lo;
    }
    (value == 0).then_some(out)
}

/// Reads a BCD number (as in 9F02, 5F2A); `None` on non-decimal nibbles.
fn bcd_value(b: &[u8]) -> Option<u64> {
    b.iter().try_fold(0u64, |acc, byte| {
        let v = from_bcd2(*byte)?;
        acc.checked_mul(100)?.checked_add(u64::from(v))
    })
}

/// What the till asks the kernel to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionInput {
    /// Amount in minor units of `currency` (e.g. cents).
    pub amount: u64,
    /// Cashback part of the amount, minor units (0 for none).
    pub amount_other: u64,
    /// ISO 4217 numeric currency code (840 = USD, 156 = CNY).
    pub currency: u16,
    /// Digits after the decimal point for `currency`.
    pub currency_exponent: u8,
    /// EMV transaction type 9C: 00 purchase, 01 cash, 09 cashback, 20 refund.
    pub txn_type: u8,
    /// Today's date at the till.
    pub date: TxnDate,
    /// Local time (hours, minutes, seconds).
    pub time: (u8, u8, u8),
    /// Fresh random bytes for 9F37 from the caller's RNG.
    pub unpredictable_number: [u8; 4],
    /// Random number 1..=99 for random transaction selection.
    pub random_selection: u8,
    /// Transaction sequence counter 9F41.
    pub sequence_counter: u32,
    /// The cashier forced this transaction online.
    pub force_online: bool,
}

/// The cardholder's answer at the PIN pad, as the caller reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinEntry {
    /// A PIN was entered and the PIN pad produced an encrypted PIN block
    /// (kept by the caller for the authorisation request).
    Entered,
    /// The cardholder bypassed PIN entry.
    Bypassed,
    /// No working PIN pad.
    PadUnavailable,
    /// The transaction was cancelled at the PIN prompt.
    Cancelled,
}

/// What the PIN pad needs to build an ISO 9564 format 0 block: the amount
/// to display and the PAN. The PAN is borrowed for the duration of the call
/// only; it zeroizes itself when the kernel drops it.
pub struct PinRequest<'a> {
    /// Amount to show, minor units.
    pub amount: u64,
    /// ISO 4217 numeric currency.
    pub currency: u16,
    /// Masked PAN for the display.
    pub masked_pan: &'a str,
    /// Full PAN digits, for the PIN block only.
    pub pan: &'a Zeroizing<String>,
}

/// Everything the kernel asks of the person at the till.
pub trait Cardholder: ApplicationChooser {
    /// Collect an online PIN on the PIN pad.
    fn online_pin(&mut self, request: &PinRequest<'_>) -> PinEntry;
    /// A contactless card has given everything the kernel needs: the
    /// customer may take it away (the reader says so at once, before any
    /// PIN or host round trip).
    fn card_read(&mut self) {}
}

/// The host's answer (or its absence), passed to [`Kernel::complete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostResponse {
    /// The host answered.
    Answered {
        /// Authorisation response code 8A, two ASCII characters ("00").
        arc: [u8; 2],
        /// Authorisation code 89 for the receipt.
        auth_code: Option<String>,
        /// Issuer authentication data 91 (ARPC || ARC or CSU), if sent.
        issuer_auth_data: Option<Vec<u8>>,
        /// Issuer script templates 71/72 as raw TLV, if any.
        scripts: Vec<u8>,
    },
    /// No answer, a timeout, or no link: the "unable to go online" path.
    Unavailable,
}

// ---------------------------------------------------------------------------
// Outcome
// ---------------------------------------------------------------------------

/// The kernel's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The card approved offline with a TC at the first GENERATE AC.
    ApprovedOffline,
    /// Declined offline with an AAC at the first GENERATE AC.
    DeclinedOffline,
    /// The card wants an online authorisation (ARQC): send the request,
    /// then call [`Kernel::complete`].
    GoOnline,
    /// Host approved and the card accepted (TC at the second GENERATE AC).
    ApprovedOnline,
    /// The host declined.
    DeclinedByIssuer,
    /// The host approved but the card refused (AAC): a reversal must follow.
    DeclinedByCardAfterApproval,
    /// No host answer; the card approved offline anyway (Y3).
    ApprovedUnableToGoOnline,
    /// No host answer and the card or terminal declined (Z3).
    DeclinedUnableToGoOnline,
}

impl Decision {
    /// The sale can be completed.
    pub fn is_approved(self) -> bool {
        matches!(
            self,
            Decision::ApprovedOffline
                | Decision::ApprovedOnline
                | Decision::ApprovedUnableToGoOnline
        )
    }

    /// The host holds an approval the card refused: reverse it.
    pub fn reversal_required(self) -> bool {
        self == Decision::DeclinedByCardAfterApproval
    }
}

/// Cryptogram type (CID bits 8-7; GENERATE AC P1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptogramType {
    /// Application authentication cryptogram: decline.
    Aac,
    /// Transaction certificate: approve.
    Tc,
    /// Authorisation request cryptogram: go online.
    Arqc,
}

impl CryptogramType {
    fn p1(self) -> u8 {
        match self {
            CryptogramType::Aac => 0x00,
            CryptogramType::Tc => 0x40,
            CryptogramType::Arqc => 0x80,
        }
    }

    fn from_cid(cid: u8) -> Option<CryptogramType> {
        match cid & 0xC0 {
            0x00 => Some(CryptogramType::Aac),
            0x40 => Some(CryptogramType::Tc),
            0x80 => Some(CryptogramType::Arqc),
            _ => None,
        }
    }

    /// EMV order (Book 3, 9.3): a card may answer a request with the same
    /// or a lower type, where AAC < ARQC < TC.
    fn rank(self) -> u8 {
        match self {
            CryptogramType::Aac => 0,
            CryptogramType::Arqc => 1,
            CryptogramType::Tc => 2,
        }
    }
}

/// The cardholder verification method that was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CvmPerformed {
    /// Online PIN was entered; the issuer verifies it.
    OnlinePin,
    /// Signature on the receipt.
    Signature,
    /// No CVM required.
    NoCvm,
    /// The phone verified its owner (consumer device CVM: fingerprint,
    /// face, passcode), as its card transaction qualifiers say.
    ConsumerDevice,
    /// Verification failed (or the card has no usable rule).
    Failed,
    /// The card does not support cardholder verification.
    NotPerformed,
}

/// Data for the receipt and the journal: nothing here identifies the card
/// beyond the masked PAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptData {
    /// PAN as first 6 and last 4 digits.
    pub masked_pan: String,
    /// AID of the application used.
    pub aid: Vec<u8>,
    /// Application label (or preferred name).
    pub app_label: String,
    /// Terminal verification results.
    pub tvr: [u8; 5],
    /// Transaction status information.
    pub tsi: [u8; 2],
    /// CVM results 9F34.
    pub cvm_results: [u8; 3],
    /// The method that verified the cardholder.
    pub cvm: CvmPerformed,
    /// A signature line must be printed.
    pub signature_required: bool,
    /// Application transaction counter.
    pub atc: u16,
    /// Type of the last cryptogram.
    pub cryptogram_type: CryptogramType,
    /// The last cryptogram.
    pub cryptogram: [u8; 8],
    /// Authorisation response code (host's, or Y1/Z1/Y3/Z3).
    pub arc: [u8; 2],
    /// Host authorisation code, when online.
    pub auth_code: Option<String>,
    /// The card was tapped (contactless kernel), not inserted.
    pub contactless: bool,
}

/// What goes to the host for an online authorisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnlineRequest {
    /// The ARQC.
    pub arqc: [u8; 8],
    /// ISO 8583 field 55 (ICC system related data) as BER-TLV.
    pub field55: Vec<u8>,
    /// Online PIN was captured and the PIN block must go in field 52.
    pub pin_entered: bool,
}

/// Full card data, only for the caller that must have it (PIN block,
/// store-and-forward advice). Wiped on drop; `Debug` shows nothing.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct CardSecrets {
    /// PAN digits.
    pub pan: String,
    /// PAN sequence number (5F34), two digits, if the card has one.
    pub pan_sequence: Option<String>,
    /// Track 2 equivalent data (tag 57) as on the card.
    pub track2: Vec<u8>,
    /// Expiry YYMMDD (BCD).
    pub expiry: Vec<u8>,
}

impl std::fmt::Debug for CardSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardSecrets(<redacted>)")
    }
}

/// The result of [`Kernel::start`] or [`Kernel::complete`].
#[derive(Debug)]
pub struct Outcome {
    /// What happened.
    pub decision: Decision,
    /// For the receipt and journal.
    pub receipt: ReceiptData,
    /// Present when `decision` is [`Decision::GoOnline`].
    pub online: Option<OnlineRequest>,
    /// Field 55 data for the advice/clearing record of any outcome.
    pub field55: Vec<u8>,
    /// Issuer script results 9F5B (5 bytes per script), after completion.
    pub script_results: Vec<u8>,
    secrets: Option<CardSecrets>,
}

impl Outcome {
    /// Hands over the full card data. Deliberately a separate call: the
    /// default is that clear card data goes nowhere.
    pub fn take_card_secrets(&mut self) -> Option<CardSecrets> {
        self.secrets.take()
    }
}

/// Why a transaction stopped without a decision. The till shows the message
/// and, for card errors, asks for another card or payment.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KernelError {
    /// Application selection failed.
    #[error("application selection: {0}")]
    Select(#[from] SelectError),
    /// The card transport failed (includes "card removed").
    #[error(transparent)]
    Apdu(#[from] ApduError),
    /// The card answered with a status word that ends the transaction.
    #[error("{command} failed: card returned {sw}")]
    CardStatus {
        /// Command name.
        command: &'static str,
        /// Status word.
        sw: StatusWord,
    },
    /// The card's data is malformed or contradicts EMV rules.
    #[error("card data error: {0}")]
    CardData(String),
    /// Mandatory card data is missing.
    #[error("card data missing: {name} ({tag})")]
    Missing {
        /// Tag.
        tag: Tag,
        /// Tag name.
        name: &'static str,
    },
    /// The transaction input is out of range.
    #[error("invalid transaction input: {0}")]
    Input(String),
    /// Cancelled at the PIN prompt or by the cashier.
    #[error("transaction cancelled")]
    Cancelled,
    /// A tap ended without a card decision: the customer is asked to do
    /// something else (insert the card, present one card, see the phone).
    #[error(transparent)]
    Tap(#[from] super::entry::TapOutcome),
    /// `complete` called when no online authorisation is pending.
    #[error("no online authorisation is pending")]
    NotAwaitingHost,
}

impl KernelError {
    /// The card was pulled during the transaction (show "card removed").
    pub fn is_card_removed(&self) -> bool {
        use super::apdu::ChannelError;
        matches!(
            self,
            KernelError::Apdu(ApduError::Channel(
                ChannelError::CardRemoved | ChannelError::NoCard
            )) | KernelError::Select(SelectError::Apdu(ApduError::Channel(
                ChannelError::CardRemoved | ChannelError::NoCard
            )))
        )
    }
}

impl From<TlvError> for KernelError {
    fn from(e: TlvError) -> Self {
        KernelError::CardData(e.to_string())
    }
}

impl From<DolError> for KernelError {
    fn from(e: DolError) -> Self {
        KernelError::CardData(e.to_string())
    }
}

fn missing(tag: u32) -> KernelError {
    KernelError::Missing {
        tag: Tag(tag),
        name: tags::name(Tag(tag)),
    }
}

// ---------------------------------------------------------------------------
// TVR / TSI bits (Book 3, Annex C5 and C6)
// ---------------------------------------------------------------------------

/// A TVR or TSI bit: (byte index from 0, mask).
pub type Bit = (usize, u8);

/// TVR bits.
pub mod tvr {
    use super::Bit;
    /// Offline data authentication was not performed.
    pub const ODA_NOT_PERFORMED: Bit = (0, 0x80);
    /// SDA failed.
    pub const SDA_FAILED: Bit = (0, 0x40);
    /// ICC data missing.
    pub const ICC_DATA_MISSING: Bit = (0, 0x20);
    /// Card appears on the terminal exception file.
    pub const EXCEPTION_FILE: Bit = (0, 0x10);
    /// DDA failed.
    pub const DDA_FAILED: Bit = (0, 0x08);
    /// CDA failed.
    pub const CDA_FAILED: Bit = (0, 0x04);
    /// SDA selected.
    pub const SDA_SELECTED: Bit = (0, 0x02);
    /// ICC and terminal have different application versions.
    pub const VERSION_MISMATCH: Bit = (1, 0x80);
    /// Expired application.
    pub const EXPIRED: Bit = (1, 0x40);
    /// Application not yet effective.
    pub const NOT_EFFECTIVE: Bit = (1, 0x20);
    /// Requested service not allowed for card product.
    pub const SERVICE_NOT_ALLOWED: Bit = (1, 0x10);
    /// New card.
    pub const NEW_CARD: Bit = (1, 0x08);
    /// Cardholder verification was not successful.
    pub const CV_FAILED: Bit = (2, 0x80);
    /// Unrecognised CVM.
    pub const UNRECOGNISED_CVM: Bit = (2, 0x40);
    /// PIN try limit exceeded.
    pub const PIN_TRY_LIMIT: Bit = (2, 0x20);
    /// PIN entry required and PIN pad not present or not working.
    pub const PIN_PAD_MISSING: Bit = (2, 0x10);
    /// PIN entry required, PIN pad present, but PIN was not entered.
    pub const PIN_NOT_ENTERED: Bit = (2, 0x08);
    /// Online PIN entered.
    pub const ONLINE_PIN_ENTERED: Bit = (2, 0x04);
    /// Transaction exceeds floor limit.
    pub const FLOOR_LIMIT: Bit = (3, 0x80);
    /// Lower consecutive offline limit exceeded.
    pub const LCOL_EXCEEDED: Bit = (3, 0x40);
    /// Upper consecutive offline limit exceeded.
    pub const UCOL_EXCEEDED: Bit = (3, 0x20);
    /// Transaction selected randomly for online processing.
    pub const RANDOM_SELECTED: Bit = (3, 0x10);
    /// Merchant forced transaction online.
    pub const MERCHANT_FORCED: Bit = (3, 0x08);
    /// Default TDOL used.
    pub const DEFAULT_TDOL: Bit = (4, 0x80);
    /// Issuer authentication failed.
    pub const ISSUER_AUTH_FAILED: Bit = (4, 0x40);
    /// Script processing failed before final GENERATE AC.
    pub const SCRIPT_FAILED_BEFORE: Bit = (4, 0x20);
    /// Script processing failed after final GENERATE AC.
    pub const SCRIPT_FAILED_AFTER: Bit = (4, 0x10);
}

/// TSI bits.
pub mod tsi {
    use super::Bit;
    /// Offline data authentication was performed.
    pub const ODA: Bit = (0, 0x80);
    /// Cardholder verification was performed.
    pub const CVM: Bit = (0, 0x40);
    /// Card risk management was performed.
    pub const CARD_RISK: Bit = (0, 0x20);
    /// Issuer authentication was performed.
    pub const ISSUER_AUTH: Bit = (0, 0x10);
    /// Terminal risk management was performed.
    pub const TERMINAL_RISK: Bit = (0, 0x08);
    /// Script processing was performed.
    pub const SCRIPT: Bit = (0, 0x04);
}

fn set_bit<const N: usize>(bits: &mut [u8; N], bit: Bit) {
    if let Some(b) = bits.get_mut(bit.0) {
        *b |= bit.1;
    }
}

/// Whether `bit` is set in a TVR/TSI.
pub fn has_bit(bits: &[u8], bit: Bit) -> bool {
    bits.get(bit.0).is_some_and(|b| b & bit.1 != 0)
}

// ---------------------------------------------------------------------------
// The kernel
// ---------------------------------------------------------------------------

fn arr<const N: usize>(v: Option<&[u8]>) -> Option<[u8; N]> {
    v.and_then(|b| b.try_into().ok())
}

/// One AFL entry (Book 3, 10.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AflEntry {
    sfi: u8,
    first: u8,
    last: u8,
    oda_count: u8,
}

fn parse_afl(afl: &[u8]) -> Result<Vec<AflEntry>, KernelError> {
    if afl.is_empty() || !afl.len().is_multiple_of(4) {
        return Err(KernelError::CardData(format!(
            "AFL length {} is not a positive multiple of 4",
            afl.len()
        )));
    }
    afl.chunks(4)
        .map(|c| match c {
            [s, f, l, o] => {
                let e = AflEntry {
                    sfi: s >> 3,
                    first: *f,
                    last: *l,
                    oda_count: *o,
                };
                let ok = (1..=30).contains(&e.sfi)
                    && e.first >= 1
                    && e.last >= e.first
                    && usize::from(e.oda_count) <= usize::from(e.last - e.first) + 1;
                if ok {
                    Ok(e)
                } else {
                    Err(KernelError::CardData(format!(
                        "invalid AFL entry {}",
                        hex::encode_upper(c)
                    )))
                }
            }
            _ => Err(KernelError::CardData("AFL entry cut".into())),
        })
        .collect()
}

/// Kernel state between `start` and `complete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    AwaitingHost,
    Done,
}

/// One EMV transaction over one card channel.
pub struct Kernel<'c, C: CardChannel> {
    apdu: Apdu<C>,
    cfg: &'c TerminalConfig,
    data: DataStore,
    tvr: [u8; 5],
    tsi: [u8; 2],
    cvm_results: [u8; 3],
    cvm: CvmPerformed,
    signature_required: bool,
    pin_entered: bool,
    aip: [u8; 2],
    selected: Option<Selected>,
    static_data: Vec<u8>,
    oda_record_error: bool,
    /// The ICC public key when CDA was chosen: the GENERATE ACs then ask
    /// for a signature and it is checked with this key.
    cda_key: Option<RsaKey>,
    /// The PDOL values sent in GPO and the CDOL1 data sent in the first
    /// GENERATE AC: what a CDA transaction data hash covers.
    pdol_data: Vec<u8>,
    cdol1_data: Vec<u8>,
    phase: Phase,
    txn: Option<TransactionInput>,
    /// Set for a tap: the kernel that runs it. A tap has no second
    /// GENERATE AC; `complete` takes the host's answer as the decision.
    contactless: Option<super::entry::KernelKind>,
    /// A tap's cryptogram (from the GPO answer or the one GENERATE AC).
    tap_ac: Option<GenAcResponse>,
}

/// Tags sent in field 55, in the order acquirers usually list them.
const FIELD55_TAGS: &[u32] = &[
    0x9F26, 0x9F27, 0x9F10, 0x9F37, 0x9F36, 0x95, 0x9A, 0x9C, 0x9F02, 0x5F2A, 0x82, 0x9F1A, 0x9F03,
    0x9F33, 0x9F34, 0x9F35, 0x9F1E, 0x84, 0x9F09, 0x9F41, 0x5F34, 0x9B,
    // Contactless only (absent on a contact card): TTQ, CTQ, form factor.
    0x9F66, 0x9F6C, 0x9F6E,
];

impl<'c, C: CardChannel> Kernel<'c, C> {
    /// A kernel for one transaction on `channel` with `cfg`.
    pub fn new(channel: C, cfg: &'c TerminalConfig) -> Self {
        Kernel {
            apdu: Apdu::new(channel),
            cfg,
            data: DataStore::new(),
            tvr: [0; 5],
            tsi: [0; 2],
            cvm_results: [0x3F, 0x00, 0x00],
            cvm: CvmPerformed::NotPerformed,
            signature_required: false,
            pin_entered: false,
            aip: [0; 2],
            selected: None,
            static_data: Vec::new(),
            oda_record_error: false,
            cda_key: None,
            pdol_data: Vec::new(),
            cdol1_data: Vec::new(),
            phase: Phase::Idle,
            txn: None,
            contactless: None,
            tap_ac: None,
        }
    }

    /// Keeps a masked APDU trace (PAN/track 2 masked) for diagnostics.
    pub fn enable_trace(&mut self) {
        self.apdu.enable_trace();
    }

    /// The APDU trace so far.
    pub fn take_trace(&mut self) -> Vec<TraceEntry> {
        self.apdu.take_trace()
    }

    /// The channel, e.g. to disconnect the reader afterwards.
    pub fn into_channel(self) -> C {
        self.apdu.into_inner()
    }

    /// Current TVR (for diagnostics and tests).
    pub fn tvr(&self) -> [u8; 5] {
        self.tvr
    }

    /// Value of a data element the kernel holds (terminal or card data).
    /// Sensitive tags (PAN, track 2, name) are not handed out here.
    pub fn data(&self, tag: u32) -> Option<&[u8]> {
        if tags::is_sensitive(Tag(tag)) {
            return None;
        }
        self.data.get(tag)
    }

    fn app_cfg(&self) -> Option<&'c ApplicationConfig> {
        let index = self.selected.as_ref()?.candidate.config_index;
        self.cfg.applications.get(index)
    }

    /// Runs the transaction up to and including the first GENERATE AC.
    pub fn start(
        &mut self,
        txn: &TransactionInput,
        cardholder: &mut dyn Cardholder,
    ) -> Result<Outcome, KernelError> {
        if self.phase != Phase::Idle {
            return Err(KernelError::Input(
                "kernel already used for a transaction".into(),
            ));
        }
        self.phase = Phase::Done;
        self.txn = Some(txn.clone());
        let mut candidates = select::build_candidates(&mut self.apdu, self.cfg)?;
        // Selection and GPO loop: a 6985 to GPO removes the app (Book 3, 10.1).
        let gpo = loop {
            let selected =
                select::choose_and_select(&mut self.apdu, self.cfg, &mut candidates, cardholder)?;
            self.reset_data(txn, &selected)?;
            let pdol = dol::parse(&selected.pdol)?;
            let pdol_data = dol::build(&pdol, &self.data);
            self.pdol_data = pdol_data.clone();
            self.selected = Some(selected);
            let resp = self
                .apdu
                .exchange(&Command::get_processing_options(&pdol_data))?;
            if resp.sw == StatusWord::CONDITIONS_NOT_SATISFIED {
                continue;
            }
            break expect_ok(resp, "GET PROCESSING OPTIONS")?;
        };
        let afl = self.parse_gpo(&gpo)?;
        self.read_records(&afl)?;
        self.check_mandatory()?;
        self.offline_data_authentication()?;
        self.processing_restrictions(txn)?;
        self.cardholder_verification(txn, cardholder)?;
        self.terminal_risk_management(txn)?;
        let wanted = self.terminal_action_analysis();
        let outcome = self.first_generate_ac(wanted)?;
        Ok(outcome)
    }

    fn reset_data(
        &mut self,
        txn: &TransactionInput,
        selected: &Selected,
    ) -> Result<(), KernelError> {
        let cfg = self.cfg;
        let app = cfg
            .applications
            .get(selected.candidate.config_index)
            .ok_or_else(|| {
                KernelError::Input("selected application has no configuration".into())
            })?;
        self.data = DataStore::new();
        self.tvr = [0; 5];
        self.tsi = [0; 2];
        self.static_data.clear();
        self.oda_record_error = false;
        self.cda_key = None;
        let d = &mut self.data;
        let amount = bcd_number(txn.amount, 6)
            .ok_or_else(|| KernelError::Input("amount exceeds 12 digits".into()))?;
        let other = bcd_number(txn.amount_other, 6)
            .ok_or_else(|| KernelError::Input("other amount exceeds 12 digits".into()))?;
        if txn.amount_other > txn.amount {
            return Err(KernelError::Input("cashback larger than the amount".into()));
        }
        d.set(tags::AMOUNT_AUTHORISED, amount);
        d.set(tags::AMOUNT_OTHER, other);
        d.set(
            tags::AMOUNT_BINARY,
            u32::try_from(txn.amount)
                .unwrap_or(u32::MAX)
                .to_be_bytes()
                .to_vec(),
        );
        d.set(
            tags::AMOUNT_OTHER_BINARY,
            u32::try_from(txn.amount_other)
                .unwrap_or(u32::MAX)
                .to_be_bytes()
                .to_vec(),
        );
        let bcd4 = |v: u16| bcd_number(u64::from(v), 2).unwrap_or_default();
        d.set(tags::TXN_CURRENCY, bcd4(txn.currency));
        d.set(tags::TXN_CURRENCY_EXP, vec![bcd2(txn.currency_exponent)]);
        d.set(tags::TXN_DATE, txn.date.to_bcd().to_vec());
        d.set(
            tags::TXN_TIME,
            vec![bcd2(txn.time.0), bcd2(txn.time.1), bcd2(txn.time.2)],
        );
        d.set(tags::TXN_TYPE, vec![txn.txn_type]);
        d.set(
            tags::UNPREDICTABLE_NUMBER,
            txn.unpredictable_number.to_vec(),
        );
        d.set(
            tags::TXN_SEQ_COUNTER,
            bcd_number(u64::from(txn.sequence_counter), 4).unwrap_or_default(),
        );
        d.set(tags::TERMINAL_COUNTRY, bcd4(cfg.country_code));
        d.set(tags::TERMINAL_TYPE, vec![cfg.terminal_type]);
        d.set(tags::TERMINAL_CAPABILITIES, cfg.capabilities.clone());
        d.set(
            tags::ADDITIONAL_CAPABILITIES,
            cfg.additional_capabilities.clone(),
        );
        d.set(tags::MERCHANT_CATEGORY, bcd4(cfg.merchant_category_code));
        d.set(tags::MERCHANT_ID, cfg.merchant_id.as_bytes().to_vec());
        d.set(tags::TERMINAL_ID, cfg.terminal_id.as_bytes().to_vec());
        d.set(tags::IFD_SERIAL, cfg.ifd_serial.as_bytes().to_vec());
        d.set(
            tags::MERCHANT_NAME_LOCATION,
            cfg.merchant_name_location.as_bytes().to_vec(),
        );
        d.set(tags::POS_ENTRY_MODE, vec![0x05]);
        d.set(tags::APP_VERSION_TERMINAL, app.app_version.clone());
        d.set(tags::AID_TERMINAL, app.aid.clone());
        d.set(
            tags::FLOOR_LIMIT,
            u32::try_from(app.floor_limit)
                .unwrap_or(u32::MAX)
                .to_be_bytes()
                .to_vec(),
        );
        d.set(tags::DF_NAME, selected.candidate.aid.clone());
        // Card data from the FCI (label, preferred name, language, PDOL).
        for (tag, value) in tlv::flatten(selected.fci.children()) {
            if tag.0 != tags::DF_NAME {
                d.set_if_absent(tag, value);
            }
        }
        self.sync();
        Ok(())
    }

    /// Writes the dynamic terminal data (TVR, TSI, CVM results) into the
    /// store so DOLs and field 55 see the current values.
    fn sync(&mut self) {
        self.data.set(tags::TVR, self.tvr.to_vec());
        self.data.set(tags::TSI, self.tsi.to_vec());
        self.data.set(tags::CVM_RESULTS, self.cvm_results.to_vec());
    }

    fn parse_gpo(&mut self, data: &[u8]) -> Result<Vec<AflEntry>, KernelError> {
        let t = tlv::parse_one(data)?;
        let (aip, afl) = match t.tag.0 {
            tags::RESPONSE_FORMAT_1 => {
                let v = t.bytes().unwrap_or(&[]);
                if v.len() < 2 {
                    return Err(KernelError::CardData(
                        "GPO format 1 shorter than the AIP".into(),
                    ));
                }
                let (a, f) = v.split_at(2);
                (a.to_vec(), f.to_vec())
            }
            tags::RESPONSE_FORMAT_2 => {
                let a = t
                    .find(tags::AIP)
                    .and_then(Tlv::bytes)
                    .ok_or_else(|| missing(tags::AIP))?;
                let f = t
                    .find(tags::AFL)
                    .and_then(Tlv::bytes)
                    .ok_or_else(|| missing(tags::AFL))?;
                // Other data in a format 2 answer is card data too.
                for (tag, value) in tlv::flatten(t.children()) {
                    if tag.0 != tags::AIP && tag.0 != tags::AFL {
                        self.data.set_if_absent(tag, value);
                    }
                }
                (a.to_vec(), f.to_vec())
            }
            other => {
                return Err(KernelError::CardData(format!(
                    "GPO answered with template {other:X}"
                )));
            }
        };
        self.aip =
            arr(Some(&aip)).ok_or_else(|| KernelError::CardData("AIP is not 2 bytes".into()))?;
        self.data.set(tags::AIP, aip);
        self.data.set(tags::AFL, afl.clone());
        parse_afl(&afl)
    }

    fn read_records(&mut self, afl: &[AflEntry]) -> Result<(), KernelError> {
        let mut seen: Vec<Tag> = Vec::new();
        for e in afl {
            for rec in e.first..=e.last {
                let resp = self.apdu.exchange(&Command::read_record(e.sfi, rec))?;
                let data = expect_ok(resp, "READ RECORD")?;
                let for_oda = rec - e.first < e.oda_count;
                let t = tlv::parse_one(&data)?;
                if e.sfi <= 10 && t.tag.0 != tags::RECORD_TEMPLATE {
                    return Err(KernelError::CardData(format!(
                        "record {rec} of SFI {} is not a 70 template",
                        e.sfi
                    )));
                }
                if for_oda {
                    if e.sfi <= 10 {
                        self.static_data.extend(t.value_bytes());
                    } else if t.tag.0 == tags::RECORD_TEMPLATE {
                        self.static_data.extend_from_slice(&data);
                    } else {
                        self.oda_record_error = true;
                    }
                }
                if t.tag.0 != tags::RECORD_TEMPLATE {
                    continue;
                }
                for (tag, value) in tlv::flatten(t.children()) {
                    if seen.contains(&tag) {
                        return Err(KernelError::CardData(format!(
                            "{} ({tag}) appears in more than one record",
                            tags::name(tag)
                        )));
                    }
                    seen.push(tag);
                    // Record data wins over FCI data of the same tag.
                    self.data.set(tag.0, value.to_vec());
                }
            }
        }
        Ok(())
    }

    fn check_mandatory(&self) -> Result<(), KernelError> {
        for tag in [tags::EXPIRY_DATE, tags::PAN, tags::CDOL1, tags::CDOL2] {
            if !self.data.has(tag) {
                return Err(missing(tag));
            }
        }
        Ok(())
    }

    fn pan_digits(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::new());
        for b in self.data.get(tags::PAN).unwrap_or(&[]) {
            for nib in [b >> 4, b & 0x0F] {
                if nib <= 9 {
                    s.push(char::from(b'0' + nib));
                } else {
                    return s;
                }
            }
        }
        s
    }

    fn masked_pan(&self) -> String {
        mask_pan(&self.pan_digits())
    }

    fn set_tvr(&mut self, bit: Bit) {
        set_bit(&mut self.tvr, bit);
    }

    fn set_tsi(&mut self, bit: Bit) {
        set_bit(&mut self.tsi, bit);
    }

    // -- offline data authentication ------------------------------------------

    fn offline_data_authentication(&mut self) -> Result<(), KernelError> {
        let caps = self.cfg.capabilities.get(2).copied().unwrap_or(0);
        // Book 3, 10.3: CDA before DDA before SDA, as both sides support.
        let cda = self.aip[0] & 0x01 != 0 && caps & 0x08 != 0;
        let dda = self.aip[0] & 0x20 != 0 && caps & 0x40 != 0;
        let sda = self.aip[0] & 0x40 != 0 && caps & 0x80 != 0;
        if !cda && !dda && !sda {
            self.set_tvr(tvr::ODA_NOT_PERFORMED);
            return Ok(());
        }
        self.set_tsi(tsi::ODA);
        if cda {
            // The signature comes with the GENERATE AC; here only the
            // certificates are checked and the ICC key recovered (Book 2,
            // 6.6). Without the key no signature is asked for.
            match self.today().and_then(|d| self.icc_public_key(d)) {
                Ok(key) => self.cda_key = Some(key),
                Err(reason) => {
                    tracing::info!(%reason, "CDA failed (certificates)");
                    self.set_tvr(tvr::CDA_FAILED);
                    if reason.missing_data {
                        self.set_tvr(tvr::ICC_DATA_MISSING);
                    }
                }
            }
        } else if dda {
            if let Err(reason) = self.dda() {
                tracing::info!(%reason, "DDA failed");
                self.set_tvr(tvr::DDA_FAILED);
                if reason.missing_data {
                    self.set_tvr(tvr::ICC_DATA_MISSING);
                }
                if let Some(e) = reason.fatal {
                    return Err(e);
                }
            }
        } else {
            self.set_tvr(tvr::SDA_SELECTED);
            if let Err(reason) = self.sda() {
                tracing::info!(%reason, "SDA failed");
                self.set_tvr(tvr::SDA_FAILED);
                if reason.missing_data {
                    self.set_tvr(tvr::ICC_DATA_MISSING);
                }
            }
        }
        Ok(())
    }

    /// Static data to be authenticated, plus the AIP when 9F4A asks for it.
    fn oda_input(&self) -> Result<Vec<u8>, OdaFailure> {
        if self.oda_record_error {
            return Err(OdaFailure::new("a record for ODA is not a 70 template"));
        }
        let mut data = self.static_data.clone();
        if let Some(list) = self.data.get(tags::SDA_TAG_LIST) {
            if list != [0x82] {
                return Err(OdaFailure::new("SDA tag list may only contain 82"));
            }
            data.extend_from_slice(&self.aip);
        }
        Ok(data)
    }

    fn ca_key(&self) -> Result<&'c CaPublicKey, OdaFailure> {
        let aid = &self
            .selected
            .as_ref()
            .ok_or(OdaFailure::new("no application"))?
            .candidate
            .aid;
        let rid = aid
            .get(..5)
            .ok_or(OdaFailure::new("AID shorter than a RID"))?;
        let index = self
            .data
            .get(tags::CA_PK_INDEX)
            .and_then(|b| b.first().copied())
            .ok_or(OdaFailure::missing("CA public key index 8F"))?;
        self.cfg
            .ca_key(rid, index)
            .ok_or(OdaFailure::new("CA public key not configured"))
    }

    fn issuer_key(&self, today: TxnDate) -> Result<RsaKey, OdaFailure> {
        let ca = self.ca_key()?;
        let ca = RsaKey::new(&ca.modulus, &ca.exponent).ok_or(OdaFailure::new("CA key invalid"))?;
        let cert = self
            .data
            .get(tags::ISSUER_PK_CERT)
            .ok_or(OdaFailure::missing("issuer certificate 90"))?;
        let exp = self
            .data
            .get(tags::ISSUER_PK_EXP)
            .ok_or(OdaFailure::missing("issuer exponent 9F32"))?;
        let x = ca
            .recover(cert)
            .ok_or(OdaFailure::new("issuer certificate length/RSA"))?;
        let n = x.len();
        check_frame(&x, 0x02)?;
        let remainder = self.data.get(tags::ISSUER_PK_REMAINDER).unwrap_or(&[]);
        let mut hashed = x.get(1..n - 21).unwrap_or(&[]).to_vec();
        hashed.extend_from_slice(remainder);
        hashed.extend_from_slice(exp);
        check_hash(&x, &hashed)?;
        // Issuer identifier: leftmost 3-8 PAN digits, padded with F.
        let id = x.get(2..6).unwrap_or(&[]);
        let id_digits: String = id
            .iter()
            .flat_map(|b| [b >> 4, b & 0x0F])
            .take_while(|d| *d <= 9)
            .map(|d| char::from(b'0' + d))
            .collect();
        if id_digits.len() < 3 || !self.pan_digits().starts_with(&id_digits) {
            return Err(OdaFailure::new("issuer identifier does not match the PAN"));
        }
        check_cert_expiry(x.get(6..8).unwrap_or(&[]), today)?;
        if x.get(11) != Some(&0x01) || x.get(12) != Some(&0x01) {
            return Err(OdaFailure::new("unknown hash or key algorithm"));
        }
        let ni = usize::from(*x.get(13).unwrap_or(&0));
        let modulus = key_from_cert(&x, 15, n - 21, ni, remainder)?;
        RsaKey::new(&modulus, exp).ok_or(OdaFailure::new("issuer key invalid"))
    }

    fn sda(&mut self) -> Result<(), OdaFailure> {
        let today = self
            .txn
            .as_ref()
            .map(|t| t.date)
            .ok_or(OdaFailure::new("no transaction"))?;
        let input = self.oda_input()?;
        let issuer = self.issuer_key(today)?;
        let ssad = self
            .data
            .get(tags::SSAD)
            .ok_or(OdaFailure::missing("signed static data 93"))?;
        let x = issuer
            .recover(ssad)
            .ok_or(OdaFailure::new("SSAD length/RSA"))?;
        let n = x.len();
        check_frame(&x, 0x03)?;
        let mut hashed = x.get(1..n - 21).unwrap_or(&[]).to_vec();
        hashed.extend_from_slice(&input);
        check_hash(&x, &hashed)?;
        if let Some(dac) = x.get(3..5) {
            self.data.set(tags::DATA_AUTH_CODE, dac.to_vec());
        }
        Ok(())
    }

    fn today(&self) -> Result<TxnDate, OdaFailure> {
        self.txn
            .as_ref()
            .map(|t| t.date)
            .ok_or(OdaFailure::new("no transaction"))
    }

    /// The ICC public key from its certificate (Book 2, 6.4), for DDA and CDA.
    fn icc_public_key(&self, today: TxnDate) -> Result<RsaKey, OdaFailure> {
        let input = self.oda_input()?;
        let issuer = self.issuer_key(today)?;
        let cert = self
            .data
            .get(tags::ICC_PK_CERT)
            .ok_or(OdaFailure::missing("ICC certificate 9F46"))?;
        let exp = self
            .data
            .get(tags::ICC_PK_EXP)
            .ok_or(OdaFailure::missing("ICC exponent 9F47"))?;
        let x = issuer
            .recover(cert)
            .ok_or(OdaFailure::new("ICC certificate length/RSA"))?;
        let n = x.len();
        check_frame(&x, 0x04)?;
        let remainder = self.data.get(tags::ICC_PK_REMAINDER).unwrap_or(&[]);
        let mut hashed = x.get(1..n - 21).unwrap_or(&[]).to_vec();
        hashed.extend_from_slice(remainder);
        hashed.extend_from_slice(exp);
        hashed.extend_from_slice(&input);
        check_hash(&x, &hashed)?;
        let cert_pan: String = x
            .get(2..12)
            .unwrap_or(&[])
            .iter()
            .flat_map(|b| [b >> 4, b & 0x0F])
            .take_while(|d| *d <= 9)
            .map(|d| char::from(b'0' + d))
            .collect();
        if cert_pan.as_str() != self.pan_digits().as_str() {
            return Err(OdaFailure::new(
                "PAN in ICC certificate differs from the card's",
            ));
        }
        check_cert_expiry(x.get(12..14).unwrap_or(&[]), today)?;
        if x.get(17) != Some(&0x01) || x.get(18) != Some(&0x01) {
            return Err(OdaFailure::new("unknown hash or key algorithm"));
        }
        let nic = usize::from(*x.get(19).unwrap_or(&0));
        let modulus = key_from_cert(&x, 21, n - 21, nic, remainder)?;
        RsaKey::new(&modulus, exp).ok_or(OdaFailure::new("ICC key invalid"))
    }

    fn dda(&mut self) -> Result<(), OdaFailure> {
        let icc = self.icc_public_key(self.today()?)?;

        // Dynamic signature over the DDOL data (Book 2, 6.5).
        let ddol_bytes = self
            .data
            .get(tags::DDOL)
            .map(<[u8]>::to_vec)
            .unwrap_or_else(|| self.cfg.default_ddol.clone());
        let ddol = dol::parse(&ddol_bytes).map_err(|_| OdaFailure::new("malformed DDOL"))?;
        if !ddol.iter().any(|e| e.tag.0 == tags::UNPREDICTABLE_NUMBER) {
            return Err(OdaFailure::new("DDOL lacks the unpredictable number"));
        }
        let ddol_data = dol::build(&ddol, &self.data);
        let resp = self
            .apdu
            .exchange(&Command::internal_authenticate(ddol_data.clone()))
            .map_err(|e| OdaFailure::fatal(e.into()))?;
        if !resp.sw.is_ok() {
            return Err(OdaFailure::new("INTERNAL AUTHENTICATE refused"));
        }
        let t = tlv::parse_one(&resp.data)
            .map_err(|_| OdaFailure::new("INTERNAL AUTHENTICATE answer malformed"))?;
        let sdad = match t.tag.0 {
            tags::RESPONSE_FORMAT_1 => t.bytes().unwrap_or(&[]).to_vec(),
            tags::RESPONSE_FORMAT_2 => t
                .find(tags::SDAD)
                .and_then(Tlv::bytes)
                .unwrap_or(&[])
                .to_vec(),
            _ => return Err(OdaFailure::new("INTERNAL AUTHENTICATE template")),
        };
        let x = icc
            .recover(&sdad)
            .ok_or(OdaFailure::new("SDAD length/RSA"))?;
        let n = x.len();
        check_frame(&x, 0x05)?;
        let mut hashed = x.get(1..n - 21).unwrap_or(&[]).to_vec();
        hashed.extend_from_slice(&ddol_data);
        check_hash(&x, &hashed)?;
        let ldd = usize::from(*x.get(3).unwrap_or(&0));
        let dyn_data = x
            .get(4..4 + ldd)
            .ok_or(OdaFailure::new("dynamic data length"))?;
        if let Some((len, rest)) = dyn_data.split_first() {
            if let Some(num) = rest.get(..usize::from(*len)) {
                self.data.set(tags::ICC_DYNAMIC_NUMBER, num.to_vec());
            }
        }
        Ok(())
    }

    /// Checks a CDA signature (Book 2, 6.6.2): the SDAD recovers under the
    /// ICC key to a format-05 frame whose hash covers the unpredictable
    /// number, whose CID matches the response's, and whose transaction data
    /// hash is SHA-1 over `covered` (PDOL values, CDOL1 data and, at the
    /// second GENERATE AC, CDOL2 data) and the response's other data
    /// objects. Gives the AC and the ICC dynamic number it carries.
    fn verify_cda(
        &self,
        r: &GenAcResponse,
        covered: &[u8],
    ) -> Result<([u8; 8], Vec<u8>), OdaFailure> {
        let key = self.cda_key.as_ref().ok_or(OdaFailure::new("no ICC key"))?;
        let sdad = r
            .sdad
            .as_ref()
            .ok_or(OdaFailure::missing("signed dynamic data 9F4B"))?;
        let x = key
            .recover(sdad)
            .ok_or(OdaFailure::new("SDAD length/RSA"))?;
        let n = x.len();
        check_frame(&x, 0x05)?;
        if x.get(2) != Some(&0x01) {
            return Err(OdaFailure::new("unknown hash algorithm"));
        }
        let un = self
            .data
            .get(tags::UNPREDICTABLE_NUMBER)
            .ok_or(OdaFailure::missing("unpredictable number"))?;
        let mut hashed = x.get(1..n - 21).unwrap_or(&[]).to_vec();
        hashed.extend_from_slice(un);
        check_hash(&x, &hashed)?;
        // ICC dynamic data: Ln, number, CID, AC, transaction data hash.
        let ldd = usize::from(*x.get(3).unwrap_or(&0));
        let dynamic = x
            .get(4..4 + ldd)
            .filter(|_| 4 + ldd <= n - 21)
            .ok_or(OdaFailure::new("dynamic data length"))?;
        let ln = usize::from(*dynamic.first().unwrap_or(&0));
        let (number, rest) = dynamic
            .get(1..)
            .filter(|d| d.len() >= ln + 29)
            .map(|d| d.split_at(ln))
            .ok_or(OdaFailure::new("dynamic data too short for CDA"))?;
        if rest.first() != Some(&r.cid) {
            return Err(OdaFailure::new("CID in the signature differs"));
        }
        let ac = arr::<8>(rest.get(1..9)).ok_or(OdaFailure::new("AC in the signature"))?;
        let mut th = Sha1::new();
        th.update(covered);
        th.update(&r.unsigned);
        let expected = th.finalize();
        if rest.get(9..29) != Some(expected.as_slice()) {
            return Err(OdaFailure::new("transaction data hash differs"));
        }
        Ok((ac, number.to_vec()))
    }

    // -- processing restrictions ------------------------------------------------

    fn processing_restrictions(&mut self, txn: &TransactionInput) -> Result<(), KernelError> {
        let app = self.app_cfg();
        if let (Some(card), Some(app)) = (self.data.get(tags::APP_VERSION_CARD), app) {
            if card != app.app_version.as_slice() {
                self.set_tvr(tvr::VERSION_MISMATCH);
            }
        }
        if let Some(auc) = arr::<2>(self.data.get(tags::AUC)) {
            let issuer_country = self.data.get(tags::ISSUER_COUNTRY).and_then(bcd_value);
            let domestic = issuer_country == Some(u64::from(self.cfg.country_code));
            if !auc_allows(auc, domestic, txn.txn_type, is_atm(self.cfg.terminal_type)) {
                self.set_tvr(tvr::SERVICE_NOT_ALLOWED);
            }
        }
        if let Some(eff) = self.data.get(tags::EFFECTIVE_DATE) {
            let eff = TxnDate::from_bcd(eff)
                .ok_or_else(|| KernelError::CardData("invalid effective date".into()))?;
            if txn.date < eff {
                self.set_tvr(tvr::NOT_EFFECTIVE);
            }
        }
        let exp = self
            .data
            .get(tags::EXPIRY_DATE)
            .ok_or_else(|| missing(tags::EXPIRY_DATE))?;
        let exp = TxnDate::from_bcd(exp)
            .ok_or_else(|| KernelError::CardData("invalid expiry date".into()))?;
        if txn.date > exp {
            self.set_tvr(tvr::EXPIRED);
        }
        Ok(())
    }

    // -- cardholder verification ----------------------------------------------

    fn cardholder_verification(
        &mut self,
        txn: &TransactionInput,
        cardholder: &mut dyn Cardholder,
    ) -> Result<(), KernelError> {
        if self.aip[0] & 0x10 == 0 {
            self.cvm_results = [0x3F, 0x00, 0x00];
            self.cvm = CvmPerformed::NotPerformed;
            return Ok(());
        }
        let list = self
            .data
            .get(tags::CVM_LIST)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        let Some(list) = CvmList::parse(&list) else {
            self.set_tvr(tvr::ICC_DATA_MISSING);
            self.cvm_results = [0x3F, 0x00, 0x00];
            self.cvm = CvmPerformed::NotPerformed;
            return Ok(());
        };
        let ctx = CvmContext {
            amount: txn.amount,
            txn_currency: txn.currency,
            app_currency: self.data.get(tags::APP_CURRENCY).and_then(bcd_value),
            txn_type: txn.txn_type,
            capabilities: arr(Some(&self.cfg.capabilities)).unwrap_or([0; 3]),
            unattended: is_unattended(self.cfg.terminal_type),
        };
        let pan = self.pan_digits();
        let masked = mask_pan(&pan);
        let mut cancelled = false;
        let result = evaluate_cvm(&list, &ctx, &mut |method| match method {
            CvmMethod::OnlinePin => {
                let req = PinRequest {
                    amount: txn.amount,
                    currency: txn.currency,
                    masked_pan: &masked,
                    pan: &pan,
                };
                match cardholder.online_pin(&req) {
                    PinEntry::Entered => CvmAttempt::Succeeded,
                    PinEntry::Bypassed => CvmAttempt::PinNotEntered,
                    PinEntry::PadUnavailable => CvmAttempt::PinPadMissing,
                    PinEntry::Cancelled => {
                        cancelled = true;
                        CvmAttempt::PinNotEntered
                    }
                }
            }
            CvmMethod::Fail => CvmAttempt::Failed,
            _ => CvmAttempt::Succeeded,
        });
        if cancelled {
            return Err(KernelError::Cancelled);
        }
        for bit in &result.tvr_bits {
            self.set_tvr(*bit);
        }
        self.cvm_results = result.results;
        self.cvm = result.performed;
        self.signature_required = result.signature;
        self.pin_entered = result.performed == CvmPerformed::OnlinePin;
        self.set_tsi(tsi::CVM);
        Ok(())
    }

    // -- terminal risk management ---------------------------------------------

    fn terminal_risk_management(&mut self, txn: &TransactionInput) -> Result<(), KernelError> {
        if txn.force_online {
            self.set_tvr(tvr::MERCHANT_FORCED);
        }
        if self.aip[0] & 0x08 == 0 {
            return Ok(());
        }
        let app = self.app_cfg().ok_or_else(|| {
            KernelError::Input("selected application has no configuration".into())
        })?;
        let same_currency = txn.currency == self.cfg.currency_code;
        // Amounts in another currency cannot be held against the floor
        // limit: treat them as above it, which sends them online.
        if !same_currency || txn.amount >= app.floor_limit {
            self.set_tvr(tvr::FLOOR_LIMIT);
        } else if random_selection(
            txn.amount,
            app.floor_limit,
            app.random_selection_threshold,
            app.random_target_percent,
            app.random_max_target_percent,
            txn.random_selection,
        ) {
            self.set_tvr(tvr::RANDOM_SELECTED);
        }
        let lcol = self.data.get(tags::LCOL).and_then(|b| b.first().copied());
        let ucol = self.data.get(tags::UCOL).and_then(|b| b.first().copied());
        if let (Some(lcol), Some(ucol)) = (lcol, ucol) {
            let atc = self.get_data_u16(0x9F36)?;
            let last_online = self.get_data_u16(0x9F13)?;
            if let Some(atc) = atc {
                self.data.set(tags::ATC, atc.to_be_bytes().to_vec());
            }
            let v = velocity(atc, last_online, lcol, ucol);
            if v.lower {
                self.set_tvr(tvr::LCOL_EXCEEDED);
            }
            if v.upper {
                self.set_tvr(tvr::UCOL_EXCEEDED);
            }
            if v.new_card {
                self.set_tvr(tvr::NEW_CARD);
            }
        }
        self.set_tsi(tsi::TERMINAL_RISK);
        Ok(())
    }

    /// GET DATA for a 2-byte counter; `None` if the card does not give it.
    fn get_data_u16(&mut self, tag: u16) -> Result<Option<u16>, KernelError> {
        let resp = self.apdu.exchange(&Command::get_data(tag))?;
        if !resp.sw.is_ok() {
            return Ok(None);
        }
        let Ok(t) = tlv::parse_one(&resp.data) else {
            return Ok(None);
        };
        if t.tag.0 != u32::from(tag) {
            return Ok(None);
        }
        Ok(arr::<2>(t.bytes()).map(u16::from_be_bytes))
    }

    // -- terminal action analysis and first GENERATE AC ------------------------

    fn action_codes(&self) -> ActionCodes {
        let app = self.app_cfg();
        let tac = |f: fn(&ApplicationConfig) -> &Vec<u8>| {
            app.and_then(|a| arr::<5>(Some(f(a)))).unwrap_or([0; 5])
        };
        ActionCodes {
            tac_denial: tac(|a| &a.tac_denial),
            tac_online: tac(|a| &a.tac_online),
            tac_default: tac(|a| &a.tac_default),
            iac_denial: arr(self.data.get(tags::IAC_DENIAL)),
            iac_online: arr(self.data.get(tags::IAC_ONLINE)),
            iac_default: arr(self.data.get(tags::IAC_DEFAULT)),
        }
    }

    fn terminal_action_analysis(&self) -> CryptogramType {
        action_analysis(&self.tvr, &self.action_codes(), self.cfg.online_capable())
    }

    fn generate_ac(
        &mut self,
        wanted: CryptogramType,
        cdol_tag: u32,
    ) -> Result<GenAcResponse, KernelError> {
        self.sync();
        let cdol = dol::parse(self.data.get(cdol_tag).unwrap_or(&[]))?;
        let data = dol::build(&cdol, &self.data);
        // CDA is asked for with a TC or ARQC (Book 3, 9.3: P1 bit 5).
        let cda = self.cda_key.is_some() && wanted != CryptogramType::Aac;
        let p1 = wanted.p1() | if cda { 0x10 } else { 0 };
        let resp = self
            .apdu
            .exchange(&Command::generate_ac(p1, data.clone()))?;
        let body = expect_ok(resp, "GENERATE AC")?;
        let mut r = parse_generate_ac(&body)?;
        if r.kind.rank() > wanted.rank() {
            return Err(KernelError::CardData(format!(
                "card returned {:?} where {:?} was requested",
                r.kind, wanted
            )));
        }
        if cdol_tag == tags::CDOL1 {
            self.cdol1_data = data.clone();
        }
        if cda && r.kind != CryptogramType::Aac {
            let mut covered = self.pdol_data.clone();
            covered.extend_from_slice(&self.cdol1_data);
            if cdol_tag == tags::CDOL2 {
                covered.extend_from_slice(&data);
            }
            match self.verify_cda(&r, &covered) {
                Ok((ac, dynamic_number)) => {
                    r.ac = ac;
                    self.data.set(tags::ICC_DYNAMIC_NUMBER, dynamic_number);
                }
                Err(reason) => {
                    // Book 2, 6.6.2: a failed CDA declines the transaction.
                    tracing::info!(%reason, "CDA failed (signature)");
                    self.set_tvr(tvr::CDA_FAILED);
                    r.cda_failed = true;
                }
            }
        }
        self.data.set(tags::CID, vec![r.cid]);
        self.data.set(tags::ATC, r.atc.to_be_bytes().to_vec());
        self.data.set(tags::AC, r.ac.to_vec());
        if let Some(iad) = &r.iad {
            self.data.set(tags::IAD, iad.clone());
        }
        Ok(r)
    }

    fn first_generate_ac(&mut self, wanted: CryptogramType) -> Result<Outcome, KernelError> {
        self.set_tsi(tsi::CARD_RISK);
        let r = self.generate_ac(wanted, tags::CDOL1)?;
        self.sync();
        Ok(self.first_ac_outcome(&r))
    }

    /// What the card's first cryptogram decides (a failed CDA declines
    /// whatever it says), the same for an inserted card and a tap.
    fn first_ac_outcome(&mut self, r: &GenAcResponse) -> Outcome {
        let (decision, arc) = match r.kind {
            _ if r.cda_failed => (Decision::DeclinedOffline, *b"Z1"),
            CryptogramType::Tc => (Decision::ApprovedOffline, *b"Y1"),
            CryptogramType::Aac => (Decision::DeclinedOffline, *b"Z1"),
            CryptogramType::Arqc => (Decision::GoOnline, [0, 0]),
        };
        if decision == Decision::GoOnline {
            self.phase = Phase::AwaitingHost;
        } else {
            self.data.set(tags::ARC, arc.to_vec());
        }
        let field55 = self.field55();
        let online = (decision == Decision::GoOnline).then(|| OnlineRequest {
            arqc: r.ac,
            field55: field55.clone(),
            pin_entered: self.pin_entered,
        });
        self.outcome(decision, r, arc, None, online, field55, Vec::new())
    }

    #[allow(clippy::too_many_arguments)]
    fn outcome(
        &self,
        decision: Decision,
        r: &GenAcResponse,
        arc: [u8; 2],
        auth_code: Option<String>,
        online: Option<OnlineRequest>,
        field55: Vec<u8>,
        script_results: Vec<u8>,
    ) -> Outcome {
        let selected = self.selected.as_ref();
        let label = selected
            .map(|s| s.candidate.display_name().to_string())
            .unwrap_or_default();
        Outcome {
            decision,
            receipt: ReceiptData {
                masked_pan: self.masked_pan(),
                aid: selected
                    .map(|s| s.candidate.aid.clone())
                    .unwrap_or_default(),
                app_label: label,
                tvr: self.tvr,
                tsi: self.tsi,
                cvm_results: self.cvm_results,
                cvm: self.cvm,
                signature_required: self.signature_required,
                atc: r.atc,
                cryptogram_type: r.kind,
                cryptogram: r.ac,
                arc,
                auth_code,
                contactless: self.contactless.is_some(),
            },
            online,
            field55,
            script_results,
            secrets: Some(self.secrets()),
        }
    }

    fn secrets(&self) -> CardSecrets {
        CardSecrets {
            pan: self.pan_digits().to_string(),
            pan_sequence: self
                .data
                .get(tags::PAN_SEQ)
                .and_then(|b| b.first())
                .map(|b| format!("{:02X}", b)),
            track2: self
                .data
                .get(tags::TRACK2)
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
            expiry: self
                .data
                .get(tags::EXPIRY_DATE)
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
        }
    }

    /// Field 55 from the current data (no PAN or track 2 in it).
    fn field55(&self) -> Vec<u8> {
        FIELD55_TAGS
            .iter()
            .filter_map(|t| {
                self.data
                    .get(*t)
                    .map(|v| Tlv::primitive(*t, v.to_vec()).to_bytes())
            })
            .flatten()
            .collect()
    }

    // -- completion -------------------------------------------------------------

    /// Finishes an online transaction with the host's answer (or its
    /// absence): issuer authentication, scripts 71, second GENERATE AC,
    /// scripts 72.
    pub fn complete(&mut self, host: HostResponse) -> Result<Outcome, KernelError> {
        if self.phase != Phase::AwaitingHost {
            return Err(KernelError::NotAwaitingHost);
        }
        self.phase = Phase::Done;
        if self.contactless.is_some() {
            return self.complete_tap(host);
        }
        let mut script_results = Vec::new();
        let (wanted, arc, auth_code, host_approved, scripts) = match host {
            HostResponse::Answered {
                arc,
                auth_code,
                issuer_auth_data,
                scripts,
            } => {
                self.data.set(tags::ARC, arc.to_vec());
                if let Some(code) = &auth_code {
                    self.data.set(tags::AUTH_CODE, code.as_bytes().to_vec());
                }
                if let Some(iad) = issuer_auth_data {
                    self.issuer_authentication(iad)?;
                }
                let approved = matches!(&arc, b"00" | b"08" | b"10" | b"11");
                let wanted = if approved {
                    CryptogramType::Tc
                } else {
                    CryptogramType::Aac
                };
                (wanted, arc, auth_code, approved, scripts)
            }
            HostResponse::Unavailable => {
                let arc = *b"Z3";
                self.data.set(tags::ARC, arc.to_vec());
                let wanted = unable_to_go_online(&self.tvr, &self.action_codes());
                (wanted, arc, None, false, Vec::new())
            }
        };
        let script_list = tlv::parse_all(&scripts).unwrap_or_else(|_| {
            // Malformed scripts are not sent; note it as a failed script.
            set_bit(&mut self.tvr, tvr::SCRIPT_FAILED_BEFORE);
            Vec::new()
        });
        self.run_scripts(&script_list, tags::ISSUER_SCRIPT_1, &mut script_results)?;
        let r = self.generate_ac(wanted, tags::CDOL2)?;
        self.run_scripts(&script_list, tags::ISSUER_SCRIPT_2, &mut script_results)?;
        if !script_results.is_empty() {
            self.data
                .set(tags::ISSUER_SCRIPT_RESULTS, script_results.clone());
        }
        self.sync();
        let unable = arc == *b"Z3";
        let kind = if r.cda_failed {
            CryptogramType::Aac
        } else {
            r.kind
        };
        let (decision, final_arc) = match (kind, unable, host_approved) {
            (CryptogramType::Tc, true, _) => (Decision::ApprovedUnableToGoOnline, *b"Y3"),
            (_, true, _) => (Decision::DeclinedUnableToGoOnline, *b"Z3"),
            (CryptogramType::Tc, false, true) => (Decision::ApprovedOnline, arc),
            (_, false, true) => (Decision::DeclinedByCardAfterApproval, arc),
            (_, false, false) => (Decision::DeclinedByIssuer, arc),
        };
        if unable {
            self.data.set(tags::ARC, final_arc.to_vec());
        }
        let field55 = self.field55();
        Ok(self.outcome(
            decision,
            &r,
            final_arc,
            auth_code,
            None,
            field55,
            script_results,
        ))
    }

    fn issuer_authentication(&mut self, iad: Vec<u8>) -> Result<(), KernelError> {
        if self.aip[0] & 0x04 == 0 || !(8..=16).contains(&iad.len()) {
            return Ok(());
        }
        let cdol2 = dol::parse(self.data.get(tags::CDOL2).unwrap_or(&[]))?;
        self.set_tsi(tsi::ISSUER_AUTH);
        if cdol2.iter().any(|e| e.tag.0 == tags::ISSUER_AUTH_DATA) {
            // The card checks it inside the second GENERATE AC.
            self.data.set(tags::ISSUER_AUTH_DATA, iad);
            return Ok(());
        }
        let resp = self.apdu.exchange(&Command::external_authenticate(iad))?;
        if !resp.sw.is_ok() {
            self.set_tvr(tvr::ISSUER_AUTH_FAILED);
        }
        Ok(())
    }

    fn run_scripts(
        &mut self,
        list: &[Tlv],
        template: u32,
        results: &mut Vec<u8>,
    ) -> Result<(), KernelError> {
        for script in list.iter().filter(|t| t.tag.0 == template).take(10) {
            self.set_tsi(tsi::SCRIPT);
            let id = script
                .find(tags::SCRIPT_ID)
                .and_then(Tlv::bytes)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .unwrap_or([0; 4]);
            let mut status = 0x20u8;
            for (i, cmd) in script
                .children()
                .iter()
                .filter(|c| c.tag.0 == tags::ISSUER_SCRIPT_COMMAND)
                .enumerate()
            {
                let seq = u8::try_from(i + 1).unwrap_or(0x0F).min(0x0F);
                let ok = match cmd.bytes().and_then(Command::parse) {
                    Some(c) => {
                        let resp = self.apdu.exchange(&c)?;
                        resp.sw.is_ok() || resp.sw.is_warning()
                    }
                    None => false,
                };
                if !ok {
                    status = 0x10 | seq;
                    self.set_tvr(if template == tags::ISSUER_SCRIPT_1 {
                        tvr::SCRIPT_FAILED_BEFORE
                    } else {
                        tvr::SCRIPT_FAILED_AFTER
                    });
                    break;
                }
            }
            results.push(status);
            results.extend_from_slice(&id);
        }
        Ok(())
    }
}

fn expect_ok(resp: Response, command: &'static str) -> Result<Vec<u8>, KernelError> {
    if resp.sw.is_ok() {
        Ok(resp.data)
    } else {
        Err(KernelError::CardStatus {
            command,
            sw: resp.sw,
        })
    }
}

/// A parsed GENERATE AC answer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GenAcResponse {
    cid: u8,
    kind: CryptogramType,
    atc: u16,
    /// The cryptogram; with CDA it is inside the signature and this is
    /// zero until the signature is verified.
    ac: [u8; 8],
    iad: Option<Vec<u8>>,
    /// Signed dynamic application data (9F4B), format 2 only.
    sdad: Option<Vec<u8>>,
    /// The response's data objects other than 9F4B, encoded, in the order
    /// the card returned them: what the CDA transaction data hash covers.
    unsigned: Vec<u8>,
    /// CDA was asked for and its check failed.
    cda_failed: bool,
}

fn parse_generate_ac(body: &[u8]) -> Result<GenAcResponse, KernelError> {
    let t = tlv::parse_one(body)?;
    let (cid, atc, ac, iad, sdad, unsigned) = match t.tag.0 {
        tags::RESPONSE_FORMAT_1 => {
            let v = t.bytes().unwrap_or(&[]);
            if v.len() < 11 || v.len() > 43 {
                return Err(KernelError::CardData(format!(
                    "GENERATE AC format 1 has {} bytes",
                    v.len()
                )));
            }
            let cid = *v.first().unwrap_or(&0);
            let atc = arr::<2>(v.get(1..3)).unwrap_or([0; 2]);
            let ac = arr::<8>(v.get(3..11)).unwrap_or([0; 8]);
            let iad = v.get(11..).filter(|x| !x.is_empty()).map(<[u8]>::to_vec);
            (cid, atc, ac, iad, None, Vec::new())
        }
        tags::RESPONSE_FORMAT_2 => {
            let cid = arr::<1>(t.find(tags::CID).and_then(Tlv::bytes))
                .ok_or_else(|| missing(tags::CID))?[0];
            let atc = arr::<2>(t.find(tags::ATC).and_then(Tlv::bytes))
                .ok_or_else(|| missing(tags::ATC))?;
            let sdad = t.find(tags::SDAD).and_then(Tlv::bytes).map(<[u8]>::to_vec);
            // With CDA the AC travels inside the signature (Book 3, 9.3).
            let ac = match arr::<8>(t.find(tags::AC).and_then(Tlv::bytes)) {
                Some(ac) => ac,
                None if sdad.is_some() => [0; 8],
                None => return Err(missing(tags::AC)),
            };
            let iad = t.find(tags::IAD).and_then(Tlv::bytes).map(<[u8]>::to_vec);
            let unsigned = t
                .children()
                .iter()
                .filter(|c| c.tag.0 != tags::SDAD)
                .flat_map(Tlv::to_bytes)
                .collect();
            (cid, atc, ac, iad, sdad, unsigned)
        }
        other => {
            return Err(KernelError::CardData(format!(
                "GENERATE AC answered with template {other:X}"
            )))
        }
    };
    let kind = CryptogramType::from_cid(cid).ok_or_else(|| {
        KernelError::CardData(format!("cryptogram information data {cid:02X} is RFU"))
    })?;
    Ok(GenAcResponse {
        cid,
        kind,
        atc: u16::from_be_bytes(atc),
        ac,
        iad,
        sdad,
        unsigned,
        cda_failed: false,
    })
}

/// Public parse entry for fuzzing: GPO, GENERATE AC and record answers.
pub fn fuzz_parse_responses(data: &[u8]) {
    let _ = parse_generate_ac(data);
    let _ = parse_afl(data);
    let _ = Command::parse(data);
    if let Ok(list) = tlv::parse_all(data) {
        let _ = CvmList::parse(tlv::find_bytes(&list, tags::CVM_LIST).unwrap_or(data));
    }
}

fn is_atm(terminal_type: u8) -> bool {
    // Financial-institution unattended terminals (14, 15, 16) with cash:
    // EMV treats terminal type 14/15/16 as ATM-like for the AUC check.
    matches!(terminal_type, 0x14..=0x16)
}

fn is_unattended(terminal_type: u8) -> bool {
    matches!(terminal_type & 0x0F, 0x04..=0x06)
}

// ---------------------------------------------------------------------------
// Offline data authentication helpers (EMV Book 2)
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct OdaFailure {
    reason: &'static str,
    missing_data: bool,
    fatal: Option<KernelError>,
}

impl OdaFailure {
    fn new(reason: &'static str) -> Self {
        OdaFailure {
            reason,
            missing_data: false,
            fatal: None,
        }
    }
    fn missing(reason: &'static str) -> Self {
        OdaFailure {
            reason,
            missing_data: true,
            fatal: None,
        }
    }
    fn fatal(e: KernelError) -> Self {
        OdaFailure {
            reason: "card transport failed",
            missing_data: false,
            fatal: Some(e),
        }
    }
}

impl std::fmt::Display for OdaFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason)
    }
}

/// An RSA public key used for EMV "recovery" (raw RSA, no padding scheme).
struct RsaKey(RsaPublicKey);

impl RsaKey {
    fn new(modulus: &[u8], exponent: &[u8]) -> Option<RsaKey> {
        RsaPublicKey::new(
            BigUint::from_bytes_be(modulus),
            BigUint::from_bytes_be(exponent),
        )
        .ok()
        .map(RsaKey)
    }

    fn len(&self) -> usize {
        self.0.size()
    }

    /// Raw public-key operation; the input must be exactly modulus-sized
    /// and below the modulus.
    fn recover(&self, data: &[u8]) -> Option<Vec<u8>> {
        if data.len() != self.len() || data.len() < 42 {
            return None;
        }
        let m = BigUint::from_bytes_be(data);
        if &m >= self.0.n() {
            return None;
        }
        let x = m.modpow(self.0.e(), self.0.n()).to_bytes_be();
        let mut out = vec![0u8; self.len().saturating_sub(x.len())];
        out.extend(x);
        Some(out)
    }
}

/// Header 6A, the expected format byte, trailer BC.
fn check_frame(x: &[u8], format: u8) -> Result<(), OdaFailure> {
    // Header, format, 20-byte hash and trailer at least: every caller slices
    // up to `len - 21`.
    if x.len() < 23 {
        return Err(OdaFailure::new("recovered data too short"));
    }
    if x.first() != Some(&0x6A) || x.get(1) != Some(&format) || x.last() != Some(&0xBC) {
        return Err(OdaFailure::new("recovered data header/format/trailer"));
    }
    Ok(())
}

/// The 20-byte SHA-1 before the trailer must equal SHA-1 of `hashed`.
fn check_hash(x: &[u8], hashed: &[u8]) -> Result<(), OdaFailure> {
    let n = x.len();
    let stored = x
        .get(n - 21..n - 1)
        .ok_or(OdaFailure::new("recovered data too short"))?;
    if Sha1::digest(hashed).as_slice() != stored {
        return Err(OdaFailure::new("hash mismatch"));
    }
    Ok(())
}

/// Certificate expiry MMYY: valid through the end of that month.
fn check_cert_expiry(mmyy: &[u8], today: TxnDate) -> Result<(), OdaFailure> {
    let [mm, yy] = <[u8; 2]>::try_from(mmyy).map_err(|_| OdaFailure::new("certificate expiry"))?;
    let (m, y) = (
        from_bcd2(mm).ok_or(OdaFailure::new("certificate expiry"))?,
        from_bcd2(yy).ok_or(OdaFailure::new("certificate expiry"))?,
    );
    let year = if y < 50 {
        2000 + u16::from(y)
    } else {
        1900 + u16::from(y)
    };
    if (year, m) < (today.year, today.month) {
        return Err(OdaFailure::new("certificate expired"));
    }
    Ok(())
}

/// Reassembles a public key modulus from the certificate field and the
/// remainder (Book 2, 5.3 step 10 / 6.4 step 10).
fn key_from_cert(
    x: &[u8],
    start: usize,
    end: usize,
    len: usize,
    remainder: &[u8],
) -> Result<Vec<u8>, OdaFailure> {
    let field = x
        .get(start..end)
        .ok_or(OdaFailure::new("certificate layout"))?;
    if len <= field.len() {
        if !remainder.is_empty() {
            // A remainder where none fits is inconsistent data.
            return Err(OdaFailure::new("unexpected key remainder"));
        }
        return Ok(field.get(..len).unwrap_or(&[]).to_vec());
    }
    if field.len() + remainder.len() != len {
        return Err(OdaFailure::missing(
            "public key remainder missing or wrong length",
        ));
    }
    let mut m = field.to_vec();
    m.extend_from_slice(remainder);
    Ok(m)
}

// ---------------------------------------------------------------------------
// Processing restrictions: application usage control (Book 3, 10.4.2)
// ---------------------------------------------------------------------------

/// Whether the AUC allows this transaction.
pub fn auc_allows(auc: [u8; 2], domestic: bool, txn_type: u8, atm: bool) -> bool {
    let [b1, b2] = auc;
    if atm && b1 & 0x02 == 0 {
        return false;
    }
    if !atm && b1 & 0x01 == 0 {
        return false;
    }
    let goods_or_services = if domestic {
        b1 & 0x28 != 0
    } else {
        b1 & 0x14 != 0
    };
    match txn_type {
        0x01 | 0x17 => {
            if domestic {
                b1 & 0x80 != 0
            } else {
                b1 & 0x40 != 0
            }
        }
        0x09 => {
            goods_or_services
                && if domestic {
                    b2 & 0x80 != 0
                } else {
                    b2 & 0x40 != 0
                }
        }
        _ => goods_or_services,
    }
}

// ---------------------------------------------------------------------------
// CVM list (Book 3, 10.5; Book 4, 6.3.4)
// ---------------------------------------------------------------------------

/// A CVM code (bits 6-1 of the first rule byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CvmMethod {
    /// 000000: fail CVM processing.
    Fail,
    /// 000001: plaintext PIN verified by the ICC.
    OfflinePlaintextPin,
    /// 000010: enciphered PIN verified online.
    OnlinePin,
    /// 000011: plaintext offline PIN and signature.
    OfflinePlaintextPinAndSignature,
    /// 000100: enciphered PIN verified by the ICC.
    OfflineEncipheredPin,
    /// 000101: enciphered offline PIN and signature.
    OfflineEncipheredPinAndSignature,
    /// 011110: signature.
    Signature,
    /// 011111: no CVM required.
    NoCvm,
    /// Anything else (RFU or proprietary).
    Unrecognised(u8),
}

impl CvmMethod {
    fn from_code(code: u8) -> CvmMethod {
        match code & 0x3F {
            0x00 => CvmMethod::Fail,
            0x01 => CvmMethod::OfflinePlaintextPin,
            0x02 => CvmMethod::OnlinePin,
            0x03 => CvmMethod::OfflinePlaintextPinAndSignature,
            0x04 => CvmMethod::OfflineEncipheredPin,
            0x05 => CvmMethod::OfflineEncipheredPinAndSignature,
            0x1E => CvmMethod::Signature,
            0x1F => CvmMethod::NoCvm,
            other => CvmMethod::Unrecognised(other),
        }
    }

    /// Whether the terminal capabilities (9F33 byte 2) cover this method.
    fn supported(self, caps: [u8; 3]) -> bool {
        let c = caps[1];
        match self {
            CvmMethod::Fail => true,
            CvmMethod::OfflinePlaintextPin => c & 0x80 != 0,
            CvmMethod::OnlinePin => c & 0x40 != 0,
            CvmMethod::OfflinePlaintextPinAndSignature => c & 0x80 != 0 && c & 0x20 != 0,
            CvmMethod::OfflineEncipheredPin => c & 0x10 != 0,
            CvmMethod::OfflineEncipheredPinAndSignature => c & 0x10 != 0 && c & 0x20 != 0,
            CvmMethod::Signature => c & 0x20 != 0,
            CvmMethod::NoCvm => c & 0x08 != 0,
            CvmMethod::Unrecognised(_) => false,
        }
    }
}

/// A parsed CVM list: amounts X and Y and the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CvmList {
    /// Amount X (in the application currency, minor units).
    pub x: u64,
    /// Amount Y.
    pub y: u64,
    /// (CVM code byte, condition byte) pairs in card order.
    pub rules: Vec<(u8, u8)>,
}

impl CvmList {
    /// Parses tag 8E; `None` when absent, too short or without rules.
    pub fn parse(b: &[u8]) -> Option<CvmList> {
        let x = u32::from_be_bytes(arr(b.get(0..4))?);
        let y = u32::from_be_bytes(arr(b.get(4..8))?);
        let rest = b.get(8..)?;
        if rest.is_empty() || rest.len() % 2 != 0 {
            return None;
        }
        Some(CvmList {
            x: u64::from(x),
            y: u64::from(y),
            rules: rest
                .chunks(2)
                .filter_map(|c| match c {
                    [a, b] => Some((*a, *b)),
                    _ => None,
                })
                .collect(),
        })
    }
}

/// Facts the CVM conditions depend on.
#[derive(Debug, Clone, Copy)]
pub struct CvmContext {
    /// Amount authorised, minor units.
    pub amount: u64,
    /// Transaction currency (ISO 4217 numeric).
    pub txn_currency: u16,
    /// Application currency code 9F42, if the card has it.
    pub app_currency: Option<u64>,
    /// Transaction type 9C.
    pub txn_type: u8,
    /// Terminal capabilities 9F33.
    pub capabilities: [u8; 3],
    /// The terminal is unattended.
    pub unattended: bool,
}

/// What happened when the terminal tried a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CvmAttempt {
    /// Performed (for online PIN: entered; the host decides).
    Succeeded,
    /// Performed and failed.
    Failed,
    /// PIN required but the cardholder bypassed it.
    PinNotEntered,
    /// PIN required but no working PIN pad.
    PinPadMissing,
}

/// Result of CVM processing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CvmResult {
    /// CVM Results 9F34: method, condition, result (00 unknown, 01 failed,
    /// 02 successful).
    pub results: [u8; 3],
    /// The method that verified the cardholder.
    pub performed: CvmPerformed,
    /// A signature is required on the receipt.
    pub signature: bool,
    /// TVR bits to set.
    pub tvr_bits: Vec<Bit>,
}

/// Whether a rule's condition holds (Book 3, Annex C3).
fn condition_holds(cond: u8, method: CvmMethod, ctx: &CvmContext, list: &CvmList) -> bool {
    let cash = ctx.txn_type == 0x01 || ctx.txn_type == 0x17;
    let cashback = ctx.txn_type == 0x09;
    let in_app_currency = ctx.app_currency == Some(u64::from(ctx.txn_currency));
    match cond {
        0x00 => true,
        0x01 => cash && ctx.unattended,
        0x02 => !cash && !cashback,
        0x03 => method.supported(ctx.capabilities),
        0x04 => cash && !ctx.unattended,
        0x05 => cashback,
        0x06 => in_app_currency && ctx.amount < list.x,
        0x07 => in_app_currency && ctx.amount > list.x,
        0x08 => in_app_currency && ctx.amount < list.y,
        0x09 => in_app_currency && ctx.amount > list.y,
        _ => false,
    }
}

/// Walks the CVM list. `perform` is called for each method the terminal
/// attempts (it prompts for the online PIN); offline PIN is never offered
/// because the terminal capabilities of a PC/SC till do not list it.
pub fn evaluate_cvm(
    list: &CvmList,
    ctx: &CvmContext,
    perform: &mut dyn FnMut(CvmMethod) -> CvmAttempt,
) -> CvmResult {
    let mut tvr_bits = Vec::new();
    let mut last_failed: Option<(u8, u8)> = None;
    for &(code, cond) in &list.rules {
        let method = CvmMethod::from_code(code);
        let apply_next = code & 0x40 != 0;
        if !condition_holds(cond, method, ctx, list) {
            continue;
        }
        let outcome = if let CvmMethod::Unrecognised(_) = method {
            tvr_bits.push(tvr::UNRECOGNISED_CVM);
            CvmAttempt::Failed
        } else if !method.supported(ctx.capabilities) {
            if matches!(
                method,
                CvmMethod::OnlinePin
                    | CvmMethod::OfflinePlaintextPin
                    | CvmMethod::OfflineEncipheredPin
                    | CvmMethod::OfflinePlaintextPinAndSignature
                    | CvmMethod::OfflineEncipheredPinAndSignature
            ) {
                tvr_bits.push(tvr::PIN_PAD_MISSING);
            }
            CvmAttempt::Failed
        } else {
            perform(method)
        };
        match outcome {
            CvmAttempt::Succeeded => {
                let (performed, result, signature) = match method {
                    CvmMethod::OnlinePin => {
                        tvr_bits.push(tvr::ONLINE_PIN_ENTERED);
                        (CvmPerformed::OnlinePin, 0x00, false)
                    }
                    CvmMethod::Signature => (CvmPerformed::Signature, 0x00, true),
                    CvmMethod::NoCvm => (CvmPerformed::NoCvm, 0x02, false),
                    // Offline PIN methods are never supported here, and
                    // Fail never succeeds; keep the result honest anyway.
                    _ => (CvmPerformed::Failed, 0x01, false),
                };
                return CvmResult {
                    results: [code, cond, result],
                    performed,
                    signature,
                    tvr_bits,
                };
            }
            CvmAttempt::PinNotEntered => tvr_bits.push(tvr::PIN_NOT_ENTERED),
            CvmAttempt::PinPadMissing => tvr_bits.push(tvr::PIN_PAD_MISSING),
            CvmAttempt::Failed => {}
        }
        last_failed = Some((code, cond));
        if !apply_next {
            break;
        }
    }
    tvr_bits.push(tvr::CV_FAILED);
    let results = match last_failed {
        Some((c, k)) => [c, k, 0x01],
        None => [0x3F, 0x00, 0x01],
    };
    CvmResult {
        results,
        performed: CvmPerformed::Failed,
        signature: false,
        tvr_bits,
    }
}

// ---------------------------------------------------------------------------
// Terminal risk management (Book 3, 10.6)
// ---------------------------------------------------------------------------

/// Random transaction selection (Book 3, 10.6.2). `random` is the caller's
/// number in 1..=99 (values outside are clamped).
pub fn random_selection(
    amount: u64,
    floor: u64,
    threshold: u64,
    target: u8,
    max_target: u8,
    random: u8,
) -> bool {
    let random = u64::from(random.clamp(1, 99));
    let target = u64::from(target.min(99));
    let max_target = u64::from(max_target.min(99)).max(target);
    if amount >= floor {
        return false;
    }
    if amount < threshold {
        return random <= target;
    }
    // Biased selection between threshold and floor limit; here
    // threshold <= amount < floor, so floor > threshold.
    let span = floor - threshold;
    let interpolated = target + (max_target - target) * (amount - threshold) / span;
    random <= interpolated
}

/// Velocity checking outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Velocity {
    /// Lower consecutive offline limit exceeded.
    pub lower: bool,
    /// Upper consecutive offline limit exceeded.
    pub upper: bool,
    /// The card has never been online (last online ATC is zero).
    pub new_card: bool,
}

/// Velocity checking (Book 3, 10.6.3) from ATC and last online ATC; either
/// missing sets both limits exceeded.
pub fn velocity(atc: Option<u16>, last_online: Option<u16>, lcol: u8, ucol: u8) -> Velocity {
    match (atc, last_online) {
        (Some(atc), Some(last)) => {
            let offline = atc.saturating_sub(last);
            Velocity {
                lower: offline > u16::from(lcol),
                upper: offline > u16::from(ucol),
                new_card: last == 0,
            }
        }
        _ => Velocity {
            lower: true,
            upper: true,
            new_card: false,
        },
    }
}

// ---------------------------------------------------------------------------
// Terminal action analysis (Book 3, 10.7)
// ---------------------------------------------------------------------------

/// Terminal and issuer action codes; absent IACs are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionCodes {
    /// TAC - denial.
    pub tac_denial: [u8; 5],
    /// TAC - online.
    pub tac_online: [u8; 5],
    /// TAC - default.
    pub tac_default: [u8; 5],
    /// IAC - denial (absent: all zeros).
    pub iac_denial: Option<[u8; 5]>,
    /// IAC - online (absent: all ones).
    pub iac_online: Option<[u8; 5]>,
    /// IAC - default (absent: all ones).
    pub iac_default: Option<[u8; 5]>,
}

fn matches_any(tvr: &[u8; 5], tac: &[u8; 5], iac: &[u8; 5]) -> bool {
    tvr.iter()
        .zip(tac)
        .zip(iac)
        .any(|((t, a), i)| t & (a | i) != 0)
}

/// The cryptogram to ask for at the first GENERATE AC.
pub fn action_analysis(tvr: &[u8; 5], codes: &ActionCodes, online_capable: bool) -> CryptogramType {
    if matches_any(tvr, &codes.tac_denial, &codes.iac_denial.unwrap_or([0; 5])) {
        return CryptogramType::Aac;
    }
    if online_capable {
        if matches_any(
            tvr,
            &codes.tac_online,
            &codes.iac_online.unwrap_or([0xFF; 5]),
        ) {
            CryptogramType::Arqc
        } else {
            CryptogramType::Tc
        }
    } else if matches_any(
        tvr,
        &codes.tac_default,
        &codes.iac_default.unwrap_or([0xFF; 5]),
    ) {
        CryptogramType::Aac
    } else {
        CryptogramType::Tc
    }
}

/// The decision when the host cannot be reached after an ARQC: the default
/// action codes decide (Book 3, 10.7, "unable to go online").
pub fn unable_to_go_online(tvr: &[u8; 5], codes: &ActionCodes) -> CryptogramType {
    if matches_any(
        tvr,
        &codes.tac_default,
        &codes.iac_default.unwrap_or([0xFF; 5]),
    ) {
        CryptogramType::Aac
    } else {
        CryptogramType::Tc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(amount: u64) -> CvmContext {
        CvmContext {
            amount,
            txn_currency: 840,
            app_currency: Some(840),
            txn_type: 0x00,
            capabilities: [0x60, 0x68, 0xC0],
            unattended: false,
        }
    }

    fn list(hexstr: &str) -> CvmList {
        CvmList::parse(&hex::decode(hexstr).unwrap()).unwrap()
    }

    #[test]
    fn cvm_online_pin_first_rule() {
        // X = 0, Y = 0; rules: 42 03 (online PIN if terminal supports, apply
        // next), 1E 03 (signature if supported), 1F 03 (no CVM if supported).
        let l = list("00000000000000004203 1E03 1F03".replace(' ', "").as_str());
        let mut asked = vec![];
        let r = evaluate_cvm(&l, &ctx(10_00), &mut |m| {
            asked.push(m);
            CvmAttempt::Succeeded
        });
        assert_eq!(asked, [CvmMethod::OnlinePin]);
        assert_eq!(r.results, [0x42, 0x03, 0x00]);
        assert_eq!(r.performed, CvmPerformed::OnlinePin);
        assert!(r.tvr_bits.contains(&tvr::ONLINE_PIN_ENTERED));
    }

    #[test]
    fn cvm_pin_bypass_falls_through_to_signature() {
        let l = list("000000000000000042031E031F03");
        let r = evaluate_cvm(&l, &ctx(10_00), &mut |m| match m {
            CvmMethod::OnlinePin => CvmAttempt::PinNotEntered,
            _ => CvmAttempt::Succeeded,
        });
        assert_eq!(r.results, [0x1E, 0x03, 0x00]);
        assert!(r.signature);
        assert!(r.tvr_bits.contains(&tvr::PIN_NOT_ENTERED));
        assert!(!r.tvr_bits.contains(&tvr::CV_FAILED));
    }

    #[test]
    fn cvm_offline_pin_not_supported_without_apply_next_fails() {
        // 01 00: offline plaintext PIN always, no "apply next" -> CV fails.
        let l = list("000000000000000001001F00");
        let r = evaluate_cvm(&l, &ctx(1), &mut |_| panic!("must not be performed"));
        assert_eq!(r.results, [0x01, 0x00, 0x01]);
        assert!(r.tvr_bits.contains(&tvr::CV_FAILED));
        assert!(r.tvr_bits.contains(&tvr::PIN_PAD_MISSING));
    }

    #[test]
    fn cvm_amount_conditions() {
        // X = 50.00: no CVM under X (1F 06), online PIN over X (02 07).
        let l = list("00001388000000001F060207");
        let small = evaluate_cvm(&l, &ctx(49_99), &mut |_| CvmAttempt::Succeeded);
        assert_eq!(small.performed, CvmPerformed::NoCvm);
        assert_eq!(small.results, [0x1F, 0x06, 0x02]);
        let big = evaluate_cvm(&l, &ctx(50_01), &mut |_| CvmAttempt::Succeeded);
        assert_eq!(big.performed, CvmPerformed::OnlinePin);
        // Exactly X matches neither "under" nor "over": no rule applies.
        let exact = evaluate_cvm(&l, &ctx(50_00), &mut |_| CvmAttempt::Succeeded);
        assert_eq!(exact.results, [0x3F, 0x00, 0x01]);
        assert!(exact.tvr_bits.contains(&tvr::CV_FAILED));
        // Other currency: amount conditions never hold.
        let mut c = ctx(10);
        c.txn_currency = 978;
        let other = evaluate_cvm(&l, &c, &mut |_| CvmAttempt::Succeeded);
        assert_eq!(other.results, [0x3F, 0x00, 0x01]);
    }

    #[test]
    fn cvm_unrecognised_code_sets_tvr() {
        let l = list("000000000000000078001F00");
        let r = evaluate_cvm(&l, &ctx(1), &mut |_| CvmAttempt::Succeeded);
        assert!(r.tvr_bits.contains(&tvr::UNRECOGNISED_CVM));
        assert_eq!(r.performed, CvmPerformed::NoCvm);
    }

    #[test]
    fn cvm_list_parse_rejects_short_or_odd() {
        assert!(CvmList::parse(&[0; 8]).is_none());
        assert!(CvmList::parse(&[0; 9]).is_none());
        assert!(CvmList::parse(&[0; 7]).is_none());
    }

    #[test]
    fn random_selection_worked_example() {
        // Floor 50.00, threshold 10.00, target 10 %, max 30 %.
        // Below threshold: selected iff random <= 10.
        assert!(random_selection(5_00, 50_00, 10_00, 10, 30, 10));
        assert!(!random_selection(5_00, 50_00, 10_00, 10, 30, 11));
        // Halfway between threshold and floor: 10 + 20 * 20/40 = 20 %.
        assert!(random_selection(30_00, 50_00, 10_00, 10, 30, 20));
        assert!(!random_selection(30_00, 50_00, 10_00, 10, 30, 21));
        // At/above the floor limit random selection does not apply.
        assert!(!random_selection(50_00, 50_00, 10_00, 10, 30, 1));
        // Target 0 never selects.
        assert!(!random_selection(1, 50_00, 10_00, 0, 0, 1));
    }

    #[test]
    fn velocity_worked_examples() {
        assert_eq!(
            velocity(Some(0x0010), Some(0x000C), 3, 6),
            Velocity {
                lower: true,
                upper: false,
                new_card: false
            }
        );
        assert_eq!(
            velocity(Some(0x0013), Some(0x000C), 3, 6),
            Velocity {
                lower: true,
                upper: true,
                new_card: false
            }
        );
        assert_eq!(
            velocity(Some(2), Some(0), 3, 6),
            Velocity {
                lower: false,
                upper: false,
                new_card: true
            }
        );
        assert_eq!(
            velocity(None, Some(1), 3, 6),
            Velocity {
                lower: true,
                upper: true,
                new_card: false
            }
        );
    }

    fn visa_codes() -> ActionCodes {
        ActionCodes {
            tac_denial: [0x00, 0x10, 0x00, 0x00, 0x00],
            tac_online: [0xDC, 0x40, 0x04, 0xF8, 0x00],
            tac_default: [0xDC, 0x40, 0x00, 0xA8, 0x00],
            iac_denial: Some([0; 5]),
            iac_online: Some([0; 5]),
            iac_default: Some([0; 5]),
        }
    }

    #[test]
    fn taa_worked_examples() {
        let c = visa_codes();
        // Clean TVR: offline approval requested.
        assert_eq!(action_analysis(&[0; 5], &c, true), CryptogramType::Tc);
        // Floor limit exceeded (byte 4 bit 8): online.
        assert_eq!(
            action_analysis(&[0, 0, 0, 0x80, 0], &c, true),
            CryptogramType::Arqc
        );
        // Service not allowed (byte 2 bit 5) is in TAC denial.
        assert_eq!(
            action_analysis(&[0, 0x10, 0, 0, 0], &c, true),
            CryptogramType::Aac
        );
        // Offline-only terminal: floor limit exceeded matches TAC default.
        assert_eq!(
            action_analysis(&[0, 0, 0, 0x80, 0], &c, false),
            CryptogramType::Aac
        );
        // Online PIN entered is in TAC online but not in TAC default: when
        // the host is unreachable the default codes let it through.
        assert_eq!(
            unable_to_go_online(&[0, 0, 0x04, 0, 0], &c),
            CryptogramType::Tc
        );
        assert_eq!(
            unable_to_go_online(&[0, 0, 0x04, 0x80, 0], &c),
            CryptogramType::Aac
        );
        // Absent IAC online/default count as all ones.
        let mut absent = c;
        absent.iac_online = None;
        absent.iac_default = None;
        assert_eq!(
            action_analysis(&[0, 0, 0, 0, 0x01], &absent, true),
            CryptogramType::Arqc
        );
        assert_eq!(
            unable_to_go_online(&[0, 0, 0, 0, 0x01], &absent),
            CryptogramType::Aac
        );
        // IAC denial contributes.
        let mut deny = c;
        deny.iac_denial = Some([0, 0x40, 0, 0, 0]);
        assert_eq!(
            action_analysis(&[0, 0x40, 0, 0, 0], &deny, true),
            CryptogramType::Aac
        );
    }

    #[test]
    fn auc_checks() {
        // FF00: everything domestic/international except cashback.
        assert!(auc_allows([0xFF, 0x00], true, 0x00, false));
        assert!(!auc_allows([0xFF, 0x00], true, 0x09, false));
        // International goods/services bits cleared, international card.
        assert!(!auc_allows([0xEB, 0x00], false, 0x00, false));
        assert!(auc_allows([0xEB, 0x00], true, 0x00, false));
        // Not valid at non-ATM terminals.
        assert!(!auc_allows([0xFE, 0x00], true, 0x00, false));
    }

    #[test]
    fn dates_and_bcd() {
        let d = TxnDate {
            year: 2025,
            month: 6,
            day: 30,
        };
        assert_eq!(d.to_bcd(), [0x25, 0x06, 0x30]);
        assert_eq!(TxnDate::from_bcd(&[0x25, 0x06, 0x30]), Some(d));
        assert_eq!(TxnDate::from_bcd(&[0x99, 0x12, 0x31]).unwrap().year, 1999);
        assert_eq!(TxnDate::from_bcd(&[0x25, 0x13, 0x01]), None);
        assert_eq!(TxnDate::from_bcd(&[0x2A, 0x01, 0x01]), None);
        assert_eq!(bcd_number(1234, 6).unwrap(), [0, 0, 0, 0, 0x12, 0x34]);
        assert_eq!(bcd_number(1_000_000_000_000, 6), None);
        assert_eq!(bcd_value(&[0x08, 0x40]), Some(840));
        assert_eq!(mask_pan("4761739001010010"), "476173******0010");
    }

    #[test]
    fn recovered_frames_too_short_for_a_hash_are_refused() {
        assert!(check_frame(&[0x6A, 0x05, 0xBC], 0x05).is_err());
        let mut ok = vec![0x6A, 0x05];
        ok.resize(22, 0xBB);
        ok.push(0xBC);
        assert!(check_frame(&ok, 0x05).is_ok());
    }

    #[test]
    fn afl_validation() {
        assert_eq!(
            parse_afl(&hex::decode("08010200").unwrap()).unwrap(),
            vec![AflEntry {
                sfi: 1,
                first: 1,
                last: 2,
                oda_count: 0
            }]
        );
        assert!(parse_afl(&[]).is_err());
        assert!(parse_afl(&hex::decode("080102").unwrap()).is_err());
        assert!(parse_afl(&hex::decode("08020100").unwrap()).is_err()); // last < first
        assert!(parse_afl(&hex::decode("08000100").unwrap()).is_err()); // record 0
        assert!(parse_afl(&hex::decode("08010103").unwrap()).is_err()); // ODA count too big
        assert!(parse_afl(&hex::decode("00010100").unwrap()).is_err()); // SFI 0
    }

    #[test]
    fn generate_ac_formats() {
        let f1 = hex::decode("801280000C1122334455667788061112030000009000").unwrap();
        let body = &f1[..f1.len() - 2];
        let r = parse_generate_ac(body).unwrap();
        assert_eq!(r.kind, CryptogramType::Arqc);
        assert_eq!(r.atc, 12);
        assert_eq!(
            r.iad.as_deref(),
            Some(&[0x06, 0x11, 0x12, 0x03, 0x00, 0x00, 0x00][..])
        );
        let f2 = Tlv::constructed(
            0x77,
            vec![
                Tlv::primitive(0x9F27, vec![0x40]),
                Tlv::primitive(0x9F36, vec![0, 1]),
                Tlv::primitive(0x9F26, vec![1; 8]),
            ],
        )
        .to_bytes();
        assert_eq!(parse_generate_ac(&f2).unwrap().kind, CryptogramType::Tc);
        assert!(parse_generate_ac(&hex::decode("8005800001AABB").unwrap()).is_err());
        assert!(parse_generate_ac(&hex::decode("800BC0000C1122334455667788").unwrap()).is_err());
    }
}

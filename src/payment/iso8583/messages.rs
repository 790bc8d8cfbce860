//! Message builders for the host profile: plain data in, a checked
//! [`Message`] out. The EMV kernel and the PIN pad hand over field 55 and the
//! PIN block as bytes; nothing here interprets them.
//!
//! Every builder packs its result once before returning it, so a value that
//! the profile would reject (a letter in a PAN, an oversized QR code) fails
//! here, at the caller, rather than on the wire.

use std::fmt;

use tillpoint_core::tender::mask_pan;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::codec::{pack, CodecError, Message};
use super::profile::{field, network, processing, ReversalReason, HOST_PROFILE};
use super::spec::Mti;

/// Errors from building a request or reading a reply.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    #[error("amount {0} does not fit the 12-digit amount field")]
    AmountOutOfRange(u64),
    #[error("invalid {what}: {why}")]
    Invalid {
        what: &'static str,
        why: &'static str,
    },
    #[error("reply lacks field {0}")]
    MissingField(u8),
    #[error("reply field {0} is malformed")]
    MalformedField(u8),
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// Largest amount field 4 can carry (12 digits).
pub const MAX_AMOUNT: u64 = 999_999_999_999;

/// Largest batch number (private field 60 has six digits).
pub const BATCH_MAX: u32 = 999_999;

/// The batch after `batch`: 1..=999999, wrapping like the STAN (a stored
/// 0 or out-of-range value restarts at 1).
pub fn next_batch(batch: u32) -> u32 {
    if (1..BATCH_MAX).contains(&batch) {
        batch + 1
    } else {
        1
    }
}

/// System trace audit number, 1..=999999. Identifies a message together with
/// the terminal id and the transmission date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Stan(u32);

impl Stan {
    pub const FIRST: Stan = Stan(1);
    pub const MAX: Stan = Stan(999_999);

    pub fn new(value: u32) -> Option<Stan> {
        (1..=999_999).contains(&value).then_some(Stan(value))
    }

    pub fn value(self) -> u32 {
        self.0
    }

    /// The next STAN, wrapping 999999 → 000001.
    pub fn next(self) -> Stan {
        if self.0 >= 999_999 {
            Stan(1)
        } else {
            Stan(self.0 + 1)
        }
    }

    pub fn parse(text: &str) -> Option<Stan> {
        if text.len() != 6 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok().and_then(Stan::new)
    }
}

impl fmt::Display for Stan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06}", self.0)
    }
}

/// A moment as ISO 8583:1987 writes it: month, day and time, no year.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timestamp {
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl Timestamp {
    pub fn new(month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Option<Timestamp> {
        let ok = (1..=12).contains(&month)
            && (1..=31).contains(&day)
            && hour < 24
            && minute < 60
            && second < 60;
        ok.then_some(Timestamp {
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    pub fn from_datetime(t: time::OffsetDateTime) -> Timestamp {
        Timestamp {
            month: u8::from(t.month()),
            day: t.day(),
            hour: t.hour(),
            minute: t.minute(),
            second: t.second(),
        }
    }

    /// Field 7 form, `MMDDhhmmss`.
    pub fn mmddhhmmss(self) -> String {
        format!(
            "{:02}{:02}{:02}{:02}{:02}",
            self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// Field 13 form, `MMDD`; also the date part of a message's identity.
    pub fn mmdd(self) -> String {
        format!("{:02}{:02}", self.month, self.day)
    }

    /// Field 12 form, `hhmmss`.
    pub fn hhmmss(self) -> String {
        format!("{:02}{:02}{:02}", self.hour, self.minute, self.second)
    }

    /// Parses the field 7 form.
    pub fn parse(text: &str) -> Option<Timestamp> {
        let b = text.as_bytes();
        if b.len() != 10 || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let two = |i: usize| -> Option<u8> {
            let hi = b.get(i)?.checked_sub(b'0')?;
            let lo = b.get(i + 1)?.checked_sub(b'0')?;
            Some(hi * 10 + lo)
        };
        Timestamp::new(two(0)?, two(2)?, two(4)?, two(6)?, two(8)?)
    }
}

/// Who is sending: terminal and merchant ids and the till's currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminalIds {
    /// Field 41, up to 8 characters.
    pub tid: String,
    /// Field 42, up to 15 characters.
    pub mid: String,
    /// ISO 4217 numeric currency code, e.g. 978 for EUR (field 49).
    pub currency: u16,
}

/// The per-message identity and context every request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub stan: Stan,
    /// Field 7; kept unchanged on repeats so the host can deduplicate.
    pub transmitted: Timestamp,
    /// Fields 12 and 13: when the transaction happened at the till.
    pub local: Timestamp,
    /// Private field 60: the till's open batch.
    pub batch: u32,
}

/// How the card or code was read (field 22, with PIN capability digit 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Zeroize)]
pub enum EntryMode {
    Manual,
    MagStripe,
    Chip,
    Contactless,
    /// Chip failed, magnetic stripe used.
    Fallback,
    /// A customer-presented QR payment code read by the till's scanner.
    Barcode,
    /// No card read: a refund or void that names its original by field 90
    /// (card not present; the host takes the account from the original).
    Referenced,
}

impl EntryMode {
    pub fn code(self) -> &'static str {
        match self {
            EntryMode::Manual => "011",
            EntryMode::MagStripe => "021",
            EntryMode::Barcode => "031",
            EntryMode::Chip => "051",
            EntryMode::Contactless => "071",
            EntryMode::Fallback => "801",
            EntryMode::Referenced => "001",
        }
    }

    pub fn from_code(code: &str) -> Option<EntryMode> {
        [
            EntryMode::Manual,
            EntryMode::MagStripe,
            EntryMode::Barcode,
            EntryMode::Chip,
            EntryMode::Contactless,
            EntryMode::Fallback,
            EntryMode::Referenced,
        ]
        .into_iter()
        .find(|m| m.code() == code)
    }
}

/// Online PIN from the PIN pad: ISO 9564 block under a DUKPT key, and the KSN
/// that names the key. Wiped on drop; never stored.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct PinData {
    pub block: [u8; 8],
    pub ksn: Vec<u8>,
}

impl fmt::Debug for PinData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinData(<redacted>)")
    }
}

/// Card data for one request, as the EMV kernel or the reader produced it.
/// Wiped on drop; `Debug` shows only the masked PAN.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct CardInput {
    pub pan: String,
    /// `YYMM`.
    pub expiry: Option<String>,
    /// Card (PAN) sequence number, three digits.
    pub sequence: Option<String>,
    /// Track 2 equivalent data, digits with `=` or `D` separator.
    pub track2: Option<String>,
    pub entry: EntryMode,
    /// Field 55 as the kernel built it (ARQC or TC and its data).
    pub icc: Option<Vec<u8>>,
    pub pin: Option<PinData>,
}

impl CardInput {
    /// First six and last four digits, the only form of a PAN that may be
    /// shown, logged or stored outside the encrypted outbox.
    pub fn masked_pan(&self) -> String {
        mask_pan(&self.pan)
    }
}

impl fmt::Debug for CardInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardInput")
            .field("pan", &self.masked_pan())
            .field("entry", &self.entry)
            .finish_non_exhaustive()
    }
}

/// The transaction types this profile carries in field 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxnKind {
    Purchase,
    Refund,
    /// Cancels a purchase of the open batch (same day).
    VoidPurchase,
}

impl TxnKind {
    pub fn processing_code(self) -> &'static str {
        match self {
            TxnKind::Purchase => processing::PURCHASE,
            TxnKind::Refund => processing::REFUND,
            TxnKind::VoidPurchase => processing::VOID_PURCHASE,
        }
    }

    pub fn from_processing_code(code: &str) -> Option<TxnKind> {
        match code {
            processing::PURCHASE => Some(TxnKind::Purchase),
            processing::REFUND => Some(TxnKind::Refund),
            processing::VOID_PURCHASE => Some(TxnKind::VoidPurchase),
            _ => None,
        }
    }
}

/// Field 90: what a reversal, void or batch upload refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OriginalData {
    pub mti: Mti,
    pub stan: Stan,
    pub transmitted: Timestamp,
}

impl OriginalData {
    /// `MTI(4) STAN(6) MMDDhhmmss(10) acquirer id(11) forwarder id(11)`; the
    /// two institution ids are zeros in this profile.
    pub fn encode(&self) -> String {
        format!(
            "{}{}{}{:011}{:011}",
            self.mti,
            self.stan,
            self.transmitted.mmddhhmmss(),
            0,
            0
        )
    }

    pub fn decode(text: &str) -> Option<OriginalData> {
        if text.len() != 42 {
            return None;
        }
        Some(OriginalData {
            mti: Mti::from_ascii(text.get(0..4)?.as_bytes())?,
            stan: Stan::parse(text.get(4..10)?)?,
            transmitted: Timestamp::parse(text.get(10..20)?)?,
        })
    }
}

/// The host's reference to an approved transaction, needed to void it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginalRef {
    pub data: OriginalData,
    pub rrn: String,
    pub auth_code: String,
}

/// Settlement figures for one batch: purchases are debits, refunds credits;
/// voided and reversed transactions are not counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub debits_count: u64,
    pub debits_amount: u64,
    pub credits_count: u64,
    pub credits_amount: u64,
}

/// One transaction of the batch, as 0320 uploads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadItem {
    pub original: OriginalData,
    pub kind: TxnKind,
    pub amount: u64,
    pub local: Timestamp,
    pub rrn: Option<String>,
    pub auth_code: Option<String>,
}

/// 0800 purposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetworkRequest {
    SignOn,
    SignOff,
    Echo,
}

/// Right-pads fixed `ans` fields so a built message equals its decoded form
/// (the codec would pad on the wire anyway).
pub fn pad_text(value: &str, width: usize) -> String {
    format!("{value:<width$}")
}

fn amount_field(amount: u64) -> Result<String, BuildError> {
    if amount > MAX_AMOUNT {
        return Err(BuildError::AmountOutOfRange(amount));
    }
    Ok(format!("{amount:012}"))
}

fn header(mti: Mti, ids: &TerminalIds, stamp: &Stamp) -> Result<Message, BuildError> {
    if ids.currency > 999 {
        return Err(BuildError::Invalid {
            what: "currency",
            why: "ISO 4217 numeric codes have three digits",
        });
    }
    let mut m = Message::new(mti);
    m.set_str(field::TRANSMISSION, &stamp.transmitted.mmddhhmmss())?;
    m.set_str(field::STAN, &stamp.stan.to_string())?;
    m.set_str(field::TID, &pad_text(&ids.tid, 8))?;
    Ok(m)
}

fn merchant_fields(m: &mut Message, ids: &TerminalIds, stamp: &Stamp) -> Result<(), BuildError> {
    m.set_str(field::LOCAL_TIME, &stamp.local.hhmmss())?;
    m.set_str(field::LOCAL_DATE, &stamp.local.mmdd())?;
    m.set_str(field::MID, &pad_text(&ids.mid, 15))?;
    m.set_str(field::CURRENCY, &format!("{:03}", ids.currency))?;
    if !(1..=BATCH_MAX).contains(&stamp.batch) {
        return Err(BuildError::Invalid {
            what: "batch number",
            why: "outside 1..=999999",
        });
    }
    m.set_str(field::BATCH, &format!("{:06}", stamp.batch))?;
    Ok(())
}

fn card_fields(m: &mut Message, card: &CardInput) -> Result<(), BuildError> {
    if card.pan.is_empty() {
        return Err(BuildError::Invalid {
            what: "PAN",
            why: "empty",
        });
    }
    m.set_str(field::PAN, &card.pan)?;
    if let Some(e) = &card.expiry {
        m.set_str(field::EXPIRY, e)?;
    }
    if let Some(s) = &card.sequence {
        m.set_str(field::CARD_SEQUENCE, s)?;
    }
    if let Some(t) = &card.track2 {
        m.set_str(field::TRACK2, t)?;
    }
    m.set_str(field::ENTRY_MODE, card.entry.code())?;
    if let Some(icc) = &card.icc {
        m.set(field::ICC, icc.clone())?;
    }
    if let Some(pin) = &card.pin {
        m.set(field::PIN_BLOCK, pin.block.to_vec())?;
        m.set(field::SECURITY_INFO, pin.ksn.clone())?;
    }
    Ok(())
}

fn checked(m: Message) -> Result<Message, BuildError> {
    let mut bytes = pack(&HOST_PROFILE, &m)?;
    bytes.zeroize();
    Ok(m)
}

/// 0200 purchase (processing code 00) or refund (20) with card data.
pub fn financial(
    ids: &TerminalIds,
    stamp: &Stamp,
    kind: TxnKind,
    amount: u64,
    card: &CardInput,
) -> Result<Message, BuildError> {
    if kind == TxnKind::VoidPurchase {
        return Err(BuildError::Invalid {
            what: "transaction kind",
            why: "a void needs the original; use void_purchase",
        });
    }
    let mut m = header(Mti::FINANCIAL_REQUEST, ids, stamp)?;
    m.set_str(field::PROCESSING_CODE, kind.processing_code())?;
    m.set_str(field::AMOUNT, &amount_field(amount)?)?;
    m.set_str(field::CONDITION_CODE, "00")?;
    merchant_fields(&mut m, ids, stamp)?;
    card_fields(&mut m, card)?;
    checked(m)
}

/// 0200 purchase.
pub fn purchase(
    ids: &TerminalIds,
    stamp: &Stamp,
    amount: u64,
    card: &CardInput,
) -> Result<Message, BuildError> {
    financial(ids, stamp, TxnKind::Purchase, amount, card)
}

/// 0200 refund.
pub fn refund(
    ids: &TerminalIds,
    stamp: &Stamp,
    amount: u64,
    card: &CardInput,
) -> Result<Message, BuildError> {
    financial(ids, stamp, TxnKind::Refund, amount, card)
}

/// 0200 void (processing code 02) of a purchase in the open batch. Carries
/// the original's RRN and auth code (37, 38) and its identity (90).
pub fn void_purchase(
    ids: &TerminalIds,
    stamp: &Stamp,
    amount: u64,
    card: &CardInput,
    original: &OriginalRef,
) -> Result<Message, BuildError> {
    let mut m = header(Mti::FINANCIAL_REQUEST, ids, stamp)?;
    m.set_str(
        field::PROCESSING_CODE,
        TxnKind::VoidPurchase.processing_code(),
    )?;
    m.set_str(field::AMOUNT, &amount_field(amount)?)?;
    m.set_str(field::CONDITION_CODE, "00")?;
    merchant_fields(&mut m, ids, stamp)?;
    card_fields(&mut m, card)?;
    m.set_str(field::RRN, &pad_text(&original.rrn, 12))?;
    m.set_str(field::AUTH_CODE, &pad_text(&original.auth_code, 6))?;
    m.set_str(field::ORIGINAL_DATA, &original.data.encode())?;
    checked(m)
}

/// 0200 refund (20) or void (02) without the card: the original is named by
/// field 90 and, when the till knows them, its RRN and auth code (37, 38).
/// Entry mode `001`; no card field at all, so nothing of the card needs to
/// be kept after the sale. The host checks the amount against the original
/// (a void must match it, refunds together must not exceed it).
pub fn referenced(
    ids: &TerminalIds,
    stamp: &Stamp,
    kind: TxnKind,
    amount: u64,
    original: &OriginalRef,
) -> Result<Message, BuildError> {
    if kind == TxnKind::Purchase {
        return Err(BuildError::Invalid {
            what: "transaction kind",
            why: "only a refund or a void can refer to an original",
        });
    }
    let mut m = header(Mti::FINANCIAL_REQUEST, ids, stamp)?;
    m.set_str(field::PROCESSING_CODE, kind.processing_code())?;
    m.set_str(field::AMOUNT, &amount_field(amount)?)?;
    m.set_str(field::ENTRY_MODE, EntryMode::Referenced.code())?;
    m.set_str(field::CONDITION_CODE, "00")?;
    merchant_fields(&mut m, ids, stamp)?;
    if !original.rrn.trim().is_empty() {
        m.set_str(field::RRN, &pad_text(&original.rrn, 12))?;
    }
    if !original.auth_code.trim().is_empty() {
        m.set_str(field::AUTH_CODE, &pad_text(&original.auth_code, 6))?;
    }
    m.set_str(field::ORIGINAL_DATA, &original.data.encode())?;
    checked(m)
}

/// 0200 purchase paid with a customer-presented QR payment code: entry mode
/// barcode (031), the code in private field 62, no card fields.
pub fn qr_purchase(
    ids: &TerminalIds,
    stamp: &Stamp,
    amount: u64,
    code: &str,
) -> Result<Message, BuildError> {
    if code.len() < 8 {
        return Err(BuildError::Invalid {
            what: "QR payment code",
            why: "shorter than 8 characters",
        });
    }
    let mut m = header(Mti::FINANCIAL_REQUEST, ids, stamp)?;
    m.set_str(field::PROCESSING_CODE, processing::PURCHASE)?;
    m.set_str(field::AMOUNT, &amount_field(amount)?)?;
    m.set_str(field::ENTRY_MODE, EntryMode::Barcode.code())?;
    m.set_str(field::CONDITION_CODE, "00")?;
    merchant_fields(&mut m, ids, stamp)?;
    m.set_str(field::QR_CODE, code)?;
    checked(m)
}

/// 0220 advice of a chip transaction the card approved offline (TC in field
/// 55, offline auth code such as `Y1` in field 38); 0221 when `repeat`.
pub fn offline_advice(
    ids: &TerminalIds,
    stamp: &Stamp,
    kind: TxnKind,
    amount: u64,
    card: &CardInput,
    auth_code: &str,
    repeat: bool,
) -> Result<Message, BuildError> {
    let mti = if repeat {
        Mti::FINANCIAL_ADVICE_REPEAT
    } else {
        Mti::FINANCIAL_ADVICE
    };
    let mut m = header(mti, ids, stamp)?;
    m.set_str(field::PROCESSING_CODE, kind.processing_code())?;
    m.set_str(field::AMOUNT, &amount_field(amount)?)?;
    m.set_str(field::CONDITION_CODE, "00")?;
    merchant_fields(&mut m, ids, stamp)?;
    card_fields(&mut m, card)?;
    m.remove(field::PIN_BLOCK);
    m.remove(field::SECURITY_INFO);
    m.set_str(field::AUTH_CODE, &pad_text(auth_code, 6))?;
    checked(m)
}

/// 0400 reversal (0401 when `repeat`). Carries no card data: the host finds
/// the original by terminal id and field 90, so a pending reversal can be
/// stored without a PAN.
pub fn reversal(
    ids: &TerminalIds,
    stamp: &Stamp,
    original: &OriginalData,
    kind: TxnKind,
    amount: u64,
    reason: ReversalReason,
    repeat: bool,
) -> Result<Message, BuildError> {
    let mti = if repeat {
        Mti::REVERSAL_REPEAT
    } else {
        Mti::REVERSAL
    };
    let mut m = header(mti, ids, stamp)?;
    m.set_str(field::PROCESSING_CODE, kind.processing_code())?;
    m.set_str(field::AMOUNT, &amount_field(amount)?)?;
    merchant_fields(&mut m, ids, stamp)?;
    m.set_str(field::REVERSAL_REASON, reason.code())?;
    m.set_str(field::ORIGINAL_DATA, &original.encode())?;
    checked(m)
}

/// 0500 settlement request for the batch in `stamp.batch`; processing code
/// 96 after a batch upload, 92 otherwise.
pub fn settlement(
    ids: &TerminalIds,
    stamp: &Stamp,
    totals: &Totals,
    after_upload: bool,
) -> Result<Message, BuildError> {
    let mut m = header(Mti::SETTLEMENT, ids, stamp)?;
    let code = if after_upload {
        processing::SETTLEMENT_AFTER_UPLOAD
    } else {
        processing::SETTLEMENT
    };
    m.set_str(field::PROCESSING_CODE, code)?;
    merchant_fields(&mut m, ids, stamp)?;
    set_totals(&mut m, totals)?;
    checked(m)
}

/// Writes fields 74/76/86/88.
pub fn set_totals(m: &mut Message, totals: &Totals) -> Result<(), BuildError> {
    let count = |n: u64| {
        if n > 9_999_999_999 {
            Err(BuildError::Invalid {
                what: "settlement count",
                why: "more than 10 digits",
            })
        } else {
            Ok(format!("{n:010}"))
        }
    };
    let amount = |n: u64| format!("{n:016}");
    m.set_str(field::CREDITS_COUNT, &count(totals.credits_count)?)?;
    m.set_str(field::DEBITS_COUNT, &count(totals.debits_count)?)?;
    m.set_str(field::CREDITS_AMOUNT, &amount(totals.credits_amount))?;
    m.set_str(field::DEBITS_AMOUNT, &amount(totals.debits_amount))?;
    Ok(())
}

/// Reads fields 74/76/86/88; `None` if any is missing.
pub fn get_totals(m: &Message) -> Option<Totals> {
    let num = |f: u8| m.get_str(f).and_then(|s| s.parse::<u64>().ok());
    Some(Totals {
        credits_count: num(field::CREDITS_COUNT)?,
        debits_count: num(field::DEBITS_COUNT)?,
        credits_amount: num(field::CREDITS_AMOUNT)?,
        debits_amount: num(field::DEBITS_AMOUNT)?,
    })
}

/// 0320 batch upload of one transaction, identified by field 90; the message
/// itself has a fresh STAN.
pub fn batch_upload(
    ids: &TerminalIds,
    stamp: &Stamp,
    item: &UploadItem,
) -> Result<Message, BuildError> {
    let mut m = header(Mti::BATCH_UPLOAD, ids, stamp)?;
    m.set_str(field::PROCESSING_CODE, item.kind.processing_code())?;
    m.set_str(field::AMOUNT, &amount_field(item.amount)?)?;
    let local = Stamp {
        local: item.local,
        ..*stamp
    };
    merchant_fields(&mut m, ids, &local)?;
    if let Some(rrn) = &item.rrn {
        m.set_str(field::RRN, &pad_text(rrn, 12))?;
    }
    if let Some(code) = &item.auth_code {
        m.set_str(field::AUTH_CODE, &pad_text(code, 6))?;
    }
    m.set_str(field::ORIGINAL_DATA, &item.original.encode())?;
    checked(m)
}

/// 0800 sign-on or echo.
pub fn network_request(
    ids: &TerminalIds,
    stamp: &Stamp,
    kind: NetworkRequest,
) -> Result<Message, BuildError> {
    let mut m = header(Mti::NETWORK, ids, stamp)?;
    let code = match kind {
        NetworkRequest::SignOn => network::SIGN_ON,
        NetworkRequest::SignOff => network::SIGN_OFF,
        NetworkRequest::Echo => network::ECHO,
    };
    m.set_str(field::NETWORK_CODE, code)?;
    checked(m)
}

/// What the till needs from any response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub mti: Mti,
    pub stan: Stan,
    pub tid: String,
    pub response_code: String,
    pub rrn: Option<String>,
    pub auth_code: Option<String>,
    /// Field 55 of a 0210: issuer authentication data (tag 91, the ARPC) and
    /// issuer scripts, for the second GENERATE AC.
    pub icc: Option<Vec<u8>>,
    /// Host totals of a 0510.
    pub totals: Option<Totals>,
}

impl Reply {
    pub fn approved(&self) -> bool {
        self.response_code == super::profile::response::APPROVED
    }
}

/// Extracts a [`Reply`]; fails if the identity fields are missing.
pub fn parse_reply(m: &Message) -> Result<Reply, BuildError> {
    let text = |f: u8| -> Result<String, BuildError> {
        m.get_str(f)
            .map(str::to_owned)
            .ok_or(BuildError::MissingField(f))
    };
    let stan = Stan::parse(&text(field::STAN)?).ok_or(BuildError::MalformedField(field::STAN))?;
    Ok(Reply {
        mti: m.mti,
        stan,
        tid: text(field::TID)?.trim_end().to_owned(),
        response_code: text(field::RESPONSE_CODE)?,
        rrn: m.get_str(field::RRN).map(|s| s.trim_end().to_owned()),
        auth_code: m.get_str(field::AUTH_CODE).map(|s| s.trim_end().to_owned()),
        icc: m.get(field::ICC).map(<[u8]>::to_vec),
        totals: get_totals(m),
    })
}

/// Whether `reply` answers `request`: response MTI, same STAN and terminal.
pub fn answers(request: &Message, reply: &Message) -> bool {
    reply.mti == request.mti.response()
        && reply.get(field::STAN) == request.get(field::STAN)
        && reply.get_str(field::TID).map(str::trim_end)
            == request.get_str(field::TID).map(str::trim_end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iso8583::codec::unpack;

    fn ids() -> TerminalIds {
        TerminalIds {
            tid: "TILL0001".into(),
            mid: "SHOP00000000001".into(),
            currency: 978,
        }
    }

    fn stamp(stan: u32) -> Stamp {
        Stamp {
            stan: Stan::new(stan).unwrap(),
            transmitted: Timestamp::new(3, 14, 15, 9, 26).unwrap(),
            local: Timestamp::new(3, 14, 16, 9, 26).unwrap(),
            batch: 7,
        }
    }

    /// Fixed stand-ins for the EMV kernel's field 55 and the PIN pad's block
    /// until those modules land.
    const ICC: [u8; 14] = [0x9f, 0x26, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x9f, 0x27, 0x00];
    const PIN_BLOCK: [u8; 8] = [0x04, 0x12, 0x8f, 0xfe, 0xdc, 0xba, 0x98, 0x76];

    fn card() -> CardInput {
        CardInput {
            pan: "4761739001010010".into(),
            expiry: Some("3012".into()),
            sequence: Some("001".into()),
            track2: Some("4761739001010010D30122011143878089".into()),
            entry: EntryMode::Chip,
            icc: Some(ICC.to_vec()),
            pin: Some(PinData {
                block: PIN_BLOCK,
                ksn: vec![0xff, 0xff, 0x98, 0x76, 0x54, 0x32, 0x10, 0xe0, 0x00, 0x01],
            }),
        }
    }

    fn round_trip(m: &Message) -> Message {
        let bytes = pack(&HOST_PROFILE, m).unwrap();
        let back = unpack(&HOST_PROFILE, &bytes).unwrap();
        assert_eq!(&back, m);
        back
    }

    #[test]
    fn batch_numbers_wrap_and_a_bad_one_is_refused() {
        assert_eq!(next_batch(1), 2);
        assert_eq!(next_batch(BATCH_MAX), 1);
        assert_eq!(next_batch(0), 1);
        assert_eq!(next_batch(u32::MAX), 1);
        let mut s = stamp(9);
        s.batch = 1_000_000;
        assert!(matches!(
            settlement(&ids(), &s, &Totals::default(), false),
            Err(BuildError::Invalid {
                what: "batch number",
                ..
            })
        ));
    }

    #[test]
    fn purchase_carries_card_pin_and_chip_data() {
        let m = round_trip(&purchase(&ids(), &stamp(1), 1234, &card()).unwrap());
        assert_eq!(m.mti, Mti::FINANCIAL_REQUEST);
        assert_eq!(m.get_str(3), Some("000000"));
        assert_eq!(m.get_str(4), Some("000000001234"));
        assert_eq!(m.get_str(7), Some("0314150926"));
        assert_eq!(m.get_str(11), Some("000001"));
        assert_eq!(m.get_str(12), Some("160926"));
        assert_eq!(m.get_str(13), Some("0314"));
        assert_eq!(m.get_str(22), Some("051"));
        assert_eq!(m.get(52), Some(&PIN_BLOCK[..]));
        assert_eq!(m.get(55), Some(&ICC[..]));
        assert_eq!(m.get_str(60), Some("000007"));
        assert_eq!(m.get_str(49), Some("978"));
    }

    #[test]
    fn refund_and_void_processing_codes() {
        let r = round_trip(&refund(&ids(), &stamp(2), 500, &card()).unwrap());
        assert_eq!(r.get_str(3), Some("200000"));
        let original = OriginalRef {
            data: OriginalData {
                mti: Mti::FINANCIAL_REQUEST,
                stan: Stan::new(1).unwrap(),
                transmitted: Timestamp::new(3, 14, 15, 9, 26).unwrap(),
            },
            rrn: "000000000042".into(),
            auth_code: "A00042".into(),
        };
        let v = round_trip(&void_purchase(&ids(), &stamp(3), 1234, &card(), &original).unwrap());
        assert_eq!(v.get_str(3), Some("020000"));
        assert_eq!(v.get_str(37), Some("000000000042"));
        assert_eq!(
            v.get_str(90),
            Some("020000000103141509260000000000000000000000")
        );
        assert!(financial(&ids(), &stamp(3), TxnKind::VoidPurchase, 1, &card()).is_err());
    }

    #[test]
    fn referenced_refund_and_void_carry_no_card_field() {
        let mut original = OriginalRef {
            data: OriginalData {
                mti: Mti::FINANCIAL_ADVICE,
                stan: Stan::new(7).unwrap(),
                transmitted: Timestamp::new(3, 14, 15, 9, 26).unwrap(),
            },
            rrn: String::new(),
            auth_code: "Y1".into(),
        };
        let r =
            round_trip(&referenced(&ids(), &stamp(4), TxnKind::Refund, 250, &original).unwrap());
        assert_eq!(r.get_str(3), Some("200000"));
        assert_eq!(r.get_str(22), Some("001"));
        assert_eq!(r.get_str(38), Some("Y1    "));
        assert!(
            !r.has(37),
            "an advice's RRN is unknown to the till: not sent"
        );
        assert_eq!(
            r.get_str(90),
            Some("022000000703141509260000000000000000000000")
        );
        for f in [2, 14, 23, 35, 52, 53, 55, 62] {
            assert!(!r.has(f), "field {f} must not be in a referenced message");
        }
        original.rrn = "000000000042".into();
        let v = round_trip(
            &referenced(&ids(), &stamp(5), TxnKind::VoidPurchase, 1234, &original).unwrap(),
        );
        assert_eq!(v.get_str(3), Some("020000"));
        assert_eq!(v.get_str(37), Some("000000000042"));
        assert!(referenced(&ids(), &stamp(6), TxnKind::Purchase, 1, &original).is_err());
    }

    #[test]
    fn qr_purchase_uses_barcode_entry_and_private_field() {
        let code = "284512345678901234";
        let m = round_trip(&qr_purchase(&ids(), &stamp(4), 990, code).unwrap());
        assert_eq!(m.get_str(22), Some("031"));
        assert_eq!(m.get_str(62), Some(code));
        assert!(!m.has(2) && !m.has(35) && !m.has(55));
        assert!(qr_purchase(&ids(), &stamp(4), 990, "short").is_err());
        assert!(matches!(
            qr_purchase(&ids(), &stamp(4), 990, &"9".repeat(513)),
            Err(BuildError::Codec(CodecError::TooLong { field: 62, .. }))
        ));
    }

    #[test]
    fn advice_and_repeat() {
        let a = round_trip(
            &offline_advice(
                &ids(),
                &stamp(5),
                TxnKind::Purchase,
                700,
                &card(),
                "Y1",
                false,
            )
            .unwrap(),
        );
        assert_eq!(a.mti, Mti::FINANCIAL_ADVICE);
        assert_eq!(a.get_str(38), Some("Y1    "));
        assert!(!a.has(52), "an advice never carries a PIN block");
        let r = offline_advice(
            &ids(),
            &stamp(5),
            TxnKind::Purchase,
            700,
            &card(),
            "Y1",
            true,
        )
        .unwrap();
        assert_eq!(r.mti, Mti::FINANCIAL_ADVICE_REPEAT);
        assert_eq!(r.get(11), a.get(11));
    }

    #[test]
    fn reversal_has_original_and_reason_but_no_card_data() {
        let original = OriginalData {
            mti: Mti::FINANCIAL_REQUEST,
            stan: Stan::new(41).unwrap(),
            transmitted: Timestamp::new(12, 31, 23, 59, 58).unwrap(),
        };
        let m = round_trip(
            &reversal(
                &ids(),
                &stamp(42),
                &original,
                TxnKind::Purchase,
                1234,
                ReversalReason::Timeout,
                false,
            )
            .unwrap(),
        );
        assert_eq!(m.mti, Mti::REVERSAL);
        assert_eq!(m.get_str(61), Some("01"));
        assert_eq!(OriginalData::decode(m.get_str(90).unwrap()), Some(original));
        for f in [2, 14, 35, 52, 53, 55] {
            assert!(!m.has(f), "reversal carries field {f}");
        }
        let rep = reversal(
            &ids(),
            &stamp(42),
            &original,
            TxnKind::Purchase,
            1234,
            ReversalReason::Timeout,
            true,
        )
        .unwrap();
        assert_eq!(rep.mti, Mti::REVERSAL_REPEAT);
    }

    #[test]
    fn settlement_and_upload() {
        let totals = Totals {
            debits_count: 3,
            debits_amount: 4500,
            credits_count: 1,
            credits_amount: 300,
        };
        let s = round_trip(&settlement(&ids(), &stamp(6), &totals, false).unwrap());
        assert_eq!(s.get_str(3), Some("920000"));
        assert_eq!(s.get_str(76), Some("0000000003"));
        assert_eq!(s.get_str(88), Some("0000000000004500"));
        assert_eq!(get_totals(&s), Some(totals));
        let s2 = settlement(&ids(), &stamp(7), &totals, true).unwrap();
        assert_eq!(s2.get_str(3), Some("960000"));

        let item = UploadItem {
            original: OriginalData {
                mti: Mti::FINANCIAL_ADVICE,
                stan: Stan::new(9).unwrap(),
                transmitted: Timestamp::new(3, 14, 10, 0, 0).unwrap(),
            },
            kind: TxnKind::Refund,
            amount: 300,
            local: Timestamp::new(3, 14, 9, 0, 0).unwrap(),
            rrn: None,
            auth_code: Some("Y1".into()),
        };
        let u = round_trip(&batch_upload(&ids(), &stamp(8), &item).unwrap());
        assert_eq!(u.mti, Mti::BATCH_UPLOAD);
        assert_eq!(u.get_str(3), Some("200000"));
        assert_eq!(u.get_str(12), Some("090000"));
        assert!(!u.has(2));
    }

    #[test]
    fn network_requests() {
        let e = round_trip(&network_request(&ids(), &stamp(9), NetworkRequest::Echo).unwrap());
        assert_eq!(e.get_str(70), Some("301"));
        let s = network_request(&ids(), &stamp(9), NetworkRequest::SignOn).unwrap();
        assert_eq!(s.get_str(70), Some("001"));
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert_eq!(
            purchase(&ids(), &stamp(1), MAX_AMOUNT + 1, &card()),
            Err(BuildError::AmountOutOfRange(MAX_AMOUNT + 1))
        );
        let mut c = card();
        c.pan = "4761x39001010010".into();
        assert!(matches!(
            purchase(&ids(), &stamp(1), 1, &c),
            Err(BuildError::Codec(CodecError::BadCharacter { field: 2, .. }))
        ));
        let mut long_tid = ids();
        long_tid.tid = "TOOLONGTID".into();
        assert!(purchase(&long_tid, &stamp(1), 1, &card()).is_err());
    }

    #[test]
    fn reply_parsing_and_matching() {
        let req = purchase(&ids(), &stamp(11), 100, &card()).unwrap();
        let mut resp = Message::new(Mti::FINANCIAL_RESPONSE);
        resp.set_str(11, "000011").unwrap();
        resp.set_str(41, "TILL0001").unwrap();
        resp.set_str(39, "00").unwrap();
        resp.set_str(37, "000000000001").unwrap();
        resp.set_str(38, "123456").unwrap();
        assert!(answers(&req, &resp));
        let reply = parse_reply(&resp).unwrap();
        assert!(reply.approved());
        assert_eq!(reply.stan, Stan::new(11).unwrap());
        assert_eq!(reply.rrn.as_deref(), Some("000000000001"));

        let mut other = resp.clone();
        other.set_str(11, "000012").unwrap();
        assert!(!answers(&req, &other));
        other.remove(39);
        assert_eq!(parse_reply(&other), Err(BuildError::MissingField(39)));
    }

    #[test]
    fn stan_timestamp_and_mask_helpers() {
        assert_eq!(Stan::new(999_999).unwrap().next(), Stan::new(1).unwrap());
        assert_eq!(Stan::new(0), None);
        assert_eq!(Stan::parse("000123"), Stan::new(123));
        assert_eq!(Stan::parse("12345"), None);
        assert_eq!(Timestamp::parse("1332000000"), None);
        let t = Timestamp::parse("0229235959").unwrap();
        assert_eq!(t.mmddhhmmss(), "0229235959");
        assert_eq!(mask_pan("4761739001010010"), "476173******0010");
        assert_eq!(mask_pan("1234"), "****");
        let c = card();
        assert!(!format!("{c:?}").contains("4761739001010010"));
        assert_eq!(EntryMode::from_code("031"), Some(EntryMode::Barcode));
    }
}

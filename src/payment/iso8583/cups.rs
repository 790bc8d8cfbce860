//! The CUPS-style binary POS profile (`[acquirer] profile = "cups"`): what a
//! till at a Chinese acquirer speaks. PROFILE.md, "The cups profile",
//! documents it field by field; this module is its field table, its TPDU and
//! header, its composite fields, and the one translation between its fields
//! and the generic profile's.
//!
//! The till's session and the host simulator build and read messages in the
//! generic profile's layout (one meaning per field number); [`to_wire`] and
//! [`from_wire`] move those meanings to where this profile carries them
//! (the batch and the network code into the composite field 60, settlement
//! totals into field 48, the original's identity into field 61, a refund to
//! 0220 with message type code 25, the reversal reason into field 39, the
//! PIN's security control into field 53), so each rule lives once, in a
//! table a reader can hold against the specification.

use super::codec::Message;
use super::profile::{field, network, processing};
use super::spec::{BitmapEncoding, Charset, Digits, FieldSpec, Mti, Prefix, Spec};

use Charset::{Binary, Numeric, Text, Track2};

/// Field numbers this profile adds to the generic ones.
pub mod cups_field {
    /// Settlement date (answers).
    pub const SETTLEMENT_DATE: u8 = 15;
    /// PIN capture code: the most PIN digits the terminal accepts.
    pub const PIN_CAPTURE: u8 = 26;
    /// Acquiring institution id (answers).
    pub const ACQUIRER_ID: u8 = 32;
    /// Settlement totals and the reconciliation code.
    pub const TOTALS: u8 = 48;
    /// Composite: message type code, batch, network code, capabilities.
    pub const RESERVED_60: u8 = 60;
    /// Composite: the original's batch, trace number and date.
    pub const ORIGINAL: u8 = 61;
    /// Working keys (sign-on answer) or the payment code (barcode purchase).
    pub const RESERVED_62: u8 = 62;
    /// Operator (requests) or card organisation (answers).
    pub const RESERVED_63: u8 = 63;
    /// Message authentication code.
    pub const MAC: u8 = 64;
}

static FIELDS: [FieldSpec; 32] = [
    FieldSpec::llvar(2, "primary account number", 19, Numeric),
    FieldSpec::fixed(3, "processing code", 6, Numeric),
    FieldSpec::fixed(4, "amount, transaction", 12, Numeric),
    FieldSpec::fixed(7, "transmission date and time", 10, Numeric),
    FieldSpec::fixed(11, "system trace audit number", 6, Numeric),
    FieldSpec::fixed(12, "time, local transaction", 6, Numeric),
    FieldSpec::fixed(13, "date, local transaction", 4, Numeric),
    FieldSpec::fixed(14, "date, expiration", 4, Numeric),
    FieldSpec::fixed(15, "date, settlement", 4, Numeric),
    FieldSpec::fixed(22, "point of service entry mode", 3, Numeric).left(),
    FieldSpec::fixed(23, "card sequence number", 3, Numeric),
    FieldSpec::fixed(25, "point of service condition code", 2, Numeric),
    FieldSpec::fixed(26, "point of service PIN capture code", 2, Numeric),
    FieldSpec::llvar(32, "acquiring institution identification code", 11, Numeric),
    FieldSpec::llvar(35, "track 2 data", 37, Track2),
    FieldSpec::fixed(37, "retrieval reference number", 12, Text),
    FieldSpec::fixed(38, "authorization identification response", 6, Text),
    FieldSpec::fixed(39, "response code", 2, Text),
    FieldSpec::fixed(41, "card acceptor terminal identification", 8, Text),
    FieldSpec::fixed(42, "card acceptor identification code", 15, Text),
    FieldSpec::lllvar(44, "additional response data", 25, Text),
    FieldSpec::lllvar(48, "additional data: settlement totals", 62, Numeric),
    FieldSpec::fixed(49, "currency code, transaction", 3, Text),
    FieldSpec::fixed(52, "PIN data", 8, Binary),
    FieldSpec::fixed(53, "security related control information", 16, Numeric),
    FieldSpec::lllvar(54, "additional amounts", 120, Text),
    FieldSpec::lllvar(55, "ICC system related data", 255, Binary),
    FieldSpec::lllvar(
        60,
        "reserved private: message type, batch, network code",
        17,
        Numeric,
    ),
    FieldSpec::lllvar(
        61,
        "original message: batch, trace number, date",
        29,
        Numeric,
    ),
    FieldSpec::lllvar(
        62,
        "reserved private: working keys or payment code",
        512,
        Binary,
    ),
    FieldSpec::lllvar(
        63,
        "reserved private: operator or card organisation",
        163,
        Text,
    ),
    FieldSpec::fixed(64, "message authentication code", 8, Binary),
];

/// The cups profile's codec table: BCD digits and lengths, binary bitmap.
pub static CUPS_PROFILE: Spec = Spec {
    name: "tillpoint cups profile v1",
    bitmap: BitmapEncoding::Binary,
    digits: Digits::Bcd,
    prefix: Prefix::Bcd,
    fields: &FIELDS,
    max_message_len: MAX_FRAME_LEN,
};

/// Upper bound on one frame of this profile (TPDU, header and message).
pub const MAX_FRAME_LEN: usize = 2048;

/// Why a message cannot move between the generic layout and this profile.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CupsError {
    #[error("frame of {0} bytes is shorter than the TPDU and header")]
    ShortFrame(usize),
    #[error("TPDU id 0x{0:02x} is not 0x60")]
    BadTpdu(u8),
    #[error("header is not six BCD bytes")]
    BadHeader,
    #[error("message {mti} ({what}) has no meaning in the cups profile")]
    Unmapped { mti: Mti, what: &'static str },
    #[error("field {field}: {why}")]
    BadField { field: u8, why: &'static str },
}

/// Transport protocol data unit: `60`, destination NII, source NII (each
/// three BCD digits in two bytes). An answer swaps the two addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tpdu {
    pub destination: u16,
    pub source: u16,
}

impl Tpdu {
    pub const ID: u8 = 0x60;

    pub fn to_bytes(self) -> [u8; 5] {
        let [d1, d2] = bcd4(self.destination);
        let [s1, s2] = bcd4(self.source);
        [Self::ID, d1, d2, s1, s2]
    }

    pub fn parse(bytes: &[u8; 5]) -> Result<Tpdu, CupsError> {
        let [id, d1, d2, s1, s2] = *bytes;
        if id != Self::ID {
            return Err(CupsError::BadTpdu(id));
        }
        let nii = |a: u8, b: u8| unbcd(&[a, b]).ok_or(CupsError::BadTpdu(id));
        Ok(Tpdu {
            destination: nii(d1, d2)?,
            source: nii(s1, s2)?,
        })
    }

    /// The TPDU of an answer to a message with this one.
    pub fn reversed(self) -> Tpdu {
        Tpdu {
            destination: self.source,
            source: self.destination,
        }
    }
}

/// What the host asks of the terminal in an answer's header (its fourth
/// digit, "processing requirement").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// `0`: nothing.
    None,
    /// `3`: sign on again before the next transaction (new working keys).
    SignOn,
    /// Any other digit: a download this till does not perform (parameters,
    /// public keys); logged.
    Other(u8),
}

/// The six-byte application header: application category `60` (POS),
/// software version, terminal status, processing requirement, six
/// reserved digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub terminal_status: u8,
    pub requirement: Requirement,
}

impl Header {
    /// The version this till writes (`31`, the terminal specification's
    /// third edition); any version is read.
    pub const VERSION: u8 = 31;

    pub fn till() -> Header {
        Header {
            version: Self::VERSION,
            terminal_status: 0,
            requirement: Requirement::None,
        }
    }

    pub fn to_bytes(self) -> [u8; 6] {
        let req = match self.requirement {
            Requirement::None => 0,
            Requirement::SignOn => 3,
            Requirement::Other(d) => d % 10,
        };
        [
            0x60,
            ((self.version / 10 % 10) << 4) | (self.version % 10),
            ((self.terminal_status % 10) << 4) | req,
            0,
            0,
            0,
        ]
    }

    pub fn parse(bytes: &[u8; 6]) -> Result<Header, CupsError> {
        if bytes.iter().any(|b| b >> 4 > 9 || b & 0xf > 9) {
            return Err(CupsError::BadHeader);
        }
        let [_, v, s, ..] = *bytes;
        Ok(Header {
            version: (v >> 4) * 10 + (v & 0xf),
            terminal_status: s >> 4,
            requirement: match s & 0xf {
                0 => Requirement::None,
                3 => Requirement::SignOn,
                d => Requirement::Other(d),
            },
        })
    }
}

/// TPDU ‖ header ‖ packed message.
pub fn frame(tpdu: Tpdu, header: Header, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(11 + message.len());
    out.extend_from_slice(&tpdu.to_bytes());
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(message);
    out
}

/// Splits a frame into its TPDU, header and packed message.
pub fn split(frame: &[u8]) -> Result<(Tpdu, Header, &[u8]), CupsError> {
    let (Some(tpdu), Some(header), Some(rest)) = (
        frame.get(..5).and_then(|b| <&[u8; 5]>::try_from(b).ok()),
        frame.get(5..11).and_then(|b| <&[u8; 6]>::try_from(b).ok()),
        frame.get(11..),
    ) else {
        return Err(CupsError::ShortFrame(frame.len()));
    };
    Ok((Tpdu::parse(tpdu)?, Header::parse(header)?, rest))
}

fn bcd4(v: u16) -> [u8; 2] {
    let d = |n: u16| (v / n % 10) as u8;
    [(d(1000) << 4) | d(100), (d(10) << 4) | d(1)]
}

fn unbcd(bytes: &[u8]) -> Option<u16> {
    bytes.iter().try_fold(0u16, |acc, b| {
        let (hi, lo) = (b >> 4, b & 0xf);
        (hi <= 9 && lo <= 9).then(|| acc * 100 + u16::from(hi) * 10 + u16::from(lo))
    })
}

/// Message type codes (field 60.1).
pub mod type_code {
    pub const MANAGEMENT: &str = "00";
    pub const PURCHASE: &str = "22";
    pub const VOID: &str = "23";
    pub const REFUND: &str = "25";
    pub const OFFLINE: &str = "30";
}

/// Network management information codes (field 60.3).
pub mod network_code {
    /// Sign-on with double-length (TDES) working keys.
    pub const SIGN_ON_DOUBLE: &str = "003";
    pub const SIGN_OFF: &str = "002";
    pub const ECHO: &str = "301";
    pub const SETTLEMENT: &str = "201";
    pub const SETTLEMENT_AFTER_UPLOAD: &str = "202";
    pub const BATCH_UPLOAD: &str = "201";
    /// Financial messages: none.
    pub const NONE: &str = "000";
}

/// Field 53 for a PIN block: ISO 9564 format 0 (with the PAN), double-length
/// TDES session PIN key, no track encryption.
pub const SECURITY_CONTROL_PIN: &str = "2600000000000000";

/// Reversal reasons in field 39 of a 0400 (the answer codes the terminal
/// specification lists for the terminal's own use).
pub mod reversal_code {
    /// No answer in time (also: an answer after the till gave up).
    pub const NO_ANSWER: &str = "98";
    /// An answer the till could not use (undecodable, wrong MAC).
    pub const UNUSABLE_ANSWER: &str = "96";
    /// Any other reason (card declined after approval, cashier, power loss).
    pub const OTHER: &str = "06";
}

/// What a message is, read from its generic form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Purchase,
    Void,
    Refund,
    OfflineAdvice,
    Reversal,
    BatchUpload,
    Settlement { after_upload: bool },
    SignOn,
    SignOff,
    Echo,
}

impl Kind {
    /// From a generic request or answer (answers copy fields 3 and 70).
    fn of_generic(m: &Message) -> Result<Kind, CupsError> {
        let proc = m.get_str(field::PROCESSING_CODE).unwrap_or("");
        let unmapped = |what| CupsError::Unmapped { mti: m.mti, what };
        let request = if m.mti.is_response() {
            Mti::new(m.mti.value() - 10).ok_or_else(|| unmapped("response"))?
        } else {
            m.mti
        };
        Ok(match request.value() / 10 {
            20 => match proc {
                processing::PURCHASE => Kind::Purchase,
                processing::VOID_PURCHASE => Kind::Void,
                processing::REFUND => Kind::Refund,
                _ => return Err(unmapped("processing code")),
            },
            22 => Kind::OfflineAdvice,
            40 => Kind::Reversal,
            32 => Kind::BatchUpload,
            50 => Kind::Settlement {
                after_upload: proc == processing::SETTLEMENT_AFTER_UPLOAD,
            },
            80 => match m.get_str(field::NETWORK_CODE) {
                Some(network::SIGN_ON) => Kind::SignOn,
                Some(network::SIGN_OFF) => Kind::SignOff,
                Some(network::ECHO) => Kind::Echo,
                _ => return Err(unmapped("network management code")),
            },
            _ => return Err(unmapped("message class")),
        })
    }

    /// The wire MTI (plus 10 for an answer) and fields 60.1 and 60.3.
    fn wire(self, generic: Mti, original_type: &'static str) -> (u16, &'static str, &'static str) {
        let (mti, code, net) = match self {
            Kind::Purchase => (200, type_code::PURCHASE, network_code::NONE),
            Kind::Void => (200, type_code::VOID, network_code::NONE),
            Kind::Refund => (220, type_code::REFUND, network_code::NONE),
            Kind::OfflineAdvice => (220, type_code::OFFLINE, network_code::NONE),
            Kind::Reversal => (400, original_type, network_code::NONE),
            Kind::BatchUpload => (320, type_code::MANAGEMENT, network_code::BATCH_UPLOAD),
            Kind::Settlement {
                after_upload: false,
            } => (500, type_code::MANAGEMENT, network_code::SETTLEMENT),
            Kind::Settlement { after_upload: true } => (
                500,
                type_code::MANAGEMENT,
                network_code::SETTLEMENT_AFTER_UPLOAD,
            ),
            Kind::SignOn => (800, type_code::MANAGEMENT, network_code::SIGN_ON_DOUBLE),
            Kind::SignOff => (820, type_code::MANAGEMENT, network_code::SIGN_OFF),
            Kind::Echo => (820, type_code::MANAGEMENT, network_code::ECHO),
        };
        let answer = if generic.is_response() { 10 } else { 0 };
        (mti + answer, code, net)
    }
}

/// The 60.1 code of the transaction a reversal undoes, by its processing code.
fn type_of_processing(proc: &str) -> &'static str {
    match proc {
        processing::VOID_PURCHASE => type_code::VOID,
        processing::REFUND => type_code::REFUND,
        _ => type_code::PURCHASE,
    }
}

/// Field 22 of the wire: two entry-mode digits and PIN entry (`1` entered,
/// `2` not). The generic third digit is the PIN *capability*, always `1`.
fn wire_entry_mode(generic: &str, has_pin: bool) -> Result<(String, &'static str), CupsError> {
    let mode = generic.get(..2).ok_or(CupsError::BadField {
        field: field::ENTRY_MODE,
        why: "entry mode is three digits",
    })?;
    let pin = if has_pin { '1' } else { '2' };
    // A chip that failed and fell back to the stripe is a stripe read with
    // IC condition code 2 in 60.5 (the generic profile's 80).
    Ok(match mode {
        "80" => (format!("02{pin}"), "2"),
        _ => (format!("{mode}{pin}"), "0"),
    })
}

fn generic_entry_mode(wire: &str, ic_condition: Option<char>) -> String {
    let mode = wire.get(..2).unwrap_or("00");
    match (mode, ic_condition) {
        ("02", Some('2')) => "801".to_owned(),
        _ => format!("{mode}1"),
    }
}

/// The generic reversal reason (field 61) as this profile's field 39.
fn reversal_code_of(reason: &str) -> &'static str {
    use super::profile::ReversalReason as R;
    match R::from_code(reason) {
        Some(R::Timeout | R::LateResponse) => reversal_code::NO_ANSWER,
        Some(R::MalformedResponse) => reversal_code::UNUSABLE_ANSWER,
        _ => reversal_code::OTHER,
    }
}

/// Settlement totals in field 48 (domestic half, then the foreign-card half
/// as zeros): debit amount n12, debit count n3, credit amount n12, credit
/// count n3, reconciliation code n1 (0 from the terminal; 1 balanced, 2 not
/// balanced in answers).
fn totals_48(m: &Message, reconcile: char) -> Result<String, CupsError> {
    let num = |f: u8| -> Result<u64, CupsError> {
        m.get_str(f)
            .and_then(|s| s.parse().ok())
            .ok_or(CupsError::BadField {
                field: f,
                why: "settlement totals need all four fields",
            })
    };
    let count = |n: u64, f: u8| {
        if n > 999 {
            Err(CupsError::BadField {
                field: f,
                why: "this profile counts at most 999 transactions of a kind per batch",
            })
        } else {
            Ok(n)
        }
    };
    let amount = |n: u64, f: u8| {
        if n > 999_999_999_999 {
            Err(CupsError::BadField {
                field: f,
                why: "a settlement amount has at most 12 digits in this profile",
            })
        } else {
            Ok(n)
        }
    };
    let debit_count = count(num(field::DEBITS_COUNT)?, field::DEBITS_COUNT)?;
    let debit_amount = amount(num(field::DEBITS_AMOUNT)?, field::DEBITS_AMOUNT)?;
    let credit_count = count(num(field::CREDITS_COUNT)?, field::CREDITS_COUNT)?;
    let credit_amount = amount(num(field::CREDITS_AMOUNT)?, field::CREDITS_AMOUNT)?;
    Ok(format!(
        "{debit_amount:012}{debit_count:03}{credit_amount:012}{credit_count:03}{reconcile}{:031}",
        0
    ))
}

fn totals_from_48(wire: &str, m: &mut Message) -> Result<Option<char>, CupsError> {
    let bad = CupsError::BadField {
        field: cups_field::TOTALS,
        why: "settlement totals are 62 digits",
    };
    if wire.len() != 62 {
        return Err(bad);
    }
    let part = |a: usize, b: usize| wire.get(a..b).and_then(|s| s.parse::<u64>().ok());
    let (Some(da), Some(dc), Some(ca), Some(cc)) =
        (part(0, 12), part(12, 15), part(15, 27), part(27, 30))
    else {
        return Err(bad);
    };
    set(m, field::DEBITS_AMOUNT, &format!("{da:016}"))?;
    set(m, field::DEBITS_COUNT, &format!("{dc:010}"))?;
    set(m, field::CREDITS_AMOUNT, &format!("{ca:016}"))?;
    set(m, field::CREDITS_COUNT, &format!("{cc:010}"))?;
    Ok(wire.chars().nth(30))
}

fn set(m: &mut Message, f: u8, value: &str) -> Result<(), CupsError> {
    m.set_str(f, value).map_err(|_| CupsError::BadField {
        field: f,
        why: "cannot be set",
    })
}

fn set_bytes(m: &mut Message, f: u8, value: &[u8]) -> Result<(), CupsError> {
    m.set(f, value.to_vec()).map_err(|_| CupsError::BadField {
        field: f,
        why: "cannot be set",
    })
}

/// Fields whose value is the same in both layouts.
const SAME: &[u8] = &[
    2, 4, 7, 11, 12, 13, 14, 23, 25, 35, 37, 38, 41, 42, 49, 52, 54, 55,
];

/// The generic message `m` in this profile's layout (without field 64; the
/// wire adds the MAC).
pub fn to_wire(m: &Message) -> Result<Message, CupsError> {
    let kind = Kind::of_generic(m)?;
    let proc = m.get_str(field::PROCESSING_CODE).unwrap_or("");
    let (mti, type_code, net) = kind.wire(m.mti, type_of_processing(proc));
    let mut w = Message::new(Mti::new(mti).ok_or(CupsError::Unmapped {
        mti: m.mti,
        what: "MTI",
    })?);
    for f in SAME {
        if let Some(v) = m.get(*f) {
            set_bytes(&mut w, *f, v)?;
        }
    }
    if !matches!(kind, Kind::Settlement { .. }) && !proc.is_empty() {
        // A void is 20 here, told from a refund by 60.1 (23, not 25).
        let wire_proc = match proc {
            processing::VOID_PURCHASE => processing::REFUND,
            other => other,
        };
        set(&mut w, field::PROCESSING_CODE, wire_proc)?;
    }
    let mut ic_condition = "0";
    if let Some(mode) = m.get_str(field::ENTRY_MODE) {
        let (mode, ic) = wire_entry_mode(mode, m.has(field::PIN_BLOCK))?;
        set(&mut w, field::ENTRY_MODE, &mode)?;
        ic_condition = ic;
    }
    if m.has(field::PIN_BLOCK) {
        if m.get(field::SECURITY_INFO)
            .is_some_and(|k| k.iter().any(|b| *b != 0))
        {
            return Err(CupsError::BadField {
                field: field::SECURITY_INFO,
                why: "this profile carries PIN blocks under the session PIN key, not DUKPT",
            });
        }
        set(&mut w, field::SECURITY_INFO, SECURITY_CONTROL_PIN)?;
        set(&mut w, cups_field::PIN_CAPTURE, "12")?;
    }
    let batch = m.get_str(field::BATCH).unwrap_or("000000");
    let mut sixty = format!("{type_code}{batch}{net}");
    if matches!(
        kind,
        Kind::Purchase | Kind::Void | Kind::Refund | Kind::OfflineAdvice | Kind::Reversal
    ) {
        // 60.4 terminal read capability 6 (chip and contactless), 60.5 IC
        // condition code.
        sixty.push('6');
        sixty.push_str(ic_condition);
    }
    set(&mut w, cups_field::RESERVED_60, &sixty)?;
    if let Some(o) = m.get_str(field::ORIGINAL_DATA) {
        // The original's batch is this message's (voids and reversals stay
        // in their batch; the host finds a refund's original by trace
        // number and date), its trace number, its date.
        let (stan, date) = (o.get(4..10), o.get(10..14));
        let (Some(stan), Some(date)) = (stan, date) else {
            return Err(CupsError::BadField {
                field: field::ORIGINAL_DATA,
                why: "original data elements are 42 digits",
            });
        };
        set(
            &mut w,
            cups_field::ORIGINAL,
            &format!("{batch}{stan}{date}"),
        )?;
    }
    if kind == Kind::Reversal && !m.mti.is_response() {
        let reason = m.get_str(field::REVERSAL_REASON).unwrap_or("");
        set(&mut w, field::RESPONSE_CODE, reversal_code_of(reason))?;
    } else if let Some(code) = m.get(field::RESPONSE_CODE) {
        set_bytes(&mut w, field::RESPONSE_CODE, code)?;
    }
    if let Some(qr) = m.get(field::QR_CODE) {
        set_bytes(&mut w, cups_field::RESERVED_62, qr)?;
    }
    if let Kind::Settlement { .. } = kind {
        if m.has(field::DEBITS_COUNT) {
            let reconcile = match m.get_str(field::RESPONSE_CODE) {
                None => '0',
                Some(super::profile::response::APPROVED) => '1',
                Some(_) => '2',
            };
            set(&mut w, cups_field::TOTALS, &totals_48(m, reconcile)?)?;
        }
    }
    if matches!(kind, Kind::SignOn | Kind::SignOff) && !m.mti.is_response() {
        set(&mut w, cups_field::RESERVED_63, "01 ")?;
    }
    Ok(w)
}

/// A message of this profile (field 64 already checked and removed) in the
/// generic layout. Requests and answers alike.
pub fn from_wire(w: &Message) -> Result<Message, CupsError> {
    let sixty = w.get_str(cups_field::RESERVED_60).unwrap_or("");
    let (type_code, batch, net) = (
        sixty.get(..2).unwrap_or(""),
        sixty.get(2..8),
        sixty.get(8..11).unwrap_or(network_code::NONE),
    );
    let ic_condition = sixty.chars().nth(12);
    let unmapped = |what| CupsError::Unmapped { mti: w.mti, what };
    let answer = if w.mti.is_response() { 10 } else { 0 };
    let request = w.mti.value() - answer;
    let (kind, generic_mti) = match (request, type_code, net) {
        (200, type_code::PURCHASE, _) => (Kind::Purchase, 200),
        (200, type_code::VOID, _) => (Kind::Void, 200),
        (220, type_code::REFUND, _) => (Kind::Refund, 200),
        (220, type_code::OFFLINE, _) => (Kind::OfflineAdvice, 220),
        (400, _, _) => (Kind::Reversal, 400),
        (320, _, _) => (Kind::BatchUpload, 320),
        (500, _, network_code::SETTLEMENT_AFTER_UPLOAD) => {
            (Kind::Settlement { after_upload: true }, 500)
        }
        (500, _, _) => (
            Kind::Settlement {
                after_upload: false,
            },
            500,
        ),
        (800, _, _) => (Kind::SignOn, 800),
        (820, _, network_code::SIGN_OFF) => (Kind::SignOff, 800),
        (820, _, network_code::ECHO) => (Kind::Echo, 800),
        _ => return Err(unmapped("MTI and message type code")),
    };
    let mut m = Message::new(Mti::new(generic_mti + answer).ok_or(unmapped("MTI"))?);
    for f in SAME {
        if let Some(v) = w.get(*f) {
            set_bytes(&mut m, *f, v)?;
        }
    }
    match kind {
        Kind::Settlement { after_upload } => {
            let proc = if after_upload {
                processing::SETTLEMENT_AFTER_UPLOAD
            } else {
                processing::SETTLEMENT
            };
            set(&mut m, field::PROCESSING_CODE, proc)?;
        }
        _ => {
            if let Some(p) = w.get_str(field::PROCESSING_CODE) {
                let voids = type_code == type_code::VOID
                    && matches!(kind, Kind::Void | Kind::Reversal)
                    && p == processing::REFUND;
                let p = if voids { processing::VOID_PURCHASE } else { p };
                set(&mut m, field::PROCESSING_CODE, p)?;
            }
        }
    }
    if let Some(mode) = w.get_str(field::ENTRY_MODE) {
        set(
            &mut m,
            field::ENTRY_MODE,
            &generic_entry_mode(mode, ic_condition),
        )?;
    }
    if let Some(sc) = w.get(field::SECURITY_INFO) {
        // The generic field names the key: here it is the session PIN key,
        // so the control digits stand in for a KSN.
        set_bytes(&mut m, field::SECURITY_INFO, sc)?;
    }
    if let Some(b) = batch {
        set(&mut m, field::BATCH, b)?;
    }
    if let Some(code) = match kind {
        Kind::SignOn => Some(network::SIGN_ON),
        Kind::SignOff => Some(network::SIGN_OFF),
        Kind::Echo => Some(network::ECHO),
        _ => None,
    } {
        set(&mut m, field::NETWORK_CODE, code)?;
    }
    if let Some(o) = w.get_str(cups_field::ORIGINAL) {
        let (Some(stan), Some(date)) = (o.get(6..12), o.get(12..16)) else {
            return Err(CupsError::BadField {
                field: cups_field::ORIGINAL,
                why: "original message is batch n6, trace n6 and date n4",
            });
        };
        let original_mti = match kind {
            Kind::Reversal => type_code_mti(type_code),
            _ => "0200",
        };
        set(
            &mut m,
            field::ORIGINAL_DATA,
            &format!("{original_mti}{stan}{date}000000{:022}", 0),
        )?;
    }
    if kind == Kind::Reversal && answer == 0 {
        if let Some(code) = w.get_str(field::RESPONSE_CODE) {
            set(&mut m, field::REVERSAL_REASON, code)?;
        }
    } else if let Some(code) = w.get(field::RESPONSE_CODE) {
        set_bytes(&mut m, field::RESPONSE_CODE, code)?;
    }
    if kind == Kind::Purchase {
        if let Some(qr) = w.get(cups_field::RESERVED_62) {
            set_bytes(&mut m, field::QR_CODE, qr)?;
        }
    }
    if let Some(t) = w.get_str(cups_field::TOTALS) {
        totals_from_48(t, &mut m)?;
    }
    Ok(m)
}

/// The generic MTI of the transaction a reversal's 60.1 names (an offline
/// advice, type 30, is a purchase or a refund by its processing code).
fn type_code_mti(code: &str) -> &'static str {
    match code {
        type_code::OFFLINE => "0220",
        _ => "0200",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iso8583::codec::{pack, unpack};

    #[test]
    fn table_is_well_formed() {
        CUPS_PROFILE.check().unwrap();
    }

    /// PROFILE.md's cups part lists every field of this table with its
    /// format and alignment, every message type code and network code.
    #[test]
    fn profile_doc_lists_every_field() {
        use crate::iso8583::spec::{Align, Length};
        let doc = include_str!("PROFILE.md");
        let cups = &doc[doc.find("# The cups profile").unwrap()..];
        for f in &FIELDS {
            let cs = match f.charset {
                Charset::Numeric => "n",
                Charset::Text => "ans",
                Charset::Track2 => "z",
                Charset::Binary => "b",
            };
            let left = matches!(f.length, Length::Fixed(_)) && f.align == Align::Left;
            let fmt = match f.length {
                Length::Fixed(n) => format!("{cs} {n}{}", if left { " left" } else { "" }),
                Length::LlVar(n) => format!("{cs} ..{n} LLVAR"),
                Length::LllVar(n) => format!("{cs} ..{n} LLLVAR"),
            };
            let row = format!("| {} | {} | {} |", f.number, fmt, f.name);
            assert!(cups.contains(&row), "PROFILE.md lacks `{row}`");
        }
        for code in [
            type_code::PURCHASE,
            type_code::VOID,
            type_code::REFUND,
            type_code::OFFLINE,
            network_code::SIGN_ON_DOUBLE,
            network_code::SIGN_OFF,
            network_code::ECHO,
            network_code::SETTLEMENT,
            network_code::SETTLEMENT_AFTER_UPLOAD,
            reversal_code::NO_ANSWER,
            reversal_code::UNUSABLE_ANSWER,
            reversal_code::OTHER,
            SECURITY_CONTROL_PIN,
        ] {
            assert!(
                cups.contains(&format!("`{code}`")),
                "PROFILE.md lacks `{code}`"
            );
        }
    }

    /// A published UnionPay POS purchase (0200, from a worked MAC example:
    /// the message from its MTI to field 60, then the 8 MAC bytes of field
    /// 64) decodes with this table to the last byte: left-aligned field 22,
    /// track 2 with its `D`, 53 as this profile writes it, 60 with a BCD
    /// LLL prefix; it packs back to the same bytes and reads as a generic
    /// purchase of batch 000001.
    #[test]
    fn a_published_purchase_decodes_and_packs_back_byte_for_byte() {
        let mab = "0200302004C020C0981100000000000000005100183402100006324392260009942820D1312101120084393136363838303134303030303030303030303030303031313536ACF46E73838A82F92600000000000000000822000001";
        let mut bytes = hex::decode(mab).unwrap();
        bytes.extend_from_slice(&[0x11; 8]);
        let m = unpack(&CUPS_PROFILE, &bytes).unwrap();
        assert_eq!(m.mti, Mti::FINANCIAL_REQUEST);
        assert_eq!(m.get_str(3), Some("000000"));
        assert_eq!(m.get_str(4), Some("000000000051"));
        assert_eq!(m.get_str(11), Some("001834"));
        assert_eq!(m.get_str(22), Some("021"));
        assert_eq!(m.get_str(25), Some("00"));
        assert_eq!(m.get_str(26), Some("06"));
        assert_eq!(m.get_str(35), Some("4392260009942820=131210112008439"));
        assert_eq!(m.get_str(41), Some("16688014"));
        assert_eq!(m.get_str(42), Some("000000000000001"));
        assert_eq!(m.get_str(49), Some("156"));
        assert_eq!(m.get_str(53), Some(SECURITY_CONTROL_PIN));
        assert_eq!(m.get_str(60), Some("22000001"));
        assert_eq!(pack(&CUPS_PROFILE, &m).unwrap(), bytes);
        let g = from_wire(&m).unwrap();
        assert_eq!(g.mti, Mti::FINANCIAL_REQUEST);
        assert_eq!(g.get_str(3), Some("000000"));
        assert_eq!(g.get_str(60), Some("000001"));
        assert_eq!(g.get_str(22), Some("021"));
    }

    #[test]
    fn tpdu_and_header_round_trip_and_reject() {
        let t = Tpdu {
            destination: 1,
            source: 0,
        };
        assert_eq!(t.to_bytes(), [0x60, 0x00, 0x01, 0x00, 0x00]);
        assert_eq!(Tpdu::parse(&t.to_bytes()).unwrap(), t);
        assert_eq!(t.reversed().to_bytes(), [0x60, 0x00, 0x00, 0x00, 0x01]);
        assert_eq!(
            Tpdu::parse(&[0x61, 0, 1, 0, 0]),
            Err(CupsError::BadTpdu(0x61))
        );
        let h = Header::till();
        assert_eq!(h.to_bytes(), [0x60, 0x31, 0x00, 0, 0, 0]);
        let asked = Header::parse(&[0x60, 0x31, 0x03, 0, 0, 0]).unwrap();
        assert_eq!(asked.requirement, Requirement::SignOn);
        assert_eq!(
            Header::parse(&[0x60, 0x3a, 0, 0, 0, 0]),
            Err(CupsError::BadHeader)
        );
        let f = frame(t, h, &[0x08, 0x00]);
        let (t2, h2, rest) = split(&f).unwrap();
        assert_eq!((t2, h2, rest), (t, h, &[0x08u8, 0x00][..]));
        for cut in 0..11 {
            assert_eq!(split(&f[..cut]), Err(CupsError::ShortFrame(cut)));
        }
    }

    fn generic(mti: u16, fields: &[(u8, &str)]) -> Message {
        let mut m = Message::new(Mti::new(mti).unwrap());
        for (f, v) in fields {
            m.set_str(*f, v).unwrap();
        }
        m
    }

    /// A chip purchase with PIN: 60 carries type 22, the batch and the
    /// capabilities; 22 says the PIN was entered; 53 and 26 appear; the
    /// wire bytes decode back to the same generic message.
    #[test]
    fn purchase_moves_to_its_cups_fields_and_back() {
        let mut m = generic(
            200,
            &[
                (2, "6212345678901234569"),
                (3, "000000"),
                (4, "000000001234"),
                (7, "1203101500"),
                (11, "000042"),
                (12, "181500"),
                (13, "1203"),
                (22, "051"),
                (23, "001"),
                (25, "00"),
                (41, "TILL0001"),
                (42, "SHOP00000000001"),
                (49, "156"),
                (60, "000007"),
            ],
        );
        m.set(52, vec![1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        m.set(55, vec![0x9f, 0x26, 0x01, 0xaa]).unwrap();
        let w = to_wire(&m).unwrap();
        assert_eq!(w.mti, Mti::FINANCIAL_REQUEST);
        assert_eq!(w.get_str(60), Some("2200000700060"));
        assert_eq!(w.get_str(22), Some("051"));
        assert_eq!(w.get_str(53), Some(SECURITY_CONTROL_PIN));
        assert_eq!(w.get_str(26), Some("12"));
        let bytes = pack(&CUPS_PROFILE, &w).unwrap();
        assert_eq!(&bytes[..2], &[0x02, 0x00]);
        let back = from_wire(&unpack(&CUPS_PROFILE, &bytes).unwrap()).unwrap();
        for f in [2, 3, 4, 7, 11, 12, 13, 22, 23, 25, 41, 42, 49, 52, 55, 60] {
            assert_eq!(back.get(f), m.get(f), "field {f}");
        }
        assert_eq!(back.get_str(53), Some(SECURITY_CONTROL_PIN));
    }

    #[test]
    fn refund_is_a_0220_of_type_25_and_its_answer_a_0210() {
        let m = generic(
            200,
            &[
                (3, "200000"),
                (4, "000000000500"),
                (11, "000043"),
                (22, "001"),
                (60, "000007"),
                (90, "020000004212031015000000000000000000000000"),
            ],
        );
        let w = to_wire(&m).unwrap();
        assert_eq!(w.mti.value(), 220);
        assert_eq!(w.get_str(60), Some("2500000700060"));
        assert_eq!(w.get_str(61), Some("0000070000421203"));
        assert_eq!(w.get_str(22), Some("002"));
        let back = from_wire(&w).unwrap();
        assert_eq!(back.mti, Mti::FINANCIAL_REQUEST);
        assert_eq!(back.get_str(3), Some("200000"));
        assert_eq!(back.get_str(22), Some("001"));
        let o = back.get_str(90).unwrap();
        assert_eq!(&o[4..14], "0000421203");
        let mut answer = back.clone();
        answer.mti = Mti::FINANCIAL_RESPONSE;
        answer.set_str(39, "00").unwrap();
        let wa = to_wire(&answer).unwrap();
        assert_eq!(wa.mti.value(), 230);
        assert_eq!(from_wire(&wa).unwrap().mti, Mti::FINANCIAL_RESPONSE);
    }

    /// A void (消费撤销) is processing code 20 with type 23 on the wire, and
    /// so is the reversal of one; both read back as the generic 02.
    #[test]
    fn void_is_processing_code_20_of_type_23() {
        let m = generic(
            200,
            &[
                (3, "020000"),
                (11, "000046"),
                (60, "000007"),
                (90, "020000004212031015000000000000000000000000"),
            ],
        );
        let w = to_wire(&m).unwrap();
        assert_eq!(w.get_str(3), Some("200000"));
        assert_eq!(&w.get_str(60).unwrap()[..2], "23");
        assert_eq!(from_wire(&w).unwrap().get_str(3), Some("020000"));
        let mut r = m.clone();
        r.mti = Mti::REVERSAL;
        r.set_str(61, "04").unwrap();
        let w = to_wire(&r).unwrap();
        assert_eq!(
            (w.get_str(3), &w.get_str(60).unwrap()[..2]),
            (Some("200000"), "23")
        );
        assert_eq!(from_wire(&w).unwrap().get_str(3), Some("020000"));
    }

    #[test]
    fn reversal_reason_goes_to_field_39_and_fallback_to_60_5() {
        let m = generic(
            400,
            &[
                (3, "000000"),
                (4, "000000001234"),
                (11, "000044"),
                (60, "000007"),
                (61, "01"),
                (90, "020000004212031015000000000000000000000000"),
            ],
        );
        let w = to_wire(&m).unwrap();
        assert_eq!(w.get_str(39), Some(reversal_code::NO_ANSWER));
        assert!(!w.has(90));
        assert_eq!(w.get_str(61), Some("0000070000421203"));
        let back = from_wire(&w).unwrap();
        assert_eq!(back.get_str(61), Some("98"));
        assert!(!back.has(39));

        let f = generic(200, &[(3, "000000"), (22, "801"), (60, "000007")]);
        let w = to_wire(&f).unwrap();
        assert_eq!(w.get_str(22), Some("022"));
        assert_eq!(w.get_str(60), Some("2200000700062"));
        assert_eq!(from_wire(&w).unwrap().get_str(22), Some("801"));
    }

    #[test]
    fn settlement_totals_travel_in_field_48() {
        let m = generic(
            500,
            &[
                (3, "920000"),
                (11, "000045"),
                (60, "000007"),
                (74, "0000000001"),
                (76, "0000000003"),
                (86, "0000000000000500"),
                (88, "0000000000003702"),
            ],
        );
        let w = to_wire(&m).unwrap();
        assert!(!w.has(3));
        assert_eq!(w.get_str(60), Some("00000007201"));
        let t = w.get_str(48).unwrap();
        assert_eq!(&t[..31], "0000000037020030000000005000010");
        assert_eq!(t.len(), 62);
        let back = from_wire(&w).unwrap();
        for f in [3, 74, 76, 86, 88] {
            assert_eq!(back.get(f), m.get(f), "field {f}");
        }
        let mut big = m.clone();
        big.set_str(76, "0000001000").unwrap();
        assert!(matches!(
            to_wire(&big),
            Err(CupsError::BadField { field: 76, .. })
        ));
    }

    #[test]
    fn network_messages_map_to_0800_and_0820() {
        let sign_on = generic(800, &[(11, "000001"), (60, "000007"), (70, "001")]);
        let w = to_wire(&sign_on).unwrap();
        assert_eq!(w.mti.value(), 800);
        assert_eq!(w.get_str(60), Some("00000007003"));
        assert_eq!(w.get_str(63), Some("01 "));
        let echo = generic(800, &[(11, "000002"), (60, "000007"), (70, "301")]);
        let w = to_wire(&echo).unwrap();
        assert_eq!(w.mti.value(), 820);
        assert_eq!(from_wire(&w).unwrap().get_str(70), Some("301"));
        let off = generic(800, &[(11, "000003"), (60, "000007"), (70, "002")]);
        assert_eq!(to_wire(&off).unwrap().mti.value(), 820);
        assert_eq!(
            from_wire(&to_wire(&off).unwrap()).unwrap().get_str(70),
            Some("002")
        );
    }

    #[test]
    fn dukpt_pin_blocks_and_unknown_kinds_are_refused() {
        let mut m = generic(200, &[(3, "000000"), (22, "051")]);
        m.set(52, vec![0; 8]).unwrap();
        m.set(53, vec![0xff; 10]).unwrap();
        assert!(matches!(
            to_wire(&m),
            Err(CupsError::BadField { field: 53, .. })
        ));
        let m = generic(200, &[(3, "310000")]);
        assert!(matches!(to_wire(&m), Err(CupsError::Unmapped { .. })));
        let w = generic(200, &[(60, "99000007")]);
        assert!(matches!(from_wire(&w), Err(CupsError::Unmapped { .. })));
    }
}

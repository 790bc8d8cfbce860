//! Abecs application layer: the commands a till needs, their responses and the
//! status codes.
//!
//! A command body is a 3-letter ID followed by zero or more blocks, each a
//! 3-digit decimal length and that many bytes (`GIN` `002` `00`). A response is
//! the same ID, a 3-digit status and the response blocks (`GIN` `000` `100`
//! ...). Both the till side (encode requests, parse responses) and the pad side
//! of the simulator (parse requests, encode responses) use this module, so the
//! two ends are checked against each other.
//!
//! Choices where the specification is silent or open implementations differ:
//!
//! * A response without data is `ID` + status with no block (`OPN000`), as
//!   Abecs 2.x pads send it; a trailing empty block (`OPN000000`, 1.x style) is
//!   accepted and ignored.
//! * GPN uses the classic positional layout (method, key index, 32 hex digits of
//!   encrypted working key, 2-digit PAN length, PAN left-aligned and padded with
//!   spaces to 19, entry count, then min, max and a 32-character message per
//!   entry), as the Cappta PIN pad emulator and the cloudwalk pinpad service
//!   send it; the pad side also accepts the unpadded PAN used by the Stone SDK.
//!   For DUKPT the working key field is 32 zeros. The till always asks for one
//!   entry.
//! * Notifications during a blocking command arrive as `NTM` responses with
//!   status 000 and one message of up to 32 characters (2 x 16), as Abecs
//!   2.12 section 2.2 says; any status is accepted from older pads (002 was
//!   the shared library's PP_NOTIFY, not a protocol status).
//! * GPN_ENTRIES: the specification fixes it at 1 in its field table but
//!   shows a three-entry example; the pad side takes 1 to 9 entries, each
//!   typed in turn, and answers the last one's PIN block. The till sends 1.
//! * GPN methods 0 and 2 name keys the simulator does not hold (single DES
//!   is obsolete): ST_ERRKEY (042), as a pad checks the key before capture
//!   starts. Method 1 (MK/WK TDES) uses the master key loaded in the slot
//!   and the working key in GPN_WKENC (the cups profile's session PIN key);
//!   its answer's KSN field is 20 zeros. A GPN_WKENC of zeros under method
//!   1 is no key: 042.
//! * An unknown command is answered `ERR` with status 010 (ST_INVCALL).
//! * GIN 00 is answered with exactly the specification's one 100-byte block;
//!   GIN_CTLSSUP is `C` (contactless reader present) or a space.
//! * **tillpoint extensions** live in commands of their own, so a strict Abecs
//!   host sees a pad that is exact to the specification, and a till talking
//!   to a strict pad gets `ERR` 010 for them and stays on standard commands:
//!   - `TXI` (no blocks) answers one block, `TPX1` followed by capability
//!     letters (`A` = AES DUKPT PIN entry through `TXP`).
//!   - `TXP` is GPN's layout with GPN_METHOD `9`: AES-128 DUKPT (ANSI
//!     X9.24-3) with ISO 9564 format 4; the response carries a 32-hex-digit
//!     block and a 24-hex-digit KSN. GPN itself takes only methods 0 to 3.

use std::fmt;

use zeroize::Zeroizing;

use super::AbecsError;

/// Largest block in a command or response (three decimal digits).
pub const MAX_BLOCK: usize = 999;
/// Width of the pad's text display assumed for DSP, CLO and GPN messages.
pub const DISPLAY_COLUMNS: usize = 16;
/// GIN response length for index 00 in Abecs 1.x and 2.x.
const GIN_INFO_LEN: usize = 100;
/// Prefix of the tillpoint capability block in the GIN response.
const EXTENSION_TAG: &str = "TPX1";

/// Abecs return codes (ACBr's table of Abecs 2.12 codes, plus ST_NOTIFY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// 000: command executed.
    Ok,
    /// 002: notification for the till's display during a blocking command.
    Notify,
    /// 003: secure communication not established.
    NoSec,
    /// 004 to 007: function key F1 to F4 pressed.
    Function(u8),
    /// 008: clear (backspace) key pressed.
    Backspace,
    /// 009: secure communication decoding error.
    ErrPktSec,
    /// 010: invalid call or unknown command.
    InvalidCall,
    /// 011: invalid parameter.
    InvalidParameter,
    /// 012: the pad's time limit expired.
    Timeout,
    /// 013: cancelled by the cardholder.
    Cancel,
    /// 019: mandatory parameter missing.
    MissingParameter,
    /// 040: internal pad error.
    InternalError,
    /// 042: the referenced MK or DUKPT key is not loaded.
    KeyMissing,
    /// 044: PIN capture temporarily refused for security reasons.
    PinBusy,
    /// 045: response too large.
    ResponseOverflow,
    /// 046: cryptographic validation error.
    CryptoError,
    /// Any other code.
    Other(u16),
}

impl Status {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 0,
            Status::Notify => 2,
            Status::NoSec => 3,
            Status::Function(n) => 3 + u16::from(n.clamp(1, 4)),
            Status::Backspace => 8,
            Status::ErrPktSec => 9,
            Status::InvalidCall => 10,
            Status::InvalidParameter => 11,
            Status::Timeout => 12,
            Status::Cancel => 13,
            Status::MissingParameter => 19,
            Status::InternalError => 40,
            Status::KeyMissing => 42,
            Status::PinBusy => 44,
            Status::ResponseOverflow => 45,
            Status::CryptoError => 46,
            Status::Other(c) => c,
        }
    }

    /// The status for a numeric code.
    pub fn from_code(code: u16) -> Self {
        match code {
            0 => Status::Ok,
            2 => Status::Notify,
            3 => Status::NoSec,
            4..=7 => Status::Function((code - 3) as u8),
            8 => Status::Backspace,
            9 => Status::ErrPktSec,
            10 => Status::InvalidCall,
            11 => Status::InvalidParameter,
            12 => Status::Timeout,
            13 => Status::Cancel,
            19 => Status::MissingParameter,
            40 => Status::InternalError,
            42 => Status::KeyMissing,
            44 => Status::PinBusy,
            45 => Status::ResponseOverflow,
            46 => Status::CryptoError,
            other => Status::Other(other),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Status::Ok => "command executed",
            Status::Notify => "notification",
            Status::NoSec => "secure communication not established",
            Status::Function(_) => "function key pressed",
            Status::Backspace => "clear key pressed",
            Status::ErrPktSec => "secure packet error",
            Status::InvalidCall => "invalid call or unknown command",
            Status::InvalidParameter => "invalid parameter",
            Status::Timeout => "pad time limit expired",
            Status::Cancel => "cancelled by the cardholder",
            Status::MissingParameter => "mandatory parameter missing",
            Status::InternalError => "internal PIN pad error",
            Status::KeyMissing => "key not present in the PIN pad",
            Status::PinBusy => "PIN capture temporarily refused",
            Status::ResponseOverflow => "response too large",
            Status::CryptoError => "cryptographic error",
            Status::Other(_) => "unknown status",
        };
        write!(f, "{:03} ({text})", self.code())
    }
}

/// GPN PIN encryption method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinMethod {
    /// `0`: master/working key, single DES (obsolete).
    MkWkDes,
    /// `1`: master/working key, TDES.
    MkWkTdes,
    /// `2`: DUKPT single DES (obsolete).
    DukptDes,
    /// `3`: DUKPT TDES (ANSI X9.24-1), ISO 9564 format 0. The standard path.
    DukptTdes,
    /// `9`, in the `TXP` extension command only: AES-128 DUKPT (ANSI
    /// X9.24-3), ISO 9564 format 4.
    DukptAes,
}

impl PinMethod {
    /// The digit on the wire.
    pub fn code(self) -> u8 {
        match self {
            PinMethod::MkWkDes => b'0',
            PinMethod::MkWkTdes => b'1',
            PinMethod::DukptDes => b'2',
            PinMethod::DukptTdes => b'3',
            PinMethod::DukptAes => b'9',
        }
    }

    fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            b'0' => PinMethod::MkWkDes,
            b'1' => PinMethod::MkWkTdes,
            b'2' => PinMethod::DukptDes,
            b'3' => PinMethod::DukptTdes,
            b'9' => PinMethod::DukptAes,
            _ => return None,
        })
    }

    /// Methods 0 and 1: the PIN key is a working key under a master key,
    /// sent in GPN_WKENC.
    pub fn is_master_session(self) -> bool {
        matches!(self, PinMethod::MkWkDes | PinMethod::MkWkTdes)
    }

    /// The command that carries this method: `TXP` for the AES extension,
    /// else `GPN`.
    pub fn command(self) -> &'static str {
        match self {
            PinMethod::DukptAes => "TXP",
            _ => "GPN",
        }
    }

    /// Hex digits of (PIN block, KSN) in the GPN response for this method.
    pub fn response_hex_lengths(self) -> (usize, usize) {
        match self {
            PinMethod::DukptAes => (32, 24),
            _ => (16, 20),
        }
    }
}

/// GPN request: an online PIN for one PAN.
#[derive(Clone, PartialEq, Eq)]
pub struct GetPin {
    /// Encryption method.
    pub method: PinMethod,
    /// Key slot (00 to 99).
    pub key_index: u8,
    /// Card PAN, 8 to 19 digits.
    pub pan: Zeroizing<String>,
    /// Minimum PIN length.
    pub min_len: u8,
    /// Maximum PIN length.
    pub max_len: u8,
    /// Two-line prompt (16 + 16 characters).
    pub message: String,
    /// GPN_ENTRIES: how many times the cardholder types the PIN (1 to 9),
    /// each time with the same limits and prompt; the response carries the
    /// PIN block of the last entry. The till asks for one.
    pub entries: u8,
    /// GPN_WKENC for methods 0 and 1 (master/session): the working PIN key
    /// encrypted under the pad's master key at `key_index`, as the host
    /// sent it at sign-on. `None` for DUKPT (32 zeros on the wire).
    pub working_key: Option<[u8; 16]>,
}

impl fmt::Debug for GetPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetPin")
            .field("method", &self.method)
            .field("key_index", &self.key_index)
            .field("pan", &"<redacted>")
            .field("min_len", &self.min_len)
            .field("max_len", &self.max_len)
            .field("message", &self.message)
            .field("entries", &self.entries)
            .field("working_key", &self.working_key.is_some())
            .finish()
    }
}

/// The commands a till sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// OPN: open the pad for use.
    Open,
    /// CLO: close, optionally leaving a message on the display.
    Close {
        /// Message shown after closing (two lines of 16).
        message: Option<String>,
    },
    /// GIN: device information (index 00) or an acquirer's application (01-99).
    GetInfo {
        /// GIN_ACQIDX.
        index: u8,
    },
    /// DSP: two lines of 16 characters.
    Display {
        /// Text; a `\n` separates the lines.
        text: String,
    },
    /// DEX: free text, lines separated by `\n` (sent as 0Dh).
    DisplayEx {
        /// Text.
        text: String,
    },
    /// GPN: online PIN (blocking).
    GetPin(GetPin),
    /// GKY: wait for a function key (blocking).
    GetKey,
    /// TXI (tillpoint extension): which extensions the pad has.
    ExtensionInfo,
}

/// Why the pad side refuses a command body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The ID is not a command this pad knows: answer `ERR` 010.
    #[error("unknown command {0}")]
    UnknownCommand(String),
    /// The parameters do not parse: answer the ID with 011.
    #[error("invalid parameter in {0}: {1}")]
    InvalidParameter(String, &'static str),
}

/// Keeps printable ASCII and replaces anything else by `?`: the pad's display
/// has no wider character set.
fn display_safe(text: &str) -> String {
    text.chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect()
}

/// Two 16-column lines, each truncated or space-padded (32 characters).
fn two_lines(text: &str) -> String {
    let mut lines = text.splitn(2, '\n');
    let mut out = String::with_capacity(2 * DISPLAY_COLUMNS);
    for _ in 0..2 {
        let line = display_safe(lines.next().unwrap_or(""));
        let line: String = line.chars().take(DISPLAY_COLUMNS).collect();
        out.push_str(&format!("{line:<width$}", width = DISPLAY_COLUMNS));
    }
    out
}

/// Splits a two-line display field into trimmed lines. The bytes are cut before
/// decoding, so a multi-byte character sent by a misbehaving peer can never
/// land on the cut (a `str` split there would panic).
fn split_lines(field: &[u8]) -> (String, String) {
    let (a, b) = field.split_at(field.len().min(DISPLAY_COLUMNS));
    (
        String::from_utf8_lossy(a).trim_end().to_owned(),
        String::from_utf8_lossy(b).trim_end().to_owned(),
    )
}

fn push_block(body: &mut Vec<u8>, data: &[u8]) -> Result<(), AbecsError> {
    if data.len() > MAX_BLOCK {
        return Err(AbecsError::InvalidRequest(format!(
            "block of {} bytes exceeds {MAX_BLOCK}",
            data.len()
        )));
    }
    body.extend_from_slice(format!("{:03}", data.len()).as_bytes());
    body.extend_from_slice(data);
    Ok(())
}

impl Request {
    /// The 3-letter command ID.
    pub fn id(&self) -> &'static str {
        match self {
            Request::Open => "OPN",
            Request::Close { .. } => "CLO",
            Request::GetInfo { .. } => "GIN",
            Request::Display { .. } => "DSP",
            Request::DisplayEx { .. } => "DEX",
            Request::GetPin(g) => g.method.command(),
            Request::GetKey => "GKY",
            Request::ExtensionInfo => "TXI",
        }
    }

    /// Blocking commands wait for the cardholder and may be cancelled with CAN.
    pub fn is_blocking(&self) -> bool {
        matches!(self, Request::GetPin(_) | Request::GetKey)
    }

    /// The command body (till side). Wiped on drop: a GPN body holds the PAN.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>, AbecsError> {
        let mut body = Zeroizing::new(Vec::with_capacity(128));
        body.extend_from_slice(self.id().as_bytes());
        match self {
            Request::Open | Request::GetKey | Request::ExtensionInfo => {}
            Request::Close { message } => {
                if let Some(m) = message {
                    push_block(&mut body, two_lines(m).as_bytes())?;
                }
            }
            Request::GetInfo { index } => {
                if *index > 99 {
                    return Err(AbecsError::InvalidRequest("GIN index above 99".into()));
                }
                push_block(&mut body, format!("{index:02}").as_bytes())?;
            }
            Request::Display { text } => push_block(&mut body, two_lines(text).as_bytes())?,
            Request::DisplayEx { text } => {
                let msg: String = text
                    .split('\n')
                    .map(display_safe)
                    .collect::<Vec<_>>()
                    .join("\r");
                if msg.len() > MAX_BLOCK - 3 {
                    return Err(AbecsError::InvalidRequest("DEX text too long".into()));
                }
                let mut block = format!("{:03}", msg.len()).into_bytes();
                block.extend_from_slice(msg.as_bytes());
                push_block(&mut body, &block)?;
            }
            Request::GetPin(g) => {
                let pan = g.pan.as_str();
                if !(8..=19).contains(&pan.len()) || !pan.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(AbecsError::InvalidRequest(
                        "PAN must be 8 to 19 digits".into(),
                    ));
                }
                if g.key_index > 99 || g.min_len > g.max_len || g.max_len > 12 || g.min_len < 4 {
                    return Err(AbecsError::InvalidRequest("GPN limits out of range".into()));
                }
                let mut block = Zeroizing::new(Vec::with_capacity(100));
                block.push(g.method.code());
                block.extend_from_slice(format!("{:02}", g.key_index).as_bytes());
                match (g.method.is_master_session(), &g.working_key) {
                    (true, Some(wk)) => block.extend_from_slice(hex::encode_upper(wk).as_bytes()),
                    (false, None) => block.extend_from_slice(&[b'0'; 32]),
                    _ => {
                        return Err(AbecsError::InvalidRequest(
                            "GPN_WKENC goes with methods 0 and 1 only, and they need it".into(),
                        ))
                    }
                }
                block.extend_from_slice(format!("{:02}", pan.len()).as_bytes());
                block.extend_from_slice(pan.as_bytes());
                block.extend(std::iter::repeat_n(b' ', 19 - pan.len()));
                if !(1..=9).contains(&g.entries) {
                    return Err(AbecsError::InvalidRequest("GPN_ENTRIES is 1 to 9".into()));
                }
                block.push(b'0' + g.entries);
                for _ in 0..g.entries {
                    block.extend_from_slice(format!("{:02}{:02}", g.min_len, g.max_len).as_bytes());
                    block.extend_from_slice(two_lines(&g.message).as_bytes());
                }
                push_block(&mut body, &block)?;
            }
        }
        Ok(body)
    }

    /// Parses a command body (pad side).
    pub fn parse(body: &[u8]) -> Result<Request, RequestError> {
        let id = body
            .get(..3)
            .ok_or_else(|| RequestError::UnknownCommand(String::new()))?;
        let id = String::from_utf8_lossy(id).into_owned();
        let bad = |why| RequestError::InvalidParameter(id.clone(), why);
        let blocks =
            split_blocks(body.get(3..).unwrap_or_default()).map_err(|_| bad("block length"))?;
        let first = blocks.first().map(|b| b.as_slice());
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let two = |b: &[u8]| {
            let (l1, l2) = split_lines(b);
            format!("{l1}\n{l2}")
        };
        Ok(match id.as_str() {
            "OPN" => Request::Open,
            "GKY" => Request::GetKey,
            "CLO" => Request::Close {
                message: first.map(two),
            },
            "GIN" => {
                let b = first.ok_or_else(|| bad("missing GIN_ACQIDX"))?;
                Request::GetInfo {
                    index: parse_decimal(b).ok_or_else(|| bad("GIN_ACQIDX"))? as u8,
                }
            }
            "DSP" => Request::Display {
                text: first.map(two).unwrap_or_default(),
            },
            "DEX" => {
                let b = first.ok_or_else(|| bad("missing DEX message"))?;
                let len = b
                    .get(..3)
                    .and_then(parse_decimal)
                    .ok_or_else(|| bad("DEX length"))?;
                let msg = b.get(3..3 + len).ok_or_else(|| bad("DEX length"))?;
                Request::DisplayEx {
                    text: text(msg).replace('\r', "\n"),
                }
            }
            "GPN" | "TXP" => {
                let g = parse_gpn(first.ok_or_else(|| bad("missing block"))?).map_err(bad)?;
                // Method 9 only through the extension, and the extension only
                // for method 9: GPN stays exactly the specification's.
                if (id == "TXP") != (g.method == PinMethod::DukptAes) {
                    return Err(bad("GPN_METHOD"));
                }
                Request::GetPin(g)
            }
            "TXI" => Request::ExtensionInfo,
            _ => return Err(RequestError::UnknownCommand(id)),
        })
    }
}

fn parse_decimal(b: &[u8]) -> Option<usize> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

fn parse_gpn(b: &[u8]) -> Result<GetPin, &'static str> {
    let method = b
        .first()
        .and_then(|c| PinMethod::from_code(*c))
        .ok_or("GPN_METHOD")?;
    let key_index = b.get(1..3).and_then(parse_decimal).ok_or("GPN_KEYIDX")? as u8;
    let wkenc = b
        .get(3..35)
        .filter(|w| w.iter().all(u8::is_ascii_hexdigit))
        .ok_or("GPN_WKENC")?;
    let working_key = if method.is_master_session() {
        let mut wk = [0u8; 16];
        hex::decode_to_slice(wkenc, &mut wk).map_err(|_| "GPN_WKENC")?;
        Some(wk)
    } else {
        None
    };
    let pan_len = b.get(35..37).and_then(parse_decimal).ok_or("GPN_PANLEN")?;
    if !(8..=19).contains(&pan_len) {
        return Err("GPN_PANLEN");
    }
    let rest = b.get(37..).ok_or("GPN_PAN")?;
    // Padded (19-character field) or unpadded PAN: the remainder after the PAN
    // must be one entry count plus 36 bytes per entry.
    let fits = |pan_field: usize| {
        rest.len()
            .checked_sub(pan_field + 1)
            .is_some_and(|r| r > 0 && r % 36 == 0)
    };
    let pan_field = if fits(19) {
        19
    } else if fits(pan_len) {
        pan_len
    } else {
        return Err("GPN_PAN");
    };
    let field = rest.get(..pan_field).ok_or("GPN_PAN")?;
    let pan: Vec<u8> = field.iter().copied().filter(|c| *c != b' ').collect();
    if pan.len() != pan_len || !pan.iter().all(u8::is_ascii_digit) {
        return Err("GPN_PAN");
    }
    let pan = Zeroizing::new(String::from_utf8(pan).map_err(|_| "GPN_PAN")?);
    let entries = rest.get(pan_field..).ok_or("GPN_ENTRIES")?;
    let count = match entries.first() {
        Some(c @ b'1'..=b'9') => c - b'0',
        _ => return Err("GPN_ENTRIES"),
    };
    if entries.len() != 1 + 36 * usize::from(count) {
        return Err("GPN_ENTRIES");
    }
    // Each entry: GPN_MIN (2), GPN_MAX (2), GPN_MSG (32). The pad prompts
    // with the first entry's; every entry must be valid.
    let mut first = None;
    for e in entries[1..].chunks(36) {
        let min_len = e.get(..2).and_then(parse_decimal).ok_or("GPN_MIN")? as u8;
        let max_len = e.get(2..4).and_then(parse_decimal).ok_or("GPN_MAX")? as u8;
        if min_len < 4 || max_len > 12 || min_len > max_len {
            return Err("GPN_MIN/GPN_MAX");
        }
        let (l1, l2) = split_lines(e.get(4..36).ok_or("GPN_MSG")?);
        first.get_or_insert((min_len, max_len, format!("{l1}\n{l2}")));
    }
    let (min_len, max_len, message) = first.ok_or("GPN_ENTRIES")?;
    Ok(GetPin {
        method,
        key_index,
        pan,
        min_len,
        max_len,
        message,
        entries: count,
        working_key,
    })
}

/// Splits `LLLdata LLLdata ...`; an empty trailing block is dropped.
fn split_blocks(mut rest: &[u8]) -> Result<Vec<Zeroizing<Vec<u8>>>, AbecsError> {
    let mut blocks = Vec::new();
    while !rest.is_empty() {
        let len = rest
            .get(..3)
            .and_then(parse_decimal)
            .ok_or_else(|| AbecsError::Malformed("block length is not 3 digits".into()))?;
        let data = rest
            .get(3..3 + len)
            .ok_or_else(|| AbecsError::Malformed("block shorter than its length".into()))?;
        if len > 0 {
            blocks.push(Zeroizing::new(data.to_vec()));
        }
        rest = rest.get(3 + len..).unwrap_or_default();
    }
    Ok(blocks)
}

/// A response (or notification) from the pad.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    id: [u8; 3],
    /// Return code.
    pub status: Status,
    /// Response blocks without their length prefixes.
    pub blocks: Vec<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for Response {
    // Blocks may carry a PIN block: print only their lengths.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lens: Vec<usize> = self.blocks.iter().map(|b| b.len()).collect();
        f.debug_struct("Response")
            .field("id", &self.id())
            .field("status", &self.status)
            .field("block_lengths", &lens)
            .finish()
    }
}

impl Response {
    /// A response to build on the pad side.
    pub fn new(id: &str, status: Status, blocks: Vec<Vec<u8>>) -> Self {
        let mut id_bytes = [b'?'; 3];
        for (slot, b) in id_bytes.iter_mut().zip(id.bytes()) {
            *slot = b;
        }
        Self {
            id: id_bytes,
            status,
            blocks: blocks.into_iter().map(Zeroizing::new).collect(),
        }
    }

    /// The 3-letter ID (`GPN`, `NTM`, `ERR`, ...).
    pub fn id(&self) -> &str {
        std::str::from_utf8(&self.id).unwrap_or("???")
    }

    /// Parses a response body (till side).
    pub fn parse(body: &[u8]) -> Result<Self, AbecsError> {
        let id = body
            .get(..3)
            .filter(|id| id.iter().all(u8::is_ascii_alphanumeric))
            .ok_or_else(|| AbecsError::Malformed("response ID".into()))?;
        let status = body
            .get(3..6)
            .and_then(parse_decimal)
            .ok_or_else(|| AbecsError::Malformed("response status is not 3 digits".into()))?;
        let blocks = split_blocks(body.get(6..).unwrap_or_default())?;
        let mut id_bytes = [0u8; 3];
        id_bytes.copy_from_slice(id);
        Ok(Self {
            id: id_bytes,
            status: Status::from_code(status as u16),
            blocks,
        })
    }

    /// The response body (pad side). Wiped on drop.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>, AbecsError> {
        let mut body = Zeroizing::new(Vec::with_capacity(64));
        body.extend_from_slice(&self.id);
        body.extend_from_slice(format!("{:03}", self.status.code().min(999)).as_bytes());
        for b in &self.blocks {
            push_block(&mut body, b)?;
        }
        Ok(body)
    }

    /// Fails with a typed status error unless the status is 000 (`ERR` responses
    /// always fail).
    pub fn check(&self, command: &str) -> Result<(), AbecsError> {
        if self.status == Status::Ok && self.id() != "ERR" {
            Ok(())
        } else {
            Err(AbecsError::Status {
                command: command.to_owned(),
                status: self.status,
            })
        }
    }

    /// The message of an `NTM` notification.
    pub fn notification(&self) -> Option<String> {
        if self.id() != "NTM" {
            return None;
        }
        let (l1, l2) = split_lines(self.blocks.first()?);
        Some(format!("{l1} {l2}").trim().to_owned())
    }

    /// A notification response (pad side).
    pub fn notify(message: &str) -> Self {
        Response::new("NTM", Status::Ok, vec![two_lines(message).into_bytes()])
    }
}

/// Capabilities beyond Abecs 2.12 that a pad announces in GIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// GPN method 9: AES-128 DUKPT, ISO 9564 format 4.
    pub aes_dukpt_pin: bool,
}

/// GIN index 00: what the pad says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceInfo {
    /// GIN_MNAME (20).
    pub manufacturer: String,
    /// GIN_MODEL (19): "model;memory".
    pub model: String,
    /// GIN_CTLSSUP (1): contactless reader present (`C`, else a space).
    pub contactless: bool,
    /// GIN_SOVER (20).
    pub os_version: String,
    /// GIN_SPECVER (4), e.g. "2.12".
    pub spec_version: String,
    /// GIN_MANVER (16).
    pub manager_version: String,
    /// GIN_SERNUM (20).
    pub serial: String,
    /// tillpoint extensions, from `TXI` (not part of GIN: a strict pad
    /// has none).
    pub capabilities: Capabilities,
}

fn fixed(s: &str, width: usize) -> String {
    let s: String = display_safe(s).chars().take(width).collect();
    format!("{s:<width$}")
}

impl DeviceInfo {
    /// Reads a GIN 00 response. Extra bytes or blocks, which older pads
    /// send, are ignored.
    pub fn from_response(resp: &Response) -> Result<Self, AbecsError> {
        resp.check("GIN")?;
        let b = resp
            .blocks
            .first()
            .filter(|b| b.len() >= GIN_INFO_LEN)
            .ok_or_else(|| AbecsError::Malformed("GIN response shorter than 100 bytes".into()))?;
        let field = |from: usize, len: usize| {
            String::from_utf8_lossy(b.get(from..from + len).unwrap_or_default())
                .trim_end()
                .to_owned()
        };
        Ok(Self {
            manufacturer: field(0, 20),
            model: field(20, 19),
            // The specification says C; some 1.x pads send 1.
            contactless: matches!(b.get(39), Some(b'C' | b'1')),
            os_version: field(40, 20),
            spec_version: field(60, 4),
            manager_version: field(64, 16),
            serial: field(80, 20),
            capabilities: Capabilities::default(),
        })
    }

    /// The GIN 00 response: one block of exactly 100 bytes (pad side).
    pub fn to_blocks(&self) -> Vec<Vec<u8>> {
        let mut info = String::with_capacity(GIN_INFO_LEN);
        info.push_str(&fixed(&self.manufacturer, 20));
        info.push_str(&fixed(&self.model, 19));
        info.push(if self.contactless { 'C' } else { ' ' });
        info.push_str(&fixed(&self.os_version, 20));
        info.push_str(&fixed(&self.spec_version, 4));
        info.push_str(&fixed(&self.manager_version, 16));
        info.push_str(&fixed(&self.serial, 20));
        vec![info.into_bytes()]
    }
}

impl Capabilities {
    /// Reads a `TXI` response.
    pub fn from_response(resp: &Response) -> Result<Self, AbecsError> {
        resp.check("TXI")?;
        let flags = resp
            .blocks
            .first()
            .and_then(|b| b.strip_prefix(EXTENSION_TAG.as_bytes()))
            .ok_or_else(|| AbecsError::Malformed("TXI block is not TPX1".into()))?;
        Ok(Capabilities {
            aes_dukpt_pin: flags.contains(&b'A'),
        })
    }

    /// The `TXI` response block (pad side).
    pub fn to_block(self) -> Vec<u8> {
        let mut b = EXTENSION_TAG.as_bytes().to_vec();
        if self.aes_dukpt_pin {
            b.push(b'A');
        }
        b
    }
}

/// GPN result: the encrypted PIN block and the KSN, as bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct PinBlockData {
    /// Encrypted PIN block.
    pub block: Zeroizing<Vec<u8>>,
    /// DUKPT key serial number.
    pub ksn: Vec<u8>,
}

impl fmt::Debug for PinBlockData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinBlockData")
            .field("block", &"<redacted>")
            .field("ksn", &hex::encode_upper(&self.ksn))
            .finish()
    }
}

impl PinBlockData {
    /// Reads a GPN response for `method`.
    pub fn from_response(resp: &Response, method: PinMethod) -> Result<Self, AbecsError> {
        resp.check(method.command())?;
        let (block_hex, ksn_hex) = method.response_hex_lengths();
        let data = resp
            .blocks
            .first()
            .filter(|b| b.len() == block_hex + ksn_hex)
            .ok_or_else(|| AbecsError::Malformed("GPN response length".into()))?;
        let (block, ksn) = data.split_at(block_hex);
        let block = Zeroizing::new(
            hex::decode(block)
                .map_err(|_| AbecsError::Malformed("GPN_PINBLK is not hex".into()))?,
        );
        let ksn =
            hex::decode(ksn).map_err(|_| AbecsError::Malformed("GPN_KSN is not hex".into()))?;
        Ok(Self { block, ksn })
    }

    /// The GPN (or `TXP`) response for `method` (pad side).
    pub fn to_response(&self, method: PinMethod) -> Response {
        let mut data = hex::encode_upper(&self.block[..]).into_bytes();
        data.extend_from_slice(hex::encode_upper(&self.ksn).as_bytes());
        Response::new(method.command(), Status::Ok, vec![data])
    }
}

/// A key pressed on the pad, as reported by GKY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    /// OK / Enter (status 000).
    Enter,
    /// F1 to F4 (004 to 007).
    Function(u8),
    /// Clear / backspace (008).
    Clear,
    /// Cancel (013).
    Cancel,
}

impl Key {
    /// Reads a GKY response: the key is the status code.
    pub fn from_response(resp: &Response) -> Result<Self, AbecsError> {
        if resp.id() != "GKY" {
            return resp.check("GKY").map(|_| Key::Enter);
        }
        match resp.status {
            Status::Ok => Ok(Key::Enter),
            Status::Function(n) => Ok(Key::Function(n)),
            Status::Backspace => Ok(Key::Clear),
            Status::Cancel => Ok(Key::Cancel),
            other => Err(AbecsError::Status {
                command: "GKY".into(),
                status: other,
            }),
        }
    }

    /// The status the pad reports for this key.
    pub fn status(self) -> Status {
        match self {
            Key::Enter => Status::Ok,
            Key::Function(n) => Status::Function(n.clamp(1, 4)),
            Key::Clear => Status::Backspace,
            Key::Cancel => Status::Cancel,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_round_trip() {
        for code in 0..=999u16 {
            assert_eq!(Status::from_code(code).code(), code);
        }
        assert_eq!(Status::from_code(13), Status::Cancel);
        assert_eq!(Status::from_code(42), Status::KeyMissing);
        assert_eq!(Status::from_code(5), Status::Function(2));
        assert!(Status::Timeout.to_string().starts_with("012"));
    }

    #[test]
    fn encodes_simple_commands() {
        assert_eq!(&Request::Open.encode().unwrap()[..], b"OPN");
        assert_eq!(&Request::GetKey.encode().unwrap()[..], b"GKY");
        assert_eq!(
            &Request::GetInfo { index: 0 }.encode().unwrap()[..],
            b"GIN00200"
        );
        let dsp = Request::Display {
            text: "TOTAL 12.34\nINSERT CARD".into(),
        };
        assert_eq!(
            &dsp.encode().unwrap()[..],
            b"DSP032TOTAL 12.34     INSERT CARD     "
        );
        let clo = Request::Close { message: None };
        assert_eq!(&clo.encode().unwrap()[..], b"CLO");
        let dex = Request::DisplayEx {
            text: "A\nB".into(),
        };
        assert_eq!(&dex.encode().unwrap()[..], b"DEX006003A\rB");
    }

    #[test]
    fn non_ascii_text_is_replaced() {
        let dsp = Request::Display {
            text: "收银台 OK".into(),
        };
        let body = dsp.encode().unwrap();
        assert!(body
            .iter()
            .all(|b| (0x20..0x7F).contains(b) || b.is_ascii_digit()));
        assert!(body.starts_with(b"DSP032??? OK"));
    }

    fn sample_gpn(method: PinMethod) -> GetPin {
        GetPin {
            method,
            key_index: 1,
            pan: Zeroizing::new("4012345678909".into()),
            min_len: 4,
            max_len: 12,
            message: "EUR 12.34\nENTER PIN".into(),
            entries: 1,
            working_key: None,
        }
    }

    /// Method 1 carries the working key in GPN_WKENC (32 hex digits) and
    /// DUKPT methods carry 32 zeros; a mismatch is refused before sending.
    #[test]
    fn gpn_method_1_carries_the_working_key() {
        let mut g = sample_gpn(PinMethod::MkWkTdes);
        g.working_key = Some([0xAB; 16]);
        let body = Request::GetPin(g.clone()).encode().unwrap();
        assert_eq!(&body[6..9], b"101");
        assert_eq!(&body[9..41], "AB".repeat(16).as_bytes());
        assert_eq!(Request::parse(&body).unwrap(), Request::GetPin(g.clone()));
        g.working_key = None;
        assert!(Request::GetPin(g).encode().is_err());
        let mut d = sample_gpn(PinMethod::DukptTdes);
        d.working_key = Some([1; 16]);
        assert!(Request::GetPin(d).encode().is_err());
    }

    #[test]
    fn gpn_layout_and_round_trip() {
        let req = Request::GetPin(sample_gpn(PinMethod::DukptTdes));
        let body = req.encode().unwrap();
        let expected = [
            "GPN",
            "093",
            "3",
            "01",
            "00000000000000000000000000000000",
            "13",
            "4012345678909      ",
            "1",
            "04",
            "12",
            "EUR 12.34       ENTER PIN       ",
        ]
        .concat();
        assert_eq!(std::str::from_utf8(&body).unwrap(), expected);
        assert_eq!(Request::parse(&body).unwrap(), req);
        assert!(!format!("{req:?}").contains("4012345678909"));
    }

    #[test]
    fn gpn_parse_accepts_unpadded_pan_and_rejects_junk() {
        // Stone SDK style: PAN without padding.
        let block = "301000000000000000000000000000000001340123456789091041200000000000000000000000000000000";
        let body = format!("GPN{:03}{block}", block.len());
        let parsed = Request::parse(body.as_bytes()).unwrap();
        match parsed {
            Request::GetPin(g) => assert_eq!(g.pan.as_str(), "4012345678909"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Request::parse(b"GPN0053014X"),
            Err(RequestError::InvalidParameter(..))
        ));
        assert!(matches!(
            Request::parse(b"XYZ"),
            Err(RequestError::UnknownCommand(_))
        ));
        assert!(matches!(
            Request::parse(b"GIN9"),
            Err(RequestError::InvalidParameter(..))
        ));
    }

    #[test]
    fn responses_parse_and_encode() {
        let r = Response::parse(b"OPN000").unwrap();
        assert_eq!((r.id(), r.status, r.blocks.len()), ("OPN", Status::Ok, 0));
        // 1.x style trailing empty block.
        assert_eq!(Response::parse(b"OPN000000").unwrap().blocks.len(), 0);
        let r = Response::parse(b"GPN013").unwrap();
        assert_eq!(
            r.check("GPN"),
            Err(AbecsError::Status {
                command: "GPN".into(),
                status: Status::Cancel
            })
        );
        assert!(Response::parse(b"ERR010").unwrap().check("XYZ").is_err());
        assert!(Response::parse(b"OP").is_err());
        assert!(Response::parse(b"OPN0x0").is_err());
        assert!(Response::parse(b"GIN000100abc").is_err());
        // Multi-byte text straddling the 16-byte cut must not panic.
        let mut odd = b"NTM002032".to_vec();
        odd.extend_from_slice("ÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀ".as_bytes());
        assert!(Response::parse(&odd).unwrap().notification().is_some());
        let mut dsp = b"DSP032 ".to_vec();
        dsp.extend_from_slice(&"ÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀ".as_bytes()[..31]);
        assert!(Request::parse(&dsp).is_ok());

        let n = Response::notify("PIN ENTRY\nIN PROGRESS");
        let back = Response::parse(&n.encode().unwrap()).unwrap();
        assert_eq!(
            back.notification().as_deref(),
            Some("PIN ENTRY IN PROGRESS")
        );
    }

    #[test]
    fn gin_is_one_spec_block_and_extensions_come_from_txi() {
        let info = DeviceInfo {
            manufacturer: "TILLPOINT".into(),
            model: "SIMPAD;1MB".into(),
            contactless: true,
            os_version: "SIM 1.0".into(),
            spec_version: "2.12".into(),
            manager_version: "001.00 250101".into(),
            serial: "SIM0001".into(),
            capabilities: Capabilities::default(),
        };
        let blocks = info.to_blocks();
        assert_eq!(blocks.len(), 1, "one block");
        assert_eq!(blocks[0].len(), 100);
        assert_eq!(blocks[0][39], b'C', "GIN_CTLSSUP");
        let resp =
            Response::parse(&Response::new("GIN", Status::Ok, blocks).encode().unwrap()).unwrap();
        assert_eq!(DeviceInfo::from_response(&resp).unwrap(), info);
        let plain = DeviceInfo {
            contactless: false,
            ..info
        };
        assert_eq!(plain.to_blocks()[0][39], b' ');
        // TXI carries the extension letters.
        let caps = Capabilities {
            aes_dukpt_pin: true,
        };
        let r = Response::new("TXI", Status::Ok, vec![caps.to_block()]);
        assert_eq!(&r.encode().unwrap()[..], b"TXI000005TPX1A");
        assert_eq!(Capabilities::from_response(&r).unwrap(), caps);
        assert!(
            Capabilities::from_response(&Response::new("ERR", Status::InvalidCall, vec![]))
                .is_err()
        );
        // Method 9 only in TXP, and TXP only with method 9.
        let g = GetPin {
            method: PinMethod::DukptAes,
            key_index: 1,
            pan: Zeroizing::new("4761739001010010".into()),
            min_len: 4,
            max_len: 12,
            message: "PIN".into(),
            entries: 1,
            working_key: None,
        };
        let txp = Request::GetPin(g.clone()).encode().unwrap();
        assert_eq!(&txp[..3], b"TXP");
        assert!(Request::parse(&txp).is_ok());
        let mut gpn9 = txp.to_vec();
        gpn9[..3].copy_from_slice(b"GPN");
        assert!(matches!(
            Request::parse(&gpn9),
            Err(RequestError::InvalidParameter(id, "GPN_METHOD")) if id == "GPN"
        ));
        let tdes = Request::GetPin(GetPin {
            method: PinMethod::DukptTdes,
            ..g
        })
        .encode()
        .unwrap();
        let mut txp3 = tdes.to_vec();
        txp3[..3].copy_from_slice(b"TXP");
        assert!(Request::parse(&txp3).is_err());
    }

    #[test]
    fn pin_block_data_both_methods() {
        let d = PinBlockData {
            block: Zeroizing::new(hex::decode("1B9C1845EB993A7A").unwrap()),
            ksn: hex::decode("FFFF9876543210E00001").unwrap(),
        };
        let r = d.to_response(PinMethod::DukptTdes);
        assert_eq!(
            &r.encode().unwrap()[..],
            b"GPN0000361B9C1845EB993A7AFFFF9876543210E00001"
        );
        assert_eq!(
            PinBlockData::from_response(&r, PinMethod::DukptTdes).unwrap(),
            d
        );
        assert!(PinBlockData::from_response(&r, PinMethod::DukptAes).is_err());
        let aes = PinBlockData {
            block: Zeroizing::new(hex::decode("A912150391AB65A67E52883D81CE2D15").unwrap()),
            ksn: hex::decode("123456789012345600000001").unwrap(),
        };
        let r = aes.to_response(PinMethod::DukptAes);
        assert_eq!(r.id(), "TXP");
        let back = PinBlockData::from_response(&r, PinMethod::DukptAes).unwrap();
        assert_eq!(back, aes);
    }

    #[test]
    fn keys_from_status() {
        for key in [Key::Enter, Key::Function(3), Key::Clear, Key::Cancel] {
            let r = Response::new("GKY", key.status(), vec![]);
            assert_eq!(Key::from_response(&r).unwrap(), key);
        }
        assert!(Key::from_response(&Response::new("GKY", Status::Timeout, vec![])).is_err());
    }

    proptest::proptest! {
        #[test]
        fn request_parse_never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = Request::parse(&body);
            let _ = Response::parse(&body);
        }

        #[test]
        fn gpn_round_trip(pan in "[0-9]{8,19}", min in 4u8..=12, extra in 0u8..=8, idx in 0u8..=99) {
            let g = GetPin { method: PinMethod::DukptAes, key_index: idx, pan: Zeroizing::new(pan),
                             min_len: min, max_len: (min + extra).min(12), message: "A\nB".into(), entries: 1, working_key: None };
            let req = Request::GetPin(g);
            proptest::prop_assert_eq!(Request::parse(&req.encode().unwrap()).unwrap(), req);
        }
    }
}

//! Command and response APDUs (ISO 7816-4), the `CardChannel` seam between
//! the kernel and whatever carries bytes to a card (PC/SC reader, in-memory
//! virtual card), and a wrapper that hides the T=0 case-4 dance
//! (61xx → GET RESPONSE, 6Cxx → resend with the right Le).

use std::fmt;

use thiserror::Error;

use super::tags;
use super::tlv;

/// Failure of the transport under the kernel; the kernel cannot recover from
/// any of these inside a transaction, it only reports them clearly.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChannelError {
    /// No reader is connected (or the named one is gone).
    #[error("no card reader is connected")]
    NoReader,
    /// The reader is there but holds no card.
    #[error("no card in the reader")]
    NoCard,
    /// The card was pulled out (or lost power) during the transaction.
    #[error("card removed during the transaction")]
    CardRemoved,
    /// The card or reader did not answer in time.
    #[error("card did not answer within {0} ms")]
    Timeout(u64),
    /// The card was reset by someone else sharing the reader.
    #[error("card was reset by another application")]
    CardReset,
    /// More than one card is in the contactless field (the reader's
    /// anticollision found several): present one card only.
    #[error("more than one card in the reader's field")]
    Collision,
    /// The wait was cancelled by the caller.
    #[error("operation cancelled")]
    Cancelled,
    /// Any other transport failure, with the driver's own words.
    #[error("card transport error: {0}")]
    Transport(String),
}

/// Sends one command APDU and returns the raw response (data + SW1 SW2).
///
/// The kernel talks only to this trait so the same code runs against a real
/// reader, the virtual card in memory, and fault-injecting test channels.
pub trait CardChannel {
    /// One exchange. Implementations must bound the wait for an answer.
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError>;
}

impl<C: CardChannel + ?Sized> CardChannel for &mut C {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        (**self).transmit(apdu)
    }
}

impl<C: CardChannel + ?Sized> CardChannel for Box<C> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        (**self).transmit(apdu)
    }
}

/// ISO 7816 status word.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// 9000.
    pub const OK: StatusWord = StatusWord(0x9000);
    /// 6A81: function not supported (card or application blocked on SELECT).
    pub const FUNCTION_NOT_SUPPORTED: StatusWord = StatusWord(0x6A81);
    /// 6A82: file or application not found.
    pub const NOT_FOUND: StatusWord = StatusWord(0x6A82);
    /// 6A83: record not found (end of a PSE directory).
    pub const RECORD_NOT_FOUND: StatusWord = StatusWord(0x6A83);
    /// 6283: selected file invalidated (application blocked).
    pub const BLOCKED: StatusWord = StatusWord(0x6283);
    /// 6985: conditions of use not satisfied.
    pub const CONDITIONS_NOT_SATISFIED: StatusWord = StatusWord(0x6985);

    /// First byte.
    pub fn sw1(self) -> u8 {
        (self.0 >> 8) as u8
    }

    /// Second byte.
    pub fn sw2(self) -> u8 {
        self.0 as u8
    }

    /// 9000.
    pub fn is_ok(self) -> bool {
        self.0 == 0x9000
    }

    /// 62xx / 63xx warnings, which issuer script processing counts as success.
    pub fn is_warning(self) -> bool {
        matches!(self.sw1(), 0x62 | 0x63)
    }

    /// Short meaning for diagnostics (ISO 7816-4 table 5/6 plus EMV usage).
    pub fn meaning(self) -> &'static str {
        match self.0 {
            0x9000 => "success",
            0x6283 => "selected file invalidated (blocked)",
            0x6700 => "wrong length",
            0x6981 => "command incompatible with file structure",
            0x6982 => "security status not satisfied",
            0x6983 => "authentication method blocked",
            0x6984 => "referenced data invalidated",
            0x6985 => "conditions of use not satisfied",
            0x6986 => "command not allowed",
            0x6A80 => "incorrect parameters in data field",
            0x6A81 => "function not supported",
            0x6A82 => "file or application not found",
            0x6A83 => "record not found",
            0x6A86 => "incorrect P1 P2",
            0x6A88 => "referenced data not found",
            0x6D00 => "instruction not supported",
            0x6E00 => "class not supported",
            0x6F00 => "no precise diagnosis",
            _ => match self.sw1() {
                0x61 => "more data available",
                0x62 | 0x63 => "warning",
                0x6C => "wrong Le",
                0x64 | 0x65 => "execution error",
                _ => "unexpected status",
            },
        }
    }
}

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X} ({})", self.0, self.meaning())
    }
}

/// A command APDU (short length only; EMV never needs extended length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (at most 255 bytes).
    pub data: Vec<u8>,
    /// Expected response length; `Some(0)` means "up to 256".
    pub le: Option<u8>,
    /// Short name for traces and errors, e.g. "GENERATE AC".
    pub name: &'static str,
}

impl Command {
    /// A command with the given header and data.
    pub fn new(name: &'static str, cla: u8, ins: u8, p1: u8, p2: u8, data: Vec<u8>) -> Command {
        Command {
            cla,
            ins,
            p1,
            p2,
            data,
            le: Some(0),
            name,
        }
    }

    /// SELECT by DF name; `next` asks for the next application with the same
    /// partial name (P2 = 02).
    pub fn select(name: &[u8], next: bool) -> Command {
        Command::new(
            "SELECT",
            0x00,
            0xA4,
            0x04,
            if next { 0x02 } else { 0x00 },
            name.to_vec(),
        )
    }

    /// READ RECORD `record` of file `sfi`.
    pub fn read_record(sfi: u8, record: u8) -> Command {
        Command::new(
            "READ RECORD",
            0x00,
            0xB2,
            record,
            (sfi << 3) | 0x04,
            Vec::new(),
        )
    }

    /// GET PROCESSING OPTIONS with the PDOL data wrapped in tag 83.
    pub fn get_processing_options(pdol_data: &[u8]) -> Command {
        let mut data = vec![0x83];
        data.extend(tlv::encode_length(pdol_data.len()));
        data.extend_from_slice(pdol_data);
        Command::new("GET PROCESSING OPTIONS", 0x80, 0xA8, 0x00, 0x00, data)
    }

    /// GET DATA for a two-byte tag (ATC 9F36, last online ATC 9F13, ...).
    pub fn get_data(tag: u16) -> Command {
        Command::new(
            "GET DATA",
            0x80,
            0xCA,
            (tag >> 8) as u8,
            tag as u8,
            Vec::new(),
        )
    }

    /// GENERATE AC; `p1` carries the requested cryptogram type.
    pub fn generate_ac(p1: u8, cdol_data: Vec<u8>) -> Command {
        Command::new("GENERATE AC", 0x80, 0xAE, p1, 0x00, cdol_data)
    }

    /// INTERNAL AUTHENTICATE for DDA with the DDOL data.
    pub fn internal_authenticate(ddol_data: Vec<u8>) -> Command {
        Command::new("INTERNAL AUTHENTICATE", 0x00, 0x88, 0x00, 0x00, ddol_data)
    }

    /// EXTERNAL AUTHENTICATE with the issuer authentication data (tag 91).
    pub fn external_authenticate(data: Vec<u8>) -> Command {
        let mut c = Command::new("EXTERNAL AUTHENTICATE", 0x00, 0x82, 0x00, 0x00, data);
        c.le = None;
        c
    }

    /// GET RESPONSE for `le` bytes (T=0).
    pub fn get_response(le: u8) -> Command {
        let mut c = Command::new("GET RESPONSE", 0x00, 0xC0, 0x00, 0x00, Vec::new());
        c.le = Some(le);
        c
    }

    /// Parses a raw short APDU (ISO 7816-4 cases 1-4), as issuer scripts
    /// carry them in tag 86. `None` if the length bytes do not add up.
    pub fn parse(raw: &[u8]) -> Option<Command> {
        let &[cla, ins, p1, p2] = raw.first_chunk::<4>()?;
        let body = raw.get(4..)?;
        let (data, le) = match body {
            [] => (Vec::new(), None),
            [le] => (Vec::new(), Some(*le)),
            [lc, rest @ ..] => {
                let lc = usize::from(*lc);
                if lc == 0 {
                    return None;
                }
                match rest.len().checked_sub(lc)? {
                    0 => (rest.to_vec(), None),
                    1 => (rest.get(..lc)?.to_vec(), rest.last().copied()),
                    _ => return None,
                }
            }
        };
        Some(Command {
            cla,
            ins,
            p1,
            p2,
            data,
            le,
            name: "ISSUER SCRIPT COMMAND",
        })
    }

    /// Encodes the APDU. Data longer than 255 bytes is cut: the callers build
    /// data from DOLs, which [`super::dol::parse`] already bounds.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![self.cla, self.ins, self.p1, self.p2];
        let data = self.data.get(..self.data.len().min(255)).unwrap_or(&[]);
        if !data.is_empty() {
            out.push(data.len() as u8);
            out.extend_from_slice(data);
        }
        if let Some(le) = self.le {
            out.push(le);
        }
        out
    }
}

/// A response APDU split into data and status word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Response data (may be empty).
    pub data: Vec<u8>,
    /// Status word.
    pub sw: StatusWord,
}

/// What went wrong in one exchange, one level above the transport.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApduError {
    /// The transport failed.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// Fewer than two bytes came back.
    #[error("{command}: response of {len} bytes has no status word")]
    TooShort {
        /// Command name.
        command: &'static str,
        /// Bytes received.
        len: usize,
    },
    /// The card kept asking for GET RESPONSE or for a different Le.
    #[error("{command}: card looped on 61xx/6Cxx")]
    Loop {
        /// Command name.
        command: &'static str,
    },
}

impl Response {
    /// Splits raw bytes into data and status word.
    pub fn parse(raw: &[u8]) -> Option<Response> {
        let split = raw.len().checked_sub(2)?;
        let (data, sw) = raw.split_at(split);
        let sw = match sw {
            [a, b] => StatusWord(u16::from_be_bytes([*a, *b])),
            _ => return None,
        };
        Some(Response {
            data: data.to_vec(),
            sw,
        })
    }
}

/// One line of an APDU trace. Values of sensitive tags (PAN, track 2,
/// cardholder name) are masked before they are stored, so a trace can be
/// shown on screen or attached to a support ticket.
#[derive(Debug, Clone)]
pub struct TraceEntry {
    /// Command name.
    pub name: &'static str,
    /// Command bytes as hex.
    pub command: String,
    /// Response bytes as hex (masked), or the transport error.
    pub response: String,
    /// Time the exchange took, in microseconds.
    pub micros: u64,
}

impl fmt::Display for TraceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<22} > {}\n{:<22} < {}  ({} us)",
            self.name, self.command, "", self.response, self.micros
        )
    }
}

/// Exchanges APDUs over a [`CardChannel`], resolving T=0 61xx/6Cxx and
/// optionally keeping a masked trace.
pub struct Apdu<C> {
    channel: C,
    trace: Option<Vec<TraceEntry>>,
}

/// GET RESPONSE rounds allowed for one command: 256 bytes per round, so 16
/// covers any EMV response with a wide margin while stopping a looping card.
const MAX_GET_RESPONSE: usize = 16;

impl<C: CardChannel> Apdu<C> {
    /// Wraps a channel.
    pub fn new(channel: C) -> Self {
        Apdu {
            channel,
            trace: None,
        }
    }

    /// Starts keeping a masked trace of every exchange.
    pub fn enable_trace(&mut self) {
        self.trace.get_or_insert_with(Vec::new);
    }

    /// Takes the trace collected so far.
    pub fn take_trace(&mut self) -> Vec<TraceEntry> {
        self.trace.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// The wrapped channel.
    pub fn channel_mut(&mut self) -> &mut C {
        &mut self.channel
    }

    /// Gives the channel back.
    pub fn into_inner(self) -> C {
        self.channel
    }

    fn raw(&mut self, cmd: &Command) -> Result<Response, ApduError> {
        let bytes = cmd.to_bytes();
        let start = std::time::Instant::now();
        let result = self.channel.transmit(&bytes);
        let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        if let Some(trace) = self.trace.as_mut() {
            trace.push(TraceEntry {
                name: cmd.name,
                command: masked_command_hex(&bytes),
                response: match &result {
                    Ok(r) => masked_hex(r),
                    Err(e) => format!("error: {e}"),
                },
                micros,
            });
        }
        let raw = result?;
        Response::parse(&raw).ok_or(ApduError::TooShort {
            command: cmd.name,
            len: raw.len(),
        })
    }

    /// Sends `cmd`; on 61xx fetches the rest with GET RESPONSE and on 6Cxx
    /// resends with the Le the card asked for. Any other status word is
    /// returned to the caller, which knows what it means for that command.
    pub fn exchange(&mut self, cmd: &Command) -> Result<Response, ApduError> {
        let mut resp = self.raw(cmd)?;
        if resp.sw.sw1() == 0x6C {
            let mut again = cmd.clone();
            again.le = Some(resp.sw.sw2());
            resp = self.raw(&again)?;
            if resp.sw.sw1() == 0x6C {
                return Err(ApduError::Loop { command: cmd.name });
            }
        }
        let mut data = std::mem::take(&mut resp.data);
        let mut rounds = 0;
        while resp.sw.sw1() == 0x61 {
            rounds += 1;
            if rounds > MAX_GET_RESPONSE {
                return Err(ApduError::Loop { command: cmd.name });
            }
            let mut more = self.raw(&Command::get_response(resp.sw.sw2()))?;
            if more.sw.sw1() == 0x6C {
                more = self.raw(&Command::get_response(more.sw.sw2()))?;
            }
            data.extend_from_slice(&more.data);
            resp = more;
        }
        Ok(Response { data, sw: resp.sw })
    }
}

/// Hex of a command APDU for traces and logs: a VERIFY's data (an offline
/// PIN block, plaintext or enciphered) is masked, everything else shown.
pub fn masked_command_hex(bytes: &[u8]) -> String {
    const VERIFY: u8 = 0x20;
    match bytes {
        [cla, VERIFY, p1, p2, lc, data @ ..] => format!(
            "{}{}",
            hex::encode_upper([*cla, VERIFY, *p1, *p2, *lc]),
            "EE".repeat(data.len())
        ),
        _ => hex::encode_upper(bytes),
    }
}

/// Hex of a response APDU with the values of sensitive tags replaced by a
/// mask, for traces and logs. A body that does not parse as TLV (a card's
/// malformed answer) could hold anything, a card number included: it is
/// masked whole, its length and status word kept.
pub fn masked_hex(bytes: &[u8]) -> String {
    let Some(body_len) = bytes.len().checked_sub(2) else {
        return hex::encode_upper(bytes);
    };
    let (body, sw) = bytes.split_at(body_len);
    match tlv::parse_all(body) {
        Ok(list) if !list.is_empty() => {
            let masked: Vec<tlv::Tlv> = list.iter().map(mask_tlv).collect();
            format!(
                "{}{}",
                hex::encode_upper(tlv::encode_all(&masked)),
                hex::encode_upper(sw)
            )
        }
        _ => format!("{}{}", "EE".repeat(body.len()), hex::encode_upper(sw)),
    }
}

fn mask_tlv(t: &tlv::Tlv) -> tlv::Tlv {
    match &t.value {
        tlv::Value::Constructed(c) => tlv::Tlv {
            tag: t.tag,
            value: tlv::Value::Constructed(c.iter().map(mask_tlv).collect()),
        },
        tlv::Value::Primitive(v) if tags::is_sensitive(t.tag) => tlv::Tlv {
            tag: t.tag,
            value: tlv::Value::Primitive(mask_value(t.tag.0, v)),
        },
        tlv::Value::Primitive(_) => t.clone(),
    }
}

/// PAN and track 2 keep the first 6 and last 4 PAN digits (the PCI DSS
/// display rule); everything after the track 2 separator (expiry, service
/// code, discretionary data with the iCVV) is masked too. Other sensitive
/// values become 0xEE bytes of the same length so the trace keeps its shape.
fn mask_value(tag: u32, v: &[u8]) -> Vec<u8> {
    if tag != tags::PAN && tag != tags::TRACK2 {
        return vec![0xEE; v.len()];
    }
    let nibbles: Vec<u8> = v.iter().flat_map(|b| [b >> 4, b & 0x0F]).collect();
    let pan_len = nibbles.iter().position(|d| *d > 9).unwrap_or(nibbles.len());
    let masked: Vec<u8> = nibbles
        .iter()
        .enumerate()
        .map(|(i, d)| {
            if i < pan_len {
                if !tillpoint_core::tender::pan_digit_shown(i, pan_len) {
                    0x0E
                } else {
                    *d
                }
            } else if *d == 0x0D || *d == 0x0F {
                *d
            } else {
                0x0E
            }
        })
        .collect();
    masked
        .chunks(2)
        .map(|c| match c {
            [a, b] => (a << 4) | b,
            [a] => a << 4,
            _ => 0,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Replays scripted responses and records what it was sent.
    struct Script {
        responses: VecDeque<Vec<u8>>,
        sent: Vec<Vec<u8>>,
    }

    impl CardChannel for Script {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
            self.sent.push(apdu.to_vec());
            self.responses.pop_front().ok_or(ChannelError::Timeout(1))
        }
    }

    fn script(r: &[&str]) -> Script {
        Script {
            responses: r.iter().map(|h| hex::decode(h).unwrap()).collect(),
            sent: Vec::new(),
        }
    }

    #[test]
    fn encodes_commands() {
        assert_eq!(
            Command::select(b"1PAY.SYS.DDF01", false).to_bytes(),
            hex::decode("00A404000E315041592E5359532E444446303100").unwrap()
        );
        assert_eq!(
            Command::read_record(1, 2).to_bytes(),
            [0x00, 0xB2, 0x02, 0x0C, 0x00]
        );
        assert_eq!(
            Command::get_processing_options(&[]).to_bytes(),
            [0x80, 0xA8, 0x00, 0x00, 0x02, 0x83, 0x00, 0x00]
        );
        assert_eq!(
            Command::get_data(0x9F36).to_bytes(),
            [0x80, 0xCA, 0x9F, 0x36, 0x00]
        );
        assert_eq!(
            Command::external_authenticate(vec![1, 2]).to_bytes(),
            [0x00, 0x82, 0x00, 0x00, 0x02, 1, 2]
        );
    }

    #[test]
    fn t0_get_response_chains() {
        let mut a = Apdu::new(script(&["6105", "01020304056103", "0607089000"]));
        let r = a.exchange(&Command::read_record(1, 1)).unwrap();
        assert_eq!(r.data, vec![1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(r.sw.is_ok());
        let sent = &a.channel_mut().sent;
        assert_eq!(sent[1], vec![0x00, 0xC0, 0x00, 0x00, 0x05]);
        assert_eq!(sent[2], vec![0x00, 0xC0, 0x00, 0x00, 0x03]);
    }

    #[test]
    fn t0_wrong_le_is_resent() {
        let mut a = Apdu::new(script(&["6C10", "AABB9000"]));
        let r = a.exchange(&Command::read_record(2, 1)).unwrap();
        assert_eq!(r.data, vec![0xAA, 0xBB]);
        assert_eq!(a.channel_mut().sent[1], vec![0x00, 0xB2, 0x01, 0x14, 0x10]);
    }

    #[test]
    fn looping_card_is_stopped() {
        let mut s = script(&[]);
        for _ in 0..40 {
            s.responses.push_back(vec![0x61, 0x01]);
        }
        let mut a = Apdu::new(s);
        assert!(matches!(
            a.exchange(&Command::read_record(1, 1)),
            Err(ApduError::Loop { .. })
        ));
        let mut b = Apdu::new(script(&["6C10", "6C11"]));
        assert!(matches!(
            b.exchange(&Command::read_record(1, 1)),
            Err(ApduError::Loop { .. })
        ));
    }

    #[test]
    fn short_response_and_transport_errors() {
        let mut a = Apdu::new(script(&["90"]));
        assert!(matches!(
            a.exchange(&Command::read_record(1, 1)),
            Err(ApduError::TooShort { len: 1, .. })
        ));
        let mut b = Apdu::new(script(&[]));
        assert_eq!(
            b.exchange(&Command::read_record(1, 1)),
            Err(ApduError::Channel(ChannelError::Timeout(1)))
        );
    }

    #[test]
    fn trace_masks_pan_and_track2() {
        let mut a = Apdu::new(script(&["70115A0847617390010100109F1F0431323334 9000"
            .replace(' ', "")
            .as_str()]));
        a.enable_trace();
        a.exchange(&Command::read_record(1, 1)).unwrap();
        let t = a.take_trace();
        assert_eq!(t.len(), 1);
        assert!(
            t[0].response.contains("476173EEEEEE0010"),
            "{}",
            t[0].response
        );
        assert!(
            t[0].response.contains("9F1F04EEEEEEEE"),
            "{}",
            t[0].response
        );
        assert!(!t[0].response.contains("4761739001010010"));
    }

    #[test]
    fn a_malformed_answer_and_a_pin_are_masked_whole() {
        // A record cut short: no longer TLV, still holding the card number.
        let cut = hex::decode("70115A084761739001010010579000").unwrap();
        let shown = masked_hex(&cut);
        assert!(!shown.contains("4761739001"), "{shown}");
        assert!(
            shown.ends_with("9000") && shown.len() == cut.len() * 2,
            "{shown}"
        );
        // Track 2 discretionary data (the iCVV's home) is masked in TLV.
        let dd = hex::decode("70069F2003123456 9000".replace(' ', "")).unwrap();
        assert_eq!(masked_hex(&dd), "70069F2003EEEEEE9000");
        // An offline plaintext PIN in a VERIFY never reaches a trace.
        let verify = hex::decode("0020008008241234FFFFFFFFFF").unwrap();
        let shown = masked_command_hex(&verify);
        assert_eq!(shown, format!("0020008008{}", "EE".repeat(8)));
        let mut a = Apdu::new(script(&["9000"]));
        a.enable_trace();
        let _ = a.exchange(&Command::parse(&verify).unwrap());
        assert!(!a.take_trace()[0].command.contains("241234"));
    }
}

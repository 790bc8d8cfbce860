//! Abecs link-layer packets: `SYN data ETB crc-hi crc-lo`, DC3 escaping, CRC-16.
//!
//! * `data` is 1 to [`MAX_PAYLOAD`] bytes (the command or response text).
//! * Inside `data`, the bytes DC3 (13h), SYN (16h) and ETB (17h) are sent as
//!   DC3 followed by the byte plus 20h (`13 33`, `13 36`, `13 37`).
//! * The CRC is CRC-16 with polynomial 1021h and initial value 0000h (the
//!   "XMODEM" parameters), computed over the unescaped `data` followed by ETB,
//!   sent most significant byte first. The two CRC bytes are sent raw, not
//!   escaped: the receiver knows exactly two bytes follow ETB. This is what
//!   ACBr's `ACBrAbecsPinPad` and mniak/bcpinpad do and what the pads they talk
//!   to expect.
//! * Outside a packet, single control bytes travel: ACK (06h), NAK (15h), EOT
//!   (04h) and CAN (18h).
//!
//! The [`FrameDecoder`] is a byte-at-a-time state machine that never panics and
//! never blocks: it skips noise between packets, restarts on a SYN in the middle
//! of a packet (the earlier partial packet is counted as noise), and reports a
//! packet with a bad CRC, a bad escape or an oversize body as [`Event::Corrupt`]
//! so the receiver can answer NAK. Packets split across reads are reassembled
//! because the decoder keeps its state between calls.

use std::fmt;

/// Acknowledge: the packet was received intact.
pub const ACK: u8 = 0x06;
/// Negative acknowledge: retransmit the last packet.
pub const NAK: u8 = 0x15;
/// End of transmission: the pad's answer to CAN.
pub const EOT: u8 = 0x04;
/// Cancel: the till aborts a blocking command.
pub const CAN: u8 = 0x18;
/// Escape byte.
pub const DC3: u8 = 0x13;
/// Start of packet.
pub const SYN: u8 = 0x16;
/// End of packet body.
pub const ETB: u8 = 0x17;

/// Largest packet body (before escaping) in bytes.
pub const MAX_PAYLOAD: usize = 1024;

/// Why a packet could not be built or was received damaged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A packet must carry at least one byte.
    #[error("empty packet")]
    Empty,
    /// The body exceeds [`MAX_PAYLOAD`].
    #[error("packet body longer than {MAX_PAYLOAD} bytes")]
    TooLong,
    /// DC3 followed by a byte other than 33h, 36h or 37h.
    #[error("invalid escape sequence DC3 {0:02X}")]
    BadEscape(u8),
    /// A packet stopped arriving mid-way (no byte within the inter-byte
    /// timeout); reported by the link, never by the decoder itself.
    #[error("packet interrupted")]
    Truncated,
    /// The CRC does not match the body.
    #[error("CRC mismatch: computed {computed:04X}, received {received:04X}")]
    BadCrc {
        /// CRC computed over the received body.
        computed: u16,
        /// CRC carried by the packet.
        received: u16,
    },
}

/// A single control byte received outside a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// ACK (06h).
    Ack,
    /// NAK (15h).
    Nak,
    /// EOT (04h).
    Eot,
    /// CAN (18h).
    Can,
}

impl Control {
    /// The byte on the wire.
    pub fn byte(self) -> u8 {
        match self {
            Control::Ack => ACK,
            Control::Nak => NAK,
            Control::Eot => EOT,
            Control::Can => CAN,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            ACK => Some(Control::Ack),
            NAK => Some(Control::Nak),
            EOT => Some(Control::Eot),
            CAN => Some(Control::Can),
            _ => None,
        }
    }
}

/// What the decoder recognised.
#[derive(Clone, PartialEq, Eq)]
pub enum Event {
    /// An intact packet body (unescaped, CRC checked).
    Frame(Vec<u8>),
    /// A control byte between packets.
    Control(Control),
    /// A damaged packet: the receiver should answer NAK.
    Corrupt(FrameError),
}

impl fmt::Debug for Event {
    // Bodies may carry a PIN block or a PAN: print only their length.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Frame(body) => write!(f, "Frame({} bytes)", body.len()),
            Event::Control(c) => write!(f, "Control({c:?})"),
            Event::Corrupt(e) => write!(f, "Corrupt({e:?})"),
        }
    }
}

/// CRC-16, polynomial 1021h, initial value 0000h, no reflection, no final XOR.
pub fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |crc, &byte| {
        let mut crc = crc ^ (u16::from(byte) << 8);
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
        crc
    })
}

fn packet_crc(body: &[u8]) -> u16 {
    let crc = crc16(body);
    // Continue the CRC over the trailing ETB without copying the body.
    let mut crc = crc ^ (u16::from(ETB) << 8);
    for _ in 0..8 {
        crc = if crc & 0x8000 != 0 {
            (crc << 1) ^ 0x1021
        } else {
            crc << 1
        };
    }
    crc
}

/// Builds the wire bytes of a packet carrying `body`.
pub fn encode(body: &[u8]) -> Result<Vec<u8>, FrameError> {
    if body.is_empty() {
        return Err(FrameError::Empty);
    }
    if body.len() > MAX_PAYLOAD {
        return Err(FrameError::TooLong);
    }
    let mut out = Vec::with_capacity(body.len() + 8);
    out.push(SYN);
    for &b in body {
        if matches!(b, DC3 | SYN | ETB) {
            out.push(DC3);
            out.push(b + 0x20);
        } else {
            out.push(b);
        }
    }
    out.push(ETB);
    out.extend_from_slice(&packet_crc(body).to_be_bytes());
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between packets.
    Idle,
    /// Inside a packet body.
    Body,
    /// After DC3 inside a body.
    Escape,
    /// After ETB, waiting for the first CRC byte.
    CrcHigh,
    /// Waiting for the second CRC byte.
    CrcLow(u8),
    /// After a damaged body: skip to the next SYN.
    Discard,
}

/// Incremental packet decoder; see the module documentation.
#[derive(Debug)]
pub struct FrameDecoder {
    state: State,
    body: Vec<u8>,
    noise: u64,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder waiting for a packet.
    pub fn new() -> Self {
        Self {
            state: State::Idle,
            body: Vec::with_capacity(64),
            noise: 0,
        }
    }

    /// Whether a packet has started but not finished (used for the inter-byte timeout).
    pub fn in_packet(&self) -> bool {
        !matches!(self.state, State::Idle | State::Discard)
    }

    /// Drops any partial packet (after an inter-byte timeout or a resync).
    pub fn reset(&mut self) {
        self.noise += self.body.len() as u64;
        self.wipe_body();
        self.state = State::Idle;
    }

    /// Number of bytes skipped as noise so far.
    pub fn noise_bytes(&self) -> u64 {
        self.noise
    }

    fn wipe_body(&mut self) {
        // The body may hold a PIN block or PAN digits: overwrite before reuse.
        zeroize::Zeroize::zeroize(&mut self.body);
    }

    fn start(&mut self) {
        self.wipe_body();
        self.state = State::Body;
    }

    /// Feeds one byte; returns an event when one completes.
    pub fn push(&mut self, byte: u8) -> Option<Event> {
        match self.state {
            State::Idle | State::Discard => {
                if byte == SYN {
                    self.start();
                } else if let (State::Idle, Some(c)) = (self.state, Control::from_byte(byte)) {
                    return Some(Event::Control(c));
                } else {
                    self.noise += 1;
                }
                None
            }
            State::Body => match byte {
                SYN => {
                    // A new packet starts before the old one ended: resync.
                    self.noise += 1 + self.body.len() as u64;
                    self.start();
                    None
                }
                ETB => {
                    self.state = State::CrcHigh;
                    None
                }
                DC3 => {
                    self.state = State::Escape;
                    None
                }
                b => self.take(b),
            },
            State::Escape => match byte {
                0x33 | 0x36 | 0x37 => {
                    self.state = State::Body;
                    self.take(byte - 0x20)
                }
                SYN => {
                    self.noise += 2 + self.body.len() as u64;
                    self.start();
                    None
                }
                other => self.fail(FrameError::BadEscape(other)),
            },
            State::CrcHigh => {
                self.state = State::CrcLow(byte);
                None
            }
            State::CrcLow(high) => {
                let received = u16::from_be_bytes([high, byte]);
                self.state = State::Idle;
                if self.body.is_empty() {
                    return Some(Event::Corrupt(FrameError::Empty));
                }
                let computed = packet_crc(&self.body);
                if computed != received {
                    self.wipe_body();
                    return Some(Event::Corrupt(FrameError::BadCrc { computed, received }));
                }
                Some(Event::Frame(std::mem::take(&mut self.body)))
            }
        }
    }

    fn take(&mut self, b: u8) -> Option<Event> {
        if self.body.len() >= MAX_PAYLOAD {
            return self.fail(FrameError::TooLong);
        }
        self.body.push(b);
        None
    }

    fn fail(&mut self, e: FrameError) -> Option<Event> {
        self.wipe_body();
        self.state = State::Discard;
        Some(Event::Corrupt(e))
    }

    /// Feeds a slice and appends every completed event to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Event>) {
        for &b in bytes {
            if let Some(e) = self.push(b) {
                out.push(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> Vec<Event> {
        let mut d = FrameDecoder::new();
        let mut out = Vec::new();
        d.feed(bytes, &mut out);
        out
    }

    #[test]
    fn crc_check_value() {
        // CRC-16/XMODEM catalogue check value (reveng CRC catalogue): "123456789" → 31C3.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(crc16(b""), 0);
    }

    #[test]
    fn published_abecs_packets() {
        // mniak/bcpinpad datalink tests: "OPN000" → CRC 77 5E, "AAAAAAAA" → 9A 63.
        let opn = encode(b"OPN000").unwrap();
        assert_eq!(opn, [&[SYN][..], b"OPN000", &[ETB, 0x77, 0x5E]].concat());
        let a = encode(b"AAAAAAAA").unwrap();
        assert_eq!(&a[a.len() - 2..], &[0x9A, 0x63]);
        assert_eq!(decode_all(&opn), vec![Event::Frame(b"OPN000".to_vec())]);
    }

    #[test]
    fn escaping_round_trip() {
        let body = [b'X', DC3, SYN, ETB, CAN, ACK, b'Y'];
        let wire = encode(&body).unwrap();
        assert_eq!(
            &wire[..12],
            &[SYN, b'X', DC3, 0x33, DC3, 0x36, DC3, 0x37, CAN, ACK, b'Y', ETB]
        );
        assert_eq!(decode_all(&wire), vec![Event::Frame(body.to_vec())]);
    }

    #[test]
    fn controls_between_packets() {
        let mut wire = vec![ACK, NAK];
        wire.extend(encode(b"GIN000").unwrap());
        wire.extend([EOT, CAN]);
        assert_eq!(
            decode_all(&wire),
            vec![
                Event::Control(Control::Ack),
                Event::Control(Control::Nak),
                Event::Frame(b"GIN000".to_vec()),
                Event::Control(Control::Eot),
                Event::Control(Control::Can),
            ]
        );
    }

    #[test]
    fn bad_crc_is_reported_then_next_packet_decodes() {
        let mut wire = encode(b"DSP000").unwrap();
        let n = wire.len();
        wire[n - 1] ^= 0x01;
        wire.extend(encode(b"DSP000").unwrap());
        let events = decode_all(&wire);
        assert!(matches!(
            events[0],
            Event::Corrupt(FrameError::BadCrc { .. })
        ));
        assert_eq!(events[1], Event::Frame(b"DSP000".to_vec()));
    }

    #[test]
    fn resync_after_garbage_and_truncated_packet() {
        let mut wire = vec![0x00, 0xFF, b'z', SYN, b'O', b'P']; // truncated packet
        wire.extend(encode(b"CLO000").unwrap());
        let mut d = FrameDecoder::new();
        let mut out = Vec::new();
        d.feed(&wire, &mut out);
        assert_eq!(out, vec![Event::Frame(b"CLO000".to_vec())]);
        assert_eq!(d.noise_bytes(), 6);
    }

    #[test]
    fn split_packets_reassemble_byte_by_byte() {
        let wire = encode(&[b'A', SYN, b'B', ETB, DC3]).unwrap();
        let mut d = FrameDecoder::new();
        let mut out = Vec::new();
        for chunk in wire.chunks(1) {
            d.feed(chunk, &mut out);
        }
        assert_eq!(out, vec![Event::Frame(vec![b'A', SYN, b'B', ETB, DC3])]);
    }

    #[test]
    fn bad_escape_and_oversize() {
        let events = decode_all(&[SYN, b'A', DC3, b'x', b'B', ETB, 0, 0]);
        assert_eq!(events, vec![Event::Corrupt(FrameError::BadEscape(b'x'))]);
        let mut big = vec![SYN];
        big.extend(std::iter::repeat_n(b'a', MAX_PAYLOAD + 1));
        big.extend([ETB, 0, 0]);
        assert_eq!(decode_all(&big), vec![Event::Corrupt(FrameError::TooLong)]);
        assert_eq!(encode(&[]), Err(FrameError::Empty));
        assert_eq!(
            encode(&vec![b'a'; MAX_PAYLOAD + 1]),
            Err(FrameError::TooLong)
        );
        assert!(encode(&vec![b'a'; MAX_PAYLOAD]).is_ok());
        assert_eq!(
            decode_all(&[SYN, ETB, 0, 0]),
            vec![Event::Corrupt(FrameError::Empty)]
        );
    }

    #[test]
    fn crc_bytes_equal_to_control_bytes_are_raw() {
        // Search bodies whose CRC contains SYN/ETB/DC3 and check they round-trip.
        let mut found = 0;
        for i in 0..5000u32 {
            let body = format!("GIN{i:06}");
            let crc = packet_crc(body.as_bytes()).to_be_bytes();
            if crc
                .iter()
                .any(|b| matches!(*b, SYN | ETB | DC3 | ACK | CAN))
            {
                found += 1;
                let wire = encode(body.as_bytes()).unwrap();
                assert_eq!(decode_all(&wire), vec![Event::Frame(body.into_bytes())]);
            }
        }
        assert!(found > 10);
    }

    proptest::proptest! {
        #[test]
        fn round_trip_any_body(body in proptest::collection::vec(proptest::num::u8::ANY, 1..=MAX_PAYLOAD),
                               split in 1usize..64) {
            let wire = encode(&body).unwrap();
            let mut d = FrameDecoder::new();
            let mut out = Vec::new();
            for chunk in wire.chunks(split) {
                d.feed(chunk, &mut out);
            }
            proptest::prop_assert_eq!(out, vec![Event::Frame(body)]);
        }

        #[test]
        fn garbage_then_packet(noise in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
                               body in proptest::collection::vec(proptest::num::u8::ANY, 1..100)) {
            // Noise may end inside a fake packet's CRC and swallow the next
            // packet's SYN; that packet is lost (the sender retransmits it) but
            // the retransmission always decodes.
            let mut wire = noise;
            wire.extend(encode(&body).unwrap());
            wire.extend(encode(&body).unwrap());
            let mut d = FrameDecoder::new();
            let mut out = Vec::new();
            d.feed(&wire, &mut out);
            proptest::prop_assert_eq!(out.last(), Some(&Event::Frame(body)));
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..3000)) {
            let mut d = FrameDecoder::new();
            let mut out = Vec::new();
            d.feed(&bytes, &mut out);
        }
    }
}

//! An ESC/POS parser for the printer emulator, written from the command reference and
//! deliberately independent of `devices::printer::encode`: when the encoder and this parser
//! agree, both are likely right; when one drifts, the round-trip tests fail.
//!
//! The parser is incremental ([`Parser::push`] takes bytes as they arrive on a socket and
//! returns the items completed so far) because the emulator has to answer `DLE EOT` status
//! requests while a job is still streaming in. Every malformed or unsupported input ends in
//! a [`ParseError`] with the stream offset; nothing panics and nothing is skipped silently.

use std::borrow::Cow;

use unicode_width::UnicodeWidthChar;

/// Default line pitch in dots (ESC 2: about 1/6 inch at 203 dpi).
pub const DEFAULT_LINE_SPACING: u8 = 30;

/// Largest single command the parser buffers (a 255 × 4095 raster image is just under 1 MiB).
const MAX_BUFFER: usize = 2 * 1024 * 1024;
/// Characters one unterminated line may hold before the input is deemed garbage.
const MAX_LINE_CHARS: usize = 1024;

/// Horizontal placement the printer applies to a line, barcode, QR code or image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Align {
    /// Flush left.
    #[default]
    Left,
    /// Centred.
    Center,
    /// Flush right.
    Right,
}

/// Character style in effect for a run of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Style {
    /// Emphasized or double-strike.
    pub bold: bool,
    /// Underline thickness in dots: 0 none, 1 or 2.
    pub underline: u8,
    /// Horizontal magnification 1–8.
    pub width: u8,
    /// Vertical magnification 1–8.
    pub height: u8,
}

impl Default for Style {
    fn default() -> Self {
        Self {
            bold: false,
            underline: 0,
            width: 1,
            height: 1,
        }
    }
}

/// A run of characters with one style.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Span {
    /// Decoded text.
    pub text: String,
    /// Its style.
    pub style: Style,
}

/// One printed line of text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Line {
    /// Justification in effect when the line began.
    pub align: Align,
    /// Styled runs, left to right; empty for a blank line.
    pub spans: Vec<Span>,
    /// Line pitch in dots.
    pub spacing: u8,
}

impl Line {
    /// The line's characters without styling.
    pub fn text(&self) -> String {
        self.spans.iter().map(|s| s.text.as_str()).collect()
    }
}

/// Columns a character takes in a printer's font: CJK/fullwidth two, the rest one.
pub fn columns_of(c: char) -> usize {
    if c.width() == Some(2) {
        2
    } else {
        1
    }
}

/// 1D barcode symbologies of `GS k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Symbology {
    /// UPC-A.
    UpcA,
    /// UPC-E.
    UpcE,
    /// EAN-13 (JAN-13).
    Ean13,
    /// EAN-8 (JAN-8).
    Ean8,
    /// CODE39.
    Code39,
    /// Interleaved 2 of 5.
    Itf,
    /// Codabar (NW-7).
    Codabar,
    /// CODE93.
    Code93,
    /// CODE128.
    Code128,
}

/// Position of the human-readable interpretation (HRI) of a barcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HriPosition {
    /// Not printed.
    #[default]
    None,
    /// Above the bars.
    Above,
    /// Below the bars.
    Below,
    /// Above and below.
    Both,
}

/// A barcode as the printer would print it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Barcode {
    /// Symbology.
    pub symbology: Symbology,
    /// The data bytes as sent.
    pub data: Vec<u8>,
    /// The human-readable text (EAN-13 with its check digit, CODE128 decoded).
    pub text: String,
    /// CODE128 symbol values: start code first, then data values (no check value, no stop).
    pub code128: Option<Vec<u8>>,
    /// Bar height in dots (GS h).
    pub height: u8,
    /// Narrow module width in dots (GS w).
    pub module: u8,
    /// HRI placement (GS H).
    pub hri: HriPosition,
    /// Justification.
    pub align: Align,
}

/// QR error correction level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QrEcLevel {
    /// 7 %.
    L,
    /// 15 %.
    M,
    /// 25 %.
    Q,
    /// 30 %.
    H,
}

/// A QR code print.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Qr {
    /// Symbol data.
    pub data: Vec<u8>,
    /// Model: 1, 2, or 3 for Micro QR.
    pub model: u8,
    /// Module size in dots.
    pub module: u8,
    /// Error correction level.
    pub level: QrEcLevel,
    /// Justification.
    pub align: Align,
}

/// A `GS v 0` raster image.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Raster {
    /// Bytes per row.
    pub width_bytes: u16,
    /// Rows.
    pub height: u16,
    /// Horizontal scale 1 or 2.
    pub scale_x: u8,
    /// Vertical scale 1 or 2.
    pub scale_y: u8,
    /// Packed rows, MSB = leftmost dot.
    pub bits: Vec<u8>,
    /// Justification.
    pub align: Align,
}

impl Raster {
    /// Whether the dot at (x, y) is black.
    pub fn dot(&self, x: u32, y: u32) -> bool {
        let idx = y as usize * self.width_bytes as usize + (x / 8) as usize;
        self.bits
            .get(idx)
            .is_some_and(|b| b & (0x80 >> (x % 8)) != 0)
    }
}

/// Something the printer does, in stream order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Item {
    /// `ESC @`: printer reset.
    Init,
    /// A printed text line (or a blank one).
    Line(Line),
    /// Blank lines fed with `ESC d n` at the start of a line; `spacing` is the pitch.
    Feed { lines: u8, spacing: u8 },
    /// Paper fed by dots (`ESC J n`).
    FeedDots(u8),
    /// A 1D barcode.
    Barcode(Barcode),
    /// A QR code.
    Qr(Qr),
    /// A raster image.
    Raster(Raster),
    /// Feed to the cutter and cut.
    Cut { partial: bool },
    /// Drawer kick: pin 2 or 5, on and off time in ms.
    DrawerPulse { pin: u8, on_ms: u16, off_ms: u16 },
    /// `ESC B n t`: the buzzer sounds `times` beeps of `ms` each.
    Beep { times: u8, ms: u16 },
    /// `DLE EOT n`: the host wants status byte `n` (1–4) now.
    StatusRequest(u8),
}

/// What went wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ESC/POS error at byte {offset}: {kind}")]
pub struct ParseError {
    /// Offset of the offending command in the stream.
    pub offset: usize,
    /// What is wrong with it.
    pub kind: ParseErrorKind,
}

/// The kinds of malformed or unsupported input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// A command this emulator does not know.
    #[error("unknown command {}", hex(.0))]
    UnknownCommand(Vec<u8>),
    /// A control byte that is not a command.
    #[error("unexpected control byte 0x{0:02X}")]
    UnknownControl(u8),
    /// A parameter out of the command's range.
    #[error("{command}: parameter {value} out of range")]
    BadParameter { command: &'static str, value: u32 },
    /// Bytes that do not decode in the current character mode.
    #[error("undecodable text bytes {} ({reason})", hex(.bytes))]
    InvalidText {
        bytes: Vec<u8>,
        reason: &'static str,
    },
    /// The stream ended inside a command.
    #[error("stream ends inside a command: {}", hex(.0))]
    Truncated(Vec<u8>),
    /// A size beyond what a printer accepts.
    #[error("{what} of {size} exceeds the limit of {max}")]
    TooLarge {
        what: &'static str,
        size: usize,
        max: usize,
    },
    /// A code page the emulator has no table for.
    #[error("code page ESC t {0} is not supported by the emulator")]
    UnsupportedCodePage(u8),
    /// A real command the emulator does not implement.
    #[error("{0} is not supported by the emulator")]
    Unsupported(&'static str),
    /// `GS ( k` print without stored data.
    #[error("QR print requested but no QR data stored")]
    QrWithoutData,
    /// Barcode data the symbology cannot encode.
    #[error("invalid {symbology:?} data {}: {reason}", hex(.data))]
    InvalidBarcode {
        symbology: Symbology,
        data: Vec<u8>,
        reason: &'static str,
    },
}

fn hex(b: &[u8]) -> String {
    let mut s: Vec<String> = b.iter().take(16).map(|x| format!("{x:02X}")).collect();
    if b.len() > 16 {
        s.push("…".to_string());
    }
    s.join(" ")
}

/// Single-byte tables the emulator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CodeTable {
    Pc437,
    Pc850,
    Pc858,
    Wpc1252,
}

impl CodeTable {
    fn from_n(n: u8) -> Option<Self> {
        match n {
            0 => Some(Self::Pc437),
            2 => Some(Self::Pc850),
            16 => Some(Self::Wpc1252),
            19 => Some(Self::Pc858),
            _ => None,
        }
    }

    /// Decodes a byte ≥ 0x80.
    fn decode(self, b: u8) -> Option<char> {
        let idx = usize::from(b.checked_sub(0x80)?);
        let cp = match self {
            Self::Pc437 => *CP437_HIGH.get(idx)?,
            Self::Pc850 => *CP850_HIGH.get(idx)?,
            Self::Pc858 if b == 0xD5 => 0x20AC,
            Self::Pc858 => *CP850_HIGH.get(idx)?,
            Self::Wpc1252 => {
                let bytes = [b];
                let (s, had_errors) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&bytes);
                if had_errors {
                    return None;
                }
                let c = s.chars().next()?;
                // encoding_rs maps the five undefined slots to C1 controls.
                if c.is_control() {
                    return None;
                }
                return Some(c);
            }
        };
        char::from_u32(u32::from(cp))
    }
}

/// IBM PC 437 upper half as Unicode scalar values (Unicode VENDORS/MICSFT/PC/CP437.TXT).
const CP437_HIGH: [u16; 128] = [
    0x00C7, 0x00FC, 0x00E9, 0x00E2, 0x00E4, 0x00E0, 0x00E5, 0x00E7, //
    0x00EA, 0x00EB, 0x00E8, 0x00EF, 0x00EE, 0x00EC, 0x00C4, 0x00C5, //
    0x00C9, 0x00E6, 0x00C6, 0x00F4, 0x00F6, 0x00F2, 0x00FB, 0x00F9, //
    0x00FF, 0x00D6, 0x00DC, 0x00A2, 0x00A3, 0x00A5, 0x20A7, 0x0192, //
    0x00E1, 0x00ED, 0x00F3, 0x00FA, 0x00F1, 0x00D1, 0x00AA, 0x00BA, //
    0x00BF, 0x2310, 0x00AC, 0x00BD, 0x00BC, 0x00A1, 0x00AB, 0x00BB, //
    0x2591, 0x2592, 0x2593, 0x2502, 0x2524, 0x2561, 0x2562, 0x2556, //
    0x2555, 0x2563, 0x2551, 0x2557, 0x255D, 0x255C, 0x255B, 0x2510, //
    0x2514, 0x2534, 0x252C, 0x251C, 0x2500, 0x253C, 0x255E, 0x255F, //
    0x255A, 0x2554, 0x2569, 0x2566, 0x2560, 0x2550, 0x256C, 0x2567, //
    0x2568, 0x2564, 0x2565, 0x2559, 0x2558, 0x2552, 0x2553, 0x256B, //
    0x256A, 0x2518, 0x250C, 0x2588, 0x2584, 0x258C, 0x2590, 0x2580, //
    0x03B1, 0x00DF, 0x0393, 0x03C0, 0x03A3, 0x03C3, 0x00B5, 0x03C4, //
    0x03A6, 0x0398, 0x03A9, 0x03B4, 0x221E, 0x03C6, 0x03B5, 0x2229, //
    0x2261, 0x00B1, 0x2265, 0x2264, 0x2320, 0x2321, 0x00F7, 0x2248, //
    0x00B0, 0x2219, 0x00B7, 0x221A, 0x207F, 0x00B2, 0x25A0, 0x00A0, //
];

/// IBM PC 850 upper half (Unicode VENDORS/MICSFT/PC/CP850.TXT); PC 858 differs only at 0xD5
/// (U+20AC instead of U+0131).
const CP850_HIGH: [u16; 128] = [
    0x00C7, 0x00FC, 0x00E9, 0x00E2, 0x00E4, 0x00E0, 0x00E5, 0x00E7, //
    0x00EA, 0x00EB, 0x00E8, 0x00EF, 0x00EE, 0x00EC, 0x00C4, 0x00C5, //
    0x00C9, 0x00E6, 0x00C6, 0x00F4, 0x00F6, 0x00F2, 0x00FB, 0x00F9, //
    0x00FF, 0x00D6, 0x00DC, 0x00F8, 0x00A3, 0x00D8, 0x00D7, 0x0192, //
    0x00E1, 0x00ED, 0x00F3, 0x00FA, 0x00F1, 0x00D1, 0x00AA, 0x00BA, //
    0x00BF, 0x00AE, 0x00AC, 0x00BD, 0x00BC, 0x00A1, 0x00AB, 0x00BB, //
    0x2591, 0x2592, 0x2593, 0x2502, 0x2524, 0x00C1, 0x00C2, 0x00C0, //
    0x00A9, 0x2563, 0x2551, 0x2557, 0x255D, 0x00A2, 0x00A5, 0x2510, //
    0x2514, 0x2534, 0x252C, 0x251C, 0x2500, 0x253C, 0x00E3, 0x00C3, //
    0x255A, 0x2554, 0x2569, 0x2566, 0x2560, 0x2550, 0x256C, 0x00A4, //
    0x00F0, 0x00D0, 0x00CA, 0x00CB, 0x00C8, 0x0131, 0x00CD, 0x00CE, //
    0x00CF, 0x2518, 0x250C, 0x2588, 0x2584, 0x00A6, 0x00CC, 0x2580, //
    0x00D3, 0x00DF, 0x00D4, 0x00D2, 0x00F5, 0x00D5, 0x00B5, 0x00FE, //
    0x00DE, 0x00DA, 0x00DB, 0x00D9, 0x00FD, 0x00DD, 0x00AF, 0x00B4, //
    0x00AD, 0x00B1, 0x2017, 0x00BE, 0x00B6, 0x00A7, 0x00F7, 0x00B8, //
    0x00B0, 0x00A8, 0x00B7, 0x00B9, 0x00B3, 0x00B2, 0x25A0, 0x00A0, //
];

/// Printer modes that persist between commands.
#[derive(Debug, Clone)]
struct State {
    bold: bool,
    double_strike: bool,
    underline: u8,
    kanji_underline: u8,
    width: u8,
    height: u8,
    kanji_double_w: bool,
    kanji_double_h: bool,
    align: Align,
    spacing: u8,
    table: CodeTable,
    kanji: bool,
    bar_height: u8,
    bar_module: u8,
    hri: HriPosition,
    qr_model: u8,
    qr_module: u8,
    qr_level: QrEcLevel,
    qr_data: Option<Vec<u8>>,
}

impl Default for State {
    /// Power-on defaults from the command reference.
    fn default() -> Self {
        Self {
            bold: false,
            double_strike: false,
            underline: 0,
            kanji_underline: 0,
            width: 1,
            height: 1,
            kanji_double_w: false,
            kanji_double_h: false,
            align: Align::Left,
            spacing: DEFAULT_LINE_SPACING,
            table: CodeTable::Pc437,
            kanji: false,
            bar_height: 162,
            bar_module: 3,
            hri: HriPosition::None,
            qr_model: 2,
            qr_module: 3,
            qr_level: QrEcLevel::L,
            qr_data: None,
        }
    }
}

/// Result of trying to parse one command from the buffer.
enum Step {
    /// Bytes consumed.
    Done(usize),
    /// The command is not complete yet.
    NeedMore,
}

/// Incremental ESC/POS parser.
#[derive(Debug, Default)]
pub struct Parser {
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    base: usize,
    state: State,
    line: Option<Line>,
    line_chars: usize,
    out: Vec<Item>,
}

macro_rules! need {
    ($e:expr) => {
        match $e {
            Some(v) => v,
            None => return Ok(Step::NeedMore),
        }
    };
}

impl Parser {
    /// A parser in the printer's power-on state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds more bytes and returns every item they complete. After an error, items
    /// completed before the bad bytes are available from [`take_parsed`](Self::take_parsed);
    /// the parser itself should then be dropped.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Item>, ParseError> {
        self.buf.extend_from_slice(data);
        let mut pos = 0;
        let buf = std::mem::take(&mut self.buf);
        let result = loop {
            let Some(rest) = buf.get(pos..) else {
                break Ok(());
            };
            if rest.is_empty() {
                break Ok(());
            }
            match self.step(rest, self.base + pos) {
                Ok(Step::Done(n)) => pos += n,
                Ok(Step::NeedMore) => break Ok(()),
                Err(kind) => {
                    break Err(ParseError {
                        offset: self.base + pos,
                        kind,
                    })
                }
            }
        };
        self.buf = buf;
        let consumed = pos.min(self.buf.len());
        self.buf.drain(..consumed);
        self.base += consumed;
        result?;
        if self.buf.len() > MAX_BUFFER {
            return Err(ParseError {
                offset: self.base,
                kind: ParseErrorKind::TooLarge {
                    what: "unfinished command",
                    size: self.buf.len(),
                    max: MAX_BUFFER,
                },
            });
        }
        Ok(std::mem::take(&mut self.out))
    }

    /// Ends the stream: an unfinished command is an error; unterminated text is printed as
    /// a last line (a printer would hold it until the next LF, but losing it from the
    /// emulator's picture would hide a missing line feed).
    pub fn finish(&mut self) -> Result<Vec<Item>, ParseError> {
        if !self.buf.is_empty() {
            return Err(ParseError {
                offset: self.base,
                kind: ParseErrorKind::Truncated(self.buf.clone()),
            });
        }
        self.flush_line();
        Ok(std::mem::take(&mut self.out))
    }

    /// Items completed before a [`push`](Self::push) that returned an error, so what came
    /// before the bad bytes can still be printed.
    pub fn take_parsed(&mut self) -> Vec<Item> {
        std::mem::take(&mut self.out)
    }

    /// Whether text is waiting for a line feed.
    pub fn has_pending_text(&self) -> bool {
        self.line.is_some()
    }

    fn step(&mut self, b: &[u8], _offset: usize) -> Result<Step, ParseErrorKind> {
        let Some(&first) = b.first() else {
            return Ok(Step::NeedMore);
        };
        match first {
            0x0A => {
                self.print_line();
                Ok(Step::Done(1))
            }
            0x0D | 0x00 => Ok(Step::Done(1)),
            0x09 => {
                let cols = self.pending_columns();
                for _ in 0..(8 - cols % 8) {
                    self.add_char(' ', false)?;
                }
                Ok(Step::Done(1))
            }
            0x10 => self.dle(b),
            0x1B => self.esc(b),
            0x1C => self.fs(b),
            0x1D => self.gs(b),
            0x20..=0x7E => {
                self.add_char(char::from(first), false)?;
                Ok(Step::Done(1))
            }
            0x7F => Err(ParseErrorKind::UnknownControl(first)),
            0x80..=0xFF => self.high_text(b),
            _ => Err(ParseErrorKind::UnknownControl(first)),
        }
    }

    fn high_text(&mut self, b: &[u8]) -> Result<Step, ParseErrorKind> {
        let first = need!(b.first().copied());
        if !self.state.kanji {
            let c = self
                .state
                .table
                .decode(first)
                .ok_or(ParseErrorKind::InvalidText {
                    bytes: vec![first],
                    reason: "undefined in the selected code page",
                })?;
            self.add_char(c, false)?;
            return Ok(Step::Done(1));
        }
        // GB18030: lead 81–FE; then either a trail 40–7E/80–FE (two bytes) or a digit
        // 30–39 starting a four-byte sequence 81–FE 30–39 81–FE 30–39.
        let bad = |bytes: &[u8], reason| ParseErrorKind::InvalidText {
            bytes: bytes.to_vec(),
            reason,
        };
        if !(0x81..=0xFE).contains(&first) {
            return Err(bad(&[first], "not a GB18030 lead byte"));
        }
        let second = need!(b.get(1).copied());
        let len = match second {
            0x30..=0x39 => 4,
            0x40..=0x7E | 0x80..=0xFE => 2,
            _ => return Err(bad(&[first, second], "not a GB18030 trail byte")),
        };
        let seq = need!(b.get(..len));
        if len == 4 {
            let (Some(third), Some(fourth)) = (seq.get(2), seq.get(3)) else {
                return Ok(Step::NeedMore);
            };
            if !(0x81..=0xFE).contains(third) || !(0x30..=0x39).contains(fourth) {
                return Err(bad(seq, "malformed four-byte GB18030 sequence"));
            }
        }
        let decoded: Option<Cow<str>> =
            encoding_rs::GB18030.decode_without_bom_handling_and_without_replacement(seq);
        let mut chars = decoded.as_deref().unwrap_or("").chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => {
                self.add_char(c, true)?;
                Ok(Step::Done(len))
            }
            _ => Err(bad(seq, "unassigned GB18030 sequence")),
        }
    }

    fn dle(&mut self, b: &[u8]) -> Result<Step, ParseErrorKind> {
        let cmd = need!(b.get(1).copied());
        match cmd {
            0x04 => {
                let n = need!(b.get(2).copied());
                if !(1..=4).contains(&n) {
                    return Err(ParseErrorKind::BadParameter {
                        command: "DLE EOT",
                        value: n.into(),
                    });
                }
                self.out.push(Item::StatusRequest(n));
                Ok(Step::Done(3))
            }
            0x14 => {
                // DLE DC4 fn m t: fn 1 = real-time drawer pulse, t in 100 ms units.
                let [fnc, m, t] = need!(bytes_at::<3>(b, 2));
                if fnc != 1 {
                    return Err(ParseErrorKind::Unsupported("DLE DC4 other than fn 1"));
                }
                let pin = drawer_pin(m)?;
                if !(1..=8).contains(&t) {
                    return Err(ParseErrorKind::BadParameter {
                        command: "DLE DC4 1",
                        value: t.into(),
                    });
                }
                let ms = u16::from(t) * 100;
                self.out.push(Item::DrawerPulse {
                    pin,
                    on_ms: ms,
                    off_ms: ms,
                });
                Ok(Step::Done(5))
            }
            _ => Err(ParseErrorKind::UnknownCommand(vec![0x10, cmd])),
        }
    }

    fn esc(&mut self, b: &[u8]) -> Result<Step, ParseErrorKind> {
        let cmd = need!(b.get(1).copied());
        let arg = || b.get(2).copied();
        let bad = |command, value: u8| ParseErrorKind::BadParameter {
            command,
            value: value.into(),
        };
        match cmd {
            b'@' => {
                self.state = State::default();
                self.line = None;
                self.line_chars = 0;
                self.out.push(Item::Init);
                Ok(Step::Done(2))
            }
            b'E' => {
                self.state.bold = need!(arg()) & 1 == 1;
                Ok(Step::Done(3))
            }
            b'G' => {
                self.state.double_strike = need!(arg()) & 1 == 1;
                Ok(Step::Done(3))
            }
            b'-' => {
                let n = need!(arg());
                self.state.underline = underline(n).ok_or(bad("ESC -", n))?;
                Ok(Step::Done(3))
            }
            b'a' => {
                let n = need!(arg());
                let a = match n {
                    0 | 48 => Align::Left,
                    1 | 49 => Align::Center,
                    2 | 50 => Align::Right,
                    _ => return Err(bad("ESC a", n)),
                };
                // Only effective at the beginning of a line.
                if self.line.is_none() {
                    self.state.align = a;
                }
                Ok(Step::Done(3))
            }
            b'!' => {
                let n = need!(arg());
                self.state.bold = n & 0x08 != 0;
                self.state.height = if n & 0x10 != 0 { 2 } else { 1 };
                self.state.width = if n & 0x20 != 0 { 2 } else { 1 };
                self.state.underline = if n & 0x80 != 0 { 1 } else { 0 };
                Ok(Step::Done(3))
            }
            b'd' => {
                let n = need!(arg());
                let spacing = self.state.spacing;
                if self.line.is_some() {
                    self.print_line();
                    if n > 1 {
                        self.out.push(Item::Feed {
                            lines: n - 1,
                            spacing,
                        });
                    }
                } else if n > 0 {
                    self.out.push(Item::Feed { lines: n, spacing });
                }
                Ok(Step::Done(3))
            }
            b'J' => {
                let n = need!(arg());
                self.print_line_if_pending();
                self.out.push(Item::FeedDots(n));
                Ok(Step::Done(3))
            }
            b't' => {
                let n = need!(arg());
                self.state.table =
                    CodeTable::from_n(n).ok_or(ParseErrorKind::UnsupportedCodePage(n))?;
                Ok(Step::Done(3))
            }
            b'R' => {
                let n = need!(arg());
                if n > 17 {
                    return Err(bad("ESC R", n));
                }
                if n != 0 {
                    return Err(ParseErrorKind::Unsupported(
                        "international character sets other than USA (ESC R 0)",
                    ));
                }
                Ok(Step::Done(3))
            }
            b'M' => {
                let n = need!(arg());
                match n {
                    0 | 48 => Ok(Step::Done(3)),
                    1 | 2 | 49 | 50 => Err(ParseErrorKind::Unsupported("fonts other than A")),
                    _ => Err(bad("ESC M", n)),
                }
            }
            b'2' => {
                self.state.spacing = DEFAULT_LINE_SPACING;
                Ok(Step::Done(2))
            }
            b'3' => {
                self.state.spacing = need!(arg());
                Ok(Step::Done(3))
            }
            b'B' => {
                // Buzzer printers take 1-9 for both; anything else is not
                // a beep they would sound.
                let [n, t] = need!(bytes_at::<2>(b, 2));
                if !(1..=9).contains(&n) {
                    return Err(bad("ESC B", n));
                }
                if !(1..=9).contains(&t) {
                    return Err(bad("ESC B", t));
                }
                self.out.push(Item::Beep {
                    times: n,
                    ms: u16::from(t) * 50,
                });
                Ok(Step::Done(4))
            }
            b'p' => {
                let [m, t1, t2] = need!(bytes_at::<3>(b, 2));
                let pin = drawer_pin(m)?;
                let on = u16::from(t1) * 2;
                let off = u16::from(t2) * 2;
                self.out.push(Item::DrawerPulse {
                    pin,
                    on_ms: on,
                    off_ms: off,
                });
                Ok(Step::Done(5))
            }
            _ => Err(ParseErrorKind::UnknownCommand(vec![0x1B, cmd])),
        }
    }

    fn fs(&mut self, b: &[u8]) -> Result<Step, ParseErrorKind> {
        let cmd = need!(b.get(1).copied());
        match cmd {
            b'&' => {
                self.state.kanji = true;
                Ok(Step::Done(2))
            }
            b'.' => {
                self.state.kanji = false;
                Ok(Step::Done(2))
            }
            b'!' => {
                let n = need!(b.get(2).copied());
                self.state.kanji_double_w = n & 0x04 != 0;
                self.state.kanji_double_h = n & 0x08 != 0;
                self.state.kanji_underline = if n & 0x80 != 0 { 1 } else { 0 };
                Ok(Step::Done(3))
            }
            b'-' => {
                let n = need!(b.get(2).copied());
                self.state.kanji_underline = underline(n).ok_or(ParseErrorKind::BadParameter {
                    command: "FS -",
                    value: n.into(),
                })?;
                Ok(Step::Done(3))
            }
            b'C' => {
                let n = need!(b.get(2).copied());
                match n {
                    0 | 1 | 48 | 49 => Ok(Step::Done(3)),
                    _ => Err(ParseErrorKind::BadParameter {
                        command: "FS C",
                        value: n.into(),
                    }),
                }
            }
            _ => Err(ParseErrorKind::UnknownCommand(vec![0x1C, cmd])),
        }
    }

    fn gs(&mut self, b: &[u8]) -> Result<Step, ParseErrorKind> {
        let cmd = need!(b.get(1).copied());
        let arg = || b.get(2).copied();
        let bad = |command, value: u32| ParseErrorKind::BadParameter { command, value };
        match cmd {
            b'!' => {
                let n = need!(arg());
                let (w, h) = ((n >> 4) + 1, (n & 0x0F) + 1);
                if w > 8 || h > 8 {
                    return Err(bad("GS !", n.into()));
                }
                self.state.width = w;
                self.state.height = h;
                Ok(Step::Done(3))
            }
            b'V' => {
                let m = need!(arg());
                let (partial, len) = match m {
                    0 | 48 => (false, 3),
                    1 | 49 => (true, 3),
                    65 => (false, 4),
                    66 => (true, 4),
                    _ => return Err(bad("GS V", m.into())),
                };
                if len == 4 {
                    need!(b.get(3));
                }
                self.print_line_if_pending();
                self.out.push(Item::Cut { partial });
                Ok(Step::Done(len))
            }
            b'h' => {
                let n = need!(arg());
                if n == 0 {
                    return Err(bad("GS h", 0));
                }
                self.state.bar_height = n;
                Ok(Step::Done(3))
            }
            b'w' => {
                let n = need!(arg());
                if !(1..=6).contains(&n) {
                    return Err(bad("GS w", n.into()));
                }
                self.state.bar_module = n;
                Ok(Step::Done(3))
            }
            b'H' => {
                let n = need!(arg());
                self.state.hri = match n {
                    0 | 48 => HriPosition::None,
                    1 | 49 => HriPosition::Above,
                    2 | 50 => HriPosition::Below,
                    3 | 51 => HriPosition::Both,
                    _ => return Err(bad("GS H", n.into())),
                };
                Ok(Step::Done(3))
            }
            b'f' => {
                let n = need!(arg());
                match n {
                    0 | 48 => Ok(Step::Done(3)),
                    1 | 49 => Err(ParseErrorKind::Unsupported("HRI font B")),
                    _ => Err(bad("GS f", n.into())),
                }
            }
            b'a' => {
                need!(arg());
                Ok(Step::Done(3))
            }
            b'k' => self.barcode(b),
            b'(' => {
                let sub = need!(arg());
                if sub != b'k' {
                    return Err(ParseErrorKind::UnknownCommand(vec![0x1D, b'(', sub]));
                }
                self.two_d(b)
            }
            b'v' => self.raster(b),
            _ => Err(ParseErrorKind::UnknownCommand(vec![0x1D, cmd])),
        }
    }

    fn barcode(&mut self, b: &[u8]) -> Result<Step, ParseErrorKind> {
        let m = need!(b.get(2).copied());
        let symbology = match m {
            0 | 65 => Symbology::UpcA,
            1 | 66 => Symbology::UpcE,
            2 | 67 => Symbology::Ean13,
            3 | 68 => Symbology::Ean8,
            4 | 69 => Symbology::Code39,
            5 | 70 => Symbology::Itf,
            6 | 71 => Symbology::Codabar,
            72 => Symbology::Code93,
            73 => Symbology::Code128,
            _ => {
                return Err(ParseErrorKind::BadParameter {
                    command: "GS k",
                    value: m.into(),
                })
            }
        };
        let (data, used) = if m <= 6 {
            // Function A: data up to a NUL.
            let rest = b.get(3..).unwrap_or(&[]);
            match rest.iter().take(256).position(|&x| x == 0) {
                Some(end) => (rest.get(..end).unwrap_or(&[]), 3 + end + 1),
                None if rest.len() > 255 => {
                    return Err(ParseErrorKind::TooLarge {
                        what: "barcode data without NUL",
                        size: 256,
                        max: 255,
                    })
                }
                None => return Ok(Step::NeedMore),
            }
        } else {
            let n = usize::from(need!(b.get(3).copied()));
            (need!(b.get(4..4 + n)), 4 + n)
        };
        let invalid = |reason| ParseErrorKind::InvalidBarcode {
            symbology,
            data: data.to_vec(),
            reason,
        };
        if data.is_empty() {
            return Err(invalid("empty"));
        }
        let (text, code128) = match symbology {
            Symbology::Ean13 => (
                ean13_text(data)
                    .ok_or_else(|| invalid("needs 12 digits, or 13 with a valid check digit"))?,
                None,
            ),
            Symbology::Code128 => {
                let (values, text) = decode_code128(data).map_err(invalid)?;
                (text, Some(values))
            }
            _ => {
                if !data.iter().all(|c| (0x20..=0x7E).contains(c)) {
                    return Err(invalid("non-printable data"));
                }
                (String::from_utf8_lossy(data).into_owned(), None)
            }
        };
        self.print_line_if_pending();
        self.out.push(Item::Barcode(Barcode {
            symbology,
            data: data.to_vec(),
            text,
            code128,
            height: self.state.bar_height,
            module: self.state.bar_module,
            hri: self.state.hri,
            align: self.state.align,
        }));
        Ok(Step::Done(used))
    }

    fn two_d(&mut self, b: &[u8]) -> Result<Step, ParseErrorKind> {
        let [pl, ph] = need!(bytes_at::<2>(b, 3));
        let len = usize::from(pl) + usize::from(ph) * 256;
        let body = need!(b.get(5..5 + len));
        let bad = |command, value: u32| ParseErrorKind::BadParameter { command, value };
        let (Some(&cn), Some(&fnc)) = (body.first(), body.get(1)) else {
            return Err(bad("GS ( k length", len as u32));
        };
        if cn != 49 {
            return Err(ParseErrorKind::Unsupported(
                "2D symbols other than QR (GS ( k cn != 49)",
            ));
        }
        let params = body.get(2..).unwrap_or(&[]);
        match (fnc, params) {
            (65, [n1, n2]) => {
                if !(49..=51).contains(n1) || *n2 != 0 {
                    return Err(bad("QR model", (*n1).into()));
                }
                self.state.qr_model = n1 - 48;
            }
            (67, [n]) => {
                if !(1..=16).contains(n) {
                    return Err(bad("QR module size", (*n).into()));
                }
                self.state.qr_module = *n;
            }
            (69, [n]) => {
                self.state.qr_level = match n {
                    48 => QrEcLevel::L,
                    49 => QrEcLevel::M,
                    50 => QrEcLevel::Q,
                    51 => QrEcLevel::H,
                    _ => return Err(bad("QR error correction level", (*n).into())),
                };
            }
            (80, [48, data @ ..]) => {
                if data.is_empty() || data.len() > 7089 {
                    return Err(ParseErrorKind::TooLarge {
                        what: "QR data",
                        size: data.len(),
                        max: 7089,
                    });
                }
                self.state.qr_data = Some(data.to_vec());
            }
            (81, [48]) => {
                let data = self
                    .state
                    .qr_data
                    .clone()
                    .ok_or(ParseErrorKind::QrWithoutData)?;
                self.print_line_if_pending();
                self.out.push(Item::Qr(Qr {
                    data,
                    model: self.state.qr_model,
                    module: self.state.qr_module,
                    level: self.state.qr_level,
                    align: self.state.align,
                }));
            }
            (82, [48]) => {}
            _ => return Err(bad("QR function / parameter count", fnc.into())),
        }
        Ok(Step::Done(5 + len))
    }

    fn raster(&mut self, b: &[u8]) -> Result<Step, ParseErrorKind> {
        let [sub, mode, xl, xh, yl, yh] = need!(bytes_at::<6>(b, 2));
        if sub != b'0' {
            return Err(ParseErrorKind::UnknownCommand(vec![0x1D, b'v', sub]));
        }
        let (scale_x, scale_y) = match mode {
            0 | 48 => (1, 1),
            1 | 49 => (2, 1),
            2 | 50 => (1, 2),
            3 | 51 => (2, 2),
            m => {
                return Err(ParseErrorKind::BadParameter {
                    command: "GS v 0 m",
                    value: m.into(),
                })
            }
        };
        let x = u16::from_le_bytes([xl, xh]);
        let y = u16::from_le_bytes([yl, yh]);
        if x == 0 || x > 255 || y == 0 || y > 4095 {
            return Err(ParseErrorKind::TooLarge {
                what: "raster image (bytes per row x rows, max 255 x 4095)",
                size: usize::from(x) * usize::from(y),
                max: 255 * 4095,
            });
        }
        let n = usize::from(x) * usize::from(y);
        let bits = need!(b.get(8..8 + n));
        self.print_line_if_pending();
        self.out.push(Item::Raster(Raster {
            width_bytes: x,
            height: y,
            scale_x,
            scale_y,
            bits: bits.to_vec(),
            align: self.state.align,
        }));
        Ok(Step::Done(8 + n))
    }

    fn pending_columns(&self) -> usize {
        self.line.as_ref().map_or(0, |l| {
            l.spans
                .iter()
                .map(|s| s.text.chars().map(columns_of).sum::<usize>())
                .sum()
        })
    }

    fn add_char(&mut self, c: char, kanji: bool) -> Result<(), ParseErrorKind> {
        if self.line_chars >= MAX_LINE_CHARS {
            return Err(ParseErrorKind::TooLarge {
                what: "line without line feed",
                size: self.line_chars + 1,
                max: MAX_LINE_CHARS,
            });
        }
        let st = &self.state;
        let mut style = Style {
            bold: st.bold || st.double_strike,
            underline: st.underline,
            width: st.width,
            height: st.height,
        };
        if kanji {
            style.underline = st.kanji_underline;
            if st.kanji_double_w {
                style.width = style.width.max(2);
            }
            if st.kanji_double_h {
                style.height = style.height.max(2);
            }
        }
        let line = self.line.get_or_insert_with(|| Line {
            align: st.align,
            spans: Vec::new(),
            spacing: st.spacing,
        });
        match line.spans.last_mut() {
            Some(last) if last.style == style => last.text.push(c),
            _ => line.spans.push(Span {
                text: c.to_string(),
                style,
            }),
        }
        self.line_chars += 1;
        Ok(())
    }

    /// LF: print the pending text, or a blank line.
    fn print_line(&mut self) {
        let line = self.line.take().unwrap_or_else(|| Line {
            align: self.state.align,
            spans: Vec::new(),
            spacing: self.state.spacing,
        });
        self.line_chars = 0;
        self.out.push(Item::Line(line));
    }

    fn print_line_if_pending(&mut self) {
        if self.line.is_some() {
            self.print_line();
        }
    }

    fn flush_line(&mut self) {
        self.print_line_if_pending();
    }
}

/// `N` bytes at `at`, or `None` while they have not all arrived.
fn bytes_at<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn underline(n: u8) -> Option<u8> {
    match n {
        0 | 48 => Some(0),
        1 | 49 => Some(1),
        2 | 50 => Some(2),
        _ => None,
    }
}

fn drawer_pin(m: u8) -> Result<u8, ParseErrorKind> {
    match m {
        0 | 48 => Ok(2),
        1 | 49 => Ok(5),
        _ => Err(ParseErrorKind::BadParameter {
            command: "drawer pin",
            value: m.into(),
        }),
    }
}

/// EAN-13 human-readable digits: 12 digits get their check digit, 13 must carry the right
/// one (GS1 General Specifications 7.9.1: weights 1,3,1,3… from the left).
pub fn ean13_text(data: &[u8]) -> Option<String> {
    if !(data.len() == 12 || data.len() == 13) || !data.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let d: Vec<u32> = data.iter().map(|c| u32::from(c - b'0')).collect();
    let weighted: u32 = d
        .iter()
        .take(12)
        .zip([1, 3].iter().cycle())
        .map(|(a, w)| a * w)
        .sum();
    let check = (10 - weighted % 10) % 10;
    if let Some(&given) = d.get(12) {
        if given != check {
            return None;
        }
    }
    let mut s: String = data.iter().take(12).map(|&c| char::from(c)).collect();
    s.push(char::from_digit(check, 10)?);
    Some(s)
}

/// Decodes an ESC/POS CODE128 payload (`{A`/`{B`/`{C` code set selections, `{{` for a
/// literal brace, `{S` shift, `{1` FNC1) into symbol values, start code first, and the
/// human-readable text.
pub fn decode_code128(data: &[u8]) -> Result<(Vec<u8>, String), &'static str> {
    #[derive(Clone, Copy, PartialEq)]
    enum Set {
        A,
        B,
        C,
    }
    let mut it = data.iter().copied();
    let start = match (it.next(), it.next()) {
        (Some(b'{'), Some(b'A')) => Set::A,
        (Some(b'{'), Some(b'B')) => Set::B,
        (Some(b'{'), Some(b'C')) => Set::C,
        _ => return Err("must start with a code set selection {A, {B or {C"),
    };
    let mut values = vec![match start {
        Set::A => 103,
        Set::B => 104,
        Set::C => 105,
    }];
    let mut text = String::new();
    let mut set = start;
    let mut shift = false;
    let value_in = |set: Set, c: u8| -> Result<u8, &'static str> {
        match set {
            Set::A if c < 0x20 => Ok(c + 64),
            Set::A if c < 0x60 => Ok(c - 0x20),
            Set::B if (0x20..=0x7F).contains(&c) => Ok(c - 0x20),
            Set::C if c <= 99 => Ok(c),
            _ => Err("character not in the current code set"),
        }
    };
    while let Some(c) = it.next() {
        if c == b'{' {
            let Some(sel) = it.next() else {
                return Err("dangling '{'");
            };
            let (value, next) = match (sel, set) {
                (b'A', Set::A) | (b'B', Set::B) | (b'C', Set::C) => {
                    return Err("code set selected twice")
                }
                (b'A', _) => (101, Set::A),
                (b'B', _) => (100, Set::B),
                (b'C', _) => (99, Set::C),
                (b'S', Set::A | Set::B) => {
                    shift = true;
                    values.push(98);
                    continue;
                }
                (b'1', _) => (102, set),
                (b'{', Set::B) => {
                    values.push(b'{' - 0x20);
                    text.push('{');
                    continue;
                }
                _ => return Err("unknown or misplaced '{' sequence"),
            };
            values.push(value);
            set = next;
            continue;
        }
        let cur = if shift {
            shift = false;
            if set == Set::A {
                Set::B
            } else {
                Set::A
            }
        } else {
            set
        };
        values.push(value_in(cur, c)?);
        match cur {
            Set::C => text.push_str(&format!("{c:02}")),
            _ if c >= 0x20 => text.push(char::from(c)),
            _ => {}
        }
    }
    if values.len() < 2 {
        return Err("no data after the code set selection");
    }
    Ok((values, text))
}

/// Parses a complete stream.
pub fn parse(bytes: &[u8]) -> Result<Vec<Item>, ParseError> {
    let mut p = Parser::new();
    let mut items = p.push(bytes)?;
    items.extend(p.finish()?);
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(items: &[Item]) -> Vec<String> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Line(l) => Some(l.text()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn text_styles_and_alignment() {
        let bytes = b"\x1b@\x1ba\x01\x1bE\x01Hi\n\x1ba\x00\x1bE\x00\x1d!\x11Big\x1d!\x00 small\n";
        let items = parse(bytes).unwrap();
        assert_eq!(items[0], Item::Init);
        let Item::Line(l1) = &items[1] else { panic!() };
        assert_eq!(l1.align, Align::Center);
        assert_eq!(l1.spans.len(), 1);
        assert!(l1.spans[0].style.bold);
        let Item::Line(l2) = &items[2] else { panic!() };
        assert_eq!(l2.align, Align::Left);
        assert_eq!(l2.spans[0].text, "Big");
        assert_eq!((l2.spans[0].style.width, l2.spans[0].style.height), (2, 2));
        assert_eq!(l2.spans[1].text, " small");
        assert_eq!(l2.spans[1].style, Style::default());
    }

    #[test]
    fn alignment_mid_line_is_ignored() {
        let items = parse(b"ab\x1ba\x02cd\n").unwrap();
        let Item::Line(l) = &items[0] else { panic!() };
        assert_eq!(l.align, Align::Left);
        assert_eq!(l.text(), "abcd");
    }

    #[test]
    fn code_pages_decode_euro_and_accents() {
        // CP858: 0xD5 = €, 0x82 = é. CP850: 0xD5 = ı. WPC1252: 0x80 = €.
        let items = parse(b"\x1bt\x13\xd5\x82\n\x1bt\x02\xd5\n\x1bt\x10\x80\xe9\n").unwrap();
        assert_eq!(lines(&items), vec!["€é", "ı", "€é"]);
        assert_eq!(
            parse(b"\x1bt\x10\x81").unwrap_err().kind,
            ParseErrorKind::InvalidText {
                bytes: vec![0x81],
                reason: "undefined in the selected code page"
            }
        );
        assert_eq!(
            parse(b"\x1bt\x07").unwrap_err().kind,
            ParseErrorKind::UnsupportedCodePage(7)
        );
    }

    #[test]
    fn gb18030_in_chinese_mode() {
        // 收银台 = CA D5 D2 F8 CC A8; U+20000 = 95 32 82 36 (four bytes).
        let items = parse(b"\x1c&\xca\xd5\xd2\xf8\xcc\xa8\x95\x32\x82\x36\x1c.ok\n").unwrap();
        assert_eq!(lines(&items), vec!["收银台\u{20000}ok"]);
        // Outside Chinese mode the same bytes are code page text.
        let items = parse(b"\xca\n").unwrap();
        assert_eq!(lines(&items), vec!["╩"]);
        let e = parse(b"\x1c&\xca\x20").unwrap_err();
        assert!(matches!(e.kind, ParseErrorKind::InvalidText { .. }), "{e}");
        assert_eq!(e.offset, 2);
    }

    #[test]
    fn the_buzzer_beeps_within_its_range() {
        let items = parse(b"\x1bB\x02\x03ok\n").unwrap();
        assert_eq!(items[0], Item::Beep { times: 2, ms: 150 });
        assert_eq!(lines(&items), vec!["ok"]);
        let e = parse(b"\x1bB\x00\x03").unwrap_err();
        assert!(matches!(e.kind, ParseErrorKind::BadParameter { .. }), "{e}");
        let e = parse(b"\x1bB\x02\x0a").unwrap_err();
        assert!(matches!(e.kind, ParseErrorKind::BadParameter { .. }), "{e}");
        let mut p = Parser::new();
        assert!(p.push(b"\x1bB\x02").unwrap().is_empty(), "waits for t");
        assert_eq!(p.push(b"\x01").unwrap(), [Item::Beep { times: 2, ms: 50 }]);
    }

    #[test]
    fn streaming_split_anywhere_gives_the_same_items() {
        let bytes: &[u8] = b"\x1b@\x1c&\xca\xd5\x1c.A\n\x1d(k\x04\x001A2\x00\x1d(k\x06\x001P0abc\x1d(k\x03\x001Q0\x1dk\x49\x05{B1{{\x10\x04\x01\x1dv0\x00\x01\x00\x02\x00\xff\x01\x1bp\x00\x19\xfa\x1dVA\x00";
        let whole = parse(bytes).unwrap();
        for cut in 0..bytes.len() {
            let mut p = Parser::new();
            let mut items = p.push(&bytes[..cut]).unwrap();
            items.extend(p.push(&bytes[cut..]).unwrap());
            items.extend(p.finish().unwrap());
            assert_eq!(items, whole, "split at {cut}");
        }
        assert!(whole.contains(&Item::StatusRequest(1)));
        assert!(whole.contains(&Item::Cut { partial: false }));
        assert!(whole.contains(&Item::DrawerPulse {
            pin: 2,
            on_ms: 50,
            off_ms: 500
        }));
    }

    #[test]
    fn qr_and_barcodes() {
        let items = parse(
            b"\x1ba\x01\x1d(k\x04\x001A2\x00\x1d(k\x03\x001C\x05\x1d(k\x03\x001E1\x1d(k\x06\x001P0R-1\x1d(k\x03\x001Q0\
              \x1dw\x02\x1dh\x3c\x1dH\x02\x1dk\x49\x08{BR-0042\
              \x1dk\x02400638133393\x00\
              \x1dk\x49\x05{C\x0c\x22\x38",
        )
        .unwrap();
        assert_eq!(
            items[0],
            Item::Qr(Qr {
                data: b"R-1".to_vec(),
                model: 2,
                module: 5,
                level: QrEcLevel::M,
                align: Align::Center
            })
        );
        let Item::Barcode(c) = &items[1] else {
            panic!()
        };
        assert_eq!(c.symbology, Symbology::Code128);
        assert_eq!(c.text, "R-0042");
        assert_eq!(
            c.code128.as_deref(),
            Some(&[104, 50, 13, 16, 16, 20, 18][..])
        );
        assert_eq!((c.height, c.module, c.hri), (60, 2, HriPosition::Below));
        let Item::Barcode(e) = &items[2] else {
            panic!()
        };
        assert_eq!(e.text, "4006381333931");
        let Item::Barcode(cc) = &items[3] else {
            panic!()
        };
        assert_eq!(cc.text, "123456");
        assert_eq!(cc.code128.as_deref(), Some(&[105, 12, 34, 56][..]));
    }

    #[test]
    fn malformed_input_gives_clear_errors() {
        let cases: &[(&[u8], &str)] = &[
            (b"\x1bz", "unknown command 1B 7A"),
            (b"\x01", "unexpected control byte 0x01"),
            (b"\x1d!\x88", "GS !: parameter 136 out of range"),
            (b"\x1d(k\x03\x001Q0", "no QR data stored"),
            (b"\x1dk\x024006381333932\x00", "invalid Ean13"),
            (b"\x1dk\x49\x03AB1", "must start with a code set"),
            (b"\x1dv0\x00\x00\x01\x01\x00", "raster image"),
            (b"\x1b", "stream ends inside a command: 1B"),
            (b"\x1dv0\x00\x01\x00\x02\x00\xff", "stream ends inside"),
            (b"\x10\x04\x09", "DLE EOT: parameter 9"),
        ];
        for (bytes, want) in cases {
            let e = parse(bytes).unwrap_err();
            assert!(e.to_string().contains(want), "{bytes:02X?}: {e}");
        }
    }

    #[test]
    fn feeds_and_line_printing_commands() {
        let items = parse(b"\x1bd\x03ab\x1bd\x02\x1bJ\x10").unwrap();
        assert_eq!(
            items,
            vec![
                Item::Feed {
                    lines: 3,
                    spacing: 30
                },
                Item::Line(Line {
                    align: Align::Left,
                    spans: vec![Span {
                        text: "ab".into(),
                        style: Style::default()
                    }],
                    spacing: 30
                }),
                Item::Feed {
                    lines: 1,
                    spacing: 30
                },
                Item::FeedDots(16),
            ]
        );
    }

    #[test]
    fn long_garbage_is_bounded() {
        let e = parse(&vec![b'a'; MAX_LINE_CHARS + 5]).unwrap_err();
        assert!(matches!(e.kind, ParseErrorKind::TooLarge { .. }));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn chunked_input_parses_like_whole_input(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            cut in 0usize..300,
        ) {
            let cut = cut.min(bytes.len());
            let whole = parse(&bytes);
            let mut p = Parser::new();
            let chunked = p.push(&bytes[..cut]).and_then(|mut items| {
                items.extend(p.push(&bytes[cut..])?);
                items.extend(p.finish()?);
                Ok(items)
            });
            proptest::prop_assert_eq!(whole, chunked);
        }

        #[test]
        fn never_panics_on_command_soup(parts in proptest::collection::vec(
            proptest::sample::select(vec![
                &b"\x1b"[..], b"\x1d", b"\x1c", b"\x10", b"(k", b"v0", b"k", b"\x00", b"\x04",
                b"\x01", b"\x03", b"\xff", b"1", b"A", b"{", b"&", b"\n", b"\xca\xd5",
            ]), 0..64)) {
            let bytes: Vec<u8> = parts.concat();
            let _ = parse(&bytes);
        }
    }
}

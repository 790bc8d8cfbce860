//! Print document → ESC/POS bytes.
//!
//! Commands the escpos crate (0.20) emits correctly are taken from it: ESC @, ESC t, ESC E,
//! ESC -, ESC a, GS !, ESC d, GS V A 0 (full cut) and the QR sequence GS ( k with model 2
//! asked for explicitly. Each is checked byte for byte against the Epson ESC/POS command
//! reference in the tests below. The rest is emitted here because the crate gets it wrong or
//! lacks it:
//! - drawer kick: the crate sends `ESC p m` without the two timing bytes, so the printer eats
//!   the next two bytes of the job; we send `ESC p m t1 t2`;
//! - partial cut: the crate sends `GS V 65 1` (a *full* cut after one dot); we send `GS V 66 0`;
//! - CODE128: missing from the crate; we send `GS k 73 n {B…` (function B, length-prefixed);
//! - EAN-13 and barcode geometry: the crate only offers five fixed heights and allows module
//!   width 1 (out of spec), so `GS w/h/f/H` and `GS k 2 … NUL` are emitted here;
//! - raster images `GS v 0` (the crate needs an image file and its `graphics` feature);
//! - all text: Western text through our own code page tables (the crate's fallback encoder
//!   would otherwise emit UTF-8 or fail), Chinese through GB18030 inside `FS &` … `FS .`;
//! - real-time status requests (the crate appends a stray NUL), see `status.rs`.

use std::cell::RefCell;
use std::rc::Rc;

use escpos::driver::Driver;
use escpos::printer::Printer;
use escpos::utils::{
    JustifyMode, PageCode, Protocol, QRCodeCorrectionLevel, QRCodeModel, QRCodeOption,
    UnderlineMode,
};

use super::doc::{
    block_lines, char_columns, ean13_full, Align, BarcodeKind, Beep, Block, DocError, DrawerPin,
    DrawerPulse, PrintDocument, QrLevel, RasterImage, TextStyle,
};

const ESC: u8 = 0x1B;
const GS: u8 = 0x1D;
const FS: u8 = 0x1C;
const LF: u8 = 0x0A;

/// The single-byte code page used for non-Chinese text, chosen per printer in config because
/// printers differ in which tables they carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CodePage {
    /// IBM PC 437 (US): the printer's power-on default; has no €.
    Pc437,
    /// IBM PC 850 (Multilingual Latin-1): accented letters, no €.
    Pc850,
    /// IBM PC 858: PC 850 with € at 0xD5. The default: € plus Western European letters.
    #[default]
    Pc858,
    /// Windows-1252: €, accented letters, typographic quotes.
    Wpc1252,
}

impl CodePage {
    /// The `n` of `ESC t n` for this table (Epson numbering).
    pub fn escpos_number(self) -> u8 {
        match self {
            CodePage::Pc437 => 0,
            CodePage::Pc850 => 2,
            CodePage::Wpc1252 => 16,
            CodePage::Pc858 => 19,
        }
    }

    fn escpos_page_code(self) -> PageCode {
        match self {
            CodePage::Pc437 => PageCode::PC437,
            CodePage::Pc850 => PageCode::PC850,
            CodePage::Wpc1252 => PageCode::WPC1252,
            CodePage::Pc858 => PageCode::PC858,
        }
    }

    /// The byte for `c` in this code page, or `None` when the table lacks it. Control
    /// characters never map, so text can never smuggle a command into the job.
    pub fn encode_char(self, c: char) -> Option<u8> {
        if (' '..='~').contains(&c) {
            return Some(c as u8);
        }
        match self {
            CodePage::Pc437 => upper_half_lookup(CP437_UPPER, c),
            CodePage::Pc850 => upper_half_lookup(CP850_UPPER, c),
            CodePage::Pc858 => {
                if c == '\u{131}' {
                    None // dotless i sits at 0xD5 in 850, where 858 has €
                } else if c == '€' {
                    Some(0xD5)
                } else {
                    upper_half_lookup(CP850_UPPER, c)
                }
            }
            CodePage::Wpc1252 => {
                let mut buf = [0u8; 4];
                let s = c.encode_utf8(&mut buf);
                let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(s);
                match (unmappable, bytes.as_ref()) {
                    (false, [b]) if *b >= 0xA0 || is_1252_printable_c1(*b) => Some(*b),
                    _ => None,
                }
            }
        }
    }
}

/// 0x80–0x9F in Windows-1252 hold printable characters except five undefined slots.
fn is_1252_printable_c1(b: u8) -> bool {
    (0x80..=0x9F).contains(&b) && ![0x81, 0x8D, 0x8F, 0x90, 0x9D].contains(&b)
}

fn upper_half_lookup(table: &str, c: char) -> Option<u8> {
    table
        .chars()
        .position(|t| t == c)
        .and_then(|i| u8::try_from(0x80 + i).ok())
}

/// IBM code page 437, bytes 0x80–0xFF in order (source: IBM CP437 / Unicode mapping
/// VENDORS/MICSFT/PC/CP437.TXT).
pub const CP437_UPPER: &str = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{a0}";

/// IBM code page 850, bytes 0x80–0xFF in order (source: Unicode mapping
/// VENDORS/MICSFT/PC/CP850.TXT). Code page 858 is this table with U+20AC € at 0xD5 in place
/// of U+0131 ı (IBM CCSID 858).
pub const CP850_UPPER: &str = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜø£Ø×ƒáíóúñÑªº¿®¬½¼¡«»░▒▓│┤ÁÂÀ©╣║╗╝¢¥┐└┴┬├─┼ãÃ╚╔╩╦╠═╬¤ðÐÊËÈıÍÎÏ┘┌█▄¦Ì▀ÓßÔÒõÕµþÞÚÛÙýÝ¯´\u{ad}±‗¾¶§÷¸°¨·¹³²■\u{a0}";

/// How the printer handles Chinese.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChineseSupport {
    /// No Chinese font: CJK characters are replaced.
    None,
    /// Chinese mode with a GBK font: only GB18030's two-byte characters are sent.
    Gbk,
    /// Chinese mode with a full GB18030 font, four-byte sequences included.
    #[default]
    Gb18030,
}

/// Per-printer text settings, from the till's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EncodeOptions {
    /// Table for Western text.
    pub code_page: CodePage,
    /// Whether and how double-width CJK text goes through the printer's Chinese mode.
    pub chinese: ChineseSupport,
}

/// The bytes of a job plus every character that had to be replaced, so the caller can warn
/// (and tests can assert) instead of a receipt silently losing text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Encoded {
    /// The ESC/POS command stream.
    pub bytes: Vec<u8>,
    /// Characters printed as '?' because neither the code page nor Chinese mode has them,
    /// in order of appearance.
    pub replaced: Vec<char>,
}

/// Why a document could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The document itself is invalid.
    #[error("invalid print document: {0}")]
    Doc(#[from] DocError),
    /// The escpos crate refused a command it was asked to build.
    #[error("escpos command builder failed: {0}")]
    Escpos(String),
}

impl From<escpos::errors::PrinterError> for EncodeError {
    fn from(e: escpos::errors::PrinterError) -> Self {
        EncodeError::Escpos(e.to_string())
    }
}

/// The visible stand-in for a character the printer cannot print.
pub const REPLACEMENT: u8 = b'?';

/// Encodes a whole document: `ESC @`, the code page, then each block.
pub fn encode(doc: &PrintDocument, opts: &EncodeOptions) -> Result<Encoded, EncodeError> {
    doc.validate()?;
    let mut enc = Encoder {
        opts: *opts,
        out: Encoded::default(),
        state: PrinterState::default(),
    };
    enc.out.bytes.extend(escpos_bytes(|p| p.init())?);
    let cp = opts.code_page.escpos_page_code();
    enc.out.bytes.extend(escpos_bytes(|p| p.page_code(cp))?);
    for block in &doc.blocks {
        enc.block(block, doc)?;
    }
    Ok(enc.out)
}

/// Encodes one line of text (no line feed), switching to Chinese mode around CJK runs.
/// Returns the bytes and appends unprintable characters to `replaced`.
pub fn encode_text(text: &str, opts: &EncodeOptions, replaced: &mut Vec<char>) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut chinese = false;
    for c in text.chars() {
        if let Some(b) = opts.code_page.encode_char(c) {
            if chinese {
                out.extend([FS, b'.']);
                chinese = false;
            }
            out.push(b);
        } else if let Some(gb) = chinese_bytes(c, opts.chinese) {
            if !chinese {
                out.extend([FS, b'&']);
                chinese = true;
            }
            out.extend(gb);
        } else {
            if chinese {
                out.extend([FS, b'.']);
                chinese = false;
            }
            // As many '?' as the character's columns, so the columns stay aligned.
            out.extend(std::iter::repeat_n(REPLACEMENT, char_columns(c)));
            replaced.push(c);
        }
    }
    if chinese {
        out.extend([FS, b'.']);
    }
    out
}

/// GB18030 bytes for a double-width character when the printer's Chinese mode can print it.
fn chinese_bytes(c: char, support: ChineseSupport) -> Option<Vec<u8>> {
    if support == ChineseSupport::None || char_columns(c) != 2 {
        return None;
    }
    let mut buf = [0u8; 4];
    let s = c.encode_utf8(&mut buf);
    let (bytes, _, unmappable) = encoding_rs::GB18030.encode(s);
    match (unmappable, bytes.len(), support) {
        (false, 2, _) | (false, 4, ChineseSupport::Gb18030) => Some(bytes.into_owned()),
        _ => None,
    }
}

/// `ESC p m t1 t2`: the drawer kick with both timing bytes (Epson ESC/POS reference, ESC p).
pub fn drawer_pulse_bytes(p: &DrawerPulse) -> [u8; 5] {
    let m = match p.pin {
        DrawerPin::Pin2 => 0,
        DrawerPin::Pin5 => 1,
    };
    [ESC, b'p', m, p.on_2ms, p.off_2ms]
}

/// `ESC B n t`: the built-in buzzer, `n` beeps of `t` x 50 ms, as the
/// Chinese POS printers that have one take it (Xprinter, Gprinter, Rongta
/// command manuals); both bytes are kept within the 1-9 those accept.
pub fn beep_bytes(b: &Beep) -> [u8; 4] {
    [ESC, b'B', b.times.clamp(1, 9), b.length_50ms.clamp(1, 9)]
}

/// What the printer is currently set to, so only changes are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct PrinterState {
    align: Align,
    bold: bool,
    underline: bool,
    double_width: bool,
    double_height: bool,
}

struct Encoder {
    opts: EncodeOptions,
    out: Encoded,
    state: PrinterState,
}

impl Encoder {
    fn block(&mut self, block: &Block, doc: &PrintDocument) -> Result<(), EncodeError> {
        match block {
            Block::Text { style, .. } | Block::Columns { style, .. } => {
                let mut style = *style;
                if matches!(block, Block::Columns { .. }) {
                    // Columns are padded to the full width; alignment would only move the
                    // trailing spaces about.
                    style.align = Align::Left;
                }
                self.set_style(&style)?;
                self.lines(block, doc)?;
            }
            Block::Separator(_) => {
                self.set_style(&TextStyle::plain())?;
                self.lines(block, doc)?;
            }
            Block::Barcode {
                kind,
                data,
                height,
                module,
                hri,
            } => {
                self.set_style(&TextStyle::plain().align(Align::Center))?;
                let b = &mut self.out.bytes;
                b.extend([GS, b'w', *module, GS, b'h', *height, GS, b'f', 0]);
                b.extend([GS, b'H', if *hri { 2 } else { 0 }]);
                match kind {
                    BarcodeKind::Ean13 => {
                        let full = ean13_full(data)?;
                        b.extend([GS, b'k', 2]);
                        b.extend(full.as_bytes());
                        b.push(0);
                    }
                    BarcodeKind::Code128 => {
                        let payload = code128_payload(data);
                        let n = u8::try_from(payload.len())
                            .map_err(|_| DocError::Code128 { data: data.clone() })?;
                        b.extend([GS, b'k', 73, n]);
                        b.extend(payload);
                    }
                }
            }
            Block::Qr { data, size, level } => {
                self.set_style(&TextStyle::plain().align(Align::Center))?;
                let level = match level {
                    QrLevel::L => QRCodeCorrectionLevel::L,
                    QrLevel::M => QRCodeCorrectionLevel::M,
                    QrLevel::Q => QRCodeCorrectionLevel::Q,
                    QrLevel::H => QRCodeCorrectionLevel::H,
                };
                let option = QRCodeOption::new(QRCodeModel::Model2, *size, level);
                self.out
                    .bytes
                    .extend(escpos_bytes(|p| p.qrcode_option(data, option))?);
            }
            Block::Raster(img) => {
                self.set_style(&TextStyle::plain().align(Align::Center))?;
                self.out.bytes.extend(raster_bytes(img)?);
            }
            Block::Feed(n) => {
                let n = *n;
                self.out.bytes.extend(escpos_bytes(|p| p.feeds(n))?);
            }
            Block::Cut { partial } => {
                if *partial {
                    self.out.bytes.extend([GS, b'V', 66, 0]);
                } else {
                    self.out.bytes.extend(escpos_bytes(|p| p.cut())?);
                }
            }
            Block::Drawer(p) => self.out.bytes.extend(drawer_pulse_bytes(p)),
        }
        Ok(())
    }

    fn lines(&mut self, block: &Block, doc: &PrintDocument) -> Result<(), EncodeError> {
        for line in block_lines(block, doc.width).unwrap_or_default() {
            let bytes = encode_text(&line, &self.opts, &mut self.out.replaced);
            self.out.bytes.extend(bytes);
            self.out.bytes.push(LF);
        }
        Ok(())
    }

    fn set_style(&mut self, style: &TextStyle) -> Result<(), EncodeError> {
        let want = PrinterState {
            align: style.align,
            bold: style.bold,
            underline: style.underline,
            double_width: style.double_width,
            double_height: style.double_height,
        };
        let have = self.state;
        if want.align != have.align {
            let mode = match want.align {
                Align::Left => JustifyMode::LEFT,
                Align::Center => JustifyMode::CENTER,
                Align::Right => JustifyMode::RIGHT,
            };
            self.out.bytes.extend(escpos_bytes(|p| p.justify(mode))?);
        }
        if want.bold != have.bold {
            self.out.bytes.extend(escpos_bytes(|p| p.bold(want.bold))?);
        }
        if want.underline != have.underline {
            let mode = if want.underline {
                UnderlineMode::Single
            } else {
                UnderlineMode::None
            };
            self.out.bytes.extend(escpos_bytes(|p| p.underline(mode))?);
            // FS - underlines Chinese (Kanji) characters, which ESC - does not cover.
            self.out.bytes.extend([FS, b'-', u8::from(want.underline)]);
        }
        if (want.double_width, want.double_height) != (have.double_width, have.double_height) {
            let w = if want.double_width { 2 } else { 1 };
            let h = if want.double_height { 2 } else { 1 };
            self.out.bytes.extend(escpos_bytes(|p| p.size(w, h))?);
        }
        self.state = want;
        Ok(())
    }
}

/// CODE128 payload for `GS k 73`: code set B (`{B`), with a literal '{' written as `{{`
/// as the ESC/POS reference requires. All-digit data of even length uses code set C (`{C`,
/// one byte 0–99 per digit pair), which halves the symbol width for receipt numbers.
pub fn code128_payload(data: &str) -> Vec<u8> {
    let digits = data.bytes().all(|b| b.is_ascii_digit());
    if digits && data.len() >= 4 && data.len().is_multiple_of(2) {
        let mut out = vec![b'{', b'C'];
        for pair in data.as_bytes().chunks(2) {
            if let [a, b] = pair {
                out.push((a - b'0') * 10 + (b - b'0'));
            }
        }
        return out;
    }
    let mut out = vec![b'{', b'B'];
    for b in data.bytes() {
        if b == b'{' {
            out.push(b'{');
        }
        out.push(b);
    }
    out
}

/// `GS v 0 m xL xH yL yH d…` in normal density (m = 0).
pub fn raster_bytes(img: &RasterImage) -> Result<Vec<u8>, EncodeError> {
    let x = u16::try_from(img.row_bytes()).map_err(|_| raster_err(img))?;
    let y = u16::try_from(img.height()).map_err(|_| raster_err(img))?;
    let mut out = vec![GS, b'v', b'0', 0];
    out.extend(x.to_le_bytes());
    out.extend(y.to_le_bytes());
    out.extend(img.bits());
    Ok(out)
}

fn raster_err(img: &RasterImage) -> EncodeError {
    EncodeError::Doc(DocError::RasterSize {
        width: img.width(),
        height: img.height(),
        len: img.bits().len(),
    })
}

/// An escpos driver that only collects bytes, so the crate's command builders can be used
/// without a device.
#[derive(Clone, Default)]
struct VecDriver(Rc<RefCell<Vec<u8>>>);

impl Driver for VecDriver {
    fn name(&self) -> String {
        "tillpoint byte collector".to_string()
    }

    fn write(&self, data: &[u8]) -> escpos::errors::Result<()> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(())
    }

    fn read(&self, _buf: &mut [u8]) -> escpos::errors::Result<usize> {
        Ok(0)
    }

    fn flush(&self) -> escpos::errors::Result<()> {
        Ok(())
    }
}

/// Runs escpos command builders against a collecting driver and returns their bytes.
fn escpos_bytes<F>(build: F) -> Result<Vec<u8>, EncodeError>
where
    F: FnOnce(&mut Printer<VecDriver>) -> escpos::errors::Result<&mut Printer<VecDriver>>,
{
    let driver = VecDriver::default();
    let mut printer = Printer::new(driver.clone(), Protocol::default(), None);
    build(&mut printer)?;
    printer.print()?;
    let bytes = driver.0.borrow().clone();
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::super::doc::{PaperWidth, QrLevel};
    use super::*;

    fn opts() -> EncodeOptions {
        EncodeOptions::default()
    }

    // Each escpos-built command checked against the Epson ESC/POS Command Reference
    // (download4.epson.biz/sec_pubs/pos/reference_en/escpos/): ESC @ = 1B 40;
    // ESC t n = 1B 74 n (n = 19: PC858 Euro); ESC E n = 1B 45 n; ESC - n = 1B 2D n;
    // ESC a n = 1B 61 n; GS ! n = 1D 21 n, n = (w-1)<<4 | (h-1); ESC d n = 1B 64 n;
    // GS V m n with m = 65 = feed n and full cut; GS ( k for QR: fn 165 select model
    // (4 0 49 65 n1 0, n1 = 50 model 2), fn 167 module size (3 0 49 67 n), fn 169 error
    // level (3 0 49 69 n, 48..51 = L..H), fn 180 store (pL pH 49 80 48 d…, pL+256pH = k+3),
    // fn 181 print (3 0 49 81 48).
    #[test]
    fn the_beep_is_esc_b_within_what_buzzers_take() {
        assert_eq!(beep_bytes(&Beep::REFUSAL), [0x1B, b'B', 2, 2]);
        let wild = Beep {
            times: 0,
            length_50ms: 200,
        };
        assert_eq!(beep_bytes(&wild), [0x1B, b'B', 1, 9]);
    }

    #[test]
    fn escpos_crate_commands_match_the_reference() {
        assert_eq!(escpos_bytes(|p| p.init()).unwrap(), [0x1B, 0x40]);
        assert_eq!(
            escpos_bytes(|p| p.page_code(PageCode::PC858)).unwrap(),
            [0x1B, 0x74, 19]
        );
        assert_eq!(escpos_bytes(|p| p.bold(true)).unwrap(), [0x1B, 0x45, 1]);
        assert_eq!(escpos_bytes(|p| p.bold(false)).unwrap(), [0x1B, 0x45, 0]);
        assert_eq!(
            escpos_bytes(|p| p.underline(UnderlineMode::Single)).unwrap(),
            [0x1B, 0x2D, 1]
        );
        assert_eq!(
            escpos_bytes(|p| p.justify(JustifyMode::CENTER)).unwrap(),
            [0x1B, 0x61, 1]
        );
        assert_eq!(escpos_bytes(|p| p.size(2, 2)).unwrap(), [0x1D, 0x21, 0x11]);
        assert_eq!(escpos_bytes(|p| p.size(1, 1)).unwrap(), [0x1D, 0x21, 0x00]);
        assert_eq!(escpos_bytes(|p| p.feeds(3)).unwrap(), [0x1B, 0x64, 3]);
        assert_eq!(escpos_bytes(|p| p.cut()).unwrap(), [0x1D, 0x56, 65, 0]);
        let qr = escpos_bytes(|p| {
            p.qrcode_option(
                "R-1",
                QRCodeOption::new(QRCodeModel::Model2, 6, QRCodeCorrectionLevel::M),
            )
        })
        .unwrap();
        let mut want = vec![0x1D, 0x28, 0x6B, 4, 0, 49, 65, 50, 0];
        want.extend([0x1D, 0x28, 0x6B, 3, 0, 49, 67, 6]);
        want.extend([0x1D, 0x28, 0x6B, 3, 0, 49, 69, 49]);
        want.extend([0x1D, 0x28, 0x6B, 6, 0, 49, 80, 48, b'R', b'-', b'1']);
        want.extend([0x1D, 0x28, 0x6B, 3, 0, 49, 81, 48]);
        assert_eq!(qr, want);
    }

    // The gaps listed in shared/NOTES.md (plus the QR size clamp found by the round-trip
    // tests), pinned so a crate upgrade that changes them is seen.
    #[test]
    fn escpos_crate_gaps_are_still_worked_around() {
        let qr16 = escpos_bytes(|p| {
            p.qrcode_option(
                "x",
                QRCodeOption::new(QRCodeModel::Model2, 16, QRCodeCorrectionLevel::L),
            )
        })
        .unwrap();
        assert!(
            qr16.windows(8)
                .any(|w| w == [0x1D, 0x28, 0x6B, 3, 0, 49, 67, 15]),
            "escpos clamps QR module size 16 to 15"
        );
        let mut d = PrintDocument::new(PaperWidth::Mm58);
        d.push(Block::Qr {
            data: "x".into(),
            size: 16,
            level: QrLevel::L,
        });
        assert!(matches!(
            encode(&d, &opts()),
            Err(EncodeError::Doc(DocError::QrSize(16)))
        ));
        use escpos::utils::CashDrawer;
        assert_eq!(
            escpos_bytes(|p| p.cash_drawer(CashDrawer::Pin2)).unwrap(),
            [0x1B, 0x70, 0],
            "escpos drawer call lacks t1 t2"
        );
        assert_eq!(
            escpos_bytes(|p| p.partial_cut()).unwrap(),
            [0x1D, 0x56, 65, 1],
            "escpos partial cut is really a full cut"
        );
        assert_eq!(
            drawer_pulse_bytes(&DrawerPulse::default()),
            [0x1B, 0x70, 0, 25, 250]
        );
        let p5 = DrawerPulse {
            pin: DrawerPin::Pin5,
            on_2ms: 50,
            off_2ms: 100,
        };
        assert_eq!(drawer_pulse_bytes(&p5), [0x1B, 0x70, 1, 50, 100]);
    }

    #[test]
    fn cp858_has_euro_and_accents() {
        // Spot values from the Unicode CP850 mapping table plus IBM's € at 0xD5 for 858.
        let cp = CodePage::Pc858;
        assert_eq!(cp.encode_char('€'), Some(0xD5));
        assert_eq!(cp.encode_char('Ç'), Some(0x80));
        assert_eq!(cp.encode_char('ü'), Some(0x81));
        assert_eq!(cp.encode_char('é'), Some(0x82));
        assert_eq!(cp.encode_char('à'), Some(0x85));
        assert_eq!(cp.encode_char('ñ'), Some(0xA4));
        assert_eq!(cp.encode_char('ß'), Some(0xE1));
        assert_eq!(cp.encode_char('Ö'), Some(0x99));
        assert_eq!(cp.encode_char('ø'), Some(0x9B));
        assert_eq!(cp.encode_char('£'), Some(0x9C));
        assert_eq!(cp.encode_char('¥'), Some(0xBE));
        assert_eq!(cp.encode_char('°'), Some(0xF8));
        assert_eq!(cp.encode_char('\u{a0}'), Some(0xFF));
        assert_eq!(cp.encode_char('ı'), None);
        assert_eq!(CodePage::Pc850.encode_char('ı'), Some(0xD5));
        assert_eq!(CodePage::Pc850.encode_char('€'), None);
        assert_eq!(CodePage::Pc437.encode_char('€'), None);
        assert_eq!(CodePage::Pc437.encode_char('é'), Some(0x82));
        assert_eq!(CodePage::Pc437.encode_char('¥'), Some(0x9D));
        assert_eq!(CodePage::Wpc1252.encode_char('€'), Some(0x80));
        assert_eq!(CodePage::Wpc1252.encode_char('é'), Some(0xE9));
    }

    #[test]
    fn code_page_tables_are_complete_and_injective() {
        for table in [CP437_UPPER, CP850_UPPER] {
            let chars: Vec<char> = table.chars().collect();
            assert_eq!(chars.len(), 128);
            let mut sorted = chars.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), 128, "a character appears twice");
        }
        for cp in [CodePage::Pc437, CodePage::Pc850, CodePage::Pc858] {
            // Every upper-half byte is reached by exactly one character.
            let candidates: std::collections::BTreeSet<char> = CP437_UPPER
                .chars()
                .chain(CP850_UPPER.chars())
                .chain(['€'])
                .collect();
            let mut by_byte = std::collections::BTreeMap::new();
            for c in candidates {
                if let Some(b) = cp.encode_char(c) {
                    assert!(b >= 0x80);
                    assert!(
                        by_byte.insert(b, c).is_none(),
                        "byte {b:02X} twice in {cp:?}"
                    );
                }
            }
            assert_eq!(by_byte.len(), 128, "{cp:?}");
        }
    }

    #[test]
    fn control_characters_never_pass_through() {
        let mut r = Vec::new();
        let b = encode_text("a\u{1b}@b\tc\u{7f}", &opts(), &mut r);
        assert_eq!(b, b"a?@b?c?");
        assert_eq!(r, vec!['\u{1b}', '\t', '\u{7f}']);
    }

    #[test]
    fn chinese_goes_through_gb18030_in_chinese_mode() {
        let mut r = Vec::new();
        let b = encode_text("收银台 Till", &opts(), &mut r);
        // "收银台" in GB18030 = CA D5 D2 F8 CC A8 (shared/NOTES.md, encoding_rs).
        let mut want = vec![0x1C, 0x26, 0xCA, 0xD5, 0xD2, 0xF8, 0xCC, 0xA8, 0x1C, 0x2E];
        want.extend(b" Till");
        assert_eq!(b, want);
        assert!(r.is_empty());
    }

    #[test]
    fn missing_characters_are_replaced_visibly_and_counted() {
        let o = EncodeOptions {
            code_page: CodePage::Pc437,
            chinese: ChineseSupport::None,
        };
        let mut r = Vec::new();
        let b = encode_text("5€ 茶", &o, &mut r);
        // '€' -> one '?', '茶' (two columns) -> two '?' so the columns stay aligned.
        assert_eq!(b, b"5? ??");
        assert_eq!(r, vec!['€', '茶']);
    }

    #[test]
    fn gbk_mode_refuses_four_byte_gb18030() {
        // U+20000 (CJK Ext. B) is a four-byte GB18030 sequence: 95 32 82 36.
        let gbk = EncodeOptions {
            chinese: ChineseSupport::Gbk,
            ..opts()
        };
        let mut r = Vec::new();
        assert_eq!(encode_text("\u{20000}", &gbk, &mut r), b"??");
        assert_eq!(r, vec!['\u{20000}']);
        let mut r = Vec::new();
        assert_eq!(
            encode_text("\u{20000}", &opts(), &mut r),
            [0x1C, 0x26, 0x95, 0x32, 0x82, 0x36, 0x1C, 0x2E]
        );
        assert!(r.is_empty());
    }

    #[test]
    fn code128_payload_code_sets() {
        assert_eq!(code128_payload("AB{1"), b"{BAB{{1");
        assert_eq!(code128_payload("123456"), [b'{', b'C', 12, 34, 56]);
        // Odd digit count stays in set B.
        assert_eq!(code128_payload("12345"), b"{B12345");
    }

    #[test]
    fn errors_in_the_document_are_refused() {
        let mut d = PrintDocument::new(PaperWidth::Mm58);
        d.push(Block::Qr {
            data: String::new(),
            size: 4,
            level: QrLevel::M,
        });
        assert!(matches!(encode(&d, &opts()), Err(EncodeError::Doc(_))));
    }

    /// Builds expected bytes from pieces so the golden reads like the command reference.
    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn sample(width: PaperWidth) -> PrintDocument {
        let mut d = PrintDocument::new(width);
        d.text(
            "Corner Shop 街角小店",
            TextStyle::plain().bold().align(Align::Center),
        )
        .columns("Café crème", "€3.50", TextStyle::plain())
        .columns("绿茶", "¥8.00", TextStyle::plain())
        .separator('-')
        .text("TOTAL €11.50", TextStyle::plain().double())
        .push(Block::Barcode {
            kind: BarcodeKind::Code128,
            data: "R-0042".into(),
            height: 60,
            module: 2,
            hri: true,
        })
        .push(Block::Qr {
            data: "R-0042".into(),
            size: 5,
            level: QrLevel::M,
        })
        .push(Block::Feed(2))
        .push(Block::Cut { partial: false })
        .push(Block::Drawer(DrawerPulse::default()));
        d
    }

    fn golden(width: PaperWidth) -> Vec<u8> {
        let cols = width.columns();
        let pad = |used: usize| vec![b' '; cols - used];
        cat(&[
            &[0x1B, 0x40],     // ESC @
            &[0x1B, 0x74, 19], // ESC t 19: PC858
            &[0x1B, 0x61, 1],  // centre
            &[0x1B, 0x45, 1],  // bold
            b"Corner Shop ",
            &[0x1C, 0x26],                                     // FS &
            &[0xBD, 0xD6, 0xBD, 0xC7, 0xD0, 0xA1, 0xB5, 0xEA], // 街角小店 (GB18030)
            &[0x1C, 0x2E, 0x0A],                               // FS . LF
            &[0x1B, 0x61, 0],                                  // left
            &[0x1B, 0x45, 0],                                  // bold off
            b"Caf",
            &[0x82],
            b" cr",
            &[0x8A],
            b"me", // é = 82, è = 8A in CP858
            &pad(10 + 5),
            &[0xD5],
            b"3.50\n",                                         // € = D5
            &[0x1C, 0x26, 0xC2, 0xCC, 0xB2, 0xE8, 0x1C, 0x2E], // 绿茶
            &pad(4 + 5),
            &[0xBE],
            b"8.00\n", // ¥ = BE in CP858
            &vec![b'-'; cols],
            b"\n",
            &[0x1D, 0x21, 0x11], // GS ! double width+height
            b"TOTAL ",
            &[0xD5],
            b"11.50\n",
            &[0x1B, 0x61, 1],    // centre (barcode)
            &[0x1D, 0x21, 0x00], // normal size
            &[0x1D, 0x77, 2, 0x1D, 0x68, 60, 0x1D, 0x66, 0, 0x1D, 0x48, 2],
            &[0x1D, 0x6B, 73, 8],
            b"{BR-0042",
            &[0x1D, 0x28, 0x6B, 4, 0, 49, 65, 50, 0],
            &[0x1D, 0x28, 0x6B, 3, 0, 49, 67, 5],
            &[0x1D, 0x28, 0x6B, 3, 0, 49, 69, 49],
            &[0x1D, 0x28, 0x6B, 9, 0, 49, 80, 48],
            b"R-0042",
            &[0x1D, 0x28, 0x6B, 3, 0, 49, 81, 48],
            &[0x1B, 0x64, 2],          // feed 2
            &[0x1D, 0x56, 65, 0],      // full cut
            &[0x1B, 0x70, 0, 25, 250], // drawer pin 2, 50 ms / 500 ms
        ])
    }

    #[test]
    fn golden_bytes_58mm() {
        let e = encode(&sample(PaperWidth::Mm58), &opts()).unwrap();
        assert!(e.replaced.is_empty());
        assert_eq!(hex(&e.bytes), hex(&golden(PaperWidth::Mm58)));
    }

    #[test]
    fn golden_bytes_80mm() {
        let e = encode(&sample(PaperWidth::Mm80), &opts()).unwrap();
        assert!(e.replaced.is_empty());
        assert_eq!(hex(&e.bytes), hex(&golden(PaperWidth::Mm80)));
    }

    #[test]
    fn raster_and_partial_cut_bytes() {
        let img = RasterImage::from_fn(9, 2, |x, _| x == 8).unwrap();
        let mut d = PrintDocument::new(PaperWidth::Mm58);
        d.push(Block::Raster(img))
            .push(Block::Cut { partial: true });
        let e = encode(&d, &opts()).unwrap();
        let want = cat(&[
            &[0x1B, 0x40, 0x1B, 0x74, 19, 0x1B, 0x61, 1],
            &[0x1D, 0x76, 0x30, 0, 2, 0, 2, 0],
            &[0x00, 0x80, 0x00, 0x80],
            &[0x1D, 0x56, 66, 0],
        ]);
        assert_eq!(e.bytes, want);
    }

    #[test]
    fn ean13_gets_its_check_digit() {
        let mut d = PrintDocument::new(PaperWidth::Mm80);
        d.push(Block::Barcode {
            kind: BarcodeKind::Ean13,
            data: "400638133393".into(),
            height: 80,
            module: 3,
            hri: false,
        });
        let e = encode(&d, &opts()).unwrap();
        let tail = cat(&[&[0x1D, 0x6B, 2], b"4006381333931", &[0]]);
        assert!(e.bytes.ends_with(&tail));
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02X} ")).collect()
    }
}

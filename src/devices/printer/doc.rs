//! A printer-neutral print document and the column arithmetic that lays text out on it.
//!
//! The receipt layout (built from the core receipt model) produces a [`PrintDocument`];
//! the ESC/POS encoder turns it into bytes and the GUI preview can turn it into pixels.
//! Keeping this layer free of printer commands means the layout can be tested as text.

use unicode_width::UnicodeWidthChar;

/// Paper roll width. Thermal receipt printers print a fixed number of Font A columns
/// (12 dots wide at 203 dpi) on each roll width, so the layout works in columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaperWidth {
    /// 58 mm roll: 384 printable dots, 32 columns.
    Mm58,
    /// 80 mm roll: 576 printable dots, 48 columns.
    Mm80,
}

impl PaperWidth {
    /// Number of single-width Font A columns on one line.
    pub fn columns(self) -> usize {
        match self {
            PaperWidth::Mm58 => 32,
            PaperWidth::Mm80 => 48,
        }
    }

    /// Printable width in dots (203 dpi print head), used for raster images and rendering.
    pub fn dots(self) -> u32 {
        match self {
            PaperWidth::Mm58 => 384,
            PaperWidth::Mm80 => 576,
        }
    }
}

/// Horizontal placement of a line, barcode, QR code or image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Align {
    /// Flush left (the printer's default).
    #[default]
    Left,
    /// Centred on the paper.
    Center,
    /// Flush right.
    Right,
}

/// Character styling a thermal printer can apply on its own, without graphics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TextStyle {
    /// Emphasized (bold) print.
    pub bold: bool,
    /// Single underline.
    pub underline: bool,
    /// Characters twice as wide: halves the columns available on the line.
    pub double_width: bool,
    /// Characters twice as tall.
    pub double_height: bool,
    /// Placement of the line on the paper.
    pub align: Align,
}

impl TextStyle {
    /// Plain left-aligned text.
    pub fn plain() -> Self {
        Self::default()
    }

    /// Returns the style with bold switched on.
    pub fn bold(mut self) -> Self {
        self.bold = true;
        self
    }

    /// Returns the style with underline switched on.
    pub fn underline(mut self) -> Self {
        self.underline = true;
        self
    }

    /// Returns the style with double width and double height (totals, headings).
    pub fn double(mut self) -> Self {
        self.double_width = true;
        self.double_height = true;
        self
    }

    /// Returns the style with the given alignment.
    pub fn align(mut self, align: Align) -> Self {
        self.align = align;
        self
    }

    /// How many printed columns one character column takes in this style.
    pub fn column_factor(&self) -> usize {
        if self.double_width {
            2
        } else {
            1
        }
    }
}

/// 1D symbologies the receipt uses: CODE128 for receipt numbers, EAN-13 for articles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BarcodeKind {
    /// CODE128, any printable ASCII.
    Code128,
    /// EAN-13: 12 digits plus check digit (the check digit is verified, or added if absent).
    Ean13,
}

/// QR error correction level (ISO/IEC 18004): higher survives more damage, holds less data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QrLevel {
    /// About 7 % recovery.
    L,
    /// About 15 % recovery.
    M,
    /// About 25 % recovery.
    Q,
    /// About 30 % recovery.
    H,
}

/// Which drawer kick connector pin to pulse (two drawers can hang off one printer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DrawerPin {
    /// Connector pin 2 (the usual single drawer).
    Pin2,
    /// Connector pin 5 (a second drawer).
    Pin5,
}

/// A drawer kick pulse. The times go to the printer in 2 ms units, so they are stored that way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DrawerPulse {
    /// Connector pin to drive.
    pub pin: DrawerPin,
    /// Pulse on-time in units of 2 ms.
    pub on_2ms: u8,
    /// Pulse off-time in units of 2 ms (must not be shorter than the on-time on Epson printers).
    pub off_2ms: u8,
}

impl Default for DrawerPulse {
    /// 50 ms on, 500 ms off on pin 2: long enough for common solenoids, short enough not to
    /// overheat them.
    fn default() -> Self {
        Self {
            pin: DrawerPin::Pin2,
            on_2ms: 25,
            off_2ms: 250,
        }
    }
}

/// A beep on the printer's buzzer: how many, and how long each lasts. The
/// length goes to the printer in 50 ms units, so it is stored that way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Beep {
    /// Beeps in a row (1-9).
    pub times: u8,
    /// Length of each beep in units of 50 ms (1-9).
    pub length_50ms: u8,
}

impl Beep {
    /// A refusal: two short beeps, as a till sounds on an unknown barcode
    /// or a declined card, distinct from a scanner's single good-read beep.
    pub const REFUSAL: Beep = Beep {
        times: 2,
        length_50ms: 2,
    };
}

/// A 1-bit image (logo). Rows are packed MSB-first, `(width + 7) / 8` bytes per row, set
/// bit = black dot: exactly the layout ESC/POS raster commands take.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RasterImage {
    width: u32,
    height: u32,
    bits: Vec<u8>,
}

impl RasterImage {
    /// Builds an image from packed rows; the byte count must match the size.
    pub fn from_packed(width: u32, height: u32, bits: Vec<u8>) -> Result<Self, DocError> {
        let expected = (width.div_ceil(8) as usize).checked_mul(height as usize);
        if width == 0 || height == 0 || expected != Some(bits.len()) {
            return Err(DocError::RasterSize {
                width,
                height,
                len: bits.len(),
            });
        }
        Ok(Self {
            width,
            height,
            bits,
        })
    }

    /// Builds an image from a predicate (black or not) per pixel; handy for tests and for
    /// converting a grayscale logo with a threshold.
    pub fn from_fn(
        width: u32,
        height: u32,
        mut black: impl FnMut(u32, u32) -> bool,
    ) -> Result<Self, DocError> {
        let row_bytes = width.div_ceil(8) as usize;
        let mut bits = vec![0u8; row_bytes * height as usize];
        for y in 0..height {
            for x in 0..width {
                if black(x, y) {
                    let idx = y as usize * row_bytes + (x / 8) as usize;
                    if let Some(b) = bits.get_mut(idx) {
                        *b |= 0x80 >> (x % 8);
                    }
                }
            }
        }
        Self::from_packed(width, height, bits)
    }

    /// Width in dots.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in dots.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Bytes per packed row.
    pub fn row_bytes(&self) -> usize {
        self.width.div_ceil(8) as usize
    }

    /// The packed rows.
    pub fn bits(&self) -> &[u8] {
        &self.bits
    }
}

/// One element of a print document, in printing order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Block {
    /// A paragraph; wrapped to the line width (which double width halves).
    Text { text: String, style: TextStyle },
    /// A row with a left part and a right-aligned part, e.g. item and price. When both do not
    /// fit, the left part wraps and the right part goes at the end of its last line.
    Columns {
        left: String,
        right: String,
        style: TextStyle,
    },
    /// A full-width line made of one repeated character (e.g. '-' or '=').
    Separator(char),
    /// A 1D barcode, printed centred with its human-readable text below when `hri` is set.
    Barcode {
        kind: BarcodeKind,
        data: String,
        /// Bar height in dots (1–255).
        height: u8,
        /// Narrow module width in dots (2–6).
        module: u8,
        hri: bool,
    },
    /// A QR code (model 2), printed centred.
    Qr {
        data: String,
        /// Module size in dots (1–15). ESC/POS allows 16, but the escpos crate silently
        /// clamps to 15, so 16 is refused rather than printed smaller than asked.
        size: u8,
        level: QrLevel,
    },
    /// A 1-bit raster image (logo), printed centred.
    Raster(RasterImage),
    /// Blank lines.
    Feed(u8),
    /// Feed to the cutter and cut: ends one printed receipt.
    Cut { partial: bool },
    /// Kick the cash drawer.
    Drawer(DrawerPulse),
}

/// A whole print job for one paper width.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PrintDocument {
    /// Paper the document was laid out for.
    pub width: PaperWidth,
    /// Blocks in printing order.
    pub blocks: Vec<Block>,
}

impl PrintDocument {
    /// An empty document for the given paper.
    pub fn new(width: PaperWidth) -> Self {
        Self {
            width,
            blocks: Vec::new(),
        }
    }

    /// Appends a block; returns `self` so layouts read top to bottom.
    pub fn push(&mut self, block: Block) -> &mut Self {
        self.blocks.push(block);
        self
    }

    /// Appends a text paragraph.
    pub fn text(&mut self, text: impl Into<String>, style: TextStyle) -> &mut Self {
        self.push(Block::Text {
            text: text.into(),
            style,
        })
    }

    /// Appends a two-column row.
    pub fn columns(
        &mut self,
        left: impl Into<String>,
        right: impl Into<String>,
        style: TextStyle,
    ) -> &mut Self {
        self.push(Block::Columns {
            left: left.into(),
            right: right.into(),
            style,
        })
    }

    /// Appends a separator line.
    pub fn separator(&mut self, c: char) -> &mut Self {
        self.push(Block::Separator(c))
    }

    /// Checks every block against what a printer accepts (barcode data, sizes), so a bad
    /// document is refused before any byte reaches the printer.
    pub fn validate(&self) -> Result<(), DocError> {
        for block in &self.blocks {
            match block {
                Block::Barcode {
                    kind,
                    data,
                    height,
                    module,
                    ..
                } => {
                    if *height == 0 || !(2..=6).contains(module) {
                        return Err(DocError::BarcodeGeometry {
                            height: *height,
                            module: *module,
                        });
                    }
                    match kind {
                        BarcodeKind::Ean13 => {
                            ean13_full(data)?;
                        }
                        BarcodeKind::Code128 => validate_code128(data)?,
                    }
                }
                Block::Qr { data, size, .. } => {
                    if !(1..=15).contains(size) {
                        return Err(DocError::QrSize(*size));
                    }
                    // GS ( k carries the data length plus 3 in two bytes; symbol capacity
                    // (version 40, level L) is 2953 bytes.
                    if data.is_empty() || data.len() > 2953 {
                        return Err(DocError::QrData(data.len()));
                    }
                }
                Block::Raster(img) => {
                    if img.row_bytes() > 0xFFFF || img.height() > 2303 {
                        return Err(DocError::RasterSize {
                            width: img.width(),
                            height: img.height(),
                            len: img.bits().len(),
                        });
                    }
                }
                Block::Text { .. }
                | Block::Columns { .. }
                | Block::Separator(_)
                | Block::Feed(_)
                | Block::Cut { .. }
                | Block::Drawer(_) => {}
            }
        }
        Ok(())
    }
}

/// Reasons a document cannot be printed as it stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocError {
    /// EAN-13 needs 12 digits (check digit added) or 13 digits with a correct check digit.
    #[error("EAN-13 data {0:?} is not 12 or 13 digits with a valid check digit")]
    Ean13(String),
    /// CODE128 here takes 1–80 printable ASCII characters.
    #[error("CODE128 data {data:?} must be 1-80 printable ASCII characters")]
    Code128 { data: String },
    /// Barcode height or module width outside what ESC/POS accepts.
    #[error("barcode height {height} (1-255) or module width {module} (2-6) out of range")]
    BarcodeGeometry { height: u8, module: u8 },
    /// QR module size outside 1–15 dots.
    #[error("QR module size {0} is outside 1-15")]
    QrSize(u8),
    /// QR data empty or beyond the largest symbol.
    #[error("QR data of {0} bytes is empty or too long (max 2953)")]
    QrData(usize),
    /// Raster bitmap byte count does not match its size, or the image is too large.
    #[error("raster image {width}x{height} with {len} bytes is inconsistent or too large")]
    RasterSize { width: u32, height: u32, len: usize },
}

/// Returns the 13-digit EAN-13 for 12 digits (check digit appended) or 13 digits (check
/// digit verified). Check digit rule: GS1 General Specifications, section 7.9.1.
pub fn ean13_full(data: &str) -> Result<String, DocError> {
    let digits: Vec<u32> = data.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() != data.chars().count() || !(digits.len() == 12 || digits.len() == 13) {
        return Err(DocError::Ean13(data.to_string()));
    }
    let sum: u32 = digits
        .iter()
        .take(12)
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { *d } else { d * 3 })
        .sum();
    let check = (10 - sum % 10) % 10;
    match digits.get(12) {
        Some(given) if *given != check => Err(DocError::Ean13(data.to_string())),
        Some(_) => Ok(data.to_string()),
        None => Ok(format!("{data}{check}")),
    }
}

fn validate_code128(data: &str) -> Result<(), DocError> {
    if data.is_empty() || data.len() > 80 || !data.bytes().all(|b| (0x20..=0x7E).contains(&b)) {
        return Err(DocError::Code128 {
            data: data.to_string(),
        });
    }
    Ok(())
}

/// Columns one character takes on the printer: CJK and fullwidth characters two, everything
/// else one. Zero-width and control characters count as one because the printer prints a
/// visible replacement for them rather than nothing.
pub fn char_columns(c: char) -> usize {
    match c.width() {
        Some(2) => 2,
        _ => 1,
    }
}

/// Columns a string takes on the printer (see [`char_columns`]).
pub fn display_width(s: &str) -> usize {
    s.chars().map(char_columns).sum()
}

/// Cuts `s` to at most `cols` columns without splitting a double-width character.
pub fn truncate_to(s: &str, cols: usize) -> &str {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        let w = char_columns(c);
        if used + w > cols {
            return s.get(..i).unwrap_or(s);
        }
        used += w;
    }
    s
}

/// Pads with spaces on the right up to `cols` columns (no-op when already as wide).
pub fn pad_right(s: &str, cols: usize) -> String {
    let w = display_width(s);
    let mut out = s.to_string();
    out.extend(std::iter::repeat_n(' ', cols.saturating_sub(w)));
    out
}

/// Pads with spaces on the left up to `cols` columns.
pub fn pad_left(s: &str, cols: usize) -> String {
    let w = display_width(s);
    let mut out: String = std::iter::repeat_n(' ', cols.saturating_sub(w)).collect();
    out.push_str(s);
    out
}

/// Wraps text into lines of at most `cols` columns. Breaks at spaces when it can, inside a
/// word when it must (long words, and CJK text, which has no spaces). Explicit newlines are
/// kept. An empty text gives one empty line so that a blank paragraph still feeds a line.
pub fn wrap(text: &str, cols: usize) -> Vec<String> {
    let cols = cols.max(2);
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        let mut line_w = 0;
        // Leading spaces indent the paragraph (e.g. a weight line under its item) and are
        // kept; spaces where a line breaks are dropped.
        let mut indent = true;
        for word in split_keep_spaces(para) {
            let word_w = display_width(word);
            if word == " " {
                if line_w < cols && (line_w > 0 || indent) {
                    line.push(' ');
                    line_w += 1;
                }
                continue;
            }
            indent = false;
            if line_w + word_w <= cols {
                line.push_str(word);
                line_w += word_w;
                continue;
            }
            if line_w > 0 && word_w <= cols {
                lines.push(line.trim_end().to_string());
                line = word.to_string();
                line_w = word_w;
                continue;
            }
            // The word does not fit on any line: hard-break it by characters.
            for c in word.chars() {
                let w = char_columns(c);
                if line_w + w > cols {
                    lines.push(line.trim_end().to_string());
                    line.clear();
                    line_w = 0;
                }
                line.push(c);
                line_w += w;
            }
        }
        lines.push(line.trim_end().to_string());
    }
    lines
}

/// Splits into words and single spaces; CJK characters each count as a word so that Chinese
/// text breaks between characters.
fn split_keep_spaces(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        let end = i + c.len_utf8();
        if c == ' ' || char_columns(c) == 2 {
            if let Some(st) = start.take() {
                if let Some(w) = s.get(st..i) {
                    out.push(w);
                }
            }
            if let Some(w) = s.get(i..end) {
                out.push(w);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(st) = start {
        if let Some(w) = s.get(st..) {
            out.push(w);
        }
    }
    out
}

/// Lays out a left/right row on `cols` columns: left text, spaces, right text flush right.
/// When they do not fit on one line, the left text wraps and the right text is placed at the
/// end of the last line (or on a line of its own if that line has no room). Every returned
/// line is exactly `cols` columns wide unless a single word of the right text is wider.
pub fn two_columns(left: &str, right: &str, cols: usize) -> Vec<String> {
    let right_w = display_width(right);
    if right_w >= cols {
        let mut lines = wrap(left, cols);
        lines.extend(wrap(right, cols));
        return lines;
    }
    let mut lines = wrap(left, cols);
    let last = lines.pop().unwrap_or_default();
    let last_w = display_width(&last);
    if last_w + 1 + right_w <= cols {
        lines.push(format!("{}{}", pad_right(&last, cols - right_w), right));
    } else {
        lines.push(pad_right(&last, cols));
        lines.push(pad_left(right, cols));
    }
    lines
}

/// The printed text lines of a text-bearing block, in the columns its style leaves. `None`
/// for blocks that are not text (barcodes, images, feeds, cuts, drawer pulses). The encoder
/// prints exactly these lines, so tests can compare layouts without decoding bytes.
pub fn block_lines(block: &Block, width: PaperWidth) -> Option<Vec<String>> {
    match block {
        Block::Text { text, style } => Some(wrap(text, width.columns() / style.column_factor())),
        Block::Columns { left, right, style } => Some(two_columns(
            left,
            right,
            width.columns() / style.column_factor(),
        )),
        Block::Separator(c) => {
            let n = width.columns() / char_columns(*c);
            Some(vec![std::iter::repeat_n(*c, n).collect()])
        }
        Block::Barcode { .. }
        | Block::Qr { .. }
        | Block::Raster(_)
        | Block::Feed(_)
        | Block::Cut { .. }
        | Block::Drawer(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_widths_give_32_and_48_columns() {
        assert_eq!(PaperWidth::Mm58.columns(), 32);
        assert_eq!(PaperWidth::Mm80.columns(), 48);
        assert_eq!(PaperWidth::Mm58.dots() / 12, 32);
        assert_eq!(PaperWidth::Mm80.dots() / 12, 48);
    }

    #[test]
    fn cjk_counts_two_columns() {
        assert_eq!(display_width("abc"), 3);
        assert_eq!(display_width("收银台"), 6);
        assert_eq!(display_width("Tea 茶"), 6);
        assert_eq!(display_width("€é"), 2);
        // Fullwidth forms are double width too.
        assert_eq!(display_width("ＡＢ"), 4);
        // A combining mark gets a visible replacement, so it takes a column.
        assert_eq!(display_width("e\u{301}"), 2);
    }

    #[test]
    fn two_columns_fill_the_line_exactly() {
        for cols in [32, 48] {
            let lines = two_columns("Coffee", "3.50", cols);
            assert_eq!(lines.len(), 1);
            assert_eq!(display_width(&lines[0]), cols);
            assert!(lines[0].starts_with("Coffee "));
            assert!(lines[0].ends_with(" 3.50"));
        }
    }

    #[test]
    fn two_columns_with_chinese_align_by_display_width() {
        let lines = two_columns("拿铁咖啡", "¥28.00", 32);
        assert_eq!(lines.len(), 1);
        assert_eq!(display_width(&lines[0]), 32);
        // 8 columns of Chinese, 6 of price, 18 spaces between.
        assert_eq!(lines[0], format!("拿铁咖啡{}¥28.00", " ".repeat(18)));
        assert_eq!(lines[0].chars().count(), 4 + 18 + 6);
    }

    #[test]
    fn long_left_wraps_and_price_lands_on_last_line() {
        let lines = two_columns("Organic free-range eggs, large, box of twelve", "12.90", 32);
        assert!(lines.len() >= 2);
        for l in &lines {
            assert!(display_width(l) <= 32, "{l:?}");
        }
        assert!(lines.last().unwrap().ends_with("12.90"));
        assert_eq!(display_width(lines.last().unwrap()), 32);
    }

    #[test]
    fn right_goes_to_own_line_when_last_line_is_full() {
        let left = "x".repeat(30);
        let lines = two_columns(&left, "9.99", 32);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], pad_right(&left, 32));
        assert_eq!(lines[1], pad_left("9.99", 32));
    }

    #[test]
    fn wrap_breaks_chinese_between_characters_and_never_splits_one() {
        let text = "欢迎光临本店，谢谢惠顾，欢迎再次光临本店铺";
        let lines = wrap(text, 15);
        for l in &lines {
            assert!(display_width(l) <= 15, "{l:?}");
        }
        assert_eq!(lines.concat(), text);
        assert_eq!(display_width(&lines[0]), 14);
    }

    #[test]
    fn wrap_breaks_at_spaces_and_hard_breaks_long_words() {
        assert_eq!(wrap("aaa bbb ccc", 7), vec!["aaa bbb", "ccc"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 10), vec![""]);
        assert_eq!(wrap("a\nb", 10), vec!["a", "b"]);
        assert_eq!(wrap("  0.350 kg", 10), vec!["  0.350 kg"]);
        assert_eq!(wrap("  ab cd", 5), vec!["  ab", "cd"]);
    }

    #[test]
    fn truncate_never_splits_double_width() {
        assert_eq!(truncate_to("收银台", 5), "收银");
        assert_eq!(truncate_to("abc", 5), "abc");
    }

    #[test]
    fn ean13_check_digit() {
        // GS1 example number 400638133393 -> check digit 1 (GS1 check digit calculator).
        assert_eq!(ean13_full("400638133393").unwrap(), "4006381333931");
        assert_eq!(ean13_full("4006381333931").unwrap(), "4006381333931");
        assert!(ean13_full("4006381333932").is_err());
        assert!(ean13_full("40063813339").is_err());
        assert!(ean13_full("40063813339a").is_err());
    }

    #[test]
    fn validate_rejects_bad_blocks() {
        let mut d = PrintDocument::new(PaperWidth::Mm58);
        d.push(Block::Qr {
            data: "x".into(),
            size: 0,
            level: QrLevel::M,
        });
        assert_eq!(d.validate(), Err(DocError::QrSize(0)));
        let mut d = PrintDocument::new(PaperWidth::Mm58);
        d.push(Block::Barcode {
            kind: BarcodeKind::Code128,
            data: "R\u{7f}".into(),
            height: 80,
            module: 2,
            hri: true,
        });
        assert!(matches!(d.validate(), Err(DocError::Code128 { .. })));
    }

    #[test]
    fn raster_from_fn_packs_msb_first() {
        let img = RasterImage::from_fn(10, 2, |x, y| x == 0 || (y == 1 && x == 9)).unwrap();
        assert_eq!(img.row_bytes(), 2);
        assert_eq!(img.bits(), &[0x80, 0x00, 0x80, 0x40]);
        assert!(RasterImage::from_packed(10, 2, vec![0; 3]).is_err());
    }

    #[test]
    fn separator_spans_the_paper() {
        let l = block_lines(&Block::Separator('-'), PaperWidth::Mm80).unwrap();
        assert_eq!(l, vec!["-".repeat(48)]);
        let l = block_lines(
            &Block::Text {
                text: "TOTAL 12.00".into(),
                style: TextStyle::plain().double(),
            },
            PaperWidth::Mm58,
        )
        .unwrap();
        assert_eq!(l, vec!["TOTAL 12.00"]);
    }
}

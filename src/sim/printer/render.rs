//! Renders parsed ESC/POS items to a picture of the paper, dot for dot at the print head's
//! resolution: text on a 12 × 24-dot Font A grid (so a 58 mm roll shows 32 columns and an
//! 80 mm roll 48), double size, bold, underline, alignment, CODE128 and EAN-13 bars, QR
//! codes redrawn from their data, and raster images. The emulator writes one PNG per
//! receipt with it, and the GUI's receipt preview can use the same function.

use std::path::{Path, PathBuf};

use ab_glyph::{Font, FontArc, Glyph, GlyphId, PxScale, ScaleFont};
use image::{GrayImage, Luma};

use super::parse::{
    columns_of, Align, Barcode, HriPosition, Item, Line, Qr, QrEcLevel, Raster, Symbology,
};

/// Font A cell width in dots.
pub const CELL_W: u32 = 12;
/// Font A cell height in dots.
pub const CELL_H: u32 = 24;
/// White border around the paper in the PNG, left and right.
pub const SIDE_MARGIN: u32 = 8;
/// White border at the top and bottom of the PNG.
pub const TOP_MARGIN: u32 = 8;

const WHITE: Luma<u8> = Luma([255]);

/// Printable width of the paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Paper {
    /// 58 mm roll: 384 dots.
    Mm58,
    /// 80 mm roll: 576 dots.
    Mm80,
}

impl Paper {
    /// Printable dots per line.
    pub fn dots(self) -> u32 {
        match self {
            Paper::Mm58 => 384,
            Paper::Mm80 => 576,
        }
    }

    /// Font A columns per line.
    pub fn columns(self) -> u32 {
        self.dots() / CELL_W
    }
}

/// Why rendering could not happen.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// No usable monospace Latin font.
    #[error("no Latin font found (looked in {0})")]
    NoFont(String),
    /// A font file could not be read or parsed.
    #[error("cannot load font {path}: {reason}")]
    Font { path: PathBuf, reason: String },
    /// Writing the PNG failed.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: image::ImageError,
    },
    /// The receipt would be absurdly long.
    #[error("receipt of {0} dots is too long to render")]
    TooLong(u64),
}

/// Fonts for drawing: a monospace Latin face and, for Chinese, a CJK face.
#[derive(Clone)]
pub struct Fonts {
    latin: FontArc,
    cjk: Option<FontArc>,
    /// Where the Latin font came from.
    pub latin_path: PathBuf,
    /// Where the CJK font came from, if one was found.
    pub cjk_path: Option<PathBuf>,
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fonts")
            .field("latin_path", &self.latin_path)
            .field("cjk_path", &self.cjk_path)
            .finish()
    }
}

/// Latin font files tried in order (file names under an assets dir, then system paths).
const LATIN_CANDIDATES: &[&str] = &[
    "DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationMono-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansMono-Regular.ttf",
];

/// CJK font files tried in order: Debian's fonts-wqy-microhei, fonts-wqy-zenhei and
/// fonts-noto-cjk, or the same files in an assets dir.
const CJK_CANDIDATES: &[&str] = &[
    "wqy-microhei.ttc",
    "NotoSansCJK-Regular.ttc",
    "NotoSansSC-Regular.otf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
];

impl Fonts {
    /// Finds fonts: first in `assets` (e.g. the app's `assets/fonts`), then in the usual
    /// Debian locations. A missing CJK font is not an error: Chinese then renders as boxes
    /// and every render reports a warning.
    pub fn discover(assets: Option<&Path>) -> Result<Self, RenderError> {
        let paths = |names: &[&str]| -> Vec<PathBuf> {
            names
                .iter()
                .flat_map(|n| {
                    let p = Path::new(n);
                    if p.is_absolute() {
                        vec![p.to_path_buf()]
                    } else {
                        assets.map(|a| a.join(n)).into_iter().collect()
                    }
                })
                .collect()
        };
        let latin_paths = paths(LATIN_CANDIDATES);
        let latin_path = latin_paths
            .iter()
            .find(|p| p.is_file())
            .ok_or_else(|| {
                RenderError::NoFont(
                    latin_paths
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            })?
            .clone();
        let cjk_path = paths(CJK_CANDIDATES).into_iter().find(|p| p.is_file());
        Self::from_files(&latin_path, cjk_path.as_deref())
    }

    /// Loads the given font files (index 0 of a collection).
    pub fn from_files(latin: &Path, cjk: Option<&Path>) -> Result<Self, RenderError> {
        let load = |p: &Path| -> Result<FontArc, RenderError> {
            let bytes = std::fs::read(p).map_err(|e| RenderError::Font {
                path: p.to_path_buf(),
                reason: e.to_string(),
            })?;
            let font = ab_glyph::FontVec::try_from_vec_and_index(bytes, 0).map_err(|e| {
                RenderError::Font {
                    path: p.to_path_buf(),
                    reason: e.to_string(),
                }
            })?;
            Ok(FontArc::new(font))
        };
        Ok(Self {
            latin: load(latin)?,
            cjk: cjk.map(load).transpose()?,
            latin_path: latin.to_path_buf(),
            cjk_path: cjk.map(Path::to_path_buf),
        })
    }
}

/// Where one printed element landed, for tests and for debugging layouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// Top edge in image pixels.
    pub y: u32,
    /// Height in pixels.
    pub height: u32,
    /// Left edge of the content in image pixels.
    pub x: u32,
    /// Width of the content in pixels.
    pub width: u32,
    /// What it is: the line's text, or "qr", "barcode", "raster".
    pub what: String,
}

/// A rendered receipt.
pub struct Rendered {
    /// The paper, white background, black ink.
    pub image: GrayImage,
    /// Every printed element and where it went.
    pub placed: Vec<Placed>,
    /// Text lines wider than the paper, which the printer wraps.
    pub overflow_lines: usize,
    /// Things drawn as placeholders (missing glyphs, unsupported symbologies).
    pub warnings: Vec<String>,
}

impl Rendered {
    /// Writes the image as PNG.
    pub fn save_png(&self, path: &Path) -> Result<(), RenderError> {
        self.image
            .save_with_format(path, image::ImageFormat::Png)
            .map_err(|source| RenderError::Write {
                path: path.to_path_buf(),
                source,
            })
    }
}

/// One glyph cell to draw.
struct Cell {
    c: char,
    cols: u32,
    bold: bool,
    underline: u8,
    width: u32,
    height: u32,
}

/// A laid-out element with its vertical extent.
enum Row {
    Text {
        cells: Vec<Cell>,
        x: u32,
        height: u32,
        text: String,
    },
    Qr {
        code: Option<qrcode::QrCode>,
        module: u32,
        x: u32,
        size: u32,
    },
    Bars {
        modules: Vec<bool>,
        module: u32,
        x: u32,
        height: u32,
        hri: Option<(String, HriPosition)>,
    },
    Placeholder {
        label: String,
        x: u32,
        width: u32,
        height: u32,
    },
    Raster {
        raster: Raster,
        x: u32,
    },
    Gap,
}

/// Renders the items of one receipt (everything up to and including a cut).
pub fn render(items: &[Item], paper: Paper, fonts: &Fonts) -> Result<Rendered, RenderError> {
    let mut rows: Vec<(u32, u32, Row)> = Vec::new(); // (y, height, row)
    let mut y = TOP_MARGIN;
    let mut overflow_lines = 0;
    let mut warnings = Vec::new();
    let paper_w = paper.dots();
    for item in items {
        match item {
            Item::Line(line) => {
                let (text_rows, overflowed) = layout_line(line, paper);
                if overflowed {
                    overflow_lines += 1;
                }
                for (cells, h) in text_rows {
                    let w: u32 = cells.iter().map(|c| c.cols * CELL_W * c.width).sum();
                    let x = SIDE_MARGIN + aligned(line.align, paper_w, w);
                    let pitch = u32::from(line.spacing).max(h);
                    let text = cells.iter().map(|c| c.c).collect();
                    rows.push((
                        y,
                        h,
                        Row::Text {
                            cells,
                            x,
                            height: h,
                            text,
                        },
                    ));
                    y += pitch;
                }
            }
            Item::Feed { lines, spacing } => y += u32::from(*lines) * u32::from(*spacing),
            Item::FeedDots(n) => y += u32::from(*n),
            Item::Qr(qr) => {
                let (row, size) = qr_row(qr, paper_w, &mut warnings);
                rows.push((y, size, row));
                y += size;
            }
            Item::Barcode(b) => {
                let (row, h) = barcode_row(b, paper_w, &mut warnings);
                rows.push((y, h, row));
                y += h;
            }
            Item::Raster(r) => {
                let w = u32::from(r.width_bytes) * 8 * u32::from(r.scale_x);
                let h = u32::from(r.height) * u32::from(r.scale_y);
                let x = SIDE_MARGIN + aligned(r.align, paper_w, w.min(paper_w));
                rows.push((
                    y,
                    h,
                    Row::Raster {
                        raster: r.clone(),
                        x,
                    },
                ));
                y += h;
            }
            Item::Cut { .. } => {
                rows.push((y, 0, Row::Gap));
                y += CELL_H;
            }
            Item::Init | Item::DrawerPulse { .. } | Item::Beep { .. } | Item::StatusRequest(_) => {}
        }
        if u64::from(y) > 200_000 {
            return Err(RenderError::TooLong(u64::from(y)));
        }
    }
    let height = y + TOP_MARGIN;
    let mut img = GrayImage::from_pixel(paper_w + 2 * SIDE_MARGIN, height, WHITE);
    let mut placed = Vec::new();
    for (y, h, row) in &rows {
        draw_row(&mut img, *y, row, fonts, &mut warnings);
        if let Some(p) = placement(*y, *h, row) {
            placed.push(p);
        }
    }
    Ok(Rendered {
        image: img,
        placed,
        overflow_lines,
        warnings,
    })
}

fn aligned(align: Align, paper_w: u32, w: u32) -> u32 {
    match align {
        Align::Left => 0,
        Align::Center => paper_w.saturating_sub(w) / 2,
        Align::Right => paper_w.saturating_sub(w),
    }
}

fn placement(y: u32, height: u32, row: &Row) -> Option<Placed> {
    let (x, width, what) = match row {
        Row::Text { cells, x, text, .. } => (
            *x,
            cells.iter().map(|c| c.cols * CELL_W * c.width).sum(),
            text.clone(),
        ),
        Row::Qr { x, size, .. } => (*x, *size, "qr".to_string()),
        Row::Bars {
            modules, module, x, ..
        } => (*x, modules.len() as u32 * module, "barcode".to_string()),
        Row::Placeholder {
            x, width, label, ..
        } => (*x, *width, label.clone()),
        Row::Raster { raster, x } => (
            *x,
            u32::from(raster.width_bytes) * 8 * u32::from(raster.scale_x),
            "raster".to_string(),
        ),
        Row::Gap => return None,
    };
    Some(Placed {
        y,
        height,
        x,
        width,
        what,
    })
}

/// Splits a line into printed rows the way a printer wraps: a character that would cross
/// the right edge starts a new row.
fn layout_line(line: &Line, paper: Paper) -> (Vec<(Vec<Cell>, u32)>, bool) {
    let max = paper.dots();
    let mut rows = Vec::new();
    let mut cur: Vec<Cell> = Vec::new();
    let mut used = 0;
    let mut overflowed = false;
    let mut height = CELL_H;
    for span in &line.spans {
        for c in span.text.chars() {
            let cols = columns_of(c) as u32;
            let w = cols * CELL_W * u32::from(span.style.width);
            if used + w > max && !cur.is_empty() {
                overflowed = true;
                rows.push((std::mem::take(&mut cur), height));
                used = 0;
                height = CELL_H;
            }
            used += w;
            height = height.max(CELL_H * u32::from(span.style.height));
            cur.push(Cell {
                c,
                cols,
                bold: span.style.bold,
                underline: span.style.underline,
                width: span.style.width.into(),
                height: span.style.height.into(),
            });
        }
    }
    let tallest = line
        .spans
        .iter()
        .map(|s| CELL_H * u32::from(s.style.height))
        .max()
        .unwrap_or(CELL_H);
    if rows.is_empty() {
        height = tallest;
    }
    rows.push((cur, height));
    (rows, overflowed)
}

fn qr_row(qr: &Qr, paper_w: u32, warnings: &mut Vec<String>) -> (Row, u32) {
    let module = u32::from(qr.module);
    let level = match qr.level {
        QrEcLevel::L => qrcode::EcLevel::L,
        QrEcLevel::M => qrcode::EcLevel::M,
        QrEcLevel::Q => qrcode::EcLevel::Q,
        QrEcLevel::H => qrcode::EcLevel::H,
    };
    let code = if qr.model == 2 {
        match qrcode::QrCode::with_error_correction_level(&qr.data, level) {
            Ok(c) => Some(c),
            Err(e) => {
                warnings.push(format!("QR code could not be drawn: {e}"));
                None
            }
        }
    } else {
        warnings.push(format!("QR model {} drawn as a placeholder", qr.model));
        None
    };
    // A symbol has a 4-module quiet zone on each side (ISO/IEC 18004).
    let modules = code.as_ref().map_or(21, |c| c.width() as u32) + 8;
    let size = modules * module;
    let x = SIDE_MARGIN + aligned(qr.align, paper_w, size.min(paper_w));
    if size > paper_w {
        warnings.push(format!("QR code of {size} dots is wider than the paper"));
    }
    (
        Row::Qr {
            code,
            module,
            x,
            size,
        },
        size,
    )
}

fn barcode_row(b: &Barcode, paper_w: u32, warnings: &mut Vec<String>) -> (Row, u32) {
    let module = u32::from(b.module);
    let hri_h = match b.hri {
        HriPosition::None => 0,
        HriPosition::Above | HriPosition::Below => CELL_H,
        HriPosition::Both => 2 * CELL_H,
    };
    let height = u32::from(b.height) + hri_h;
    let modules = match b.symbology {
        Symbology::Code128 => b.code128.as_deref().map(code128_modules),
        Symbology::Ean13 => ean13_modules(&b.text),
        _ => None,
    };
    let Some(modules) = modules else {
        warnings.push(format!("{:?} barcode drawn as a placeholder", b.symbology));
        let width = (paper_w / 2).max(CELL_W);
        let x = SIDE_MARGIN + aligned(b.align, paper_w, width);
        return (
            Row::Placeholder {
                label: format!("{:?} {}", b.symbology, b.text),
                x,
                width,
                height,
            },
            height,
        );
    };
    let width = modules.len() as u32 * module;
    if width > paper_w {
        warnings.push(format!("barcode of {width} dots is wider than the paper"));
    }
    let x = SIDE_MARGIN + aligned(b.align, paper_w, width.min(paper_w));
    let hri = (b.hri != HriPosition::None).then(|| (b.text.clone(), b.hri));
    (
        Row::Bars {
            modules,
            module,
            x,
            height: u32::from(b.height),
            hri,
        },
        height,
    )
}

fn draw_row(img: &mut GrayImage, y: u32, row: &Row, fonts: &Fonts, warnings: &mut Vec<String>) {
    match row {
        Row::Text {
            cells, x, height, ..
        } => {
            let mut cx = *x;
            for cell in cells {
                let cw = cell.cols * CELL_W * cell.width;
                let ch = CELL_H * cell.height;
                // Characters sit on the row's baseline, like mixed sizes on a printer.
                let top = y + height - ch;
                if !draw_glyph(img, fonts, cell, cx, top, cw, ch) && !cell.c.is_whitespace() {
                    warnings.push(format!(
                        "no glyph for {:?} (U+{:04X})",
                        cell.c, cell.c as u32
                    ));
                    draw_box(
                        img,
                        cx + 1,
                        top + 2,
                        cw.saturating_sub(2),
                        ch.saturating_sub(4),
                    );
                }
                if cell.underline > 0 {
                    for t in 0..u32::from(cell.underline) {
                        fill(img, cx, top + ch - 1 - t, cw, 1);
                    }
                }
                cx += cw;
            }
        }
        Row::Qr {
            code,
            module,
            x,
            size,
        } => match code {
            Some(code) => {
                let w = code.width() as u32;
                let colors = code.to_colors();
                for (i, color) in colors.iter().enumerate() {
                    if *color == qrcode::Color::Dark {
                        let (mx, my) = (i as u32 % w, i as u32 / w);
                        fill(
                            img,
                            x + (mx + 4) * module,
                            y + (my + 4) * module,
                            *module,
                            *module,
                        );
                    }
                }
            }
            None => draw_box(img, *x, y, *size, *size),
        },
        Row::Bars {
            modules,
            module,
            x,
            height,
            hri,
        } => {
            let mut bars_top = y;
            if let Some((text, pos)) = hri {
                if matches!(pos, HriPosition::Above | HriPosition::Both) {
                    draw_hri(img, fonts, text, *x, modules.len() as u32 * module, y);
                    bars_top += CELL_H;
                }
            }
            for (i, dark) in modules.iter().enumerate() {
                if *dark {
                    fill(img, x + i as u32 * module, bars_top, *module, *height);
                }
            }
            if let Some((text, pos)) = hri {
                if matches!(pos, HriPosition::Below | HriPosition::Both) {
                    draw_hri(
                        img,
                        fonts,
                        text,
                        *x,
                        modules.len() as u32 * module,
                        bars_top + height,
                    );
                }
            }
        }
        Row::Placeholder {
            x, width, height, ..
        } => draw_box(img, *x, y, *width, *height),
        Row::Raster { raster, x } => {
            let (sx, sy) = (u32::from(raster.scale_x), u32::from(raster.scale_y));
            for ry in 0..u32::from(raster.height) {
                for rx in 0..u32::from(raster.width_bytes) * 8 {
                    if raster.dot(rx, ry) {
                        fill(img, x + rx * sx, y + ry * sy, sx, sy);
                    }
                }
            }
        }
        Row::Gap => {
            // A dashed line where the cutter cut.
            let yy = y + CELL_H / 2;
            let mut xx = 0;
            while xx < img.width() {
                fill(img, xx, yy, 6, 1);
                xx += 12;
            }
        }
    }
}

fn draw_hri(img: &mut GrayImage, fonts: &Fonts, text: &str, x: u32, width: u32, y: u32) {
    let tw = text.chars().count() as u32 * CELL_W;
    let mut cx = x + width.saturating_sub(tw) / 2;
    for c in text.chars() {
        let cell = Cell {
            c,
            cols: 1,
            bold: false,
            underline: 0,
            width: 1,
            height: 1,
        };
        draw_glyph(img, fonts, &cell, cx, y, CELL_W, CELL_H);
        cx += CELL_W;
    }
}

/// Draws one character scaled into its cell; false if no font has a glyph for it.
fn draw_glyph(
    img: &mut GrayImage,
    fonts: &Fonts,
    cell: &Cell,
    x: u32,
    y: u32,
    w: u32,
    h: u32,
) -> bool {
    if cell.c == ' ' {
        return true;
    }
    let candidates: Vec<&FontArc> = if cell.cols == 2 {
        fonts
            .cjk
            .iter()
            .chain(std::iter::once(&fonts.latin))
            .collect()
    } else {
        std::iter::once(&fonts.latin)
            .chain(fonts.cjk.iter())
            .collect()
    };
    let Some((font, id)) = candidates
        .into_iter()
        .map(|f| (f, f.glyph_id(cell.c)))
        .find(|(_, id)| id.0 != 0)
    else {
        return false;
    };
    // Fit the glyph's advance and the font's line height into one unmagnified cell, then
    // magnify by the character size.
    let unit_w = (cell.cols * CELL_W) as f32;
    let unit_h = CELL_H as f32;
    let px = fit_scale(font, id, unit_w, unit_h);
    let scale = PxScale {
        x: px * cell.width as f32,
        y: px * cell.height as f32,
    };
    let scaled = font.as_scaled(scale);
    let adv = scaled.h_advance(id);
    let ascent = scaled.ascent();
    let line_h = scaled.height();
    let left = x as f32 + ((w as f32 - adv) / 2.0).max(0.0);
    let baseline = y as f32 + ((h as f32 - line_h) / 2.0).max(0.0) + ascent;
    let glyph: Glyph = id.with_scale_and_position(scale, ab_glyph::point(left, baseline));
    let Some(outline) = font.outline_glyph(glyph) else {
        return true; // a blank glyph (e.g. a space-like character)
    };
    let bounds = outline.px_bounds();
    let (iw, ih) = img.dimensions();
    let passes: &[f32] = if cell.bold { &[0.0, 1.0] } else { &[0.0] };
    for dx in passes {
        outline.draw(|gx, gy, coverage| {
            let px = bounds.min.x + gx as f32 + dx;
            let py = bounds.min.y + gy as f32;
            if px < 0.0 || py < 0.0 {
                return;
            }
            let (px, py) = (px as u32, py as u32);
            if px >= iw || py >= ih || coverage < 0.35 {
                return;
            }
            // Thermal heads print dots, not grey: threshold the coverage.
            img.put_pixel(px, py, Luma([0]));
        });
    }
    true
}

fn fit_scale(font: &FontArc, id: GlyphId, w: f32, h: f32) -> f32 {
    let height = font.height_unscaled().max(1.0);
    let adv = font.h_advance_unscaled(id).max(1.0);
    // PxScale is the pixel height of ascent - descent; the advance scales by the same factor.
    h.min(w * height / adv)
}

fn fill(img: &mut GrayImage, x: u32, y: u32, w: u32, h: u32) {
    let (iw, ih) = img.dimensions();
    for yy in y..(y + h).min(ih) {
        for xx in x..(x + w).min(iw) {
            img.put_pixel(xx, yy, Luma([0]));
        }
    }
}

fn draw_box(img: &mut GrayImage, x: u32, y: u32, w: u32, h: u32) {
    if w == 0 || h == 0 {
        return;
    }
    fill(img, x, y, w, 1);
    fill(img, x, y + h - 1, w, 1);
    fill(img, x, y, 1, h);
    fill(img, x + w - 1, y, 1, h);
}

/// CODE128 bar/space widths (in modules) for symbol values 0–105, bar first (ISO/IEC 15417,
/// table 1). The stop pattern including its termination bar is [`CODE128_STOP`].
pub const CODE128_PATTERNS: [&str; 106] = [
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212",
    "221213", "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221",
    "223211", "221132", "221231", "213212", "223112", "312131", "311222", "321122", "321221",
    "312212", "322112", "322211", "212123", "212321", "232121", "111323", "131123", "131321",
    "112313", "132113", "132311", "211313", "231113", "231311", "112133", "112331", "132131",
    "113123", "113321", "133121", "313121", "211331", "231131", "213113", "213311", "213131",
    "311123", "311321", "331121", "312113", "312311", "332111", "314111", "221411", "431111",
    "111224", "111422", "121124", "121421", "141122", "141221", "112214", "112412", "122114",
    "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111", "111242",
    "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311",
    "113141", "114131", "311141", "411131", "211412", "211214", "211232",
];

/// CODE128 stop symbol with its 2-module termination bar.
pub const CODE128_STOP: &str = "2331112";

/// The CODE128 check value: start value plus each data value times its position, mod 103.
pub fn code128_check(values: &[u8]) -> u8 {
    let sum: u32 = values
        .iter()
        .enumerate()
        .map(|(i, v)| u32::from(*v) * (i as u32).max(1))
        .sum();
    (sum % 103) as u8
}

/// Module sequence (true = bar) for CODE128 values, start code first; adds check and stop.
pub fn code128_modules(values: &[u8]) -> Vec<bool> {
    let check = code128_check(values);
    let mut out = Vec::new();
    let mut push = |pattern: &str| {
        for (i, w) in pattern.bytes().enumerate() {
            let n = usize::from(w.saturating_sub(b'0'));
            out.extend(std::iter::repeat_n(i % 2 == 0, n));
        }
    };
    for v in values.iter().chain(std::iter::once(&check)) {
        if let Some(p) = CODE128_PATTERNS.get(usize::from(*v)) {
            push(p);
        }
    }
    push(CODE128_STOP);
    out
}

/// EAN-13 left-half odd parity (L) patterns; G is L reversed and inverted, R is L inverted
/// (GS1 General Specifications 5.2.2.4).
const EAN_L: [&str; 10] = [
    "0001101", "0011001", "0010011", "0111101", "0100011", "0110001", "0101111", "0111011",
    "0110111", "0001011",
];
/// Parity of the left six digits chosen by the first (implicit) digit.
const EAN_PARITY: [&str; 10] = [
    "LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG", "LGGLLG", "LGGGLL", "LGLGLG", "LGLGGL",
    "LGGLGL",
];

/// Module sequence for a 13-digit EAN-13 (95 modules), or `None` for anything else.
pub fn ean13_modules(digits: &str) -> Option<Vec<bool>> {
    let d: Vec<usize> = digits
        .chars()
        .map(|c| c.to_digit(10).map(|v| v as usize))
        .collect::<Option<_>>()?;
    if d.len() != 13 {
        return None;
    }
    let bits = |s: &str| s.bytes().map(|b| b == b'1').collect::<Vec<_>>();
    let parity = EAN_PARITY.get(*d.first()?)?.as_bytes();
    let mut out = bits("101");
    for (i, digit) in d.iter().skip(1).take(6).enumerate() {
        let l = bits(EAN_L.get(*digit)?);
        let g: Vec<bool> = l.iter().rev().map(|b| !b).collect();
        out.extend(if parity.get(i) == Some(&b'G') { g } else { l });
    }
    out.extend(bits("01010"));
    for digit in d.iter().skip(7) {
        out.extend(bits(EAN_L.get(*digit)?).into_iter().map(|b| !b));
    }
    out.extend(bits("101"));
    Some(out)
}

/// Splits a stream of items into receipts at each cut. Items after the last cut form a last
/// receipt only if they print something.
pub fn split_receipts(items: &[Item]) -> Vec<Vec<Item>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for item in items {
        cur.push(item.clone());
        if matches!(item, Item::Cut { .. }) {
            out.push(std::mem::take(&mut cur));
        }
    }
    if cur.iter().any(prints) {
        out.push(cur);
    }
    out
}

/// Whether an item puts ink or paper out.
pub fn prints(item: &Item) -> bool {
    !matches!(
        item,
        Item::Init | Item::DrawerPulse { .. } | Item::Beep { .. } | Item::StatusRequest(_)
    )
}

#[cfg(test)]
mod tests {
    use super::super::parse::{parse, Span, Style};
    use super::*;

    pub(crate) fn fonts() -> Fonts {
        Fonts::discover(None).expect("fonts-dejavu-core must be installed")
    }

    fn ink(img: &GrayImage, x0: u32, y0: u32, x1: u32, y1: u32) -> u32 {
        let mut n = 0;
        for y in y0..y1.min(img.height()) {
            for x in x0..x1.min(img.width()) {
                if img.get_pixel(x, y).0[0] < 128 {
                    n += 1;
                }
            }
        }
        n
    }

    #[test]
    fn code128_table_is_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for p in CODE128_PATTERNS {
            let w: Vec<u32> = p.bytes().map(|b| u32::from(b - b'0')).collect();
            assert_eq!(w.len(), 6);
            assert_eq!(w.iter().sum::<u32>(), 11, "{p}");
            // Bars (positions 0, 2, 4) always add up to an even number of modules.
            assert_eq!((w[0] + w[2] + w[4]) % 2, 0, "{p}");
            assert!(seen.insert(p), "{p} twice");
        }
        assert_eq!(
            CODE128_STOP
                .bytes()
                .map(|b| u32::from(b - b'0'))
                .sum::<u32>(),
            13
        );
    }

    #[test]
    fn code128_check_value() {
        // Start B (104) + "PJJ123C": P=48 J=42 J=42 1=17 2=18 3=19 C=35.
        // 104 + 48 + 84 + 126 + 68 + 90 + 114 + 245 = 879; 879 mod 103 = 55.
        assert_eq!(code128_check(&[104, 48, 42, 42, 17, 18, 19, 35]), 55);
        let m = code128_modules(&[104, 48]);
        assert_eq!(m.len(), 11 * 3 + 13);
        assert!(m[0] && m[1] && !m[2]); // start B = 2 1 1 2 1 4
    }

    #[test]
    fn ean13_parity_and_modules() {
        for (i, p) in EAN_PARITY.iter().enumerate() {
            assert!(p.starts_with('L'));
            let g = p.matches('G').count();
            assert_eq!(g, if i == 0 { 0 } else { 3 }, "{p}");
        }
        let m = ean13_modules("4006381333931").unwrap();
        assert_eq!(m.len(), 95);
        let s: String = m.iter().map(|b| if *b { '1' } else { '0' }).collect();
        // Guard, then '0' in parity L (first digit 4 -> LGLLGG): 0001101.
        assert!(s.starts_with("1010001101"), "{s}");
        // Right half (333931) starts after 3 + 42 + 5 modules: '3' in R = 1000010; the
        // check digit '1' in R = 1100110 just before the end guard.
        assert_eq!(&s[50..57], "1000010");
        assert_eq!(&s[85..92], "1100110");
        assert!(s.ends_with("101"));
        assert!(ean13_modules("123").is_none());
    }

    fn line(text: &str, align: Align, style: Style) -> Item {
        Item::Line(Line {
            align,
            spans: vec![Span {
                text: text.into(),
                style,
            }],
            spacing: 30,
        })
    }

    #[test]
    fn text_lands_in_its_grid_cells() {
        let f = fonts();
        let items = vec![
            line("X", Align::Left, Style::default()),
            line("X", Align::Right, Style::default()),
            line("X", Align::Center, Style::default()),
        ];
        for paper in [Paper::Mm58, Paper::Mm80] {
            let r = render(&items, paper, &f).unwrap();
            let img = &r.image;
            let cols = paper.columns();
            let row_y = |i: u32| TOP_MARGIN + i * 30;
            let col_x = |c: u32| SIDE_MARGIN + c * CELL_W;
            // Row 0: ink in column 0 only.
            assert!(ink(img, col_x(0), row_y(0), col_x(1), row_y(0) + 24) > 20);
            assert_eq!(ink(img, col_x(1), row_y(0), col_x(cols), row_y(0) + 24), 0);
            // Row 1: ink in the last column only.
            assert!(ink(img, col_x(cols - 1), row_y(1), col_x(cols), row_y(1) + 24) > 20);
            assert_eq!(
                ink(img, col_x(0), row_y(1), col_x(cols - 1), row_y(1) + 24),
                0
            );
            // Row 2: centred, i.e. column cols/2 - 1 + half a cell.
            let mid = SIDE_MARGIN + (paper.dots() - CELL_W) / 2;
            assert!(ink(img, mid, row_y(2), mid + CELL_W, row_y(2) + 24) > 20);
            assert_eq!(ink(img, col_x(0), row_y(2), mid - 1, row_y(2) + 24), 0);
            assert_eq!(r.overflow_lines, 0);
            assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        }
    }

    #[test]
    fn double_size_text_takes_two_cells_each_way() {
        let f = fonts();
        let big = Style {
            width: 2,
            height: 2,
            ..Style::default()
        };
        let r = render(&[line("WW", Align::Left, big)], Paper::Mm58, &f).unwrap();
        let img = &r.image;
        let (x0, y0) = (SIDE_MARGIN, TOP_MARGIN);
        assert_eq!(r.placed[0].width, 48);
        assert_eq!(r.placed[0].height, 48);
        // Ink in both cell halves, both vertically and horizontally.
        assert!(ink(img, x0, y0, x0 + 24, y0 + 24) > 30);
        assert!(ink(img, x0 + 24, y0 + 24, x0 + 48, y0 + 48) > 30);
        assert_eq!(ink(img, x0 + 48, y0, x0 + 384, y0 + 48), 0);
    }

    #[test]
    fn bold_has_more_ink_and_underline_draws_a_rule() {
        let f = fonts();
        let plain = render(
            &[line("HHHH", Align::Left, Style::default())],
            Paper::Mm58,
            &f,
        )
        .unwrap();
        let bold = Style {
            bold: true,
            ..Style::default()
        };
        let b = render(&[line("HHHH", Align::Left, bold)], Paper::Mm58, &f).unwrap();
        let area = |i: &GrayImage| {
            ink(
                i,
                SIDE_MARGIN,
                TOP_MARGIN,
                SIDE_MARGIN + 48,
                TOP_MARGIN + 24,
            )
        };
        assert!(area(&b.image) > area(&plain.image) + 20);
        let ul = Style {
            underline: 1,
            ..Style::default()
        };
        let u = render(&[line("ab", Align::Left, ul)], Paper::Mm58, &f).unwrap();
        let y = TOP_MARGIN + CELL_H - 1;
        assert_eq!(ink(&u.image, SIDE_MARGIN, y, SIDE_MARGIN + 24, y + 1), 24);
    }

    #[test]
    fn too_long_lines_wrap_and_are_counted() {
        let f = fonts();
        let r = render(
            &[line(&"x".repeat(40), Align::Left, Style::default())],
            Paper::Mm58,
            &f,
        )
        .unwrap();
        assert_eq!(r.overflow_lines, 1);
        assert_eq!(r.placed.len(), 2);
        assert_eq!(r.placed[1].what.len(), 8);
    }

    #[test]
    fn cjk_text_renders_with_the_cjk_font() {
        let f = fonts();
        assert!(
            f.cjk_path.is_some(),
            "install fonts-wqy-microhei (or fonts-noto-cjk)"
        );
        let items = parse(b"\x1c&\xca\xd5\xd2\xf8\xcc\xa8\x1c.\n").unwrap();
        let r = render(&items, Paper::Mm58, &f).unwrap();
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        // Three characters, two columns each: ink in each 24-dot cell, none after.
        for i in 0..3 {
            let x = SIDE_MARGIN + i * 24;
            assert!(
                ink(&r.image, x, TOP_MARGIN, x + 24, TOP_MARGIN + 24) > 40,
                "char {i}"
            );
        }
        assert_eq!(
            ink(
                &r.image,
                SIDE_MARGIN + 72,
                TOP_MARGIN,
                SIDE_MARGIN + 384,
                TOP_MARGIN + 24
            ),
            0
        );
    }

    #[test]
    fn qr_is_drawn_from_its_data() {
        let f = fonts();
        let items = parse(b"\x1ba\x01\x1d(k\x04\x001A2\x00\x1d(k\x03\x001C\x04\x1d(k\x06\x001P0R-1\x1d(k\x03\x001Q0").unwrap();
        let r = render(&items, Paper::Mm80, &f).unwrap();
        let p = &r.placed[0];
        // Version 1 (21 modules) plus the quiet zone, 4 dots per module, centred.
        assert_eq!(p.width, (21 + 8) * 4);
        assert_eq!(p.x, SIDE_MARGIN + (576 - p.width) / 2);
        // The finder pattern's top-left module is dark, the quiet zone is light.
        let m = 4;
        assert_eq!(
            ink(&r.image, p.x + 4 * m, p.y + 4 * m, p.x + 5 * m, p.y + 5 * m),
            16
        );
        assert_eq!(ink(&r.image, p.x, p.y, p.x + 4 * m, p.y + 4 * m), 0);
    }

    #[test]
    fn barcode_bars_match_the_modules() {
        let f = fonts();
        let items = parse(b"\x1dw\x02\x1dh\x28\x1dH\x00\x1dk\x49\x04{B12").unwrap();
        let r = render(&items, Paper::Mm80, &f).unwrap();
        let p = &r.placed[0];
        let want = code128_modules(&[104, 17, 18]);
        assert_eq!(p.width, want.len() as u32 * 2);
        let row = p.y + 10;
        for (i, dark) in want.iter().enumerate() {
            let x = p.x + i as u32 * 2;
            assert_eq!(r.image.get_pixel(x, row).0[0] == 0, *dark, "module {i}");
        }
    }

    #[test]
    fn raster_dots_are_copied() {
        let f = fonts();
        let items = parse(b"\x1dv0\x00\x01\x00\x02\x00\x81\x18").unwrap();
        let r = render(&items, Paper::Mm58, &f).unwrap();
        let p = &r.placed[0];
        assert_eq!((p.width, p.height), (8, 2));
        let dark = |x, y| r.image.get_pixel(p.x + x, p.y + y).0[0] == 0;
        assert!(dark(0, 0) && dark(7, 0) && !dark(1, 0));
        assert!(dark(3, 1) && dark(4, 1) && !dark(0, 1));
    }

    #[test]
    fn receipts_split_at_cuts() {
        let items = parse(b"a\n\x1dVA\x00b\n\x1dVB\x00\x1bp\x00\x19\xfa").unwrap();
        let r = split_receipts(&items);
        assert_eq!(r.len(), 2);
    }
}

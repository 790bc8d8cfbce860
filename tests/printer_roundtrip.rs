//! Encoder (devices::printer) against the emulator's independent parser (sim::printer):
//! encode → parse must give back the document's blocks.
//! Lives in the scratch crate's tests/ because it uses both layers, which the module rules
//! keep apart inside src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod printer_samples;

use proptest::prelude::*;
use tillpoint_devices::printer::doc::{
    block_lines, char_columns, Align, BarcodeKind, Block, DrawerPin, PaperWidth, PrintDocument,
    QrLevel, RasterImage, TextStyle,
};
use tillpoint_devices::printer::encode::{
    encode, encode_text, ChineseSupport, CodePage, EncodeOptions,
};
use tillpoint_sim::printer::parse::{self, HriPosition, Item, QrEcLevel, Symbology};

/// A document-level view both sides can be reduced to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Norm {
    Line {
        text: String,
        align: Align,
        bold: bool,
        underline: bool,
        dw: bool,
        dh: bool,
    },
    Barcode {
        code128: bool,
        text: String,
        height: u8,
        module: u8,
        hri: bool,
    },
    Qr {
        data: Vec<u8>,
        size: u8,
        level: QrLevel,
    },
    Raster {
        row_bytes: usize,
        height: usize,
        bits: Vec<u8>,
    },
    Feed(u8),
    Cut(bool),
    Drawer(u8, u16, u16),
    Mixed(String),
}

fn expected(doc: &PrintDocument, opts: &EncodeOptions) -> Vec<Norm> {
    let mut out = Vec::new();
    for b in &doc.blocks {
        if let Some(lines) = block_lines(b, doc.width) {
            let style = match b {
                Block::Text { style, .. } => *style,
                Block::Columns { style, .. } => style.align(Align::Left),
                _ => TextStyle::plain(),
            };
            for l in lines {
                // What the printer prints: unprintable characters as '?' per column.
                let mut replaced = Vec::new();
                let printed: String = l
                    .chars()
                    .flat_map(|c| {
                        let mut r = Vec::new();
                        let b = encode_text(&c.to_string(), opts, &mut r);
                        if r.is_empty() {
                            vec![c]
                        } else {
                            replaced.push(c);
                            debug_assert_eq!(b.len(), char_columns(c));
                            vec!['?'; char_columns(c)]
                        }
                    })
                    .collect();
                // A blank line carries no characters, so no style can be seen on it.
                let seen = !printed.is_empty();
                out.push(Norm::Line {
                    text: printed,
                    align: style.align,
                    bold: seen && style.bold,
                    underline: seen && style.underline,
                    dw: seen && style.double_width,
                    dh: seen && style.double_height,
                });
            }
            continue;
        }
        out.push(match b {
            Block::Barcode {
                kind,
                data,
                height,
                module,
                hri,
            } => Norm::Barcode {
                code128: *kind == BarcodeKind::Code128,
                text: match kind {
                    BarcodeKind::Ean13 => {
                        tillpoint_devices::printer::doc::ean13_full(data).unwrap()
                    }
                    BarcodeKind::Code128 => data.clone(),
                },
                height: *height,
                module: *module,
                hri: *hri,
            },
            Block::Qr { data, size, level } => Norm::Qr {
                data: data.as_bytes().to_vec(),
                size: *size,
                level: *level,
            },
            Block::Raster(img) => Norm::Raster {
                row_bytes: img.row_bytes(),
                height: img.height() as usize,
                bits: img.bits().to_vec(),
            },
            Block::Feed(0) => continue,
            Block::Feed(n) => Norm::Feed(*n),
            Block::Cut { partial } => Norm::Cut(*partial),
            Block::Drawer(p) => Norm::Drawer(
                if p.pin == DrawerPin::Pin2 { 2 } else { 5 },
                u16::from(p.on_2ms) * 2,
                u16::from(p.off_2ms) * 2,
            ),
            _ => unreachable!(),
        });
    }
    out
}

fn parsed(items: &[Item]) -> Vec<Norm> {
    let align = |a: parse::Align| match a {
        parse::Align::Left => Align::Left,
        parse::Align::Center => Align::Center,
        parse::Align::Right => Align::Right,
    };
    items
        .iter()
        .filter_map(|i| {
            Some(match i {
                Item::Init | Item::StatusRequest(_) | Item::FeedDots(_) | Item::Beep { .. } => {
                    return None
                }
                Item::Line(l) => {
                    let mut styles: Vec<_> = l.spans.iter().map(|s| s.style).collect();
                    styles.dedup();
                    match styles.as_slice() {
                        [] | [_] => {
                            let s = styles.first().copied().unwrap_or_default();
                            Norm::Line {
                                text: l.text(),
                                align: align(l.align),
                                bold: s.bold,
                                underline: s.underline == 1,
                                dw: s.width == 2,
                                dh: s.height == 2,
                            }
                        }
                        _ => Norm::Mixed(format!("{l:?}")),
                    }
                }
                Item::Barcode(b) => {
                    assert_eq!(b.align, parse::Align::Center);
                    Norm::Barcode {
                        code128: b.symbology == Symbology::Code128,
                        text: b.text.clone(),
                        height: b.height,
                        module: b.module,
                        hri: b.hri == HriPosition::Below,
                    }
                }
                Item::Qr(q) => {
                    assert_eq!((q.model, q.align), (2, parse::Align::Center));
                    Norm::Qr {
                        data: q.data.clone(),
                        size: q.module,
                        level: match q.level {
                            QrEcLevel::L => QrLevel::L,
                            QrEcLevel::M => QrLevel::M,
                            QrEcLevel::Q => QrLevel::Q,
                            QrEcLevel::H => QrLevel::H,
                        },
                    }
                }
                Item::Raster(r) => {
                    assert_eq!(
                        (r.scale_x, r.scale_y, r.align),
                        (1, 1, parse::Align::Center)
                    );
                    Norm::Raster {
                        row_bytes: r.width_bytes.into(),
                        height: r.height.into(),
                        bits: r.bits.clone(),
                    }
                }
                Item::Feed { lines, .. } => Norm::Feed(*lines),
                Item::Cut { partial } => Norm::Cut(*partial),
                Item::DrawerPulse { pin, on_ms, off_ms } => Norm::Drawer(*pin, *on_ms, *off_ms),
            })
        })
        .collect()
}

fn round_trip(doc: &PrintDocument, opts: &EncodeOptions) {
    let enc = encode(doc, opts).unwrap();
    let items = parse::parse(&enc.bytes).unwrap();
    assert_eq!(items.first(), Some(&Item::Init));
    assert_eq!(parsed(&items), expected(doc, opts));
}

#[test]
fn sample_receipts_round_trip_in_both_widths_and_languages() {
    use printer_samples::{receipt, Lang, Sale};
    for width in [PaperWidth::Mm58, PaperWidth::Mm80] {
        for lang in [Lang::En, Lang::Zh] {
            for sale in [Sale::Cash, Sale::Card] {
                let doc = receipt(sale, lang, width);
                let enc = encode(&doc, &EncodeOptions::default()).unwrap();
                assert!(enc.replaced.is_empty(), "{:?}", enc.replaced);
                round_trip(&doc, &EncodeOptions::default());
            }
        }
    }
}

#[test]
fn replaced_characters_round_trip_as_question_marks() {
    let opts = EncodeOptions {
        code_page: CodePage::Pc437,
        chinese: ChineseSupport::None,
    };
    let mut d = PrintDocument::new(PaperWidth::Mm58);
    d.columns("茶 Ω€", "5€", TextStyle::plain());
    let enc = encode(&d, &opts).unwrap();
    assert_eq!(enc.replaced, vec!['茶', '€', '€']);
    let items = parse::parse(&enc.bytes).unwrap();
    let Norm::Line { text, .. } = &parsed(&items)[0] else {
        panic!()
    };
    assert_eq!(text, &format!("?? Ω?{}5?", " ".repeat(32 - 7)));
    round_trip(&d, &opts);
}

#[test]
fn code_page_tables_agree_between_encoder_and_emulator() {
    // Every upper-half byte: decode with the emulator's table, encode with the encoder's,
    // and get the same byte back (both tables were typed from the Unicode mapping files).
    for (cp, n) in [
        (CodePage::Pc437, 0u8),
        (CodePage::Pc850, 2),
        (CodePage::Pc858, 19),
        (CodePage::Wpc1252, 16),
    ] {
        let mut checked = 0;
        for b in 0x80..=0xFFu8 {
            let items = match parse::parse(&[0x1B, b't', n, b, b'\n']) {
                Ok(items) => items,
                Err(_) => {
                    assert!(cp == CodePage::Wpc1252, "{cp:?} byte {b:02X} undecodable");
                    continue;
                }
            };
            let Some(Item::Line(l)) = items.first() else {
                panic!()
            };
            let c = l.text().chars().next().unwrap();
            assert_eq!(cp.encode_char(c), Some(b), "{cp:?} {b:02X} {c:?}");
            checked += 1;
        }
        assert!(checked >= 123, "{cp:?}: {checked}");
    }
}

fn text_strategy() -> impl Strategy<Value = String> {
    let pool: Vec<char> = "abc XYZ 0123 .,-:€éèàçñßü¥£茶收银台绿你好"
        .chars()
        .collect();
    proptest::collection::vec(proptest::sample::select(pool), 0..70)
        .prop_map(|v| v.into_iter().collect())
}

fn style_strategy() -> impl Strategy<Value = TextStyle> {
    (any::<[bool; 4]>(), 0..3u8).prop_map(|(b, a)| TextStyle {
        bold: b[0],
        underline: b[1],
        double_width: b[2],
        double_height: b[3],
        align: [Align::Left, Align::Center, Align::Right][usize::from(a)],
    })
}

fn block_strategy() -> impl Strategy<Value = Block> {
    prop_oneof![
        (text_strategy(), style_strategy()).prop_map(|(text, style)| Block::Text { text, style }),
        (text_strategy(), text_strategy(), style_strategy())
            .prop_map(|(left, right, style)| Block::Columns { left, right, style }),
        proptest::sample::select(vec!['-', '=', '*', '─']).prop_map(Block::Separator),
        ("[ -~]{1,20}", 1..=255u8, 2..=6u8, any::<bool>()).prop_map(
            |(data, height, module, hri)| {
                Block::Barcode {
                    kind: BarcodeKind::Code128,
                    data,
                    height,
                    module,
                    hri,
                }
            }
        ),
        ("[0-9]{12}", any::<bool>()).prop_map(|(data, hri)| Block::Barcode {
            kind: BarcodeKind::Ean13,
            data,
            height: 80,
            module: 3,
            hri,
        }),
        ("[ -~]{1,60}", 1..=15u8, 0..4usize).prop_map(|(data, size, l)| Block::Qr {
            data,
            size,
            level: [QrLevel::L, QrLevel::M, QrLevel::Q, QrLevel::H][l],
        }),
        (1..100u32, 1..30u32, any::<u64>()).prop_map(|(w, h, seed)| {
            Block::Raster(
                RasterImage::from_fn(w, h, |x, y| {
                    (seed.rotate_left(x + y * 7) ^ u64::from(x * y)) & 1 == 1
                })
                .unwrap(),
            )
        }),
        (0..10u8).prop_map(Block::Feed),
        any::<bool>().prop_map(|partial| Block::Cut { partial }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn random_documents_round_trip(
        blocks in proptest::collection::vec(block_strategy(), 0..12),
        wide in any::<bool>(),
    ) {
        let width = if wide { PaperWidth::Mm80 } else { PaperWidth::Mm58 };
        let doc = PrintDocument { width, blocks };
        round_trip(&doc, &EncodeOptions::default());
    }
}

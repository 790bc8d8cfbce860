//! Shared by the receipt printing tests: a shop config, a store on a real SQLite file, three
//! sales rung through the real sale engine and store (cash, card, a refund of the card
//! sale), receipt settings per language and paper width, and golden-file helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use tillpoint_app::till::store_settings;
use tillpoint_config::Config;
use tillpoint_core::cashier::{Action, Target};
use tillpoint_core::catalog::{Product, Qty, Unit};
use tillpoint_core::money::Money;
use tillpoint_core::sale::{Discount, Sale};
use tillpoint_core::tender::{mask_pan, CardRef, TenderKind};
use tillpoint_devices::printer::config::{PrinterConfig, ReceiptSettings, TransportKind};
use tillpoint_devices::printer::doc::PaperWidth;
use tillpoint_devices::printer::encode::EncodeOptions;
use tillpoint_devices::printer::transport::FileTransport;
use tillpoint_devices::printer::EscPosPrinter;
use tillpoint_i18n::Lang;
use tillpoint_store::sales::Completion;
use tillpoint_store::Store;

/// A café in Shanghai: CNY, prices include tax, cash rounded down to 0.10 (抹零), a name
/// with an accented letter and Chinese, so both code page and GB18030 text are exercised.
pub const CONFIG: &str = r#"
[shop]
name = "Café 街角"
address = ["88 Nanjing Road, Shanghai", "上海市南京路88号"]
tax_id = "91310000MA1FL0000X"
footer = ["Merci! 谢谢惠顾", "Returns within 7 days"]

[till]
id = "T01"
currency = "CNY"
locale = "en-US"
utc_offset = "+08:00"

[pricing]
cash_increment = "0.10"
cash_rounding = "down"
"#;

/// 2026-11-18 19:06:40 +08:00.
pub const T0: i64 = 1_795_000_000_000;
pub const OFFSET: i32 = 8 * 3600;

pub fn config() -> Config {
    let (c, w) = Config::parse(CONFIG).unwrap();
    assert!(w.is_empty(), "{w:?}");
    c
}

pub fn open_store(path: &Path, config: &Config) -> Store {
    Store::open(path, store_settings(config)).unwrap()
}

pub fn product(sku: &str, name: &str, price: i64, class: &str, unit: Unit) -> Product {
    Product {
        sku: sku.into(),
        name: name.into(),
        barcodes: vec![],
        price: Money::new(price, tillpoint_core::money::Currency::CNY),
        tax_class: class.into(),
        category: "x".into(),
        unit,
    }
}

pub use super::common::supervisor;

/// Two colas, weighed apples with 10 % off, a voided chocolate bar, gum with its price
/// changed by a supervisor; paid with a 100 yuan note, the total rounded down to 0.10.
pub fn ring_cash(store: &mut Store, config: &Config, at: i64) -> Completion {
    let rules = &config.pricing;
    let mut s = Sale::new(rules.currency, 1001);
    s.add(
        &product("00001", "可口可乐 Coca-Cola 330ml", 585, "A", Unit::Piece),
        Qty::pieces(2),
    )
    .unwrap();
    let apples = s
        .add(
            &product("00169", "苹果 Apples", 1280, "B", Unit::Kg),
            Qty(1250),
        )
        .unwrap();
    s.set_line_discount(apples, Some(Discount::Percent(10.into())), 10.into(), None)
        .unwrap();
    let choc = s
        .add(
            &product("00040", "巧克力 Chocolate Bar", 1528, "A", Unit::Piece),
            Qty::ONE,
        )
        .unwrap();
    s.void_line(choc, rules, None).unwrap();
    let gum = s
        .add(
            &product("00058", "口香糖 Mint Gum", 1319, "A", Unit::Piece),
            Qty::ONE,
        )
        .unwrap();
    s.override_price(
        gum,
        Money::new(995, rules.currency),
        &supervisor(
            Action::PriceOverride,
            Target::Line {
                line_no: gum,
                minor: 995,
            },
        ),
    )
    .unwrap();
    s.pay_cash(Money::new(10_000, rules.currency), rules)
        .unwrap();
    store.complete_sale(&s, rules, at, 20, &[]).unwrap()
}

pub fn card() -> CardRef {
    CardRef {
        masked_pan: mask_pan("6212345678901234567"),
        pan_hash: "hash-not-printed".into(),
        scheme: "UnionPay".into(),
        app_label: "UnionPay Debit".into(),
        aid: "A000000333010101".into(),
        tvr: "0000008000".into(),
        tsi: "E800".into(),
        auth_code: "A1B2C3".into(),
        rrn: "632100004711".into(),
        stan: "004711".into(),
        entry_mode: "chip".into(),
        cvm: "pin".into(),
        offline: false,
        order_id: String::new(),
    }
}

/// Green tea and dried mango with 2 yuan off the sale, paid by chip card and PIN.
pub fn ring_card(store: &mut Store, config: &Config, at: i64) -> Completion {
    let rules = &config.pricing;
    let mut s = Sale::new(rules.currency, 1001);
    s.add(
        &product("00004", "绿茶 Green Tea 500ml", 630, "A", Unit::Piece),
        Qty::ONE,
    )
    .unwrap();
    s.add(
        &product("00046", "芒果干 Dried Mango", 2210, "A", Unit::Piece),
        Qty::ONE,
    )
    .unwrap();
    s.set_sale_discount(Some(Discount::Amount(200)), 10.into(), None)
        .unwrap();
    let due = s.balance(rules).unwrap();
    s.pay_electronic(TenderKind::Card, due, card(), rules)
        .unwrap();
    store.complete_sale(&s, rules, at, 20, &[]).unwrap()
}

/// The dried mango of the card sale comes back; the money goes back to the card.
pub fn ring_refund(store: &mut Store, config: &Config, original: &str, at: i64) -> Completion {
    store
        .complete_refund(
            original,
            &[(2, Qty::ONE)],
            &config.pricing,
            1001,
            &supervisor(
                Action::Refund,
                super::common::refund_of(original, &[(2, Qty::ONE)]),
            ),
            at,
            20,
        )
        .unwrap()
}

pub fn printer_config(width: PaperWidth, lang: Lang) -> PrinterConfig {
    PrinterConfig {
        paper: if width == PaperWidth::Mm58 { 58 } else { 80 },
        language: lang.code().to_string(),
        ..PrinterConfig::default()
    }
}

pub fn tcp_config(addr: std::net::SocketAddr, width: PaperWidth, lang: Lang) -> PrinterConfig {
    PrinterConfig {
        transport: TransportKind::Tcp,
        address: addr.to_string(),
        ..printer_config(width, lang)
    }
}

pub fn settings(config: &Config, width: PaperWidth, lang: Lang) -> ReceiptSettings {
    let mut w = Vec::new();
    let s = printer_config(width, lang).receipt_settings(config, OFFSET, &mut w);
    assert!(w.is_empty(), "{w:?}");
    s
}

/// A printer that appends to a file and has no status channel.
pub fn file_printer(path: &Path) -> EscPosPrinter<FileTransport> {
    EscPosPrinter::new(
        FileTransport::create(path).unwrap(),
        EncodeOptions::default(),
        Duration::from_millis(200),
    )
}

pub fn lang_tag(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "en",
        Lang::Zh => "zh",
    }
}

pub fn width_tag(width: PaperWidth) -> &'static str {
    match width {
        PaperWidth::Mm58 => "58",
        PaperWidth::Mm80 => "80",
    }
}

/// `target/` of this build (the parent of CARGO_TARGET_TMPDIR).
pub fn target_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().map(Path::to_path_buf).unwrap_or(tmp)
}

// ---------------------------------------------------------------------------------------
// Golden files: the command stream written as text, one printed line per file line,
// printable ASCII as is, everything else as \xNN (and the backslash as \\), so a change
// shows up as a readable diff and the file still holds every byte.
// ---------------------------------------------------------------------------------------

pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n\n"),
            0x20..=0x7E => s.push(*b as char),
            _ => s.push_str(&format!("\\x{b:02X}")),
        }
    }
    s
}

pub fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\n' => i += 1,
            b'\\' => match b.get(i + 1) {
                Some(b'\\') => {
                    out.push(b'\\');
                    i += 2;
                }
                Some(b'n') => {
                    out.push(b'\n');
                    i += 2;
                }
                Some(b'x') => {
                    let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 4;
                }
                other => panic!("bad escape {other:?} at {i}"),
            },
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Line diff (longest common subsequence) of two texts, `-` expected, `+` actual, with
/// two lines of context around each change.
pub fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let changed: Vec<usize> = (0..ops.len()).filter(|k| ops[*k].0 != ' ').collect();
    let mut out = String::new();
    let mut last = None;
    for (k, (op, line)) in ops.iter().enumerate() {
        let near = changed.iter().any(|c| c.abs_diff(k) <= 2);
        if !near {
            continue;
        }
        if last.is_some_and(|l: usize| k > l + 1) {
            out.push_str("  ...\n");
        }
        out.push_str(&format!("{op} {line}\n"));
        last = Some(k);
    }
    out
}

/// Compares `bytes` with `tests/golden/<name>.txt`; with UPDATE_GOLDEN=1 writes the file
/// instead. Returns the diff on a mismatch.
pub fn check_golden(name: &str, bytes: &[u8]) -> Option<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.txt"));
    let actual = escape(bytes);
    assert_eq!(unescape(&actual), bytes, "escaping is lossless");
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        return None;
    }
    let expected = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            return Some(format!(
                "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
                path.display()
            ))
        }
    };
    if unescape(&expected) == bytes {
        None
    } else {
        Some(format!(
            "{} differs (- golden, + now; UPDATE_GOLDEN=1 rewrites it after review):\n{}",
            path.display(),
            diff(&expected, &actual)
        ))
    }
}

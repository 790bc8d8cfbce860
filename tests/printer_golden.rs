//! Byte-level golden tests of the complete command stream the till sends for a cash sale
//! (drawer kick, receipt), a card sale (merchant slip, customer copy) and a refund to the
//! card, in English and Chinese on 58 mm and 80 mm paper. The sales are rung through the
//! real engine into a real SQLite file and printed by the print worker through the file
//! transport, exactly as a shop would. Goldens live in tests/golden/ as escaped text;
//! `UPDATE_GOLDEN=1 cargo test --test printer_golden` rewrites them after a reviewed change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;
mod printer_fixtures;

use printer_fixtures::*;
use tillpoint_app::print_queue::{drain, open_drawer_for_sale};
use tillpoint_devices::printer::doc::{DrawerPulse, PaperWidth};
use tillpoint_i18n::{I18n, Lang};
use tillpoint_sim::printer::parse::{parse, Item};

#[test]
fn command_streams_match_the_goldens() {
    let i18n = I18n::load();
    let config = config();
    let mut failures = Vec::new();
    for lang in Lang::ALL {
        for width in [PaperWidth::Mm58, PaperWidth::Mm80] {
            let tag = format!("{}-{}", lang_tag(lang), width_tag(width));
            let dir = tempfile::tempdir().unwrap();
            let mut store = open_store(&dir.path().join("till.db"), &config);
            let settings = settings(&config, width, lang);

            let cash = ring_cash(&mut store, &config, T0);
            let path = dir.path().join("cash.bin");
            let mut p = file_printer(&path);
            assert!(
                open_drawer_for_sale(&mut p, &cash.record, Some(DrawerPulse::default())).unwrap()
            );
            let r = drain(&mut store, &mut p, &i18n, &settings, T0 + 1).unwrap();
            assert_eq!(r.printed, vec![cash.record.receipt_no.clone()]);
            assert_eq!(r.copies_printed, 1);
            let cash_bytes = std::fs::read(&path).unwrap();

            let card = ring_card(&mut store, &config, T0 + 60_000);
            let path = dir.path().join("card.bin");
            let mut p = file_printer(&path);
            assert!(
                !open_drawer_for_sale(&mut p, &card.record, Some(DrawerPulse::default())).unwrap(),
                "no cash, no drawer"
            );
            let r = drain(&mut store, &mut p, &i18n, &settings, T0 + 60_001).unwrap();
            assert_eq!(r.copies_printed, 2, "merchant and customer copy");
            let card_bytes = std::fs::read(&path).unwrap();

            let refund = ring_refund(&mut store, &config, &card.record.receipt_no, T0 + 120_000);
            let path = dir.path().join("refund.bin");
            let mut p = file_printer(&path);
            let r = drain(&mut store, &mut p, &i18n, &settings, T0 + 120_001).unwrap();
            assert_eq!(r.printed, vec![refund.record.receipt_no.clone()]);
            assert_eq!(r.left, 0);
            let refund_bytes = std::fs::read(&path).unwrap();

            for (kind, bytes, cuts, drawer) in [
                ("cash", &cash_bytes, 1, 1),
                ("card", &card_bytes, 2, 0),
                ("refund", &refund_bytes, 2, 0),
            ] {
                // The emulator's independent parser reads the whole stream.
                let items = parse(bytes).unwrap_or_else(|e| panic!("{kind}-{tag}: {e}"));
                let n_cuts = items
                    .iter()
                    .filter(|i| matches!(i, Item::Cut { .. }))
                    .count();
                let n_drawer = items
                    .iter()
                    .filter(|i| matches!(i, Item::DrawerPulse { .. }))
                    .count();
                assert_eq!((n_cuts, n_drawer), (cuts, drawer), "{kind}-{tag}");
                // No full card number in any stream.
                assert!(!bytes.windows(19).any(|w| w == b"6212345678901234567"));
                if let Some(d) = check_golden(&format!("{kind}-{tag}"), bytes) {
                    failures.push(d);
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn golden_escaping_is_lossless_and_diffs_are_readable() {
    let all: Vec<u8> = (0..=255).collect();
    assert_eq!(unescape(&escape(&all)), all);
    let d = diff("a\nb\nc\nd\n", "a\nb\nX\nd\n");
    assert_eq!(d, "  a\n  b\n- c\n+ X\n  d\n");
}

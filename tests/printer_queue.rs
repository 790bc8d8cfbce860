//! The print worker against real parts: sales in a real SQLite file, receipts sent over
//! loopback TCP to the printer emulator (which renders PNGs), and the `tillpoint` binary
//! for the crash and command-line cases.
//!
//! Receipt pictures for a human to look at are written to target/receipts/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;
mod printer_fixtures;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use printer_fixtures::*;
use tillpoint_app::print_queue::{
    check_printer, drain_configured, no_sale, open_drawer_for_sale, queue_status, why_not_printing,
    NoSaleError, PrintProblem,
};
use tillpoint_core::cashier::{Action, Target};
use tillpoint_core::receipt::{Copy, Receipt};
use tillpoint_core::sale::SaleRecord;
use tillpoint_devices::printer::config::{PrinterConfig, ReceiptSettings, TransportKind};
use tillpoint_devices::printer::doc::{PaperWidth, PrintDocument};
use tillpoint_devices::printer::encode::{encode, EncodeOptions};
use tillpoint_devices::printer::layout::receipt_document;
use tillpoint_i18n::{I18n, Lang};
use tillpoint_sim::printer::parse::{parse, Item};
use tillpoint_sim::printer::render::{prints, SIDE_MARGIN};
use tillpoint_sim::printer::{render_stream, Fonts, Paper, PrinterSim, SimHandle, SimState};
use tillpoint_store::Store;

fn paper(width: PaperWidth) -> Paper {
    match width {
        PaperWidth::Mm58 => Paper::Mm58,
        PaperWidth::Mm80 => Paper::Mm80,
    }
}

fn start_sim(width: PaperWidth, dir: &Path) -> SimHandle {
    start_sim_at("127.0.0.1:0".parse().unwrap(), width, dir)
}

fn start_sim_at(addr: SocketAddr, width: PaperWidth, dir: &Path) -> SimHandle {
    let state = SimState::new(paper(width), None).unwrap();
    PrinterSim::bind(addr, dir, state).unwrap().spawn().unwrap()
}

/// Waits until the emulator has written `n` receipts, then a little longer to catch extras.
fn receipts(sim: &SimHandle, n: usize) -> Vec<PathBuf> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim.control.stats().receipts.len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(150));
    let s = sim.control.stats();
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    s.receipts
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn doc(record: &SaleRecord, copy: Copy, reprint: bool, s: &ReceiptSettings) -> PrintDocument {
    let r = Receipt {
        shop: s.shop.clone(),
        till_id: s.till_id.clone(),
        record: record.clone(),
        copy,
        reprint,
    };
    receipt_document(&r, &I18n::load(), &s.layout)
}

fn bytes(d: &PrintDocument) -> Vec<u8> {
    let e = encode(d, &EncodeOptions::default()).unwrap();
    assert!(e.replaced.is_empty(), "unprintable: {:?}", e.replaced);
    e.bytes
}

fn printed_items(d: &PrintDocument) -> usize {
    parse(&bytes(d))
        .unwrap()
        .iter()
        .filter(|i| prints(i) && !matches!(i, Item::Cut { .. }))
        .count()
}

fn png(path: &Path) -> image::GrayImage {
    image::open(path).unwrap().to_luma8()
}

#[test]
fn receipts_render_through_the_emulator_with_text_in_place() {
    let config = config();
    let fonts = Fonts::discover(None).unwrap();
    let out = target_dir().join("receipts");
    std::fs::create_dir_all(&out).unwrap();
    for lang in Lang::ALL {
        for width in [PaperWidth::Mm58, PaperWidth::Mm80] {
            let tag = format!("{}-{}mm", lang_tag(lang), width_tag(width));
            let dir = tempfile::tempdir().unwrap();
            let sim = start_sim(width, &dir.path().join("png"));
            let mut store = open_store(&dir.path().join("till.db"), &config);
            let settings = settings(&config, width, lang);
            let cash = ring_cash(&mut store, &config, T0).record;
            let card = ring_card(&mut store, &config, T0 + 60_000).record;
            let refund = ring_refund(&mut store, &config, &card.receipt_no, T0 + 120_000).record;
            let pc = tcp_config(sim.addr, width, lang);
            let r = drain_configured(&mut store, &pc, &I18n::load(), &settings, T0 + 1).unwrap();
            assert_eq!(r.printed.len(), 3, "{tag}: {r:?}");
            assert_eq!(r.left, 0);
            let pngs = receipts(&sim, 5);
            assert_eq!(pngs.len(), 5, "{tag}: cash 1, card 2, refund 2");

            let expected = [
                ("cash", &cash, Copy::Customer),
                ("card-merchant", &card, Copy::Merchant),
                ("card-customer", &card, Copy::Customer),
                ("refund-merchant", &refund, Copy::Merchant),
                ("refund-customer", &refund, Copy::Customer),
            ];
            for ((kind, record, copy), path) in expected.iter().zip(&pngs) {
                let named = out.join(format!("{tag}-{kind}.png"));
                std::fs::copy(path, &named).unwrap();
                let img = png(&named);
                let d = doc(record, *copy, false, &settings);
                let rendered = render_stream(&bytes(&d), paper(width), &fonts).unwrap();
                assert_eq!(rendered.len(), 1);
                let r = &rendered[0];
                assert_eq!(
                    r.image.as_raw(),
                    img.as_raw(),
                    "{tag} {kind}: PNG is this receipt"
                );
                assert_eq!(r.overflow_lines, 0, "{tag} {kind}");
                assert!(r.warnings.is_empty(), "{tag} {kind}: {:?}", r.warnings);
                check_placement(r, &img, width, lang, record, &tag, kind);
            }
        }
    }
}

fn check_placement(
    r: &tillpoint_sim::printer::Rendered,
    img: &image::GrayImage,
    width: PaperWidth,
    lang: Lang,
    record: &SaleRecord,
    tag: &str,
    kind: &str,
) {
    let dots = width.dots();
    let find = |pred: &dyn Fn(&str) -> bool| {
        r.placed
            .iter()
            .find(|p| pred(&p.what))
            .unwrap_or_else(|| panic!("{tag} {kind}: no such line in {:#?}", r.placed))
    };
    let centred = |x: u32, w: u32| (x - SIDE_MARGIN).abs_diff((dots - w) / 2) <= 1;
    let ink = |p: &tillpoint_sim::printer::render::Placed| {
        (p.x..p.x + p.width)
            .flat_map(|x| (p.y..p.y + p.height).map(move |y| (x, y)))
            .filter(|(x, y)| img.get_pixel(*x, *y).0[0] < 128)
            .count()
    };

    // Shop name: double size, centred, really drawn.
    let name = find(&|t| t.starts_with("Café"));
    assert_eq!(name.height, 48, "{tag} {kind}: double height");
    assert!(centred(name.x, name.width), "{tag} {kind}: {name:?}");
    assert!(ink(name) > 200, "{tag} {kind}: shop name has no ink");

    // Receipt number flush left, at the top, before the lines.
    let number_label = match lang {
        Lang::En => format!("Receipt {}", record.receipt_no),
        Lang::Zh => format!("小票号 {}", record.receipt_no),
    };
    let number = find(&|t| t.trim_end() == number_label);
    assert_eq!(number.x, SIDE_MARGIN, "{tag} {kind}");
    assert!(number.y > name.y);

    // The total: double size, the amount flush right on the paper's edge.
    let total_label = match lang {
        Lang::En => "TOTAL",
        Lang::Zh => "合计",
    };
    let amount = tillpoint_i18n::money(lang, record.total);
    let total = find(&|t| t.starts_with(total_label) && t.ends_with(&amount));
    assert_eq!(total.height, 48, "{tag} {kind}");
    assert_eq!(total.x + total.width, SIDE_MARGIN + dots, "{tag} {kind}");
    assert!(total.y > number.y);

    // A line item's price ends at the right edge too (columns align on CJK text).
    let first_line = &record.lines[0];
    let item = find(&|t| t.starts_with(&first_line.name) || t.contains("Green Tea"));
    assert_eq!(item.x, SIDE_MARGIN);
    assert!(item.y > number.y && item.y < total.y);

    // Barcode then QR code, both centred, below the total.
    let bars = find(&|t| t == "barcode");
    let qr = find(&|t| t == "qr");
    assert!(bars.y > total.y && qr.y > bars.y, "{tag} {kind}");
    assert!(centred(bars.x, bars.width), "{tag} {kind}: {bars:?}");
    assert!(centred(qr.x, qr.width), "{tag} {kind}: {qr:?}");
    assert!(ink(qr) > 1000, "{tag} {kind}: QR code drawn");
    // The barcode's human-readable text is the receipt number.
    assert!(
        r.placed.iter().any(|p| p.what.trim() == record.receipt_no) || bars.height > 60,
        "{tag} {kind}"
    );
}

#[test]
fn paper_out_mid_queue_keeps_the_jobs_and_prints_each_copy_once() {
    let config = config();
    let i18n = I18n::load();
    let width = PaperWidth::Mm80;
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(width, &dir.path().join("png"));
    let mut store = open_store(&dir.path().join("till.db"), &config);
    let settings = settings(&config, width, Lang::En);
    let first = ring_cash(&mut store, &config, T0).record;
    let card = ring_card(&mut store, &config, T0 + 1000).record;
    let last = ring_cash(&mut store, &config, T0 + 2000).record;
    let pc = tcp_config(sim.addr, width, Lang::En);

    // The roll ends a few lines into the customer copy of the card sale.
    let before = printed_items(&doc(&first, Copy::Customer, false, &settings))
        + printed_items(&doc(&card, Copy::Merchant, false, &settings));
    sim.control.set_paper_out_after(before + 5);
    let r = drain_configured(&mut store, &pc, &i18n, &settings, T0 + 3000).unwrap();
    assert_eq!(r.printed, vec![first.receipt_no.clone()]);
    assert_eq!(r.copies_printed, 2, "first receipt and the merchant slip");
    let b = r.blocked.clone().unwrap();
    assert_eq!(b.problem, PrintProblem::PaperOut);
    assert_eq!(b.receipt_no.as_deref(), Some(card.receipt_no.as_str()));
    assert_eq!(r.left, 2);
    let jobs = store.queued_print_jobs().unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0].copies, 1, "only the customer copy is still missing");
    assert_eq!(jobs[0].attempts, 1);
    assert!(jobs[0]
        .last_error
        .as_deref()
        .unwrap()
        .starts_with("paper-out: printing stopped: paper out"));

    // The GUI's explanation, in both languages.
    let why = why_not_printing(&store, &i18n, Lang::En).unwrap().unwrap();
    assert_eq!(
        why,
        "Receipts waiting to print: 2. The printer is out of paper: load a new roll. They print by themselves once the printer is ready."
    );
    let why = why_not_printing(&store, &i18n, Lang::Zh).unwrap().unwrap();
    assert!(why.contains("打印机缺纸"), "{why}");
    assert!(!check_printer_ok(&pc));

    // Still out of paper: nothing is sent, the job keeps its place.
    let r = drain_configured(&mut store, &pc, &i18n, &settings, T0 + 4000).unwrap();
    assert!(r.printed.is_empty());
    assert_eq!(r.blocked.unwrap().problem, PrintProblem::PaperOut);
    assert_eq!(store.queued_print_jobs().unwrap()[0].attempts, 2);
    assert_eq!(receipts(&sim, 2).len(), 2);

    // Paper loaded: the rest prints, once.
    sim.control.set_paper_out(false);
    let r = drain_configured(&mut store, &pc, &i18n, &settings, T0 + 5000).unwrap();
    assert_eq!(
        r.printed,
        vec![card.receipt_no.clone(), last.receipt_no.clone()]
    );
    assert_eq!(r.copies_printed, 2);
    assert_eq!(r.left, 0);
    assert_eq!(why_not_printing(&store, &i18n, Lang::En).unwrap(), None);
    let r = drain_configured(&mut store, &pc, &i18n, &settings, T0 + 6000).unwrap();
    assert_eq!(r, Default::default(), "nothing left to print");

    // Exactly four pieces of paper, each a different copy, in order.
    let pngs = receipts(&sim, 4);
    assert_eq!(pngs.len(), 4, "{pngs:?}");
    assert!(
        sim.control.stats().discarded_items > 0,
        "the torn copy was lost"
    );
    let fonts = Fonts::discover(None).unwrap();
    for (path, (record, copy)) in pngs.iter().zip([
        (&first, Copy::Customer),
        (&card, Copy::Merchant),
        (&card, Copy::Customer),
        (&last, Copy::Customer),
    ]) {
        let want = render_stream(
            &bytes(&doc(record, copy, false, &settings)),
            Paper::Mm80,
            &fonts,
        )
        .unwrap();
        assert_eq!(png(path).as_raw(), want[0].image.as_raw(), "{path:?}");
    }
}

fn check_printer_ok(pc: &PrinterConfig) -> bool {
    let mut table = toml::Table::new();
    table.insert("printer".into(), toml::Value::try_from(pc).unwrap());
    let (config, _) = tillpoint_config::Config::parse(&toml::to_string(&table).unwrap()).unwrap();
    check_printer(&config).ok
}

#[test]
fn unreachable_printer_keeps_the_job_until_the_printer_is_back() {
    let config = config();
    let i18n = I18n::load();
    let width = PaperWidth::Mm58;
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_store(&dir.path().join("till.db"), &config);
    let settings = settings(&config, width, Lang::Zh);
    let sale = ring_cash(&mut store, &config, T0).record;
    let addr = free_port();
    let pc = tcp_config(addr, width, Lang::Zh);

    let start = Instant::now();
    let r = drain_configured(&mut store, &pc, &i18n, &settings, T0 + 1).unwrap();
    assert!(start.elapsed() < Duration::from_secs(4));
    let b = r.blocked.unwrap();
    assert_eq!(b.problem, PrintProblem::Unreachable);
    assert_eq!(r.left, 1);
    let job = &store.queued_print_jobs().unwrap()[0];
    let err = job.last_error.as_deref().unwrap();
    assert!(
        err.starts_with(&format!("unreachable: printer at {addr} is unreachable")),
        "{err}"
    );
    let status = queue_status(&store).unwrap();
    assert_eq!(status.problem, Some(PrintProblem::Unreachable));
    assert_eq!(status.oldest.as_deref(), Some(sale.receipt_no.as_str()));
    let why = why_not_printing(&store, &i18n, Lang::Zh).unwrap().unwrap();
    assert!(why.starts_with("待打印小票：1 张。无法连接打印机"), "{why}");
    let why = why_not_printing(&store, &i18n, Lang::En).unwrap().unwrap();
    assert!(why.contains("cannot reach the printer"), "{why}");
    assert!(!check_printer_ok(&pc));

    // The printer comes back on the same address: the receipt prints, once.
    let png_dir = dir.path().join("png");
    let sim = start_sim_at(addr, width, &png_dir);
    assert!(check_printer_ok(&pc));
    let r = drain_configured(&mut store, &pc, &i18n, &settings, T0 + 2).unwrap();
    assert_eq!(r.printed, vec![sale.receipt_no.clone()]);
    let r = drain_configured(&mut store, &pc, &i18n, &settings, T0 + 3).unwrap();
    assert!(r.printed.is_empty());
    assert_eq!(receipts(&sim, 1).len(), 1);
    assert_eq!(
        sim.control.stats().drawer_pulses,
        0,
        "the queue never opens the drawer"
    );
}

#[test]
fn sale_committed_before_a_crash_prints_once_after_restart() {
    let config = config();
    let i18n = I18n::load();
    let width = PaperWidth::Mm80;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("till.db");
    let sim = start_sim(width, &dir.path().join("png"));
    let pc = tcp_config(sim.addr, width, Lang::En);
    let settings = settings(&config, width, Lang::En);
    let (cash, card) = {
        let mut store = open_store(&db, &config);
        let cash = ring_cash(&mut store, &config, T0).record;
        let card = ring_card(&mut store, &config, T0 + 1).record;
        // The till dies here: the sales are committed, nothing has printed.
        (cash, card)
    };
    assert_eq!(sim.control.stats().receipts.len(), 0);
    {
        let mut store = open_store(&db, &config);
        assert_eq!(store.queued_print_jobs().unwrap().len(), 2);
        let r = drain_configured(&mut store, &pc, &i18n, &settings, T0 + 2).unwrap();
        assert_eq!(
            r.printed,
            vec![cash.receipt_no.clone(), card.receipt_no.clone()]
        );
    }
    {
        // And a second restart prints nothing more.
        let mut store = open_store(&db, &config);
        let r = drain_configured(&mut store, &pc, &i18n, &settings, T0 + 3).unwrap();
        assert!(r.printed.is_empty());
        assert!(store.queued_print_jobs().unwrap().is_empty());
    }
    assert_eq!(receipts(&sim, 3).len(), 3, "cash 1 + card 2");
}

/// Receipt numbers printed in an ESC/POS stream, in order (from the "Receipt …" line).
fn printed_receipt_numbers(stream: &[u8]) -> Vec<String> {
    parse(stream)
        .unwrap()
        .iter()
        .filter_map(|i| match i {
            Item::Line(l) => l
                .text()
                .strip_prefix("Receipt ")
                .map(|s| s.trim().to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn killed_till_prints_every_committed_sale_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = dir.path().join("printer.bin");
    let cfg = dir.path().join("tillpoint.toml");
    std::fs::write(
        &cfg,
        format!(
            "[printer]\ntransport = \"file\"\npath = {:?}\npaper = 58\nlanguage = \"en-US\"\n",
            out.display().to_string()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        common::bin()
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .arg("--config")
            .arg(&cfg)
            .env("TILLPOINT_LOG", "error")
            .output()
            .unwrap()
    };
    // Seeds the demo catalog (slow password hashes) and sells once.
    let o = common::harness()
        .args(["sell-loop", "--count", "1", "--data-dir"])
        .arg(&data)
        .arg("--config")
        .arg(&cfg)
        .env("TILLPOINT_LOG", "error")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // A till selling as fast as it can, killed (SIGKILL) after a few sales.
    let mut child = common::harness()
        .args(["sell-loop", "--data-dir"])
        .arg(&data)
        .arg("--config")
        .arg(&cfg)
        .env("TILLPOINT_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut reported = Vec::new();
    while reported.len() < 5 {
        let l = lines.next().unwrap().unwrap();
        reported.push(l.trim_start_matches("completed ").to_string());
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.exists(), "the selling till printed nothing");

    // Restart: `tillpoint print` prints every committed sale, once.
    let o = run(&["print"]);
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("print queue empty"), "{stdout}");
    let (config, _) = tillpoint_config::Config::load(&cfg).unwrap();
    let store = Store::open(
        &data.join("till.db"),
        tillpoint_app::till::store_settings(&config),
    )
    .unwrap();
    let sales = store.sale_count().unwrap() as usize;
    assert!(sales >= 6, "{sales}");
    let printed = printed_receipt_numbers(&std::fs::read(&out).unwrap());
    assert_eq!(printed.len(), sales, "{printed:?}");
    let mut unique = printed.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), sales, "a receipt printed twice: {printed:?}");
    for r in &reported {
        assert!(printed.contains(r), "{r} reported but not printed");
    }
    drop(store);

    // Printing again prints nothing; the queue says so.
    let before = std::fs::read(&out).unwrap();
    let o = run(&["print"]);
    assert!(o.status.success());
    assert_eq!(std::fs::read(&out).unwrap(), before);

    // A reprint comes out once, marked.
    let o = run(&["print", "--reprint", &reported[0]]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let after = std::fs::read(&out).unwrap();
    let tail = &after[before.len()..];
    assert_eq!(printed_receipt_numbers(tail), vec![reported[0].clone()]);
    let text: String = parse(tail)
        .unwrap()
        .iter()
        .filter_map(|i| match i {
            Item::Line(l) => Some(l.text() + "\n"),
            _ => None,
        })
        .collect();
    assert_eq!(text.matches("*** REPRINT ***").count(), 2, "{text}");
}

#[test]
fn drawer_opens_for_cash_and_for_an_approved_no_sale_only() {
    let config = config();
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(PaperWidth::Mm80, &dir.path().join("png"));
    let mut store = open_store(&dir.path().join("till.db"), &config);
    let pc = tcp_config(sim.addr, PaperWidth::Mm80, Lang::En);
    let cash = ring_cash(&mut store, &config, T0).record;
    let card = ring_card(&mut store, &config, T0 + 1).record;
    let pulse = pc.drawer_pulse();
    let mut p = pc.open().unwrap().unwrap();
    assert!(open_drawer_for_sale(&mut p, &cash, pulse).unwrap());
    assert!(!open_drawer_for_sale(&mut p, &card, pulse).unwrap());
    assert!(!open_drawer_for_sale(&mut p, &cash, None).unwrap());

    // A no-sale needs a supervisor's approval of a no-sale; then it is on record.
    let wrong = supervisor(Action::Refund, Target::Till);
    let e = no_sale(&mut store, &mut p, pulse, 1001, &wrong, "change", T0 + 2).unwrap_err();
    assert!(matches!(e, NoSaleError::Store(_)), "{e}");
    let e = no_sale(
        &mut store,
        &mut p,
        None,
        1001,
        &supervisor(Action::NoSale, Target::Till),
        "x",
        T0 + 2,
    )
    .unwrap_err();
    assert!(matches!(e, NoSaleError::NoDrawer));
    no_sale(
        &mut store,
        &mut p,
        pulse,
        1001,
        &supervisor(Action::NoSale, Target::Till),
        "change for the float",
        T0 + 3,
    )
    .unwrap();
    drop(p);
    let deadline = Instant::now() + Duration::from_secs(5);
    while sim.control.stats().drawer_pulses < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(sim.control.stats().drawer_pulses, 2);
    assert_eq!(store.x_report(T0 + 4).unwrap().totals.no_sales, 1);
}

#[test]
fn self_check_reports_the_printer() {
    let dir = tempfile::tempdir().unwrap();
    let none = PrinterConfig::default();
    assert!(check_printer_ok(&none));
    let sim = start_sim(PaperWidth::Mm58, &dir.path().join("png"));
    let pc = tcp_config(sim.addr, PaperWidth::Mm58, Lang::En);
    assert!(check_printer_ok(&pc));
    sim.control.set_cover_open(true);
    let mut table = toml::Table::new();
    table.insert("printer".into(), toml::Value::try_from(&pc).unwrap());
    let (config, _) = tillpoint_config::Config::parse(&toml::to_string(&table).unwrap()).unwrap();
    let line = tillpoint_app::check::printer_check(&config);
    assert!(!line.ok);
    assert_eq!(line.id, "printer");
    assert!(line.detail.contains("cover open"), "{line:?}");
    assert!(line.action.contains("cover is open"), "{line:?}");
    let file = PrinterConfig {
        transport: TransportKind::File,
        path: dir.path().join("out.bin").display().to_string(),
        ..PrinterConfig::default()
    };
    assert!(check_printer_ok(&file));
}

#[test]
fn printer_sim_command_serves_status_and_check_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_port();
    let mut child = common::bin()
        .args([
            "printer-sim",
            "--listen",
            &addr.to_string(),
            "--paper",
            "58",
            "--paper-out",
        ])
        .arg("--out")
        .arg(dir.path().join("png"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(
        first.contains("58 mm") && first.contains("(paper out)"),
        "{first}"
    );
    // The emulator may still be binding: retry the check briefly.
    let cfg = dir.path().join("tillpoint.toml");
    std::fs::write(
        &cfg,
        format!("[printer]\ntransport = \"tcp\"\naddress = \"{addr}\"\npaper = 58\n"),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let stdout = loop {
        let o = common::bin()
            .arg("check")
            .arg("--config")
            .arg(&cfg)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("TILLPOINT_LOG", "error")
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&o.stdout).to_string();
        if s.contains("paper out") || Instant::now() > deadline {
            assert!(
                !o.status.success(),
                "a printer without paper fails the check"
            );
            break s;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    let line = stdout
        .lines()
        .find(|l| l.contains("printer"))
        .unwrap_or_default()
        .to_string();
    assert!(line.starts_with("FAIL printer"), "{stdout}");
    assert!(
        line.contains("paper out") && line.contains("load a new roll"),
        "{line}"
    );
}

#[test]
fn logo_and_signature_slip_render() {
    let config = config();
    let dir = tempfile::tempdir().unwrap();
    // A PNG logo as a shop would configure it: a dark ring on a transparent background.
    let logo = dir.path().join("logo.png");
    image::RgbaImage::from_fn(240, 120, |x, y| {
        let (dx, dy) = (x as i32 - 120, y as i32 - 60);
        let r2 = dx * dx + dy * dy;
        if (40 * 40..=55 * 55).contains(&r2) || (dy.abs() < 6 && dx.abs() < 100) {
            image::Rgba([20, 20, 20, 255])
        } else {
            image::Rgba([0, 0, 0, 0])
        }
    })
    .save(&logo)
    .unwrap();
    let sim = start_sim(PaperWidth::Mm58, &dir.path().join("png"));
    let pc = PrinterConfig {
        logo: logo.display().to_string(),
        ..tcp_config(sim.addr, PaperWidth::Mm58, Lang::En)
    };
    let mut w = Vec::new();
    let settings = pc.receipt_settings(&config, OFFSET, &mut w);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(settings.layout.logo.as_ref().map(|l| l.width()), Some(240));

    let mut store = open_store(&dir.path().join("till.db"), &config);
    let rules = &config.pricing;
    let mut s = tillpoint_core::sale::Sale::new(rules.currency, 1001);
    s.add(
        &product(
            "00046",
            "芒果干 Dried Mango",
            2210,
            "A",
            tillpoint_core::catalog::Unit::Piece,
        ),
        tillpoint_core::catalog::Qty::ONE,
    )
    .unwrap();
    let card = tillpoint_core::tender::CardRef {
        cvm: "signature".into(),
        entry_mode: "contactless".into(),
        ..printer_fixtures::card()
    };
    let due = s.balance(rules).unwrap();
    s.pay_electronic(tillpoint_core::tender::TenderKind::Card, due, card, rules)
        .unwrap();
    store.complete_sale(&s, rules, T0, 20, &[]).unwrap();
    let r = drain_configured(&mut store, &pc, &I18n::load(), &settings, T0 + 1).unwrap();
    assert_eq!(r.copies_printed, 2);
    let pngs = receipts(&sim, 2);
    assert_eq!(pngs.len(), 2);
    let out = target_dir().join("receipts");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::copy(&pngs[0], out.join("en-58mm-signature-logo-merchant.png")).unwrap();
    std::fs::copy(&pngs[1], out.join("en-58mm-signature-logo-customer.png")).unwrap();

    let fonts = Fonts::discover(None).unwrap();
    let record = store.sale_by_receipt("T01-000001").unwrap();
    for (copy, path, signature) in [
        (Copy::Merchant, &pngs[0], true),
        (Copy::Customer, &pngs[1], false),
    ] {
        let d = doc(&record, copy, false, &settings);
        let r = &render_stream(&bytes(&d), Paper::Mm58, &fonts).unwrap()[0];
        assert_eq!(png(path).as_raw(), r.image.as_raw());
        let logo = r.placed.iter().find(|p| p.what == "raster").unwrap();
        assert_eq!((logo.width, logo.height), (240, 120));
        assert_eq!(logo.x - SIDE_MARGIN, (384 - 240) / 2, "logo centred");
        assert!(r.placed[0].what == "raster", "logo first");
        let has_line = r.placed.iter().any(|p| p.what.starts_with("X____"));
        assert_eq!(has_line, signature, "{copy:?}");
    }
}

//! The real network path: EscPosPrinter over TCP to the printer emulator on loopback.
//! PNGs land under target/tmp/printer-receipts/ (CARGO_TARGET_TMPDIR) for a human to look at.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod printer_samples;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use printer_samples::{receipt, Lang, Sale};
use tillpoint_devices::printer::doc::{DrawerPulse, PaperWidth, PrintDocument, TextStyle};
use tillpoint_devices::printer::encode::{encode, EncodeOptions};
use tillpoint_devices::printer::transport::{NetworkTransport, Timeouts, TransportError};
use tillpoint_devices::printer::{EscPosPrinter, PrinterError, ReceiptPrinter};
use tillpoint_sim::printer::{render_stream, Fonts, Paper, PrinterSim, SimHandle, SimState};

fn out_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("printer-receipts")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn start(paper: Paper, dir: &std::path::Path) -> SimHandle {
    let state = SimState::new(paper, None).unwrap();
    PrinterSim::bind("127.0.0.1:0".parse().unwrap(), dir, state)
        .unwrap()
        .spawn()
        .unwrap()
}

fn printer(addr: SocketAddr) -> EscPosPrinter<NetworkTransport> {
    let t = NetworkTransport::connect(addr, Timeouts::default()).unwrap();
    EscPosPrinter::new(t, EncodeOptions::default(), Duration::from_secs(2))
}

/// Waits for the emulator to finish writing `n` receipts (it renders after the socket closes).
fn wait_receipts(sim: &SimHandle, n: usize) -> Vec<PathBuf> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = sim.control.stats();
        if s.receipts.len() >= n || Instant::now() > deadline {
            assert!(s.errors.is_empty(), "{:?}", s.errors);
            return s.receipts;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn cash_and_card_receipts_print_through_the_emulator_in_both_languages_and_widths() {
    for (width, paper, tag) in [
        (PaperWidth::Mm58, Paper::Mm58, "58mm"),
        (PaperWidth::Mm80, Paper::Mm80, "80mm"),
    ] {
        let dir = out_dir(tag);
        let sim = start(paper, &dir);
        let mut n = 0;
        for lang in [Lang::En, Lang::Zh] {
            for sale in [Sale::Cash, Sale::Card] {
                let doc = receipt(sale, lang, width);
                let mut p = printer(sim.addr);
                let report = p.print(&doc).unwrap();
                assert!(report.replaced.is_empty());
                assert!(report.status_after.unwrap().can_print());
                drop(p);
                n += 1;
                let receipts = wait_receipts(&sim, n);
                assert_eq!(receipts.len(), n);
                let path = receipts.last().unwrap();
                let named = dir.join(format!("{tag}-{lang:?}-{sale:?}.png").to_lowercase());
                std::fs::copy(path, &named).unwrap();
                let img = image::open(&named).unwrap().to_luma8();
                assert_eq!(img.width(), paper.dots() + 16);
                assert!(img.height() > 600, "{}", img.height());

                // Same bytes, rendered in-process: text fits and nothing is a placeholder.
                let fonts = Fonts::discover(None).unwrap();
                let bytes = encode(&doc, &EncodeOptions::default()).unwrap().bytes;
                let rendered = render_stream(&bytes, paper, &fonts).unwrap();
                assert_eq!(rendered.len(), 1);
                assert_eq!(rendered[0].overflow_lines, 0, "{tag} {lang:?} {sale:?}");
                assert!(
                    rendered[0].warnings.is_empty(),
                    "{:?}",
                    rendered[0].warnings
                );
                assert_eq!(
                    rendered[0].image.as_raw(),
                    img.as_raw(),
                    "PNG differs from render"
                );
            }
        }
        let stats = sim.control.stats();
        assert_eq!(stats.drawer_pulses, 2, "one per cash sale");
        assert_eq!(stats.status_queries, 4 * 2 * 4, "before and after each job");
    }
}

#[test]
fn paper_out_is_reported_over_tcp_and_nothing_prints_until_paper_is_back() {
    let dir = out_dir("paper-out");
    let sim = start(Paper::Mm58, &dir);
    let mut doc = PrintDocument::new(PaperWidth::Mm58);
    doc.text("queued job", TextStyle::plain())
        .push(tillpoint_devices::printer::doc::Block::Cut { partial: false });

    sim.control.set_paper_out(true);
    let mut p = printer(sim.addr);
    let st = p.status().unwrap();
    assert!(st.paper_out && !st.online && !st.can_print());
    let e = p.print(&doc).unwrap_err();
    assert!(matches!(e, PrinterError::NotReady(s) if s.paper_out), "{e}");
    assert_eq!(e.to_string(), "printer not ready: paper out");

    sim.control.set_paper_out(false);
    sim.control.set_cover_open(true);
    let e = p.print(&doc).unwrap_err();
    assert_eq!(e.to_string(), "printer not ready: cover open");

    sim.control.set_cover_open(false);
    sim.control.set_paper_near_end(true);
    let r = p.print(&doc).unwrap();
    assert!(r.status_after.unwrap().paper_near_end);
    drop(p);
    let receipts = wait_receipts(&sim, 1);
    assert_eq!(
        receipts.len(),
        1,
        "printed exactly once after paper came back"
    );
    assert_eq!(sim.control.stats().discarded_items, 0);
}

#[test]
fn paper_running_out_mid_receipt_is_an_interruption_and_the_reprint_comes_out_once() {
    let dir = out_dir("interrupted");
    let sim = start(Paper::Mm58, &dir);
    let doc = receipt(Sale::Cash, Lang::En, PaperWidth::Mm58);
    let mut p = printer(sim.addr);
    // The roll ends after ten printed items, i.e. in the middle of the receipt.
    sim.control.set_paper_out_after(10);
    let e = p.print(&doc).unwrap_err();
    assert!(
        matches!(e, PrinterError::Interrupted(s) if s.paper_out),
        "{e}"
    );
    assert_eq!(e.to_string(), "printing stopped: paper out");
    // The queue keeps the job; the next attempt is refused while paper is out.
    assert!(matches!(p.print(&doc), Err(PrinterError::NotReady(_))));
    // Paper loaded: the job prints, once.
    sim.control.set_paper_out(false);
    p.print(&doc).unwrap();
    drop(p);
    let receipts = wait_receipts(&sim, 1);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(sim.control.stats().receipts, receipts);
    assert_eq!(receipts.len(), 1);
    assert!(sim.control.stats().discarded_items > 0);
}

#[test]
fn control_file_switches_faults() {
    let dir = out_dir("control-file");
    let control = dir.join("control");
    let mut state = SimState::new(Paper::Mm80, None).unwrap();
    state.control_file = Some(control.clone());
    let sim = PrinterSim::bind("127.0.0.1:0".parse().unwrap(), &dir, state)
        .unwrap()
        .spawn()
        .unwrap();
    let mut p = printer(sim.addr);
    assert!(p.status().unwrap().can_print());
    std::fs::write(&control, "cover-open\n").unwrap();
    let st = p.status().unwrap();
    assert!(st.cover_open && !st.can_print());
    std::fs::write(&control, "ok\n").unwrap();
    assert!(p.status().unwrap().can_print());
    p.open_drawer(DrawerPulse::default()).unwrap();
    drop(p);
    let deadline = Instant::now() + Duration::from_secs(5);
    while sim.control.stats().drawer_pulses == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(sim.control.stats().drawer_pulses, 1);
}

#[test]
fn unreachable_printer_gives_a_clear_error_quickly() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let start = Instant::now();
    let e = NetworkTransport::connect(addr, Timeouts::default())
        .err()
        .unwrap();
    assert!(start.elapsed() < Duration::from_secs(4));
    assert!(matches!(e, TransportError::Unreachable { .. }));
    let msg = PrinterError::from(e).to_string();
    assert!(
        msg.starts_with(&format!("printer at 127.0.0.1:{port} is unreachable")),
        "{msg}"
    );
}

#[test]
fn silent_peer_status_read_times_out() {
    // Something listens on the port but never answers (wrong device, hung printer).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let keep = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(800));
        drop(s);
    });
    let t = NetworkTransport::connect(addr, Timeouts::default()).unwrap();
    let mut p = EscPosPrinter::new(t, EncodeOptions::default(), Duration::from_millis(300));
    let start = Instant::now();
    let e = p.status().unwrap_err();
    assert!(start.elapsed() < Duration::from_millis(700));
    assert!(e.to_string().contains("did not answer within 300ms"), "{e}");
    keep.join().unwrap();
}

#[test]
fn garbage_to_the_emulator_is_reported_not_fatal() {
    use std::io::Write;
    let dir = out_dir("garbage");
    let sim = start(Paper::Mm58, &dir);
    let mut s = std::net::TcpStream::connect(sim.addr).unwrap();
    s.write_all(b"ok line\n\x1b\x7fjunk").unwrap();
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(5);
    while sim.control.stats().errors.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = sim.control.stats();
    assert_eq!(stats.errors.len(), 1);
    assert!(
        stats.errors[0].contains("unknown command 1B 7F"),
        "{:?}",
        stats.errors
    );
    // What came before the garbage was still printed, and the emulator still serves.
    assert_eq!(stats.receipts.len(), 1);
    let mut p = printer(sim.addr);
    assert!(p.status().unwrap().can_print());
}

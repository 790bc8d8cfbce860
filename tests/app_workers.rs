//! The application layer's workers: a printer that takes a job and never
//! answers, and an acquirer that takes the Z report's settlement request
//! and never answers, hold only their own locks. Meanwhile the cashier's
//! barcode lookups, name searches and cash sales complete on the same till.
//! Both peers are real TCP listeners on loopback that the test holds still
//! (no delay setting, no timer), and releases at the end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use tillpoint_app::service::{ReportView, Service, SettlementOutcomeRow};
use tillpoint_app::till::{Paths, Till};
use tillpoint_core::cashier::{Action, Target};
use tillpoint_core::catalog::Qty;
use tillpoint_core::money::Money;
use tillpoint_core::sale::Sale;

/// A cash sale of one demo product, found through the service like the
/// window finds it.
fn cash_sale(service: &Service, code: &str) -> Sale {
    let hit = service
        .resolve(code)
        .unwrap()
        .unwrap_or_else(|| panic!("{code} not found"));
    let rules = service.with_till(|t| t.config.pricing.clone());
    let mut sale = Sale::new(rules.currency, 1001);
    sale.add(&hit.product, Qty::ONE).unwrap();
    let due = sale.cash_due(&rules).unwrap();
    sale.pay_cash(Money::new(due.minor + 1000, rules.currency), &rules)
        .unwrap();
    sale
}

#[test]
fn lookups_and_cash_sales_go_on_while_printer_and_acquirer_hang() {
    let dir = tempfile::tempdir().unwrap();
    let printer = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let shop = tillpoint_app::demo_shop::CONFIG_TOML
        .split("# The demo's acquirer")
        .next()
        .unwrap();
    let config = format!(
        "{shop}
[printer]
transport = \"tcp\"
address = \"{}\"
status_timeout_ms = 120000
write_timeout_ms = 120000

[acquirer]
host = \"{}\"
tid = \"TILL0001\"
mid = \"SHOP00000000001\"
read_timeout_ms = 300000
settle_on_z = true
",
        printer.local_addr().unwrap(),
        host.local_addr().unwrap()
    );
    let cfg = dir.path().join("tillpoint.toml");
    std::fs::write(&cfg, config).unwrap();
    let mut till = Till::open(Paths {
        config_file: cfg,
        data_dir: dir.path().to_path_buf(),
    })
    .unwrap();
    let classes = till.config.tax_classes();
    tillpoint_app::demo_shop::seed(&mut till.store, &classes).unwrap();
    let service = Service::new(till);

    // A sale whose receipt waits in the print queue.
    let first = cash_sale(&service, "6930181590837");
    service.complete(&first).unwrap();

    // The printer takes the connection and then says nothing.
    let print_job = {
        let s = service.clone();
        std::thread::spawn(move || s.print(None))
    };
    let (held_printer, _) = printer.accept().unwrap();

    // The Z report's settlement reaches the host, which says nothing.
    let z_job = {
        let s = service.clone();
        let approval = common::supervisor(Action::ZReport, Target::Till);
        std::thread::spawn(move || s.report(Some(&approval)))
    };
    let (mut held_host, _) = host.accept().unwrap();
    let mut prefix = [0u8; 2];
    held_host.read_exact(&mut prefix).unwrap();
    assert!(u16::from_be_bytes(prefix) > 0, "a request is on its way");

    // Meanwhile, at the counter.
    let (tx, rx) = mpsc::channel();
    {
        let s = service.clone();
        std::thread::spawn(move || {
            for _ in 0..3 {
                let lookup = s.resolve("00010");
                let search = s.search("milk");
                let sale = cash_sale(&s, "6930181590837");
                let done = s.complete(&sale);
                let _ = tx.send((lookup, search, done));
            }
        });
    }
    for round in 0..3 {
        let (lookup, search, done) =
            rx.recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| {
                    panic!("round {round}: the counter waited for the printer or the acquirer")
                });
        assert!(matches!(lookup, Ok(Some(_))), "{lookup:?}");
        assert!(search.is_ok_and(|f| !f.is_empty()));
        assert!(done.is_ok(), "{done:?}");
    }
    assert!(
        !print_job.is_finished(),
        "the printer job should still hang"
    );
    assert!(!z_job.is_finished(), "the settlement should still hang");

    // Released, both finish: the receipts still wait, the Z is taken and
    // its settlement is recorded as not done.
    drop(held_printer);
    drop(printer);
    drop(held_host);
    drop(host);
    if let Ok(p) = print_job.join().unwrap() {
        assert!(p.left >= 1, "{p:?}");
    }
    match z_job.join().unwrap() {
        // The Z closed the day before the counter's three sales.
        // Its settlement is recorded as failed (the host never answered).
        Ok(ReportView {
            report,
            card,
            problem,
        }) => {
            assert_eq!(report.z_number, Some(1));
            assert_eq!(report.totals.sales.count, 1, "{report:?}");
            assert!(problem.is_none(), "{problem:?}");
            let last = card.and_then(|c| c.settlement).and_then(|s| s.last);
            assert_eq!(last.map(|l| l.outcome), Some(SettlementOutcomeRow::Failed));
        }
        Err(e) => panic!("{e}"),
    }
    let x = service.report(None).unwrap().report;
    assert_eq!(
        x.totals.sales.count, 3,
        "the new day holds the counter's sales"
    );
    let sales = service.with_till(|t| t.store.sales_between(0, i64::MAX).unwrap().len());
    assert_eq!(sales, 4);
}

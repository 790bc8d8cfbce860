//! `tillpoint-harness qr-till`: QR sales through the gateway in `[qr]`, one
//! direction after the other (a code scanned from the customer's phone, a
//! code shown for the customer to scan), each completed as the sale screen
//! completes it. It says each step on stdout the moment it is done, so the
//! kill test can stop it anywhere (the order written, the money taken but
//! the sale not yet recorded, the sale recorded) and check that the next
//! start leaves no order one-sided.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use tillpoint_app::service::Service;
use tillpoint_app::till::Till;
use tillpoint_core::catalog::Qty;
use tillpoint_core::sale::Sale;
use tillpoint_core::tender::TenderKind;

/// An Alipay payment code (25–30 first), as a phone shows it.
const PHONE_CODE: &str = "284500001234567890";

/// What the loop does: `count` sales, holding each paid one for `hold`
/// before it is completed (the time a cashier's screen takes to record
/// it, stretched so a kill can land there).
pub struct QrLoop {
    pub count: u64,
    pub hold: Duration,
    /// With no sales to ring: how long to wait for the worker to settle
    /// every order an earlier run left open.
    pub settle: Duration,
}

pub fn qr_till(mut till: Till, l: &QrLoop) -> anyhow::Result<ExitCode> {
    let classes = till.config.tax_classes();
    tillpoint_app::demo_shop::seed(&mut till.store, &classes)?;
    let s = Service::new(till);
    if !s.has_qr_gateway() {
        bail!("[qr] names no gateway");
    }
    let mut out = std::io::stdout().lock();
    let mut say = |line: String| -> anyhow::Result<()> {
        writeln!(out, "{line}")?;
        Ok(out.flush()?)
    };
    if l.count == 0 {
        return settle(&s, l.settle, &mut say);
    }
    let rules = s.with_till(|t| t.config.pricing.clone());
    for i in 0..l.count {
        let hit = s
            .resolve("6930181590837")
            .map_err(|r| anyhow!("{r}"))?
            .ok_or_else(|| anyhow!("demo product missing"))?;
        let mut sale = Sale::new(rules.currency, 1001);
        sale.add(&hit.product, Qty::pieces(1 + (i % 3) as i64))?;
        let due = sale.balance(&rules)?;
        let paid = if i % 2 == 0 {
            s.pay(TenderKind::Qr, due, PHONE_CODE, &mut |_| {})
        } else {
            let shown = s.show_qr(due).map_err(|r| anyhow!("{r:?}"))?;
            say(format!("shown {}", shown.order))?;
            s.wait_qr(&shown)
        };
        let card = match paid {
            Ok(c) => c,
            Err(r) => {
                say(format!("refused {r:?}"))?;
                continue;
            }
        };
        say(format!("paid {} {}", card.order_id, due.minor))?;
        std::thread::sleep(l.hold);
        let order = card.order_id.clone();
        sale.pay_electronic(TenderKind::Qr, due, card, &rules)?;
        let done = s.complete(&sale).map_err(|r| anyhow!("{r:?}"))?;
        say(format!("recorded {order} {}", done.receipt_no))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Waits for the QR worker's start-up recovery to leave no order open.
fn settle(
    s: &Service,
    within: Duration,
    say: &mut impl FnMut(String) -> anyhow::Result<()>,
) -> anyhow::Result<ExitCode> {
    let until = Instant::now() + within;
    loop {
        let open = s.with_till(|t| t.store.unfinished_qr_orders())?;
        if open.is_empty() {
            say("settled".into())?;
            return Ok(ExitCode::SUCCESS);
        }
        if Instant::now() > until {
            for o in open {
                say(format!("open {}", o.out_trade_no))?;
            }
            return Ok(ExitCode::from(1));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

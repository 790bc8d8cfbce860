//! `tillpoint-harness sell-loop`: completes cash sales of the demo shop in
//! a loop and prints each receipt number once its commit has returned, so
//! the crash test can kill it anywhere and check that every printed sale
//! is on disk exactly once.

use std::io::Write;
use std::process::ExitCode;

use anyhow::anyhow;
use tillpoint_app::till::Till;

pub fn sell_loop(till: &mut Till, count: u64) -> anyhow::Result<ExitCode> {
    let classes = till.config.tax_classes();
    tillpoint_app::demo_shop::seed(&mut till.store, &classes)?;
    let rules = till.config.pricing.clone();
    let cur = rules.currency;
    let skus = ["00001", "00003", "00010", "00020", "00040"];
    let mut out = std::io::stdout().lock();
    for i in 0..count {
        let mut sale = tillpoint_core::sale::Sale::new(cur, 1001);
        for (k, sku) in skus.iter().enumerate().take(1 + (i as usize % skus.len())) {
            let p = till
                .store
                .product_by_sku(sku)?
                .ok_or_else(|| anyhow!("demo product {sku} missing"))?;
            sale.add(&p, tillpoint_core::catalog::Qty::pieces(1 + k as i64))?;
        }
        let due = sale.cash_due(&rules)?;
        sale.pay_cash(
            tillpoint_core::money::Money::new(due.minor + 1000, cur),
            &rules,
        )?;
        let now = till.clock.now_ms();
        let done = till
            .store
            .complete_sale(&sale, &rules, now, till.clock.local_hour(now), &[])?;
        writeln!(out, "completed {}", done.record.receipt_no)?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

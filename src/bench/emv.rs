//! EMV kernel figure: a whole transaction with the in-memory virtual card,
//! against replaying the same card's bare APDU exchange (the kernel's own cost).

use super::Figure;

pub fn run(size: super::Size, progress: &dyn Fn(&str)) -> anyhow::Result<Figure> {
    progress("EMV kernel with the in-memory card");
    let n = if size.products >= 1_000_000 {
        2_000
    } else {
        300
    };
    let r =
        tillpoint_sim::card::bench_kernel(n).map_err(|e| anyhow::anyhow!("kernel bench: {e}"))?;
    let kernel = r.kernel_per_txn.as_secs_f64() * 1000.0;
    let bare = r.apdu_only_per_txn.as_secs_f64() * 1000.0;
    Ok(Figure {
        name: format!("emv_kernel_per_transaction_{}_apdus", r.apdus_per_txn),
        unit: "ms".into(),
        // The kernel bench reports means: p50 and p99 are both the mean.
        p50: kernel,
        p99: kernel,
        baseline: Some(bare),
        ratio: (bare > 0.0).then(|| kernel / bare),
        goal: "for the record (kernel cost = p50 - baseline)".into(),
        met: None,
    })
}

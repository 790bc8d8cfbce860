//! EMV kernel figures: a whole transaction and a tap with the in-memory
//! virtual card, against replaying the same card's bare APDU exchange (the
//! kernel's own cost).

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

/// The till's own time per tap: from SELECT PPSE to the card's outcome
/// with the in-memory card (no pcscd), against the 500 ms a tap may take
/// and the bare replay of the same APDUs.
pub fn tap(size: super::Size, progress: &dyn Fn(&str)) -> anyhow::Result<Figure> {
    progress("contactless tap with the in-memory card");
    let n = if size.products >= 1_000_000 {
        2_000
    } else {
        300
    };
    let r = tillpoint_sim::card::bench_tap(n).map_err(|e| anyhow::anyhow!("tap bench: {e}"))?;
    let tap = r.kernel_per_txn.as_secs_f64() * 1000.0;
    let bare = r.apdu_only_per_txn.as_secs_f64() * 1000.0;
    Ok(Figure {
        name: format!("emv_tap_per_transaction_{}_apdus", r.apdus_per_txn),
        unit: "ms".into(),
        // Means, as for the contact kernel.
        p50: tap,
        p99: tap,
        baseline: Some(bare),
        ratio: (bare > 0.0).then(|| tap / bare),
        goal: format!("p50 <= {TAP_BUDGET_MS} ms (a tap's budget, card APDUs included)"),
        met: Some(tap <= TAP_BUDGET_MS),
    })
}

/// How long a customer may be asked to hold a card to the reader.
const TAP_BUDGET_MS: f64 = 500.0;

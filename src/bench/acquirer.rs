//! Acquirer link benchmark: forwarding 10,000 queued offline advices from
//! the till's SQLite outbox to the host simulator on loopback, against a
//! bare request/response loop over the same connection.
//!
//! The goal is rate-based (forwarding at least the bare loop's rate:
//! pipelining and batching the acknowledgements must beat one request at a
//! time); the figure keeps the fields of the others (time per operation), so
//! p50 is milliseconds per advice (per pipelined window of 32, divided by
//! its advices), the baseline milliseconds per bare round trip, and the goal
//! reads "ratio <= 1".

use super::{figure, Figure, Samples};
use tillpoint_sim::acquirer::{bench_forwarding, SimError};

/// Advices forwarded in the benchmark.
pub const ADVICES: usize = 10_000;

/// Runs the forwarding benchmark.
pub fn forwarding(progress: &dyn Fn(&str)) -> Result<Figure, SimError> {
    progress("forwarding queued advices to the acquirer simulator");
    let b = bench_forwarding(ADVICES)?;
    let forward = Samples(b.forward_samples.clone());
    let bare = Samples(b.bare_samples.clone());
    progress(&format!(
        "forwarded {} advices at {:.0}/s; bare loop {:.0}/s (rate ratio {:.2})",
        b.advices, b.forward_per_sec, b.bare_per_sec, b.ratio
    ));
    Ok(figure(
        &format!("forwarding_{ADVICES}_advices"),
        &forward,
        Some(&bare),
        "ratio <= 1 (rate >= 1.0x)",
        |_, _, r| r.is_some_and(|r| r <= 1.0),
    ))
}

/// `figures` with the forwarding figure appended (the bench command's one
/// line for this benchmark).
pub fn with_forwarding(
    mut figures: Vec<Figure>,
    progress: &dyn Fn(&str),
) -> Result<Vec<Figure>, SimError> {
    figures.push(forwarding(progress)?);
    Ok(figures)
}

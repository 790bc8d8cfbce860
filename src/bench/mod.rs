//! `tillpoint bench`: repeatable measurements, each with a baseline measured
//! in the same run on the same machine, so the ratio means something on a
//! busy 2-core till as well as on a workstation.

pub mod acquirer;
pub mod emv;
pub mod gui;
pub mod store;

use serde::Serialize;
use std::time::{Duration, Instant};

/// One measured figure, in the shape `--json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub unit: String,
    pub p50: f64,
    pub p99: f64,
    /// The baseline's p50, when the figure has one.
    pub baseline: Option<f64>,
    /// p50 / baseline.
    pub ratio: Option<f64>,
    /// The goal, as text (e.g. "ratio <= 1.5", "p99 <= 1 ms").
    pub goal: String,
    /// Whether the goal was met, when it can be judged mechanically.
    pub met: Option<bool>,
}

/// How big a run is.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub products: usize,
    pub sales: usize,
    pub commits: usize,
    pub lookups: usize,
    pub searches: usize,
}

impl Size {
    pub fn full() -> Size {
        Size {
            products: 1_000_000,
            sales: 1_000_000,
            commits: 300,
            lookups: 20_000,
            searches: 2_000,
        }
    }

    /// Finishes in well under a minute on a 2-core machine.
    pub fn quick() -> Size {
        Size {
            products: 100_000,
            sales: 50_000,
            commits: 100,
            lookups: 5_000,
            searches: 500,
        }
    }
}

/// Collected samples of one measured operation.
#[derive(Debug, Default, Clone)]
pub struct Samples(pub Vec<Duration>);

impl Samples {
    pub fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let out = f();
        self.0.push(t.elapsed());
        out
    }

    /// The q-quantile (0..=1) in milliseconds, nearest rank.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let mut v = self.0.clone();
        v.sort();
        let idx = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v[idx].as_secs_f64() * 1000.0
    }
}

/// Builds a figure in milliseconds from samples and an optional baseline.
pub fn figure(
    name: &str,
    s: &Samples,
    base: Option<&Samples>,
    goal: &str,
    met: impl Fn(f64, f64, Option<f64>) -> bool,
) -> Figure {
    let p50 = s.quantile_ms(0.5);
    let p99 = s.quantile_ms(0.99);
    let baseline = base.map(|b| b.quantile_ms(0.5));
    let ratio = baseline.filter(|b| *b > 0.0).map(|b| p50 / b);
    Figure {
        name: name.into(),
        unit: "ms".into(),
        p50,
        p99,
        baseline,
        ratio,
        goal: goal.into(),
        met: Some(met(p50, p99, ratio)),
    }
}

/// Renders figures as a table for people.
pub fn table(figures: &[Figure]) -> String {
    let mut s = format!(
        "{:<28} {:>10} {:>10} {:>10} {:>7}  {:<22} {}\n",
        "figure", "p50", "p99", "baseline", "ratio", "goal", "met"
    );
    for f in figures {
        let opt =
            |v: Option<f64>, w: usize| v.map_or(format!("{:>w$}", "-"), |x| format!("{x:>w$.3}"));
        s.push_str(&format!(
            "{:<28} {:>10.3} {:>10.3} {} {}  {:<22} {}\n",
            format!("{} ({})", f.name, f.unit),
            f.p50,
            f.p99,
            opt(f.baseline, 10),
            opt(f.ratio, 7),
            f.goal,
            match f.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            }
        ));
    }
    s
}

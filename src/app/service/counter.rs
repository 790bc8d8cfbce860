//! The counter's serial devices as the till's use cases see them: the
//! weighing scale read live for the weigh screen, and the pole display
//! showing the customer's view. Each device has its own lock or thread, so
//! a slow or unplugged device never holds up a lookup or a sale.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

use super::{lock, Service};
use crate::check::CheckLine;
use crate::customer::CustomerView;
use tillpoint_devices::pole::{PoleConfig, PoleDisplay};
use tillpoint_devices::scale::{Ask, ScaleConfig, ScaleError, SerialScale};
use tillpoint_sim::pole::PoleSim;
use tillpoint_sim::scale::{Pan, ScaleSim};

/// The counter devices a service holds.
#[derive(Default, Clone)]
pub(super) struct Counter {
    scale: Option<Arc<Mutex<SerialScale>>>,
    /// The demo's scale emulator, kept running while the window is open.
    demo_scale: Option<Arc<ScaleSim>>,
    pole: Option<Pole>,
    demo_pole: Option<Arc<PoleSim>>,
}

/// The pole display's worker: views go to it in order, and it shows the
/// newest (a burst of scans is not replayed line by line on a slow port).
#[derive(Clone)]
struct Pole {
    views: Sender<CustomerView>,
    port: String,
    /// Why the last write failed; `None` after a good one.
    problem: Arc<Mutex<Option<String>>>,
}

impl Pole {
    fn start(config: PoleConfig) -> Pole {
        let (views, rx) = mpsc::channel();
        let port = config.port.clone();
        let problem = Arc::new(Mutex::new(None));
        let p = problem.clone();
        let started = std::thread::Builder::new()
            .name("pole-display".into())
            .spawn(move || show_views(PoleDisplay::new(config), &rx, &p));
        if let Err(e) = started {
            *lock(&problem) = Some(format!("the pole display's worker did not start: {e}"));
        }
        Pole {
            views,
            port,
            problem,
        }
    }
}

fn show_views(
    mut display: PoleDisplay,
    views: &Receiver<CustomerView>,
    problem: &Mutex<Option<String>>,
) {
    while let Ok(mut view) = views.recv() {
        while let Ok(newer) = views.try_recv() {
            view = newer;
        }
        let shown = display.show(&view.pole_frame());
        if let Err(e) = &shown {
            tracing::warn!("{e}");
        }
        *lock(problem) = shown.err();
    }
}

impl Counter {
    /// The devices named in the till's config.
    pub(super) fn from_config(config: &tillpoint_config::Config) -> Counter {
        let mut warnings = Vec::new();
        let scale = ScaleConfig::from_till_config(config, &mut warnings);
        for w in warnings {
            tracing::warn!("{w}");
        }
        let pole = PoleConfig::from_till_config(config, &mut Vec::new());
        Counter {
            scale: scale
                .is_configured()
                .then(|| Arc::new(Mutex::new(SerialScale::new(scale)))),
            demo_scale: None,
            pole: pole.is_configured().then(|| Pole::start(pole)),
            demo_pole: None,
        }
    }
}

/// A weight the scale gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weight {
    pub grams: i64,
    /// At rest: only a stable weight is sold by.
    pub stable: bool,
}

/// Why the scale gave no weight to sell by: a message id for the window
/// and the English detail for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeighRefusal {
    pub id: &'static str,
    pub detail: String,
}

impl From<ScaleError> for WeighRefusal {
    fn from(e: ScaleError) -> Self {
        let id = match e {
            ScaleError::Overload => "scale-overload",
            ScaleError::Underload => "scale-underload",
            ScaleError::NotStable => "scale-not-stable",
            _ => "scale-failed",
        };
        WeighRefusal {
            id,
            detail: e.to_string(),
        }
    }
}

impl Service {
    /// Runs the demo's scale emulator on a pseudo-terminal and reads it,
    /// as a shop's scale on its serial port.
    pub fn with_demo_scale(mut self) -> Service {
        match ScaleSim::start(Pan::Stable(0)) {
            Ok(sim) => {
                let config = ScaleConfig {
                    port: sim.path.display().to_string(),
                    ..ScaleConfig::default()
                };
                self.counter.scale = Some(Arc::new(Mutex::new(SerialScale::new(config))));
                self.counter.demo_scale = Some(Arc::new(sim));
            }
            Err(e) => tracing::warn!("the demo scale did not start ({e}); weights are typed"),
        }
        self
    }

    /// The self-check's lines for the counter devices: the scale must
    /// answer a weight request (any answer of the protocol will do; an
    /// overloaded scale is still a scale).
    pub(super) fn counter_checks(&self) -> Vec<CheckLine> {
        let mut out = Vec::new();
        if let Some(pole) = &self.counter.pole {
            out.push(match lock(&pole.problem).clone() {
                None => CheckLine::pass("display", format!("pole display on {}", pole.port)),
                Some(e) => CheckLine::fail(
                    "display",
                    e,
                    "check the pole display's cable, or [display] port in the config",
                ),
            });
        }
        let Some(scale) = &self.counter.scale else {
            return out;
        };
        let mut scale = lock(scale);
        let port = scale.port().to_string();
        out.push(match scale.read(Ask::Immediate) {
            Ok(r) => CheckLine::pass("scale", format!("scale on {port} answers: {} g", r.grams())),
            Err(e @ (ScaleError::Overload | ScaleError::Underload | ScaleError::NotStable)) => {
                CheckLine::pass("scale", format!("scale on {port} answers: {e}"))
            }
            Err(e) => CheckLine::fail(
                "scale",
                e.to_string(),
                "check the scale's cable and power, or [scale] port and baud in the config",
            ),
        });
        out
    }

    /// Runs the demo's pole display emulator on a pseudo-terminal and
    /// drives it as a shop's display.
    pub fn with_demo_pole(mut self) -> Service {
        match PoleSim::start() {
            Ok(sim) => {
                self.counter.pole = Some(Pole::start(PoleConfig {
                    port: sim.path.display().to_string(),
                    ..PoleConfig::default()
                }));
                self.counter.demo_pole = Some(Arc::new(sim));
            }
            Err(e) => tracing::warn!("the demo pole display did not start ({e})"),
        }
        self
    }

    pub fn has_pole_display(&self) -> bool {
        self.counter.pole.is_some()
    }

    /// Shows the customer's view on the customer-facing devices. Never
    /// waits: the pole display's worker writes it.
    pub fn show_customer(&self, view: CustomerView) {
        if let Some(pole) = &self.counter.pole {
            let _ = pole.views.send(view);
        }
    }

    /// What the demo's pole display shows now (its two lines).
    pub fn demo_pole_lines(&self) -> Option<[String; 2]> {
        Some(self.counter.demo_pole.as_ref()?.shown().lines)
    }

    /// Whether a scale is configured (else weights are typed).
    pub fn has_scale(&self) -> bool {
        self.counter.scale.is_some()
    }

    /// The scale's port, for the self-check and the status bar.
    pub fn scale_port(&self) -> Option<String> {
        let scale = self.counter.scale.as_ref()?;
        Some(lock(scale).port().to_string())
    }

    /// The weight on the scale now (`SI`), for the weigh screen's live
    /// reading; `None` without a scale. `placed` says a new item is being
    /// weighed: the demo's emulator then puts one on its pan, which
    /// settles after a few readings.
    pub fn weigh(&self, placed: bool) -> Result<Option<Weight>, WeighRefusal> {
        let Some(scale) = &self.counter.scale else {
            return Ok(None);
        };
        if let (true, Some(sim)) = (placed, &self.counter.demo_scale) {
            let grams = 250 + demo_grams();
            sim.control.set_settling(Pan::Moving(grams), 3);
        }
        let r = lock(scale).read(Ask::Immediate)?;
        Ok(Some(Weight {
            grams: r.grams(),
            stable: r.stable,
        }))
    }
}

/// A weight between 0 and 1.75 kg for the demo's next item, from the clock.
fn demo_grams() -> i64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    i64::from(nanos / 1000 % 1750)
}

//! What the window does without the cashier: the clock's tick (the idle
//! lock, the status refresh, receipts held up by the printer) and the
//! self-check's lines for the status bar.

use super::{print, status, App, Effects, Screen, Shown, THANKS_MS};
use tillpoint_app::check::CheckLine;

impl App {
    pub(super) fn tick(&mut self, now: i64) -> Effects {
        self.now_ms = now;
        if self.done.is_some() && now - self.done_at_ms >= THANKS_MS {
            self.done = None;
        }
        let mut fx = vec![];
        let paying = matches!(&self.screen, Screen::Tender(t) if t.busy());
        if self.cashier.is_some()
            && !matches!(self.shown(), Shown::Locked | Shown::Login | Shown::Startup)
            && !paying
            && now - self.last_input_ms > self.idle_lock_ms
        {
            fx.extend(self.lock());
        }
        if now.rem_euclid(5_000) < 1_000 {
            fx.push(status(self.lang));
        }
        // A receipt held up by paper out or an unplugged printer prints by itself once it is back.
        if self.status.queued_prints > 0 && now.rem_euclid(10_000) < 1_000 {
            fx.push(print(None));
        }
        fx
    }

    /// The self-check's lines: the status bar's device marks and link.
    pub(super) fn checked(&mut self, lines: Vec<CheckLine>) -> Effects {
        let acquirer = lines.iter().find(|l| l.id == "acquirer").map(|l| l.ok);
        // In the demo without an `[acquirer]` host the link is the
        // simulator's (or, in a tour, the simulated payment steps).
        self.status.online = acquirer.unwrap_or(self.demo);
        self.status.checks = lines;
        vec![]
    }
}

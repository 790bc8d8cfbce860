//! The power-on self-check: one line per check, so a cashier or a support
//! line can read what is wrong and what to do.

use crate::till::Till;

/// Result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    /// Stable identifier, e.g. "journal".
    pub id: &'static str,
    pub ok: bool,
    /// What was found, in words.
    pub detail: String,
    /// What to do about a failure (empty when ok).
    pub action: String,
}

impl CheckLine {
    fn pass(id: &'static str, detail: impl Into<String>) -> CheckLine {
        CheckLine {
            id,
            ok: true,
            detail: detail.into(),
            action: String::new(),
        }
    }

    fn fail(id: &'static str, detail: impl Into<String>, action: impl Into<String>) -> CheckLine {
        CheckLine {
            id,
            ok: false,
            detail: detail.into(),
            action: action.into(),
        }
    }
}

/// Runs the storage and configuration checks. Device checks are appended by
/// the callers that own the devices.
pub fn run(till: &Till) -> Vec<CheckLine> {
    let mut out = Vec::new();
    let s = &till.store;
    out.push(match s.integrity_check() {
        Ok(Ok(())) => CheckLine::pass(
            "database",
            format!("database {} is consistent", s.path().display()),
        ),
        Ok(Err(problems)) => CheckLine::fail(
            "database",
            format!("database damaged: {problems}"),
            "stop selling; restore the last backup and call support",
        ),
        Err(e) => CheckLine::fail("database", e.to_string(), "call support"),
    });
    out.push(match s.verify_journal() {
        Ok(Ok(n)) => CheckLine::pass("journal", format!("journal chain verified ({n} entries)")),
        Ok(Err(b)) => CheckLine::fail(
            "journal",
            format!("journal chain broken at entry {}: {}", b.seq, b.reason),
            "the sales record was altered; do not sell, keep the database and call support",
        ),
        Err(e) => CheckLine::fail("journal", e.to_string(), "call support"),
    });
    out.push(match s.verify_sales_against_journal() {
        Ok(None) => CheckLine::pass("sales", "every sale matches its journal entry"),
        Ok(Some(r)) => CheckLine::fail(
            "sales",
            format!("sale {r} differs from its journal entry"),
            "the sales record was altered; keep the database and call support",
        ),
        Err(e) => CheckLine::fail("sales", e.to_string(), "call support"),
    });
    out.push(match s.verify_period_totals() {
        Ok(None) => CheckLine::pass("totals", "report totals match the sales"),
        Ok(Some(p)) => CheckLine::fail(
            "totals",
            format!("report totals of period {p} do not match its sales"),
            "do not take a Z report; call support",
        ),
        Err(e) => CheckLine::fail("totals", e.to_string(), "call support"),
    });
    out.push(if till.warnings.is_empty() {
        CheckLine::pass(
            "config",
            format!("config {} read", till.paths.config_file.display()),
        )
    } else {
        // Warnings are not failures: the till runs on defaults.
        CheckLine::pass(
            "config",
            format!(
                "config read with {} warning(s): {}",
                till.warnings.len(),
                till.warnings.join("; ")
            ),
        )
    });
    out.push(printer_check(&till.config));
    out
}

/// The receipt printer's status: opens the printer configured in `[printer]` and asks it
/// (bounded by the configured time limits). No printer configured passes: receipts wait
/// in the queue. A printer that is unreachable, out of paper or open fails, with what to do.
pub fn printer_check(config: &crate::config::Config) -> CheckLine {
    let c = crate::devices::printer::queue::check_printer(config);
    if c.ok {
        CheckLine::pass("printer", c.detail)
    } else {
        CheckLine::fail("printer", c.detail, c.action)
    }
}

/// Renders check lines as text, one per line.
pub fn render(lines: &[CheckLine]) -> String {
    let mut s = String::new();
    for l in lines {
        let mark = if l.ok { "ok  " } else { "FAIL" };
        s.push_str(&format!("{mark} {:<9} {}", l.id, l.detail));
        if !l.ok && !l.action.is_empty() {
            s.push_str(&format!(" -> {}", l.action));
        }
        s.push('\n');
    }
    s
}

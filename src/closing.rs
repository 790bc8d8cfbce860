//! The card part of an X or Z report, the same for every front end (the
//! `report` command and the GUI's reports screen): settle with the host
//! first when this is a new Z and `[acquirer] settle_on_z` is on, then the
//! merchant fee per scheme at the configured rates, the net that reaches
//! the shop's account, and where the card money stands with the acquirer.

use std::sync::{Arc, Mutex};

use crate::core::report::Report;
use crate::payment::acquirer::config::{
    card_summary, settle_and_record, AcquirerConfig, CardSummary,
};
use crate::payment::acquirer::sqlite::SqliteAcquirerStore;
use crate::payment::acquirer::Session;
use crate::till::Till;

/// The `[acquirer]` section of the till's config; problems are logged (the
/// self-check shows them to the cashier).
pub fn acquirer_config(till: &Till) -> AcquirerConfig {
    let mut warnings = Vec::new();
    let cfg = AcquirerConfig::load(&till.config, &mut warnings);
    for w in warnings {
        tracing::warn!("config: {w}");
    }
    cfg
}

/// The till's running acquirer session, when a front end has one (the
/// window's devices): settlement goes through it, never a second session.
pub type SharedSession = Arc<Mutex<Session<SqliteAcquirerStore>>>;

/// The card figures for `report`. `None` for a till with neither a link nor
/// electronic takings (its report stays as it was). Never fails the
/// report: a problem (no settlement, fees not computable) is logged and
/// returned as the second value, in words for the shop owner.
pub fn card_closing(
    till: &mut Till,
    report: &Report,
    new_z: bool,
    running: Option<&SharedSession>,
) -> (Option<CardSummary>, Option<String>) {
    let cfg = acquirer_config(till);
    let mut problem = None;
    let has_link = cfg.enabled() || running.is_some();
    if new_z && has_link && cfg.settle_on_z {
        let now = till.clock.now_ms();
        let settled = match running {
            Some(shared) => match shared.lock() {
                Ok(mut session) => Ok(settle_and_record(&mut session, now)),
                Err(_) => Err("the acquirer session is unusable (a worker panicked)".to_string()),
            },
            None => cfg
                .open_session(
                    &till.paths.database(),
                    till.data_dir(),
                    till.config.till.currency,
                )
                .map(|mut session| settle_and_record(&mut session, now)),
        };
        match settled {
            Ok(row) => {
                tracing::info!(batch = row.batch, outcome = ?row.outcome, "settlement at Z")
            }
            Err(e) => {
                tracing::warn!(error = %e, "settlement at Z skipped");
                problem = Some(format!("settlement skipped: {e}"));
            }
        }
    }
    if report.totals.by_scheme.is_empty() && !has_link {
        return (None, problem);
    }
    match card_summary(report, &cfg, &mut till.store) {
        Ok(s) => (Some(s), problem),
        Err(e) => {
            tracing::warn!(error = %e, "card fees not computed");
            (None, Some(format!("card fees not computed: {e}")))
        }
    }
}

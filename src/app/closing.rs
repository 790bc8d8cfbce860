//! The card part of an X or Z report, the same for every front end (the
//! `report` command and the GUI's reports screen): settle with the host
//! first when this is a new Z and `[acquirer] settle_on_z` is on, then the
//! merchant fee per scheme at the configured rates, the net that reaches
//! the shop's account, and where the card money stands with the acquirer.

use std::sync::{Arc, Mutex};

use crate::till::Till;
use tillpoint_core::report::Report;
use tillpoint_payment::acquirer::config::AcquirerConfig;
use tillpoint_payment::acquirer::settlement::{card_summary, settle_and_record, CardSummary};
use tillpoint_payment::acquirer::till_store::SqliteAcquirerStore;
use tillpoint_payment::acquirer::Session;

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

/// What settling at a Z needs, taken from the till so that the settlement
/// itself (a network exchange that can take the read timeout) runs without
/// holding the till.
#[derive(Debug, Clone)]
pub struct Settle {
    cfg: AcquirerConfig,
    db: std::path::PathBuf,
    data_dir: std::path::PathBuf,
    currency: tillpoint_core::money::Currency,
    at_ms: i64,
}

/// The settlement a report calls for: a new Z with a link and
/// `settle_on_z`, else none.
pub fn settlement_due(till: &Till, new_z: bool, running: Option<&SharedSession>) -> Option<Settle> {
    let cfg = acquirer_config(till);
    let has_link = cfg.enabled() || running.is_some();
    (new_z && has_link && cfg.settle_on_z).then(|| Settle {
        cfg,
        db: till.paths.database(),
        data_dir: till.data_dir().to_path_buf(),
        currency: till.config.till.currency,
        at_ms: till.clock.now_ms(),
    })
}

impl Settle {
    /// Settles through the running session (or a session of its own) and
    /// records the outcome; a problem comes back in words for the owner.
    pub fn run(self, running: Option<&SharedSession>) -> Option<String> {
        let settled = match running {
            Some(shared) => match shared.lock() {
                Ok(mut session) => Ok(settle_and_record(&mut session, self.at_ms)),
                Err(_) => Err("the acquirer session is unusable (a worker panicked)".to_string()),
            },
            None => self
                .cfg
                .open_session(&self.db, &self.data_dir, self.currency)
                .map(|mut session| settle_and_record(&mut session, self.at_ms)),
        };
        match settled {
            Ok(row) => {
                tracing::info!(batch = row.batch, outcome = ?row.outcome, "settlement at Z");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "settlement at Z skipped");
                Some(format!("settlement skipped: {e}"))
            }
        }
    }
}

/// The card figures of `report` from the till's store (fees, net,
/// settlement status), after any settlement; `problem` is passed through.
pub fn card_figures(
    till: &mut Till,
    report: &Report,
    running: Option<&SharedSession>,
    problem: Option<String>,
) -> (Option<CardSummary>, Option<String>) {
    let cfg = acquirer_config(till);
    let has_link = cfg.enabled() || running.is_some();
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

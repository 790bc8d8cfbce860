//! Settlement for the closing note: settles the open batch with the host
//! and records the outcome, and sums up the period's electronic takings
//! after the merchant fees, for the X/Z report and the Reports screen.

use serde::Serialize;

use super::config::AcquirerConfig;
use super::session::{totals_of, Session, SettlementOutcome};
use super::till_store::SqliteAcquirerStore;
use super::AcquirerStore;
use crate::iso8583::messages::Totals;
use tillpoint_core::report::{merchant_fees, FeeSummary, Report};
use tillpoint_store::acquirer::{
    BatchTotals, SettlementOutcomeRow, SettlementRow, SettlementStatus,
};
use tillpoint_store::Store;

/// The card part of a closing note: what the period's electronic takings
/// leave after the merchant fees, and where settlement stands. Data for the
/// Z report text (`cli::text::card_summary`) and the GUI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardSummary {
    pub fees: FeeSummary,
    /// False when `[acquirer.fees]` names no rate (all fees shown are 0).
    pub fees_configured: bool,
    /// The acquirer link's state; `None` if it could not be read.
    pub settlement: Option<SettlementStatus>,
}

/// The card summary of `report`, with the settlement status read from the
/// till's store. A fee that cannot be computed (corrupt totals) is an error.
pub fn card_summary(
    report: &Report,
    cfg: &AcquirerConfig,
    store: &mut Store,
) -> Result<CardSummary, String> {
    let fees = merchant_fees(&report.totals, &cfg.fees).map_err(|e| e.to_string())?;
    let settlement =
        match store.settlement_status(crate::iso8583::profile::processing::SETTLEMENT_KINDS) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "settlement status unreadable");
                None
            }
        };
    Ok(CardSummary {
        fees,
        fees_configured: cfg.fees_configured,
        settlement,
    })
}

fn batch_totals(t: &Totals) -> BatchTotals {
    BatchTotals {
        debits_count: t.debits_count,
        debits_amount: t.debits_amount,
        credits_count: t.credits_count,
        credits_amount: t.credits_amount,
    }
}

/// Settles the open batch with the host now (reversals and advices are
/// delivered first; on a totals mismatch the batch is uploaded and settled
/// again) and records how it went, success or not, for the closing note.
pub fn settle_and_record(session: &mut Session<SqliteAcquirerStore>, at_ms: i64) -> SettlementRow {
    let row = match session.settle() {
        Ok(report) => SettlementRow {
            batch: report.batch,
            outcome: match report.outcome {
                SettlementOutcome::Matched => SettlementOutcomeRow::Matched,
                SettlementOutcome::MatchedAfterUpload => SettlementOutcomeRow::MatchedAfterUpload,
                SettlementOutcome::Mismatch => SettlementOutcomeRow::Mismatch,
            },
            at_ms,
            till: batch_totals(&report.till),
            host: report.host.as_ref().map(batch_totals),
            uploaded: u32::try_from(report.uploaded).unwrap_or(u32::MAX),
            note: None,
        },
        Err(e) => {
            let store = session.store();
            let batch = store.current_batch().unwrap_or(0);
            let till = store
                .batch_items(batch)
                .map(|items| batch_totals(&totals_of(&items)))
                .unwrap_or_default();
            SettlementRow {
                batch,
                outcome: SettlementOutcomeRow::Failed,
                at_ms,
                till,
                host: None,
                uploaded: 0,
                note: Some(e.to_string()),
            }
        }
    };
    if let Err(e) = session.store().db().record_settlement(&row) {
        tracing::warn!(error = %e, "settlement outcome not recorded");
    }
    row
}

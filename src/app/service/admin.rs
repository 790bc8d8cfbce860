//! The back office's use cases, for the command line as for the window:
//! the catalog, the cashiers, exporting sales, and running the print queue
//! on demand.

use std::io::Read;

use super::{lock, words, Refusal, Service};
use tillpoint_core::cashier::{Approval, Cashier};
use tillpoint_core::sale::SaleRecord;
use tillpoint_store::catalog::{ImportError, ImportSummary};

/// What one run of the print queue did, in words, and what still waits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrintRun {
    /// Receipt numbers printed.
    pub printed: Vec<String>,
    /// Receipts that could not print, with why.
    pub skipped: Vec<(String, String)>,
    /// The printer's warning (paper low, cover open) in the till's language.
    pub warning: Option<String>,
    /// Why receipts still wait, in the till's language; `None` when the
    /// queue is empty.
    pub waiting: Option<String>,
    /// The printer's own words for what went wrong last, if any.
    pub detail: Option<String>,
}

impl Service {
    /// Imports a catalog CSV: every line or none; the error names every
    /// bad line.
    pub fn import_catalog(&self, csv: impl Read) -> Result<ImportSummary, ImportError> {
        let mut till = lock(&self.till);
        let classes = till.config.tax_classes();
        till.store
            .import_catalog(std::io::BufReader::new(csv), &classes)
    }

    /// Every cashier, by number.
    pub fn cashiers(&self) -> Result<Vec<Cashier>, Refusal> {
        self.local(|t, _| t.store.cashiers())
    }

    /// Adds a cashier or changes one's name, role or PIN, with a manager's
    /// approval of that number (none only for the first manager of a till
    /// with no cashiers).
    pub fn save_cashier(
        &self,
        cashier: &Cashier,
        pin: &str,
        approval: Option<&Approval>,
    ) -> Result<(), Refusal> {
        self.local(|t, now| t.store.add_cashier(cashier, pin, approval, now))
    }

    /// Takes a cashier off the till (a manager's approval of that number).
    pub fn remove_cashier(&self, number: u32, approval: &Approval) -> Result<bool, Refusal> {
        self.local(|t, now| t.store.deactivate_cashier(number, approval, now))
    }

    /// Lifts a number's lockout (a manager's approval); false when it was
    /// not locked.
    pub fn unlock_login(&self, number: u32, approval: &Approval) -> Result<bool, Refusal> {
        self.local(|t, now| t.store.unlock_login(number, approval, now))
    }

    /// Completed sales and refunds between two instants, oldest first, with
    /// whether each was voided.
    pub fn sales_between(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(SaleRecord, bool)>, Refusal> {
        self.local(|t, _| t.store.sales_between(from_ms, to_ms))
    }

    /// Runs the print queue once on the printer's desk (after queueing a
    /// reprint of `reprint` when asked; only reporting when `drain` is
    /// false) and says what happened in the till's receipt language.
    pub fn print_run(&self, reprint: Option<&str>, drain: bool) -> Result<PrintRun, Refusal> {
        if let Some(no) = reprint {
            self.reprint(no)?;
        }
        let setup = self.print_setup();
        let lang = {
            let till = lock(&self.till);
            setup.printer.lang(&till.config.till.locale)
        };
        let i18n = tillpoint_i18n::I18n::load();
        let mut desk = lock(&self.printer);
        let store = desk.store(&setup.store).map_err(words)?;
        let mut run = PrintRun::default();
        if drain {
            let report = setup.drain(store, &i18n)?;
            run.warning = report.warning(&i18n, lang);
            run.printed = report.printed;
            run.skipped = report
                .skipped
                .into_iter()
                .map(|s| {
                    (
                        s.receipt_no.unwrap_or_else(|| "(no receipt)".into()),
                        s.detail,
                    )
                })
                .collect();
        }
        let status = crate::print_queue::queue_status(&*store).map_err(words)?;
        run.waiting = status.message(&i18n, lang);
        run.detail = status.detail;
        Ok(run)
    }
}

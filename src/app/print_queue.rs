//! The print worker: turns the print jobs that completed sales left in SQLite into printed
//! receipts, each exactly once, and says in plain words why a receipt is not printing.
//!
//! A job is written in the same transaction as its sale (see `store::sales`), so a crash
//! right after the sale is committed leaves a queued job that the next [`drain`] prints.
//! A job is marked printed only after the printer has taken it and reported itself healthy
//! afterwards; on paper out, an open cover or an unreachable printer the reason is stored
//! with the job ([`Store::mark_print_failed`]) and the job stays queued for the next try.
//! Jobs with several copies (the merchant slip of a card sale, then the customer's receipt)
//! record each finished copy, so a roll that ends in the second copy does not reprint the
//! first. The window that remains is the moment between the printer taking a copy and the
//! database recording it: a crash exactly there prints that copy again, which is the safe
//! side (a receipt is never lost).
//!
//! One worker per till drains the queue; two processes draining the same database at once
//! could both print a job (the database still records it printed once).
//!
//! The cash drawer lives here too because it hangs off the printer: [`open_drawer_for_sale`]
//! after a sale with cash, and [`no_sale`] for a supervisor's drawer opening.

use tillpoint_config::Config;
use tillpoint_core::cashier::Approval;
use tillpoint_core::money::Money;
use tillpoint_core::receipt::{Copy, Receipt};
use tillpoint_core::sale::SaleRecord;
use tillpoint_core::tender::TenderKind;
use tillpoint_devices::printer::config::{PrinterConfig, ReceiptSettings};
use tillpoint_devices::printer::doc::{DrawerPulse, PrintDocument};
use tillpoint_devices::printer::layout::append_receipt;
use tillpoint_devices::printer::transport::TransportError;
use tillpoint_devices::printer::{describe, PrinterError, ReceiptPrinter, StatusProblem};
use tillpoint_i18n::{I18n, Lang};
use tillpoint_store::queue::PrintJob;
use tillpoint_store::sales::CashMovement;
use tillpoint_store::{Store, StoreError};

/// Job kind of the receipt written with a completed sale or refund.
pub const KIND_RECEIPT: &str = "receipt";
/// Job kind of a reprint asked for later (one customer copy, marked as a reprint).
pub const KIND_REPRINT: &str = "reprint";

/// Why a receipt did not print, in categories the cashier can act on. Stored with the job
/// as `"<code>: <details>"`, so the reason survives a restart and can be shown in either
/// language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrintProblem {
    /// No paper.
    PaperOut,
    /// The cover is open.
    CoverOpen,
    /// The printer reports an error (cutter jam, overheating, hardware fault).
    PrinterError,
    /// The printer is offline for another reason.
    Offline,
    /// The printer cannot be reached or opened.
    Unreachable,
    /// The printer does not answer status requests, or answers nonsense.
    NoAnswer,
    /// The connection broke off while talking to the printer.
    Connection,
    /// No printer is configured.
    NotConfigured,
    /// This receipt cannot be laid out or encoded; other receipts can still print.
    BadReceipt,
}

impl PrintProblem {
    /// Every problem, for tests and for listing texts.
    pub const ALL: [PrintProblem; 9] = [
        PrintProblem::PaperOut,
        PrintProblem::CoverOpen,
        PrintProblem::PrinterError,
        PrintProblem::Offline,
        PrintProblem::Unreachable,
        PrintProblem::NoAnswer,
        PrintProblem::Connection,
        PrintProblem::NotConfigured,
        PrintProblem::BadReceipt,
    ];

    /// The stable token stored in the database.
    pub fn code(self) -> &'static str {
        match self {
            PrintProblem::PaperOut => "paper-out",
            PrintProblem::CoverOpen => "cover-open",
            PrintProblem::PrinterError => "printer-error",
            PrintProblem::Offline => "offline",
            PrintProblem::Unreachable => "unreachable",
            PrintProblem::NoAnswer => "no-answer",
            PrintProblem::Connection => "connection",
            PrintProblem::NotConfigured => "not-configured",
            PrintProblem::BadReceipt => "bad-receipt",
        }
    }

    /// The problem for a stored token.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.code() == code)
    }

    /// Classifies a failed print or status request.
    pub fn of(e: &PrinterError) -> Self {
        match e {
            PrinterError::NotReady(s) | PrinterError::Interrupted(s) => {
                match s.problems().first() {
                    Some(StatusProblem::CoverOpen) => PrintProblem::CoverOpen,
                    Some(StatusProblem::PaperOut) => PrintProblem::PaperOut,
                    Some(StatusProblem::Error) => PrintProblem::PrinterError,
                    Some(StatusProblem::Offline | StatusProblem::PaperNearEnd) | None => {
                        PrintProblem::Offline
                    }
                }
            }
            PrinterError::Transport(t) => Self::of_transport(t),
            PrinterError::Status(_) => PrintProblem::NoAnswer,
            PrinterError::Encode(_) => PrintProblem::BadReceipt,
        }
    }

    /// Classifies a transport failure (opening, connecting, reading, writing).
    pub fn of_transport(e: &TransportError) -> Self {
        match e {
            TransportError::Open { .. }
            | TransportError::Serial { .. }
            | TransportError::Unreachable { .. }
            | TransportError::Unsupported => PrintProblem::Unreachable,
            TransportError::Timeout { .. } | TransportError::StatusUnsupported { .. } => {
                PrintProblem::NoAnswer
            }
            TransportError::Write { .. }
            | TransportError::Read { .. }
            | TransportError::Closed { .. } => PrintProblem::Connection,
        }
    }

    /// Whether the jobs behind this one must wait too (the printer is the problem), or
    /// only this job is stuck (its receipt is).
    pub fn blocks_queue(self) -> bool {
        self != PrintProblem::BadReceipt
    }

    /// What the cashier should know and do, in `lang`.
    pub fn message(self, i18n: &I18n, lang: Lang) -> String {
        match self {
            PrintProblem::PaperOut => i18n.tr(lang, "print-problem-paper-out"),
            PrintProblem::CoverOpen => i18n.tr(lang, "print-problem-cover-open"),
            PrintProblem::PrinterError => i18n.tr(lang, "print-problem-error"),
            PrintProblem::Offline => i18n.tr(lang, "print-problem-offline"),
            PrintProblem::Unreachable => i18n.tr(lang, "print-problem-unreachable"),
            PrintProblem::NoAnswer => i18n.tr(lang, "print-problem-no-answer"),
            PrintProblem::Connection => i18n.tr(lang, "print-problem-connection"),
            PrintProblem::NotConfigured => i18n.tr(lang, "print-problem-not-configured"),
            PrintProblem::BadReceipt => i18n.tr(lang, "print-problem-bad-receipt"),
        }
    }

    /// The text stored with the job.
    pub fn record(self, detail: &str) -> String {
        format!("{}: {detail}", self.code())
    }

    /// Splits a stored reason back into problem and details (`None` for text written by
    /// something else, which is then shown as it is).
    pub fn parse_recorded(text: &str) -> (Option<Self>, &str) {
        match text.split_once(": ") {
            Some((code, detail)) => match Self::from_code(code) {
                Some(p) => (Some(p), detail),
                None => (None, text),
            },
            None => (None, text),
        }
    }
}

/// One cut receipt (or several customer copies) of a job, ready for the printer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCopy {
    /// Which copy.
    pub copy: Copy,
    /// The laid-out document, ending with a cut.
    pub doc: PrintDocument,
}

/// What a job prints: for a sale's receipt the copies [`Receipt::copies_for`] names
/// (the customer's `customer_copies` times) of which the last `job.copies` are still
/// missing; for a reprint one customer copy marked as a reprint.
pub fn plan_job(
    job: &PrintJob,
    record: &SaleRecord,
    i18n: &I18n,
    settings: &ReceiptSettings,
) -> Result<Vec<PlannedCopy>, String> {
    let (copies, reprint) = match job.kind.as_str() {
        KIND_RECEIPT => {
            let all = Receipt::copies_for(record);
            let left = usize::try_from(job.copies)
                .unwrap_or(1)
                .max(1)
                .min(all.len());
            let skip = all.len() - left;
            (all.into_iter().skip(skip).collect::<Vec<_>>(), false)
        }
        KIND_REPRINT => (vec![Copy::Customer], true),
        other => return Err(format!("unknown print job kind {other:?}")),
    };
    let plan = copies
        .into_iter()
        .map(|copy| {
            let receipt = Receipt {
                shop: settings.shop.clone(),
                till_id: settings.till_id.clone(),
                record: record.clone(),
                copy,
                reprint,
            };
            let times = if copy == Copy::Customer && !reprint {
                settings.customer_copies.max(1)
            } else {
                1
            };
            let mut doc = PrintDocument::new(settings.layout.width);
            for _ in 0..times {
                append_receipt(&mut doc, &receipt, i18n, &settings.layout);
            }
            PlannedCopy { copy, doc }
        })
        .collect();
    Ok(plan)
}

/// A job that could not print and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// The job.
    pub job: i64,
    /// Its receipt, when the job still points at a sale.
    pub receipt_no: Option<String>,
    /// The kind of problem.
    pub problem: PrintProblem,
    /// The error in words (device names, no card data).
    pub detail: String,
}

/// What one [`drain`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DrainReport {
    /// Receipt numbers whose jobs printed completely, in order.
    pub printed: Vec<String>,
    /// Cut copies that came out (a card sale gives two per job).
    pub copies_printed: usize,
    /// The job the printer stopped at; the jobs behind it wait too.
    pub blocked: Option<Blocked>,
    /// Jobs that cannot be printed at all (their receipt cannot be laid out); they stay
    /// queued with the reason and the queue goes on without them.
    pub skipped: Vec<Blocked>,
    /// The printer reported its paper running low.
    pub paper_near_end: bool,
    /// Jobs still queued afterwards.
    pub left: usize,
}

impl DrainReport {
    /// A warning worth showing even though everything printed (paper low), in `lang`.
    pub fn warning(&self, i18n: &I18n, lang: Lang) -> Option<String> {
        self.paper_near_end
            .then(|| i18n.tr(lang, "print-paper-low"))
    }
}

fn record_failure(
    store: &mut Store,
    job: &PrintJob,
    problem: PrintProblem,
    detail: &str,
) -> Result<Blocked, StoreError> {
    store.mark_print_failed(job.id, &problem.record(detail))?;
    tracing::warn!(
        job = job.id,
        receipt = job.receipt_no.as_deref().unwrap_or("-"),
        problem = problem.code(),
        detail,
        "receipt not printed; it stays queued"
    );
    Ok(Blocked {
        job: job.id,
        receipt_no: job.receipt_no.clone(),
        problem,
        detail: detail.to_string(),
    })
}

fn job_plan(
    store: &Store,
    job: &PrintJob,
    i18n: &I18n,
    settings: &ReceiptSettings,
) -> Result<Vec<PlannedCopy>, String> {
    let Some(no) = job.receipt_no.as_deref() else {
        return Err(format!("print job {} has no sale to print", job.id));
    };
    let record = store
        .sale_by_receipt(no)
        .map_err(|e| format!("receipt {no} cannot be read: {e}"))?;
    plan_job(job, &record, i18n, settings)
}

/// Prints every queued job, oldest first, on `printer`, until the queue is empty or the
/// printer stops (paper out, cover open, unreachable). Each printed job is marked printed
/// exactly once; a job that did not print keeps its place and the reason. Only database
/// failures are errors: printer trouble is reported in the [`DrainReport`].
pub fn drain<P: ReceiptPrinter + ?Sized>(
    store: &mut Store,
    printer: &mut P,
    i18n: &I18n,
    settings: &ReceiptSettings,
    at_ms: i64,
) -> Result<DrainReport, StoreError> {
    let mut report = DrainReport::default();
    'jobs: for job in store.queued_print_jobs()? {
        let plan = match job_plan(store, &job, i18n, settings) {
            Ok(p) => p,
            Err(detail) => {
                let b = record_failure(store, &job, PrintProblem::BadReceipt, &detail)?;
                report.skipped.push(b);
                continue;
            }
        };
        let n = plan.len();
        for (i, unit) in plan.iter().enumerate() {
            match printer.print(&unit.doc) {
                Ok(r) => {
                    report.copies_printed += 1;
                    if r.status_after.is_some_and(|s| s.paper_near_end) {
                        report.paper_near_end = true;
                    }
                    let last = i + 1 == n;
                    let recorded = if last {
                        store.mark_printed(job.id, at_ms)?
                    } else {
                        store.mark_copy_printed(job.id)?
                    };
                    if !recorded {
                        // Another worker finished this job meanwhile; do not print more of it.
                        tracing::warn!(job = job.id, "print job was already marked printed");
                        continue 'jobs;
                    }
                    if last {
                        tracing::info!(
                            job = job.id,
                            receipt = job.receipt_no.as_deref().unwrap_or("-"),
                            copies = n,
                            "receipt printed"
                        );
                        if let Some(no) = &job.receipt_no {
                            report.printed.push(no.clone());
                        }
                    }
                }
                Err(e) => {
                    let problem = PrintProblem::of(&e);
                    let b = record_failure(store, &job, problem, &e.to_string())?;
                    if problem.blocks_queue() {
                        report.blocked = Some(b);
                        break 'jobs;
                    }
                    report.skipped.push(b);
                    continue 'jobs;
                }
            }
        }
    }
    report.left = store.queued_print_jobs()?.len();
    Ok(report)
}

/// Opens the configured printer and [`drain`]s the queue; when the printer cannot be
/// opened (unreachable, not configured) the reason is recorded on the oldest queued job.
/// Does not touch the printer while the queue is empty.
pub fn drain_configured(
    store: &mut Store,
    config: &PrinterConfig,
    i18n: &I18n,
    settings: &ReceiptSettings,
    at_ms: i64,
) -> Result<DrainReport, StoreError> {
    let jobs = store.queued_print_jobs()?;
    let Some(head) = jobs.first() else {
        return Ok(DrainReport::default());
    };
    let blocked = match config.open() {
        Ok(Some(mut printer)) => return drain(store, &mut printer, i18n, settings, at_ms),
        Ok(None) => record_failure(
            store,
            head,
            PrintProblem::NotConfigured,
            "no receipt printer is configured",
        )?,
        Err(e) => record_failure(store, head, PrintProblem::of_transport(&e), &e.to_string())?,
    };
    Ok(DrainReport {
        blocked: Some(blocked),
        left: jobs.len(),
        ..DrainReport::default()
    })
}

/// The print queue as the GUI shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueStatus {
    /// Jobs waiting.
    pub queued: usize,
    /// Receipt number of the oldest waiting job.
    pub oldest: Option<String>,
    /// Why the oldest job did not print last time, if it was tried.
    pub problem: Option<PrintProblem>,
    /// The stored error text of that try.
    pub detail: Option<String>,
    /// How often the oldest job has been tried.
    pub attempts: i64,
}

impl QueueStatus {
    /// "Why is my receipt not printing", in `lang`; `None` when nothing is waiting.
    pub fn message(&self, i18n: &I18n, lang: Lang) -> Option<String> {
        if self.queued == 0 {
            return None;
        }
        let args = [("count", self.queued.to_string())];
        let mut parts = vec![i18n.tr_args(lang, "print-queue-waiting", &args)];
        match (self.problem, &self.detail) {
            (Some(p), _) => {
                parts.push(p.message(i18n, lang));
                if p.blocks_queue() {
                    parts.push(i18n.tr(lang, "print-queue-retry"));
                }
            }
            (None, Some(d)) => parts.push(d.clone()),
            (None, None) => parts.push(i18n.tr(lang, "print-queue-waiting-first")),
        }
        let sep = match lang {
            Lang::En => " ",
            Lang::Zh => "",
        };
        Some(parts.join(sep))
    }
}

/// Reads the queue's state from the store.
pub fn queue_status(store: &Store) -> Result<QueueStatus, StoreError> {
    let jobs = store.queued_print_jobs()?;
    let Some(head) = jobs.first() else {
        return Ok(QueueStatus::default());
    };
    // A skipped (unprintable) job does not explain why the others wait: prefer the first
    // job whose reason blocks the queue.
    let reasons = jobs.iter().filter_map(|j| {
        j.last_error.as_deref().map(|e| {
            let (p, d) = PrintProblem::parse_recorded(e);
            (j, p, d.to_string())
        })
    });
    let mut chosen = None;
    for (j, p, d) in reasons {
        let blocks = p.is_none_or(PrintProblem::blocks_queue);
        if chosen.is_none() || blocks {
            chosen = Some((j, p, d));
        }
        if blocks {
            break;
        }
    }
    let (job, problem, detail) = match chosen {
        Some((j, p, d)) => (j, p, Some(d)),
        None => (head, None, None),
    };
    Ok(QueueStatus {
        queued: jobs.len(),
        oldest: head.receipt_no.clone(),
        problem,
        detail,
        attempts: job.attempts,
    })
}

/// The GUI's "why is my receipt not printing": `None` when nothing waits.
pub fn why_not_printing(
    store: &Store,
    i18n: &I18n,
    lang: Lang,
) -> Result<Option<String>, StoreError> {
    Ok(queue_status(store)?.message(i18n, lang))
}

/// Whether completing `record` should open the cash drawer: cash was taken or paid out.
pub fn opens_drawer(record: &SaleRecord) -> bool {
    record.tenders.iter().any(|t| t.kind == TenderKind::Cash)
}

/// Kicks the drawer after a sale or refund with a cash tender; `Ok(false)` when the sale
/// had no cash or no drawer is connected (`pulse` is `None`). Call it right after the sale
/// is committed, not from the print queue: a receipt reprinted an hour later must not
/// open the drawer.
pub fn open_drawer_for_sale<P: ReceiptPrinter + ?Sized>(
    printer: &mut P,
    record: &SaleRecord,
    pulse: Option<DrawerPulse>,
) -> Result<bool, PrinterError> {
    match pulse {
        Some(p) if opens_drawer(record) => {
            printer.open_drawer(p)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Why a no-sale drawer opening failed.
#[derive(Debug, thiserror::Error)]
pub enum NoSaleError {
    /// No drawer is connected, so nothing was recorded.
    #[error("no cash drawer is connected to the printer")]
    NoDrawer,
    /// The no-sale could not be recorded (e.g. the approval is not a supervisor's); the
    /// drawer stayed shut.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The no-sale is on record but the drawer did not get the pulse.
    #[error("the no-sale is recorded but the drawer did not open: {0}")]
    Printer(#[from] PrinterError),
}

/// A supervisor's no-sale: records it in the journal first (every drawer opening is
/// accounted for), then kicks the drawer.
#[allow(clippy::too_many_arguments)] // each is a separate fact of the no-sale
pub fn no_sale<P: ReceiptPrinter + ?Sized>(
    store: &mut Store,
    printer: &mut P,
    pulse: Option<DrawerPulse>,
    cashier: u32,
    approval: &Approval,
    reason: &str,
    at_ms: i64,
) -> Result<(), NoSaleError> {
    let pulse = pulse.ok_or(NoSaleError::NoDrawer)?;
    let zero = Money::zero(store.settings().currency);
    store.cash_movement(
        CashMovement::NoSale,
        zero,
        cashier,
        Some(approval),
        reason,
        at_ms,
    )?;
    printer.open_drawer(pulse)?;
    Ok(())
}

/// The printer line of the self-check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterCheck {
    /// Whether receipts can print now (or no printer is configured, which is a choice).
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// What to do about a failure (English, like the rest of the self-check).
    pub action: String,
}

/// Opens the configured printer and asks its status, within the configured time limits.
pub fn check_printer(config: &Config) -> PrinterCheck {
    let mut warnings = Vec::new();
    let pc = PrinterConfig::load(config, &mut warnings);
    let note = if warnings.is_empty() {
        String::new()
    } else {
        format!(" (config: {})", warnings.join("; "))
    };
    let i18n = I18n::load();
    let fail = |problem: PrintProblem, detail: String| PrinterCheck {
        ok: false,
        detail: format!("{detail}{note}"),
        action: problem.message(&i18n, Lang::En),
    };
    let name = pc.describe();
    match pc.open() {
        Ok(None) => PrinterCheck {
            ok: true,
            detail: format!("no receipt printer configured; receipts wait in the queue{note}"),
            action: String::new(),
        },
        Err(e) => fail(PrintProblem::of_transport(&e), e.to_string()),
        Ok(Some(mut p)) => {
            if !tillpoint_devices::printer::transport::Transport::supports_status(p.transport()) {
                return PrinterCheck {
                    ok: true,
                    detail: format!("printer {name} (no status over this connection){note}"),
                    action: String::new(),
                };
            }
            match p.status() {
                Ok(s) if s.can_print() => PrinterCheck {
                    ok: true,
                    detail: if s.paper_near_end {
                        format!("printer {name} ready; paper near end{note}")
                    } else {
                        format!("printer {name} ready{note}")
                    },
                    action: String::new(),
                },
                Ok(s) => fail(
                    PrintProblem::of(&PrinterError::NotReady(s)),
                    format!("printer {name}: {}", describe(&s)),
                ),
                Err(e) => fail(PrintProblem::of(&e), format!("printer {name}: {e}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tillpoint_devices::printer::PrinterStatus;

    #[test]
    fn problems_round_trip_through_the_stored_text() {
        for p in PrintProblem::ALL {
            let text = p.record("printer at 127.0.0.1:9100 is unreachable: refused");
            let (back, detail) = PrintProblem::parse_recorded(&text);
            assert_eq!(back, Some(p));
            assert_eq!(detail, "printer at 127.0.0.1:9100 is unreachable: refused");
        }
        assert_eq!(
            PrintProblem::parse_recorded("disk full: oops"),
            (None, "disk full: oops")
        );
    }

    #[test]
    fn every_problem_has_text_in_both_languages() {
        let i = I18n::load();
        for p in PrintProblem::ALL {
            for lang in Lang::ALL {
                let m = p.message(&i, lang);
                assert!(!m.starts_with("print-problem"), "{p:?} {lang:?}");
            }
        }
    }

    #[test]
    fn status_problems_map_to_what_the_cashier_must_do() {
        let out = PrinterStatus {
            online: false,
            paper_out: true,
            ..PrinterStatus::default()
        };
        assert_eq!(
            PrintProblem::of(&PrinterError::NotReady(out)),
            PrintProblem::PaperOut
        );
        let cover = PrinterStatus {
            online: false,
            cover_open: true,
            paper_out: true,
            ..PrinterStatus::default()
        };
        assert_eq!(
            PrintProblem::of(&PrinterError::Interrupted(cover)),
            PrintProblem::CoverOpen
        );
    }

    fn card_record() -> SaleRecord {
        use tillpoint_core::money::Currency;
        use tillpoint_core::sale::SaleKind;
        use tillpoint_core::tender::{CardRef, Tender};
        let m = |v| Money::new(v, Currency::EUR);
        SaleRecord {
            receipt_no: "T01-000007".into(),
            kind: SaleKind::Sale,
            cashier: 1,
            currency: Currency::EUR,
            completed_at_ms: 0,
            local_hour: 0,
            lines: vec![],
            tenders: vec![Tender::electronic(
                TenderKind::Card,
                m(500),
                CardRef::default(),
            )],
            tax: vec![],
            subtotal: m(500),
            discount: m(0),
            total: m(500),
            rounding: m(0),
            original_receipt: None,
            approved_by: None,
        }
    }

    fn job(kind: &str, copies: i64) -> PrintJob {
        PrintJob {
            id: 1,
            sale_id: Some(1),
            receipt_no: Some("T01-000007".into()),
            kind: kind.into(),
            copies,
            attempts: 0,
            last_error: None,
        }
    }

    #[test]
    fn a_job_prints_only_the_copies_still_missing() {
        use tillpoint_devices::printer::doc::{Block, PaperWidth};
        use tillpoint_devices::printer::layout::LayoutOptions;
        let i18n = I18n::load();
        let mut settings = ReceiptSettings {
            shop: Default::default(),
            till_id: "T01".into(),
            layout: LayoutOptions::new(PaperWidth::Mm58, Lang::En),
            customer_copies: 1,
        };
        let rec = card_record();
        let copies = |j: &PrintJob, s: &ReceiptSettings| -> Vec<(Copy, usize)> {
            plan_job(j, &rec, &i18n, s)
                .unwrap()
                .iter()
                .map(|p| {
                    let cuts = p
                        .doc
                        .blocks
                        .iter()
                        .filter(|b| matches!(b, Block::Cut { .. }))
                        .count();
                    (p.copy, cuts)
                })
                .collect()
        };
        let fresh = job(KIND_RECEIPT, 2);
        assert_eq!(
            copies(&fresh, &settings),
            vec![(Copy::Merchant, 1), (Copy::Customer, 1)]
        );
        let half = job(KIND_RECEIPT, 1);
        assert_eq!(copies(&half, &settings), vec![(Copy::Customer, 1)]);
        settings.customer_copies = 2;
        assert_eq!(
            copies(&fresh, &settings),
            vec![(Copy::Merchant, 1), (Copy::Customer, 2)]
        );
        let reprint = job(KIND_REPRINT, 1);
        let plan = plan_job(&reprint, &rec, &i18n, &settings).unwrap();
        assert_eq!(plan.len(), 1);
        let text = tillpoint_devices::printer::layout::document_text(&plan[0].doc);
        assert!(text.contains("*** REPRINT ***"), "{text}");
        assert!(plan_job(&job("label", 1), &rec, &i18n, &settings).is_err());
        // A damaged copy count never panics.
        assert_eq!(copies(&job(KIND_RECEIPT, -3), &settings).len(), 1);
    }

    #[test]
    fn queue_message_names_the_problem_and_the_count() {
        let i = I18n::load();
        let s = QueueStatus {
            queued: 2,
            oldest: Some("T01-000001".into()),
            problem: Some(PrintProblem::PaperOut),
            detail: Some("printer not ready: paper out".into()),
            attempts: 1,
        };
        assert_eq!(
            s.message(&i, Lang::En).unwrap(),
            "Receipts waiting to print: 2. The printer is out of paper: load a new roll. They print by themselves once the printer is ready."
        );
        assert_eq!(
            s.message(&i, Lang::Zh).unwrap(),
            "待打印小票：2 张。打印机缺纸：请装入新纸卷。打印机就绪后会自动打印。"
        );
        assert_eq!(QueueStatus::default().message(&i, Lang::En), None);
    }
}

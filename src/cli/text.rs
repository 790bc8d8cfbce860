//! Plain-text renderings for the terminal: reports and sales export.

use std::fmt::Write;
use tillpoint_app::till::Clock;
use tillpoint_core::money::{Currency, Money};
use tillpoint_core::report::Report;
use tillpoint_core::sale::SaleRecord;
use tillpoint_core::tender::TenderKind;

fn m(v: i64, c: Currency) -> String {
    Money::new(v, c).to_string()
}

/// An X or Z report as the terminal (and a plain printer) shows it.
pub fn report(r: &Report, clock: &Clock, reprint: bool) -> String {
    let t = &r.totals;
    let c = t.currency;
    let mut s = String::new();
    let title = match r.z_number {
        Some(n) => format!("Z REPORT #{n}{}", if reprint { " (COPY)" } else { "" }),
        None => "X REPORT (period so far)".to_string(),
    };
    let _ = writeln!(s, "{title}");
    let _ = writeln!(
        s,
        "from {} to {}",
        clock.format(r.opened_at_ms),
        clock.format(r.closed_at_ms)
    );
    if let Some(head) = &r.chain_head {
        // Keep it: `tillpoint check --anchor` proves the journal still holds it.
        let _ = writeln!(s, "journal anchor {head}");
    }
    if let Some(by) = r.approved_by {
        let _ = writeln!(s, "approved by {by}");
    }
    let _ = writeln!(s, "{:<24}{:>6}{:>14}", "", "count", c.code());
    let row = |s: &mut String, label: &str, n: i64, v: i64| {
        let _ = writeln!(s, "{label:<24}{n:>6}{:>14}", m(v, c));
    };
    row(&mut s, "Sales", t.sales.count, t.sales.amount);
    row(&mut s, "Refunds", t.refunds.count, t.refunds.amount);
    row(
        &mut s,
        "Post-voids",
        t.post_voids.count,
        t.post_voids.amount,
    );
    let _ = writeln!(s, "{:<24}{:>6}{:>14}", "Net takings", "", m(t.net(), c));
    let _ = writeln!(
        s,
        "{:<24}{:>6}{:>14}",
        "Discounts given",
        "",
        m(t.discounts, c)
    );
    let _ = writeln!(s, "{:<24}{:>6}", "Voided lines", t.line_voids);
    let _ = writeln!(
        s,
        "{:<24}{:>6}{:>14}",
        "Cash rounding",
        "",
        m(t.rounding, c)
    );
    let _ = writeln!(s, "-- per tender --");
    for (kind, tt) in &t.tenders {
        row(
            &mut s,
            &format!("{} sales", kind.as_str()),
            tt.sales.count,
            tt.sales.amount,
        );
        row(
            &mut s,
            &format!("{} refunds", kind.as_str()),
            tt.refunds.count,
            tt.refunds.amount,
        );
    }
    let _ = writeln!(s, "-- per tax rate --");
    let _ = writeln!(s, "{:<12}{:>12}{:>12}{:>12}", "rate", "net", "tax", "gross");
    for (class, tx) in &t.tax {
        let _ = writeln!(
            s,
            "{:<12}{:>12}{:>12}{:>12}",
            format!("{class} {}", tx.name),
            m(tx.net, c),
            m(tx.tax, c),
            m(tx.gross, c)
        );
    }
    let _ = writeln!(s, "-- drawer --");
    let _ = writeln!(
        s,
        "{:<24}{:>6}{:>14}",
        "Opening float",
        "",
        m(t.opening_float, c)
    );
    row(&mut s, "Cash in", t.cash_in.count, t.cash_in.amount);
    row(&mut s, "Cash out", t.cash_out.count, t.cash_out.amount);
    let _ = writeln!(s, "{:<24}{:>6}", "No-sale openings", t.no_sales);
    let _ = writeln!(
        s,
        "{:<24}{:>6}{:>14}",
        "Cash expected",
        "",
        m(t.cash_expected(), c)
    );
    s
}

/// CSV header of the sales export.
pub const EXPORT_HEADER: [&str; 15] = [
    "receipt_no",
    "kind",
    "completed_at",
    "cashier",
    "currency",
    "subtotal",
    "discount",
    "tax",
    "total",
    "rounding",
    "cash",
    "card",
    "qr",
    "voided",
    "original_receipt",
];

/// One export row per sale or refund.
pub fn export_row(r: &SaleRecord, voided: bool, clock: &Clock) -> Vec<String> {
    let c = r.currency;
    let by = |k: TenderKind| {
        r.tenders
            .iter()
            .filter(|t| t.kind == k)
            .map(|t| t.amount.minor)
            .sum::<i64>()
    };
    let tax: i64 = r.tax.iter().map(|t| t.tax.minor).sum();
    vec![
        r.receipt_no.clone(),
        r.kind.as_str().into(),
        clock.format(r.completed_at_ms),
        r.cashier.to_string(),
        c.code().into(),
        r.subtotal.to_string(),
        r.discount.to_string(),
        m(tax, c),
        r.total.to_string(),
        r.rounding.to_string(),
        m(by(TenderKind::Cash), c),
        m(by(TenderKind::Card), c),
        m(by(TenderKind::Qr), c),
        voided.to_string(),
        r.original_receipt.clone().unwrap_or_default(),
    ]
}

/// A rate as a percentage, e.g. 0.015 → "1.5%".
fn percent(rate: rust_decimal::Decimal) -> String {
    format!(
        "{}%",
        (rate * rust_decimal::Decimal::ONE_HUNDRED).normalize()
    )
}

fn batch_line(t: &tillpoint_app::service::BatchTotals, c: Currency) -> String {
    let amount = |v: u64| m(i64::try_from(v).unwrap_or(i64::MAX), c);
    format!(
        "{} debit(s) {}, {} credit(s) {}",
        t.debits_count,
        amount(t.debits_amount),
        t.credits_count,
        amount(t.credits_amount)
    )
}

/// Where the card money stands with the acquirer (`acquirer status`, and
/// the end of the Z report).
pub fn settlement(
    s: &tillpoint_app::service::SettlementStatus,
    clock: &Clock,
    c: Currency,
) -> String {
    use tillpoint_app::service::SettlementOutcomeRow as O;
    let mut out = String::new();
    let _ = writeln!(out, "-- settlement --");
    let _ = writeln!(
        out,
        "Open batch {:06}: {}",
        s.open_batch,
        batch_line(&s.open_totals, c)
    );
    let _ = writeln!(
        out,
        "{:<30}{:>8}",
        "Advices waiting for the host", s.advices_waiting
    );
    let _ = writeln!(
        out,
        "{:<30}{:>8}",
        "Reversals owed to the host", s.reversals_pending
    );
    let _ = writeln!(
        out,
        "{:<30}{:>8}",
        "Card refunds/voids to send", s.refunds_voids_waiting
    );
    if s.refunds_voids_refused > 0 {
        let _ = writeln!(
            out,
            "{:<30}{:>8}  (money NOT returned; see `acquirer status`)",
            "Card refunds/voids refused", s.refunds_voids_refused
        );
    }
    if s.advices_refused > 0 {
        let _ = writeln!(
            out,
            "{:<30}{:>8}  (see the outbox; call the acquirer)",
            "Advices refused by the host", s.advices_refused
        );
    }
    match &s.last {
        None => {
            let _ = writeln!(out, "Last settlement: none yet");
        }
        Some(l) => {
            let what = match l.outcome {
                O::Matched => "settled, totals match".to_string(),
                O::MatchedAfterUpload => format!(
                    "settled after uploading {} transaction(s), totals match",
                    l.uploaded
                ),
                O::Mismatch => "NOT settled: totals still differ after the batch upload".into(),
                O::Failed => format!(
                    "NOT settled: {}",
                    l.note.as_deref().unwrap_or("no answer from the acquirer")
                ),
            };
            let _ = writeln!(
                out,
                "Last settlement: batch {:06} at {}: {what}",
                l.batch,
                clock.format(l.at_ms)
            );
            let _ = writeln!(out, "  till: {}", batch_line(&l.till, c));
            if let Some(h) = &l.host {
                let _ = writeln!(out, "  host: {}", batch_line(h, c));
            }
        }
    }
    out
}

/// The card part of a closing note: merchant fees per scheme and the net
/// that reaches the shop's account, then the settlement status.
pub fn card_summary(
    s: &tillpoint_payment::acquirer::settlement::CardSummary,
    clock: &Clock,
) -> String {
    let f = &s.fees;
    let c = f.currency;
    let mut out = String::new();
    let _ = writeln!(out, "-- card fees (estimate at the configured rates) --");
    let _ = writeln!(
        out,
        "{:<12}{:>12}{:>12}{:>8}{:>10}{:>12}",
        "scheme", "sales", "refunds", "rate", "fee", "net"
    );
    for l in &f.schemes {
        let _ = writeln!(
            out,
            "{:<12}{:>12}{:>12}{:>8}{:>10}{:>12}",
            l.scheme,
            m(l.sales.amount, c),
            m(l.refunds.amount, c),
            percent(l.rate),
            m(l.fee, c),
            m(l.net, c)
        );
    }
    let _ = writeln!(out, "{:<30}{:>14}", "Card and QR takings", m(f.gross, c));
    let _ = writeln!(out, "{:<30}{:>14}", "Merchant fees", m(-f.fees, c));
    let _ = writeln!(
        out,
        "{:<30}{:>14}",
        "Net to the shop's account",
        m(f.net, c)
    );
    if !s.fees_configured {
        let _ = writeln!(
            out,
            "(no fee rates configured: set them in [acquirer.fees] of tillpoint.toml)"
        );
    }
    match &s.settlement {
        Some(st) => out.push_str(&settlement(st, clock, c)),
        None => {
            let _ = writeln!(
                out,
                "-- settlement --\nsettlement status unreadable (see the log)"
            );
        }
    }
    out
}

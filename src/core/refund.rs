//! Refunds against an original receipt: line by line, never more than was
//! paid, back to the tenders that paid.

use super::cashier::{require, Action, Approval, PermissionDenied, Target};
use super::catalog::Qty;
use super::money::{round_div, Money, MoneyError, Rounding};
use super::sale::{PricingRules, RecordLine, SaleKind, SaleRecord, Stamp};
use super::tax::TaxLine;
use super::tender::{Tender, TenderKind};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundError {
    #[error("receipt {0} is a refund itself and cannot be refunded")]
    NotASale(String),
    #[error("receipt {0} was voided")]
    Voided(String),
    #[error("receipt has no line {0}")]
    NoSuchLine(u32),
    #[error("line {line}: {asked} asked but only {left} left to refund")]
    TooMuch { line: u32, asked: Qty, left: Qty },
    #[error("nothing selected to refund")]
    Empty,
    #[error(transparent)]
    Permission(#[from] PermissionDenied),
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// What has already gone back on earlier refunds of the same receipt.
#[derive(Debug, Default, Clone)]
struct Already {
    qty: BTreeMap<u32, i64>,
    gross: BTreeMap<u32, i64>,
    tax: BTreeMap<u32, i64>,
    tender: BTreeMap<u32, i64>,
}

impl Already {
    fn from(prior: &[SaleRecord]) -> Already {
        let mut a = Already::default();
        for r in prior.iter().filter(|r| r.kind == SaleKind::Refund) {
            for l in &r.lines {
                if let Some(o) = l.refund_of {
                    *a.qty.entry(o).or_default() += -l.qty.milli();
                    *a.gross.entry(o).or_default() += -l.gross.minor;
                    *a.tax.entry(o).or_default() += -l.tax.minor;
                }
            }
            for t in &r.tenders {
                if let Some(o) = t.refund_of {
                    *a.tender.entry(o).or_default() += -t.amount.minor;
                }
            }
        }
        a
    }
}

/// What a refund is asked against: the original sale as stored, its earlier
/// refunds, and the lines and quantities the customer brings back.
#[derive(Debug, Clone, Copy)]
pub struct RefundRequest<'a> {
    pub original: &'a SaleRecord,
    /// A post-voided sale has already been given back in full.
    pub original_voided: bool,
    pub prior: &'a [SaleRecord],
    pub picks: &'a [(u32, Qty)],
}

impl RefundRequest<'_> {
    /// What a supervisor approves for this refund: the receipt and the
    /// lines and quantities asked for.
    pub fn target(&self) -> Target {
        Target::Refund {
            receipt: self.original.receipt_no.clone(),
            picks: self.picks.iter().map(|(l, q)| (*l, q.milli())).collect(),
        }
    }
}

/// How much of each original line is still refundable.
pub fn refundable(original: &SaleRecord, prior: &[SaleRecord]) -> Vec<(u32, Qty)> {
    let a = Already::from(prior);
    original
        .lines
        .iter()
        .filter(|l| !l.voided)
        .map(|l| {
            (
                l.line_no,
                Qty(l.qty.milli() - a.qty.get(&l.line_no).copied().unwrap_or(0)),
            )
        })
        .collect()
}

/// Builds the refund record for `picks` (original line, quantity to return).
///
/// A partial quantity gets its share of the line's gross and tax rounded half
/// up; the last unit of a line gets exactly what is left, so a line refunded
/// in several goes returns exactly what it cost. The total goes back to the
/// original tenders, electronic ones first (money returns to the card it came
/// from), each capped at what it paid minus earlier refunds. Cash given back
/// is rounded down to the cash increment: the customer never gets more than
/// they paid.
pub fn build_refund(
    req: &RefundRequest<'_>,
    rules: &PricingRules,
    cashier: u32,
    approval: &Approval,
    stamp: Stamp,
) -> Result<SaleRecord, RefundError> {
    require(approval, Action::Refund, &req.target())?;
    let RefundRequest {
        original,
        original_voided: voided,
        prior,
        picks,
    } = *req;
    if original.kind != SaleKind::Sale {
        return Err(RefundError::NotASale(original.receipt_no.clone()));
    }
    if voided {
        return Err(RefundError::Voided(original.receipt_no.clone()));
    }
    let already = Already::from(prior);
    let cur = original.currency;
    let mut lines = Vec::new();
    for (n, (line_no, qty)) in picks.iter().filter(|(_, q)| q.milli() > 0).enumerate() {
        let o = original
            .lines
            .iter()
            .find(|l| l.line_no == *line_no && !l.voided)
            .ok_or(RefundError::NoSuchLine(*line_no))?;
        let done_q = already.qty.get(line_no).copied().unwrap_or(0);
        let left = o.qty.milli() - done_q;
        if qty.milli() > left {
            return Err(RefundError::TooMuch {
                line: *line_no,
                asked: *qty,
                left: Qty(left),
            });
        }
        let left_gross = o.gross.minor - already.gross.get(line_no).copied().unwrap_or(0);
        let left_tax = o.tax.minor - already.tax.get(line_no).copied().unwrap_or(0);
        let (gross, tax) = if qty.milli() == left {
            (left_gross, left_tax)
        } else {
            let share = |v: i64| {
                round_div(
                    i128::from(v) * i128::from(qty.milli()),
                    i128::from(o.qty.milli()),
                    Rounding::HalfUp,
                )
            };
            (
                share(o.gross.minor).min(left_gross),
                share(o.tax.minor).min(left_tax),
            )
        };
        lines.push(RecordLine {
            line_no: n as u32 + 1,
            qty: Qty(-qty.milli()),
            before_discount: Money::new(-gross, cur),
            discount: Money::zero(cur),
            tax: Money::new(-tax, cur),
            gross: Money::new(-gross, cur),
            refund_of: Some(*line_no),
            override_by: None,
            voided: false,
            ..o.clone()
        });
    }
    if lines.is_empty() {
        return Err(RefundError::Empty);
    }
    let total: i64 = lines.iter().map(|l| -l.gross.minor).sum();
    let tax = refund_tax(original, &lines)?;
    let (tenders, rounding) = allocate_to_tenders(original, &already, total, rules);
    Ok(SaleRecord {
        receipt_no: stamp.receipt_no,
        kind: SaleKind::Refund,
        cashier,
        currency: cur,
        completed_at_ms: stamp.at_ms,
        local_hour: stamp.local_hour,
        lines,
        tenders,
        tax,
        subtotal: Money::new(-total, cur),
        discount: Money::zero(cur),
        total: Money::new(-total, cur),
        rounding: Money::new(rounding, cur),
        original_receipt: Some(original.receipt_no.clone()),
        approved_by: Some(approval.approver()),
    })
}

fn refund_tax(original: &SaleRecord, lines: &[RecordLine]) -> Result<Vec<TaxLine>, MoneyError> {
    let cur = original.currency;
    let mut out: Vec<TaxLine> = Vec::new();
    for l in lines {
        let Some(rate) = original.tax.iter().find(|t| t.class == l.tax_class) else {
            continue;
        };
        let entry = match out.iter_mut().position(|t| t.class == l.tax_class) {
            Some(i) => &mut out[i],
            None => {
                out.push(TaxLine {
                    net: Money::zero(cur),
                    tax: Money::zero(cur),
                    gross: Money::zero(cur),
                    ..rate.clone()
                });
                let i = out.len() - 1;
                &mut out[i]
            }
        };
        entry.gross = entry.gross.checked_add(l.gross)?;
        entry.tax = entry.tax.checked_add(l.tax)?;
        entry.net = entry.net.checked_add(l.gross.checked_sub(l.tax)?)?;
    }
    Ok(out)
}

fn allocate_to_tenders(
    original: &SaleRecord,
    already: &Already,
    total: i64,
    rules: &PricingRules,
) -> (Vec<Tender>, i64) {
    let cur = original.currency;
    let mut order: Vec<(u32, &Tender)> = original
        .tenders
        .iter()
        .enumerate()
        .map(|(i, t)| (i as u32, t))
        .collect();
    // Electronic first, then cash; stable within a kind.
    order.sort_by_key(|(i, t)| (t.kind == TenderKind::Cash, *i));
    let mut left = total;
    let mut tenders = Vec::new();
    let mut rounding = 0;
    for (i, t) in order {
        if left <= 0 {
            break;
        }
        let cap = t.amount.minor - already.tender.get(&i).copied().unwrap_or(0);
        let mut give = left.min(cap.max(0));
        if give <= 0 {
            continue;
        }
        left -= give;
        if t.kind == TenderKind::Cash {
            let rounded = Money::new(give, cur)
                .round_to_increment(rules.cash_increment, Rounding::Down)
                .minor;
            rounding -= give - rounded;
            give = rounded;
        }
        tenders.push(Tender {
            kind: t.kind,
            amount: Money::new(-give, cur),
            given: None,
            change: Money::zero(cur),
            card: t.card.clone(),
            refund_of: Some(i),
        });
    }
    // Anything the tenders cannot take (only possible through cash rounding of
    // the original) is kept as rounding, never paid out.
    rounding += left;
    (tenders, rounding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cashier::{approval_for_test, Cashier, Role, Target};
    use crate::catalog::{Product, Unit};
    use crate::money::Currency;
    use crate::sale::Sale;
    use crate::tax::{TaxMode, TaxRate, TaxRoundingLevel, TaxRules};
    use crate::tender::CardRef;
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    fn rules(inc: i64) -> PricingRules {
        PricingRules {
            currency: Currency::EUR,
            tax: TaxRules {
                mode: TaxMode::Exclusive,
                level: TaxRoundingLevel::PerReceipt,
                rounding: Rounding::HalfUp,
                rates: vec![
                    TaxRate {
                        class: "A".into(),
                        name: "Std".into(),
                        rate: Decimal::new(19, 2),
                    },
                    TaxRate {
                        class: "B".into(),
                        name: "Red".into(),
                        rate: Decimal::new(7, 2),
                    },
                ],
            },
            line_rounding: Rounding::HalfUp,
            cash_increment: inc,
            cash_rounding: Rounding::HalfUp,
        }
    }

    fn sup(req: &RefundRequest<'_>) -> Approval {
        approval_for_test(
            &Cashier {
                number: 2,
                name: "S".into(),
                role: Role::Supervisor,
            },
            Action::Refund,
            req.target(),
        )
        .unwrap()
    }

    fn st(n: u32) -> Stamp {
        Stamp {
            receipt_no: format!("R{n}"),
            at_ms: 0,
            local_hour: 0,
        }
    }

    fn p(sku: &str, price: i64, class: &str) -> Product {
        Product {
            sku: sku.into(),
            name: sku.into(),
            barcodes: vec![],
            price: Money::new(price, Currency::EUR),
            tax_class: class.into(),
            category: "c".into(),
            unit: Unit::Piece,
        }
    }

    fn req<'a>(
        o: &'a SaleRecord,
        prior: &'a [SaleRecord],
        picks: &'a [(u32, Qty)],
        voided: bool,
    ) -> RefundRequest<'a> {
        RefundRequest {
            original: o,
            original_voided: voided,
            prior,
            picks,
        }
    }

    fn paid_sale(r: &PricingRules) -> SaleRecord {
        let mut s = Sale::new(Currency::EUR, 1);
        s.add(&p("a", 333, "A"), Qty::pieces(3)).unwrap();
        s.add(&p("b", 150, "B"), Qty::pieces(1)).unwrap();
        let bal = s.balance(r).unwrap();
        s.pay_electronic(
            TenderKind::Card,
            Money::new(bal.minor / 2, Currency::EUR),
            CardRef::default(),
            r,
        )
        .unwrap();
        s.pay_cash(Money::new(10_000, Currency::EUR), r).unwrap();
        s.complete(r, st(0)).unwrap()
    }

    #[test]
    fn refund_in_parts_returns_exactly_the_line() {
        let r = rules(1);
        let orig = paid_sale(&r);
        let mut prior = Vec::new();
        for k in 1..=3 {
            let rf = build_refund(
                &req(&orig, &prior, &[(1, Qty::ONE)], false),
                &r,
                1,
                &sup(&req(&orig, &prior, &[(1, Qty::ONE)], false)),
                st(k),
            )
            .unwrap();
            prior.push(rf);
        }
        let back: i64 = prior.iter().map(|r| -r.total.minor).sum();
        assert_eq!(back, orig.lines[0].gross.minor);
        let err = build_refund(
            &req(&orig, &prior, &[(1, Qty::ONE)], false),
            &r,
            1,
            &sup(&req(&orig, &prior, &[(1, Qty::ONE)], false)),
            st(9),
        )
        .unwrap_err();
        assert!(matches!(err, RefundError::TooMuch { .. }));
    }

    #[test]
    fn refund_goes_to_card_first_and_needs_refund_approval() {
        let r = rules(1);
        let orig = paid_sale(&r);
        let rf = build_refund(
            &req(&orig, &[], &[(2, Qty::ONE)], false),
            &r,
            1,
            &sup(&req(&orig, &[], &[(2, Qty::ONE)], false)),
            st(1),
        )
        .unwrap();
        assert_eq!(rf.tenders.len(), 1);
        assert_eq!(rf.tenders[0].kind, TenderKind::Card);
        let wrong = approval_for_test(
            &Cashier {
                number: 2,
                name: "S".into(),
                role: Role::Supervisor,
            },
            Action::NoSale,
            Target::Till,
        )
        .unwrap();
        assert!(build_refund(
            &req(&orig, &[], &[(2, Qty::ONE)], false),
            &r,
            1,
            &wrong,
            st(1)
        )
        .is_err());
        assert!(matches!(
            build_refund(
                &req(&orig, &[], &[(2, Qty::ONE)], true),
                &r,
                1,
                &sup(&req(&orig, &[], &[(2, Qty::ONE)], true)),
                st(1)
            ),
            Err(RefundError::Voided(_))
        ));
    }

    proptest! {
        #[test]
        fn refunds_never_exceed_what_was_paid(
            steps in prop::collection::vec((1u32..=2, 1i64..=3), 1..10),
            inc in prop_oneof![Just(1i64), Just(5i64)],
        ) {
            let r = rules(inc);
            let orig = paid_sale(&r);
            let mut prior: Vec<SaleRecord> = Vec::new();
            for (i, (line, q)) in steps.iter().enumerate() {
                if let Ok(rf) = build_refund(&req(&orig, &prior, &[(*line, Qty::pieces(*q))], false), &r, 1, &sup(&req(&orig, &prior, &[(*line, Qty::pieces(*q))], false)), st(i as u32)) {
                    prior.push(rf);
                }
                let back: i64 = prior.iter().map(|r| -r.total.minor).sum();
                prop_assert!(back <= orig.total.minor);
                for (ti, t) in orig.tenders.iter().enumerate() {
                    let to_tender: i64 = prior.iter().flat_map(|r| &r.tenders)
                        .filter(|x| x.refund_of == Some(ti as u32)).map(|x| -x.amount.minor).sum();
                    prop_assert!(to_tender <= t.amount.minor);
                }
                for l in &orig.lines {
                    let q: i64 = prior.iter().flat_map(|r| &r.lines)
                        .filter(|x| x.refund_of == Some(l.line_no)).map(|x| -x.qty.milli()).sum();
                    prop_assert!(q <= l.qty.milli());
                }
            }
        }
    }
}

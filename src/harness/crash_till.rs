//! `tillpoint-harness crash-till`: rings offline and online card sales
//! through the real sale store and acquirer session, then forwards the
//! outbox, printing each step once it is durable, so the acquirer crash
//! test can kill it anywhere and check that what it printed is true.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::anyhow;
use rand::Rng;
use tillpoint_app::till::Till;
use tillpoint_core::cashier::{Action, Approval, Cashier, Role, Target};
use tillpoint_core::catalog::{Product, Qty, Unit};
use tillpoint_core::money::Money;
use tillpoint_core::sale::{PricingRules, Sale};
use tillpoint_core::tender::{CardEntry, CardRef, Cvm, TenderKind};
use tillpoint_payment::acquirer::config::AcquirerConfig;
use tillpoint_payment::acquirer::till_store::{offline_link, online_link};
use tillpoint_payment::acquirer::{OfflineSale, OnlineRequest};
use tillpoint_payment::iso8583::messages::{CardInput, EntryMode, PinData, TxnKind};
use tillpoint_sim::acquirer::{test_pin_block, EmvIssuer};
use tillpoint_store::cashiers::Login;

/// The virtual card that approves offline (TC) and the one that goes online.
const OFFLINE_PAN: &str = "4761739001010119";
const ONLINE_PAN: &str = "4761739001010010";

fn card_sale(rules: &PricingRules, amount: u64, card: CardRef) -> anyhow::Result<Sale> {
    let cur = rules.currency;
    let tax_class = rules
        .tax
        .rates
        .first()
        .map(|r| r.class.clone())
        .ok_or_else(|| anyhow!("no tax rate configured"))?;
    let product = Product {
        sku: "CRASH".into(),
        name: "crash test item".into(),
        barcodes: vec![],
        price: Money::new(i64::try_from(amount)?, cur),
        tax_class,
        category: "test".into(),
        unit: Unit::Piece,
    };
    let mut sale = Sale::new(cur, 1001);
    sale.add(&product, Qty::ONE)?;
    let due = sale.balance(rules)?;
    sale.pay_electronic(TenderKind::Card, due, card, rules)?;
    Ok(sale)
}

/// Receipts of card sales with neither a post-void nor a refund.
/// The crash test supervisor's approval, by PIN like any other (the test
/// till gets that supervisor on its first return).
fn approve(
    store: &mut tillpoint_store::Store,
    action: Action,
    target: Target,
    now: i64,
) -> anyhow::Result<Approval> {
    const NUMBER: u32 = 9001;
    const PIN: &str = "900190";
    if store.cashiers()?.is_empty() {
        let supervisor = Cashier {
            number: NUMBER,
            name: "crash test supervisor".into(),
            role: Role::Supervisor,
        };
        store.seed_cashiers(&[(supervisor, PIN)], now)?;
    }
    match store.login(NUMBER, PIN, now)? {
        Login::Welcome(v) => Ok(v.approve(action, target)?),
        other => anyhow::bail!("the crash test supervisor's PIN: {other:?}"),
    }
}

fn returnable_card_sales(store: &tillpoint_store::Store) -> anyhow::Result<Vec<String>> {
    let all = store.sales_between(0, i64::MAX)?;
    let refunded: std::collections::HashSet<&str> = all
        .iter()
        .filter_map(|(r, _)| r.original_receipt.as_deref())
        .collect();
    Ok(all
        .iter()
        .filter(|(r, voided)| {
            !voided
                && r.kind == tillpoint_core::sale::SaleKind::Sale
                && !refunded.contains(r.receipt_no.as_str())
                && r.tenders.iter().any(|t| t.kind == TenderKind::Card)
        })
        .map(|(r, _)| r.receipt_no.clone())
        .collect())
}

/// The hidden crash-test till: every line it prints is true on disk when
/// printed.
pub fn crash_till(
    till: &mut Till,
    cfg: &AcquirerConfig,
    [offline, online, returns]: [u32; 3],
) -> anyhow::Result<ExitCode> {
    let mut session = cfg
        .open_session(
            &till.paths.database(),
            till.data_dir(),
            till.config.till.currency,
        )
        .map_err(|e| anyhow!(e))?;
    let rules = till.config.pricing.clone();
    let issuer = EmvIssuer::test_cards();
    let mut rng = rand::thread_rng();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    for _ in 0..offline {
        let amount = rng.gen_range(100..9_000u64);
        let atc: u16 = rng.gen_range(1..u16::MAX);
        let (item, capture) = session.prepare_offline(&OfflineSale {
            kind: TxnKind::Purchase,
            amount,
            card: CardInput {
                pan: OFFLINE_PAN.into(),
                expiry: Some("3012".into()),
                sequence: Some("001".into()),
                track2: None,
                entry: EntryMode::Chip,
                icc: issuer.tc_for(OFFLINE_PAN, amount, atc),
                pin: None,
            },
            auth_code: "Y1".into(),
        })?;
        let card = CardRef {
            masked_pan: item.masked_pan.clone(),
            scheme: "Visa".into(),
            app_label: "VISA ELECTRON".into(),
            auth_code: item.auth_code.clone(),
            stan: item.stan.to_string(),
            offline: true,
            ..CardRef::new(CardEntry::Chip, Cvm::None)
        };
        let sale = card_sale(&rules, amount, card)?;
        let now = till.clock.now_ms();
        let link = offline_link(0, &item, &capture)?;
        let done = till.store.complete_card_sale(
            &sale,
            &rules,
            now,
            till.clock.local_hour(now),
            &[link],
        )?;
        writeln!(out, "sold {} offline {}", done.record.receipt_no, item.stan)?;
        out.flush()?;
    }
    for i in 0..online {
        // Amounts the test-card rules approve (not ending in 05, 51, 91).
        let amount = rng.gen_range(10..900u64) * 10 + 2;
        let atc: u16 = rng.gen_range(1..u16::MAX);
        let (block, ksn) =
            test_pin_block("1234", ONLINE_PAN, 1 + i).ok_or_else(|| anyhow!("PIN block"))?;
        let request = OnlineRequest::Purchase {
            amount,
            card: CardInput {
                pan: ONLINE_PAN.into(),
                expiry: Some("3012".into()),
                sequence: Some("001".into()),
                track2: None,
                entry: EntryMode::Chip,
                icc: issuer.icc_for(ONLINE_PAN, amount, atc),
                pin: Some(PinData { block, ksn }),
            },
        };
        let auth = match session.authorize(&request) {
            Ok(a) => a,
            Err(e) => {
                writeln!(out, "unanswered {e}")?;
                out.flush()?;
                continue;
            }
        };
        let Some(link) = online_link(0, &auth)? else {
            writeln!(out, "declined {}", auth.reply.response_code)?;
            out.flush()?;
            continue;
        };
        let card = CardRef {
            masked_pan: tillpoint_core::tender::mask_pan(ONLINE_PAN),
            scheme: "Visa".into(),
            app_label: "VISA CREDIT".into(),
            auth_code: auth.reply.auth_code.clone().unwrap_or_default(),
            rrn: auth.reply.rrn.clone().unwrap_or_default(),
            stan: auth.request.stan.to_string(),
            ..CardRef::new(CardEntry::Chip, Cvm::Pin)
        };
        let sale = card_sale(&rules, amount, card)?;
        let now = till.clock.now_ms();
        let done = till.store.complete_card_sale(
            &sale,
            &rules,
            now,
            till.clock.local_hour(now),
            &[link],
        )?;
        writeln!(
            out,
            "sold {} online {}",
            done.record.receipt_no, auth.request.stan
        )?;
        out.flush()?;
    }
    for _ in 0..returns {
        let candidates = returnable_card_sales(&till.store)?;
        let Some(receipt) = candidates.get(rng.gen_range(0..candidates.len().max(1))) else {
            break;
        };
        let now = till.clock.now_ms();
        if rng.gen_bool(0.5) {
            let approval = approve(
                &mut till.store,
                Action::PostVoid,
                Target::Receipt(receipt.clone()),
                now,
            )?;
            till.store.post_void(receipt, &approval, now)?;
            writeln!(out, "returned {receipt} void")?;
        } else {
            let target = Target::Refund {
                receipt: receipt.clone(),
                picks: vec![(1, Qty::ONE.milli())],
            };
            let approval = approve(&mut till.store, Action::Refund, target, now)?;
            till.store.complete_refund(
                receipt,
                &[(1, Qty::ONE)],
                &rules,
                1001,
                &approval,
                now,
                till.clock.local_hour(now),
            )?;
            writeln!(out, "returned {receipt} refund")?;
        }
        out.flush()?;
    }
    writeln!(out, "sync")?;
    out.flush()?;
    let t = Instant::now();
    let report = session.forward_pending(usize::MAX)?;
    writeln!(
        out,
        "synced {} {} {}",
        report.delivered,
        report.remaining,
        t.elapsed().as_micros()
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

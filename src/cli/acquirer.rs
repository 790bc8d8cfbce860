//! The acquirer commands: `tillpoint acquirer-sim` (the host simulator, a
//! separate process with its own ledger), `tillpoint acquirer ...` (the
//! till's side of the link: status, sync, settle, echo), the card figures
//! of the Z report, and a hidden till used by the acquirer crash test.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use rand::Rng;
use serde::Serialize;

use super::{text, Cli};
use crate::core::cashier::{authorize, Action, Cashier, Role};
use crate::core::catalog::{Product, Qty, Unit};
use crate::core::money::Money;
use crate::core::report::Report;
use crate::core::sale::{PricingRules, Sale};
use crate::core::tender::{CardRef, TenderKind};
use crate::payment::acquirer::config::{settle_and_record, AcquirerConfig, CardSummary};
use crate::payment::acquirer::sqlite::{offline_link, online_link, SqliteAcquirerStore};
use crate::payment::acquirer::{OfflineSale, OnlineRequest, Session};
use crate::payment::iso8583::messages::{CardInput, EntryMode, PinData, TxnKind};
use crate::sim::acquirer::{start_acquirer_sim, test_pin_block, EmvIssuer, Fault, SimConfig};
use crate::store::acquirer::SettlementOutcomeRow;
use crate::till::Till;

/// `tillpoint acquirer-sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Loopback address to listen on, e.g. 127.0.0.1:5000 (port 0 picks a
    /// free port); the bound address is printed on the first line.
    #[arg(long)]
    pub listen: SocketAddr,
    /// The simulator's ledger, an SQLite file (created if missing).
    #[arg(long)]
    pub db: PathBuf,
    /// Delay every answer by this many milliseconds.
    #[arg(long, default_value_t = 0)]
    pub delay_ms: u64,
    /// Inject a fault: no-answer, drop-after-read, garble or truncate; add
    /// ":N" to apply it to the next N requests only.
    #[arg(long)]
    pub fault: Option<String>,
}

/// `tillpoint acquirer ...`: the till's side of the acquirer link, for the
/// host in `[acquirer]`.
#[derive(Debug, Subcommand)]
pub enum AcquirerCmd {
    /// Where card money stands: the open batch, advices waiting for the
    /// host, reversals owed, the last settlement.
    Status {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Deliver the reversals owed, forward the waiting offline advices and
    /// send the card refunds and voids now (exit status 1 while any remain).
    Sync,
    /// Settle the open batch with the host; on a totals mismatch the batch
    /// is uploaded and settled again (exit status 1 unless settled).
    Settle,
    /// Check the link with an 0800 echo (exit status 1 without an answer).
    Echo,
    /// Test support: rings offline and online card sales through the real
    /// sale store and acquirer session, then forwards the outbox, printing
    /// each step once it is durable (used by the acquirer crash test).
    #[command(hide = true)]
    CrashTill {
        /// Offline (TC) card sales to ring first.
        #[arg(long, default_value_t = 3)]
        offline: u32,
        /// Online card sales to ring next.
        #[arg(long, default_value_t = 1)]
        online: u32,
        /// Then this many refunds or post-voids (at random) of earlier card
        /// sales that have neither.
        #[arg(long, default_value_t = 0)]
        returns: u32,
    },
}

/// Parses `kind[:count]`.
fn parse_fault(text: &str) -> anyhow::Result<(Fault, u32)> {
    let (name, count) = match text.split_once(':') {
        Some((n, c)) => (
            n,
            c.parse::<u32>()
                .ok()
                .filter(|c| *c > 0)
                .ok_or_else(|| anyhow!("--fault {text:?}: the count must be a positive number"))?,
        ),
        None => (text, u32::MAX),
    };
    let fault = match name {
        "no-answer" => Fault::NoAnswer,
        "drop-after-read" => Fault::DropAfterRead,
        "garble" => Fault::Garble,
        "truncate" => Fault::Truncate,
        other => bail!("--fault {other:?} is not no-answer, drop-after-read, garble or truncate"),
    };
    Ok((fault, count))
}

/// Runs the acquirer host simulator in the foreground.
pub fn acquirer_sim(args: &SimArgs) -> anyhow::Result<ExitCode> {
    if !args.listen.ip().is_loopback() {
        bail!(
            "refusing to listen on {}: the simulator approves test cards for anyone who connects; \
             use a loopback address such as 127.0.0.1:5000",
            args.listen
        );
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("TILLPOINT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .try_init();
    let cfg = SimConfig::new(
        args.listen,
        args.db.clone(),
        Arc::new(EmvIssuer::test_cards()),
    );
    cfg.faults.set_delay(Duration::from_millis(args.delay_ms));
    if let Some(f) = &args.fault {
        let (fault, count) = parse_fault(f)?;
        cfg.faults.set_fault(fault, count);
    }
    let handle = start_acquirer_sim(cfg)
        .with_context(|| format!("cannot start the simulator on {}", args.listen))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {}", handle.addr())?;
    writeln!(out, "ledger {}", args.db.display())?;
    out.flush()?;
    drop(out);
    handle.wait();
    Ok(ExitCode::SUCCESS)
}

fn config_of(till: &Till) -> AcquirerConfig {
    let mut warnings = Vec::new();
    let cfg = AcquirerConfig::load(&till.config, &mut warnings);
    for w in warnings {
        tracing::warn!("config: {w}");
        eprintln!("warning: {w}");
    }
    cfg
}

fn session_of(till: &Till, cfg: &AcquirerConfig) -> anyhow::Result<Session<SqliteAcquirerStore>> {
    cfg.open_session(
        &till.paths.database(),
        till.data_dir(),
        till.config.till.currency,
    )
    .map_err(|e| anyhow!(e))
}

/// Runs an `acquirer` subcommand.
pub fn acquirer(cli: &Cli, cmd: &AcquirerCmd) -> anyhow::Result<ExitCode> {
    let (mut till, _g) = super::open(cli)?;
    let cfg = config_of(&till);
    let currency = till.config.till.currency;
    match cmd {
        AcquirerCmd::Status { json } => {
            let status = till.store.settlement_status()?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                if !cfg.enabled() {
                    println!("no acquirer host configured ([acquirer] host)");
                } else {
                    println!("acquirer {} as terminal {}", cfg.host, cfg.tid);
                }
                print!("{}", text::settlement(&status, &till.clock, currency));
                if status.refunds_voids_refused > 0 {
                    let db = crate::store::acquirer::AcquirerDb::open(&till.paths.database())?;
                    println!(
                        "Refunds and voids the host refused (the customer's money did not move):"
                    );
                    for (at_ms, why) in db.refused_instructions()? {
                        println!("  {}  {why}", till.clock.format(at_ms));
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AcquirerCmd::Sync => {
            let mut session = session_of(&till, &cfg)?;
            let report = session.forward_pending(usize::MAX)?;
            println!(
                "{} advice(s), card refund(s) and void(s) delivered, {} refused, {} still waiting",
                report.delivered, report.refused, report.remaining
            );
            let reversals = session
                .store()
                .db()
                .pending_reversals()
                .map(|r| r.len())
                .unwrap_or(0);
            if reversals > 0 {
                println!("{reversals} reversal(s) still owed to the host");
            }
            if let Some(why) = &report.stopped {
                println!("stopped: {why}");
            }
            Ok(if report.remaining == 0 && reversals == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        AcquirerCmd::Settle => {
            let mut session = session_of(&till, &cfg)?;
            let row = settle_and_record(&mut session, till.clock.now_ms());
            drop(session);
            let status = till.store.settlement_status()?;
            print!("{}", text::settlement(&status, &till.clock, currency));
            Ok(match row.outcome {
                SettlementOutcomeRow::Matched | SettlementOutcomeRow::MatchedAfterUpload => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::FAILURE,
            })
        }
        AcquirerCmd::Echo => {
            let mut session = session_of(&till, &cfg)?;
            let t = Instant::now();
            if session.echo()? {
                println!("{} answered in {:?}", cfg.host, t.elapsed());
                Ok(ExitCode::SUCCESS)
            } else {
                println!("no answer from {}", cfg.host);
                Ok(ExitCode::FAILURE)
            }
        }
        AcquirerCmd::CrashTill {
            offline,
            online,
            returns,
        } => crash_till(&mut till, &cfg, [*offline, *online, *returns]),
    }
}

/// A report as `--json` prints it, with the card figures when there are any.
#[derive(Serialize)]
pub(super) struct ReportJson<'a> {
    #[serde(flatten)]
    pub report: &'a Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<&'a CardSummary>,
}

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
fn returnable_card_sales(store: &crate::store::Store) -> anyhow::Result<Vec<String>> {
    let all = store.sales_between(0, i64::MAX)?;
    let refunded: std::collections::HashSet<&str> = all
        .iter()
        .filter_map(|(r, _)| r.original_receipt.as_deref())
        .collect();
    Ok(all
        .iter()
        .filter(|(r, voided)| {
            !voided
                && r.kind == crate::core::sale::SaleKind::Sale
                && !refunded.contains(r.receipt_no.as_str())
                && r.tenders.iter().any(|t| t.kind == TenderKind::Card)
        })
        .map(|(r, _)| r.receipt_no.clone())
        .collect())
}

/// The hidden crash-test till: every line it prints is true on disk when
/// printed.
fn crash_till(
    till: &mut Till,
    cfg: &AcquirerConfig,
    [offline, online, returns]: [u32; 3],
) -> anyhow::Result<ExitCode> {
    let mut session = session_of(till, cfg)?;
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
            entry_mode: "chip".into(),
            cvm: "none".into(),
            offline: true,
            ..CardRef::default()
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
            masked_pan: crate::core::tender::mask_pan(ONLINE_PAN),
            scheme: "Visa".into(),
            app_label: "VISA CREDIT".into(),
            auth_code: auth.reply.auth_code.clone().unwrap_or_default(),
            rrn: auth.reply.rrn.clone().unwrap_or_default(),
            stan: auth.request.stan.to_string(),
            entry_mode: "chip".into(),
            cvm: "pin".into(),
            ..CardRef::default()
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
    let supervisor = Cashier {
        number: 9001,
        name: "crash test supervisor".into(),
        role: Role::Supervisor,
    };
    for _ in 0..returns {
        let candidates = returnable_card_sales(&till.store)?;
        let Some(receipt) = candidates.get(rng.gen_range(0..candidates.len().max(1))) else {
            break;
        };
        let now = till.clock.now_ms();
        if rng.gen_bool(0.5) {
            till.store
                .post_void(receipt, &authorize(&supervisor, Action::PostVoid)?, now)?;
            writeln!(out, "returned {receipt} void")?;
        } else {
            till.store.complete_refund(
                receipt,
                &[(1, Qty::ONE)],
                &rules,
                1001,
                &authorize(&supervisor, Action::Refund)?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse() {
        assert_eq!(parse_fault("garble").unwrap(), (Fault::Garble, u32::MAX));
        assert_eq!(parse_fault("no-answer:3").unwrap(), (Fault::NoAnswer, 3));
        assert!(parse_fault("no-answer:0").is_err());
        assert!(parse_fault("explode").is_err());
    }
}

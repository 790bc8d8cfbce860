//! The acquirer commands: `tillpoint acquirer-sim` (the host simulator, a
//! separate process with its own ledger), `tillpoint acquirer ...` (the
//! till's side of the link: status, sync, settle, echo), and the card figures
//! of the Z report.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use serde::Serialize;

use super::{text, Cli};
use tillpoint_app::till::Till;
use tillpoint_core::report::Report;
use tillpoint_payment::acquirer::config::AcquirerConfig;
use tillpoint_payment::acquirer::settlement::{settle_and_record, CardSummary};
use tillpoint_payment::acquirer::till_store::SqliteAcquirerStore;
use tillpoint_payment::acquirer::Session;
use tillpoint_sim::acquirer::{start_acquirer_sim, EmvIssuer, Fault, SimConfig};
use tillpoint_store::acquirer::SettlementOutcomeRow;

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
            let status = till.store.settlement_status(
                tillpoint_payment::iso8583::profile::processing::SETTLEMENT_KINDS,
            )?;
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
                    let db = tillpoint_store::acquirer::AcquirerDb::open(&till.paths.database())?;
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
            let status = till.store.settlement_status(
                tillpoint_payment::iso8583::profile::processing::SETTLEMENT_KINDS,
            )?;
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

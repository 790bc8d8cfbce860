//! The acquirer commands: `tillpoint acquirer-sim` (the host simulator, a
//! separate process with its own ledger), `tillpoint acquirer ...` (the
//! till's side of the link: status, sync, settle, echo), and the card figures
//! of the Z report.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use serde::Serialize;

use super::{text, Cli};
use tillpoint_app::service::{LinkStatus, SettlementOutcomeRow};
use tillpoint_core::report::Report;
use tillpoint_payment::acquirer::settlement::CardSummary;
use tillpoint_sim::acquirer::{start_acquirer_sim, EmvIssuer, Fault, SimConfig};

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
    // One write, so that a caller which reads only the first line and then
    // closes the pipe has both lines already (a second write would fail on
    // the closed pipe and stop the simulator).
    let mut out = std::io::stdout().lock();
    out.write_all(
        format!(
            "listening on {}\nledger {}\n",
            handle.addr(),
            args.db.display()
        )
        .as_bytes(),
    )?;
    out.flush()?;
    drop(out);
    handle.wait();
    Ok(ExitCode::SUCCESS)
}

/// Runs an `acquirer` subcommand through the till's service.
pub fn acquirer(cli: &Cli, cmd: &AcquirerCmd) -> anyhow::Result<ExitCode> {
    let (service, _g) = super::open_service(cli)?;
    let (clock, currency) = service.with_till(|t| (t.clock, t.config.till.currency));
    let status = || -> anyhow::Result<LinkStatus> { service.link_status().map_err(|e| anyhow!(e)) };
    match cmd {
        AcquirerCmd::Status { json } => {
            let status = status()?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&status.settlement)?);
            } else {
                match &status.host {
                    None => println!("no acquirer host configured ([acquirer] host)"),
                    Some((host, tid)) => println!("acquirer {host} as terminal {tid}"),
                }
                print!("{}", text::settlement(&status.settlement, &clock, currency));
                if !status.refused.is_empty() {
                    println!(
                        "Refunds and voids the host refused (the customer's money did not move):"
                    );
                    for (at_ms, why) in &status.refused {
                        println!("  {}  {why}", clock.format(*at_ms));
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AcquirerCmd::Sync => {
            let run = service.forward_now().map_err(|e| anyhow!(e))?;
            let report = &run.report;
            println!(
                "{} advice(s), card refund(s) and void(s) delivered, {} refused, {} still waiting",
                report.delivered, report.refused, report.remaining
            );
            if run.reversals_owed > 0 {
                println!("{} reversal(s) still owed to the host", run.reversals_owed);
            }
            if let Some(why) = &report.stopped {
                println!("stopped: {why}");
            }
            Ok(if report.remaining == 0 && run.reversals_owed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        AcquirerCmd::Settle => {
            let row = service.settle_now().map_err(|e| anyhow!(e))?;
            print!(
                "{}",
                text::settlement(&status()?.settlement, &clock, currency)
            );
            Ok(match row.outcome {
                SettlementOutcomeRow::Matched | SettlementOutcomeRow::MatchedAfterUpload => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::FAILURE,
            })
        }
        AcquirerCmd::Echo => {
            let host = status()?.host.map(|(h, _)| h).unwrap_or_default();
            match service.echo().map_err(|e| anyhow!(e))? {
                Some(took) => {
                    println!("{host} answered in {took:?}");
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    println!("no answer from {host}");
                    Ok(ExitCode::FAILURE)
                }
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

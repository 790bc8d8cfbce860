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
use tillpoint_payment::acquirer::mac::MacAlgorithm;
use tillpoint_payment::acquirer::settlement::CardSummary;
use tillpoint_payment::acquirer::terminal_keys;
use tillpoint_payment::acquirer::wire::{CupsSettings, HostProfile};
use tillpoint_payment::pin::master_session;
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
    /// The host profile to speak: generic, or cups (TPDU and header, BCD,
    /// sign-on with working keys under the demo terminal master key, MACs).
    #[arg(long, default_value = "generic")]
    pub profile: String,
    /// Under cups: the MAC in field 64, ecb or x9.19.
    #[arg(long, default_value = "ecb")]
    pub mac: String,
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
    /// Load the terminal master key for the cups profile (a key ceremony):
    /// 32 hex digits on standard input, never on the command line; it is
    /// sealed in the data directory and the working keys made under the
    /// old one are dropped. The till then signs on by itself.
    LoadTmk {
        /// The key's check value as the key custodian read it (6 or 8 hex
        /// digits); the key is refused unless it matches.
        #[arg(long)]
        kcv: String,
    },
}

/// The host profile named on the simulator's command line.
fn sim_profile(args: &SimArgs) -> anyhow::Result<HostProfile> {
    let mac = MacAlgorithm::parse(&args.mac)
        .ok_or_else(|| anyhow!("--mac {:?} is not ecb or x9.19", args.mac))?;
    match args.profile.as_str() {
        "generic" => Ok(HostProfile::Generic),
        "cups" => Ok(HostProfile::Cups(CupsSettings {
            mac,
            ..CupsSettings::default()
        })),
        other => bail!("--profile {other:?} is not generic or cups"),
    }
}

/// Reads a TMK from standard input and stores it sealed in `data_dir` when
/// its check value matches `kcv`.
pub fn load_tmk(data_dir: &std::path::Path, kcv: &str) -> anyhow::Result<ExitCode> {
    let kcv = kcv.trim().to_ascii_uppercase();
    if !(6..=8).contains(&kcv.len()) || !kcv.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("--kcv must be 6 to 8 hex digits");
    }
    let line = zeroize::Zeroizing::new(super::read_line("terminal master key (32 hex digits)")?);
    let mut tmk = zeroize::Zeroizing::new([0u8; 16]);
    hex::decode_to_slice(line.trim(), &mut tmk[..])
        .map_err(|_| anyhow!("the terminal master key must be 32 hex digits"))?;
    let got = hex::encode_upper(master_session::check_value(&tmk));
    if !got.starts_with(&kcv) {
        bail!(
            "the key's check value is {}, not {kcv}: nothing was stored",
            &got[..kcv.len()]
        );
    }
    terminal_keys::store_tmk(data_dir, &tmk)
        .with_context(|| format!("storing the key in {}", data_dir.display()))?;
    println!("terminal master key {got} sealed in {}", data_dir.display());
    Ok(ExitCode::SUCCESS)
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
    let mut cfg = SimConfig::new(
        args.listen,
        args.db.clone(),
        Arc::new(EmvIssuer::test_cards()),
    );
    cfg.profile = sim_profile(args)?;
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
    if let AcquirerCmd::LoadTmk { kcv } = cmd {
        let paths = tillpoint_app::till::Paths::resolve(cli.config.clone(), cli.data_dir.clone())?;
        return load_tmk(&paths.data_dir, kcv);
    }
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
        AcquirerCmd::LoadTmk { .. } => Ok(ExitCode::SUCCESS),
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

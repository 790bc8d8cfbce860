//! `tillpoint-harness`: the test tills the crash and kill tests drive as
//! separate processes. It completes, refunds and voids sales with no
//! cashier at the keys, so it is never shipped: packages hold only the
//! `tillpoint` binary.
#![forbid(unsafe_code)]

mod crash_till;
mod qr_till;
mod sell_loop;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tillpoint_app::till::{Paths, Till, ENV_CONFIG, ENV_DATA_DIR};
use tillpoint_payment::acquirer::config::AcquirerConfig;

#[derive(Debug, Parser)]
#[command(
    name = "tillpoint-harness",
    about = "Test tills for the crash tests (never shipped)"
)]
struct Cli {
    /// Config file, as for `tillpoint`.
    #[arg(long, global = true, env = ENV_CONFIG)]
    config: Option<PathBuf>,
    /// Data directory, as for `tillpoint`.
    #[arg(long, global = true, env = ENV_DATA_DIR)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Completes cash sales of the demo shop in a loop, printing each
    /// receipt number once its commit has returned.
    SellLoop {
        #[arg(long, default_value_t = u64::MAX)]
        count: u64,
    },
    /// Rings offline and online card sales through the acquirer session in
    /// `[acquirer]`, then refunds or voids some and forwards the outbox.
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
    /// QR sales through the gateway in `[qr]`, both directions in turn,
    /// saying each step (shown, paid, recorded) on stdout; with
    /// `--count 0`, waits for the orders an earlier run left to be settled.
    QrTill {
        #[arg(long, default_value_t = u64::MAX)]
        count: u64,
        /// Milliseconds between a payment and its sale being recorded.
        #[arg(long, default_value_t = 0)]
        hold_ms: u64,
        /// With `--count 0`: seconds to wait for the settling.
        #[arg(long, default_value_t = 30)]
        settle_seconds: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut till = Till::open(Paths::resolve(cli.config, cli.data_dir)?)?;
    match cli.command {
        Command::QrTill {
            count,
            hold_ms,
            settle_seconds,
        } => qr_till::qr_till(
            till,
            &qr_till::QrLoop {
                count,
                hold: std::time::Duration::from_millis(hold_ms),
                settle: std::time::Duration::from_secs(settle_seconds),
            },
        ),
        Command::SellLoop { count } => sell_loop::sell_loop(&mut till, count),
        Command::CrashTill {
            offline,
            online,
            returns,
        } => {
            let mut warnings = Vec::new();
            let cfg = AcquirerConfig::load(&till.config, &mut warnings);
            for w in warnings {
                eprintln!("warning: {w}");
            }
            crash_till::crash_till(&mut till, &cfg, [offline, online, returns])
        }
    }
}

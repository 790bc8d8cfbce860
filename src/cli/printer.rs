//! `tillpoint printer-sim` (the ESC/POS printer emulator in the foreground) and
//! `tillpoint print` (prints the queued receipts once and says why any still wait).

use super::{open_service, Cli};
use anyhow::Context;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tillpoint_sim::printer::{run_printer_sim, Paper, SimState};

/// Runs the printer emulator until the process is stopped. Logs (paper running out,
/// render warnings, rejected input) go to standard error.
pub fn printer_sim(
    listen: SocketAddr,
    out: &Path,
    paper: &str,
    paper_out: bool,
    control: &Option<PathBuf>,
    fonts: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TILLPOINT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .try_init();
    let (paper, mm) = if paper == "58" {
        (Paper::Mm58, 58)
    } else {
        (Paper::Mm80, 80)
    };
    let mut state = SimState::new(paper, fonts).context("printer emulator fonts")?;
    state.control_file = control.clone();
    state.control.set_paper_out(paper_out);
    println!(
        "printer emulator: {mm} mm paper on {listen}, receipts to {}{}",
        out.display(),
        if paper_out { " (paper out)" } else { "" }
    );
    let _ = std::io::stdout().flush();
    run_printer_sim(listen, out, state)?;
    Ok(ExitCode::SUCCESS)
}

/// Drains the print queue once on the configured printer (after queueing a reprint if
/// asked), prints what happened, and exits with status 1 while receipts still wait.
pub fn print_queue(
    cli: &Cli,
    reprint: Option<&str>,
    status_only: bool,
) -> anyhow::Result<ExitCode> {
    let (service, _guard) = open_service(cli)?;
    let run = service
        .print_run(reprint, !status_only)
        .map_err(|e| anyhow::anyhow!(e))?;
    if let Some(no) = reprint {
        println!("reprint of {no} queued");
    }
    for no in &run.printed {
        println!("printed {no}");
    }
    for (no, why) in &run.skipped {
        println!("cannot print {no}: {why}");
    }
    if let Some(w) = &run.warning {
        println!("{w}");
    }
    match &run.waiting {
        None => {
            println!("print queue empty");
            Ok(ExitCode::SUCCESS)
        }
        Some(m) => {
            println!("{m}");
            if let Some(d) = &run.detail {
                println!("({d})");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

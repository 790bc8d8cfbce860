//! `tillpoint pinpad-sim`: the PIN pad simulator on a serial port or one end
//! of a pseudo-terminal pair.

use anyhow::anyhow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use tillpoint_sim::pinpad::{run_pinpad_sim, Fault, PinSource, SimOptions};

/// Runs the simulator until it is killed.
pub fn pinpad_sim(
    port: PathBuf,
    state: PathBuf,
    pins: Vec<String>,
    stdin: bool,
    faults: Vec<String>,
    baud: u32,
) -> anyhow::Result<ExitCode> {
    let mut opts = SimOptions::new(port, state);
    opts.baud_rate = baud;
    opts.pin_source = if stdin {
        PinSource::Stdin
    } else if pins.is_empty() {
        return Err(anyhow!(
            "give the PINs to enter with --pin (repeatable) or --stdin"
        ));
    } else {
        PinSource::Script(pins)
    };
    for f in &faults {
        let fault = Fault::from_str(f).map_err(|e| anyhow!("--fault {f}: {e}"))?;
        opts.faults.push(fault);
    }
    run_pinpad_sim(opts)?;
    Ok(ExitCode::SUCCESS)
}

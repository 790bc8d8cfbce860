//! The tillpoint binary: the command line, window start-up and the
//! simulators a user runs; the till itself lives in the member crates
//! (see README's architecture section). `tillpoint --help` lists commands.
#![forbid(unsafe_code)]

mod bench;
mod cli;
mod logging;

fn main() -> std::process::ExitCode {
    cli::main()
}

//! The tillpoint binary: the command line, window start-up and the
//! simulators a user runs; the till itself lives in the member crates
//! (see README's architecture section). `tillpoint --help` lists commands.
#![forbid(unsafe_code)]

mod bench;
mod cli;
mod logging;

fn main() -> std::process::ExitCode {
    // Whatever the till writes (logs rotated at midnight, receipts of the
    // demo printer, SQLite's side files) is private to its account, on top
    // of the modes set where the till creates its files.
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    cli::main()
}

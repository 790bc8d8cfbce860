//! Logs through `tracing`: human lines on stderr and a daily-rotated file in
//! the data directory, old files pruned. Nothing secret is ever logged: card
//! data reaches the log only masked (see DESIGN.md).

use std::path::Path;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::{fmt, prelude::*, EnvFilter};

/// Starts logging; keep the guard alive for as long as the program runs, or
/// the last lines of the file log are lost.
pub fn init(log_dir: &Path, level: &str, max_files: usize) -> Option<WorkerGuard> {
    let filter =
        || EnvFilter::try_from_env("TILLPOINT_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tillpoint_config::private::create_dir(log_dir);
    let file = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("tillpoint")
        .filename_suffix("log")
        .max_log_files(max_files.max(1))
        .build(log_dir);
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(filter());
    match file {
        Ok(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let file_layer = fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .with_filter(filter());
            let _ = tracing_subscriber::registry()
                .with(stderr)
                .with(file_layer)
                .try_init();
            Some(guard)
        }
        Err(e) => {
            let _ = tracing_subscriber::registry().with(stderr).try_init();
            tracing::warn!(
                "file logging is off: cannot write logs in {}: {e}",
                log_dir.display()
            );
            None
        }
    }
}

/// Logging on stderr only, for a server whose service manager keeps its
/// output (head office under systemd's journal).
pub fn init_stderr(level: &str) {
    let filter = EnvFilter::try_from_env("TILLPOINT_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(filter);
    let _ = tracing_subscriber::registry().with(stderr).try_init();
}

//! Structured logs with `tracing`, set up alike by every Confer binary: text for
//! people, JSON for collectors; `RUST_LOG` filters, or else the binary's default.

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// Log output format (`CONFER_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber, writing to stderr and filtering with `RUST_LOG`
/// or else `default_filter`. Safe to call more than once (later calls do nothing).
pub fn init(format: LogFormat, default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

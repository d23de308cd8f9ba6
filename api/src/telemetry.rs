//! Structured logs with `tracing`: text for people, JSON for collectors;
//! `RUST_LOG` filters (default `info`).

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// The api's filter when `RUST_LOG` is unset.
pub const API_LOG_FILTER: &str = "info,sqlx=warn,sea_orm=warn";

/// Installs the global subscriber (the api's and the worker's), filtering with
/// `RUST_LOG` or else `default_filter`. Safe to call more than once (later calls do
/// nothing).
pub fn init(format: LogFormat, default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

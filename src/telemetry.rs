//! Logging with `tracing`. Log lines carry request ids and route patterns, never names,
//! emails, tokens or query strings.

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LogFormat;

/// Installs the global subscriber once (later calls, e.g. from several tests, are ignored).
/// `RUST_LOG` picks the levels; the default is `info` for cpd-hub and `warn` for libraries.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,cpd_hub=info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

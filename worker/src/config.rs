//! The worker's settings: command-line flags, each also read from a `CONFER_*`
//! environment variable (the way the api and the media nodes are configured).

use std::time::Duration;

use clap::Parser;
pub use confer_api::config::LogFormat;

use crate::jobs::RetryPolicy;

/// Settings of the worker process.
#[derive(Debug, Clone, Parser)]
#[command(name = "confer-worker", version, about = "Confer background jobs from RabbitMQ")]
pub struct Config {
    /// RabbitMQ URL, vhost included (`%2f` is the default vhost `/`).
    #[arg(
        long,
        env = "CONFER_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        hide_env_values = true
    )]
    pub amqp_url: String,
    /// Deliveries a consumer holds unacknowledged at once (AMQP prefetch): its concurrency.
    #[arg(long, env = "CONFER_JOB_PREFETCH", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub job_prefetch: u16,
    /// Retries of a job that fails with a transient error before it is parked.
    #[arg(long, env = "CONFER_JOB_RETRIES", default_value_t = 5)]
    pub job_retries: u32,
    /// Delay before the first retry, milliseconds; each later retry waits twice as long.
    #[arg(long, env = "CONFER_JOB_RETRY_BASE_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub job_retry_base_ms: u64,
    /// How long in-flight jobs may run after SIGTERM before they are abandoned to redelivery, seconds.
    #[arg(long, env = "CONFER_SHUTDOWN_TIMEOUT_SECONDS", default_value_t = 30)]
    pub shutdown_timeout_seconds: u64,
    /// PostgreSQL (the api's database). With it the worker relays the api's outbox
    /// to RabbitMQ; without it, it only consumes.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Jobs the outbox relay publishes per transaction.
    #[arg(long, env = "CONFER_OUTBOX_BATCH", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub outbox_batch: u64,
    /// How long the relay waits when the outbox is empty, milliseconds.
    #[arg(long, env = "CONFER_OUTBOX_IDLE_MS", default_value_t = 200)]
    pub outbox_idle_ms: u64,
    /// `text` or `json`.
    #[arg(long, env = "CONFER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl Config {
    /// The retry ladder these settings describe.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::new(self.job_retries, Duration::from_millis(self.job_retry_base_ms))
    }

    /// The grace period of a shutdown.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_ones() {
        let config = Config::try_parse_from(["confer-worker"]).expect("defaults parse");
        assert_eq!(config.job_prefetch, 16);
        assert_eq!(config.retry_policy(), RetryPolicy::new(5, Duration::from_secs(1)));
        assert_eq!(config.log_format, LogFormat::Text);
    }

    #[test]
    fn a_prefetch_of_zero_is_refused() {
        assert!(Config::try_parse_from(["confer-worker", "--job-prefetch", "0"]).is_err());
    }
}

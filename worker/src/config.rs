//! The worker's settings: command-line flags, each also read from a `CONFER_*`
//! environment variable (the way the api and the media nodes are configured).

use std::time::Duration;

use clap::Parser;
pub use confer_telemetry::LogFormat;

use crate::jobs::{JobKind, RetryPolicies, RetryPolicy};

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
    /// The job kinds this worker consumes (comma-separated): several workers can
    /// share the kinds out. The outbox relay publishes every kind regardless.
    #[arg(
        long,
        env = "CONFER_WORKER_JOBS",
        value_delimiter = ',',
        default_value = "noop,check_domain,order_certificate"
    )]
    pub jobs: Vec<String>,
    /// Redis: where ACME HTTP-01 answers are left for the media nodes, and new
    /// certificates are announced to them.
    #[arg(long, env = "CONFER_REDIS_URL", default_value = "redis://127.0.0.1:6379", hide_env_values = true)]
    pub redis_url: String,
    /// The operator's master key (base64, 32 bytes), as the api has it: opens tenants'
    /// data keys to seal certificate keys, and seals the ACME account.
    #[arg(long, env = "CONFER_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// The DNS server custom domains are checked against (`ip:port`); default: the
    /// system's resolvers.
    #[arg(long, env = "CONFER_DNS_RESOLVER")]
    pub dns_resolver: Option<std::net::SocketAddr>,
    /// DNS rechecks of a new domain before it is `failed`.
    #[arg(long, env = "CONFER_DNS_RETRIES", default_value_t = 10)]
    pub dns_retries: u32,
    /// Delay before the first DNS recheck, milliseconds; each later one waits twice
    /// as long (the defaults recheck for about 8.5 hours).
    #[arg(long, env = "CONFER_DNS_RETRY_BASE_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub dns_retry_base_ms: u64,
    /// The ACME directory certificates are ordered from, e.g.
    /// `https://acme-v02.api.letsencrypt.org/directory`. Without it no certificate is
    /// ordered (verified domains wait in the queue).
    #[arg(long, env = "CONFER_ACME_DIRECTORY_URL")]
    pub acme_directory_url: Option<String>,
    /// PEM file of the root that signs the ACME server's own HTTPS certificate, when
    /// not a public one (Pebble's).
    #[arg(long, env = "CONFER_ACME_ROOT")]
    pub acme_root: Option<std::path::PathBuf>,
    /// Contact email given to the CA when the account is registered.
    #[arg(long, env = "CONFER_ACME_CONTACT")]
    pub acme_contact: Option<String>,
    /// Retries of a certificate order before the domain is `failed`.
    #[arg(long, env = "CONFER_ACME_RETRIES", default_value_t = 6)]
    pub acme_retries: u32,
    /// Delay before the first retry of an order, milliseconds; then doubling.
    #[arg(long, env = "CONFER_ACME_RETRY_BASE_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub acme_retry_base_ms: u64,
    /// How often certificates due for renewal are looked for, seconds.
    #[arg(long, env = "CONFER_RENEWAL_SCAN_SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub renewal_scan_seconds: u64,
    /// `text` or `json`.
    #[arg(long, env = "CONFER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl Config {
    /// The retry ladder these settings describe.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::new(self.job_retries, Duration::from_millis(self.job_retry_base_ms))
    }

    /// The ladder DNS checks retry by.
    pub fn dns_retry_policy(&self) -> RetryPolicy {
        RetryPolicy::new(self.dns_retries, Duration::from_millis(self.dns_retry_base_ms))
    }

    /// The ladder certificate orders retry by.
    pub fn acme_retry_policy(&self) -> RetryPolicy {
        RetryPolicy::new(self.acme_retries, Duration::from_millis(self.acme_retry_base_ms))
    }

    /// Every kind's ladder.
    pub fn retry_policies(&self) -> RetryPolicies {
        let kind = |k: &str| JobKind::parse(k).expect("the domain job kinds are valid kinds");
        RetryPolicies::new(self.retry_policy())
            .with(kind(crate::domains::CHECK_DOMAIN), self.dns_retry_policy())
            .with(kind(crate::domains::ORDER_CERTIFICATE), self.acme_retry_policy())
    }

    /// Whether this worker consumes `kind`.
    pub fn consumes(&self, kind: &str) -> bool {
        self.jobs.iter().any(|k| k.trim() == kind)
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
    fn every_kind_is_consumed_unless_told_otherwise() {
        let config = Config::try_parse_from(["confer-worker"]).expect("defaults parse");
        assert!(config.consumes("noop") && config.consumes("check_domain") && config.consumes("order_certificate"));
        let config = Config::try_parse_from(["confer-worker", "--jobs", "noop"]).expect("parses");
        assert!(config.consumes("noop") && !config.consumes("check_domain"));
        // The domain kinds' ladders are built from valid kinds.
        let _ = config.retry_policies();
    }

    #[test]
    fn a_prefetch_of_zero_is_refused() {
        assert!(Config::try_parse_from(["confer-worker", "--job-prefetch", "0"]).is_err());
    }
}

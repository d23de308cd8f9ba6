//! Configuration of `confer-api`: CLI flags with environment fallbacks (clap).
//! The README's configuration table lists the same names.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;

/// `confer-api`: the Confer control plane.
#[derive(Debug, Parser)]
#[command(name = "confer-api", version, about = "Confer control plane: tenants, users, meetings and the event store")]
pub struct Cli {
    /// What to do; `serve` when absent.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings shared by all commands.
    #[command(flatten)]
    pub config: ApiConfig,
}

/// The commands of `confer-api`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve the API (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Rebuild every read model from the event log, in one transaction.
    RebuildProjections,
    /// Create a tenant if its slug is free, and print it with a new admin API key as JSON.
    EnsureTenant {
        /// The tenant's slug.
        #[arg(long)]
        slug: String,
        /// Its display name.
        #[arg(long)]
        name: String,
        /// Its administrator's email.
        #[arg(long)]
        admin_email: String,
    },
}

pub use confer_telemetry::LogFormat;

/// Settings of the API process.
#[derive(Debug, Clone, Args)]
pub struct ApiConfig {
    /// PostgreSQL connection URL.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/confer")]
    pub database_url: String,
    /// Connections in the database pool.
    #[arg(long, env = "CONFER_DB_POOL_SIZE", default_value_t = 32)]
    pub db_pool_size: u32,
    /// Address the HTTP API listens on.
    #[arg(long, env = "CONFER_API_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Address of the Prometheus listener (`GET /metrics`), apart from the API's so
    /// that strangers do not read it. Unset: no metrics are served.
    #[arg(long, env = "CONFER_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// HTTP worker threads (0: one per core).
    #[arg(long, env = "CONFER_HTTP_WORKERS", default_value_t = 0)]
    pub http_workers: usize,
    /// Tenants' sites are `<scheme>://<slug>.<base-domain>`.
    #[arg(long, env = "CONFER_BASE_DOMAIN", default_value = "confer.localhost")]
    pub base_domain: String,
    /// Scheme of tenants' site URLs.
    #[arg(long, env = "CONFER_SITE_SCHEME", default_value = "https")]
    pub site_scheme: String,
    /// 32 bytes, base64: wraps each tenant's data key. Required to serve.
    #[arg(long, env = "CONFER_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// Largest accepted request body, bytes.
    #[arg(long, env = "CONFER_MAX_BODY_BYTES", default_value_t = 65_536)]
    pub max_body_bytes: usize,
    /// Signups allowed per client network (an IPv4 address, an IPv6 /64) per minute.
    #[arg(long, env = "CONFER_SIGNUPS_PER_MINUTE", default_value_t = 10)]
    pub signups_per_minute: u32,
    /// Requests allowed per API key per second (bursts to twice that).
    #[arg(long, env = "CONFER_API_REQUESTS_PER_SECOND", default_value_t = 100)]
    pub api_requests_per_second: u32,
    /// Requests allowed per tenant per second with any of its API keys together
    /// (bursts to twice that), so that minting keys does not multiply the budget.
    #[arg(long, env = "CONFER_TENANT_REQUESTS_PER_SECOND", default_value_t = 300)]
    pub tenant_requests_per_second: u32,
    /// Requests with an unknown key (or node credential) per client network per
    /// minute; over it, keys from that network are refused (429) before the database
    /// is asked.
    #[arg(long, env = "CONFER_INVALID_KEYS_PER_MINUTE", default_value_t = 30)]
    pub invalid_keys_per_minute: u32,
    /// Password hashes and checks (argon2id, tens of milliseconds of a core each)
    /// per tenant per second, bursting to twice that.
    #[arg(long, env = "CONFER_PASSWORD_HASHES_PER_SECOND", default_value_t = 10)]
    pub password_hashes_per_second: u32,
    /// API keys a tenant may hold (unrevoked).
    #[arg(long, env = "CONFER_MAX_API_KEYS_PER_TENANT", default_value_t = 50)]
    pub max_api_keys_per_tenant: u32,
    /// Requests allowed per media-node credential per second (bursts to twice that);
    /// counted apart from the tenant's own keys.
    #[arg(long, env = "CONFER_NODE_REQUESTS_PER_SECOND", default_value_t = 1000)]
    pub node_requests_per_second: u32,
    /// The platform token: what the front door (which starts tenants' nodes) sends
    /// to look sites up and mint node credentials. Unset: those endpoints answer 401.
    #[arg(long, env = "CONFER_PLATFORM_TOKEN", hide_env_values = true)]
    pub platform_token: Option<String>,
    /// Port added to tenants' site URLs (`<scheme>://<slug>.<base-domain>:<port>`), for
    /// a front door on a port other than the scheme's (the local setup).
    #[arg(long, env = "CONFER_SITE_PORT")]
    pub site_port: Option<u16>,
    /// How long a verified API key is trusted without asking the database, seconds
    /// (0: always ask). A key revoked through another API process stops working
    /// within this time; through this process, at once.
    #[arg(long, env = "CONFER_API_KEY_CACHE_SECONDS", default_value_t = 10)]
    pub api_key_cache_seconds: u64,
    /// `text` or `json`.
    #[arg(long, env = "CONFER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Custom domains a tenant may hold.
    #[arg(long, env = "CONFER_MAX_DOMAINS_PER_TENANT", default_value_t = 10)]
    pub max_domains_per_tenant: u32,
    /// How long a login on a tenant's site lasts (its session token's life), seconds.
    #[arg(long, env = "CONFER_SESSION_TTL_SECONDS", default_value_t = 43_200)]
    pub session_ttl_seconds: u64,
    /// Redis, where settings changes are announced to the tenant's media nodes.
    #[arg(long, env = "CONFER_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Special networks (comma-separated, `10.0.0.0/8` or one address) that tenants'
    /// directories and OpenID providers may be in. Unset: only globally routed
    /// addresses; loopback, private, link-local and unique-local ones are refused.
    #[arg(long, env = "CONFER_OUTBOUND_ALLOW", value_delimiter = ',')]
    pub outbound_allow: Vec<String>,
    /// More of the platform's own services (comma-separated `host:port`), never
    /// connected to on a tenant's behalf even in an allowed network; the database,
    /// Redis and this api's listener always are.
    #[arg(long, env = "CONFER_OUTBOUND_DENY", value_delimiter = ',')]
    pub outbound_deny: Vec<String>,
}

impl ApiConfig {
    /// The public URL of a tenant's site.
    pub fn site_url(&self, slug: &str) -> String {
        match self.site_port {
            Some(port) => format!("{}://{}.{}:{port}", self.site_scheme, slug, self.base_domain),
            None => format!("{}://{}.{}", self.site_scheme, slug, self.base_domain),
        }
    }
}

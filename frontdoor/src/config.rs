//! Configuration of `confer-frontdoor`: CLI flags with environment fallbacks (clap).
//! The README's table lists the same names.

use crate::nodes::local::CgroupMode;
use clap::{Parser, ValueEnum};
use confer_telemetry::LogFormat;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// How nodes are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriverKind {
    /// Child processes of the front door, in cgroups.
    Local,
}

/// `confer-frontdoor`: every tenant's site on one address; starts tenants' nodes.
#[derive(Debug, Clone, Parser)]
#[command(name = "confer-frontdoor", version)]
pub struct FrontDoorConfig {
    /// HTTP address of every site (port 0: any free port).
    #[arg(long, env = "CONFER_FRONTDOOR_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// HTTPS address (TLS passed through by SNI to the tenant's node); unset: none.
    #[arg(long, env = "CONFER_FRONTDOOR_TLS_LISTEN")]
    pub tls_listen: Option<SocketAddr>,
    /// The api.
    #[arg(long, env = "CONFER_API_URL", default_value = "http://127.0.0.1:8080")]
    pub api_url: String,
    /// The platform token the api was given (`CONFER_PLATFORM_TOKEN` of confer-api).
    #[arg(long, env = "CONFER_PLATFORM_TOKEN", hide_env_values = true)]
    pub platform_token: String,
    /// Redis: nodes' registry and leases.
    #[arg(long, env = "CONFER_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// How nodes are run.
    #[arg(long, env = "CONFER_NODE_DRIVER", value_enum, default_value_t = DriverKind::Local)]
    pub driver: DriverKind,
    /// The `confer-media` binary (default: beside this one).
    #[arg(long, env = "CONFER_MEDIA_BINARY")]
    pub media_binary: Option<PathBuf>,
    /// The address nodes' HTTP listeners bind.
    #[arg(long, env = "CONFER_NODE_LISTEN_IP", default_value = "127.0.0.1")]
    pub node_listen_ip: IpAddr,
    /// The address nodes' SFUs bind (their UDP ports come from the range).
    #[arg(long, env = "CONFER_NODE_UDP_IP", default_value = "127.0.0.1")]
    pub node_udp_ip: IpAddr,
    /// Nodes' UDP ports: `first-last`, one per node.
    #[arg(long, env = "CONFER_NODE_UDP_PORTS", default_value = "20000-20999")]
    pub node_udp_ports: String,
    /// A node with no room for this long is stopped, seconds.
    #[arg(long, env = "CONFER_NODE_IDLE_SECONDS", default_value_t = 300)]
    pub node_idle_seconds: u64,
    /// Each node's memory limit, MiB (the default plan).
    #[arg(long, env = "CONFER_NODE_MEMORY_MB", default_value_t = 256)]
    pub node_memory_mb: u64,
    /// Each node's CPU limit, percent of one core (the default plan).
    #[arg(long, env = "CONFER_NODE_CPU_PERCENT", default_value_t = 100)]
    pub node_cpu_percent: u32,
    /// Whether nodes run in cgroups with those limits.
    #[arg(long, env = "CONFER_NODE_CGROUPS", value_enum, default_value_t = CgroupMode::Auto)]
    pub node_cgroups: CgroupMode,
    /// How long a node may take to serve once started, seconds.
    #[arg(long, env = "CONFER_NODE_START_TIMEOUT_SECONDS", default_value_t = 20)]
    pub node_start_timeout_seconds: u64,
    /// The first restart's delay after a node died, milliseconds (doubling while it
    /// keeps dying, up to 30 s); its site answers 503 meanwhile.
    #[arg(long, env = "CONFER_NODE_RESTART_DELAY_MS", default_value_t = 500)]
    pub node_restart_delay_ms: u64,
    /// A tenant's node is started this long before a scheduled meeting, seconds.
    #[arg(long, env = "CONFER_NODE_START_AHEAD_SECONDS", default_value_t = 900)]
    pub node_start_ahead_seconds: u64,
    /// How often the api is asked for meetings about to start, seconds.
    #[arg(long, env = "CONFER_NODE_AHEAD_SCAN_SECONDS", default_value_t = 60)]
    pub node_ahead_scan_seconds: u64,
    /// A client must send its request head (or TLS ClientHello) within this, seconds.
    #[arg(long, env = "CONFER_FRONTDOOR_HEADER_TIMEOUT_SECONDS", default_value_t = 10)]
    pub header_timeout_seconds: u64,
    /// The largest request head, bytes (431 past it; at least 8192).
    #[arg(long, env = "CONFER_FRONTDOOR_MAX_HEADER_BYTES", default_value_t = 32 * 1024)]
    pub max_header_bytes: usize,
    /// `text` or `json`.
    #[arg(long, env = "CONFER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Settings passed on to every node when set for the front door (TURN, the
/// advertised address, HTTPS names, logging …).
pub const NODE_SETTINGS: &[&str] = &[
    "CONFER_TURN_URLS",
    "CONFER_TURN_SECRET",
    "CONFER_TURN_TTL_SECONDS",
    "CONFER_MEDIA_ADVERTISED_IP",
    "CONFER_MEDIA_UDP_GSO",
    "CONFER_BASE_DOMAIN",
    "CONFER_TLS_CERT",
    "CONFER_TLS_KEY",
    "CONFER_SITE_URL",
    "CONFER_PASSWORD_TRIES",
    "CONFER_PASSWORD_WINDOW_SECONDS",
    "CONFER_SETTINGS_POLL_SECONDS",
    "CONFER_CERTIFICATES_POLL_SECONDS",
    "CONFER_MAX_PARTICIPANTS",
    "CONFER_LOG_FORMAT",
    "RUST_LOG",
    "PATH",
    "HOME",
];

impl FrontDoorConfig {
    /// The UDP port range, parsed.
    pub fn udp_range(&self) -> anyhow::Result<(u16, u16)> {
        let (first, last) = self
            .node_udp_ports
            .split_once('-')
            .ok_or_else(|| anyhow::anyhow!("CONFER_NODE_UDP_PORTS must be `first-last`, e.g. 20000-20999"))?;
        let (first, last): (u16, u16) = (first.trim().parse()?, last.trim().parse()?);
        anyhow::ensure!(first > 0 && first <= last, "CONFER_NODE_UDP_PORTS: the first port must be 1..=last");
        Ok((first, last))
    }
}

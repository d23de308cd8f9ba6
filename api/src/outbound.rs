//! The api's outbound guard, from its configuration: the special networks the
//! operator lets tenants' directories and providers be in (`CONFER_OUTBOUND_ALLOW`),
//! and the platform's own services, never connected to on a tenant's behalf: the
//! database, Redis, this api's listener, and `CONFER_OUTBOUND_DENY`.

use crate::config::ApiConfig;
use anyhow::Context;
use confer_outbound::{OutboundGuard, OutboundHttp};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// Connecting to a provider, at most.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// One request to a provider, at most.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP client for tenants' providers, through the guard the configuration makes.
pub fn http_client(config: &ApiConfig) -> anyhow::Result<OutboundHttp> {
    Ok(OutboundHttp::new(
        Arc::new(guard(config)?),
        CONNECT_TIMEOUT,
        REQUEST_TIMEOUT,
        concat!("confer/", env!("CARGO_PKG_VERSION")),
    ))
}

/// The guard the configuration describes.
pub fn guard(config: &ApiConfig) -> anyhow::Result<OutboundGuard> {
    let allowed = config
        .outbound_allow
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .map(network)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut platform = vec![config.listen];
    platform.extend(service("DATABASE_URL", &config.database_url, 5432)?);
    if let Some(redis) = &config.redis_url {
        platform.extend(service("CONFER_REDIS_URL", redis, 6379)?);
    }
    for entry in config.outbound_deny.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        let addrs =
            entry.to_socket_addrs().with_context(|| format!("CONFER_OUTBOUND_DENY: {entry:?} is not host:port"))?;
        platform.extend(addrs);
    }
    tracing::info!(allowed = ?allowed, platform = ?platform, "outbound guard: special networks allowed, platform services refused");
    Ok(OutboundGuard::new(allowed, platform))
}

/// `10.0.0.0/8`, or one address (`127.0.0.1`).
fn network(text: &str) -> anyhow::Result<IpNet> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .with_context(|| format!("CONFER_OUTBOUND_ALLOW: {text:?} is not a network (10.0.0.0/8) or an address"))
}

/// The addresses of the service a URL names (its host and port, or `default_port`).
/// A URL without a host (a Unix socket) names no address.
fn service(setting: &str, url: &str, default_port: u16) -> anyhow::Result<Vec<SocketAddr>> {
    let parsed = url::Url::parse(url).with_context(|| format!("{setting} is not a URL"))?;
    let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else { return Ok(Vec::new()) };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = parsed.port().unwrap_or(default_port);
    // A name that does not resolve here is not a service we can be sent to by it.
    Ok((host, port).to_socket_addrs().map(Iterator::collect).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(args: &[&str]) -> ApiConfig {
        let mut argv = vec!["confer-api"];
        argv.extend_from_slice(args);
        crate::config::Cli::parse_from(argv).config
    }

    #[test]
    fn the_platforms_own_services_are_refused_even_in_an_allowed_network() {
        let config = config(&[
            "--outbound-allow",
            "127.0.0.0/8,::1",
            "--database-url",
            "postgres://postgres@localhost:5433/confer",
            "--redis-url",
            "redis://127.0.0.1:6380/",
            "--listen",
            "127.0.0.1:8081",
            "--outbound-deny",
            "127.0.0.1:5672",
        ]);
        let guard = guard(&config).unwrap();
        for own in ["127.0.0.1:5433", "127.0.0.1:6380", "127.0.0.1:8081", "127.0.0.1:5672"] {
            assert!(guard.check(own.parse().unwrap()).is_err(), "{own}");
        }
        assert!(guard.check("127.0.0.1:389".parse().unwrap()).is_ok());
        assert!(guard.check("[::1]:389".parse().unwrap()).is_ok());
        assert!(guard.check("10.0.0.1:389".parse().unwrap()).is_err());
    }

    #[test]
    fn a_bad_network_is_a_configuration_error() {
        assert!(guard(&config(&["--outbound-allow", "10.0.0.0/33"])).is_err());
        assert!(guard(&config(&["--outbound-deny", "nothing"])).is_err());
    }
}

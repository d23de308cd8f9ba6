//! Resolving a tenant's host and connecting to it through the guard.

use crate::{OutboundError, OutboundGuard};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpStream;

/// The address `host` is, when it is an IP literal (bracketed or not), not a name.
pub fn ip_literal(host: &str) -> Option<IpAddr> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    bare.parse().ok()
}

impl OutboundGuard {
    /// The addresses of `host` (a name or an IP literal, bracketed or not) at `port`
    /// that the guard passes, in the resolver's order. When it has addresses but the
    /// guard passes none, the refusal of the first.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, OutboundError> {
        let found: Vec<SocketAddr> = match ip_literal(host) {
            Some(ip) => vec![SocketAddr::new(ip, port)],
            None => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| OutboundError::Unresolvable { host: host.to_owned(), source: Some(e) })?
                .collect(),
        };
        let mut passed = Vec::with_capacity(found.len());
        let mut first_refusal = None;
        for addr in found {
            match self.check(addr) {
                Ok(()) => passed.push(addr),
                Err(refusal) => {
                    tracing::debug!(host, %addr, %refusal, "outbound guard: address refused");
                    first_refusal.get_or_insert(refusal);
                }
            }
        }
        match (passed.is_empty(), first_refusal) {
            (false, _) => Ok(passed),
            (true, Some(refusal)) => Err(OutboundError::Refused { host: host.to_owned(), refusal }),
            (true, None) => Err(OutboundError::Unresolvable { host: host.to_owned(), source: None }),
        }
    }
}

/// A TCP connection to `host:port` through `guard`: the name is resolved, and each
/// address the guard passes is tried in turn, all within `timeout`. The peer of the
/// connection made is checked once more (it is the address actually connected to).
pub async fn connect(
    guard: &OutboundGuard,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream, OutboundError> {
    let timed_out = || OutboundError::Timeout { host: host.to_owned(), secs: timeout.as_secs() };
    let attempt = async {
        let mut last = None;
        for addr in guard.resolve(host, port).await? {
            match TcpStream::connect(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        Err(OutboundError::Unreachable { host: host.to_owned(), source: last.map(|e| e.into()) })
    };
    let stream = tokio::time::timeout(timeout, attempt).await.map_err(|_| timed_out())??;
    let peer =
        stream.peer_addr().map_err(|e| OutboundError::Unreachable { host: host.to_owned(), source: Some(e.into()) })?;
    guard.check(peer).map_err(|refusal| OutboundError::Refused { host: host.to_owned(), refusal })?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_like_the_literal() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let guard = OutboundGuard::default();
        for host in ["localhost", "127.0.0.1", "[::1]"] {
            let e = connect(&guard, host, port, Duration::from_secs(2)).await.unwrap_err();
            assert!(e.is_refused(), "{host}: {e}");
        }
        let allowed = OutboundGuard::new(vec!["127.0.0.0/8".parse().unwrap()], vec![]);
        assert!(connect(&allowed, "127.0.0.1", port, Duration::from_secs(2)).await.is_ok());
        let own =
            OutboundGuard::new(vec!["127.0.0.0/8".parse().unwrap()], vec![SocketAddr::from(([127, 0, 0, 1], port))]);
        assert!(connect(&own, "127.0.0.1", port, Duration::from_secs(2)).await.unwrap_err().is_refused());
    }

    #[tokio::test]
    async fn a_closed_port_and_an_unknown_name_say_no_more_than_that() {
        let guard = OutboundGuard::new(vec!["127.0.0.0/8".parse().unwrap()], vec![]);
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = connect(&guard, "127.0.0.1", port, Duration::from_secs(2)).await.unwrap_err();
        assert_eq!(e.to_string(), "cannot connect to 127.0.0.1");
        assert!(e.detail().len() > e.to_string().len(), "the log gets the reason: {}", e.detail());
        let e = connect(&guard, "no-such-host.invalid", 389, Duration::from_secs(5)).await.unwrap_err();
        assert!(matches!(e, OutboundError::Unresolvable { .. }), "{e}");
    }
}

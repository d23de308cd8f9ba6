//! The address a request comes from: the peer's, or — when the peer is the front
//! door the node trusts (`CONFER_TRUSTED_PROXY`) — the one the front door forwarded
//! for. Wrong passwords are counted per client address, so behind the front door
//! the node must not take everyone for the front door, nor believe a client's own
//! `X-Forwarded-For`.

use actix_web::HttpRequest;
use std::net::IpAddr;

/// The proxy whose `X-Forwarded-For` the node believes, if any (app data).
#[derive(Debug, Clone, Copy, Default)]
pub struct TrustedProxy(pub Option<IpAddr>);

/// The client's address of `req`.
pub fn client_address(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip())?;
    let trusted = req.app_data::<TrustedProxy>().and_then(|t| t.0);
    if trusted != Some(peer) {
        return Some(peer);
    }
    req.headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        // The last entry is the one the trusted proxy wrote.
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse().ok())
        .or(Some(peer))
}

/// The network an address stands for when counting what one client does: an IPv4
/// address itself, an IPv6 address's /64 (what one subscriber is usually given, so
/// one client holds all of it).
pub fn network_of(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn only_the_trusted_proxy_is_believed() {
        let peer: std::net::SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let from_proxy = TestRequest::default()
            .peer_addr(peer)
            .insert_header(("x-forwarded-for", "203.0.113.7"))
            .app_data(TrustedProxy(Some(peer.ip())))
            .to_http_request();
        assert_eq!(client_address(&from_proxy), Some("203.0.113.7".parse().unwrap()));
        let untrusted =
            TestRequest::default().peer_addr(peer).insert_header(("x-forwarded-for", "203.0.113.7")).to_http_request();
        assert_eq!(client_address(&untrusted), Some(peer.ip()));
    }

    #[test]
    fn an_ipv6_client_counts_as_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(network_of(a), network_of(b));
        assert_eq!(network_of(a), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        assert_ne!(network_of(a), network_of(other));
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(network_of(v4), v4);
        assert_eq!(network_of("::ffff:203.0.113.7".parse().unwrap()), v4);
    }
}

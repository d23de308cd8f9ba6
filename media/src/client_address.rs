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

/// The network an address stands for when counting what one client does (shared
/// with the api, whose signups and unknown keys are counted the same way).
pub use confer_vocabulary::network_of;

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
}

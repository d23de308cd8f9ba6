//! The origin a request was made to (`scheme://host[:port]`), as the node can know
//! it: the `Host` the client sent and whether the connection is TLS. A client's
//! `X-Forwarded-Host` is never believed (it would let anyone choose where the
//! OpenID provider sends a login back); `X-Forwarded-Proto` only from the trusted
//! proxy (the front door, `CONFER_TRUSTED_PROXY`). A configured site URL
//! (`CONFER_SITE_URL`) wins over both.
//!
//! The signaling WebSocket takes only upgrades whose `Origin` is the site itself
//! ([`is_own_origin`]): a page elsewhere cannot open a socket that carries a
//! visitor's session cookie (cross-site WebSocket hijacking).

use crate::client_address::TrustedProxy;
use actix_web::HttpRequest;
use actix_web::http::header;

/// The configured site URL (`CONFER_SITE_URL`), as app data.
#[derive(Debug, Clone, Default)]
pub struct SiteUrl(pub Option<String>);

/// `scheme://host[:port]` of `req`, lower-cased; `None` without a `Host`.
pub fn request_origin(req: &HttpRequest) -> Option<String> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))?;
    let host = host.trim().to_ascii_lowercase();
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return None;
    }
    let peer = req.peer_addr().map(|a| a.ip());
    let trusted = req.app_data::<TrustedProxy>().and_then(|t| t.0);
    let forwarded_https = trusted.is_some()
        && trusted == peer
        && req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let scheme = if req.app_config().secure() || forwarded_https { "https" } else { "http" };
    Some(format!("{scheme}://{host}"))
}

/// The site's origin: the configured site URL's, else the request's.
pub fn site_origin(req: &HttpRequest, site_url: Option<&str>) -> Option<String> {
    match site_url {
        Some(url) => Some(origin_of(url)),
        None => request_origin(req),
    }
}

/// Whether a WebSocket upgrade comes from the site's own pages: its `Origin` is the
/// origin the request was made to, or the configured site URL's. Without `Origin`
/// the client is not a browser (which always sends it), and carries no visitor's
/// cookie it did not have anyway: let through.
pub fn is_own_origin(req: &HttpRequest, site_url: Option<&str>) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    let origin = origin.trim().to_ascii_lowercase();
    let same_host = request_origin(req).is_some_and(|own| {
        // The scheme may differ behind a proxy that ends TLS; the host may not.
        own.split_once("://").map(|(_, h)| h) == origin.split_once("://").map(|(_, h)| h)
    });
    same_host || site_url.is_some_and(|url| origin_of(url) == origin)
}

/// `scheme://host[:port]` of a URL (what it is before its path), lower-cased.
fn origin_of(url: &str) -> String {
    let url = url.trim().to_ascii_lowercase();
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or_default()),
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn a_clients_forwarded_host_and_proto_are_not_believed() {
        let peer: std::net::SocketAddr = "203.0.113.7:5000".parse().unwrap();
        let req = TestRequest::default()
            .peer_addr(peer)
            .insert_header(("host", "acme.confer.example"))
            .insert_header(("x-forwarded-host", "evil.example"))
            .insert_header(("x-forwarded-proto", "https"))
            .to_http_request();
        assert_eq!(request_origin(&req).as_deref(), Some("http://acme.confer.example"));
    }

    #[test]
    fn the_trusted_proxy_may_say_https_but_not_another_host() {
        let proxy: std::net::SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let req = TestRequest::default()
            .peer_addr(proxy)
            .app_data(TrustedProxy(Some(proxy.ip())))
            .insert_header(("host", "Acme.Confer.Example:8000"))
            .insert_header(("x-forwarded-host", "evil.example"))
            .insert_header(("x-forwarded-proto", "https"))
            .to_http_request();
        assert_eq!(request_origin(&req).as_deref(), Some("https://acme.confer.example:8000"));
    }

    #[test]
    fn only_the_sites_own_pages_open_the_socket() {
        let req = |origin: Option<&str>| {
            let mut r = TestRequest::default().insert_header(("host", "acme.confer.example"));
            if let Some(o) = origin {
                r = r.insert_header(("origin", o));
            }
            r.to_http_request()
        };
        assert!(is_own_origin(&req(Some("http://acme.confer.example")), None));
        assert!(is_own_origin(&req(Some("https://ACME.confer.example")), None));
        assert!(!is_own_origin(&req(Some("https://evil.example")), None));
        assert!(!is_own_origin(&req(Some("https://acme.confer.example.evil.example")), None));
        assert!(!is_own_origin(&req(Some("null")), None));
        assert!(is_own_origin(&req(None), None), "not a browser");
        assert!(is_own_origin(&req(Some("https://meet.acme.example")), Some("https://meet.acme.example/")));
    }
}

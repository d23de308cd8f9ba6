//! The HTTP listener: every tenant's site on one port. Each request's `Host` names
//! the site; the tenant's node serves it (started first if none runs), through
//! hyper's server and client (no hand-parsed HTTP). WebSocket upgrades are passed
//! through as a byte stream once the node agreed to them.
//!
//! A client that does not finish its headers within the header timeout is dropped;
//! headers larger than the limit get 431. Each connection is its own task, so a
//! slow one slows nobody else.

use crate::nodes::{NodeManager, Route, Unavailable};
use crate::pages::{Body, Page};
use crate::shutdown::Shutdown;
use crate::site_directory::SiteDirectory;
use crate::site_host::{BadHost, SiteHost};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// How the HTTP listener treats clients.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// A client must send its whole request head within this.
    pub header_timeout: Duration,
    /// The largest request head, bytes (431 past it).
    pub max_header_bytes: usize,
}

/// What routes a request: the directory of sites and the nodes.
pub struct FrontDoor {
    directory: SiteDirectory,
    nodes: Arc<NodeManager>,
    client: Client<HttpConnector, Incoming>,
    limits: HttpLimits,
}

/// Headers that belong to one hop, not passed on (RFC 9110 §7.6.1).
const HOP_BY_HOP: [header::HeaderName; 6] = [
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

impl FrontDoor {
    /// A front door routing with `directory` to `nodes`.
    pub fn new(directory: SiteDirectory, nodes: Arc<NodeManager>, limits: HttpLimits) -> Arc<Self> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(connector);
        Arc::new(Self { directory, nodes, client, limits })
    }

    /// The directory of sites.
    pub fn directory(&self) -> &SiteDirectory {
        &self.directory
    }

    /// The nodes.
    pub fn nodes(&self) -> &Arc<NodeManager> {
        &self.nodes
    }

    /// Where `host`'s requests go: its tenant's node, started if need be.
    pub async fn route(&self, host: &SiteHost) -> Result<(Route, String), Page> {
        let tenant = match self.directory.tenant_for(host).await {
            Ok(Some(tenant)) => tenant,
            Ok(None) => return Err(Page::unknown_site(host.as_str())),
            Err(e) => {
                tracing::warn!(%host, error = %e, "cannot look the site up");
                let failure = Unavailable::TryAgainLater;
                return Err(Page::unavailable(failure.to_string(), failure.retry_after()));
            }
        };
        match self.nodes.route(&tenant).await {
            Ok(route) => Ok((route, tenant.tenant_id)),
            Err(failure) => Err(Page::unavailable(failure.to_string(), failure.retry_after())),
        }
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let wants_json = wants_json(req.headers());
        let raw_host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| req.uri().authority().map(|a| a.to_string()))
            .unwrap_or_default();
        let host = match SiteHost::parse(&raw_host) {
            Ok(host) => host,
            Err(e) => {
                if !matches!(e, BadHost::Missing) {
                    tracing::debug!(host = %raw_host.chars().take(100).collect::<String>(), "refused a bad Host");
                }
                return Page::bad_host(&e.to_string()).into_response(wants_json);
            }
        };
        let (route, tenant_id) = match self.route(&host).await {
            Ok(found) => found,
            Err(page) => return page.into_response(wants_json),
        };
        match self.forward(req, &route, &host, peer).await {
            Ok(response) => response,
            Err(ForwardError::Unreachable(e)) => {
                tracing::warn!(%host, node = %route.node_id, error = %e, "the tenant's node cannot be reached");
                self.nodes.unreachable(&tenant_id, route.node_id).await;
                let how = "it does not answer".to_owned();
                let failure = Unavailable::Restarting { how, retry_after: Duration::from_secs(1) };
                Page::unavailable(failure.to_string(), failure.retry_after()).into_response(wants_json)
            }
            Err(ForwardError::Failed(e)) => {
                tracing::warn!(%host, node = %route.node_id, error = %e, "the tenant's node failed a request");
                Page::bad_gateway().into_response(wants_json)
            }
        }
    }

    async fn forward(
        &self,
        mut req: Request<Incoming>,
        route: &Route,
        host: &SiteHost,
        peer: SocketAddr,
    ) -> Result<Response<Body>, ForwardError> {
        let upgrade = wants_upgrade(req.headers());
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
        *req.uri_mut() = format!("http://{}{path}", route.http)
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| ForwardError::Failed(e.to_string()))?;
        let headers = req.headers_mut();
        if !upgrade {
            strip_hop_by_hop(headers);
        }
        // The front door is the edge: whatever the client said it forwarded for is replaced.
        let client = HeaderValue::from_str(&peer.ip().to_string()).map_err(|e| ForwardError::Failed(e.to_string()))?;
        headers.insert("x-forwarded-for", client);
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        if let Ok(value) = HeaderValue::from_str(host.as_str()) {
            headers.insert("x-forwarded-host", value);
        }
        if upgrade {
            return self.forward_upgrade(req, route).await;
        }
        let mut response = self.client.request(req).await.map_err(|e| {
            if e.is_connect() { ForwardError::Unreachable(e.to_string()) } else { ForwardError::Failed(e.to_string()) }
        })?;
        strip_hop_by_hop(response.headers_mut());
        Ok(response.map(|b| b.boxed()))
    }

    /// A WebSocket (or other) upgrade: the request goes over a connection of its
    /// own, and once the node answers 101 the two sides are joined byte for byte.
    async fn forward_upgrade(&self, mut req: Request<Incoming>, route: &Route) -> Result<Response<Body>, ForwardError> {
        let from_client = hyper::upgrade::on(&mut req);
        let stream = TcpStream::connect(route.http).await.map_err(|e| ForwardError::Unreachable(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ForwardError::Failed(e.to_string()))?;
        tokio::spawn(async move {
            if let Err(e) = connection.with_upgrades().await {
                tracing::debug!(error = %e, "an upgraded connection to a node ended");
            }
        });
        let mut response = sender.send_request(req).await.map_err(|e| ForwardError::Failed(e.to_string()))?;
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let from_node = hyper::upgrade::on(&mut response);
            tokio::spawn(async move {
                match tokio::join!(from_client, from_node) {
                    (Ok(client), Ok(node)) => {
                        let (mut client, mut node) = (TokioIo::new(client), TokioIo::new(node));
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut node).await;
                    }
                    (Err(e), _) | (_, Err(e)) => tracing::debug!(error = %e, "an upgrade did not complete"),
                }
            });
        }
        Ok(response.map(|b| b.boxed()))
    }
}

enum ForwardError {
    /// The node could not be connected to (it died, or is stopping).
    Unreachable(String),
    /// Anything else.
    Failed(String),
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json") && !accept.contains("text/html"))
}

fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|token| token.trim().eq_ignore_ascii_case("upgrade")))
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers the Connection header names are hop-by-hop too.
    let named: Vec<header::HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|t| t.trim().to_owned()).collect::<Vec<_>>())
        .filter_map(|t| header::HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove(header::UPGRADE);
}

/// Serves HTTP on `listener` until `shutdown` fires; each connection is a task.
pub async fn serve(listener: TcpListener, door: Arc<FrontDoor>, shutdown: Shutdown) {
    let limits = door.limits;
    crate::listener::accept_until(listener, shutdown, "http", move |stream, peer| {
        let door = door.clone();
        async move {
            let service = hyper::service::service_fn(move |req| {
                let door = door.clone();
                async move { Ok::<_, Infallible>(door.handle(req, peer).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_buf_size(limits.max_header_bytes.max(8192))
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "an HTTP connection ended with an error");
            }
        }
    })
    .await;
}

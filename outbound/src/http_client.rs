//! HTTP on a tenant's behalf (its OpenID provider; webhooks later), through the guard.

use crate::{OutboundError, OutboundGuard};
use reqwest::dns::{Name, Resolve, Resolving};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// The largest answer read (a discovery document, a JWKS, a token answer): a
/// provider cannot make the platform hold more than this per request.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// An HTTP client whose every request goes to an address the guard passed. It follows
/// no redirect, uses no proxy (a proxy from the environment would connect for us,
/// unchecked), bounds its waits and the size of what it reads.
#[derive(Debug, Clone)]
pub struct OutboundHttp {
    guard: Arc<OutboundGuard>,
    connect_timeout: Duration,
    timeout: Duration,
    user_agent: String,
}

/// Refuses every name: the client is only ever given names already resolved and
/// checked (`resolve_to_addrs`), so any other lookup is a mistake to stop.
struct NoLookups;

impl Resolve for NoLookups {
    fn resolve(&self, name: Name) -> Resolving {
        let name = name.as_str().to_owned();
        Box::pin(async move { Err(format!("{name} was not resolved by the outbound guard").into()) })
    }
}

impl OutboundHttp {
    /// A client through `guard`: `connect_timeout` to connect, `timeout` for a whole
    /// request (resolving, connecting, sending, reading the answer).
    pub fn new(guard: Arc<OutboundGuard>, connect_timeout: Duration, timeout: Duration, user_agent: &str) -> Self {
        Self { guard, connect_timeout, timeout, user_agent: user_agent.to_owned() }
    }

    /// The guard this client goes through.
    pub fn guard(&self) -> &OutboundGuard {
        &self.guard
    }

    /// Sends `request` and reads its answer (at most [`MAX_ANSWER_BYTES`]).
    pub async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OutboundError> {
        let url = Url::parse(&request.uri().to_string()).map_err(|e| OutboundError::Failed {
            host: request.uri().host().unwrap_or("?").to_owned(),
            source: e.into(),
        })?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let secs = self.timeout.as_secs();
        match tokio::time::timeout(self.timeout, self.exchange(&url, &host, request)).await {
            Ok(answer) => answer,
            Err(_) => Err(OutboundError::Timeout { host, secs }),
        }
    }

    async fn exchange(
        &self,
        url: &Url,
        host: &str,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, OutboundError> {
        let failed =
            |source: Box<dyn std::error::Error + Send + Sync>| OutboundError::Failed { host: host.to_owned(), source };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(failed(format!("the scheme {:?} is not HTTP", url.scheme()).into()));
        }
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs = self.guard.resolve(host, port).await?;
        let mut client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .user_agent(&self.user_agent)
            .dns_resolver(Arc::new(NoLookups));
        if crate::ip_literal(host).is_none() {
            client = client.resolve_to_addrs(host, &addrs);
        }
        let client = client.build().map_err(|e| failed(e.into()))?;
        let request = reqwest::Request::try_from(request).map_err(|e| failed(e.into()))?;
        let mut response = client.execute(request).await.map_err(|e| self.transport_error(host, e))?;
        if let Some(peer) = response.remote_addr() {
            self.connected_to(host, peer)?;
        }
        let too_large = || OutboundError::TooLarge { host: host.to_owned(), limit: MAX_ANSWER_BYTES };
        if response.content_length().is_some_and(|n| n > MAX_ANSWER_BYTES as u64) {
            return Err(too_large());
        }
        let mut answer = http::Response::builder().status(response.status()).version(response.version());
        for (name, value) in response.headers() {
            answer = answer.header(name, value);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport_error(host, e))? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        answer.body(body).map_err(|e| failed(e.into()))
    }

    fn connected_to(&self, host: &str, peer: SocketAddr) -> Result<(), OutboundError> {
        self.guard.check(peer).map_err(|refusal| OutboundError::Refused { host: host.to_owned(), refusal })
    }

    fn transport_error(&self, host: &str, e: reqwest::Error) -> OutboundError {
        let host = host.to_owned();
        if e.is_timeout() {
            OutboundError::Timeout { host, secs: self.timeout.as_secs() }
        } else if e.is_connect() {
            OutboundError::Unreachable { host, source: Some(e.into()) }
        } else {
            OutboundError::Failed { host, source: e.into() }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn get(url: &str) -> http::Request<Vec<u8>> {
        http::Request::get(url).body(Vec::new()).unwrap()
    }

    /// One HTTP server on loopback answering every request with `body`; counts connections.
    async fn server(body: Vec<u8>) -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = body.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = socket.read(&mut buf).await;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(&body).await;
                });
            }
        });
        (port, accepted)
    }

    fn client(guard: OutboundGuard) -> OutboundHttp {
        OutboundHttp::new(Arc::new(guard), Duration::from_secs(2), Duration::from_secs(5), "confer-test")
    }

    #[tokio::test]
    async fn loopback_is_not_contacted_unless_allowed() {
        let (port, accepted) = server(b"{}".to_vec()).await;
        let refused = client(OutboundGuard::default());
        for url in [
            format!("http://127.0.0.1:{port}/"),
            format!("http://localhost:{port}/x"),
            format!("http://[::ffff:127.0.0.1]:{port}/"),
        ] {
            let e = refused.send(get(&url)).await.unwrap_err();
            assert!(e.is_refused(), "{url}: {e}");
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0, "no connection was made");
        let allowed =
            client(OutboundGuard::new(vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()], vec![]));
        let answer = allowed.send(get(&format!("http://localhost:{port}/"))).await.unwrap();
        assert_eq!(answer.body(), b"{}");
    }

    #[tokio::test]
    async fn answers_are_bounded() {
        let (port, _) = server(vec![b'x'; MAX_ANSWER_BYTES + 1]).await;
        let allowed = client(OutboundGuard::new(vec!["127.0.0.0/8".parse().unwrap()], vec![]));
        let e = allowed.send(get(&format!("http://127.0.0.1:{port}/"))).await.unwrap_err();
        assert!(matches!(e, OutboundError::TooLarge { .. }), "{e}");
    }
}

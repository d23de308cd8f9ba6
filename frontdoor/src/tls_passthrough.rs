//! The HTTPS listener: TLS is not ended here. The front door reads the ClientHello
//! only far enough to learn the name (SNI), then joins the connection, byte for
//! byte and from its first byte, to the HTTPS listener of the node that serves the
//! name. Each tenant's private keys stay in its own node's process; the front door
//! never holds one.

use crate::http_proxy::FrontDoor;
use crate::shutdown::Shutdown;
use crate::site_host::SiteHost;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The largest ClientHello read before giving up (a real one is a few hundred bytes).
const MAX_HELLO_BYTES: usize = 16 * 1024;

/// A TLS alert record: fatal `unrecognized_name` (a name this platform does not serve).
const UNRECOGNIZED_NAME: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70];
/// A TLS alert record: fatal `internal_error` (the site cannot be served now).
const INTERNAL_ERROR: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50];

/// Why a connection was not passed through.
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("no ClientHello within the header timeout")]
    Slow,
    #[error("not a TLS ClientHello: {0}")]
    NotTls(String),
    #[error("the ClientHello names no server (SNI)")]
    NoName,
    #[error("reading the ClientHello failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads from `stream` until a whole ClientHello is in; returns the bytes read and
/// the name it asks for.
async fn read_hello(stream: &mut TcpStream) -> Result<(Vec<u8>, Option<String>), Refused> {
    let mut acceptor = rustls::server::Acceptor::default();
    let mut seen = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(Refused::NotTls("the client closed the connection".into()));
        }
        seen.extend_from_slice(&chunk[..n]);
        let mut fresh = &chunk[..n];
        while !fresh.is_empty() {
            acceptor.read_tls(&mut fresh).map_err(|e| Refused::NotTls(e.to_string()))?;
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => {
                let name = accepted.client_hello().server_name().map(str::to_owned);
                return Ok((seen, name));
            }
            Ok(None) if seen.len() < MAX_HELLO_BYTES => continue,
            Ok(None) => return Err(Refused::NotTls("the ClientHello is too large".into())),
            Err((e, _)) => return Err(Refused::NotTls(e.to_string())),
        }
    }
}

async fn pass_through(door: &FrontDoor, mut client: TcpStream, hello_timeout: Duration) -> Result<(), Refused> {
    let (hello, name) =
        tokio::time::timeout(hello_timeout, read_hello(&mut client)).await.map_err(|_| Refused::Slow)??;
    let name = name.ok_or(Refused::NoName)?;
    let Ok(host) = SiteHost::parse(&name) else {
        let _ = client.write_all(&UNRECOGNIZED_NAME).await;
        return Ok(());
    };
    let route = match door.route(&host).await {
        Ok((route, _)) => route,
        Err(page) => {
            tracing::info!(%host, status = %page.status(), "an HTTPS connection for a site that cannot be served");
            let alert = if page.status() == hyper::StatusCode::NOT_FOUND { UNRECOGNIZED_NAME } else { INTERNAL_ERROR };
            let _ = client.write_all(&alert).await;
            return Ok(());
        }
    };
    let Some(https) = route.https else {
        tracing::warn!(%host, node = %route.node_id, "the tenant's node has no HTTPS listener");
        let _ = client.write_all(&INTERNAL_ERROR).await;
        return Ok(());
    };
    let mut node = TcpStream::connect(https).await?;
    let _ = node.set_nodelay(true);
    node.write_all(&hello).await?;
    let _ = tokio::io::copy_bidirectional(&mut client, &mut node).await;
    Ok(())
}

/// Serves HTTPS on `listener` (passing each connection through to its node) until
/// `shutdown` fires.
pub async fn serve(listener: TcpListener, door: Arc<FrontDoor>, hello_timeout: Duration, shutdown: Shutdown) {
    crate::listener::accept_until(listener, shutdown, "https", move |stream, peer| {
        let door = door.clone();
        async move {
            if let Err(e) = pass_through(&door, stream, hello_timeout).await {
                tracing::debug!(%peer, error = %e, "an HTTPS connection was not passed through");
            }
        }
    })
    .await;
}

//! Accepting connections until shutdown: each one handed to its own task, so a slow
//! client holds up nobody else. Both the HTTP and the HTTPS listener use it.

use crate::shutdown::Shutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// Accepts on `listener` until `shutdown` fires, spawning `serve(stream, peer)` for
/// each connection. `what` names the listener in logs.
pub async fn accept_until<F, Fut>(listener: TcpListener, shutdown: Shutdown, what: &'static str, serve: F)
where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.wait() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream, peer));
            }
            Err(e) => {
                // Out of descriptors, typically: wait a little rather than spin.
                tracing::warn!(listener = what, error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

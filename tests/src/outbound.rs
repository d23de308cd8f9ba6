//! The outbound guard as the tests run it: loopback allowed (their directories and
//! providers listen there), everything else as in production.

use confer_outbound::{OutboundGuard, OutboundHttp};
use std::sync::Arc;
use std::time::Duration;

/// The networks the tests' api is started with (`CONFER_OUTBOUND_ALLOW`).
pub const LOOPBACK: &str = "127.0.0.0/8,::1/128";

/// A guard that lets loopback through.
pub fn loopback_guard() -> OutboundGuard {
    let allowed = LOOPBACK.split(',').map(|n| n.parse().expect("a loopback network")).collect();
    OutboundGuard::new(allowed, Vec::new())
}

/// An HTTP client through [`loopback_guard`], with the api's bounds.
pub fn loopback_http() -> OutboundHttp {
    OutboundHttp::new(Arc::new(loopback_guard()), Duration::from_secs(5), Duration::from_secs(10), "confer-tests")
}

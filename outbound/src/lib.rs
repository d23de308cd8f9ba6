//! The one outbound guard. Every request a tenant's settings make the platform send
//! (its LDAP directory, its OpenID provider and every URL that provider's discovery
//! names; webhooks when they come) goes through here, and connects only to an address
//! the [`OutboundGuard`] passes:
//!
//! - never to loopback, link-local, private, unique-local or other special-purpose
//!   networks ([`special_network`]), unless the operator allows that network
//!   (`CONFER_OUTBOUND_ALLOW`; the tests allow loopback, where their directory and
//!   provider run);
//! - never, allowed or not, to the platform's own services (its database, Redis, the
//!   api itself, and what the operator adds with `CONFER_OUTBOUND_DENY`).
//!
//! The check is made on the address actually connected to: a name is resolved here,
//! each address is checked, and the connection goes to a checked address (a name
//! that resolves to 127.0.0.1 at login time is refused like the literal).
//!
//! Errors ([`OutboundError`]) say what failed in the tenant's terms: refused, no such
//! name, cannot connect, no answer in time. Their `Display` never carries the remote
//! service's reply nor the reason a connection failed (that would make the login
//! answers a port scanner); [`OutboundError::detail`] has the whole story, for the
//! operator's log.

mod error;
mod guard;
mod http_client;
mod tcp;

pub use error::OutboundError;
pub use guard::{OutboundGuard, Refusal, special_network};
pub use http_client::{MAX_ANSWER_BYTES, OutboundHttp};
pub use tcp::{connect, ip_literal};

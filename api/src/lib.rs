//! The Confer control plane as a library: the HTTP API, the logins (LDAP, OpenID
//! Connect), the token signer and the server around them. The `confer-api` binary
//! runs it. The domain, the event store and the secrets are `confer-store`'s,
//! re-exported here under the names the handlers use.

pub mod app;
pub mod config;
pub mod http;
pub mod login;
pub mod node_announcer;
pub mod outbound;
pub mod token_signer;

/// The event store and the read models (`confer-store`'s crate root).
pub use confer_store as store;
pub use confer_store::{domain, secrets};

//! Confer's front door: one HTTP and one HTTPS listener for every tenant's site.
//! A request's `Host` (or a TLS ClientHello's SNI) names the site; the api says
//! which tenant serves it; the tenant's media node serves it, started on demand by
//! the node manager and stopped when idle. TLS passes through by SNI to the node,
//! so the front door never holds a tenant's private key.

pub mod config;
pub mod http_proxy;
pub mod listener;
pub mod nodes;
pub mod pages;
pub mod platform_client;
pub mod shutdown;
pub mod site_directory;
pub mod site_host;
pub mod tenant_deletions;
pub mod tls_passthrough;

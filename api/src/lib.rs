//! The Confer control plane as a library: the domain events, the event store and
//! read models, and the HTTP API. The `confer-api` binary runs it; the worker
//! links it to append what it learns.

pub mod app;
pub mod config;
pub mod domain;
pub mod http;
pub mod login;
pub mod node_announcer;
pub mod secrets;
pub mod store;
pub mod token_signer;

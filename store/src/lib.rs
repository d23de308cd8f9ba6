//! Confer's domain and its event store, shared by the api and the worker (and
//! free of HTTP, directory and OpenID clients, so the worker links none).
//!
//! - [`domain`]: the values that can only be built valid, a tenant's settings, and
//!   the events that record every change.
//! - The event store and the read models, on PostgreSQL through sea-orm: every unit
//!   of work is a [`Transaction`] opened for one [`Scope`], the tenant it acts for
//!   (row-level security then hides every other tenant's rows, whatever the query
//!   says) or, for the few platform-wide jobs, the whole platform. Appends and the
//!   projections they cause commit or fail together. Each read model's queries are
//!   a module of their own ([`tenants`], [`domains`], …).
//! - [`secrets`]: the master key, the tenants' data keys, and what they seal.
//! - [`connect_as_app`]: the pool, as the role `confer_app`.
//!
//! With the `openapi` feature, the domain types that HTTP bodies carry derive
//! `utoipa::ToSchema`.

pub mod domain;
pub mod secrets;

mod error;
mod event_store;
mod idempotency;
mod pool;
mod rebuild;
mod tenant_keys;

pub mod acme_accounts;
pub mod api_keys;
pub mod certificates;
pub mod domains;
pub mod event_feed;
pub mod meetings;
pub mod node_credentials;
pub mod signup_replays;
pub mod sites;
pub mod tenants;
pub mod users;

pub use error::{StoreError, Violation};
pub use event_store::{Appended, EventStore, ExpectedVersion, RecordedEvent, Scope, Transaction};
pub use idempotency::{IdempotencyKey, SavedResponse};
pub use pool::{ConnectError, connect_as_app};
pub use rebuild::rebuild_projections;
pub use tenant_keys::TenantKeys;

use sea_orm::{DbBackend, Statement, Value};

/// A PostgreSQL statement with positional (`$n`) parameters.
pub(crate) fn sql(text: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, text, values)
}

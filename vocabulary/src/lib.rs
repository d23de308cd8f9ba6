//! What the api, the worker and the media nodes must read alike: a meeting scheduled
//! by the api for a room is joined on a node by the same name; the api announces a
//! tenant's changes on Redis where its nodes listen ([`settings_channel`],
//! [`certificates_channel`]); a token the api signs says the same to the node that
//! checks it ([`JoinClaims`]); and every call a node makes to the api, with its
//! answer, is one typed contract ([`node_api`]).

mod client_network;
mod join_claims;
pub mod node_api;
mod node_registration;
pub mod platform_api;
mod redis_keys;
mod room_name;

pub use client_network::network_of;
pub use join_claims::{JoinClaims, LoginMethod, SESSION_COOKIE, TOKEN_ISSUER, TokenKind, TokenUser};
pub use node_api::{TenantCertificate, TenantCertificates};
pub use node_registration::{
    DEREGISTER_SCRIPT, NodeReady, NodeRegistration, node_lease_key, node_registration_key, unix_ms,
};
pub use redis_keys::{acme_http01_key, certificates_channel, settings_channel};
pub use room_name::{InvalidRoomName, RoomName};

/// The Redis pub/sub channel on which the api announces that a tenant was deleted
/// (the message is its id): the front door stops its nodes and forgets its names.
pub const TENANTS_DELETED_CHANNEL: &str = "confer:platform:tenant-deleted";

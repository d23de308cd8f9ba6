//! What the api and the media nodes must read alike: a meeting scheduled by the
//! api for a room is joined on a node by the same name, and the api announces a
//! tenant's settings changes where its nodes listen; a token the api signs says
//! the same to the node that checks it.

mod join_claims;
mod node_registration;
pub mod platform_api;
mod room_name;
mod tenant_certificate;

pub use join_claims::{JoinClaims, LoginMethod, SESSION_COOKIE, TOKEN_ISSUER, TokenKind, TokenUser};
pub use node_registration::{NodeReady, NodeRegistration, node_lease_key, node_registration_key};
pub use room_name::{InvalidRoomName, RoomName};
pub use tenant_certificate::{TenantCertificate, TenantCertificates, acme_http01_key, certificates_channel};

/// The Redis pub/sub channel on which the api announces that `tenant`'s settings
/// changed, and its media nodes listen.
pub fn settings_channel(tenant: &str) -> String {
    format!("confer:{tenant}:settings")
}

/// The Redis pub/sub channel on which the api announces that a tenant was deleted
/// (the message is its id): the front door stops its nodes and forgets its names.
pub const TENANTS_DELETED_CHANNEL: &str = "confer:platform:tenant-deleted";

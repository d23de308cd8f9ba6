//! The contract between a tenant's media nodes and the api: every request a node
//! sends and every answer it reads, and where each one goes ([`paths`]). The api
//! writes and reads these same types, so a field renamed on one side fails to
//! compile, or fails to decode, instead of silently switching a rule off.
//!
//! A node authenticates every call (but the JWKS) with its credential, sent as
//! `Authorization: Bearer`. Errors come back as an [`ErrorBody`].
//!
//! - [`settings`]: the tenant's settings a node applies ([`NodeSettings`]);
//! - [`room_meeting`]: the meeting on now in a room, and its password check;
//! - [`sessions`]: logins on the tenant's site;
//! - [`room_facts`]: what happened in a room;
//! - [`certificates`]: the custom domains' certificates a node serves.

pub mod certificates;
pub mod paths;
pub mod refusal;
pub mod room_facts;
pub mod room_meeting;
pub mod sessions;
pub mod settings;

pub use certificates::{TenantCertificate, TenantCertificates};
pub use refusal::{ErrorBody, ErrorDetail};
pub use room_facts::{RoomFact, RoomFactKind};
pub use room_meeting::{PasswordTry, PasswordVerdict, RoomMeeting};
pub use sessions::{OidcCallback, OidcStart, OidcStarted, PasswordLogin, Session, SessionUser};
pub use settings::{AuthMode, NodeSettings};

//! Where each part of the contract is on the api. The constants are templates in the
//! syntax the api routes and documents them with (`{room}`); the functions fill them
//! in for the node that asks.

use crate::RoomName;

/// What every path of the api starts with (its version).
pub const VERSION_PREFIX: &str = "/v1";

/// `GET`: the tenant's settings ([`NodeSettings`](super::NodeSettings) is the part a
/// node applies).
pub const SETTINGS: &str = "/v1/settings";

/// `GET`: the meeting on now in a room ([`RoomMeeting`](super::RoomMeeting)); 404
/// when there is none.
pub const ROOM_MEETING: &str = "/v1/rooms/{room}/meeting";

/// `POST` a [`PasswordTry`](super::PasswordTry): whether it is the password of the
/// meeting on now in a room ([`PasswordVerdict`](super::PasswordVerdict)); 404 when
/// there is none.
pub const ROOM_MEETING_PASSWORD: &str = "/v1/rooms/{room}/meeting/password";

/// `POST` a [`PasswordLogin`](super::PasswordLogin): a [`Session`](super::Session).
pub const SESSIONS: &str = "/v1/sessions";

/// `POST` an [`OidcStart`](super::OidcStart): an [`OidcStarted`](super::OidcStarted).
pub const OIDC_SESSIONS: &str = "/v1/sessions/oidc";

/// `POST` an [`OidcCallback`](super::OidcCallback): a [`Session`](super::Session).
pub const OIDC_CALLBACK: &str = "/v1/sessions/oidc/callback";

/// `POST` a [`RoomFact`](super::RoomFact), with the fact's id as `Idempotency-Key`.
pub const ROOM_FACTS: &str = "/v1/room-facts";

/// `GET`: the tenant's certificates ([`TenantCertificates`](super::TenantCertificates)).
pub const CERTIFICATES: &str = "/v1/certificates";

/// `GET`, without credentials: the public keys of a tenant's tokens (a JWKS, RFC 7517).
pub const TENANT_JWKS: &str = "/v1/tenants/{slug}/jwks.json";

/// [`ROOM_MEETING`] for `room` (a room name needs no escaping in a path).
pub fn room_meeting(room: &RoomName) -> String {
    ROOM_MEETING.replace("{room}", room.as_str())
}

/// [`ROOM_MEETING_PASSWORD`] for `room`.
pub fn room_meeting_password(room: &RoomName) -> String {
    ROOM_MEETING_PASSWORD.replace("{room}", room.as_str())
}

/// [`TENANT_JWKS`] for the tenant `slug` (a DNS label: nothing to escape).
pub fn tenant_jwks(slug: &str) -> String {
    TENANT_JWKS.replace("{slug}", slug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_under_the_version_prefix() {
        for path in [
            SETTINGS,
            ROOM_MEETING,
            ROOM_MEETING_PASSWORD,
            SESSIONS,
            OIDC_SESSIONS,
            OIDC_CALLBACK,
            ROOM_FACTS,
            CERTIFICATES,
            TENANT_JWKS,
        ] {
            assert!(path.starts_with(VERSION_PREFIX) && path[VERSION_PREFIX.len()..].starts_with('/'), "{path}");
        }
    }

    #[test]
    fn paths_are_filled_in_for_a_room_and_a_tenant() {
        let room = RoomName::parse("Weekly-Standup").expect("a room name");
        assert_eq!(room_meeting(&room), "/v1/rooms/weekly-standup/meeting");
        assert_eq!(room_meeting_password(&room), "/v1/rooms/weekly-standup/meeting/password");
        assert_eq!(tenant_jwks("acme"), "/v1/tenants/acme/jwks.json");
    }
}

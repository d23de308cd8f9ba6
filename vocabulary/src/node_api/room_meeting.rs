//! A scheduled meeting as the node that serves its room sees it: when someone joins,
//! the node asks for the meeting on now (`GET /v1/rooms/{room}/meeting`) and applies
//! its password lock, lobby and moderators; a password someone typed is checked by
//! the api (`POST /v1/rooms/{room}/meeting/password`), so the node never holds the
//! meeting's password or its hash.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The meeting scheduled in a room now (from shortly before its start), and the
/// rules it sets for the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct RoomMeeting {
    /// The meeting's id.
    pub meeting_id: Uuid,
    /// Its title.
    pub title: String,
    /// When it starts.
    pub starts_at: DateTime<Utc>,
    /// When it ends.
    pub ends_at: DateTime<Utc>,
    /// Whether everyone who is not a moderator must give the meeting's password.
    pub has_password: bool,
    /// Emails of people who moderate this meeting whatever their login says.
    pub moderators: Vec<String>,
    /// The meeting's lobby setting; null: the tenant's. Always present: a missing
    /// field is a broken answer, not "the tenant's".
    #[serde(deserialize_with = "Option::deserialize")]
    #[cfg_attr(feature = "utoipa", schema(required = true))]
    pub lobby: Option<bool>,
}

/// A password someone typed to join a meeting's room. Its `Debug` leaves the
/// password out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordTry {
    /// What they typed.
    pub password: String,
}

impl std::fmt::Debug for PasswordTry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordTry").finish_non_exhaustive()
    }
}

/// Whether a [`PasswordTry`] is the meeting's password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct PasswordVerdict {
    /// It is.
    pub matches: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn as_the_api_writes_it() -> serde_json::Value {
        json!({
            "meeting_id": "0190f0e4-7c2a-7d3e-9a4b-1c2d3e4f5a6b", "title": "Weekly standup",
            "starts_at": "2031-01-06T09:00:00Z", "ends_at": "2031-01-06T09:30:00Z",
            "has_password": true, "moderators": ["ada@example.com"], "lobby": null
        })
    }

    #[test]
    fn a_meeting_as_the_api_writes_it_round_trips() {
        let meeting: RoomMeeting = serde_json::from_value(as_the_api_writes_it()).expect("a room meeting");
        assert!(meeting.has_password);
        assert_eq!((meeting.lobby, meeting.moderators.as_slice()), (None, ["ada@example.com".to_owned()].as_slice()));
        assert_eq!(serde_json::to_value(&meeting).ok(), Some(as_the_api_writes_it()));
    }

    #[test]
    fn a_meeting_without_its_password_flag_or_lobby_fails_to_decode() {
        for field in ["has_password", "lobby", "moderators"] {
            let mut renamed = as_the_api_writes_it();
            let value = renamed[field].take();
            renamed.as_object_mut().map(|o| o.remove(field));
            renamed[format!("meeting_{field}")] = value;
            assert!(serde_json::from_value::<RoomMeeting>(renamed).is_err(), "{field}");
        }
    }

    #[test]
    fn a_verdict_needs_its_answer_and_a_try_hides_its_password() {
        assert_eq!(serde_json::from_value(json!({"matches": true})).ok(), Some(PasswordVerdict { matches: true }));
        assert!(serde_json::from_value::<PasswordVerdict>(json!({"match": true})).is_err());
        let shown = format!("{:?}", PasswordTry { password: "hunter2".into() });
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(serde_json::from_value::<PasswordTry>(json!({"password": "x", "room": "y"})).is_err());
    }
}

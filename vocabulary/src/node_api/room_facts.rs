//! `POST /v1/room-facts`: what a node reports about its rooms (started, joined,
//! left, locked, unlocked, ended), which the api records as events. Each run of a
//! room is one stream, written in order: `seq` is the fact's place in it, and the
//! fact's id (`<session>-<seq>`) is its `Idempotency-Key`, so a retried fact is
//! recorded once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One fact about a room. (Unknown fields are ignored: serde cannot refuse them
/// through a flattened, tagged enum.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct RoomFact {
    /// The run of the room this fact belongs to (chosen by the node at `meeting_started`).
    pub session: Uuid,
    /// 1 for `meeting_started`, then 2, 3, … in the order they happened.
    pub seq: i64,
    /// The room (the api checks it is a room name).
    pub room: String,
    /// When the node saw it.
    pub at: DateTime<Utc>,
    /// What happened.
    #[serde(flatten)]
    pub fact: RoomFactKind,
}

impl RoomFact {
    /// The fact's id, unique across runs and nodes: its `Idempotency-Key`.
    pub fn id(&self) -> String {
        format!("{}-{}", self.session, self.seq)
    }
}

/// What happened in a room (the `kind` field, with the fields of that kind).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoomFactKind {
    /// The first person took a seat: a run of the room begins.
    MeetingStarted,
    /// Someone took a seat.
    ParticipantJoined {
        /// Their participant id in this run.
        participant: String,
        /// The name they joined with.
        display_name: String,
    },
    /// Someone lost their seat.
    ParticipantLeft {
        /// Their participant id in this run.
        participant: String,
        /// `left`, `removed`, `timed_out` or `meeting_ended`.
        reason: String,
    },
    /// A moderator locked the room with a password.
    RoomLocked {
        /// The moderator's participant id.
        by: String,
    },
    /// A moderator took the room's password away.
    RoomUnlocked {
        /// The moderator's participant id.
        by: String,
    },
    /// The run of the room is over.
    MeetingEnded {
        /// The moderator who ended it; null when the last one left.
        by: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_fact_is_one_flat_object_with_its_kind_and_round_trips() {
        let fact = RoomFact {
            session: Uuid::from_u128(7),
            seq: 2,
            room: "standup".into(),
            at: DateTime::from_timestamp(1_900_000_000, 0).expect("a time"),
            fact: RoomFactKind::ParticipantJoined { participant: "p1".into(), display_name: "Ada".into() },
        };
        let json = serde_json::to_value(&fact).expect("JSON");
        assert_eq!(
            json,
            json!({"session": "00000000-0000-0000-0000-000000000007", "seq": 2, "room": "standup",
                   "at": "2030-03-17T17:46:40Z", "kind": "participant_joined", "participant": "p1",
                   "display_name": "Ada"})
        );
        assert_eq!(serde_json::from_value::<RoomFact>(json).ok(), Some(fact.clone()));
        assert_eq!(fact.id(), "00000000-0000-0000-0000-000000000007-2");
    }

    #[test]
    fn an_unknown_kind_or_a_fact_without_its_fields_fails_to_decode() {
        let base = json!({"session": "00000000-0000-0000-0000-000000000007", "seq": 1, "room": "r",
                          "at": "2030-03-17T17:46:40Z"});
        let with = |extra: serde_json::Value| {
            let mut fact = base.clone();
            if let Some((fact, extra)) = fact.as_object_mut().zip(extra.as_object()) {
                fact.extend(extra.clone());
            }
            serde_json::from_value::<RoomFact>(fact)
        };
        assert!(with(json!({"kind": "meeting_started"})).is_ok());
        assert!(with(json!({"kind": "meeting_paused"})).is_err());
        assert!(with(json!({"kind": "room_locked", "moderator": "p1"})).is_err());
        assert!(with(json!({"kind": "participant_left", "participant": "p1"})).is_err());
    }
}

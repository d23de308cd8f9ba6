//! What the rules say happened, and what a room looks like: the outputs that
//! signaling broadcasts to the room's participants (as JSON) and that the api records.
//!
//! Events come out in the order things happened. Every event names its room.

use super::{DisplayName, MediaKind, MediaState, ParticipantId, Role, RoomName};

/// Something that happened in a room, in the past tense. Serialized as JSON with a
/// snake_case `type` beside the fields, e.g.
/// `{"type":"room_locked","room":"standup","by":"00abcdef01234567"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RoomEvent {
    /// The first participant joined: the room exists from now on.
    MeetingStarted {
        /// The room.
        room: RoomName,
    },
    /// Someone took a new seat.
    ParticipantJoined {
        /// The room.
        room: RoomName,
        /// Who, as the others should show them.
        participant: ParticipantSnapshot,
    },
    /// Someone came back with their reconnect token: the same participant, with the
    /// same id, role and media state as before.
    ParticipantRejoined {
        /// The room.
        room: RoomName,
        /// Who.
        participant: ParticipantId,
    },
    /// Someone's connection dropped; they keep their seat for the reconnect grace.
    ParticipantAway {
        /// The room.
        room: RoomName,
        /// Who.
        participant: ParticipantId,
    },
    /// Someone lost their seat.
    ParticipantLeft {
        /// The room.
        room: RoomName,
        /// Who.
        participant: ParticipantId,
        /// Why.
        reason: LeaveReason,
    },
    /// Someone set their own microphone, camera or screen sharing.
    MediaStateChanged {
        /// The room.
        room: RoomName,
        /// Whose media.
        participant: ParticipantId,
        /// Their media as it now is.
        media: MediaState,
    },
    /// A moderator muted someone's microphone or camera. The muted participant's
    /// client should stop sending it; they may unmute themselves later.
    MutedByModerator {
        /// The room.
        room: RoomName,
        /// Who was muted.
        participant: ParticipantId,
        /// What was muted.
        kind: MediaKind,
        /// The moderator.
        by: ParticipantId,
    },
    /// Someone's role changed.
    RoleChanged {
        /// The room.
        room: RoomName,
        /// Whose role.
        participant: ParticipantId,
        /// The new role.
        role: Role,
        /// The moderator who granted it, or `None` when the rules promoted them
        /// because the last moderator left.
        by: Option<ParticipantId>,
    },
    /// A moderator set a password; from now on a join needs it.
    RoomLocked {
        /// The room.
        room: RoomName,
        /// The moderator.
        by: ParticipantId,
    },
    /// A moderator removed the password.
    RoomUnlocked {
        /// The room.
        room: RoomName,
        /// The moderator.
        by: ParticipantId,
    },
    /// Someone not yet let in is knocking (the lobby). Told to moderators only.
    ParticipantKnocking {
        /// The room.
        room: RoomName,
        /// The id they knock with; `admit` or `deny` it.
        participant: ParticipantId,
        /// Their name.
        display_name: DisplayName,
    },
    /// Someone stopped knocking. Told to moderators only, so every moderator's lobby
    /// list stays true.
    KnockEnded {
        /// The room.
        room: RoomName,
        /// Who knocked.
        participant: ParticipantId,
        /// How it ended.
        outcome: KnockOutcome,
        /// The moderator who admitted or denied them.
        by: Option<ParticipantId>,
    },
    /// The room is gone (its password with it): the last seat was given up, or a
    /// moderator ended the meeting for all. Always the last event about a room.
    MeetingEnded {
        /// The room.
        room: RoomName,
        /// The moderator who ended it for all, or `None` when the last one left or
        /// timed out (or the node shut down).
        by: Option<ParticipantId>,
    },
}

impl RoomEvent {
    /// The room the event happened in.
    pub fn room(&self) -> &RoomName {
        match self {
            Self::MeetingStarted { room }
            | Self::ParticipantJoined { room, .. }
            | Self::ParticipantRejoined { room, .. }
            | Self::ParticipantAway { room, .. }
            | Self::ParticipantLeft { room, .. }
            | Self::MediaStateChanged { room, .. }
            | Self::MutedByModerator { room, .. }
            | Self::RoleChanged { room, .. }
            | Self::RoomLocked { room, .. }
            | Self::RoomUnlocked { room, .. }
            | Self::ParticipantKnocking { room, .. }
            | Self::KnockEnded { room, .. }
            | Self::MeetingEnded { room, .. } => room,
        }
    }

    /// Whether only the room's moderators are told (the lobby's comings and goings).
    pub fn for_moderators_only(&self) -> bool {
        matches!(self, Self::ParticipantKnocking { .. } | Self::KnockEnded { .. })
    }
}

/// How a knock on the lobby ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KnockOutcome {
    /// A moderator let them in.
    Admitted,
    /// A moderator turned them away.
    Denied,
    /// They gave up (left, or their connection dropped).
    Withdrawn,
    /// The meeting ended.
    MeetingEnded,
}

/// Why someone waits instead of taking a seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    /// Nobody who may open the room has come yet ("waiting for the host"); they
    /// enter on their own once a moderator does.
    Host,
    /// The lobby: a moderator must let them in.
    Lobby,
}

/// Why a participant lost their seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// They left.
    Left,
    /// A moderator removed them. Their reconnect token no longer works.
    Removed,
    /// Their connection dropped and they did not come back within the grace period.
    TimedOut,
    /// A moderator ended the meeting for all.
    MeetingEnded,
}

/// A room as a newcomer sees it. Never holds the password, nor anyone's token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RoomSnapshot {
    /// The room.
    pub room: RoomName,
    /// Whether a join needs a password.
    pub locked: bool,
    /// Everyone with a seat, away ones included, longest present first.
    pub participants: Vec<ParticipantSnapshot>,
}

/// A participant as the others see them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParticipantSnapshot {
    /// Their id.
    pub id: ParticipantId,
    /// Their name.
    pub display_name: DisplayName,
    /// Their role.
    pub role: Role,
    /// Their microphone, camera and screen sharing.
    pub media: MediaState,
    /// Whether their connection is down (they may still come back).
    pub away: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_serialize_with_a_snake_case_type_and_their_room() {
        let room = RoomName::parse("standup").unwrap();
        let by = ParticipantId::parse("00000000000000a1").unwrap();
        let who = ParticipantId::parse("00000000000000b2").unwrap();
        let cases = [
            (
                RoomEvent::MutedByModerator { room: room.clone(), participant: who, kind: MediaKind::Audio, by },
                json!({"type": "muted_by_moderator", "room": "standup", "participant": "00000000000000b2",
                       "kind": "audio", "by": "00000000000000a1"}),
            ),
            (
                RoomEvent::ParticipantLeft { room: room.clone(), participant: who, reason: LeaveReason::TimedOut },
                json!({"type": "participant_left", "room": "standup", "participant": "00000000000000b2",
                       "reason": "timed_out"}),
            ),
            (
                RoomEvent::RoleChanged { room: room.clone(), participant: who, role: Role::Moderator, by: None },
                json!({"type": "role_changed", "room": "standup", "participant": "00000000000000b2",
                       "role": "moderator", "by": null}),
            ),
            (
                RoomEvent::MeetingEnded { room: room.clone(), by: Some(by) },
                json!({"type": "meeting_ended", "room": "standup", "by": "00000000000000a1"}),
            ),
        ];
        for (event, expected) in cases {
            assert_eq!(serde_json::to_value(&event).unwrap(), expected);
            assert_eq!(event.room(), &room);
        }
    }

    #[test]
    fn a_snapshot_shows_names_roles_media_and_the_lock_but_no_secret() {
        let snapshot = RoomSnapshot {
            room: RoomName::parse("standup").unwrap(),
            locked: true,
            participants: vec![ParticipantSnapshot {
                id: ParticipantId::parse("00000000000000a1").unwrap(),
                display_name: DisplayName::parse("Ada").unwrap(),
                role: Role::Moderator,
                media: MediaState { audio_muted: true, video_muted: false, screen_sharing: true },
                away: false,
            }],
        };
        assert_eq!(
            serde_json::to_value(&snapshot).unwrap(),
            json!({"room": "standup", "locked": true, "participants": [{
                "id": "00000000000000a1", "display_name": "Ada", "role": "moderator",
                "media": {"audio_muted": true, "video_muted": false, "screen_sharing": true},
                "away": false}]})
        );
    }
}

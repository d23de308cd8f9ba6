//! One person in a room: who they are to the others (id, name, role), what they
//! send (microphone, camera, screen) and whether their connection is up.

use super::reconnect::{RECONNECT_GRACE, TokenDigest};
use super::{DisplayName, ParticipantSnapshot, RoomError};
use std::fmt;
use std::time::Instant;

/// A participant's id within a room: random and opaque, written as 16 lower-case hex
/// digits. Not a secret (everyone in the room sees it); the reconnect token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId(u64);

impl ParticipantId {
    /// Parses an id as written by [`fmt::Display`]. Text that is not one names no
    /// participant, hence [`RoomError::NoSuchParticipant`].
    pub fn parse(value: &str) -> Result<Self, RoomError> {
        if value.len() != 16 || !value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(RoomError::NoSuchParticipant);
        }
        u64::from_str_radix(value, 16).map(Self).map_err(|_| RoomError::NoSuchParticipant)
    }

    pub(crate) fn from_random(value: u64) -> Self {
        Self(value)
    }
}

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl serde::Serialize for ParticipantId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// What a participant may do in the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May mute, remove, lock, end the meeting and make others moderators.
    Moderator,
    /// May set their own media and leave.
    Participant,
}

/// Which of a participant's media a moderator mutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    /// The microphone.
    Audio,
    /// The camera.
    Video,
}

/// What a participant sends, as they (or a moderator's mute) last set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct MediaState {
    /// The microphone is muted.
    pub audio_muted: bool,
    /// The camera is off.
    pub video_muted: bool,
    /// The screen is being shared.
    pub screen_sharing: bool,
}

impl MediaState {
    /// Whether `kind` is muted.
    pub fn is_muted(&self, kind: MediaKind) -> bool {
        match kind {
            MediaKind::Audio => self.audio_muted,
            MediaKind::Video => self.video_muted,
        }
    }

    pub(crate) fn mute(&mut self, kind: MediaKind) {
        match kind {
            MediaKind::Audio => self.audio_muted = true,
            MediaKind::Video => self.video_muted = true,
        }
    }
}

/// Whether a participant's connection is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presence {
    /// Connected.
    Present,
    /// Their connection dropped at `since`; they keep their seat for
    /// [`RECONNECT_GRACE`] and may come back with their reconnect token.
    Away { since: Instant },
}

/// A participant, as the room keeps them.
#[derive(Debug, Clone)]
#[cfg_attr(test, derive(PartialEq))]
pub(crate) struct Participant {
    pub(crate) id: ParticipantId,
    pub(crate) display_name: DisplayName,
    pub(crate) role: Role,
    pub(crate) media: MediaState,
    pub(crate) presence: Presence,
    pub(crate) joined_at: Instant,
    pub(crate) token: TokenDigest,
}

impl Participant {
    pub(crate) fn is_moderator(&self) -> bool {
        self.role == Role::Moderator
    }

    pub(crate) fn is_away(&self) -> bool {
        matches!(self.presence, Presence::Away { .. })
    }

    /// When an away participant loses their seat; `None` while connected.
    pub(crate) fn seat_expires_at(&self) -> Option<Instant> {
        match self.presence {
            Presence::Present => None,
            Presence::Away { since } => Some(since + RECONNECT_GRACE),
        }
    }

    /// Whether they have been away for the whole grace period by `now`.
    pub(crate) fn has_timed_out(&self, now: Instant) -> bool {
        self.seat_expires_at().is_some_and(|expiry| now >= expiry)
    }

    pub(crate) fn snapshot(&self) -> ParticipantSnapshot {
        ParticipantSnapshot {
            id: self.id,
            display_name: self.display_name.clone(),
            role: self.role,
            media: self.media,
            away: self.is_away(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_written_as_sixteen_hex_digits_and_read_back() {
        let id = ParticipantId::from_random(0x00ab_cdef_0123_4567);
        assert_eq!(id.to_string(), "00abcdef01234567");
        assert_eq!(ParticipantId::parse("00abcdef01234567"), Ok(id));
        assert_eq!(serde_json::to_string(&id).ok(), Some("\"00abcdef01234567\"".to_owned()));
    }

    #[test]
    fn text_that_is_not_an_id_names_no_participant() {
        for bad in ["", "abc", "00ABCDEF01234567", "+0abcdef01234567", "00abcdef0123456g", "00abcdef012345678"] {
            assert_eq!(ParticipantId::parse(bad), Err(RoomError::NoSuchParticipant), "{bad}");
        }
    }

    #[test]
    fn muting_sets_only_the_named_kind() {
        let mut media = MediaState { screen_sharing: true, ..MediaState::default() };
        media.mute(MediaKind::Video);
        assert_eq!(media, MediaState { audio_muted: false, video_muted: true, screen_sharing: true });
        assert!(media.is_muted(MediaKind::Video));
        assert!(!media.is_muted(MediaKind::Audio));
    }

    #[test]
    fn roles_and_kinds_serialize_in_snake_case() {
        assert_eq!(serde_json::to_string(&Role::Moderator).ok(), Some("\"moderator\"".to_owned()));
        assert_eq!(serde_json::to_string(&MediaKind::Audio).ok(), Some("\"audio\"".to_owned()));
    }
}

//! What a participant asks of their room once they have a seat.
//!
//! Signaling turns each client message into one `Command`; the rules decide whether
//! the participant may, and what follows.

use super::{MediaKind, MediaState, ParticipantId, RoomPassword};

/// Something a participant asks of their room.
#[derive(Debug, Clone)]
pub enum Command {
    /// Give up the seat.
    Leave,
    /// Set one's own microphone, camera and screen sharing. Always allowed, also to
    /// unmute after a moderator's mute (as in Jitsi).
    SetOwnMedia(MediaState),
    /// Moderators: mute one participant's microphone or camera.
    Mute {
        /// Who.
        target: ParticipantId,
        /// What.
        kind: MediaKind,
    },
    /// Moderators: mute everyone else's microphone or camera.
    MuteAll {
        /// What.
        kind: MediaKind,
    },
    /// Moderators: take someone's seat away. Their reconnect token stops working.
    Remove {
        /// Who.
        target: ParticipantId,
    },
    /// Moderators: make someone a moderator too.
    GrantModerator {
        /// Who.
        target: ParticipantId,
    },
    /// Moderators: require `password` of everyone who joins from now on (or change
    /// it). Those already in are unaffected.
    Lock {
        /// The new password.
        password: RoomPassword,
    },
    /// Moderators: let people join without a password again.
    Unlock,
    /// Moderators: end the meeting for everyone.
    EndMeeting,
    /// Moderators: let someone in from the lobby.
    Admit {
        /// Who (the id they knocked with, which becomes their participant id).
        target: ParticipantId,
    },
    /// Moderators: turn someone in the lobby away.
    Deny {
        /// Who.
        target: ParticipantId,
    },
}

impl Command {
    /// Whether only a moderator may ask this.
    pub(crate) fn needs_moderator(&self) -> bool {
        match self {
            Self::Leave | Self::SetOwnMedia(_) => false,
            Self::Mute { .. }
            | Self::MuteAll { .. }
            | Self::Remove { .. }
            | Self::GrantModerator { .. }
            | Self::Lock { .. }
            | Self::Unlock
            | Self::EndMeeting
            | Self::Admit { .. }
            | Self::Deny { .. } => true,
        }
    }
}

//! The one error of the room rules: why a join or a command was refused.
//!
//! Every refusal leaves the rooms exactly as they were. The `code` is stable and
//! machine-readable (signaling sends it to the client, the client switches on it);
//! the message is for people and may change.

/// Why the room rules refused a join or a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    /// Every seat is taken (an away participant still holds theirs).
    #[error("the room is full: it holds at most {max} participants")]
    RoomFull {
        /// The room's cap.
        max: u32,
    },
    /// The room is locked and the join gave no password.
    #[error("the room is locked: a password is required to join")]
    PasswordRequired,
    /// The room is locked and the join gave another password.
    #[error("the password is wrong")]
    WrongPassword,
    /// Only a moderator may do this.
    #[error("only a moderator may do this")]
    NotModerator,
    /// No participant with this id is in this room.
    #[error("no such participant in this room")]
    NoSuchParticipant,
    /// No meeting is going on in a room of this name.
    #[error("no meeting is going on in this room")]
    NoSuchRoom,
    /// The reconnect token holds no seat in this room: the participant left, was
    /// removed or timed out, the meeting ended, or the token is malformed.
    #[error("this reconnect token holds no seat in this room any more; join again without it")]
    ReconnectRefused,
    /// The site requires a login and does not admit guests.
    #[error("this site needs you to log in: guests may not join")]
    LoginRequired,
    /// A moderator did not let them in from the lobby.
    #[error("a moderator did not let you in")]
    Denied,
    /// The meeting ended while they waited to be let in.
    #[error("the meeting ended before you were let in")]
    MeetingEnded,
    /// As many wait to be let in (for the host or in the lobby) as a room may hold.
    #[error("too many people are waiting to be let in to this room; try again later")]
    WaitingListFull {
        /// The room's cap on those waiting.
        max: usize,
    },
    /// No one of this id is waiting to be let in.
    #[error("nobody of this id is waiting in the lobby")]
    NotWaiting,
    /// The display name is not acceptable; the text says why.
    #[error("invalid display name: {0}")]
    InvalidDisplayName(&'static str),
    /// The room name is not acceptable; the text says why.
    #[error("invalid room name: {0}")]
    InvalidRoomName(&'static str),
    /// The room password is not acceptable; the text says why.
    #[error("invalid password: {0}")]
    InvalidPassword(&'static str),
}

impl RoomError {
    /// The stable machine-readable code, e.g. `room_full`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::RoomFull { .. } => "room_full",
            Self::PasswordRequired => "password_required",
            Self::WrongPassword => "wrong_password",
            Self::NotModerator => "not_moderator",
            Self::NoSuchParticipant => "no_such_participant",
            Self::NoSuchRoom => "no_such_room",
            Self::ReconnectRefused => "reconnect_refused",
            Self::LoginRequired => "login_required",
            Self::Denied => "denied",
            Self::MeetingEnded => "meeting_ended",
            Self::WaitingListFull { .. } => "waiting_list_full",
            Self::NotWaiting => "not_waiting",
            Self::InvalidDisplayName(_) => "invalid_display_name",
            Self::InvalidRoomName(_) => "invalid_room_name",
            Self::InvalidPassword(_) => "invalid_password",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_a_distinct_snake_case_code_and_a_message() {
        let all = [
            RoomError::RoomFull { max: 75 },
            RoomError::PasswordRequired,
            RoomError::WrongPassword,
            RoomError::NotModerator,
            RoomError::NoSuchParticipant,
            RoomError::NoSuchRoom,
            RoomError::ReconnectRefused,
            RoomError::LoginRequired,
            RoomError::Denied,
            RoomError::MeetingEnded,
            RoomError::NotWaiting,
            RoomError::WaitingListFull { max: 100 },
            RoomError::InvalidDisplayName("x"),
            RoomError::InvalidRoomName("x"),
            RoomError::InvalidPassword("x"),
        ];
        let mut codes: Vec<_> = all.iter().map(RoomError::code).collect();
        for code in &codes {
            assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{code}");
        }
        for error in &all {
            assert!(!error.to_string().is_empty());
        }
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn room_full_names_the_cap() {
        assert_eq!(RoomError::RoomFull { max: 3 }.to_string(), "the room is full: it holds at most 3 participants");
    }
}

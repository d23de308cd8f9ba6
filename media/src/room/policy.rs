//! What a tenant decides about its rooms (Jitsi's `ENABLE_AUTH`, `ENABLE_GUESTS` and
//! lobby), and who is asking to join.

use super::{DisplayName, MediaState, ReconnectToken, RoomName, RoomPassword};

/// The participants a room holds by default (the tenant settings' default).
pub const DEFAULT_MAX_PARTICIPANTS: u32 = 75;

/// The rules a tenant sets for its rooms. A room takes the policy in force when it
/// starts and keeps it until it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomPolicy {
    /// Seats per room, away participants' included. Zero refuses everyone.
    pub max_participants: u32,
    /// Whether people must log in (the tenant's auth is not "open"). Then only a
    /// moderator opens a room, and nobody is promoted for being first.
    pub auth_required: bool,
    /// With auth required: whether people who have not logged in may join a room
    /// once a moderator has opened it (they wait until then).
    pub guests_allowed: bool,
    /// Whether those who are not moderators knock and wait for a moderator to let
    /// them in.
    pub lobby: bool,
}

impl Default for RoomPolicy {
    fn default() -> Self {
        Self { max_participants: DEFAULT_MAX_PARTICIPANTS, auth_required: false, guests_allowed: true, lobby: false }
    }
}

/// Who is asking to join, as far as signaling could establish from their token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Identity {
    /// Anyone with the link: a guest. With auth "open", the first to join a room
    /// moderates it.
    #[default]
    Anonymous,
    /// Someone the tenant's login (or an API client's join token) vouched for.
    Authenticated {
        /// Whether the login's rule makes them a moderator.
        moderator: bool,
    },
}

impl Identity {
    /// Whether they moderate whatever room they join.
    pub fn is_moderator(self) -> bool {
        matches!(self, Self::Authenticated { moderator: true })
    }
}

/// What a meeting scheduled in the room sets for it (the api says; the room takes
/// them when it starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MeetingTerms {
    /// Everyone who is not a moderator must give the meeting's password (which the
    /// api checks: the node never learns it).
    pub password_required: bool,
    /// The meeting's lobby setting, over the tenant's.
    pub lobby: Option<bool>,
}

/// A request to take a seat in a room, or to take one's seat back.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// The room; it starts if nobody is in it.
    pub room: RoomName,
    /// What the others will call them. Ignored on a reconnect: the seat keeps its name.
    pub display_name: DisplayName,
    /// Who they are.
    pub identity: Identity,
    /// The password, needed if the room is locked.
    pub password: Option<RoomPassword>,
    /// Their microphone, camera and screen sharing as they join. Ignored on a
    /// reconnect: the seat keeps its state.
    pub media: MediaState,
    /// The token from an earlier join: asks for that seat back instead of a new one.
    pub reconnect: Option<ReconnectToken>,
    /// The scheduled meeting's terms, if one is on in the room now.
    pub meeting: Option<MeetingTerms>,
    /// Whether the api found `password` to be the scheduled meeting's.
    pub meeting_password_ok: bool,
}

impl JoinRequest {
    /// An anonymous join with media on, no password and no token; set the other
    /// fields as needed.
    pub fn new(room: RoomName, display_name: DisplayName) -> Self {
        Self {
            room,
            display_name,
            identity: Identity::Anonymous,
            password: None,
            media: MediaState::default(),
            reconnect: None,
            meeting: None,
            meeting_password_ok: false,
        }
    }
}

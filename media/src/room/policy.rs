//! What a tenant decides about its rooms, and who is asking to join: the inputs that
//! later auth modes, guests and the lobby will extend.

use super::{DisplayName, MediaState, ReconnectToken, RoomName, RoomPassword};

/// The participants a room holds by default (the tenant settings' default).
pub const DEFAULT_MAX_PARTICIPANTS: u32 = 75;

/// The rules a tenant sets for its rooms. A room takes the policy in force when it
/// starts and keeps it until it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomPolicy {
    /// Seats per room, away participants' included. Zero refuses everyone.
    pub max_participants: u32,
}

impl Default for RoomPolicy {
    fn default() -> Self {
        Self { max_participants: DEFAULT_MAX_PARTICIPANTS }
    }
}

/// Who is asking to join, as far as signaling could establish. Today every tenant
/// authenticates "open", so everyone is anonymous; accounts, guests and their
/// moderator rights will be further variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Identity {
    /// Anyone with the link. With auth "open", the first to join a room moderates it.
    #[default]
    Anonymous,
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
        }
    }
}

//! Who is joining: join and session tokens checked against the tenant's keys
//! (`token_check`), sessions ended by logging out (`revoked_sessions`), and logging in
//! on the tenant's site (`site_login`), where the api checks passwords and OpenID
//! answers with the tenant's back-end.

pub mod revoked_sessions;
pub mod site_login;
pub mod token_check;

pub use revoked_sessions::RevokedSessions;
pub use site_login::SiteLogin;
pub use token_check::{TokenCheck, TokenError};

use confer_vocabulary::node_api::AuthMode;

/// How the tenant's people get in, as the site tells the meeting page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteAccess {
    /// The login back-end.
    pub auth: AuthMode,
    /// Whether guests may join rooms a moderator has opened.
    pub guests_allowed: bool,
    /// Whether those who are not moderators knock first (the tenant's default).
    pub lobby: bool,
}

impl SiteAccess {
    /// The room rules these settings make, with `max_participants` seats per room.
    pub fn policy(&self, max_participants: u32) -> crate::room::RoomPolicy {
        crate::room::RoomPolicy {
            max_participants,
            auth_required: self.auth.requires_login(),
            guests_allowed: self.guests_allowed,
            lobby: self.lobby,
        }
    }
}

impl Default for SiteAccess {
    fn default() -> Self {
        Self { auth: AuthMode::Open, guests_allowed: true, lobby: false }
    }
}

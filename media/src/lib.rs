//! A tenant's media node, as a library: the room rules (`room`), the SFU core
//! (`sfu`), WebSocket signaling (`signaling`) and the meeting site (`site`). The
//! `confer-media` binary puts them together for one tenant.

pub mod auth;
pub mod facts;
pub mod password_attempts;
pub mod redis_link;
pub mod room;
pub mod scheduled_meetings;
pub mod sfu;
pub mod signaling;
pub mod site;
pub mod tenant_settings;
pub mod turn;

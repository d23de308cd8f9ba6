//! A tenant's media node, as a library: the room rules (`room`), the SFU core
//! (`sfu`), WebSocket signaling (`signaling`), the meeting site (`site`) and HTTPS
//! for the tenant's names (`tls`), and its one link to the api (`api_client`, with
//! `announcements` to follow what changes there). The `confer-media` binary puts them
//! together for one tenant.

pub mod announcements;
pub mod api_client;
pub mod auth;
pub mod client_address;
pub mod facts;
pub mod node_registration;
pub mod password_attempts;
pub mod redis_link;
pub mod room;
pub mod scheduled_meetings;
pub mod sfu;
pub mod signaling;
pub mod site;
pub mod site_origin;
pub mod tenant_settings;
pub mod tls;
pub mod turn;

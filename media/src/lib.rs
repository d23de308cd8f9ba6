//! A tenant's media node, as a library: the room rules (`room`), the SFU core
//! (`sfu`) and WebSocket signaling (`signaling`); the site and the binary are to
//! come.

pub mod room;
pub mod sfu;
pub mod signaling;

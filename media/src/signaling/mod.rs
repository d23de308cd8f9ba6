//! WebSocket signaling: the versioned JSON protocol of `docs/signaling.md`.
//!
//! - `protocol`: the frames, and parsing that turns anything malformed into an
//!   error frame without changing anything.
//! - `hub`: the node's shared state: the room rules, who is connected where, and
//!   the SFU; it applies a request and tells everyone concerned.
//! - `admission`: everything between a join frame and the room rules (who is
//!   asking, the scheduled meeting's rules, password tries), failing closed.
//! - `limits`: what one socket may ask: frames and chat messages per second,
//!   media sections per offer.
//! - `session`: one WebSocket: reads requests, writes replies, room events and the
//!   SFU's renegotiation offers.

mod admission;
mod hub;
mod limits;
mod protocol;
mod session;

pub use hub::Hub;
pub use limits::SignalingLimits;
pub use protocol::PROTOCOL_VERSION;
pub use session::websocket;

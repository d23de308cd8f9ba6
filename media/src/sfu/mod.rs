//! The SFU: every participant's media on one UDP socket, driven through
//! webrtc-rs's sans-IO core (`rtc`) by one event loop that owns all connections.
//!
//! - `ice_demux`: which connection an incoming datagram belongs to (STUN username
//!   fragment first, then the remote address ICE settled on).
//! - `peer`: how a connection is built (ICE lite, our credentials, mDNS off, DTLS
//!   server role, a host candidate at the advertised address).
//! - `keyframe_requests`: lets PLI/FIR from subscribers reach the loop, so they can
//!   be relayed to the publisher.
//! - `forwarding`: which subscriber tracks a publisher's track feeds, and the RTP
//!   header rewrite (SSRC, payload type, extensions) each one needs.
//! - `node`: the event loop and the handle signaling talks to.
//!
//! Each participant has two connections, as in LiveKit: a publish connection (the
//! client offers its tracks, the node answers) and a subscribe connection (the node
//! offers one sendonly track per remote track, the client answers).

mod error;
mod forwarding;
mod ice_demux;
mod keyframe_requests;
mod node;
mod peer;

pub use error::SfuError;
pub use keyframe_requests::DeliverKeyframeRequests;
pub use node::{Seat, SfuConfig, SfuHandle, SfuNode, SubscriberUpdate, SubscriberUpdates};

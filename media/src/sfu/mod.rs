//! The SFU: participants' media driven through webrtc-rs's sans-IO core (`rtc`) by
//! one event loop per core; each loop owns one UDP socket, the rooms placed on it,
//! and all their connections.
//!
//! - `ice_demux`: which connection an incoming datagram belongs to (STUN username
//!   fragment first, then the remote address ICE settled on).
//! - `peer`: how a connection is built (ICE lite, our credentials, mDNS off, DTLS
//!   server role, a host candidate at the advertised address).
//! - `rtcp_delivery`: lets chosen inbound RTCP reach the loop; PLI/FIR from
//!   subscribers, so they can be relayed to the publisher.
//! - `forwarding`: which subscriber tracks a publisher's track feeds, and the RTP
//!   header rewrite (SSRC, payload type, extensions) each one needs.
//! - `track_source`: camera or screen; each has its own publish connection.
//! - `active_speaker`: each room's dominant speaker, from RFC 6464 audio levels.
//! - `send_batch`: a loop's outgoing datagrams, sent with one `sendmmsg`.
//! - `node`: the event loops and the handle signaling talks to.
//!
//! Each participant has a publish connection per source (the client offers its
//! tracks, the node answers: camera and microphone, and a screen share when there
//! is one) and a subscribe connection (the node offers one sendonly track per
//! remote track, the client answers), as in LiveKit.

mod active_speaker;
mod error;
mod forwarding;
mod ice_demux;
mod node;
mod peer;
mod receive_batch;
mod rtcp_delivery;
mod send_batch;
mod track_source;

pub use active_speaker::ActiveSpeaker;
pub use error::SfuError;
pub use node::{Seat, SfuConfig, SfuHandle, SfuNode, SpeakerChanges, SubscriberUpdate, SubscriberUpdates};
pub use peer::offer_host_candidate;
pub use rtcp_delivery::{DeliverRtcp, RtcpFilter};
pub use track_source::TrackSource;

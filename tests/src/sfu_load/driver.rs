//! What the SFU load tool needs of an SFU, so that the same workload runs on
//! Confer (through `docs/signaling.md`) and on Janus (through its VideoRoom API).
//!
//! The media itself is not here: the tool's own WebRTC peers (`peer.rs`) make the
//! offers and answers and move the packets. A driver only carries SDP to and from
//! the SFU for one participant at a time.

use std::future::Future;

/// Why talking to the SFU failed.
pub type DriverError = anyhow::Error;

/// One SFU under test.
pub trait SfuDriver: Send + Sync {
    /// A participant's signaling.
    type Session: SfuSession;

    /// `"confer"` or `"janus"`, for reports.
    fn name(&self) -> &'static str;

    /// The SFU's process, whose CPU time and RSS are read from `/proc/<pid>`.
    fn pid(&self) -> u32;

    /// Readies room number `room` (Janus: creates it with a high bitrate cap and
    /// enough publisher seats; Confer: nothing) and returns its name.
    fn prepare_room(&self, room: usize) -> impl Future<Output = Result<String, DriverError>> + Send;

    /// Joins `name` to `room`, ready to publish and subscribe.
    fn join(&self, room: &str, name: &str) -> impl Future<Output = Result<Self::Session, DriverError>> + Send;
}

/// One participant's signaling with the SFU.
pub trait SfuSession: Send {
    /// Publishes: `offer` (sendonly, one Opus audio and one VP8 video m-line,
    /// complete with candidates) → the SFU's answer.
    fn publish(&mut self, offer: String) -> impl Future<Output = Result<String, DriverError>> + Send;

    /// Waits until the publisher's media is up on the SFU's side, when the SFU
    /// needs that before anyone may subscribe (Janus); at once otherwise.
    fn publish_up(&mut self) -> impl Future<Output = Result<(), DriverError>> + Send;

    /// The SFU's offer to receive every other publisher of the room (`publishers`
    /// of them: the session's own feed excluded), with all their tracks.
    fn subscribe(&mut self, publishers: usize) -> impl Future<Output = Result<String, DriverError>> + Send;

    /// Our answer to the subscribe offer.
    fn answer(&mut self, answer: String) -> impl Future<Output = Result<(), DriverError>> + Send;
}

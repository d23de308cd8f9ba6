//! What can go wrong between signaling and the SFU.

/// Errors the SFU reports to signaling.
#[derive(Debug, thiserror::Error)]
pub enum SfuError {
    /// The client's SDP or the negotiation failed.
    #[error("negotiation failed: {0}")]
    Negotiation(String),
    /// No such participant (never joined, or already left).
    #[error("unknown participant")]
    UnknownParticipant,
    /// The event loop has stopped.
    #[error("the media node is shutting down")]
    Stopped,
    /// The UDP socket could not be opened.
    #[error("cannot open the media socket: {0}")]
    Socket(#[from] std::io::Error),
}

impl From<rtc::shared::error::Error> for SfuError {
    fn from(e: rtc::shared::error::Error) -> Self {
        SfuError::Negotiation(e.to_string())
    }
}

//! `QueueError`: what can go wrong talking to RabbitMQ.

use lapin::types::ShortString;

/// A failure of the broker or of the connection to it.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The AMQP client failed (connection lost, channel closed, a declaration refused…).
    #[error("AMQP: {0}")]
    Amqp(#[from] lapin::Error),
    /// The broker refused to take responsibility for a message (negative publisher confirm).
    #[error("RabbitMQ did not confirm the message to {queue}")]
    NotConfirmed {
        /// Where it was published.
        queue: String,
    },
    /// The broker returned a message as unroutable: its queue does not exist.
    #[error("RabbitMQ returned the message to {queue} as unroutable: {reply}")]
    Unroutable {
        /// Where it was published.
        queue: String,
        /// The broker's reply text.
        reply: ShortString,
    },
}

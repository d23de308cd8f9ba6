//! Moving a job to another queue *safely*: publish with a publisher confirm, and
//! only once the broker has confirmed, acknowledge the original. A crash between
//! the two leaves a duplicate (the original is redelivered), never a loss.

use lapin::{
    BasicProperties, Channel,
    options::BasicPublishOptions,
    types::{AMQPValue, LongString},
};

use super::QueueError;

/// Header names the worker writes on the messages it moves.
pub mod headers {
    /// Why the previous attempt failed (on retries and on parked jobs).
    pub const LAST_ERROR: &str = "x-confer-last-error";
    /// Why a job was parked: `fatal`, `retries_exhausted`, `undecodable` or `wrong_kind`.
    pub const PARKED_REASON: &str = "x-confer-parked-reason";
}

/// Why a job went to the parking queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParkReason {
    /// The handler said it can never succeed.
    Fatal,
    /// It failed transiently more times than the policy allows.
    RetriesExhausted,
    /// Its body is not a job.
    Undecodable,
    /// It is a job of another kind than its queue's.
    WrongKind,
}

impl ParkReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Fatal => "fatal",
            Self::RetriesExhausted => "retries_exhausted",
            Self::Undecodable => "undecodable",
            Self::WrongKind => "wrong_kind",
        }
    }
}

/// Properties for a moved message: persistent, with the headers, content type and
/// message id it came with, and `extra` headers set. Nothing else is carried over:
/// in particular not a per-message expiration, which would cut a retry delay short
/// or expire a parked job.
pub(crate) fn moved_properties(original: &BasicProperties, extra: &[(&str, &str)]) -> BasicProperties {
    let mut headers = original.headers().clone().unwrap_or_default();
    for (name, value) in extra {
        headers.insert((*name).into(), AMQPValue::LongString(LongString::from(*value)));
    }
    let mut properties = BasicProperties::default().with_headers(headers).with_delivery_mode(PERSISTENT);
    if let Some(content_type) = original.content_type() {
        properties = properties.with_content_type(content_type.clone());
    }
    if let Some(message_id) = original.message_id() {
        properties = properties.with_message_id(message_id.clone());
    }
    properties
}

/// The body of a job's message.
pub(crate) fn encode(job: &super::Job) -> Vec<u8> {
    // A Job is plain data (uuid, strings, a JSON value): serializing it cannot fail.
    serde_json::to_vec(job).expect("a Job serializes")
}

/// Properties of a job published for the first time: persistent JSON, the job id as
/// the message id.
pub(crate) fn new_job_properties(job: &super::Job) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(PERSISTENT)
        .with_content_type("application/json".into())
        .with_message_id(job.id.to_string().into())
}

/// AMQP delivery mode 2: written to disk by a durable queue.
pub(crate) const PERSISTENT: u8 = 2;

/// Publishes `body` to `queue` (default exchange) and waits for the broker's confirm.
/// The channel must be in confirm mode.
pub(crate) async fn publish_confirmed(
    channel: &Channel,
    queue: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), QueueError> {
    confirmed(queue, publish_unconfirmed(channel, queue, body, properties).await?).await
}

/// Publishes `body` to `queue` (default exchange) and returns the broker's confirm to
/// wait for: many publishes can be in flight before their confirms are awaited.
pub(crate) async fn publish_unconfirmed(
    channel: &Channel,
    queue: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<lapin::PublisherConfirm, QueueError> {
    // `mandatory`: a missing queue comes back as a returned message instead of vanishing.
    let options = BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() };
    Ok(channel.basic_publish("".into(), queue.into(), options, body, properties).await?)
}

/// Waits for the confirm of a publish to `queue`: an error unless the broker took it.
pub(crate) async fn confirmed(queue: &str, pending: lapin::PublisherConfirm) -> Result<(), QueueError> {
    let confirm = pending.await?;
    if confirm.is_nack() {
        return Err(QueueError::NotConfirmed { queue: queue.to_owned() });
    }
    if let Some(returned) = confirm.take_message() {
        return Err(QueueError::Unroutable { queue: queue.to_owned(), reply: returned.reply_text });
    }
    Ok(())
}

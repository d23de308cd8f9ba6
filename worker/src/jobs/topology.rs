//! The queues of one job kind `K`, all durable and all reached through the
//! default exchange (routing key = queue name):
//!
//! | queue | arguments | role |
//! |---|---|---|
//! | `confer.jobs.K` | none | the work queue the consumer reads |
//! | `confer.jobs.K.retry.N`, N = 1..=max_retries | `x-message-ttl` = base·2^(N-1) ms, `x-dead-letter-exchange` = `""`, `x-dead-letter-routing-key` = `confer.jobs.K` | holds a failed job for its delay, then RabbitMQ dead-letters it back to the work queue |
//! | `confer.jobs.K.parked` | none | jobs that failed fatally, ran out of retries, or could not be decoded; kept for a person |
//!
//! One queue per delay (rather than a per-message expiration in one queue) keeps
//! every retry queue first-in-first-out in expiry order: RabbitMQ only expires
//! messages at the head of a queue, so mixed delays in one queue would hold short
//! ones behind long ones.
//!
//! RabbitMQ refuses to redeclare a queue with different arguments
//! (`PRECONDITION_FAILED`): changing the retry base of a running system means
//! deleting the `.retry.N` queues first (they hold only delayed retries).

use lapin::{
    Channel,
    options::QueueDeclareOptions,
    types::{AMQPValue, FieldTable, LongString},
};

use super::{JobKind, QueueError, RetryPolicy};

/// The names of a job kind's queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobQueues {
    kind: JobKind,
    max_retries: u32,
}

impl JobQueues {
    /// The queues of `kind` under `policy` (no broker involved).
    pub fn new(kind: JobKind, policy: &RetryPolicy) -> Self {
        Self { kind, max_retries: policy.max_retries() }
    }

    /// The kind these queues carry.
    pub fn kind(&self) -> &JobKind {
        &self.kind
    }

    /// `confer.jobs.K`: where jobs are published and consumed.
    pub fn work(&self) -> String {
        format!("confer.jobs.{}", self.kind)
    }

    /// `confer.jobs.K.retry.N`: where a job waits before retry `n` (1-based).
    pub fn retry(&self, n: u32) -> String {
        format!("confer.jobs.{}.retry.{n}", self.kind)
    }

    /// `confer.jobs.K.parked`: where jobs that will not succeed are kept.
    pub fn parked(&self) -> String {
        format!("confer.jobs.{}.parked", self.kind)
    }

    /// Every retry queue, in order.
    pub fn retries(&self) -> impl Iterator<Item = String> + '_ {
        (1..=self.max_retries).map(|n| self.retry(n))
    }
}

/// Declares (idempotently) every queue of `kind` on the channel's vhost.
pub async fn declare(channel: &Channel, kind: &JobKind, policy: &RetryPolicy) -> Result<JobQueues, QueueError> {
    let queues = JobQueues::new(kind.clone(), policy);
    declare_durable(channel, &queues.work(), FieldTable::default()).await?;
    for n in 1..=policy.max_retries() {
        declare_durable(channel, &queues.retry(n), retry_arguments(&queues, policy, n)).await?;
    }
    declare_durable(channel, &queues.parked(), FieldTable::default()).await?;
    Ok(queues)
}

fn retry_arguments(queues: &JobQueues, policy: &RetryPolicy, n: u32) -> FieldTable {
    let ttl_ms = i64::try_from(policy.delay_before(n).as_millis()).unwrap_or(i64::MAX);
    let mut arguments = FieldTable::default();
    arguments.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl_ms));
    // The default exchange ("") routes by queue name: back to the work queue.
    arguments.insert("x-dead-letter-exchange".into(), AMQPValue::LongString(LongString::from("")));
    arguments.insert("x-dead-letter-routing-key".into(), AMQPValue::LongString(LongString::from(queues.work())));
    arguments
}

async fn declare_durable(channel: &Channel, queue: &str, arguments: FieldTable) -> Result<(), QueueError> {
    channel.queue_declare(queue.into(), QueueDeclareOptions::durable(), arguments).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn names_follow_the_kind() {
        let queues = JobQueues::new(JobKind::parse("acme").unwrap(), &RetryPolicy::new(2, Duration::from_secs(1)));
        assert_eq!(queues.work(), "confer.jobs.acme");
        assert_eq!(queues.retries().collect::<Vec<_>>(), ["confer.jobs.acme.retry.1", "confer.jobs.acme.retry.2"]);
        assert_eq!(queues.parked(), "confer.jobs.acme.parked");
    }
}

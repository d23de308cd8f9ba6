//! Jobs: what the api asks the worker to do, and the machinery that makes sure
//! each request is done, retried with backoff, or parked for a person to look at.
//!
//! A job travels as a JSON [`Job`] envelope. For each [`JobKind`] the worker
//! declares the queues of [`topology`] and runs a [`JobConsumer`] that hands every
//! delivery to that kind's [`JobHandler`]. The handler's answer decides the
//! delivery's fate: acknowledged, sent down the retry ladder, or parked.
//!
//! Delivery is *at least once*: a crash between republishing a job and
//! acknowledging the original leaves a duplicate, never a loss, so handlers must
//! be idempotent by [`Job::id`].

mod consumer;
mod error;
mod kind;
mod noop;
mod once;
mod publish;
mod retry_policy;
pub mod topology;

use std::future::Future;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use consumer::{ConsumerSettings, Drained, JobConsumer};
pub use error::QueueError;
pub use kind::{InvalidJobKind, JobKind};
pub use noop::NoopHandler;
pub use once::Once;
pub use publish::headers;
pub(crate) use publish::{confirmed, encode, new_job_properties, publish_unconfirmed};
pub use retry_policy::{RetryPolicies, RetryPolicy};
pub use topology::JobQueues;

/// One unit of background work, as it travels through RabbitMQ (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Stable across retries and redeliveries: handlers use it to do the work once.
    pub id: Uuid,
    /// Which handler runs it (and which queues carry it).
    pub kind: JobKind,
    /// The tenant it is for; `None` for platform-wide work.
    pub tenant_id: Option<Uuid>,
    /// The kind's own arguments.
    pub payload: serde_json::Value,
    /// 0 on the first run, then the number of the retry this run is.
    #[serde(default)]
    pub attempt: u32,
}

impl Job {
    /// A new job, on its first attempt, with a fresh time-ordered id.
    pub fn new(kind: JobKind, tenant_id: Option<Uuid>, payload: serde_json::Value) -> Self {
        Self { id: Uuid::now_v7(), kind, tenant_id, payload, attempt: 0 }
    }
}

/// Why a handler did not finish a job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobFailure {
    /// A transient fault (network, a busy peer, a DNS record not there yet):
    /// run the job again later, after a growing delay, until the retries run out.
    #[error("retry: {0}")]
    Retry(String),
    /// The job can never succeed as it is (bad payload, a refused request):
    /// park it at once.
    #[error("fatal: {0}")]
    Fatal(String),
}

/// Does the work of one job kind.
///
/// Implementations may write `async fn handle(&self, job: &Job) -> Result<(), JobFailure>`;
/// the returned future must be `Send`, because jobs run concurrently on the runtime.
pub trait JobHandler: Send + Sync + 'static {
    /// Runs `job`. Must be idempotent by `job.id`: the same job can arrive twice.
    fn handle(&self, job: &Job) -> impl Future<Output = Result<(), JobFailure>> + Send;

    /// Told once `job` is parked for good, with its last error: the place to record
    /// that what the job was for has failed (so people see it). Does nothing unless
    /// the handler says otherwise; it must not fail the parking.
    fn parked(&self, job: &Job, error: &str) -> impl Future<Output = ()> + Send {
        let _ = (job, error);
        async {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_round_trips_through_json() {
        let job = Job::new(JobKind::parse("noop").unwrap(), Some(Uuid::new_v4()), serde_json::json!({"a": 1}));
        let back: Job = serde_json::from_slice(&serde_json::to_vec(&job).unwrap()).unwrap();
        assert_eq!(back, job);
    }

    #[test]
    fn a_missing_attempt_means_the_first_one() {
        let json = format!(r#"{{"id":"{}","kind":"noop","tenant_id":null,"payload":{{}}}}"#, Uuid::new_v4());
        let job: Job = serde_json::from_str(&json).unwrap();
        assert_eq!(job.attempt, 0);
    }

    #[test]
    fn a_job_with_a_bad_kind_does_not_decode() {
        let json = format!(r#"{{"id":"{}","kind":"No Such!","tenant_id":null,"payload":{{}}}}"#, Uuid::new_v4());
        assert!(serde_json::from_str::<Job>(&json).is_err());
    }
}

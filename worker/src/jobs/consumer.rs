//! `JobConsumer`: reads one kind's work queue and settles every delivery.
//!
//! - Manual acknowledgements, with a prefetch (`basic.qos`) that bounds how many
//!   jobs run at once; each delivery runs in its own task.
//! - Ok → ack. `Retry` → the job (its `attempt` incremented) is published to the
//!   next retry queue, confirmed, and only then is the original acked. Out of
//!   retries, or `Fatal` → the job is published to the parking queue with the
//!   reason, confirmed, then acked. A body that is not a job is parked as it came.
//! - If moving a job fails, the delivery is handed back (nack with requeue), a
//!   moment later so that a broken broker is not hammered.
//! - Shutdown: stop deliveries (`basic.cancel`), let the jobs in flight finish
//!   (up to a timeout, after which they are abandoned), then close the channel,
//!   which hands every unacknowledged delivery back to the queue.

use std::{future::Future, panic::AssertUnwindSafe, pin::pin, sync::Arc, time::Duration};

use futures_util::{FutureExt, StreamExt};
use lapin::{
    BasicProperties, Channel, Connection,
    message::Delivery,
    options::{
        BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
        ConfirmSelectOptions,
    },
    types::FieldTable,
};
use tokio::task::JoinSet;
use tracing::Instrument;
use uuid::Uuid;

use super::{
    Job, JobFailure, JobHandler, JobKind, JobQueues, QueueError, RetryPolicy,
    publish::{ParkReason, headers, moved_properties, publish_confirmed},
    topology,
};

/// How long a delivery that could not be moved waits before it is handed back.
const REQUEUE_PAUSE: Duration = Duration::from_secs(1);

/// How a consumer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerSettings {
    /// Deliveries held unacknowledged at once: the consumer's concurrency.
    pub prefetch: u16,
    /// The retry ladder (also shapes the declared retry queues).
    pub retry: RetryPolicy,
    /// How long jobs in flight may run on after shutdown is asked.
    pub shutdown_timeout: Duration,
}

/// How a consumer stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Jobs still running at the end of the shutdown timeout, stopped and left
    /// to be redelivered.
    pub abandoned: usize,
}

/// A consumer of one job kind, subscribed and ready to run.
pub struct JobConsumer<H> {
    channel: Channel,
    consumer: lapin::Consumer,
    tag: String,
    worker: Arc<Worker<H>>,
    shutdown_timeout: Duration,
}

/// What every delivery's task needs.
struct Worker<H> {
    handler: H,
    queues: JobQueues,
    policy: RetryPolicy,
    /// In confirm mode, apart from the consuming channel, so that confirms and
    /// deliveries do not share one channel's flow.
    publisher: Channel,
}

impl<H: JobHandler> JobConsumer<H> {
    /// Declares `kind`'s queues on the connection's vhost and subscribes to its
    /// work queue. Deliveries wait in the client until [`run_until`](Self::run_until).
    pub async fn start(
        connection: &Connection,
        kind: JobKind,
        handler: H,
        settings: ConsumerSettings,
    ) -> Result<Self, QueueError> {
        let channel = connection.create_channel().await?;
        let queues = topology::declare(&channel, &kind, &settings.retry).await?;
        let publisher = connection.create_channel().await?;
        publisher.confirm_select(ConfirmSelectOptions::default()).await?;
        channel.basic_qos(settings.prefetch, BasicQosOptions::default()).await?;
        let tag = format!("confer-worker.{kind}.{}", Uuid::new_v4().simple());
        let consumer = channel
            .basic_consume(
                queues.work().into(),
                tag.clone().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let worker = Arc::new(Worker { handler, queues, policy: settings.retry, publisher });
        Ok(Self { channel, consumer, tag, worker, shutdown_timeout: settings.shutdown_timeout })
    }

    /// The queues this consumer serves.
    pub fn queues(&self) -> &JobQueues {
        &self.worker.queues
    }

    /// Runs jobs until `shutdown` completes (or the broker ends the subscription),
    /// then drains. An error means the connection or channel failed; the jobs
    /// that were in flight go back to the queue.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<Drained, QueueError> {
        let Self { channel, mut consumer, tag, worker, shutdown_timeout } = self;
        let mut in_flight = JoinSet::new();
        let mut shutdown = pin!(shutdown);
        let mut failure = None;
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => log_if_lost(done),
                next = consumer.next() => match next {
                    Some(Ok(delivery)) => {
                        let worker = Arc::clone(&worker);
                        in_flight.spawn(async move { worker.process(delivery).await });
                    }
                    Some(Err(error)) => {
                        failure = Some(error);
                        break;
                    }
                    None => {
                        tracing::warn!(queue = %worker.queues.work(), "the broker cancelled the subscription");
                        break;
                    }
                },
            }
        }
        // Stop deliveries first, so that nothing new starts while the jobs in flight finish.
        if let Err(error) = channel.basic_cancel(tag.into(), BasicCancelOptions::default()).await {
            tracing::debug!(%error, "basic.cancel failed (the channel is already gone)");
        }
        let abandoned = drain(&mut in_flight, shutdown_timeout).await;
        // Closing hands every unacknowledged delivery (prefetched or abandoned) back to the queue.
        let _ = channel.close(200, "confer-worker shutting down".into()).await;
        let _ = worker.publisher.close(200, "confer-worker shutting down".into()).await;
        drop(consumer);
        match failure {
            Some(error) => Err(error.into()),
            None => Ok(Drained { abandoned }),
        }
    }
}

/// Waits for the jobs in flight, up to `timeout`; then stops the rest and says how many.
async fn drain(in_flight: &mut JoinSet<()>, timeout: Duration) -> usize {
    let finished = tokio::time::timeout(timeout, async {
        while let Some(done) = in_flight.join_next().await {
            log_if_lost(done);
        }
    })
    .await;
    if finished.is_ok() {
        return 0;
    }
    let abandoned = in_flight.len();
    tracing::warn!(abandoned, "shutdown timeout: jobs still running are stopped and will be redelivered");
    in_flight.abort_all();
    while in_flight.join_next().await.is_some() {}
    abandoned
}

fn log_if_lost(done: Result<(), tokio::task::JoinError>) {
    // Handler panics are caught inside the task; this is a bug of the runtime itself.
    if let Err(error) = done
        && error.is_panic()
    {
        tracing::error!(%error, "a job task panicked; its delivery goes back to the queue when the channel closes");
    }
}

impl<H: JobHandler> Worker<H> {
    /// Runs one delivery to its end: acked, retried, parked, or handed back.
    async fn process(&self, delivery: Delivery) {
        let job = match serde_json::from_slice::<Job>(&delivery.data) {
            Ok(job) if job.kind == *self.queues.kind() => job,
            Ok(job) => {
                let error = format!("a {} job in the queue of {}", job.kind, self.queues.kind());
                let moved = self.park_as_is(&delivery, ParkReason::WrongKind, &error).await;
                return settle(&delivery, moved).await;
            }
            Err(error) => {
                let moved = self.park_as_is(&delivery, ParkReason::Undecodable, &error.to_string()).await;
                return settle(&delivery, moved).await;
            }
        };
        let span = tracing::info_span!("job", job_id = %job.id, kind = %job.kind, attempt = job.attempt, tenant_id = ?job.tenant_id);
        async {
            let moved = match self.run_handler(&job).await {
                Ok(()) => {
                    tracing::debug!("job done");
                    Ok(())
                }
                Err(JobFailure::Retry(error)) => match self.policy.next_retry(job.attempt) {
                    Some(retry) => self.retry_later(&delivery, &job, retry, &error).await,
                    None => self.park_job(&delivery, &job, ParkReason::RetriesExhausted, &error).await,
                },
                Err(JobFailure::Fatal(error)) => self.park_job(&delivery, &job, ParkReason::Fatal, &error).await,
            };
            settle(&delivery, moved).await;
        }
        .instrument(span)
        .await
    }

    /// The handler's answer; a panic counts as a transient failure.
    async fn run_handler(&self, job: &Job) -> Result<(), JobFailure> {
        AssertUnwindSafe(self.handler.handle(job))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(JobFailure::Retry("the handler panicked".to_owned())))
    }

    async fn retry_later(&self, delivery: &Delivery, job: &Job, retry: u32, error: &str) -> Result<(), QueueError> {
        let queue = self.queues.retry(retry);
        tracing::warn!(
            error,
            retry,
            delay_ms = self.policy.delay_before(retry).as_millis() as u64,
            "job failed; retrying later"
        );
        let next = Job { attempt: retry, ..job.clone() };
        let properties = job_properties(&delivery.properties, &[(headers::LAST_ERROR, error)]);
        publish_confirmed(&self.publisher, &queue, &super::publish::encode(&next), properties).await
    }

    async fn park_job(
        &self,
        delivery: &Delivery,
        job: &Job,
        reason: ParkReason,
        error: &str,
    ) -> Result<(), QueueError> {
        tracing::error!(error, reason = reason.as_str(), "job parked");
        let extra = [(headers::PARKED_REASON, reason.as_str()), (headers::LAST_ERROR, error)];
        publish_confirmed(
            &self.publisher,
            &self.queues.parked(),
            &super::publish::encode(job),
            job_properties(&delivery.properties, &extra),
        )
        .await?;
        self.handler.parked(job, error).await;
        Ok(())
    }

    /// Parks a message that is not a job of this kind, byte for byte as it came.
    async fn park_as_is(&self, delivery: &Delivery, reason: ParkReason, error: &str) -> Result<(), QueueError> {
        tracing::error!(error, reason = reason.as_str(), queue = %self.queues.work(), "message parked");
        let extra = [(headers::PARKED_REASON, reason.as_str()), (headers::LAST_ERROR, error)];
        let properties = moved_properties(&delivery.properties, &extra);
        publish_confirmed(&self.publisher, &self.queues.parked(), &delivery.data, properties).await
    }
}

/// Acks once the job is where it belongs; otherwise hands it back to its queue.
async fn settle(delivery: &Delivery, moved: Result<(), QueueError>) {
    match moved {
        Ok(()) => {
            if let Err(error) = delivery.ack(BasicAckOptions::default()).await {
                tracing::warn!(%error, "ack failed; the job will be delivered again");
            }
        }
        Err(error) => {
            tracing::error!(%error, "could not move the job; handing it back to its queue");
            tokio::time::sleep(REQUEUE_PAUSE).await;
            if let Err(error) = delivery.nack(BasicNackOptions { requeue: true, ..BasicNackOptions::default() }).await {
                tracing::warn!(%error, "nack failed; the job goes back when the channel closes");
            }
        }
    }
}

fn job_properties(original: &BasicProperties, extra: &[(&str, &str)]) -> BasicProperties {
    moved_properties(original, extra).with_content_type("application/json".into())
}

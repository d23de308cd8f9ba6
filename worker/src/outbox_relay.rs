//! The outbox relay: jobs that the api wrote into `outbox` in the same statement as
//! the events that caused them are published to their RabbitMQ work queue, each
//! with a publisher confirm, and only then marked published, in the transaction that
//! locked them (`FOR UPDATE SKIP LOCKED`, so several relays share the work).
//!
//! A crash between the confirm and the commit publishes a job twice, never zero
//! times; the job keeps its outbox id as its id, so consumers recognise the copy.
//! While RabbitMQ is unreachable the jobs simply wait in the outbox, and the relay
//! reconnects with a growing pause.

use crate::jobs::{Job, JobKind, QueueError, RetryPolicies, topology};
use confer_store::{EventStore, Scope, StoreError};
use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, Connection, ConnectionProperties};
use sea_orm::{ConnectionTrait, FromQueryResult, Statement};
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

/// Why a round of relaying stopped.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The database failed.
    #[error("the outbox cannot be read or marked: {0}")]
    Store(#[from] StoreError),
    /// RabbitMQ failed or did not confirm.
    #[error("RabbitMQ: {0}")]
    Queue(#[from] QueueError),
}

impl From<lapin::Error> for RelayError {
    fn from(e: lapin::Error) -> Self {
        Self::Queue(e.into())
    }
}

/// How the relay runs.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// RabbitMQ URL, vhost included.
    pub amqp_url: String,
    /// Jobs published per transaction, at most.
    pub batch: u64,
    /// How long to wait when the outbox is empty.
    pub idle: Duration,
    /// The retry ladders the job queues are declared with (the consumers' own).
    pub retry: RetryPolicies,
}

#[derive(Debug, FromQueryResult)]
struct OutboxRow {
    id: Uuid,
    tenant_id: Uuid,
    kind: String,
    payload: serde_json::Value,
}

/// The first pause after a failure; each failure in a row doubles it, up to `MAX_PAUSE`.
const FIRST_PAUSE: Duration = Duration::from_millis(250);
const MAX_PAUSE: Duration = Duration::from_secs(10);

/// Relays the outbox of `store` until `stop` resolves.
pub async fn run_until(store: EventStore, settings: RelaySettings, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    let mut pause = FIRST_PAUSE;
    loop {
        let failure = tokio::select! {
            () = &mut stop => return,
            failure = connect(&settings) => match failure {
                // Connected: a later failure starts the pauses over.
                Ok(channel) => {
                    pause = FIRST_PAUSE;
                    tokio::select! {
                        () = &mut stop => return,
                        failure = relay(&store, &channel, &settings) => failure,
                    }
                }
                Err(e) => e,
            },
        };
        tracing::warn!(error = %failure, retry_in_ms = pause.as_millis() as u64, "the outbox relay stopped; starting again");
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// A channel in confirm mode on a new connection.
async fn connect(settings: &RelaySettings) -> Result<Channel, RelayError> {
    let connection = Connection::connect(&settings.amqp_url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    tracing::info!("outbox relay publishing");
    Ok(channel)
}

/// Publishes batches until something fails; answers the failure.
async fn relay(store: &EventStore, channel: &Channel, settings: &RelaySettings) -> RelayError {
    let mut declared = HashSet::new();
    loop {
        match publish_batch(store, channel, settings, &mut declared).await {
            Ok(0) => tokio::time::sleep(settings.idle).await,
            Ok(published) => tracing::debug!(published, "outbox jobs published"),
            Err(e) => return e,
        }
    }
}

/// Publishes up to a batch of unpublished jobs and marks them, in one transaction.
async fn publish_batch(
    store: &EventStore,
    channel: &Channel,
    settings: &RelaySettings,
    declared: &mut HashSet<JobKind>,
) -> Result<usize, RelayError> {
    let tx = store.begin(Scope::Platform).await?;
    let rows = OutboxRow::find_by_statement(Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "SELECT id, tenant_id, kind, payload FROM outbox WHERE published_at IS NULL
         ORDER BY created_at, id LIMIT $1 FOR UPDATE SKIP LOCKED",
        [(settings.batch as i64).into()],
    ))
    .all(tx.conn())
    .await
    .map_err(StoreError::from)?;
    if rows.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let mut sent = Vec::with_capacity(rows.len());
    let mut in_flight = Vec::with_capacity(rows.len());
    for row in rows {
        let Ok(kind) = JobKind::parse(&row.kind) else {
            tracing::error!(id = %row.id, kind = %row.kind, "an outbox job of an unusable kind is left unpublished");
            continue;
        };
        let policy = settings.retry.for_kind(&kind);
        if !declared.contains(&kind) {
            topology::declare(channel, &kind, &policy).await?;
            declared.insert(kind.clone());
        }
        let queue = topology::JobQueues::new(kind.clone(), &policy).work();
        let job = Job { id: row.id, kind, tenant_id: Some(row.tenant_id), payload: row.payload, attempt: 0 };
        let properties = crate::jobs::new_job_properties(&job);
        let pending = crate::jobs::publish_unconfirmed(channel, &queue, &crate::jobs::encode(&job), properties).await?;
        in_flight.push((row.id, queue, pending));
    }
    // The whole batch is in flight before its confirms are awaited: one round trip
    // to the broker's disk per batch instead of per job. A job is marked sent only
    // once confirmed; any failure leaves the batch unmarked, to be sent again.
    for (id, queue, pending) in in_flight {
        crate::jobs::confirmed(&queue, pending).await?;
        sent.push(id);
    }
    tx.conn()
        .execute_raw(Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "UPDATE outbox SET published_at = now() WHERE id = ANY($1)",
            [sent.clone().into()],
        ))
        .await
        .map_err(StoreError::from)?;
    tx.commit().await?;
    Ok(sent.len())
}

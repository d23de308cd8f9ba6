//! `confer-worker`: runs Confer's background jobs from RabbitMQ.
//!
//! - With `DATABASE_URL`, it relays the api's outbox: jobs written with the events
//!   that caused them are published to their queues, confirmed, then marked sent.
//! - It serves one built-in job kind, `noop` (does nothing: it exercises the runtime
//!   for real and measures its cost). The domain jobs come next: DNS checks of
//!   custom domains, ACME certificate orders and renewals — each a `JobHandler`
//!   registered here beside `noop`.
//!
//! Logs `confer-worker consuming` once subscribed; while RabbitMQ is unreachable it
//! keeps trying (and outbox jobs wait in the database). Drains on SIGTERM or ctrl-c:
//! jobs in flight finish, the rest go back to their queues.

use anyhow::Context;
use clap::Parser;
use confer_worker::{
    config::Config,
    jobs::{ConsumerSettings, Drained, JobConsumer, JobHandler, JobKind, NoopHandler, Once, QueueError},
    outbox_relay::{self, RelaySettings},
    shutdown,
};
use lapin::{Connection, ConnectionProperties};
use std::time::Duration;
use tokio::sync::watch;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    confer_api::telemetry::init(config.log_format, "info,lapin=warn,sqlx=warn,sea_orm=warn");
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown::requested().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut stop: watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|s| *s).await;
    };

    let store = match &config.database_url {
        Some(url) => Some(confer_api::store::EventStore::new(confer_api::app::connect_as_app(url, 4).await?)),
        None => {
            tracing::warn!(
                "DATABASE_URL is not set: the api's outbox is not relayed, and job outcomes are not recorded"
            );
            None
        }
    };
    let relay = store.clone().map(|store| {
        let settings = RelaySettings {
            amqp_url: config.amqp_url.clone(),
            batch: config.outbox_batch,
            idle: Duration::from_millis(config.outbox_idle_ms),
            retry: config.retry_policy(),
        };
        tokio::spawn(outbox_relay::run_until(store, settings, stopped(stop.clone())))
    });

    let Some(connection) = connect(&config.amqp_url, stop.clone()).await else {
        return Ok(());
    };
    let settings = ConsumerSettings {
        prefetch: config.job_prefetch,
        retry: config.retry_policy(),
        shutdown_timeout: config.shutdown_timeout(),
    };
    let kind = JobKind::parse(NoopHandler::KIND)?;
    // With a database, every job's outcome is recorded and a copy is skipped.
    let drained = match store {
        Some(store) => consume(&connection, kind, Once::new(NoopHandler, store), settings, stopped(stop)).await?,
        None => consume(&connection, kind, NoopHandler, settings, stopped(stop)).await?,
    };
    let _ = connection.close(200, "confer-worker stopped".into()).await;
    if let Some(relay) = relay {
        let _ = relay.await;
    }
    let drained = drained.context("consuming jobs")?;
    tracing::info!(abandoned = drained.abandoned, "confer-worker stopped");
    Ok(())
}

/// Subscribes `handler` to its queue and runs it until `stop`.
async fn consume<H: JobHandler>(
    connection: &Connection,
    kind: JobKind,
    handler: H,
    settings: ConsumerSettings,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Result<Drained, QueueError>> {
    let consumer = JobConsumer::start(connection, kind, handler, settings)
        .await
        .context("declare the job queues and subscribe")?;
    tracing::info!(
        queue = %consumer.queues().work(),
        prefetch = settings.prefetch,
        retries = settings.retry.max_retries(),
        "confer-worker consuming"
    );
    Ok(consumer.run_until(stop).await)
}

/// Connects to RabbitMQ, trying again with a growing pause until it answers or the
/// worker is asked to stop (then `None`).
async fn connect(url: &str, mut stop: watch::Receiver<bool>) -> Option<Connection> {
    let mut pause = Duration::from_millis(250);
    loop {
        match Connection::connect(url, ConnectionProperties::default()).await {
            Ok(connection) => return Some(connection),
            Err(e) => tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "RabbitMQ does not answer"),
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return None,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}

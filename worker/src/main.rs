//! `confer-worker`: runs Confer's background jobs from RabbitMQ.
//!
//! - With `DATABASE_URL`, it relays the api's outbox: jobs written with the events
//!   that caused them are published to their queues, confirmed, then marked sent.
//! - Job kinds served:
//!   - `noop` (does nothing: it exercises the runtime for real and measures its cost);
//!   - `check_domain` (with a database): DNS checks of new custom domains;
//!   - `order_certificate` (with a database, `CONFER_ACME_DIRECTORY_URL` and
//!     `CONFER_MASTER_KEY`): ACME certificates for verified domains, and renewals,
//!     which a scan asks for two thirds into each certificate's lifetime.
//!
//! Logs `confer-worker consuming` once subscribed to every queue; while RabbitMQ is
//! unreachable it keeps trying (and outbox jobs wait in the database). Drains on
//! SIGTERM or ctrl-c: jobs in flight finish, the rest go back to their queues.

use anyhow::Context;
use clap::Parser;
use confer_worker::{
    certificates::{AcmeClient, AcmeSettings, RedisChallengeBoard},
    config::Config,
    domains::{self, CertificateOrders, DomainCheck, HickoryDns},
    jobs::{ConsumerSettings, Drained, JobConsumer, JobHandler, JobKind, NoopHandler, Once, QueueError, RetryPolicy},
    outbox_relay::{self, RelaySettings},
    shutdown,
};
use lapin::{Connection, ConnectionProperties};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

type Consuming = JoinHandle<Result<Drained, QueueError>>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    confer_telemetry::init(config.log_format, "info,lapin=warn,sqlx=warn,sea_orm=warn");
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown::requested().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut stop: watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|s| *s).await;
    };

    let store = match &config.database_url {
        Some(url) => Some(confer_store::EventStore::new(confer_store::connect_as_app(url, 4).await?)),
        None => {
            tracing::warn!(
                "DATABASE_URL is not set: the api's outbox is not relayed, job outcomes are not recorded, and \
                 no domain jobs run"
            );
            None
        }
    };
    let mut background = Vec::new();
    if let Some(store) = &store {
        let settings = RelaySettings {
            amqp_url: config.amqp_url.clone(),
            batch: config.outbox_batch,
            idle: Duration::from_millis(config.outbox_idle_ms),
            retry: config.retry_policies(),
        };
        background.push(tokio::spawn(outbox_relay::run_until(store.clone(), settings, stopped(stop.clone()))));
    }

    let Some(connection) = connect(&config.amqp_url, stop.clone()).await else {
        return Ok(());
    };
    let settings = |retry: RetryPolicy| ConsumerSettings {
        prefetch: config.job_prefetch,
        retry,
        shutdown_timeout: config.shutdown_timeout(),
    };
    let mut consuming: Vec<Consuming> = Vec::new();
    let mut queues = Vec::new();
    let noop = settings(config.retry_policy());
    // With a database, every job's outcome is recorded and a copy is skipped.
    match &store {
        _ if !config.consumes(NoopHandler::KIND) => {}
        Some(store) => {
            let handler = Once::new(NoopHandler, store.clone());
            consuming.push(
                consume(&connection, NoopHandler::KIND, handler, noop, stopped(stop.clone()), &mut queues).await?,
            );
        }
        None => consuming.push(
            consume(&connection, NoopHandler::KIND, NoopHandler, noop, stopped(stop.clone()), &mut queues).await?,
        ),
    }
    if let Some(store) = store.as_ref().filter(|_| config.consumes(domains::CHECK_DOMAIN)) {
        let dns = HickoryDns::new(config.dns_resolver).context("set up the DNS resolver (CONFER_DNS_RESOLVER)")?;
        let check = Once::new(DomainCheck::new(store.clone(), dns, config.dns_retry_policy()), store.clone());
        let dns_settings = settings(config.dns_retry_policy());
        consuming.push(
            consume(&connection, domains::CHECK_DOMAIN, check, dns_settings, stopped(stop.clone()), &mut queues)
                .await?,
        );
    }
    if let Some(store) = store.as_ref().filter(|_| config.consumes(domains::ORDER_CERTIFICATE)) {
        match certificate_orders(&config, store).await? {
            Some(orders) => {
                let acme_settings = settings(config.acme_retry_policy());
                let orders = Once::new(orders, store.clone());
                consuming.push(
                    consume(
                        &connection,
                        domains::ORDER_CERTIFICATE,
                        orders,
                        acme_settings,
                        stopped(stop.clone()),
                        &mut queues,
                    )
                    .await?,
                );
                let every = Duration::from_secs(config.renewal_scan_seconds);
                background.push(tokio::spawn(domains::renewal_scan::run_until(
                    store.clone(),
                    every,
                    stopped(stop.clone()),
                )));
            }
            None => tracing::warn!(
                "CONFER_ACME_DIRECTORY_URL is not set: no certificates are ordered (verified domains wait in the queue)"
            ),
        }
    }
    tracing::info!(queues = %queues.join(","), prefetch = config.job_prefetch, "confer-worker consuming");

    let mut failure = None;
    let mut abandoned = 0;
    for handle in consuming {
        match handle.await {
            Ok(Ok(drained)) => abandoned += drained.abandoned,
            Ok(Err(e)) => failure = Some(anyhow::Error::new(e).context("consuming jobs")),
            Err(e) => failure = Some(anyhow::Error::new(e).context("a consumer task")),
        }
    }
    let _ = connection.close(200, "confer-worker stopped".into()).await;
    for task in background {
        let _ = task.await;
    }
    if let Some(failure) = failure {
        return Err(failure);
    }
    tracing::info!(abandoned, "confer-worker stopped");
    Ok(())
}

/// The certificate orders, when ACME is configured.
async fn certificate_orders(
    config: &Config,
    store: &confer_store::EventStore,
) -> anyhow::Result<Option<CertificateOrders<RedisChallengeBoard>>> {
    let Some(directory_url) = config.acme_directory_url.clone() else {
        return Ok(None);
    };
    let master = config.master_key.as_deref().context("CONFER_MASTER_KEY is needed to order certificates")?;
    let master = confer_store::secrets::MasterKey::from_base64(master)?;
    let redis = redis::Client::open(config.redis_url.as_str()).context("CONFER_REDIS_URL")?;
    let redis = redis::aio::ConnectionManager::new(redis).await.context("connect to Redis (CONFER_REDIS_URL)")?;
    let acme = AcmeClient::new(AcmeSettings {
        directory_url,
        root_pem: config.acme_root.clone(),
        contact: config.acme_contact.clone(),
    });
    let board = RedisChallengeBoard::new(redis.clone());
    Ok(Some(CertificateOrders::new(store.clone(), master, acme, board, redis, config.acme_retry_policy())))
}

/// Subscribes `handler` to its queue and runs it, on a task, until `stop`.
async fn consume<H: JobHandler>(
    connection: &Connection,
    kind: &str,
    handler: H,
    settings: ConsumerSettings,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
    queues: &mut Vec<String>,
) -> anyhow::Result<Consuming> {
    let kind = JobKind::parse(kind)?;
    let consumer = JobConsumer::start(connection, kind, handler, settings)
        .await
        .context("declare the job queues and subscribe")?;
    tracing::debug!(queue = %consumer.queues().work(), retries = settings.retry.max_retries(), "subscribed");
    queues.push(consumer.queues().work());
    Ok(tokio::spawn(consumer.run_until(stop)))
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

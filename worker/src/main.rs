//! `confer-worker`: runs Confer's background jobs from RabbitMQ.
//!
//! For now it serves one built-in job kind, `noop` (does nothing: it exercises the
//! runtime for real and measures its cost). The domain jobs come next: DNS checks
//! of custom domains, ACME certificate orders and renewals, media-node
//! provisioning, webhooks — each a `JobHandler` registered here beside `noop`,
//! reading and writing the api's event store.
//!
//! Logs `confer-worker consuming` once every consumer is subscribed; drains on
//! SIGTERM or ctrl-c (jobs in flight finish, the rest go back to their queues).

use anyhow::Context;
use clap::Parser;
use confer_worker::{
    config::Config,
    jobs::{ConsumerSettings, JobConsumer, JobKind, NoopHandler},
    shutdown, telemetry,
};
use lapin::{Connection, ConnectionProperties};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init(config.log_format);
    let connection = Connection::connect(&config.amqp_url, ConnectionProperties::default())
        .await
        .context("connect to RabbitMQ (CONFER_AMQP_URL)")?;
    let settings = ConsumerSettings {
        prefetch: config.job_prefetch,
        retry: config.retry_policy(),
        shutdown_timeout: config.shutdown_timeout(),
    };
    let kind = JobKind::parse(NoopHandler::KIND)?;
    let consumer = JobConsumer::start(&connection, kind, NoopHandler, settings)
        .await
        .context("declare the job queues and subscribe")?;
    tracing::info!(
        queue = %consumer.queues().work(),
        prefetch = settings.prefetch,
        retries = settings.retry.max_retries(),
        "confer-worker consuming"
    );
    let drained = consumer.run_until(shutdown::requested()).await;
    let _ = connection.close(200, "confer-worker stopped".into()).await;
    let drained = drained.context("consuming jobs")?;
    tracing::info!(abandoned = drained.abandoned, "confer-worker stopped");
    Ok(())
}

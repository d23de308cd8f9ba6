//! Consumers are idempotent: a job id is recorded with its outcome in the real
//! PostgreSQL, so a job delivered twice by the real RabbitMQ runs once, and a job
//! that failed for good stays failed with its reason.

use confer_tests::TestPlatform;
use confer_tests::rabbitmq::TestVhost;
use confer_worker::jobs::{ConsumerSettings, Job, JobConsumer, JobFailure, JobHandler, JobKind, Once, RetryPolicy};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Counts the jobs it runs; fails for good when the payload says so.
#[derive(Clone, Default)]
struct Counting(Arc<AtomicUsize>);

impl JobHandler for Counting {
    async fn handle(&self, job: &Job) -> Result<(), JobFailure> {
        self.0.fetch_add(1, Ordering::SeqCst);
        match job.payload["fail"].as_str() {
            Some(why) => Err(JobFailure::Fatal(why.to_owned())),
            None => Ok(()),
        }
    }
}

#[tokio::test]
async fn a_job_delivered_twice_runs_once_and_its_outcome_is_recorded() {
    let p = TestPlatform::start().await;
    let vhost = TestVhost::create();
    let db = confer_store::connect_as_app(&p.db.url, 2).await.expect("the database");
    let store = confer_store::EventStore::new(db);
    let connection = Connection::connect(&vhost.amqp_url(), ConnectionProperties::default()).await.expect("RabbitMQ");
    let kind = JobKind::parse("count").unwrap();
    let counting = Counting::default();
    let settings = ConsumerSettings {
        prefetch: 1,
        retry: RetryPolicy::new(1, Duration::from_millis(100)),
        shutdown_timeout: Duration::from_secs(5),
    };
    let consumer = JobConsumer::start(&connection, kind.clone(), Once::new(counting.clone(), store), settings)
        .await
        .expect("a consumer");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(consumer.run_until(async move {
        let _ = stop_rx.await;
    }));

    let channel = connection.create_channel().await.unwrap();
    channel.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
    let done = Job::new(kind.clone(), None, serde_json::json!({}));
    let failed = Job::new(kind.clone(), None, serde_json::json!({"fail": "the name is not ours"}));
    for job in [&done, &done, &failed, &failed] {
        let body = serde_json::to_vec(job).unwrap();
        channel
            .basic_publish(
                "".into(),
                "confer.jobs.count".into(),
                BasicPublishOptions::default(),
                &body,
                BasicProperties::default(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while vhost.ready("confer.jobs.count") != Some(0) || p.scalar("SELECT count(*) FROM processed_jobs").await < 2 {
        assert!(Instant::now() < deadline, "the jobs were not consumed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop_tx.send(());
    running.await.unwrap().expect("a clean drain");

    assert_eq!(counting.0.load(Ordering::SeqCst), 2, "each job ran once though delivered twice");
    let outcomes = p
        .json(&format!(
            "SELECT jsonb_object_agg(job_id::text, jsonb_build_array(outcome, detail)) FROM processed_jobs
             WHERE job_id IN ('{}', '{}')",
            done.id, failed.id
        ))
        .await;
    assert_eq!(outcomes[done.id.to_string()], serde_json::json!(["done", null]));
    assert_eq!(outcomes[failed.id.to_string()], serde_json::json!(["failed", "the name is not ours"]));
    assert_eq!(vhost.ready("confer.jobs.count.parked"), Some(1), "the fatal one parked once; its copy skipped");
}

//! The outbox relay, end to end: jobs written by the api with the events that cause
//! them (a custom domain's `check_domain`) reach their RabbitMQ queue through the real
//! `confer-worker`, each exactly once, and wait in the database while RabbitMQ is
//! down, to be delivered once it is back.

use confer_tests::rabbitmq::TestVhost;
use confer_tests::{Killed, TestPlatform, binary, unique_slug};
use reqwest::Method;
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn start_worker(database_url: &str, vhost: &TestVhost) -> Killed {
    let child = Command::new(binary("confer-worker"))
        .env("DATABASE_URL", database_url)
        .env("CONFER_AMQP_URL", vhost.amqp_url())
        .env("CONFER_JOB_RETRY_BASE_MS", "200")
        .env("CONFER_OUTBOX_IDLE_MS", "50")
        // Only relaying here: the check_domain jobs stay in their queue to be counted.
        .env("CONFER_WORKER_JOBS", "noop")
        .env("CONFER_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start confer-worker");
    Killed(child)
}

async fn until(what: &str, within: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done().await {
        assert!(Instant::now() < deadline, "{what} did not happen within {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const QUEUE: &str = "confer.jobs.check_domain";

#[tokio::test]
async fn jobs_written_while_rabbitmq_is_down_are_delivered_once_it_is_back() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("obx")).await;
    let vhost = TestVhost::create();
    vhost.deny();
    let _worker = start_worker(&p.db.url, &vhost);

    for name in ["a", "b", "c"] {
        let (status, body) =
            p.send(&t, Method::POST, "/v1/domains", Some(json!({"hostname": format!("{name}.relay.example")}))).await;
        assert_eq!(status, 202, "{body}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let waiting = p.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL").await;
    assert_eq!(waiting, 3, "with RabbitMQ down the jobs wait in the outbox");

    vhost.allow();
    until("the three jobs to be published", Duration::from_secs(40), async || {
        p.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL").await == 0
    })
    .await;
    until("the three jobs to be in their queue", Duration::from_secs(10), async || vhost.ready(QUEUE) == Some(3)).await;

    // A job written while everything runs goes through at once, and nothing twice.
    p.send(&t, Method::POST, "/v1/domains", Some(json!({"hostname": "d.relay.example"}))).await;
    until("the fourth job to be queued", Duration::from_secs(20), async || vhost.ready(QUEUE) == Some(4)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(vhost.ready(QUEUE), Some(4), "each job once");
    assert_eq!(p.scalar("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL").await, 4);
}

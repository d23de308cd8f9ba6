//! The job runtime against a real RabbitMQ: each test gets its own vhost (made
//! and removed with `rabbitmqctl`), publishes jobs, runs a consumer with a
//! scripted handler, and judges the outcome by reading the queues.

use std::{
    process::Command,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use confer_worker::jobs::{
    ConsumerSettings, Drained, Job, JobConsumer, JobFailure, JobHandler, JobKind, JobQueues, QueueError, RetryPolicy,
    headers,
};
use lapin::{
    BasicProperties, Channel, Connection, ConnectionProperties,
    message::BasicGetMessage,
    options::{BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable},
};
use tokio::{sync::oneshot, task::JoinHandle};

/// A RabbitMQ vhost of one test, deleted when the test ends.
struct TestVhost {
    name: String,
}

impl TestVhost {
    fn create() -> Self {
        let name = format!("confer-test-{}", uuid::Uuid::new_v4().simple());
        rabbitmqctl(&["add_vhost", &name]);
        rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
        Self { name }
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }
}

impl Drop for TestVhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl").args(["delete_vhost", &self.name]).output();
    }
}

fn rabbitmqctl(args: &[&str]) {
    let output = Command::new("rabbitmqctl").args(args).output().expect("run rabbitmqctl");
    assert!(output.status.success(), "rabbitmqctl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// What a scripted handler answers on each attempt, and what it saw.
#[derive(Clone)]
struct Scripted {
    answer: fn(&Job) -> Result<(), JobFailure>,
    work: Duration,
    seen: Arc<Mutex<Vec<Seen>>>,
}

#[derive(Debug, Clone)]
struct Seen {
    job: Job,
    started: Instant,
    finished: Option<Instant>,
}

impl Scripted {
    fn new(answer: fn(&Job) -> Result<(), JobFailure>) -> Self {
        Self { answer, work: Duration::ZERO, seen: Arc::default() }
    }

    fn taking(mut self, work: Duration) -> Self {
        self.work = work;
        self
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn attempts(&self) -> Vec<u32> {
        self.seen().iter().map(|s| s.job.attempt).collect()
    }
}

impl JobHandler for Scripted {
    async fn handle(&self, job: &Job) -> Result<(), JobFailure> {
        let index = {
            let mut seen = self.seen.lock().unwrap();
            seen.push(Seen { job: job.clone(), started: Instant::now(), finished: None });
            seen.len() - 1
        };
        tokio::time::sleep(self.work).await;
        self.seen.lock().unwrap()[index].finished = Some(Instant::now());
        (self.answer)(job)
    }
}

/// A consumer running in the background, and the means to stop it.
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<Drained, QueueError>>,
}

impl Running {
    async fn stop(self) -> Drained {
        let _ = self.stop.send(());
        self.task.await.expect("consumer task").expect("consumer ran cleanly")
    }
}

struct Broker {
    // Fields drop in order: the connection closes before the vhost goes.
    connection: Connection,
    channel: Channel,
    _vhost: TestVhost,
}

impl Broker {
    async fn start() -> Self {
        let vhost = TestVhost::create();
        let connection = Connection::connect(&vhost.url(), ConnectionProperties::default()).await.expect("connect");
        let channel = connection.create_channel().await.expect("channel");
        channel.confirm_select(ConfirmSelectOptions::default()).await.expect("confirm mode");
        Self { connection, channel, _vhost: vhost }
    }

    async fn run(&self, handler: Scripted, settings: ConsumerSettings) -> (JobQueues, Running) {
        let consumer = JobConsumer::start(&self.connection, kind(), handler, settings).await.expect("start consumer");
        let queues = consumer.queues().clone();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(consumer.run_until(async move {
            let _ = stopped.await;
        }));
        (queues, Running { stop, task })
    }

    async fn publish(&self, queue: &str, body: &[u8]) {
        let properties = BasicProperties::default().with_delivery_mode(2);
        let confirm = self
            .channel
            .basic_publish("".into(), queue.into(), BasicPublishOptions::default(), body, properties)
            .await
            .expect("publish")
            .await
            .expect("confirm");
        assert!(confirm.is_ack());
    }

    async fn publish_job(&self, queues: &JobQueues) -> Job {
        let job = Job::new(kind(), Some(uuid::Uuid::new_v4()), serde_json::json!({"test": true}));
        self.publish(&queues.work(), &serde_json::to_vec(&job).unwrap()).await;
        job
    }

    /// Messages ready in `queue` (not counting deliveries held unacknowledged).
    async fn ready(&self, queue: &str) -> u32 {
        let options = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
        self.channel
            .queue_declare(queue.into(), options, FieldTable::default())
            .await
            .expect("passive declare")
            .message_count()
    }

    async fn get(&self, queue: &str) -> Option<BasicGetMessage> {
        self.channel.basic_get(queue.into(), BasicGetOptions { no_ack: true }).await.expect("basic.get")
    }

    /// Every queue of the kind holds nothing (ready).
    async fn assert_empty(&self, queues: &[String]) {
        for queue in queues {
            assert_eq!(self.ready(queue).await, 0, "{queue} is not empty");
        }
    }
}

fn kind() -> JobKind {
    JobKind::parse("test").unwrap()
}

fn settings(max_retries: u32, base_ms: u64) -> ConsumerSettings {
    ConsumerSettings {
        prefetch: 4,
        retry: RetryPolicy::new(max_retries, Duration::from_millis(base_ms)),
        shutdown_timeout: Duration::from_secs(5),
    }
}

fn all_queues(queues: &JobQueues) -> Vec<String> {
    let mut all = vec![queues.work(), queues.parked()];
    all.extend(queues.retries());
    all
}

fn header(message: &BasicGetMessage, name: &str) -> Option<String> {
    match message.delivery.properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongString(value) => Some(value.to_string()),
        other => panic!("header {name} is {other:?}"),
    }
}

/// Polls `condition` every 20 ms until it holds, failing the test after 15 s.
async fn eventually<F: AsyncFn() -> bool>(what: &str, condition: F) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_job_that_succeeds_is_acknowledged_once() {
    let broker = Broker::start().await;
    let handler = Scripted::new(|_| Ok(()));
    let (queues, running) = broker.run(handler.clone(), settings(3, 100)).await;
    let job = broker.publish_job(&queues).await;

    eventually("the handler ran", async || !handler.seen().is_empty()).await;
    assert_eq!(running.stop().await, Drained { abandoned: 0 });

    // Stopped and its channel closed: an unacknowledged delivery would be back in the queue.
    broker.assert_empty(&all_queues(&queues)).await;
    let seen = handler.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].job, job);
}

#[tokio::test]
async fn a_job_that_fails_twice_is_retried_with_growing_delays_then_succeeds() {
    let broker = Broker::start().await;
    let handler = Scripted::new(|job| if job.attempt < 2 { Err(JobFailure::Retry("not yet".into())) } else { Ok(()) });
    let (queues, running) = broker.run(handler.clone(), settings(3, 150)).await;
    let job = broker.publish_job(&queues).await;

    eventually("the third attempt ran", async || handler.seen().len() == 3).await;
    running.stop().await;

    assert_eq!(handler.attempts(), [0, 1, 2]);
    let seen = handler.seen();
    assert!(seen.iter().all(|s| s.job.id == job.id), "every attempt is the same job");
    let first_gap = seen[1].started - seen[0].started;
    let second_gap = seen[2].started - seen[1].started;
    assert!(second_gap > first_gap, "backoff grows: {first_gap:?} then {second_gap:?}");
    broker.assert_empty(&all_queues(&queues)).await;
}

#[tokio::test]
async fn a_job_that_always_fails_is_parked_after_its_last_retry() {
    let broker = Broker::start().await;
    let handler = Scripted::new(|_| Err(JobFailure::Retry("upstream unavailable".into())));
    let (queues, running) = broker.run(handler.clone(), settings(3, 50)).await;
    let job = broker.publish_job(&queues).await;

    eventually("the job is parked", async || broker.ready(&queues.parked()).await == 1).await;
    running.stop().await;

    assert_eq!(handler.attempts(), [0, 1, 2, 3]);
    let parked = broker.get(&queues.parked()).await.expect("a parked job");
    assert_eq!(header(&parked, headers::PARKED_REASON).as_deref(), Some("retries_exhausted"));
    assert_eq!(header(&parked, headers::LAST_ERROR).as_deref(), Some("upstream unavailable"));
    let parked_job: Job = serde_json::from_slice(&parked.delivery.data).unwrap();
    assert_eq!(parked_job, Job { attempt: 3, ..job });
    broker.assert_empty(&all_queues(&queues)).await;
}

#[tokio::test]
async fn a_fatal_failure_parks_the_job_at_once() {
    let broker = Broker::start().await;
    let handler = Scripted::new(|_| Err(JobFailure::Fatal("hostname refused".into())));
    let (queues, running) = broker.run(handler.clone(), settings(3, 50)).await;
    let job = broker.publish_job(&queues).await;

    eventually("the job is parked", async || broker.ready(&queues.parked()).await == 1).await;
    running.stop().await;

    assert_eq!(handler.attempts(), [0]);
    let parked = broker.get(&queues.parked()).await.expect("a parked job");
    assert_eq!(header(&parked, headers::PARKED_REASON).as_deref(), Some("fatal"));
    assert_eq!(header(&parked, headers::LAST_ERROR).as_deref(), Some("hostname refused"));
    assert_eq!(serde_json::from_slice::<Job>(&parked.delivery.data).unwrap(), job);
    broker.assert_empty(&all_queues(&queues)).await;
}

#[tokio::test]
async fn an_undecodable_message_is_parked_and_the_next_job_still_runs() {
    let broker = Broker::start().await;
    let handler = Scripted::new(|_| Ok(()));
    let (queues, running) = broker.run(handler.clone(), settings(3, 50)).await;
    broker.publish(&queues.work(), b"{not a job").await;
    let job = broker.publish_job(&queues).await;

    eventually("the good job ran", async || !handler.seen().is_empty()).await;
    eventually("the bad message is parked", async || broker.ready(&queues.parked()).await == 1).await;
    running.stop().await;

    assert_eq!(handler.seen().iter().map(|s| s.job.id).collect::<Vec<_>>(), [job.id]);
    let parked = broker.get(&queues.parked()).await.expect("the parked message");
    assert_eq!(parked.delivery.data, b"{not a job", "parked byte for byte");
    assert_eq!(header(&parked, headers::PARKED_REASON).as_deref(), Some("undecodable"));
    assert!(header(&parked, headers::LAST_ERROR).is_some());
    broker.assert_empty(&all_queues(&queues)).await;
}

#[tokio::test]
async fn a_job_of_another_kind_is_parked() {
    let broker = Broker::start().await;
    let handler = Scripted::new(|_| Ok(()));
    let (queues, running) = broker.run(handler.clone(), settings(3, 50)).await;
    let stray = Job::new(JobKind::parse("other").unwrap(), None, serde_json::Value::Null);
    broker.publish(&queues.work(), &serde_json::to_vec(&stray).unwrap()).await;

    eventually("the stray job is parked", async || broker.ready(&queues.parked()).await == 1).await;
    running.stop().await;

    assert!(handler.seen().is_empty());
    let parked = broker.get(&queues.parked()).await.expect("the parked job");
    assert_eq!(header(&parked, headers::PARKED_REASON).as_deref(), Some("wrong_kind"));
}

#[tokio::test]
async fn shutdown_lets_the_job_in_flight_finish_and_leaves_the_rest_queued() {
    let broker = Broker::start().await;
    let handler = Scripted::new(|_| Ok(())).taking(Duration::from_millis(500));
    let one_at_a_time = ConsumerSettings { prefetch: 1, ..settings(3, 50) };
    let (queues, running) = broker.run(handler.clone(), one_at_a_time).await;
    let first = broker.publish_job(&queues).await;
    let second = broker.publish_job(&queues).await;

    eventually("the first job started", async || !handler.seen().is_empty()).await;
    let drained = running.stop().await;

    assert_eq!(drained, Drained { abandoned: 0 });
    let seen = handler.seen();
    assert_eq!(seen.len(), 1, "the second job did not start");
    assert_eq!(seen[0].job.id, first.id);
    assert!(seen[0].finished.is_some(), "the job in flight finished");
    assert_eq!(broker.ready(&queues.work()).await, 1, "the first job was acked, the second is still queued");
    let left = broker.get(&queues.work()).await.expect("the second job");
    assert_eq!(serde_json::from_slice::<Job>(&left.delivery.data).unwrap(), second);
}

#[tokio::test]
async fn a_job_still_running_at_the_shutdown_timeout_goes_back_to_its_queue() {
    let broker = Broker::start().await;
    let handler = Scripted::new(|_| Ok(())).taking(Duration::from_secs(30));
    let impatient = ConsumerSettings { shutdown_timeout: Duration::from_millis(200), ..settings(3, 50) };
    let (queues, running) = broker.run(handler.clone(), impatient).await;
    let job = broker.publish_job(&queues).await;

    eventually("the job started", async || !handler.seen().is_empty()).await;
    assert_eq!(running.stop().await, Drained { abandoned: 1 });

    assert!(handler.seen()[0].finished.is_none());
    eventually("the job is back", async || broker.ready(&queues.work()).await == 1).await;
    let back = broker.get(&queues.work()).await.expect("the job");
    assert!(back.delivery.redelivered);
    assert_eq!(serde_json::from_slice::<Job>(&back.delivery.data).unwrap(), job);
}

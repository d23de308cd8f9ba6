//! `confer_worker`: the background-job runtime of Confer.
//!
//! Jobs arrive over RabbitMQ (published from the api's outbox). Each job kind has
//! its own durable work queue, a ladder of retry queues that hand a failed job back
//! after a growing delay (dead-letter exchange + message TTL), and a parking queue
//! for jobs that keep failing, so that no job is ever dropped on the floor.
//!
//! - [`jobs`]: the job envelope, the handler trait, the queue topology and the consumer.
//! - [`outbox_relay`]: jobs from the api's outbox to their queues, confirmed.
//! - [`domains`]: custom domains' DNS checks, certificate orders and renewals.
//! - [`certificates`]: the ACME client and where HTTP-01 answers are posted.
//! - [`config`]: the worker's flags and environment variables.
//! - [`shutdown`]: the signal that starts a graceful drain.

pub mod certificates;
pub mod config;
pub mod domains;
pub mod jobs;
pub mod outbox_relay;
pub mod shutdown;

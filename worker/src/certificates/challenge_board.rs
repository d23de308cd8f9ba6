//! `ChallengeBoard`: where the worker pins HTTP-01 answers for the tenant's site to
//! serve.
//!
//! The CA fetches `http://<hostname>/.well-known/acme-challenge/<token>` from whichever
//! media node the name points at, not from the worker. So the worker posts each answer
//! (the key authorization) on a board every node reads, tells the CA it is ready, and
//! takes the answer down when the order is over. [`RedisChallengeBoard`] is the board
//! of a deployment: a Redis key per token, with a TTL so that an answer a crashed worker
//! left behind disappears on its own.

use std::future::Future;
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::AcmeError;

/// Where HTTP-01 answers are posted for the site to serve.
pub trait ChallengeBoard: Send + Sync {
    /// Makes `GET /.well-known/acme-challenge/<token>` answer `key_authorization`.
    fn post(&self, token: &str, key_authorization: &str) -> impl Future<Output = Result<(), AcmeError>> + Send;

    /// Stops answering for `token` (nothing happens if it was not posted).
    fn take_down(&self, token: &str) -> impl Future<Output = Result<(), AcmeError>> + Send;
}

/// How long an answer stays on the Redis board when nobody takes it down: longer than
/// any order takes, short enough that a crashed worker leaves nothing behind for long.
pub const ANSWER_TTL: Duration = Duration::from_secs(15 * 60);

/// The board in Redis: the answer for `token` is the string at
/// [`confer_vocabulary::acme_http01_key`]`(token)`, set with a TTL of [`ANSWER_TTL`];
/// taking it down deletes the key.
#[derive(Clone)]
pub struct RedisChallengeBoard {
    redis: ConnectionManager,
}

impl RedisChallengeBoard {
    /// A board on this connection (it reconnects by itself after a failure).
    pub fn new(redis: ConnectionManager) -> Self {
        Self { redis }
    }
}

impl ChallengeBoard for RedisChallengeBoard {
    async fn post(&self, token: &str, key_authorization: &str) -> Result<(), AcmeError> {
        let mut redis = self.redis.clone();
        redis::cmd("SET")
            .arg(confer_vocabulary::acme_http01_key(token))
            .arg(key_authorization)
            .arg("EX")
            .arg(ANSWER_TTL.as_secs())
            .query_async::<()>(&mut redis)
            .await
            .map_err(|e| AcmeError::board("post an HTTP-01 answer in Redis", e))
    }

    async fn take_down(&self, token: &str) -> Result<(), AcmeError> {
        let mut redis = self.redis.clone();
        redis::cmd("DEL")
            .arg(confer_vocabulary::acme_http01_key(token))
            .query_async::<()>(&mut redis)
            .await
            .map_err(|e| AcmeError::board("take an HTTP-01 answer down from Redis", e))
    }
}

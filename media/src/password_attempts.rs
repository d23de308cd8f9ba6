//! Wrong password tries, counted in Redis per client address and what was tried (a
//! room's password, or a user name's on the site's login), so the limit holds across
//! every node of a tenant: after `limit` wrong tries inside the window, every try from
//! that address for that room or user is refused (even with the right password)
//! until the window, which starts at the first wrong try, is over.

use redis::aio::ConnectionManager;
use std::net::IpAddr;
use std::time::Duration;

/// Why a password may not be tried now.
#[derive(Debug, thiserror::Error)]
pub enum AttemptsError {
    /// Too many wrong passwords from this address for this room or user.
    #[error("too many wrong passwords; try again in {retry_after_seconds} s")]
    TooMany {
        /// When the window ends.
        retry_after_seconds: u64,
    },
    /// Redis cannot be reached: passwords are not checked rather than not counted.
    #[error("passwords cannot be checked right now; try again shortly")]
    Unavailable(#[from] redis::RedisError),
}

/// The counter of wrong password tries.
#[derive(Clone)]
pub struct PasswordAttempts {
    redis: ConnectionManager,
    prefix: String,
    /// What is counted: `room-password-failures` or `login-failures`.
    kind: &'static str,
    limit: u32,
    window: Duration,
}

impl PasswordAttempts {
    /// Counts in the Redis at `url`, under keys starting with `prefix` (the tenant):
    /// `limit` wrong tries per `window`.
    pub async fn connect(url: &str, prefix: &str, limit: u32, window: Duration) -> Result<Self, AttemptsError> {
        let redis = crate::redis_link::connect(url).await?;
        Ok(Self { redis, prefix: prefix.to_owned(), kind: "room-password-failures", limit, window })
    }

    /// The same limit for logins on the site, counted per user name (the same Redis).
    pub fn for_logins(&self) -> Self {
        Self { kind: "login-failures", ..self.clone() }
    }

    /// The Redis key counting `client`'s wrong tries for `room` (or user name).
    pub fn key(&self, room: &str, client: IpAddr) -> String {
        format!("{}:{}:{room}:{client}", self.prefix, self.kind)
    }

    /// Refuses when `client` has used up its wrong tries for `room`.
    pub async fn check(&self, room: &str, client: IpAddr) -> Result<(), AttemptsError> {
        let key = self.key(room, client);
        let mut redis = self.redis.clone();
        let (count, ttl): (Option<u32>, i64) = redis::pipe().get(&key).ttl(&key).query_async(&mut redis).await?;
        if count.unwrap_or(0) >= self.limit {
            return Err(AttemptsError::TooMany { retry_after_seconds: u64::try_from(ttl).unwrap_or(1).max(1) });
        }
        Ok(())
    }

    /// Counts a wrong try; the first one of a window starts it.
    pub async fn record_failure(&self, room: &str, client: IpAddr) -> Result<(), AttemptsError> {
        let key = self.key(room, client);
        let mut redis = self.redis.clone();
        redis::pipe()
            .atomic()
            .incr(&key, 1)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(self.window.as_secs().max(1))
            .arg("NX")
            .query_async::<()>(&mut redis)
            .await?;
        Ok(())
    }
}

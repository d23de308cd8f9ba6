//! Sessions ended by logging out. A session token is self-contained, so clearing the
//! cookie alone would leave a copy of it working until it expires. Logging out
//! therefore records the token's id in Redis until the token would have expired, and
//! every node of the tenant refuses it from then on.

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use std::time::Duration;

/// The ids of sessions that were logged out, in Redis.
#[derive(Clone)]
pub struct RevokedSessions {
    redis: ConnectionManager,
    prefix: String,
}

impl RevokedSessions {
    /// Keeps them in the Redis at `url`, under keys starting with `prefix` (the tenant).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, redis::RedisError> {
        let redis = crate::redis_link::connect(url).await?;
        Ok(Self { redis, prefix: prefix.to_owned() })
    }

    fn key(&self, jti: &str) -> String {
        format!("{}:revoked-sessions:{jti}", self.prefix)
    }

    /// Ends the session `jti`, remembered for `ttl` (the rest of the token's life).
    pub async fn revoke(&self, jti: &str, ttl: Duration) -> Result<(), redis::RedisError> {
        let mut redis = self.redis.clone();
        redis.set_ex::<_, _, ()>(self.key(jti), 1, ttl.as_secs().max(1)).await
    }

    /// Whether the session `jti` was logged out.
    pub async fn is_revoked(&self, jti: &str) -> Result<bool, redis::RedisError> {
        let mut redis = self.redis.clone();
        redis.exists(self.key(jti)).await
    }
}

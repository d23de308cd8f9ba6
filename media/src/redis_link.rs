//! One way to reach Redis from a node: a managed connection that reconnects by
//! itself, with short timeouts, so that a Redis outage makes a request fail fast
//! instead of hanging a join.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

/// A managed connection to the Redis at `url` (2 s to connect and to answer, one retry).
pub async fn connect(url: &str) -> Result<ConnectionManager, redis::RedisError> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(2))
        .set_response_timeout(Duration::from_secs(2))
        .set_number_of_retries(1);
    ConnectionManager::new_with_config(client, config).await
}

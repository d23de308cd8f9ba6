//! The nodes' registry in Redis: each running node's registration (written by the
//! node itself, with a time to live its heartbeat renews), and the lease that lets
//! exactly one starter run a tenant's node at a time, whatever the number of front
//! doors or of first requests racing.

use confer_vocabulary::{NodeRegistration, node_lease_key, node_registration_key};
use redis::aio::ConnectionManager;
use std::time::Duration;

/// Redis, for the registry and the leases.
#[derive(Clone)]
pub struct NodeRegistry {
    redis: ConnectionManager,
}

/// Renews a lease only for its holder.
const RENEW: &str =
    r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";
/// Releases a lease only for its holder.
const RELEASE: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

impl NodeRegistry {
    /// Connects to Redis at `url`.
    pub async fn connect(url: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_secs(2));
        Ok(Self { redis: ConnectionManager::new_with_config(client, config).await? })
    }

    /// Takes the tenant's lease for `holder` if nobody holds it.
    pub async fn acquire_lease(&self, tenant_id: &str, holder: &str, ttl: Duration) -> Result<bool, redis::RedisError> {
        let set: Option<String> = redis::cmd("SET")
            .arg(node_lease_key(tenant_id))
            .arg(holder)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async(&mut self.redis.clone())
            .await?;
        Ok(set.is_some())
    }

    /// Extends the lease if `holder` still holds it.
    pub async fn renew_lease(&self, tenant_id: &str, holder: &str, ttl: Duration) -> Result<bool, redis::RedisError> {
        let renewed: i64 = redis::Script::new(RENEW)
            .key(node_lease_key(tenant_id))
            .arg(holder)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(renewed == 1)
    }

    /// Gives the lease up if `holder` holds it.
    pub async fn release_lease(&self, tenant_id: &str, holder: &str) -> Result<(), redis::RedisError> {
        let _: i64 = redis::Script::new(RELEASE)
            .key(node_lease_key(tenant_id))
            .arg(holder)
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(())
    }

    /// The tenant's node as it last registered, if its registration is alive.
    pub async fn registration(&self, tenant_id: &str) -> Result<Option<NodeRegistration>, redis::RedisError> {
        let text: Option<String> =
            redis::cmd("GET").arg(node_registration_key(tenant_id)).query_async(&mut self.redis.clone()).await?;
        Ok(text.and_then(|t| match serde_json::from_str(&t) {
            Ok(reg) => Some(reg),
            Err(e) => {
                tracing::warn!(tenant = tenant_id, error = %e, "a node registration that cannot be read; ignored");
                None
            }
        }))
    }

    /// Removes the tenant's registration if it is still `node_id`'s (a node killed
    /// without its goodbye).
    pub async fn deregister(&self, tenant_id: &str, node_id: &str) -> Result<(), redis::RedisError> {
        let _: i64 = redis::Script::new(confer_vocabulary::DEREGISTER_SCRIPT)
            .key(node_registration_key(tenant_id))
            .arg(node_id)
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(())
    }
}

//! Telling a tenant's media nodes that its settings changed, over Redis pub/sub,
//! so a change reaches running nodes at once instead of at their next poll. The
//! message carries no settings (nothing secret goes through Redis): a node that
//! hears it reads `GET /v1/settings` with its own key.

/// Publishes "settings changed" on the tenant's channel
/// ([`confer_vocabulary::settings_channel`]), which its media nodes follow.
#[derive(Clone)]
pub struct SettingsAnnouncer {
    redis: redis::Client,
}

impl SettingsAnnouncer {
    /// Announces through the Redis at `url` (connected at each announcement).
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Ok(Self { redis: redis::Client::open(url)? })
    }

    /// Tells the tenant's nodes, in the background: the request that made the
    /// change does not wait for Redis. A failure is logged, not returned: the change
    /// is recorded, and nodes still pick it up at their next poll.
    pub fn settings_changed(&self, tenant_slug: &str) {
        let (redis, tenant) = (self.redis.clone(), tenant_slug.to_owned());
        tokio::spawn(async move {
            let published = async {
                let mut conn = redis.get_multiplexed_async_connection().await?;
                let channel = confer_vocabulary::settings_channel(&tenant);
                redis::cmd("PUBLISH").arg(channel).arg("changed").query_async::<i64>(&mut conn).await
            };
            match tokio::time::timeout(std::time::Duration::from_secs(2), published).await {
                Ok(Ok(nodes)) => tracing::debug!(%tenant, nodes, "settings change announced"),
                Ok(Err(e)) => tracing::warn!(%tenant, error = %e, "cannot announce a settings change"),
                Err(_) => tracing::warn!(%tenant, "announcing a settings change timed out"),
            }
        });
    }
}

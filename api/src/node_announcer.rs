//! Telling a tenant's media nodes that something they serve changed, over Redis
//! pub/sub, so a change reaches running nodes at once instead of at their next poll:
//! its settings ([`confer_vocabulary::settings_channel`]) or its certificates
//! ([`confer_vocabulary::certificates_channel`]). A message carries no data (nothing
//! secret goes through Redis): a node that hears it reads the api with its own key.

/// Publishes news on a tenant's channels, which its media nodes follow.
#[derive(Clone)]
pub struct NodeAnnouncer {
    redis: redis::Client,
}

impl NodeAnnouncer {
    /// Announces through the Redis at `url` (connected at each announcement).
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Ok(Self { redis: redis::Client::open(url)? })
    }

    /// The tenant's settings changed.
    pub fn settings_changed(&self, tenant_slug: &str) {
        self.announce(confer_vocabulary::settings_channel(tenant_slug), "settings");
    }

    /// The tenant's set of certificates changed (a domain was removed: stop serving it).
    pub fn certificates_changed(&self, tenant_slug: &str) {
        self.announce(confer_vocabulary::certificates_channel(tenant_slug), "certificates");
    }

    /// The tenant was deleted: the front door stops its nodes and forgets its names.
    /// The message is the tenant's id (not a secret).
    pub fn tenant_deleted(&self, tenant_id: uuid::Uuid) {
        self.publish(confer_vocabulary::TENANTS_DELETED_CHANNEL.to_owned(), tenant_id.to_string(), "tenant deleted");
    }

    fn announce(&self, channel: String, what: &'static str) {
        self.publish(channel, "changed".to_owned(), what);
    }

    /// Publishes on `channel` in the background: the request that made the change
    /// does not wait for Redis. A failure is logged, not returned: the change is
    /// recorded, and nodes still pick it up at their next poll.
    fn publish(&self, channel: String, message: String, what: &'static str) {
        let redis = self.redis.clone();
        tokio::spawn(async move {
            let published = async {
                let mut conn = redis.get_multiplexed_async_connection().await?;
                redis::cmd("PUBLISH").arg(&channel).arg(&message).query_async::<i64>(&mut conn).await
            };
            match tokio::time::timeout(std::time::Duration::from_secs(2), published).await {
                Ok(Ok(nodes)) => tracing::debug!(%channel, nodes, what, "change announced"),
                Ok(Err(e)) => tracing::warn!(%channel, error = %e, what, "cannot announce a change"),
                Err(_) => tracing::warn!(%channel, what, "announcing a change timed out"),
            }
        });
    }
}

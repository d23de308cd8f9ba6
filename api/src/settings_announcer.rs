//! Telling a tenant's media nodes that its settings changed, over Redis pub/sub,
//! so a change reaches running nodes at once instead of at their next poll. The
//! message carries no settings (nothing secret goes through Redis): a node that
//! hears it reads `GET /v1/settings` with its own key.

/// Publishes "settings changed" on `confer:<tenant slug>:settings`.
#[derive(Clone)]
pub struct SettingsAnnouncer {
    redis: redis::Client,
}

/// The channel a tenant's nodes listen on.
pub fn settings_channel(tenant_slug: &str) -> String {
    format!("confer:{tenant_slug}:settings")
}

impl SettingsAnnouncer {
    /// Announces through the Redis at `url` (connected at each announcement).
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Ok(Self { redis: redis::Client::open(url)? })
    }

    /// Tells the tenant's nodes. A failure is logged, not returned: the change is
    /// recorded, and nodes still pick it up at their next poll.
    pub async fn settings_changed(&self, tenant_slug: &str) {
        let published = async {
            let mut conn = self.redis.get_multiplexed_async_connection().await?;
            redis::cmd("PUBLISH").arg(settings_channel(tenant_slug)).arg("changed").query_async::<i64>(&mut conn).await
        };
        match tokio::time::timeout(std::time::Duration::from_secs(2), published).await {
            Ok(Ok(nodes)) => tracing::debug!(tenant = tenant_slug, nodes, "settings change announced"),
            Ok(Err(e)) => tracing::warn!(tenant = tenant_slug, error = %e, "cannot announce a settings change"),
            Err(_) => tracing::warn!(tenant = tenant_slug, "announcing a settings change timed out"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_tenant_has_its_own_channel() {
        assert_eq!(super::settings_channel("acme"), "confer:acme:settings");
    }
}

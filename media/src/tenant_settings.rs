//! Following the tenant's settings: the node reads `GET /v1/settings` with its
//! tenant key at start and then every `POLL`, and applies what concerns rooms
//! (`max_participants`) to the next join. (Pushing changes through Redis, so they
//! arrive faster and without polling, comes with the access-rules work.)

use crate::room::RoomPolicy;
use crate::signaling::Hub;
use std::sync::Arc;
use std::time::Duration;

/// How often the settings are read.
pub const POLL: Duration = Duration::from_secs(2);

/// Starts following the settings of the tenant whose key is `api_key`.
pub fn follow(api_url: String, api_key: String, hub: Arc<Hub>) {
    tokio::spawn(async move {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
        let url = format!("{}/v1/settings", api_url.trim_end_matches('/'));
        let mut applied: Option<u32> = None;
        let mut interval = tokio::time::interval(POLL);
        loop {
            interval.tick().await;
            let settings = match client.get(&url).bearer_auth(&api_key).send().await {
                Ok(r) if r.status().is_success() => r.json::<serde_json::Value>().await.ok(),
                Ok(r) => {
                    tracing::warn!(status = %r.status(), "cannot read the tenant's settings");
                    None
                }
                Err(e) => {
                    tracing::debug!(error = %e, "api unreachable; keeping the settings in force");
                    None
                }
            };
            let Some(max) = settings.and_then(|s| s["max_participants"].as_u64()).and_then(|m| u32::try_from(m).ok())
            else {
                continue;
            };
            if applied != Some(max) {
                hub.set_policy(RoomPolicy { max_participants: max });
                tracing::info!(max_participants = max, "tenant settings applied");
                applied = Some(max);
            }
        }
    });
}

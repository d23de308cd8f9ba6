//! Following the tenant's settings: the node reads `GET /v1/settings` with its
//! tenant key at start, whenever the api announces a change on Redis
//! (`confer:<tenant>:settings`, pub/sub), and every poll interval in case an
//! announcement was missed. What concerns rooms (`auth`, `guests_allowed`, `lobby`,
//! `max_participants`) applies to the next join.

use crate::auth::SiteAccess;
use crate::signaling::Hub;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Where the settings come from and how they are followed.
#[derive(Debug, Clone)]
pub struct SettingsSource {
    /// The api's URL.
    pub api_url: String,
    /// A key of the tenant.
    pub api_key: String,
    /// The tenant's slug (names the Redis channel).
    pub tenant: String,
    /// Redis, where the api announces changes; none: polling only.
    pub redis_url: Option<String>,
    /// How often the settings are read without an announcement.
    pub poll: Duration,
}

/// Starts following the settings.
///
/// Until the settings have been read once, the hub refuses joins (`try_again_later`):
/// a node must not let people into a tenant that requires a login as if it were open.
/// The first read is retried every second.
pub fn follow(source: SettingsSource, hub: Arc<Hub>) {
    hub.await_settings();
    let announced = Arc::new(Notify::new());
    if let Some(url) = source.redis_url.clone() {
        crate::announcements::listen(
            url,
            confer_vocabulary::settings_channel(&source.tenant),
            announced.clone(),
            "settings",
        );
    }
    tokio::spawn(async move {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
        let url = format!("{}/v1/settings", source.api_url.trim_end_matches('/'));
        let mut applied: Option<(SiteAccess, u32)> = None;
        let mut interval = tokio::time::interval(source.poll);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                () = announced.notified() => tracing::debug!("settings change announced"),
                () = tokio::time::sleep(Duration::from_secs(1)), if applied.is_none() => {}
            }
            let settings = match client.get(&url).bearer_auth(&source.api_key).send().await {
                Ok(r) if r.status().is_success() => r.json::<serde_json::Value>().await.ok(),
                Ok(r) => {
                    tracing::warn!(status = %r.status(), "cannot read the tenant's settings");
                    None
                }
                Err(e) if applied.is_none() => {
                    tracing::warn!(error = %e, "api unreachable: joins wait for the tenant's settings");
                    None
                }
                Err(e) => {
                    tracing::debug!(error = %e, "api unreachable; keeping the settings in force");
                    None
                }
            };
            let Some(read) = settings.as_ref().and_then(rules_of) else {
                continue;
            };
            if applied.as_ref() != Some(&read) {
                let (access, max_participants) = read.clone();
                tracing::info!(auth = %access.auth, guests_allowed = access.guests_allowed, lobby = access.lobby,
                    max_participants, "tenant settings applied");
                hub.set_access(access, max_participants);
                applied = Some(read);
            }
        }
    });
}

/// What the settings (as `GET /v1/settings` answers) say about getting in, and the
/// cap on seats.
fn rules_of(settings: &serde_json::Value) -> Option<(SiteAccess, u32)> {
    let access = SiteAccess {
        auth: settings["auth"].as_str()?.to_owned(),
        guests_allowed: settings["guests_allowed"].as_bool()?,
        lobby: settings["lobby"].as_bool()?,
    };
    Some((access, u32::try_from(settings["max_participants"].as_u64()?).ok()?))
}

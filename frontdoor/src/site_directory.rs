//! Which tenant serves a site name, as the api says, remembered for a short while
//! (a name nobody serves for less long, so a tenant that just signed up is found at
//! once). While the api cannot be asked, names already known keep working; unknown
//! ones get "try again later", never a guess.

use crate::platform_client::{PlatformClient, PlatformError};
use crate::site_host::SiteHost;
use confer_vocabulary::platform_api::SiteTenant;
use std::time::Duration;

/// How long a tenant found for a name is trusted.
const FOUND_FOR: Duration = Duration::from_secs(30);
/// How long "nobody serves this name" is trusted.
const MISSING_FOR: Duration = Duration::from_secs(2);

/// Site names → tenants.
pub struct SiteDirectory {
    api: PlatformClient,
    found: moka::future::Cache<SiteHost, SiteTenant>,
    missing: moka::future::Cache<SiteHost, ()>,
    stale: moka::future::Cache<SiteHost, SiteTenant>,
}

impl SiteDirectory {
    /// A directory asking `api`.
    pub fn new(api: PlatformClient) -> Self {
        Self {
            api,
            found: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(FOUND_FOR)
                .support_invalidation_closures()
                .build(),
            missing: moka::future::Cache::builder().max_capacity(100_000).time_to_live(MISSING_FOR).build(),
            // What was last known, for when the api cannot be asked.
            stale: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(3600))
                .support_invalidation_closures()
                .build(),
        }
    }

    /// The tenant serving `host`; `Ok(None)` when none does.
    pub async fn tenant_for(&self, host: &SiteHost) -> Result<Option<SiteTenant>, PlatformError> {
        if let Some(tenant) = self.found.get(host).await {
            return Ok(Some(tenant));
        }
        if self.missing.get(host).await.is_some() {
            return Ok(None);
        }
        match self.api.site(host.as_str()).await {
            Ok(Some(tenant)) => {
                self.found.insert(host.clone(), tenant.clone()).await;
                self.stale.insert(host.clone(), tenant.clone()).await;
                Ok(Some(tenant))
            }
            Ok(None) => {
                self.missing.insert(host.clone(), ()).await;
                self.stale.invalidate(host).await;
                Ok(None)
            }
            Err(e) => match self.stale.get(host).await {
                Some(tenant) => {
                    tracing::warn!(%host, error = %e, "the api cannot be asked; routing by what was last known");
                    Ok(Some(tenant))
                }
                None => Err(e),
            },
        }
    }

    /// Forgets what is known of every name of `tenant_id` (it was deleted).
    pub fn forget_tenant(&self, tenant_id: &str) {
        let tenant_id = tenant_id.to_owned();
        let matches = move |_: &SiteHost, t: &SiteTenant| t.tenant_id == tenant_id;
        let _ = self.found.invalidate_entries_if(matches.clone());
        let _ = self.stale.invalidate_entries_if(matches);
    }
}

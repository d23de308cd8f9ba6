//! Keeping the node's custom-domain certificates equal to the api's list: the node
//! reads `GET /v1/certificates` with its tenant key at start, whenever the worker
//! announces an issued or renewed certificate on Redis (`certificates_channel`), and
//! every poll interval in case an announcement was missed. A changed list replaces
//! the store's set at once; when the api cannot be read, the set in force stays.

use super::certificate_store::{CertificateStore, Loaded};
use confer_vocabulary::{TenantCertificates, certificates_channel};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Where the certificates come from and how they are followed.
#[derive(Debug, Clone)]
pub struct CertificateSource {
    /// The api's URL.
    pub api_url: String,
    /// A key of the tenant.
    pub api_key: String,
    /// The tenant's slug (names the Redis channel).
    pub tenant: String,
    /// Redis, where new certificates are announced; none: polling only.
    pub redis_url: Option<String>,
    /// How often the list is read without an announcement.
    pub poll: Duration,
}

/// Why the list could not be read.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("the api cannot be reached: {0}")]
    Unreachable(reqwest::Error),
    #[error("the api answered {0}")]
    Refused(reqwest::StatusCode),
    #[error("the api's answer is not a certificate list: {0}")]
    Unreadable(reqwest::Error),
}

/// The first retry after a failed read; each next one waits twice as long, up to the
/// poll interval.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// Starts following the api's list into `store`.
pub fn follow(source: CertificateSource, store: Arc<CertificateStore>) {
    let announced = Arc::new(Notify::new());
    if let Some(url) = source.redis_url.clone() {
        crate::announcements::listen(url, certificates_channel(&source.tenant), announced.clone(), "certificates");
    }
    tokio::spawn(async move {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
        let url = format!("{}/v1/certificates", source.api_url.trim_end_matches('/'));
        let mut applied: Option<TenantCertificates> = None;
        let mut retry: Option<Duration> = None;
        let mut interval = tokio::time::interval(source.poll);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                () = announced.notified() => tracing::debug!("a certificate change was announced"),
                () = tokio::time::sleep(retry.unwrap_or_default()), if retry.is_some() => {}
            }
            match read(&http, &url, &source.api_key).await {
                Ok(list) => {
                    retry = None;
                    if applied.as_ref() != Some(&list) {
                        log_loaded(&store.replace(&list.items));
                        applied = Some(list);
                    }
                }
                Err(e) => {
                    let next = retry.map_or(FIRST_RETRY, |r| (r * 2).min(source.poll.max(FIRST_RETRY)));
                    match applied {
                        None => tracing::warn!(error = %e, retry_in = ?next, "cannot read the tenant's certificates"),
                        Some(_) => tracing::warn!(error = %e, retry_in = ?next,
                            "cannot read the tenant's certificates; keeping those in force"),
                    }
                    retry = Some(next);
                }
            }
        }
    });
}

async fn read(http: &reqwest::Client, url: &str, api_key: &str) -> Result<TenantCertificates, ReadError> {
    let response = http.get(url).bearer_auth(api_key).send().await.map_err(ReadError::Unreachable)?;
    if !response.status().is_success() {
        return Err(ReadError::Refused(response.status()));
    }
    response.json().await.map_err(ReadError::Unreadable)
}

fn log_loaded(loaded: &[Loaded]) {
    let hostnames: Vec<&str> = loaded.iter().map(|l| l.hostname.as_str()).collect();
    let serials: Vec<&str> = loaded.iter().map(|l| l.serial.as_str()).collect();
    tracing::info!(hostnames = %hostnames.join(","), serials = %serials.join(","), "certificates loaded");
}

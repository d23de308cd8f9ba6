//! The api as the front door uses it (`/v1/platform/…`, with the operator's
//! platform token): which tenant serves a site, node credentials, failed starts
//! and meetings about to begin.

use confer_vocabulary::platform_api::{
    self, NodeCredential, NodeStartFailure, NodeStarting, NodeStopped, SiteTenant, UpcomingMeetings,
};
use std::time::Duration;

/// Why the api could not answer as hoped.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// It did not answer (down, slow, refused the connection).
    #[error("the api is unreachable: {0}")]
    Unreachable(String),
    /// It answered with an error status.
    #[error("the api answered {status} ({code})")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The error's `code`, when the body had one.
        code: String,
    },
    /// It answered something this front door cannot read.
    #[error("the api's answer could not be read: {0}")]
    Unexpected(String),
}

/// A client of the api's platform endpoints.
#[derive(Clone)]
pub struct PlatformClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl PlatformClient {
    /// A client of the api at `base` (e.g. `http://127.0.0.1:8080`) with `token`.
    pub fn new(base: &str, token: &str) -> Result<Self, PlatformError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2))
            .pool_max_idle_per_host(16)
            .build()
            .map_err(|e| PlatformError::Unreachable(e.to_string()))?;
        Ok(Self { base: base.trim_end_matches('/').to_owned(), token: token.to_owned(), http })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, PlatformError> {
        let response =
            request.bearer_auth(&self.token).send().await.map_err(|e| PlatformError::Unreachable(e.to_string()))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let code = response
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v.pointer("/error/code").and_then(|c| c.as_str()).map(str::to_owned))
            .unwrap_or_default();
        Err(PlatformError::Refused { status, code })
    }

    /// The tenant behind `host`, or `None` when no tenant serves it.
    pub async fn site(&self, host: &str) -> Result<Option<SiteTenant>, PlatformError> {
        match self.send(self.http.get(self.url(&platform_api::site_path(host)))).await {
            Ok(r) => r.json().await.map(Some).map_err(|e| PlatformError::Unexpected(e.to_string())),
            Err(PlatformError::Refused { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Mints the credential of a node about to start.
    pub async fn node_starting(&self, tenant_id: &str, node_id: &str) -> Result<NodeCredential, PlatformError> {
        let body = NodeStarting { tenant_id: tenant_id.to_owned(), node_id: node_id.to_owned() };
        let r = self.send(self.http.post(self.url(platform_api::NODES_PATH)).json(&body)).await?;
        r.json().await.map_err(|e| PlatformError::Unexpected(e.to_string()))
    }

    /// Revokes the credential of a node that stopped.
    pub async fn node_stopped(&self, node_id: &str, reason: &str) -> Result<(), PlatformError> {
        let body = NodeStopped { reason: reason.to_owned() };
        self.send(self.http.delete(self.url(&platform_api::node_path(node_id))).json(&body)).await.map(drop)
    }

    /// Records, in the tenant's feed, that a node could not start.
    pub async fn node_failed(&self, tenant_id: &str, node_id: &str, reason: &str) -> Result<(), PlatformError> {
        let body = NodeStartFailure { tenant_id: tenant_id.to_owned(), reason: reason.to_owned() };
        self.send(self.http.post(self.url(&platform_api::node_failure_path(node_id))).json(&body)).await.map(drop)
    }

    /// Tenants with a scheduled meeting on within `within`.
    pub async fn upcoming_meetings(&self, within: Duration) -> Result<UpcomingMeetings, PlatformError> {
        let url = format!("{}?within_seconds={}", self.url(platform_api::UPCOMING_MEETINGS_PATH), within.as_secs());
        let r = self.send(self.http.get(url)).await?;
        r.json().await.map_err(|e| PlatformError::Unexpected(e.to_string()))
    }
}

//! What the front door (which routes every site and starts tenants' nodes) and the
//! api say to each other, under `/v1/platform/`, with the operator's platform token.

use serde::{Deserialize, Serialize};

/// `GET /v1/platform/sites/{host}`: the tenant that serves a site.
pub fn site_path(host: &str) -> String {
    format!("/v1/platform/sites/{host}")
}

/// `POST /v1/platform/nodes`: mint a node's credential as it starts.
pub const NODES_PATH: &str = "/v1/platform/nodes";

/// `DELETE /v1/platform/nodes/{node}`: revoke a node's credential as it stops.
pub fn node_path(node: &str) -> String {
    format!("/v1/platform/nodes/{node}")
}

/// `POST /v1/platform/nodes/{node}/failure`: record that a node could not start.
pub fn node_failure_path(node: &str) -> String {
    format!("/v1/platform/nodes/{node}/failure")
}

/// `GET /v1/platform/upcoming-meetings?within_seconds=N`: tenants with a meeting soon.
pub const UPCOMING_MEETINGS_PATH: &str = "/v1/platform/upcoming-meetings";

/// The tenant behind a site (by platform name or verified custom domain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteTenant {
    /// The tenant's id (UUID): nodes register under it.
    pub tenant_id: String,
    /// Its slug: its platform name is `<slug>.<base-domain>`.
    pub slug: String,
}

/// Asking for a node's credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeStarting {
    /// The tenant the node serves.
    pub tenant_id: String,
    /// The node's id (UUID), chosen by whoever starts it.
    pub node_id: String,
}

/// The credential a node calls the api with (shown once, never stored).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCredential {
    /// The node it belongs to.
    pub node_id: String,
    /// `cfn_…`, sent as `Authorization: Bearer`.
    pub credential: String,
    /// The tenant's plan, when it has one of its own (else the front door's default).
    #[serde(default)]
    pub plan: Option<NodePlan>,
}

/// What a tenant's node may use: its plan, set by the platform's operator with
/// `PUT /v1/platform/tenants/{tenant_id}/plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodePlan {
    /// Memory, MiB (1–65536). Past it the kernel kills the node.
    pub memory_mb: u32,
    /// CPU, percent of one core (1–6400).
    pub cpu_percent: u32,
}

/// `PUT`: a tenant's plan.
pub fn tenant_plan_path(tenant: &str) -> String {
    format!("/v1/platform/tenants/{tenant}/plan")
}

impl std::fmt::Debug for NodeCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCredential").field("node_id", &self.node_id).finish_non_exhaustive()
    }
}

/// Why a node stopped, when its credential is revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeStopped {
    /// `idle`, `exited`, `killed`, `shutdown`, `tenant_deleted` …
    pub reason: String,
}

/// Why a node could not start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeStartFailure {
    /// The tenant whose node it was.
    pub tenant_id: String,
    /// What went wrong, in the operator's terms (no remote service's reply).
    pub reason: String,
}

/// Tenants with a scheduled meeting on within the window asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpcomingMeetings {
    /// Those tenants, by slug.
    pub tenants: Vec<SiteTenant>,
}

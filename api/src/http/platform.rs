//! `/v1/platform/…`: what the front door asks of the api, with the operator's
//! platform token. Which tenant serves a site, a node's credential minted as it
//! starts and revoked as it stops, a start that failed, and which tenants have a
//! meeting about to start (their nodes are started ahead).

use super::auth::{PlatformCaller, mint_node_credential};
use super::command::{Command, CommandRequest, Reply, Started};
use super::extract::JsonBody;
use super::{ApiError, AppState};
use crate::domain::{DomainEvent, FieldError, StreamId, parse_text};
use crate::store::{ExpectedVersion, Scope, node_credentials, sites};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use confer_vocabulary::platform_api::{
    NodeCredential, NodePlan, NodeStartFailure, NodeStarting, NodeStopped, SiteTenant, UpcomingMeetings,
};
use uuid::Uuid;

/// The actor platform commands are recorded under.
const ACTOR: &str = "platform:front_door";

fn parse_uuid(field: &'static str, value: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(value).map_err(|_| ApiError::Invalid(FieldError::new(field, format!("{field} must be a UUID"))))
}

fn site(row: sites::SiteTenant) -> SiteTenant {
    SiteTenant { tenant_id: row.tenant_id.to_string(), slug: row.slug }
}

/// The tenant that serves `host`: `<slug>.<base-domain>`, or a custom domain whose
/// DNS record was found. 404 for anything else.
pub async fn site_of_host(
    state: web::Data<AppState>,
    _: PlatformCaller,
    host: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let base = state.config.base_domain.trim_end_matches('.').to_ascii_lowercase();
    let tx = state.store.begin(Scope::Platform).await?;
    let found = match host.strip_suffix(&base).and_then(|rest| rest.strip_suffix('.')) {
        Some(slug) if !slug.contains('.') => sites::by_slug(&tx, slug).await?,
        Some(_) => None,
        None => sites::by_custom_domain(&tx, &host).await?,
    };
    tx.commit().await?;
    let found = found.ok_or(ApiError::NotFound("site"))?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(site(found)))
}

/// Mints the credential of a node that is starting (shown once, never saved).
pub async fn node_starting(
    state: web::Data<AppState>,
    _: PlatformCaller,
    req: CommandRequest,
    body: JsonBody<NodeStarting>,
) -> Result<HttpResponse, ApiError> {
    let tenant = parse_uuid("tenant_id", &body.value.tenant_id)?;
    let node_id = parse_uuid("node_id", &body.value.node_id)?;
    let no_replay = req.without_key();
    let Started::Fresh(mut cmd) = Command::start_as(&state, tenant, ACTOR.into(), no_replay, &body.digest).await?
    else {
        return Err(ApiError::Internal(anyhow::anyhow!("unkeyed command replayed")));
    };
    let row = crate::store::tenants::find(cmd.tx().await?, tenant).await?.ok_or(ApiError::NotFound("tenant"))?;
    let key = mint_node_credential();
    let event = DomainEvent::NodeCredentialIssued { node_id, prefix: key.prefix, key_hash: key.hash_hex };
    cmd.append(&StreamId::node(node_id), ExpectedVersion::NoStream, &[event]).await?;
    cmd.finish(&state, Reply::no_content()).await?;
    Ok(HttpResponse::Created().insert_header(("Cache-Control", "no-store")).json(NodeCredential {
        node_id: node_id.to_string(),
        credential: key.secret,
        plan: plan_of(&row),
    }))
}

/// The tenant's own plan, if the operator gave it one.
fn plan_of(row: &crate::store::tenants::TenantRow) -> Option<NodePlan> {
    match (row.node_memory_mb, row.node_cpu_percent) {
        (Some(memory), Some(cpu)) => Some(NodePlan {
            memory_mb: u32::try_from(memory).unwrap_or(0),
            cpu_percent: u32::try_from(cpu).unwrap_or(0),
        }),
        _ => None,
    }
}

/// Sets a tenant's plan: the memory and CPU of its node from its next start on.
/// Answers the plan.
pub async fn set_tenant_plan(
    state: web::Data<AppState>,
    _: PlatformCaller,
    http: HttpRequest,
    req: CommandRequest,
    body: JsonBody<NodePlan>,
) -> Result<HttpResponse, ApiError> {
    let tenant = parse_uuid("tenant", http.match_info().get("tenant").unwrap_or(""))?;
    let plan = body.value;
    if !(1..=65_536).contains(&plan.memory_mb) {
        return Err(ApiError::Invalid(FieldError::new("memory_mb", "memory_mb must be 1 to 65536 (MiB)")));
    }
    if !(1..=6_400).contains(&plan.cpu_percent) {
        return Err(ApiError::Invalid(FieldError::new("cpu_percent", "cpu_percent must be 1 to 6400 (% of one core)")));
    }
    let started = Command::start_as(&state, tenant, "platform:operator".into(), req, &body.digest).await?;
    let mut cmd = match started {
        Started::Replayed(answer) => return Ok(answer),
        Started::Fresh(cmd) => cmd,
    };
    let row = crate::store::tenants::find(cmd.tx().await?, tenant).await?.ok_or(ApiError::NotFound("tenant"))?;
    let changed = DomainEvent::TenantPlanChanged { memory_mb: plan.memory_mb, cpu_percent: plan.cpu_percent };
    cmd.append(&StreamId::tenant(tenant), ExpectedVersion::Exactly(row.version), &[changed]).await?;
    tracing::info!(%tenant, memory_mb = plan.memory_mb, cpu_percent = plan.cpu_percent, "tenant plan set");
    cmd.finish(&state, Reply::json(actix_web::http::StatusCode::OK, &plan)?).await
}

/// Revokes a node's credential: the node stopped. Revoking twice is not an error.
pub async fn node_stopped(
    state: web::Data<AppState>,
    _: PlatformCaller,
    http: HttpRequest,
    req: CommandRequest,
    body: JsonBody<NodeStopped>,
) -> Result<HttpResponse, ApiError> {
    let node_id = parse_uuid("node", http.match_info().get("node").unwrap_or(""))?;
    let reason = parse_text("reason", &body.value.reason, 100)?;
    let tx = state.store.begin(Scope::Platform).await?;
    let found = node_credentials::is_active(&tx, node_id).await?;
    tx.commit().await?;
    let (tenant, active) = found.ok_or(ApiError::NotFound("node"))?;
    if active {
        let Started::Fresh(mut cmd) = Command::start_as(&state, tenant, ACTOR.into(), req, &body.digest).await? else {
            return Ok(HttpResponse::NoContent().finish());
        };
        let event = DomainEvent::NodeCredentialRevoked { node_id, reason };
        cmd.append(&StreamId::node(node_id), ExpectedVersion::Exactly(1), &[event]).await?;
        cmd.finish(&state, Reply::no_content()).await?;
    }
    state.key_cache.clear();
    Ok(HttpResponse::NoContent().finish())
}

/// Records that a node of a tenant could not start, in the tenant's feed. A start
/// that had already been given its credential has it revoked with the same append.
pub async fn node_failed(
    state: web::Data<AppState>,
    _: PlatformCaller,
    http: HttpRequest,
    req: CommandRequest,
    body: JsonBody<NodeStartFailure>,
) -> Result<HttpResponse, ApiError> {
    let node_id = parse_uuid("node", http.match_info().get("node").unwrap_or(""))?;
    let tenant = parse_uuid("tenant_id", &body.value.tenant_id)?;
    let reason = parse_text("reason", &body.value.reason, 500)?;
    let Started::Fresh(mut cmd) = Command::start_as(&state, tenant, ACTOR.into(), req, &body.digest).await? else {
        return Ok(HttpResponse::NoContent().finish());
    };
    if crate::store::tenants::find(cmd.tx().await?, tenant).await?.is_none() {
        return Err(ApiError::NotFound("tenant"));
    }
    let failed = DomainEvent::NodeStartFailed { node_id, reason };
    let (expected, events) = match node_credentials::is_active(cmd.tx().await?, node_id).await? {
        Some((owner, _)) if owner != tenant => return Err(ApiError::NotFound("node")),
        Some((_, true)) => {
            let revoked = DomainEvent::NodeCredentialRevoked { node_id, reason: "start_failed".into() };
            (ExpectedVersion::Exactly(1), vec![failed, revoked])
        }
        Some((_, false)) => return Err(ApiError::NotFound("node")),
        None => (ExpectedVersion::NoStream, vec![failed]),
    };
    cmd.append(&StreamId::node(node_id), expected, &events).await?;
    state.key_cache.clear();
    cmd.finish(&state, Reply::no_content()).await
}

/// Query of [`upcoming_meetings`].
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// How far ahead to look, seconds (1–86400).
    pub within_seconds: i64,
}

/// Tenants with a scheduled meeting on at some moment from now to `within_seconds`.
pub async fn upcoming_meetings(
    state: web::Data<AppState>,
    _: PlatformCaller,
    window: super::extract::Query<Window>,
) -> Result<HttpResponse, ApiError> {
    let within = window.0.within_seconds;
    if !(1..=86_400).contains(&within) {
        return Err(ApiError::Invalid(FieldError::new("within_seconds", "within_seconds must be 1–86400")));
    }
    let now = Utc::now();
    let tx = state.store.begin(Scope::Platform).await?;
    let rows = sites::with_meetings_between(&tx, now, now + chrono::Duration::seconds(within)).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(UpcomingMeetings { tenants: rows.into_iter().map(site).collect() }))
}

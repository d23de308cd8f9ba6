//! `POST /v1/tenants` (signup) and `GET /v1/tenant`.

use super::api_keys::{NewApiKeyView, issue};
use super::auth::Authenticated;
use super::command::{Command, CommandRequest, Reply, Started};
use super::extract::JsonBody;
use super::{ApiError, AppState};
use crate::domain::{DomainEvent, EmailAddress, StreamId, TenantSlug, parse_text};
use crate::store::{ExpectedVersion, StoreError, Violation, tenants};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Signup request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// The organisation's name, 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Its site's DNS label: `<slug>.<base-domain>`.
    #[schema(min_length = 3, max_length = 63, pattern = "^[a-z0-9][a-z0-9-]*[a-z0-9]$", example = "acme")]
    pub slug: String,
    /// Who administers it.
    pub admin_email: String,
}

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    /// Where the tenant's people meet.
    pub site_url: String,
    pub admin_email: String,
    pub created_at: DateTime<Utc>,
}

/// Signup answer: the tenant and its first admin key (shown only here).
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantCreated {
    pub tenant: TenantView,
    pub api_key: NewApiKeyView,
}

pub(crate) fn view(state: &AppState, row: tenants::TenantRow) -> TenantView {
    TenantView {
        site_url: state.config.site_url(&row.slug),
        id: row.id,
        name: row.name,
        slug: row.slug,
        admin_email: row.admin_email,
        created_at: row.created_at,
    }
}

/// Creates a tenant with its data key and first admin API key, in one transaction.
/// Used by signup and by the operator command `confer-api ensure-tenant`.
pub async fn create_tenant(
    state: &AppState,
    name: String,
    slug: TenantSlug,
    admin_email: EmailAddress,
    req: CommandRequest,
) -> Result<TenantCreated, ApiError> {
    let tenant_id = Uuid::now_v7();
    let Started::Fresh(mut cmd) = Command::start_as(state, tenant_id, "signup".into(), req, &[0; 32]).await? else {
        return Err(ApiError::Internal(anyhow::anyhow!("a new tenant cannot have a saved response")));
    };
    state.tenant_keys.create(cmd.tx().await?, tenant_id).await?;
    let created = DomainEvent::TenantCreated { tenant_id, name, slug: slug.to_string(), admin_email };
    let appended = match cmd.append(&StreamId::tenant(tenant_id), ExpectedVersion::NoStream, &[created]).await {
        Err(StoreError::Violation(Violation::Unique(c))) if c == "tenants_slug_key" => {
            return Err(ApiError::Conflict {
                code: "slug_taken",
                message: format!("the slug \"{slug}\" is taken; choose another"),
                field: Some("slug"),
            });
        }
        other => other?,
    };
    let api_key = issue(&mut cmd, "admin".into()).await?;
    let row: tenants::TenantRow = super::projected_row(appended)?;
    let body = TenantCreated { tenant: view(state, row), api_key };
    // The secret key is not saved for replay: it is shown exactly once.
    cmd.finish(state, Reply::no_content()).await?;
    Ok(body)
}

/// Issues a new admin API key for an existing tenant (operator command
/// `confer-api ensure-tenant`, e.g. after the first key was lost).
pub async fn issue_admin_key(state: &AppState, row: tenants::TenantRow) -> Result<TenantCreated, ApiError> {
    let req = CommandRequest::operator("ensure-tenant");
    let Started::Fresh(mut cmd) = Command::start_as(state, row.id, "operator".into(), req, &[0; 32]).await? else {
        return Err(ApiError::Internal(anyhow::anyhow!("unkeyed command replayed")));
    };
    let api_key = issue(&mut cmd, "admin".into()).await?;
    cmd.finish(state, Reply::no_content()).await?;
    Ok(TenantCreated { tenant: view(state, row), api_key })
}

/// Signs up a tenant.
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", request_body = CreateTenant,
    responses((status = 201, body = TenantCreated), (status = 409, body = super::ErrorBody, description = "slug taken"),
              (status = 422, body = super::ErrorBody), (status = 429, body = super::ErrorBody)))]
pub async fn signup(
    state: web::Data<AppState>,
    http: HttpRequest,
    req: CommandRequest,
    body: JsonBody<CreateTenant>,
) -> Result<HttpResponse, ApiError> {
    let b = body.value;
    let name = parse_text("name", &b.name, 100)?;
    let slug = TenantSlug::parse(&b.slug)?;
    let admin_email = EmailAddress::parse("admin_email", &b.admin_email)?;
    if let Some(addr) = http.peer_addr() {
        state.limits.check_signup(addr.ip())?;
    }
    let created = create_tenant(&state, name, slug, admin_email, req.without_key()).await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(created))
}

/// The tenant the API key belongs to.
#[utoipa::path(get, path = "/v1/tenant", tag = "tenants", security(("api_key" = [])),
    responses((status = 200, body = TenantView), (status = 401, body = super::ErrorBody)))]
pub async fn current(state: web::Data<AppState>, auth: Authenticated) -> Result<HttpResponse, ApiError> {
    let tx = state.store.begin(crate::store::Scope::Tenant(auth.tenant_id)).await?;
    let row = tenants::find(&tx, auth.tenant_id).await?.ok_or(ApiError::NotFound("tenant"))?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(view(&state, row)))
}

/// `DELETE /v1/tenant`: the tenant's slug, typed again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteTenant {
    /// The tenant's slug: deleting a tenant cannot be undone.
    pub confirm: String,
}

/// Deletes the tenant: its meetings end and its nodes stop, its domains are given
/// up, its keys stop working, and its data key is destroyed, so every secret and
/// certificate key it sealed in the log becomes unreadable. The slug is free again.
#[utoipa::path(delete, path = "/v1/tenant", tag = "tenants", security(("api_key" = [])), request_body = DeleteTenant,
    responses((status = 204), (status = 422, body = super::ErrorBody, description = "confirm is not the slug")))]
pub async fn delete(
    state: web::Data<AppState>,
    auth: Authenticated,
    req: CommandRequest,
    body: JsonBody<DeleteTenant>,
) -> Result<HttpResponse, ApiError> {
    // Not replayable: the answer would be saved for a tenant that no longer exists.
    let Started::Fresh(mut cmd) = Command::start(&state, &auth, req.without_key(), &body.digest).await? else {
        return Err(ApiError::Internal(anyhow::anyhow!("unkeyed command replayed")));
    };
    let row = tenants::find(cmd.tx().await?, auth.tenant_id).await?.ok_or(ApiError::NotFound("tenant"))?;
    if body.value.confirm != row.slug {
        return Err(ApiError::Invalid(crate::domain::FieldError::new(
            "confirm",
            format!("confirm must be the tenant's slug, \"{}\": deleting a tenant cannot be undone", row.slug),
        )));
    }
    let deleted = DomainEvent::TenantDeleted { tenant_id: row.id, slug: row.slug.clone() };
    cmd.append(&StreamId::tenant(row.id), ExpectedVersion::Exactly(row.version), &[deleted]).await?;
    state.tenant_keys.destroy(cmd.tx().await?, row.id).await?;
    cmd.finish(&state, Reply::no_content()).await?;
    state.key_cache.clear();
    state.signers.invalidate(&row.id);
    state.jwks.invalidate(&row.slug);
    if let Some(announcer) = &state.node_announcer {
        announcer.tenant_deleted(row.id);
        announcer.certificates_changed(&row.slug);
    }
    tracing::info!(tenant = %row.id, slug = %row.slug, "tenant deleted");
    Ok(HttpResponse::NoContent().finish())
}

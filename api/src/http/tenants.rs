//! `POST /v1/tenants` (signup) and `GET /v1/tenant`.

use super::api_keys::{NewApiKeyView, issue};
use super::auth::Authenticated;
use super::command::{Command, CommandRequest, Reply, Started};
use super::extract::JsonBody;
use super::{ApiError, AppState};
use crate::domain::{DomainEvent, EmailAddress, StreamId, TenantSlug, parse_text};
use crate::store::signup_replays::{self, SignupReplay};
use crate::store::{ExpectedVersion, IdempotencyKey, Scope, StoreError, Violation, tenants};
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

/// A signup's idempotency key and the fingerprint a retry with it must repeat.
pub struct SignupRetry {
    key: IdempotencyKey,
    fingerprint: String,
}

/// Creates a tenant with its data key and first admin API key, in one transaction.
/// With a `retry`, the answer is saved, sealed, for the same signup sent again.
/// Used by signup and by the operator command `confer-api ensure-tenant`.
pub async fn create_tenant(
    state: &AppState,
    name: String,
    slug: TenantSlug,
    admin_email: EmailAddress,
    req: CommandRequest,
    retry: Option<&SignupRetry>,
) -> Result<TenantCreated, ApiError> {
    let tenant_id = Uuid::now_v7();
    let Started::Fresh(mut cmd) = Command::start_as(state, tenant_id, "signup".into(), req, &[0; 32]).await? else {
        return Err(ApiError::Internal(anyhow::anyhow!("a new tenant cannot have a saved response")));
    };
    let data_key = state.tenant_keys.create(cmd.tx().await?, tenant_id).await?;
    let created = DomainEvent::TenantCreated { tenant_id, name, slug: slug.to_string(), admin_email };
    let appended = match cmd.append(&StreamId::tenant(tenant_id), ExpectedVersion::NoStream, &[created]).await {
        Err(StoreError::Violation(Violation::Unique(c))) if c == "tenants_slug_key" => {
            return Err(slug_taken(&slug));
        }
        other => other?,
    };
    let api_key = issue(&mut cmd, "admin".into()).await?;
    let row: tenants::TenantRow = super::projected_row(appended)?;
    let body = TenantCreated { tenant: view(state, row), api_key };
    if let Some(retry) = retry {
        // The answer holds the admin key: it is saved sealed, never in the clear.
        let answer = serde_json::to_string(&body).map_err(|e| ApiError::Internal(e.into()))?;
        let replay =
            SignupReplay { tenant_id, fingerprint: retry.fingerprint.clone(), sealed_answer: data_key.seal(&answer) };
        signup_replays::save(cmd.tx().await?, &retry.key, &replay).await?;
    }
    cmd.finish(state, Reply::no_content()).await?;
    Ok(body)
}

fn slug_taken(slug: &TenantSlug) -> ApiError {
    ApiError::Conflict {
        code: "slug_taken",
        message: format!("the slug \"{slug}\" is taken; choose another"),
        field: Some("slug"),
    }
}

/// The answer of an earlier signup with the same idempotency key, if there is one:
/// the same request gets it again (`Idempotent-Replayed: true`), another gets 422.
async fn replay_signup(state: &AppState, retry: &SignupRetry) -> Result<Option<HttpResponse>, ApiError> {
    let tx = state.store.begin(Scope::Platform).await?;
    let Some(saved) = signup_replays::find(&tx, &retry.key).await? else {
        signup_replays::forget_expired(&tx, &retry.key).await?;
        tx.commit().await?;
        return Ok(None);
    };
    tx.commit().await?;
    if saved.fingerprint != retry.fingerprint {
        return Err(ApiError::Invalid(crate::domain::FieldError::new(
            "Idempotency-Key",
            "this Idempotency-Key was used with a different request",
        )));
    }
    let tx = state.store.begin(Scope::Tenant(saved.tenant_id)).await?;
    let data_key = state.tenant_keys.load(&tx, saved.tenant_id).await?;
    tx.commit().await?;
    let answer = data_key
        .open(&saved.sealed_answer)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("saved signup of {} does not open: {e}", saved.tenant_id)))?;
    Ok(Some(
        HttpResponse::build(StatusCode::CREATED)
            .insert_header(("Idempotent-Replayed", "true"))
            .content_type("application/json")
            .body(answer),
    ))
}

/// The shortest idempotency key a signup accepts: a retry with it returns the
/// admin key, so it must not be guessable.
const SIGNUP_KEY_MIN_LEN: usize = 16;

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

/// Signs up a tenant. With an `Idempotency-Key` (16 characters or more: a random
/// UUID), the same signup sent again within a day answers the same tenant and admin
/// key instead of `slug_taken`.
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", request_body = CreateTenant,
    params(("Idempotency-Key" = Option<String>, Header, description = "16–255 visible ASCII characters; a retry within 24 hours answers the first signup again")),
    responses((status = 201, body = TenantCreated), (status = 409, body = super::ErrorBody, description = "slug taken"),
              (status = 422, body = super::ErrorBody), (status = 429, body = super::ErrorBody)))]
pub async fn signup(
    state: web::Data<AppState>,
    http: HttpRequest,
    req: CommandRequest,
    body: JsonBody<CreateTenant>,
) -> Result<HttpResponse, ApiError> {
    let retry = req.key().map(|key| SignupRetry { key: key.clone(), fingerprint: req.fingerprint(&body.digest) });
    if let Some(retry) = &retry
        && retry.key.as_str().len() < SIGNUP_KEY_MIN_LEN
    {
        return Err(ApiError::Invalid(crate::domain::FieldError::new(
            "Idempotency-Key",
            format!(
                "a signup's Idempotency-Key must be at least {SIGNUP_KEY_MIN_LEN} characters (a random UUID): a retry with it returns the admin key"
            ),
        )));
    }
    let b = &body.value;
    let name = parse_text("name", &b.name, 100)?;
    let slug = TenantSlug::parse(&b.slug)?;
    let admin_email = EmailAddress::parse("admin_email", &b.admin_email)?;
    if let Some(addr) = http.peer_addr() {
        state.limits.check_signup(addr.ip())?;
    }
    if let Some(retry) = &retry
        && let Some(replayed) = replay_signup(&state, retry).await?
    {
        return Ok(replayed);
    }
    match create_tenant(&state, name, slug, admin_email, req.without_key(), retry.as_ref()).await {
        Ok(created) => Ok(HttpResponse::build(StatusCode::CREATED).json(created)),
        // The same signup, racing: the first one's answer is there once it commits.
        Err(e @ ApiError::Conflict { code: "slug_taken" | "idempotency_key_in_use", .. }) => match &retry {
            Some(retry) => replay_signup(&state, retry).await?.ok_or(e),
            None => Err(e),
        },
        Err(e) => Err(e),
    }
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

//! `/v1/api-keys`: a tenant's API keys. The secret is shown once, at creation.

use super::auth::{Authenticated, mint_key};
use super::command::{Command, CommandRequest, Reply, Started};
use super::extract::{JsonBody, path_id};
use super::{ApiError, AppState};
use crate::domain::{DomainEvent, StreamId, parse_text};
use crate::store::{ExpectedVersion, Scope, api_keys};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Request for a new key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// What the key is for, 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
}

/// A key just created, with its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewApiKeyView {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the key, shown in listings.
    pub prefix: String,
    /// The key itself: store it now, it is never shown again.
    pub key: String,
    pub created_at: DateTime<Utc>,
}

/// A key as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

fn view(row: api_keys::ApiKeyRow) -> ApiKeyView {
    ApiKeyView {
        id: row.id,
        name: row.name,
        prefix: row.prefix,
        created_at: row.created_at,
        revoked_at: row.revoked_at,
    }
}

/// Issues another API key. Not replayable: the secret is shown once.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", security(("api_key" = [])), request_body = CreateApiKey,
    responses((status = 201, body = NewApiKeyView), (status = 409, body = super::ErrorBody, description = "too_many_api_keys"), (status = 422, body = super::ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    auth: Authenticated,
    req: CommandRequest,
    body: JsonBody<CreateApiKey>,
) -> Result<HttpResponse, ApiError> {
    let name = parse_text("name", &body.value.name, 100)?;
    let actor = auth.actor();
    let no_replay = CommandRequest::without_key(req);
    let Started::Fresh(mut cmd) = Command::start_as(&state, auth.tenant_id, actor, no_replay, &body.digest).await?
    else {
        return Err(ApiError::Internal(anyhow::anyhow!("unkeyed command replayed")));
    };
    let cap = i64::from(state.config.max_api_keys_per_tenant);
    if api_keys::count_active(cmd.tx().await?, auth.tenant_id).await? >= cap {
        return Err(ApiError::Conflict {
            code: "too_many_api_keys",
            message: format!("a tenant may hold at most {cap} API keys; revoke one first"),
            field: None,
        });
    }
    let body = issue(&mut cmd, name).await?;
    cmd.finish(&state, Reply::no_content()).await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(body))
}

/// Mints a key named `name` and records it in `cmd`; the answer holds the secret,
/// which is shown this once and never saved for replay.
pub(crate) async fn issue(cmd: &mut Command, name: String) -> Result<NewApiKeyView, ApiError> {
    let key = mint_key();
    let key_id = Uuid::now_v7();
    let event =
        DomainEvent::ApiKeyCreated { key_id, name: name.clone(), prefix: key.prefix.clone(), key_hash: key.hash_hex };
    let recorded = cmd.append(&StreamId::api_key(key_id), ExpectedVersion::NoStream, &[event]).await?;
    let created_at = recorded.first().map(|r| r.event.recorded_at).unwrap_or_else(Utc::now);
    Ok(NewApiKeyView { id: key_id, name, prefix: key.prefix, key: key.secret, created_at })
}

/// Lists the tenant's keys (never their secrets).
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys", security(("api_key" = [])),
    responses((status = 200, body = Vec<ApiKeyView>)))]
pub async fn list(state: web::Data<AppState>, auth: Authenticated) -> Result<HttpResponse, ApiError> {
    let tx = state.store.begin(Scope::Tenant(auth.tenant_id)).await?;
    let rows = api_keys::list(&tx, auth.tenant_id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(view).collect::<Vec<_>>()))
}

/// Revokes a key. The tenant's last working key cannot be revoked (409), so a
/// tenant cannot lock itself out.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "api-keys", security(("api_key" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn revoke(
    state: web::Data<AppState>,
    http: HttpRequest,
    auth: Authenticated,
    req: CommandRequest,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&http, "api key")?;
    let mut cmd = match Command::start(&state, &auth, req, &[0; 32]).await? {
        Started::Replayed(r) => return Ok(r),
        Started::Fresh(c) => c,
    };
    let row = api_keys::find(cmd.tx().await?, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("api key"))?;
    if row.revoked_at.is_none() {
        if api_keys::count_active(cmd.tx().await?, auth.tenant_id).await? <= 1 {
            return Err(ApiError::Conflict {
                code: "last_api_key",
                message: "this is the tenant's last working API key; create another before revoking it".into(),
                field: None,
            });
        }
        cmd.append(&StreamId::api_key(id), ExpectedVersion::Exactly(1), &[DomainEvent::ApiKeyRevoked { key_id: id }])
            .await?;
    }
    let reply = cmd.finish(&state, Reply::no_content()).await;
    state.key_cache.clear();
    reply
}

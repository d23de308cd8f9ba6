//! `/v1/users`: the tenant's people, for internal login and for naming moderators.

use super::auth::Authenticated;
use super::command::{Command, CommandRequest, Reply, Started};
use super::extract::{JsonBody, Query, if_match, path_id};
use super::pagination::{self, Page};
use super::settings::double_option;
use super::{ApiError, AppState};
use crate::domain::{DomainEvent, EmailAddress, PasswordHash, PlainPassword, StreamId, UserRole, parse_text};
use crate::store::{ExpectedVersion, Scope, StoreError, Violation, users};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    /// 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub display_name: String,
    /// Default `member`.
    pub role: Option<UserRole>,
    /// For internal login; 8–128 characters; stored as an argon2id hash only.
    #[schema(min_length = 8, max_length = 128)]
    pub password: Option<String>,
}

/// A partial update; `password: null` removes the password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    pub display_name: Option<String>,
    pub role: Option<UserRole>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub password: Option<Option<String>>,
    pub disabled: Option<bool>,
}

/// A user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: UserRole,
    pub has_password: bool,
    pub disabled: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `?limit=&cursor=`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListUsers {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

fn view(row: users::UserRow) -> Result<UserView, ApiError> {
    Ok(UserView {
        role: UserRole::parse(&row.role).map_err(|e| ApiError::Internal(e.into()))?,
        id: row.id,
        email: row.email,
        display_name: row.display_name,
        has_password: row.password_hash.is_some(),
        disabled: row.disabled,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

async fn respond(
    cmd: Command,
    state: &AppState,
    row: users::UserRow,
    status: StatusCode,
) -> Result<HttpResponse, ApiError> {
    let version = row.version;
    let reply = Reply::json(status, &view(row)?)?.with_version(version);
    cmd.finish(state, reply).await
}

/// Adds a user. The same email twice in one tenant → 409.
#[utoipa::path(post, path = "/v1/users", tag = "users", security(("api_key" = [])), request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    auth: Authenticated,
    req: CommandRequest,
    body: JsonBody<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    let b = body.value;
    let email = EmailAddress::parse("email", &b.email)?;
    let display_name = parse_text("display_name", &b.display_name, 100)?;
    let password = b.password.as_deref().map(|p| PlainPassword::parse_account("password", p)).transpose()?;
    let mut cmd = match Command::start(&state, &auth, req, &body.digest).await? {
        Started::Replayed(r) => return Ok(r),
        Started::Fresh(c) => c,
    };
    let password_hash = match password {
        Some(p) => Some(super::hash_password(&state.limits, auth.tenant_id, p).await?),
        None => None,
    };
    let id = Uuid::now_v7();
    let event = DomainEvent::UserCreated {
        user_id: id,
        email: email.clone(),
        display_name,
        role: b.role.unwrap_or(UserRole::Member),
        password_hash,
    };
    let appended = match cmd.append(&StreamId::user(id), ExpectedVersion::NoStream, &[event]).await {
        Err(StoreError::Violation(Violation::Unique(c))) if c == "users_tenant_id_email_key" => {
            return Err(ApiError::Conflict {
                code: "email_taken",
                message: format!("a user with email {email} already exists"),
                field: Some("email"),
            });
        }
        other => other?,
    };
    respond(cmd, &state, super::projected_row(appended)?, StatusCode::CREATED).await
}

/// Lists users in creation order.
#[utoipa::path(get, path = "/v1/users", tag = "users", security(("api_key" = [])), params(ListUsers),
    responses((status = 200, body = Page<UserView>)))]
pub async fn list(
    state: web::Data<AppState>,
    auth: Authenticated,
    query: Query<ListUsers>,
) -> Result<HttpResponse, ApiError> {
    let limit = pagination::limit(query.0.limit)?;
    let after: Option<Uuid> = pagination::decode(query.0.cursor.as_deref())?;
    let tx = state.store.begin(Scope::Tenant(auth.tenant_id)).await?;
    let rows = users::list(&tx, auth.tenant_id, after, limit + 1).await?;
    tx.commit().await?;
    let page = pagination::page(rows, limit, |r| r.id, |r| r);
    let items = page.items.into_iter().map(view).collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(Page { items, next_cursor: page.next_cursor }))
}

/// One user.
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users", security(("api_key" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = UserView), (status = 404, body = super::ErrorBody)))]
pub async fn get(state: web::Data<AppState>, http: HttpRequest, auth: Authenticated) -> Result<HttpResponse, ApiError> {
    let id = path_id(&http, "user")?;
    let tx = state.store.begin(Scope::Tenant(auth.tenant_id)).await?;
    let row = users::find(&tx, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("user"))?;
    tx.commit().await?;
    let version = row.version;
    Ok(HttpResponse::Ok().insert_header(("ETag", format!("\"{version}\""))).json(view(row)?))
}

async fn change(
    state: &AppState,
    http: &HttpRequest,
    auth: Authenticated,
    req: CommandRequest,
    digest: &[u8; 32],
    patch: PatchUser,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(http, "user")?;
    let expected = if_match(http)?;
    let display_name = patch.display_name.as_deref().map(|n| parse_text("display_name", n, 100)).transpose()?;
    let password = match &patch.password {
        Some(Some(p)) => Some(Some(PlainPassword::parse_account("password", p)?)),
        Some(None) => Some(None),
        None => None,
    };
    let mut cmd = match Command::start(state, &auth, req, digest).await? {
        Started::Replayed(r) => return Ok(r),
        Started::Fresh(c) => c,
    };
    let row = users::find(cmd.tx().await?, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("user"))?;
    if let Some(v) = expected
        && v != row.version
    {
        return Err(ApiError::Stale { expected: v });
    }
    let current_role = UserRole::parse(&row.role).map_err(|e| ApiError::Internal(e.into()))?;
    let current_hash = row.password_hash.clone().map(PasswordHash::from_stored);
    let new_hash = match password {
        Some(Some(p)) => Some(super::hash_password(&state.limits, auth.tenant_id, p).await?),
        Some(None) => None,
        None => current_hash.clone(),
    };
    let new_name = display_name.unwrap_or_else(|| row.display_name.clone());
    let new_role = patch.role.unwrap_or(current_role);
    let mut events = Vec::new();
    if new_name != row.display_name || new_role != current_role || new_hash != current_hash {
        events.push(DomainEvent::UserChanged {
            user_id: id,
            display_name: new_name,
            role: new_role,
            password_hash: new_hash,
        });
    }
    match patch.disabled {
        Some(true) if !row.disabled => events.push(DomainEvent::UserDisabled { user_id: id }),
        Some(false) if row.disabled => events.push(DomainEvent::UserEnabled { user_id: id }),
        _ => {}
    }
    let appended = match cmd.append(&StreamId::user(id), ExpectedVersion::Exactly(row.version), &events).await {
        Err(StoreError::Conflict { .. }) if expected.is_some() => {
            return Err(ApiError::Stale { expected: row.version });
        }
        other => other?,
    };
    let row = if appended.is_empty() { row } else { super::projected_row(appended)? };
    respond(cmd, state, row, StatusCode::OK).await
}

/// Changes a user. With `If-Match`, only if still at that version (412 otherwise).
#[utoipa::path(patch, path = "/v1/users/{id}", tag = "users", security(("api_key" = [])), params(("id" = Uuid, Path)),
    request_body = PatchUser,
    responses((status = 200, body = UserView), (status = 404, body = super::ErrorBody), (status = 412, body = super::ErrorBody)))]
pub async fn patch(
    state: web::Data<AppState>,
    http: HttpRequest,
    auth: Authenticated,
    req: CommandRequest,
    body: JsonBody<PatchUser>,
) -> Result<HttpResponse, ApiError> {
    change(&state, &http, auth, req, &body.digest, body.value).await
}

/// Disables a user: they can no longer log in. Their history stays.
#[utoipa::path(post, path = "/v1/users/{id}/disable", tag = "users", security(("api_key" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = UserView), (status = 404, body = super::ErrorBody)))]
pub async fn disable(
    state: web::Data<AppState>,
    http: HttpRequest,
    auth: Authenticated,
    req: CommandRequest,
) -> Result<HttpResponse, ApiError> {
    let patch = PatchUser { display_name: None, role: None, password: None, disabled: Some(true) };
    change(&state, &http, auth, req, &[0; 32], patch).await
}

//! `/v1/meetings`: scheduled meetings. A room cannot be booked twice for
//! overlapping times (the database's exclusion constraint decides races).

use super::auth::Authenticated;
use super::command::{Command, CommandRequest, Reply, Started};
use super::events::EventView;
use super::extract::{JsonBody, Query, if_match, path_id};
use super::pagination::{self, Page};
use super::settings::double_option;
use super::{ApiError, AppState};
use crate::domain::{
    DomainEvent, EmailAddress, FieldError, PasswordHash, PlainPassword, RoomName, StreamId, parse_text,
};
use crate::store::meetings::{self, MeetingCursor, MeetingRow};
use crate::store::{ExpectedVersion, Scope, StoreError, Violation, event_feed};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The longest a meeting may last.
const MAX_LENGTH: Duration = Duration::days(7);

/// A meeting to schedule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleMeeting {
    /// Room name: 1–64 of `a-z 0-9 - _ .`, case-insensitive.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-][A-Za-z0-9._-]*$", example = "standup")]
    pub room: String,
    /// 1–200 characters; defaults to the room name.
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    pub starts_at: DateTime<Utc>,
    /// After `starts_at`, at most 7 days later.
    pub ends_at: DateTime<Utc>,
    /// Room password required of non-moderators; never returned.
    #[schema(min_length = 1, max_length = 128)]
    pub password: Option<String>,
    /// Emails of the meeting's moderators.
    pub moderators: Option<Vec<String>>,
    /// Override the tenant's lobby setting for this meeting.
    pub lobby: Option<bool>,
}

/// A partial update; `password: null` / `lobby: null` clear them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchMeeting {
    pub title: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub password: Option<Option<String>>,
    pub moderators: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<bool>)]
    pub lobby: Option<Option<bool>>,
}

/// A meeting.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeetingView {
    pub id: Uuid,
    pub room: String,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Whether a password is required (the password itself is never returned).
    pub has_password: bool,
    pub moderators: Vec<String>,
    pub lobby: Option<bool>,
    /// `scheduled` or `cancelled`.
    pub status: String,
    /// Pass as `If-Match` to change only this version.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `?from=&to=&limit=&cursor=`: meetings overlapping `[from, to)` (default: the next 30 days).
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListMeetings {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

fn view(row: MeetingRow) -> MeetingView {
    MeetingView {
        moderators: serde_json::from_value(row.moderators).unwrap_or_default(),
        id: row.id,
        room: row.room,
        title: row.title,
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        has_password: row.password_hash.is_some(),
        lobby: row.lobby,
        status: row.status,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn check_times(starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) -> Result<(), FieldError> {
    if ends_at <= starts_at {
        return Err(FieldError::new("ends_at", "ends_at must be after starts_at"));
    }
    if ends_at - starts_at > MAX_LENGTH {
        return Err(FieldError::new("ends_at", "a meeting may last at most 7 days"));
    }
    Ok(())
}

fn parse_moderators(list: &[String]) -> Result<Vec<EmailAddress>, FieldError> {
    if list.len() > 100 {
        return Err(FieldError::new("moderators", "at most 100 moderators"));
    }
    let mut out: Vec<EmailAddress> =
        list.iter().map(|m| EmailAddress::parse("moderators", m)).collect::<Result<_, _>>()?;
    out.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    out.dedup();
    Ok(out)
}

fn room_booked(room: &str) -> ApiError {
    ApiError::Conflict {
        code: "room_booked",
        message: format!("room \"{room}\" is already booked for an overlapping time"),
        field: Some("room"),
    }
}

async fn respond(
    cmd: Command,
    state: &AppState,
    row: MeetingRow,
    status: StatusCode,
) -> Result<HttpResponse, ApiError> {
    let version = row.version;
    let reply = Reply::json(status, &view(row))?.with_version(version);
    cmd.finish(state, reply).await
}

/// Schedules a meeting.
#[utoipa::path(post, path = "/v1/meetings", tag = "meetings", security(("api_key" = [])), request_body = ScheduleMeeting,
    responses((status = 201, body = MeetingView), (status = 409, body = super::ErrorBody, description = "room booked"),
              (status = 422, body = super::ErrorBody)))]
pub async fn schedule(
    state: web::Data<AppState>,
    auth: Authenticated,
    req: CommandRequest,
    body: JsonBody<ScheduleMeeting>,
) -> Result<HttpResponse, ApiError> {
    let b = body.value;
    let room = RoomName::parse(&b.room).map_err(FieldError::from)?;
    let title = parse_text("title", b.title.as_deref().unwrap_or(room.as_str()), 200)?;
    check_times(b.starts_at, b.ends_at)?;
    let moderators = parse_moderators(b.moderators.as_deref().unwrap_or_default())?;
    let password = b.password.as_deref().map(|p| PlainPassword::parse_room("password", p)).transpose()?;
    let mut cmd = match Command::start(&state, &auth, req, &body.digest).await? {
        Started::Replayed(r) => return Ok(r),
        Started::Fresh(c) => c,
    };
    let password_hash = match password {
        Some(p) => Some(super::hash_password(&state.limits, auth.tenant_id, p).await?),
        None => None,
    };
    let id = Uuid::now_v7();
    let event = DomainEvent::MeetingScheduled {
        meeting_id: id,
        room: room.clone(),
        title,
        starts_at: b.starts_at,
        ends_at: b.ends_at,
        password_hash,
        moderators,
        lobby: b.lobby,
    };
    let appended = match cmd.append(&StreamId::meeting(id), ExpectedVersion::NoStream, &[event]).await {
        Err(StoreError::Violation(Violation::Exclusion(_))) => return Err(room_booked(room.as_str())),
        other => other?,
    };
    respond(cmd, &state, super::projected_row(appended)?, StatusCode::CREATED).await
}

/// Lists scheduled meetings overlapping a time window, by start time.
#[utoipa::path(get, path = "/v1/meetings", tag = "meetings", security(("api_key" = [])), params(ListMeetings),
    responses((status = 200, body = Page<MeetingView>), (status = 422, body = super::ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    auth: Authenticated,
    query: Query<ListMeetings>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let limit = pagination::limit(q.limit)?;
    let cursor: Option<MeetingCursor> = pagination::decode(q.cursor.as_deref())?;
    let from = q.from.unwrap_or_else(Utc::now);
    let to = q.to.unwrap_or(from + Duration::days(30));
    if to <= from {
        return Err(FieldError::new("to", "to must be after from").into());
    }
    if to - from > Duration::days(366) {
        return Err(FieldError::new("to", "the window may span at most 366 days").into());
    }
    let tx = state.store.begin(Scope::Tenant(auth.tenant_id)).await?;
    let rows = meetings::list_window(&tx, auth.tenant_id, from, to, cursor, limit + 1).await?;
    tx.commit().await?;
    let page = pagination::page(rows, limit, |r| MeetingCursor { starts_at: r.starts_at, id: r.id }, view);
    Ok(HttpResponse::Ok().json(page))
}

/// One meeting (cancelled ones too, with `status: cancelled`).
#[utoipa::path(get, path = "/v1/meetings/{id}", tag = "meetings", security(("api_key" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = MeetingView), (status = 404, body = super::ErrorBody)))]
pub async fn get(state: web::Data<AppState>, http: HttpRequest, auth: Authenticated) -> Result<HttpResponse, ApiError> {
    let id = path_id(&http, "meeting")?;
    let tx = state.store.begin(Scope::Tenant(auth.tenant_id)).await?;
    let row = meetings::find(&tx, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("meeting"))?;
    tx.commit().await?;
    let version = row.version;
    Ok(HttpResponse::Ok().insert_header(("ETag", format!("\"{version}\""))).json(view(row)))
}

/// Reschedules or edits a meeting. With `If-Match: <version>`, 412 when it changed since.
#[utoipa::path(patch, path = "/v1/meetings/{id}", tag = "meetings", security(("api_key" = [])), params(("id" = Uuid, Path)),
    request_body = PatchMeeting,
    responses((status = 200, body = MeetingView), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody),
              (status = 412, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn patch(
    state: web::Data<AppState>,
    http: HttpRequest,
    auth: Authenticated,
    req: CommandRequest,
    body: JsonBody<PatchMeeting>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&http, "meeting")?;
    let expected = if_match(&http)?;
    let p = body.value;
    let title = p.title.as_deref().map(|t| parse_text("title", t, 200)).transpose()?;
    let moderators = p.moderators.as_deref().map(parse_moderators).transpose()?;
    let password = match &p.password {
        Some(Some(pw)) => Some(Some(PlainPassword::parse_room("password", pw)?)),
        Some(None) => Some(None),
        None => None,
    };
    let mut cmd = match Command::start(&state, &auth, req, &body.digest).await? {
        Started::Replayed(r) => return Ok(r),
        Started::Fresh(c) => c,
    };
    let row = meetings::find(cmd.tx().await?, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("meeting"))?;
    if let Some(v) = expected
        && v != row.version
    {
        return Err(ApiError::Stale { expected: v });
    }
    if row.status != "scheduled" {
        return Err(ApiError::Conflict {
            code: "meeting_cancelled",
            message: "the meeting was cancelled and cannot be changed".into(),
            field: None,
        });
    }
    let starts_at = p.starts_at.unwrap_or(row.starts_at);
    let ends_at = p.ends_at.unwrap_or(row.ends_at);
    check_times(starts_at, ends_at)?;
    let password_hash = match password {
        Some(Some(pw)) => Some(super::hash_password(&state.limits, auth.tenant_id, pw).await?),
        Some(None) => None,
        None => row.password_hash.clone().map(PasswordHash::from_stored),
    };
    let current_moderators: Vec<EmailAddress> = serde_json::from_value(row.moderators.clone()).unwrap_or_default();
    let event = DomainEvent::MeetingChanged {
        meeting_id: id,
        title: title.unwrap_or_else(|| row.title.clone()),
        starts_at,
        ends_at,
        password_hash,
        moderators: moderators.unwrap_or(current_moderators),
        lobby: p.lobby.unwrap_or(row.lobby),
    };
    let appended = match cmd.append(&StreamId::meeting(id), ExpectedVersion::Exactly(row.version), &[event]).await {
        Err(StoreError::Violation(Violation::Exclusion(_))) => return Err(room_booked(&row.room)),
        Err(StoreError::Conflict { .. }) if expected.is_some() => {
            return Err(ApiError::Stale { expected: row.version });
        }
        other => other?,
    };
    respond(cmd, &state, super::projected_row(appended)?, StatusCode::OK).await
}

/// Cancels a meeting; its room is free again for that time. Cancelling twice is fine.
#[utoipa::path(delete, path = "/v1/meetings/{id}", tag = "meetings", security(("api_key" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = super::ErrorBody), (status = 412, body = super::ErrorBody)))]
pub async fn cancel(
    state: web::Data<AppState>,
    http: HttpRequest,
    auth: Authenticated,
    req: CommandRequest,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&http, "meeting")?;
    let expected = if_match(&http)?;
    let mut cmd = match Command::start(&state, &auth, req, &[0; 32]).await? {
        Started::Replayed(r) => return Ok(r),
        Started::Fresh(c) => c,
    };
    let row = meetings::find(cmd.tx().await?, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("meeting"))?;
    if let Some(v) = expected
        && v != row.version
    {
        return Err(ApiError::Stale { expected: v });
    }
    if row.status == "scheduled" {
        let event = DomainEvent::MeetingCancelled { meeting_id: id };
        cmd.append(&StreamId::meeting(id), ExpectedVersion::Exactly(row.version), &[event]).await?;
    }
    cmd.finish(&state, Reply::no_content()).await
}

/// One meeting's history, oldest first.
#[utoipa::path(get, path = "/v1/meetings/{id}/events", tag = "meetings", security(("api_key" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<EventView>), (status = 404, body = super::ErrorBody)))]
pub async fn history(
    state: web::Data<AppState>,
    http: HttpRequest,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&http, "meeting")?;
    let tx = state.store.begin(Scope::Tenant(auth.tenant_id)).await?;
    let events = event_feed::stream(&tx, auth.tenant_id, &StreamId::meeting(id)).await?;
    tx.commit().await?;
    if events.is_empty() {
        return Err(ApiError::NotFound("meeting"));
    }
    Ok(HttpResponse::Ok().json(events.into_iter().map(EventView::from).collect::<Vec<_>>()))
}

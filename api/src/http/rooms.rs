//! What a media node asks about a room's scheduled meeting when someone joins it:
//! the meeting's lobby override, whether it has a password, and who moderates it
//! (`GET /v1/rooms/{room}/meeting`); and whether a password someone typed is the
//! meeting's (`POST /v1/rooms/{room}/meeting/password`). The password's hash never
//! leaves the api. The shapes are the node's contract
//! (`confer_vocabulary::node_api::room_meeting`).

use super::auth::ForVisitor;
use super::extract::JsonBody;
use super::{ApiError, AppState};
use crate::domain::{PasswordHash, RoomName};
use crate::store::{Scope, meetings};
use actix_web::{HttpResponse, web};
use chrono::Utc;
use confer_vocabulary::node_api::{PasswordTry, PasswordVerdict, RoomMeeting, paths};
use uuid::Uuid;

/// How early before its start a meeting's rules apply to its room.
const EARLY_MINUTES: i64 = 15;

async fn meeting_on_now(state: &AppState, tenant: Uuid, room: &str) -> Result<meetings::MeetingRow, ApiError> {
    let room = RoomName::parse(room).map_err(crate::domain::FieldError::from)?;
    let tx = state.store.begin(Scope::Tenant(tenant)).await?;
    let row =
        meetings::on_now(&tx, tenant, room.as_str(), Utc::now(), chrono::Duration::minutes(EARLY_MINUTES)).await?;
    tx.commit().await?;
    row.ok_or(ApiError::NotFound("meeting on now in this room"))
}

/// The meeting scheduled in this room now (from 15 minutes before its start).
#[utoipa::path(get, path = paths::ROOM_MEETING, tag = "rooms",
    params(("room" = String, Path, description = "the room")),
    responses((status = 200, body = RoomMeeting), (status = 404, description = "no meeting on now")),
    security(("api_key" = [])))]
pub async fn meeting(
    state: web::Data<AppState>,
    auth: ForVisitor,
    room: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = meeting_on_now(&state, auth.tenant_id, &room).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(RoomMeeting {
        meeting_id: row.id,
        title: row.title,
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        has_password: row.password_hash.is_some(),
        moderators: serde_json::from_value(row.moderators).unwrap_or_default(),
        lobby: row.lobby,
    }))
}

/// Whether `password` is the password of the meeting on now in this room (argon2id,
/// checked here so that the hash stays in the api).
#[utoipa::path(post, path = paths::ROOM_MEETING_PASSWORD, tag = "rooms", request_body = PasswordTry,
    params(("room" = String, Path, description = "the room")),
    responses((status = 200, body = PasswordVerdict), (status = 404, description = "no meeting on now")),
    security(("api_key" = [])))]
pub async fn check_password(
    state: web::Data<AppState>,
    auth: ForVisitor,
    room: web::Path<String>,
    body: JsonBody<PasswordTry>,
) -> Result<HttpResponse, ApiError> {
    let row = meeting_on_now(&state, auth.tenant_id, &room).await?;
    let candidate = body.value.password;
    let matches = match row.password_hash {
        Some(hash) if candidate.len() <= 1024 => {
            let hash = PasswordHash::from_stored(hash);
            state.limits.check_password_hash(auth.tenant_id)?;
            web::block(move || hash.verify(&candidate)).await.map_err(|e| ApiError::Internal(e.into()))?
        }
        _ => false,
    };
    Ok(HttpResponse::Ok().json(PasswordVerdict { matches }))
}

//! `POST /v1/room-facts`: what a tenant's media node reports about its rooms
//! (started, joined, left, locked, unlocked, ended), recorded as events.
//!
//! Each run of a room is one stream, `room_session-<id>`, written in order by the
//! node that runs it: `seq` is the fact's version in that stream, so a fact
//! out of order is refused (409) and a retried one (same `Idempotency-Key`, the
//! fact's id) replays the first answer instead of appending twice. What a node
//! sends is its contract's `confer_vocabulary::node_api::RoomFact`.

use super::auth::ForVisitor;
use super::command::{Command, CommandRequest, Reply, Started};
use super::extract::JsonBody;
use super::{ApiError, AppState};
use crate::domain::{DomainEvent, FieldError, RoomName, StreamId};
use crate::store::{ExpectedVersion, StoreError};
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web;
use confer_vocabulary::node_api::{RoomFact, RoomFactKind, paths};
use serde::Serialize;
use utoipa::ToSchema;

/// The recorded fact.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordedFact {
    pub position: i64,
    pub stream_id: String,
    pub version: i64,
}

fn short(field: &'static str, value: &str) -> Result<String, FieldError> {
    crate::domain::parse_text(field, value, 128)
}

/// Records one room fact as an event.
#[utoipa::path(post, path = paths::ROOM_FACTS, tag = "room-facts", security(("api_key" = [])), request_body = RoomFact,
    responses((status = 201, body = RecordedFact), (status = 409, body = super::ErrorBody, description = "out of order"),
              (status = 422, body = super::ErrorBody)))]
pub async fn record(
    state: web::Data<AppState>,
    auth: ForVisitor,
    req: CommandRequest,
    body: JsonBody<RoomFact>,
) -> Result<HttpResponse, ApiError> {
    let f = body.value;
    let room = RoomName::parse(&f.room).map_err(FieldError::from)?.to_string();
    if f.seq < 1 {
        return Err(FieldError::new("seq", "seq starts at 1").into());
    }
    let at = f.at;
    let event = match f.fact {
        RoomFactKind::MeetingStarted => DomainEvent::MeetingStarted { room, node_time: at },
        RoomFactKind::ParticipantJoined { participant, display_name } => DomainEvent::ParticipantJoined {
            room,
            participant: short("participant", &participant)?,
            display_name: short("display_name", &display_name)?,
            node_time: at,
        },
        RoomFactKind::ParticipantLeft { participant, reason } => DomainEvent::ParticipantLeft {
            room,
            participant: short("participant", &participant)?,
            reason: short("reason", &reason)?,
            node_time: at,
        },
        RoomFactKind::RoomLocked { by } => DomainEvent::RoomLocked { room, by: short("by", &by)?, node_time: at },
        RoomFactKind::RoomUnlocked { by } => DomainEvent::RoomUnlocked { room, by: short("by", &by)?, node_time: at },
        RoomFactKind::MeetingEnded { by } => {
            DomainEvent::MeetingEnded { room, by: by.map(|b| short("by", &b)).transpose()?, node_time: at }
        }
    };
    let mut cmd = match Command::start(&state, &auth, req, &body.digest).await? {
        Started::Replayed(r) => return Ok(r),
        Started::Fresh(c) => c,
    };
    let stream = StreamId::room_session(f.session);
    let expected = if f.seq == 1 { ExpectedVersion::NoStream } else { ExpectedVersion::Exactly(f.seq - 1) };
    let appended = match cmd.append(&stream, expected, &[event]).await {
        Err(StoreError::Conflict { .. }) => {
            return Err(ApiError::Conflict {
                code: "fact_out_of_order",
                message: format!("fact {} of {stream:?} does not follow the stream's last fact", f.seq),
                field: Some("seq"),
            });
        }
        other => other?,
    };
    let recorded = appended.last().map(|a| RecordedFact {
        position: a.event.position,
        stream_id: a.event.stream_id.as_str().to_owned(),
        version: a.event.stream_version,
    });
    let reply = Reply::json(StatusCode::CREATED, &recorded)?;
    cmd.finish(&state, reply).await
}

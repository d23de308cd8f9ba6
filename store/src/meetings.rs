//! The `meetings` read model.

use super::{StoreError, Transaction, sql};
use chrono::{DateTime, Utc};
use sea_orm::{FromQueryResult, JsonValue};
use uuid::Uuid;

/// One row of `meetings`.
#[derive(Debug, Clone, FromQueryResult, serde::Deserialize)]
pub struct MeetingRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub room: String,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub password_hash: Option<String>,
    pub moderators: JsonValue,
    pub lobby: Option<bool>,
    pub status: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, tenant_id, room, title, starts_at, ends_at, password_hash, moderators, lobby, status, version, created_at, updated_at";

/// Where a page of meetings ends: the last one's start and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MeetingCursor {
    /// Start of the last meeting returned.
    pub starts_at: DateTime<Utc>,
    /// Id of the last meeting returned.
    pub id: Uuid,
}

/// One of the tenant's meetings.
pub async fn find(tx: &Transaction, tenant: Uuid, id: Uuid) -> Result<Option<MeetingRow>, StoreError> {
    Ok(MeetingRow::find_by_statement(sql(
        &format!("SELECT {COLUMNS} FROM meetings WHERE tenant_id = $1 AND id = $2"),
        [tenant.into(), id.into()],
    ))
    .one(tx.conn())
    .await?)
}

/// Scheduled meetings that overlap `[from, to)`, ordered by start, after `cursor`.
pub async fn list_window(
    tx: &Transaction,
    tenant: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    cursor: Option<MeetingCursor>,
    limit: u64,
) -> Result<Vec<MeetingRow>, StoreError> {
    Ok(MeetingRow::find_by_statement(sql(
        &format!(
            "SELECT {COLUMNS} FROM meetings
             WHERE tenant_id = $1 AND status = 'scheduled' AND starts_at < $3 AND ends_at > $2
               AND ($4::timestamptz IS NULL OR (starts_at, id) > ($4, $5::uuid))
             ORDER BY starts_at, id LIMIT $6"
        ),
        [
            tenant.into(),
            from.into(),
            to.into(),
            cursor.map(|c| c.starts_at).into(),
            cursor.map(|c| c.id).into(),
            (limit as i64).into(),
        ],
    ))
    .all(tx.conn())
    .await?)
}

/// The scheduled meeting in `room` at `at`, counting from `early` before its start
/// (people arrive a little early), if there is one.
pub async fn on_now(
    tx: &Transaction,
    tenant: Uuid,
    room: &str,
    at: DateTime<Utc>,
    early: chrono::Duration,
) -> Result<Option<MeetingRow>, StoreError> {
    Ok(MeetingRow::find_by_statement(sql(
        &format!(
            "SELECT {COLUMNS} FROM meetings
             WHERE tenant_id = $1 AND room = $2 AND status = 'scheduled' AND starts_at <= $3 AND ends_at > $4
             ORDER BY starts_at LIMIT 1"
        ),
        [tenant.into(), room.into(), (at + early).into(), at.into()],
    ))
    .one(tx.conn())
    .await?)
}

//! Appending events with an expected stream version, inside a tenant-scoped transaction.

use super::{StoreError, Violation, sql};
use crate::domain::{DomainEvent, EventMetadata, StreamId};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, TransactionTrait, Value};
use uuid::Uuid;

/// Whose rows a transaction may see and write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One tenant: row-level security hides all others.
    Tenant(Uuid),
    /// Every tenant: signup, API-key lookup, rebuilding projections.
    Platform,
}

/// The version a writer believes a stream is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have this version.
    Exactly(i64),
}

impl ExpectedVersion {
    fn as_i64(self) -> i64 {
        match self {
            Self::NoStream => 0,
            Self::Exactly(v) => v,
        }
    }
}

/// An event as the log holds it.
#[derive(Debug, Clone)]
pub struct RecordedEvent {
    /// Global, gap-free-for-readers position in the log.
    pub position: i64,
    /// The aggregate's stream.
    pub stream_id: StreamId,
    /// 1 for the stream's first event.
    pub stream_version: i64,
    /// Owner of the event.
    pub tenant_id: Uuid,
    /// What happened.
    pub event: DomainEvent,
    /// Who and why.
    pub metadata: EventMetadata,
    /// When the database recorded it.
    pub recorded_at: DateTime<Utc>,
}

/// The event store: a pool of connections to the database holding the log.
#[derive(Clone)]
pub struct EventStore {
    db: DatabaseConnection,
}

impl EventStore {
    /// A store over an open connection pool.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The pool, for health checks and migrations.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Opens a transaction that runs as the unprivileged `confer_app` role, scoped so
    /// that row-level security shows it only `scope`'s rows.
    pub async fn begin(&self, scope: Scope) -> Result<Transaction, StoreError> {
        let txn = self.db.begin().await?;
        // One round trip; the tenant id is a formatted Uuid, never client text.
        let setup = match scope {
            Scope::Tenant(id) => {
                format!("SET LOCAL ROLE confer_app; SELECT set_config('confer.tenant_id', '{id}', true)")
            }
            Scope::Platform => {
                "SET LOCAL ROLE confer_app; SELECT set_config('confer.scope', 'platform', true)".to_owned()
            }
        };
        txn.execute_unprepared(&setup).await?;
        Ok(Transaction { txn, scope })
    }
}

impl EventStore {
    /// Appends and projects in one statement, committed on its own: for commands
    /// whose only write is this append. Scoped to `tenant_id` like a transaction.
    pub async fn append(
        &self,
        tenant_id: Uuid,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[DomainEvent],
        metadata: &EventMetadata,
    ) -> Result<Vec<Appended>, StoreError> {
        append_with(&self.db, tenant_id, stream, expected, events, metadata).await
    }
}

/// An appended event and the read-model row its projection wrote (as JSON).
#[derive(Debug, Clone)]
pub struct Appended {
    /// The event as recorded.
    pub event: RecordedEvent,
    /// The row the projection inserted or updated, `to_jsonb(row)`; `Null` if none.
    pub row: serde_json::Value,
}

/// `confer_append` (see migration m0002): guard, insert and project, one statement.
async fn append_with(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    stream: &StreamId,
    expected: ExpectedVersion,
    events: &[DomainEvent],
    metadata: &EventMetadata,
) -> Result<Vec<Appended>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let expected_v = expected.as_i64();
    let stored = events
        .iter()
        .map(|e| e.to_stored().map(|(t, data)| serde_json::json!({ "type": t, "data": data })))
        .collect::<Result<Vec<_>, _>>()?;
    let values: Vec<Value> = vec![
        tenant_id.into(),
        stream.as_str().into(),
        expected_v.into(),
        serde_json::Value::Array(stored).into(),
        serde_json::to_value(metadata)?.into(),
    ];
    let conflict = || StoreError::Conflict { stream: stream.as_str().to_owned(), expected: expected_v };
    let rows = match conn
        .query_all_raw(sql(
            "SELECT event_position, event_version, event_recorded_at, projected
             FROM confer_append($1, $2, $3, $4::jsonb, $5::jsonb)",
            values,
        ))
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            return Err(match StoreError::from(e) {
                StoreError::Violation(Violation::Unique(c)) if c == "events_stream_id_stream_version_key" => conflict(),
                other => other,
            });
        }
    };
    if rows.len() != events.len() {
        return Err(conflict());
    }
    rows.iter()
        .zip(events)
        .map(|(row, event)| {
            Ok(Appended {
                event: RecordedEvent {
                    position: row.try_get("", "event_position")?,
                    stream_id: stream.clone(),
                    stream_version: row.try_get("", "event_version")?,
                    tenant_id,
                    event: event.clone(),
                    metadata: metadata.clone(),
                    recorded_at: row.try_get("", "event_recorded_at")?,
                },
                row: row.try_get::<Option<serde_json::Value>>("", "projected")?.unwrap_or_default(),
            })
        })
        .collect()
}

/// A unit of work: appends, projections and reads that commit together or not at all.
pub struct Transaction {
    txn: DatabaseTransaction,
    scope: Scope,
}

impl Transaction {
    /// The scope this transaction was opened for.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// The connection, for read-model queries.
    pub fn conn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// Appends `events` to `stream` if it is at `expected`, and projects them into
    /// the read models. A writer that lost the race gets [`StoreError::Conflict`].
    pub async fn append(
        &self,
        tenant_id: Uuid,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[DomainEvent],
        metadata: &EventMetadata,
    ) -> Result<Vec<Appended>, StoreError> {
        append_with(&self.txn, tenant_id, stream, expected, events, metadata).await
    }

    /// The events of one stream, oldest first.
    pub async fn read_stream(&self, stream: &StreamId) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = self
            .txn
            .query_all_raw(sql(
                "SELECT position, stream_id, stream_version, tenant_id, event_type, payload, metadata, recorded_at
                 FROM events WHERE stream_id = $1 ORDER BY stream_version",
                [stream.as_str().into()],
            ))
            .await?;
        rows.iter().map(decode_event).collect()
    }

    /// Makes everything done in this transaction durable.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.txn.commit().await?;
        Ok(())
    }
}

/// Decodes a row of `events` selected with all its columns.
pub(crate) fn decode_event(row: &sea_orm::QueryResult) -> Result<RecordedEvent, StoreError> {
    let event_type: String = row.try_get("", "event_type")?;
    let payload: serde_json::Value = row.try_get("", "payload")?;
    let metadata: serde_json::Value = row.try_get("", "metadata")?;
    Ok(RecordedEvent {
        position: row.try_get("", "position")?,
        stream_id: StreamId::from_stored(row.try_get("", "stream_id")?),
        stream_version: row.try_get("", "stream_version")?,
        tenant_id: row.try_get("", "tenant_id")?,
        event: DomainEvent::from_stored(&event_type, payload)?,
        metadata: serde_json::from_value(metadata)?,
        recorded_at: row.try_get("", "recorded_at")?,
    })
}

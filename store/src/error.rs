//! What can go wrong in the store, in terms the HTTP edge can map.

use sea_orm::DbErr;

/// A constraint of the read models that refused a write: each is a business rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A unique constraint, by name (e.g. `tenants_slug_key`).
    Unique(String),
    /// An exclusion constraint, by name (e.g. `meetings_room_not_double_booked`).
    Exclusion(String),
}

/// Errors of the event store and read models.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream is not at the expected version: someone else wrote first.
    #[error("stream {stream} is not at version {expected}")]
    Conflict { stream: String, expected: i64 },
    /// A read-model constraint refused the change.
    #[error("constraint violated: {0:?}")]
    Violation(Violation),
    /// Another request with the same idempotency key is being processed.
    #[error("a request with this idempotency key is in progress")]
    IdempotencyInFlight,
    /// A stored event or column could not be decoded.
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error(transparent)]
    Database(DbErr),
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        match violation(&err) {
            Some(v) => StoreError::Violation(v),
            None => StoreError::Database(err),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(err: serde_json::Error) -> Self {
        StoreError::Corrupt(err.to_string())
    }
}

/// The constraint behind a PostgreSQL error, when it is one (SQLSTATE 23505 or 23P01).
fn violation(err: &DbErr) -> Option<Violation> {
    use sea_orm::{RuntimeErr, sqlx};
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err else {
        return None;
    };
    let sqlx::Error::Database(db) = e.as_ref() else { return None };
    let constraint = db.constraint().unwrap_or_default().to_owned();
    match db.code().as_deref() {
        Some("23505") => Some(Violation::Unique(constraint)),
        Some("23P01") => Some(Violation::Exclusion(constraint)),
        _ => None,
    }
}

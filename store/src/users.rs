//! The `users` read model.

use super::{StoreError, Transaction, sql};
use chrono::{DateTime, Utc};
use sea_orm::FromQueryResult;
use uuid::Uuid;

/// One row of `users`.
#[derive(Debug, Clone, FromQueryResult, serde::Deserialize)]
pub struct UserRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, tenant_id, email, display_name, role, password_hash, disabled, version, created_at, updated_at";

/// One of the tenant's users.
pub async fn find(tx: &Transaction, tenant: Uuid, id: Uuid) -> Result<Option<UserRow>, StoreError> {
    Ok(UserRow::find_by_statement(sql(
        &format!("SELECT {COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2"),
        [tenant.into(), id.into()],
    ))
    .one(tx.conn())
    .await?)
}

/// A page of the tenant's users in creation order (ids are UUIDv7), after `after`.
pub async fn list(tx: &Transaction, tenant: Uuid, after: Option<Uuid>, limit: u64) -> Result<Vec<UserRow>, StoreError> {
    Ok(UserRow::find_by_statement(sql(
        &format!(
            "SELECT {COLUMNS} FROM users WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2)
             ORDER BY id LIMIT $3"
        ),
        [tenant.into(), after.into(), (limit as i64).into()],
    ))
    .all(tx.conn())
    .await?)
}

/// The tenant's user with this (lower-cased) email, for internal login.
pub async fn find_by_email(tx: &Transaction, tenant: Uuid, email: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(UserRow::find_by_statement(sql(
        &format!("SELECT {COLUMNS} FROM users WHERE tenant_id = $1 AND email = $2"),
        [tenant.into(), email.into()],
    ))
    .one(tx.conn())
    .await?)
}

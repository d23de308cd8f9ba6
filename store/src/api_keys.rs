//! The `api_keys` read model.

use super::{StoreError, Transaction, sql};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, FromQueryResult};
use uuid::Uuid;

/// One row of `api_keys` (the hash stays in the database).
#[derive(Debug, Clone, FromQueryResult, serde::Deserialize)]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The holder of a key, found by the key's SHA-256.
#[derive(Debug, Clone, Copy, FromQueryResult)]
pub struct KeyHolder {
    /// The key's id.
    pub id: Uuid,
    /// The tenant it acts for.
    pub tenant_id: Uuid,
}

/// Which tenant an unrevoked key with this hash belongs to (platform scope).
pub async fn holder_of(tx: &Transaction, key_hash: &[u8]) -> Result<Option<KeyHolder>, StoreError> {
    Ok(KeyHolder::find_by_statement(sql(
        "SELECT id, tenant_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        [key_hash.to_vec().into()],
    ))
    .one(tx.conn())
    .await?)
}

/// The tenant's keys, oldest first, revoked ones included.
pub async fn list(tx: &Transaction, tenant: Uuid) -> Result<Vec<ApiKeyRow>, StoreError> {
    Ok(ApiKeyRow::find_by_statement(sql(
        "SELECT id, tenant_id, name, prefix, created_at, revoked_at FROM api_keys WHERE tenant_id = $1 ORDER BY id",
        [tenant.into()],
    ))
    .all(tx.conn())
    .await?)
}

/// One of the tenant's keys.
pub async fn find(tx: &Transaction, tenant: Uuid, id: Uuid) -> Result<Option<ApiKeyRow>, StoreError> {
    Ok(ApiKeyRow::find_by_statement(sql(
        "SELECT id, tenant_id, name, prefix, created_at, revoked_at FROM api_keys WHERE tenant_id = $1 AND id = $2",
        [tenant.into(), id.into()],
    ))
    .one(tx.conn())
    .await?)
}

/// How many of the tenant's keys still work, counted under a per-tenant lock held
/// until the transaction ends, so that two creations at once cannot both take the
/// last place (nor two revocations both leave the tenant without a key).
pub async fn count_active(tx: &Transaction, tenant: Uuid) -> Result<i64, StoreError> {
    tx.conn()
        .execute_raw(sql(
            "SELECT pg_advisory_xact_lock(hashtextextended('confer.api_keys.' || $1::text, 0))",
            [tenant.into()],
        ))
        .await?;
    let row = tx
        .conn()
        .query_one_raw(sql(
            "SELECT count(*) AS n FROM api_keys WHERE tenant_id = $1 AND revoked_at IS NULL",
            [tenant.into()],
        ))
        .await?;
    Ok(row.map(|r| r.try_get::<i64>("", "n")).transpose()?.unwrap_or(0))
}

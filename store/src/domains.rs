//! The `domains` read model: a tenant's custom domains and where each one stands.

use super::{StoreError, Transaction, sql};
use chrono::{DateTime, Utc};
use sea_orm::FromQueryResult;
use uuid::Uuid;

/// One row of `domains`.
#[derive(Debug, Clone, FromQueryResult, serde::Deserialize)]
pub struct DomainRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub hostname: String,
    pub status: String,
    pub reason: Option<String>,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub cname_target: String,
    pub txt_name: String,
    pub txt_value: String,
    /// `cname` or `txt`, once verified.
    pub verified_by: Option<String>,
    /// The ACME order in progress or last placed.
    pub order_url: Option<String>,
    pub certificate_serial: Option<String>,
    pub certificate_issuer: Option<String>,
    pub certificate_not_before: Option<DateTime<Utc>>,
    pub certificate_not_after: Option<DateTime<Utc>>,
    /// When the certificate is due for renewal.
    pub renew_at: Option<DateTime<Utc>>,
    /// When a renewal was asked for, while it runs.
    pub renewal_requested_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, tenant_id, hostname, status, reason, next_retry_at, cname_target, txt_name, txt_value, \
                       verified_by, order_url, certificate_serial, certificate_issuer, certificate_not_before, \
                       certificate_not_after, renew_at, renewal_requested_at, version, created_at, updated_at";

/// One of the tenant's domains.
pub async fn find(tx: &Transaction, tenant: Uuid, id: Uuid) -> Result<Option<DomainRow>, StoreError> {
    Ok(DomainRow::find_by_statement(sql(
        &format!("SELECT {COLUMNS} FROM domains WHERE tenant_id = $1 AND id = $2"),
        [tenant.into(), id.into()],
    ))
    .one(tx.conn())
    .await?)
}

/// A page of the tenant's domains in the order they were added (ids are UUIDv7).
pub async fn list(
    tx: &Transaction,
    tenant: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<DomainRow>, StoreError> {
    Ok(DomainRow::find_by_statement(sql(
        &format!(
            "SELECT {COLUMNS} FROM domains WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3"
        ),
        [tenant.into(), after.into(), (limit as i64).into()],
    ))
    .all(tx.conn())
    .await?)
}

/// How many domains the tenant holds, counted under a per-tenant lock held until
/// the transaction ends, so that two adds at once cannot both take the last place.
pub async fn count_locked(tx: &Transaction, tenant: Uuid) -> Result<i64, StoreError> {
    use sea_orm::ConnectionTrait;
    tx.conn()
        .execute_raw(sql(
            "SELECT pg_advisory_xact_lock(hashtextextended('confer.domains.' || $1::text, 0))",
            [tenant.into()],
        ))
        .await?;
    let row =
        tx.conn().query_one_raw(sql("SELECT count(*) AS n FROM domains WHERE tenant_id = $1", [tenant.into()])).await?;
    Ok(row.map(|r| r.try_get::<i64>("", "n")).transpose()?.unwrap_or(0))
}

/// A domain by id, whichever tenant holds it (in a tenant-scoped transaction,
/// row-level security still hides other tenants' rows).
pub async fn find_any(tx: &Transaction, id: Uuid) -> Result<Option<DomainRow>, StoreError> {
    Ok(DomainRow::find_by_statement(sql(&format!("SELECT {COLUMNS} FROM domains WHERE id = $1"), [id.into()]))
        .one(tx.conn())
        .await?)
}

/// Active domains whose certificate is due for renewal and not already being
/// renewed, oldest due first (platform scope: every tenant's).
pub async fn due_for_renewal(tx: &Transaction, now: DateTime<Utc>, limit: u64) -> Result<Vec<DomainRow>, StoreError> {
    Ok(DomainRow::find_by_statement(sql(
        &format!(
            "SELECT {COLUMNS} FROM domains WHERE renewal_requested_at IS NULL AND renew_at <= $1 AND status = 'active' \
             ORDER BY renew_at LIMIT $2"
        ),
        [now.into(), (limit as i64).into()],
    ))
    .all(tx.conn())
    .await?)
}

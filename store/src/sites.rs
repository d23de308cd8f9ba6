//! Which tenant serves a site: by its platform name (`<slug>.<base-domain>`) or by a
//! custom domain it has proved, and which tenants have a meeting about to start.
//! Platform-scope reads, for the front door.

use super::{StoreError, Transaction, sql};
use chrono::{DateTime, Utc};
use sea_orm::FromQueryResult;
use uuid::Uuid;

/// The tenant behind a site.
#[derive(Debug, Clone, FromQueryResult, PartialEq, Eq)]
pub struct SiteTenant {
    /// The tenant's id.
    pub tenant_id: Uuid,
    /// Its slug.
    pub slug: String,
}

/// The tenant whose slug is `slug`.
pub async fn by_slug(tx: &Transaction, slug: &str) -> Result<Option<SiteTenant>, StoreError> {
    Ok(SiteTenant::find_by_statement(sql("SELECT id AS tenant_id, slug FROM tenants WHERE slug = $1", [slug.into()]))
        .one(tx.conn())
        .await?)
}

/// The tenant that holds the custom domain `hostname`, once its DNS record proved it
/// (verified, being issued a certificate, or active): a name nobody proved is served
/// by nobody.
pub async fn by_custom_domain(tx: &Transaction, hostname: &str) -> Result<Option<SiteTenant>, StoreError> {
    Ok(SiteTenant::find_by_statement(sql(
        "SELECT t.id AS tenant_id, t.slug FROM domains d JOIN tenants t ON t.id = d.tenant_id \
         WHERE d.hostname = $1 AND d.status IN ('verified', 'issuing', 'active')",
        [hostname.into()],
    ))
    .one(tx.conn())
    .await?)
}

/// Tenants with a scheduled meeting on at some moment of `[from, to)`.
pub async fn with_meetings_between(
    tx: &Transaction,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<SiteTenant>, StoreError> {
    Ok(SiteTenant::find_by_statement(sql(
        "SELECT DISTINCT t.id AS tenant_id, t.slug FROM meetings m JOIN tenants t ON t.id = m.tenant_id \
         WHERE m.status = 'scheduled' AND m.starts_at < $2 AND m.ends_at > $1 ORDER BY t.slug",
        [from.into(), to.into()],
    ))
    .all(tx.conn())
    .await?)
}

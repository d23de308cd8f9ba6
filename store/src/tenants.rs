//! The `tenants` read model: a tenant and its settings.

use super::{StoreError, Transaction, sql};
use crate::domain::{AuthMode, TenantSettings};
use chrono::{DateTime, Utc};
use sea_orm::{FromQueryResult, JsonValue};
use uuid::Uuid;

/// One row of `tenants`.
#[derive(Debug, Clone, FromQueryResult, PartialEq, serde::Deserialize)]
pub struct TenantRow {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub admin_email: String,
    pub auth: String,
    pub guests_allowed: bool,
    pub max_participants: i32,
    pub lobby: bool,
    pub ldap: Option<JsonValue>,
    pub oidc: Option<JsonValue>,
    /// The sites that may embed the tenant's pages (a JSON list of origins).
    pub embed_origins: JsonValue,
    /// The plan's memory for its node, MiB (`None`: the front door's default).
    pub node_memory_mb: Option<i32>,
    /// The plan's CPU for its node, percent of one core (`None`: the default).
    pub node_cpu_percent: Option<i32>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TenantRow {
    /// The settings this row holds (secrets still sealed).
    pub fn settings(&self) -> Result<TenantSettings, StoreError> {
        Ok(TenantSettings {
            auth: AuthMode::from_stored(&self.auth)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown auth mode {:?}", self.auth)))?,
            guests_allowed: self.guests_allowed,
            max_participants: u32::try_from(self.max_participants).unwrap_or(0),
            lobby: self.lobby,
            ldap: self.ldap.clone().map(serde_json::from_value).transpose()?,
            oidc: self.oidc.clone().map(serde_json::from_value).transpose()?,
            embed_origins: serde_json::from_value(self.embed_origins.clone())?,
        })
    }
}

const COLUMNS: &str = "id, slug, name, admin_email, auth, guests_allowed, max_participants, lobby, ldap, oidc, embed_origins, \
                       node_memory_mb, node_cpu_percent, version, created_at, updated_at";

/// The tenant `id`.
pub async fn find(tx: &Transaction, id: Uuid) -> Result<Option<TenantRow>, StoreError> {
    Ok(TenantRow::find_by_statement(sql(&format!("SELECT {COLUMNS} FROM tenants WHERE id = $1"), [id.into()]))
        .one(tx.conn())
        .await?)
}

/// The tenant whose slug is `slug` (platform scope).
pub async fn find_by_slug(tx: &Transaction, slug: &str) -> Result<Option<TenantRow>, StoreError> {
    Ok(TenantRow::find_by_statement(sql(&format!("SELECT {COLUMNS} FROM tenants WHERE slug = $1"), [slug.into()]))
        .one(tx.conn())
        .await?)
}

//! The `node_credentials` read model: what each running media node of a tenant
//! holds to call the api (only its SHA-256 is kept).

use super::{StoreError, Transaction, sql};
use sea_orm::FromQueryResult;
use uuid::Uuid;

/// The node a credential belongs to, found by the credential's SHA-256.
#[derive(Debug, Clone, Copy, FromQueryResult)]
pub struct NodeHolder {
    /// The node's id.
    pub node_id: Uuid,
    /// The tenant it serves.
    pub tenant_id: Uuid,
}

/// Which node an unrevoked credential with this hash belongs to (platform scope).
pub async fn holder_of(tx: &Transaction, key_hash: &[u8]) -> Result<Option<NodeHolder>, StoreError> {
    Ok(NodeHolder::find_by_statement(sql(
        "SELECT node_id, tenant_id FROM node_credentials WHERE key_hash = $1 AND revoked_at IS NULL",
        [key_hash.to_vec().into()],
    ))
    .one(tx.conn())
    .await?)
}

/// The tenant's nodes whose credentials still work (platform or tenant scope).
pub async fn active(tx: &Transaction, tenant: Uuid) -> Result<Vec<NodeHolder>, StoreError> {
    Ok(NodeHolder::find_by_statement(sql(
        "SELECT node_id, tenant_id FROM node_credentials WHERE tenant_id = $1 AND revoked_at IS NULL ORDER BY node_id",
        [tenant.into()],
    ))
    .all(tx.conn())
    .await?)
}

/// Whether the node's credential was issued and is not revoked yet.
pub async fn is_active(tx: &Transaction, node: Uuid) -> Result<Option<(Uuid, bool)>, StoreError> {
    #[derive(FromQueryResult)]
    struct Row {
        tenant_id: Uuid,
        active: bool,
    }
    let row = Row::find_by_statement(sql(
        "SELECT tenant_id, revoked_at IS NULL AS active FROM node_credentials WHERE node_id = $1",
        [node.into()],
    ))
    .one(tx.conn())
    .await?;
    Ok(row.map(|r| (r.tenant_id, r.active)))
}

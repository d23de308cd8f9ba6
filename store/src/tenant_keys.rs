//! Where tenants' wrapped data keys live (outside the log, so they can be destroyed).

use super::{StoreError, Transaction, sql};
use crate::secrets::{DataKey, MasterKey};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

/// Access to the tenants' data keys through the master key.
#[derive(Clone, Debug)]
pub struct TenantKeys {
    master: MasterKey,
}

impl TenantKeys {
    /// Keys wrapped by `master`.
    pub fn new(master: MasterKey) -> Self {
        Self { master }
    }

    /// Creates and stores the data key of a new tenant.
    pub async fn create(&self, tx: &Transaction, tenant: Uuid) -> Result<DataKey, StoreError> {
        let (key, wrapped) = self.master.new_data_key(tenant);
        tx.conn()
            .execute_raw(sql(
                "INSERT INTO tenant_keys (tenant_id, wrapped_key) VALUES ($1, $2)",
                [tenant.into(), wrapped.into()],
            ))
            .await?;
        Ok(key)
    }

    /// Destroys the data key of `tenant` (crypto-shredding): whatever it sealed in the
    /// immutable log — secrets, certificate keys — can never be opened again, and the
    /// token keys derived from it are gone too. Returns whether there was one.
    pub async fn destroy(&self, tx: &Transaction, tenant: Uuid) -> Result<bool, StoreError> {
        let done = tx.conn().execute_raw(sql("DELETE FROM tenant_keys WHERE tenant_id = $1", [tenant.into()])).await?;
        tx.conn().execute_raw(sql("DELETE FROM idempotency_keys WHERE tenant_id = $1", [tenant.into()])).await?;
        tx.conn().execute_raw(sql("DELETE FROM signup_replays WHERE tenant_id = $1", [tenant.into()])).await?;
        Ok(done.rows_affected() > 0)
    }

    /// The data key of `tenant`.
    pub async fn load(&self, tx: &Transaction, tenant: Uuid) -> Result<DataKey, StoreError> {
        let row = tx
            .conn()
            .query_one_raw(sql("SELECT wrapped_key FROM tenant_keys WHERE tenant_id = $1", [tenant.into()]))
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("tenant {tenant} has no data key")))?;
        let wrapped: Vec<u8> = row.try_get("", "wrapped_key")?;
        self.master.unwrap_data_key(tenant, &wrapped).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

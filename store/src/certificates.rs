//! The `certificates` read model: the certificate each active custom domain is
//! served with, its private key still sealed with the tenant's data key.

use super::{StoreError, Transaction, sql};
use crate::domain::SealedSecret;
use chrono::{DateTime, Utc};
use sea_orm::FromQueryResult;
use uuid::Uuid;

/// One row of `certificates`.
#[derive(Clone, FromQueryResult)]
pub struct CertificateRow {
    pub domain_id: Uuid,
    pub tenant_id: Uuid,
    pub hostname: String,
    pub serial: String,
    pub issuer: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub chain_pem: String,
    /// The sealed private key (`SealedSecret`'s text).
    pub private_key: String,
    pub issued_at: DateTime<Utc>,
}

impl CertificateRow {
    /// The private key as sealed, to open with the tenant's data key.
    pub fn sealed_key(&self) -> SealedSecret {
        SealedSecret(self.private_key.clone())
    }
}

impl std::fmt::Debug for CertificateRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateRow")
            .field("hostname", &self.hostname)
            .field("serial", &self.serial)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Every certificate of the tenant, by hostname.
pub async fn of_tenant(tx: &Transaction, tenant: Uuid) -> Result<Vec<CertificateRow>, StoreError> {
    Ok(CertificateRow::find_by_statement(sql(
        "SELECT domain_id, tenant_id, hostname, serial, issuer, not_before, not_after, chain_pem, private_key, issued_at \
         FROM certificates WHERE tenant_id = $1 ORDER BY hostname",
        [tenant.into()],
    ))
    .all(tx.conn())
    .await?)
}

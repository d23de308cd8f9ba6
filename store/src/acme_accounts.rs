//! The platform's ACME accounts, one per CA directory: registered once and kept,
//! as the CA expects (rate limits and revocation are per account). Their
//! credentials are kept sealed with a key derived from the operator's master key.
//! Platform scope only.

use super::{StoreError, Transaction, sql};
use sea_orm::ConnectionTrait;

/// The sealed credentials of the account at `directory_url`, if one is registered.
pub async fn find(tx: &Transaction, directory_url: &str) -> Result<Option<String>, StoreError> {
    let row = tx
        .conn()
        .query_one_raw(sql("SELECT credentials FROM acme_accounts WHERE directory_url = $1", [directory_url.into()]))
        .await?;
    Ok(row.map(|r| r.try_get::<String>("", "credentials")).transpose()?)
}

/// Keeps the account registered at `directory_url` unless one is kept already (a
/// worker that registered at the same time); returns the credentials now kept.
pub async fn keep(tx: &Transaction, directory_url: &str, sealed: &str) -> Result<String, StoreError> {
    tx.conn()
        .execute_raw(sql(
            "INSERT INTO acme_accounts (directory_url, credentials) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [directory_url.into(), sealed.into()],
        ))
        .await?;
    Ok(find(tx, directory_url).await?.unwrap_or_else(|| sealed.to_owned()))
}

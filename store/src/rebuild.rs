//! Rebuilding every read model from the log (`confer-api rebuild-projections`).

use super::{EventStore, Scope, StoreError, sql};
use sea_orm::ConnectionTrait;

/// Read models, in an order that deletes cleanly.
const READ_MODELS: &[&str] =
    &["node_credentials", "certificates", "domains", "meetings", "users", "api_keys", "tenants"];

/// Empties the read models and replays every event into them through the same
/// projection appends use (`confer_project`), in one transaction: readers see the
/// old rows until the new ones are complete. Returns the number of events replayed.
pub async fn rebuild_projections(store: &EventStore) -> Result<u64, StoreError> {
    let tx = store.begin(Scope::Platform).await?;
    for table in READ_MODELS {
        tx.conn().execute_unprepared(&format!("DELETE FROM {table}")).await?;
    }
    let row = tx.conn().query_one_raw(sql("SELECT confer_rebuild() AS replayed", [])).await?;
    let replayed = row.map(|r| r.try_get::<i64>("", "replayed")).transpose()?.unwrap_or(0);
    tx.commit().await?;
    Ok(u64::try_from(replayed).unwrap_or(0))
}

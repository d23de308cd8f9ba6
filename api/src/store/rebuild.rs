//! Rebuilding every read model from the log (`confer-api rebuild-projections`).

use super::event_store::decode_event;
use super::{EventStore, Scope, StoreError, projections, sql};
use sea_orm::ConnectionTrait;

/// Read models, in an order that deletes cleanly.
const READ_MODELS: &[&str] = &["meetings", "users", "api_keys", "tenants"];

/// Empties the read models and replays every event into them, in one transaction:
/// readers see the old rows until the new ones are complete. Returns the number of
/// events replayed.
pub async fn rebuild_projections(store: &EventStore) -> Result<u64, StoreError> {
    let tx = store.begin(Scope::Platform).await?;
    for table in READ_MODELS {
        tx.conn().execute_unprepared(&format!("DELETE FROM {table}")).await?;
    }
    let mut after = 0_i64;
    let mut replayed = 0_u64;
    loop {
        let rows = tx
            .conn()
            .query_all_raw(sql(
                "SELECT position, stream_id, stream_version, tenant_id, event_type, payload, metadata, recorded_at
                 FROM events WHERE position > $1 ORDER BY position LIMIT 1000",
                [after.into()],
            ))
            .await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let recorded = decode_event(row)?;
            projections::project(tx.conn(), &recorded).await?;
            after = recorded.position;
            replayed += 1;
        }
    }
    tx.commit().await?;
    Ok(replayed)
}

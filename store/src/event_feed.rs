//! The tenant's event feed, read in log order.
//!
//! Positions come from a sequence, so a transaction could commit position 11 after
//! a reader has seen 12. A read therefore first passes the tenant's feed barrier
//! (`confer_feed_barrier`, migration m0002): it waits for the tenant's in-flight
//! appends to commit (milliseconds), then reads. A reader paging with `after`
//! never skips an event, and other tenants' or databases' transactions never
//! delay it.

use super::event_store::decode_event;
use super::{RecordedEvent, StoreError, Transaction, sql};
use crate::domain::StreamId;
use uuid::Uuid;

/// Up to `limit` of the tenant's events after `after`, in order.
pub async fn after(tx: &Transaction, tenant: Uuid, after: i64, limit: u64) -> Result<Vec<RecordedEvent>, StoreError> {
    use sea_orm::ConnectionTrait;
    tx.conn().execute_raw(sql("SELECT confer_feed_barrier($1)", [tenant.into()])).await?;
    let rows = tx
        .conn()
        .query_all_raw(sql(
            "SELECT position, stream_id, stream_version, tenant_id, event_type, payload, metadata, recorded_at
             FROM events
             WHERE tenant_id = $1 AND position > $2
             ORDER BY position LIMIT $3",
            [tenant.into(), after.into(), (limit as i64).into()],
        ))
        .await?;
    rows.iter().map(decode_event).collect()
}

/// Every event of one of the tenant's streams.
pub async fn stream(tx: &Transaction, tenant: Uuid, stream: &StreamId) -> Result<Vec<RecordedEvent>, StoreError> {
    let events = tx.read_stream(stream).await?;
    Ok(events.into_iter().filter(|e| e.tenant_id == tenant).collect())
}

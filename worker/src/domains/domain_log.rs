//! How the worker writes a domain's events: appended to the domain's stream at the
//! version it last read, under the domain's tenant, signed `worker` with the job
//! that caused them. A version that moved meanwhile means someone else acted on
//! the domain first: the caller reads it again rather than overwrite.

use crate::jobs::{Job, JobFailure};
use confer_store::domain::{DomainEvent, EventMetadata, StreamId};
use confer_store::{EventStore, ExpectedVersion, Scope, StoreError, domains};
use uuid::Uuid;

/// A domain's stream, for one job.
pub struct DomainLog<'a> {
    store: &'a EventStore,
    tenant: Uuid,
    domain: Uuid,
    job: Uuid,
}

/// What appending found.
#[derive(Debug)]
pub enum Recorded {
    /// The events are in the log.
    Done,
    /// The domain changed since it was read (or is gone): nothing was written.
    Moved,
}

impl<'a> DomainLog<'a> {
    /// The stream of `domain` (of `tenant`), written for `job`.
    pub fn new(store: &'a EventStore, tenant: Uuid, domain: Uuid, job: &Job) -> Self {
        Self { store, tenant, domain, job: job.id }
    }

    /// The domain as the read model has it now; `None` once it is removed.
    pub async fn read(&self) -> Result<Option<domains::DomainRow>, JobFailure> {
        let tx = self.store.begin(Scope::Tenant(self.tenant)).await.map_err(unavailable)?;
        let row = domains::find(&tx, self.tenant, self.domain).await.map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(row)
    }

    /// Appends `event` if the domain is still at `version`.
    pub async fn record(&self, version: i64, event: DomainEvent) -> Result<Recorded, JobFailure> {
        let metadata = EventMetadata {
            actor: "worker".to_owned(),
            correlation_id: Some(self.job.to_string()),
            idempotency_key: None,
        };
        match self
            .store
            .append(self.tenant, &StreamId::domain(self.domain), ExpectedVersion::Exactly(version), &[event], &metadata)
            .await
        {
            Ok(_) => Ok(Recorded::Done),
            Err(StoreError::Conflict { .. }) => Ok(Recorded::Moved),
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// The database failing is worth another try later.
pub fn unavailable(e: StoreError) -> JobFailure {
    JobFailure::Retry(format!("the database: {e}"))
}

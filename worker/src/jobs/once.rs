//! Jobs that take effect once: a handler wrapped in [`Once`] looks its job's id up in
//! `processed_jobs` first and skips a job already done (or failed for good), and
//! records the outcome when the job is over. A job delivered twice, by a relay or a
//! consumer that crashed between its publish and its bookkeeping, runs once.
//!
//! Two copies delivered at the very same moment may both run; the handlers' own
//! writes are appends with an expected version, so the second one's effect is
//! refused there.

use super::{Job, JobFailure, JobHandler};
use confer_store::{EventStore, Scope, StoreError};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// `inner`, run at most once per job id.
pub struct Once<H> {
    inner: H,
    store: EventStore,
}

impl<H> Once<H> {
    /// Records outcomes in `store`'s `processed_jobs`.
    pub fn new(inner: H, store: EventStore) -> Self {
        Self { inner, store }
    }

    async fn outcome_of(&self, job: &Job) -> Result<Option<String>, StoreError> {
        let tx = self.store.begin(Scope::Platform).await?;
        let row = tx
            .conn()
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT outcome FROM processed_jobs WHERE job_id = $1",
                [job.id.into()],
            ))
            .await?;
        tx.commit().await?;
        Ok(row.map(|r| r.try_get::<String>("", "outcome")).transpose()?)
    }

    async fn record(&self, job: &Job, outcome: &str, detail: Option<&str>) -> Result<(), StoreError> {
        let tx = self.store.begin(Scope::Platform).await?;
        tx.conn()
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO processed_jobs (job_id, kind, outcome, detail) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (job_id) DO NOTHING",
                [job.id.into(), job.kind.as_str().into(), outcome.into(), detail.map(str::to_owned).into()],
            ))
            .await?;
        tx.commit().await
    }
}

fn unrecorded(e: StoreError) -> JobFailure {
    JobFailure::Retry(format!("the job's bookkeeping failed: {e}"))
}

impl<H: JobHandler> JobHandler for Once<H> {
    async fn handle(&self, job: &Job) -> Result<(), JobFailure> {
        if let Some(outcome) = self.outcome_of(job).await.map_err(unrecorded)? {
            tracing::info!(job = %job.id, kind = %job.kind.as_str(), %outcome, "a job already over arrived again; skipped");
            return Ok(());
        }
        let result = self.inner.handle(job).await;
        match &result {
            Ok(()) => self.record(job, "done", None).await.map_err(unrecorded)?,
            Err(JobFailure::Fatal(why)) => self.record(job, "failed", Some(why)).await.map_err(unrecorded)?,
            Err(JobFailure::Retry(_)) => {}
        }
        result
    }

    async fn parked(&self, job: &Job, error: &str) {
        self.inner.parked(job, error).await;
    }
}

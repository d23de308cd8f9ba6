//! `NoopHandler`: the built-in job kind `noop`, which does nothing. It lets the
//! worker run for real before the domain jobs exist, and measures the runtime's
//! own cost (jobs per second through the worker) in benchmarks.

use super::{Job, JobFailure, JobHandler};

/// Succeeds at once, whatever the job.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopHandler;

impl NoopHandler {
    /// The kind this handler serves.
    pub const KIND: &str = "noop";
}

impl JobHandler for NoopHandler {
    async fn handle(&self, job: &Job) -> Result<(), JobFailure> {
        tracing::debug!(job_id = %job.id, "noop");
        Ok(())
    }
}

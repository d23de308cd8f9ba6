//! The `check_domain` job: is the DNS record that proves a new custom domain there
//! yet? Found → `DomainVerified` (whose projection asks for the certificate). Not
//! yet → `DomainStepDeferred` with the time of the next check, and the job goes
//! down the retry ladder (DNS changes take minutes to hours). When the ladder runs
//! out the job is parked and the domain `failed`, with what was looked for.

use super::dns_proof::{DnsLookup, ExpectedRecords, find_proof};
use super::domain_log::{DomainLog, Recorded};
use super::job_payload::{DomainJob, tenant_of};
use crate::jobs::{Job, JobFailure, JobHandler, RetryPolicy};
use chrono::Utc;
use confer_store::EventStore;
use confer_store::domain::{DomainEvent, DomainStage, Hostname};

/// The job's kind.
pub const KIND: &str = "check_domain";

/// Runs `check_domain` jobs.
pub struct DomainCheck<D> {
    store: EventStore,
    dns: D,
    retry: RetryPolicy,
}

impl<D: DnsLookup> DomainCheck<D> {
    /// Checks through `dns`; `retry` is the ladder the `check_domain` queue runs
    /// (to tell the tenant when the next check is).
    pub fn new(store: EventStore, dns: D, retry: RetryPolicy) -> Self {
        Self { store, dns, retry }
    }
}

impl<D: DnsLookup> JobHandler for DomainCheck<D> {
    async fn handle(&self, job: &Job) -> Result<(), JobFailure> {
        let request = DomainJob::of(job)?;
        let log = DomainLog::new(&self.store, tenant_of(job)?, request.domain_id, job);
        let Some(row) = log.read().await? else {
            tracing::info!(domain = %request.domain_id, "the domain was removed; nothing to check");
            return Ok(());
        };
        if row.status != "pending_dns" {
            tracing::info!(domain = %row.hostname, status = %row.status, "the domain is past its DNS check");
            return Ok(());
        }
        let hostname = Hostname::parse("hostname", &row.hostname)
            .map_err(|e| JobFailure::Fatal(format!("the stored hostname does not parse: {}", e.message)))?;
        let expected = ExpectedRecords {
            hostname: &row.hostname,
            cname_target: &row.cname_target,
            txt_name: &row.txt_name,
            txt_value: &row.txt_value,
        };
        let reason = match find_proof(&self.dns, &expected).await {
            Ok(Some(method)) => {
                let event =
                    DomainEvent::DomainVerified { domain_id: row.id, hostname, method: method.as_str().to_owned() };
                return match log.record(row.version, event).await? {
                    Recorded::Done => {
                        tracing::info!(domain = %row.hostname, method = method.as_str(), "domain verified");
                        Ok(())
                    }
                    Recorded::Moved => Err(JobFailure::Retry("the domain changed during its check".to_owned())),
                };
            }
            Ok(None) => format!(
                "no DNS record proves {} yet: create a CNAME to {} (or a TXT record {} with the token)",
                row.hostname, row.cname_target, row.txt_name
            ),
            Err(e) => e.to_string(),
        };
        if let Some(retry) = self.retry.next_retry(job.attempt) {
            let delay = chrono::Duration::from_std(self.retry.delay_before(retry)).unwrap_or(chrono::Duration::MAX);
            let event = DomainEvent::DomainStepDeferred {
                domain_id: row.id,
                stage: DomainStage::Dns,
                reason: reason.clone(),
                next_retry_at: Utc::now() + delay,
            };
            log.record(row.version, event).await?;
        }
        Err(JobFailure::Retry(reason))
    }

    async fn parked(&self, job: &Job, error: &str) {
        super::give_up(&self.store, job, DomainStage::Dns, &["pending_dns"], error).await;
    }
}

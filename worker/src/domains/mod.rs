//! Custom domains, from "added" to "served with a certificate" and renewed:
//!
//! - [`DomainCheck`] (`check_domain`): looks for the DNS record that proves the
//!   domain ([`dns_proof`]), rechecking with backoff.
//! - [`CertificateOrders`] (`order_certificate`): orders a certificate over ACME,
//!   answers HTTP-01 through the media nodes, seals its key with the tenant's data
//!   key and records it; also renewals.
//! - [`renewal_scan`]: asks for a renewal of every certificate two thirds into
//!   its lifetime.
//!
//! Every step is an event on the domain's stream, appended at the version the
//! step read: a copy of a job, or two workers at once, cannot record twice.

mod certificate_orders;
pub mod dns_proof;
mod domain_check;
mod domain_log;
mod job_payload;
pub mod renewal_scan;

pub use certificate_orders::{CertificateOrders, KIND as ORDER_CERTIFICATE};
pub use dns_proof::{DnsLookup, HickoryDns};
pub use domain_check::{DomainCheck, KIND as CHECK_DOMAIN};

use crate::jobs::Job;
use confer_store::EventStore;
use confer_store::domain::{DomainEvent, DomainStage};
use domain_log::{DomainLog, Recorded};
use job_payload::{DomainJob, tenant_of};

/// Records that a parked job's step failed for good, if the domain is still at that
/// step (`statuses`; a renewal: still being renewed). Errors are logged: parking
/// must go on.
async fn give_up(store: &EventStore, job: &Job, stage: DomainStage, statuses: &[&str], error: &str) {
    let (Ok(request), Ok(tenant)) = (DomainJob::of(job), tenant_of(job)) else {
        return;
    };
    let log = DomainLog::new(store, tenant, request.domain_id, job);
    let row = match log.read().await {
        Ok(Some(row)) => row,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(domain = %request.domain_id, error = %e, "cannot record that the domain failed");
            return;
        }
    };
    let still_at_step = match stage {
        DomainStage::Renewal => row.renewal_requested_at.is_some(),
        DomainStage::Dns | DomainStage::Certificate => statuses.contains(&row.status.as_str()),
    };
    if !still_at_step {
        return;
    }
    let event = DomainEvent::DomainFailed { domain_id: row.id, stage, reason: error.to_owned() };
    match log.record(row.version, event).await {
        Ok(Recorded::Done) => tracing::warn!(domain = %row.hostname, stage = stage.as_str(), error, "domain failed"),
        Ok(Recorded::Moved) => tracing::info!(domain = %row.hostname, "the domain moved on before it could fail"),
        Err(e) => tracing::error!(domain = %row.hostname, error = %e, "cannot record that the domain failed"),
    }
}

//! What a domain job carries: the domain, and for certificate orders whether it is
//! a renewal and of which certificate. Written by the projection (migration m0006).

use crate::jobs::{Job, JobFailure};
use serde::Deserialize;
use uuid::Uuid;

/// The payload of `check_domain` and `order_certificate` jobs.
#[derive(Debug, Clone, Deserialize)]
pub struct DomainJob {
    pub domain_id: Uuid,
    /// `order_certificate`: a new certificate while one is served.
    #[serde(default)]
    pub renewal: bool,
    /// `order_certificate` renewals: the serial the new certificate replaces.
    #[serde(default)]
    pub replaces_serial: Option<String>,
}

impl DomainJob {
    /// Reads `job`'s payload; one that does not read never will (parked at once).
    pub fn of(job: &Job) -> Result<Self, JobFailure> {
        serde_json::from_value(job.payload.clone())
            .map_err(|e| JobFailure::Fatal(format!("not a domain job's payload: {e}")))
    }
}

/// The tenant a domain job is for; a domain job without one is malformed.
pub fn tenant_of(job: &Job) -> Result<Uuid, JobFailure> {
    job.tenant_id.ok_or_else(|| JobFailure::Fatal("a domain job without a tenant".to_owned()))
}

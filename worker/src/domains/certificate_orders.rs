//! The `order_certificate` job: a certificate for a verified domain, or the next
//! one for an active domain (a renewal), from the configured ACME CA.
//!
//! 1. The domain is read: a copy of a job whose certificate is already recorded
//!    (a worker killed after issuing, a relay that published twice) stops here.
//! 2. The order is placed; as soon as the CA has made it, `CertificateOrdered`
//!    records its URL (the domain shows `issuing`; a renewal stays `active`).
//! 3. HTTP-01 answers go to Redis, where every media node of the platform answers
//!    `/.well-known/acme-challenge/<token>` from.
//! 4. The certificate's key is sealed with the tenant's data key, and
//!    `CertificateIssued` (or `CertificateRenewed`) is appended at the version read,
//!    so two workers finishing the same order record one certificate.
//! 5. The tenant's media nodes are told on Redis to load it.
//!
//! A failure is recorded as `DomainStepDeferred` with the next try's time and the
//! job retries down its ladder; once parked the domain is `failed` (a renewal
//! keeps serving its current certificate and is asked again later).

use super::domain_log::{DomainLog, Recorded, unavailable};
use super::job_payload::{DomainJob, tenant_of};
use crate::certificates::{AcmeClient, ChallengeBoard, IssuedCertificate};
use crate::jobs::{Job, JobFailure, JobHandler, RetryPolicy};
use chrono::Utc;
use confer_store::domain::{CertificateRecord, DomainEvent, DomainStage, Hostname, renewal_time};
use confer_store::secrets::DataKey;
use confer_store::{EventStore, Scope, TenantKeys, acme_accounts, domains, tenants};
use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

/// The job's kind.
pub const KIND: &str = "order_certificate";

/// Runs `order_certificate` jobs.
pub struct CertificateOrders<B> {
    store: EventStore,
    tenant_keys: TenantKeys,
    /// Seals the platform's ACME account credentials.
    account_key: DataKey,
    acme: AcmeClient,
    account: OnceCell<instant_acme::Account>,
    board: B,
    redis: ConnectionManager,
    retry: RetryPolicy,
}

impl<B: ChallengeBoard + 'static> CertificateOrders<B> {
    /// Orders from `acme`, posts answers on `board`, announces on `redis`; `retry`
    /// is the ladder of the `order_certificate` queue.
    pub fn new(
        store: EventStore,
        master: confer_store::secrets::MasterKey,
        acme: AcmeClient,
        board: B,
        redis: ConnectionManager,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            store,
            account_key: master.platform_key("acme-account"),
            tenant_keys: TenantKeys::new(master),
            acme,
            account: OnceCell::new(),
            board,
            redis,
            retry,
        }
    }

    /// The platform's account with the CA: the kept one, or a new one kept now.
    async fn account(&self) -> Result<&instant_acme::Account, JobFailure> {
        self.account
            .get_or_try_init(|| async {
                let directory = &self.acme.settings().directory_url;
                let tx = self.store.begin(Scope::Platform).await.map_err(unavailable)?;
                let kept = acme_accounts::find(&tx, directory).await.map_err(unavailable)?;
                tx.commit().await.map_err(unavailable)?;
                let saved = match kept {
                    Some(sealed) => Some(
                        self.account_key
                            .open(&confer_store::domain::SealedSecret(sealed))
                            .map_err(|e| JobFailure::Fatal(format!("the kept ACME account does not open: {e}")))?,
                    ),
                    None => None,
                };
                let (account, fresh) =
                    self.acme.account(saved.as_deref()).await.map_err(|e| JobFailure::Retry(e.to_string()))?;
                if let Some(credentials) = fresh {
                    let sealed = self.account_key.seal(&credentials);
                    let tx = self.store.begin(Scope::Platform).await.map_err(unavailable)?;
                    acme_accounts::keep(&tx, directory, &sealed.0).await.map_err(unavailable)?;
                    tx.commit().await.map_err(unavailable)?;
                    tracing::info!(directory = %directory, "ACME account registered and kept");
                }
                Ok(account)
            })
            .await
    }

    /// Places the order and records `CertificateOrdered` as soon as the CA has made it.
    async fn order(
        &self,
        log: &DomainLog<'_>,
        row: &domains::DomainRow,
        hostname: &Hostname,
        renewal: bool,
    ) -> Result<IssuedCertificate, JobFailure> {
        let account = self.account().await?;
        let (created_tx, created_rx) = tokio::sync::oneshot::channel::<String>();
        let ordering = self.acme.order_reporting(account, &row.hostname, &self.board, move |url| {
            let _ = created_tx.send(url.to_owned());
        });
        let recording = async {
            if let Ok(order_url) = created_rx.await {
                let event = DomainEvent::CertificateOrdered {
                    domain_id: row.id,
                    hostname: hostname.clone(),
                    order_url: order_url.clone(),
                    renewal,
                };
                match log.record(row.version, event).await {
                    Ok(_) => tracing::info!(domain = %row.hostname, %order_url, renewal, "certificate ordered"),
                    Err(e) => tracing::warn!(domain = %row.hostname, error = %e, "cannot record the order"),
                }
            }
        };
        let (issued, ()) = tokio::join!(ordering, recording);
        issued.map_err(|e| JobFailure::Retry(e.to_string()))
    }

    /// The certificate as the log keeps it: its key sealed with the tenant's data key.
    async fn sealed(
        &self,
        tenant: uuid::Uuid,
        issued: &IssuedCertificate,
    ) -> Result<(CertificateRecord, String), JobFailure> {
        let tx = self.store.begin(Scope::Tenant(tenant)).await.map_err(unavailable)?;
        let key = self.tenant_keys.load(&tx, tenant).await.map_err(unavailable)?;
        let slug = tenants::find(&tx, tenant).await.map_err(unavailable)?.map(|t| t.slug).unwrap_or_default();
        tx.commit().await.map_err(unavailable)?;
        let record = CertificateRecord {
            serial: issued.serial().to_owned(),
            issuer: issued.issuer().to_owned(),
            not_before: issued.not_before(),
            not_after: issued.not_after(),
            renew_at: renewal_time(issued.not_before(), issued.not_after()),
            chain_pem: issued.chain_pem().to_owned(),
            private_key: key.seal(issued.private_key_pem()),
        };
        Ok((record, slug))
    }

    /// Tells the tenant's media nodes to load its certificates again.
    async fn announce(&self, slug: &str, serial: &str) {
        let mut redis = self.redis.clone();
        let channel = confer_vocabulary::certificates_channel(slug);
        let published: Result<i64, _> = redis::cmd("PUBLISH").arg(&channel).arg(serial).query_async(&mut redis).await;
        match published {
            Ok(nodes) => tracing::info!(%channel, nodes, "new certificate announced"),
            Err(e) => {
                tracing::warn!(%channel, error = %e, "cannot announce the certificate; nodes load it at their next poll")
            }
        }
    }

    /// Records a failure for the tenant to see, with when the next try is.
    async fn defer(&self, log: &DomainLog<'_>, job: &Job, stage: DomainStage, reason: &str) -> Result<(), JobFailure> {
        let (Some(retry), Some(row)) = (self.retry.next_retry(job.attempt), log.read().await?) else {
            return Ok(());
        };
        let delay = chrono::Duration::from_std(self.retry.delay_before(retry)).unwrap_or(chrono::Duration::MAX);
        let event = DomainEvent::DomainStepDeferred {
            domain_id: row.id,
            stage,
            reason: reason.to_owned(),
            next_retry_at: Utc::now() + delay,
        };
        log.record(row.version, event).await.map(|_| ())
    }
}

/// Whether the certificate this job asks for is already recorded (or no longer wanted).
fn already_done(row: &domains::DomainRow, request: &DomainJob) -> Option<&'static str> {
    if request.renewal {
        if row.renewal_requested_at.is_none() || row.certificate_serial.as_deref() != request.replaces_serial.as_deref()
        {
            return Some("the certificate was renewed already");
        }
    } else if !matches!(row.status.as_str(), "verified" | "issuing") {
        return Some("the domain is not waiting for a certificate");
    }
    None
}

impl<B: ChallengeBoard + 'static> JobHandler for CertificateOrders<B> {
    async fn handle(&self, job: &Job) -> Result<(), JobFailure> {
        let request = DomainJob::of(job)?;
        let tenant = tenant_of(job)?;
        let stage = if request.renewal { DomainStage::Renewal } else { DomainStage::Certificate };
        let log = DomainLog::new(&self.store, tenant, request.domain_id, job);
        let Some(row) = log.read().await? else {
            tracing::info!(domain = %request.domain_id, "the domain was removed; no certificate ordered");
            return Ok(());
        };
        if let Some(why) = already_done(&row, &request) {
            tracing::info!(domain = %row.hostname, status = %row.status, why, "no order placed");
            return Ok(());
        }
        let hostname = Hostname::parse("hostname", &row.hostname)
            .map_err(|e| JobFailure::Fatal(format!("the stored hostname does not parse: {}", e.message)))?;
        let issued = match self.order(&log, &row, &hostname, request.renewal).await {
            Ok(issued) => issued,
            Err(JobFailure::Retry(reason)) => {
                self.defer(&log, job, stage, &reason).await?;
                return Err(JobFailure::Retry(reason));
            }
            Err(fatal) => return Err(fatal),
        };
        let (certificate, slug) = self.sealed(tenant, &issued).await?;
        let serial = certificate.serial.clone();
        // Read again: the order's own event moved the version.
        let Some(now) = log.read().await? else {
            tracing::info!(domain = %row.hostname, "the domain was removed during its order");
            return Ok(());
        };
        if let Some(why) = already_done(&now, &request) {
            tracing::info!(domain = %row.hostname, why, "another run recorded a certificate first");
            return Ok(());
        }
        let event = if request.renewal {
            DomainEvent::CertificateRenewed { domain_id: row.id, hostname, certificate }
        } else {
            DomainEvent::CertificateIssued { domain_id: row.id, hostname, certificate }
        };
        match log.record(now.version, event).await? {
            Recorded::Done => {
                tracing::info!(domain = %row.hostname, %serial, issuer = %issued.issuer(), not_after = %issued.not_after(),
                    renewal = request.renewal, "certificate recorded");
                self.announce(&slug, &serial).await;
                Ok(())
            }
            Recorded::Moved => {
                Err(JobFailure::Retry("the domain changed while its certificate was ordered".to_owned()))
            }
        }
    }

    async fn parked(&self, job: &Job, error: &str) {
        let stage = match DomainJob::of(job) {
            Ok(request) if request.renewal => DomainStage::Renewal,
            _ => DomainStage::Certificate,
        };
        super::give_up(&self.store, job, stage, &["verified", "issuing"], error).await;
    }
}

//! Renewals come due: every scan, each active domain whose certificate is two
//! thirds into its lifetime (`renew_at`, set when it was issued) and not already
//! being renewed gets `CertificateRenewalRequested`; its projection puts an
//! `order_certificate` renewal job in the outbox. The append is made at the
//! version read, so two workers scanning at once ask once.

use confer_store::domain::{DomainEvent, EventMetadata, Hostname, StreamId};
use confer_store::{EventStore, ExpectedVersion, Scope, StoreError, domains};
use std::future::Future;
use std::time::Duration;

/// Domains asked about per scan, at most (the rest wait for the next one).
const PER_SCAN: u64 = 100;

/// Asks for the renewals due now; returns how many were asked for.
pub async fn scan_once(store: &EventStore) -> Result<usize, StoreError> {
    let tx = store.begin(Scope::Platform).await?;
    let due = domains::due_for_renewal(&tx, chrono::Utc::now(), PER_SCAN).await?;
    tx.commit().await?;
    let mut asked = 0;
    for row in due {
        let (Some(serial), Ok(hostname)) = (row.certificate_serial.clone(), Hostname::parse("hostname", &row.hostname))
        else {
            continue;
        };
        let event = DomainEvent::CertificateRenewalRequested {
            domain_id: row.id,
            hostname,
            replaces_serial: serial,
            reason: "due".to_owned(),
        };
        let metadata = EventMetadata { actor: "worker".to_owned(), correlation_id: None, idempotency_key: None };
        match store
            .append(
                row.tenant_id,
                &StreamId::domain(row.id),
                ExpectedVersion::Exactly(row.version),
                &[event],
                &metadata,
            )
            .await
        {
            Ok(_) => {
                tracing::info!(domain = %row.hostname, renew_at = ?row.renew_at, "certificate renewal due; asked for");
                asked += 1;
            }
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(asked)
}

/// Scans every `every` until `stop`.
pub async fn run_until(store: EventStore, every: Duration, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = ticks.tick() => {}
        }
        if let Err(e) = scan_once(&store).await {
            tracing::warn!(error = %e, "cannot look for certificates due for renewal; trying at the next scan");
        }
    }
}

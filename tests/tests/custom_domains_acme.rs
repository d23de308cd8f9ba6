//! Custom domains end to end, against real services: the api, the worker, the
//! tenant's media node, RabbitMQ, Redis, PostgreSQL, and Pebble (Let's Encrypt's
//! test CA) with pebble-challtestsrv as the DNS server the worker and the CA ask.
//!
//! A tenant adds a domain, creates the DNS record the api showed, and the domain
//! becomes `active`: the node then completes a TLS handshake for the name with a
//! chain Pebble issued. Renewal (asked for, and due by time) gives a new
//! certificate the node serves without a restart; a worker killed mid-order still
//! records exactly one certificate; a domain whose record never comes is parked
//! and shows `failed` with the reason.

use confer_tests::domain_rig::DomainRig as Rig;
use confer_tests::pebble::PebbleOptions;
use confer_tests::tls_probe::presented;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn id_of(domain: &Value) -> String {
    domain["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn a_domain_with_its_cname_becomes_active_and_is_served_with_a_pebble_certificate_then_renewed() {
    let rig = Rig::start(PebbleOptions::answering_on, &[]).await;
    let _worker = rig.worker();
    let hostname = rig.hostname("meet");
    let added = rig.add_domain(&hostname).await;
    let id = id_of(&added);
    assert_eq!(added["status"], "pending_dns");
    let cname = added["dns_records"][0].clone();
    assert_eq!(cname["type"], "CNAME");
    assert_eq!(cname["value"], rig.platform_name());

    // Until the record exists the domain waits, and says what it waits for and until when.
    let waiting =
        rig.domain_until(&id, "a DNS check to be deferred", Duration::from_secs(20), |d| d["reason"].is_string()).await;
    assert_eq!(waiting["status"], "pending_dns");
    assert!(waiting["reason"].as_str().unwrap().contains(&rig.platform_name()), "{waiting}");
    assert!(waiting["next_retry_at"].is_string(), "{waiting}");
    assert!(rig.served_serial(&hostname).await.is_err(), "no certificate is served before the domain is active");

    let created = Instant::now();
    rig.pebble.set_cname(&hostname, &rig.platform_name()).await.expect("the CNAME is created");
    let active = rig
        .domain_until(&id, "the domain to become active", Duration::from_secs(120), |d| d["status"] == "active")
        .await;
    eprintln!("record created → active in {:?}", created.elapsed());
    assert_eq!(active["verified_by"], "cname");
    assert_eq!(active["reason"], Value::Null);
    let certificate = &active["certificate"];
    let serial = certificate["serial"].as_str().expect("a serial").to_owned();
    assert!(certificate["issuer"].as_str().unwrap().contains("Pebble"), "{certificate}");
    let not_before: chrono::DateTime<chrono::Utc> = certificate["not_before"].as_str().unwrap().parse().unwrap();
    let not_after: chrono::DateTime<chrono::Utc> = certificate["not_after"].as_str().unwrap().parse().unwrap();
    let renew_at: chrono::DateTime<chrono::Utc> = certificate["renew_at"].as_str().unwrap().parse().unwrap();
    let two_thirds = not_before + (not_after - not_before) * 2 / 3;
    assert!(
        (renew_at - two_thirds).num_milliseconds().abs() < 1000,
        "renewal at {renew_at}, two thirds at {two_thirds}"
    );

    // The node serves it by SNI (announced on Redis: its poll is 10 minutes away),
    // with a chain that verifies against Pebble's root for that name.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match rig.served_serial(&hostname).await {
            Ok(served) if served == serial => break,
            other => assert!(Instant::now() < deadline, "the node does not serve the new certificate: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("record created → certificate served in {:?}", created.elapsed());
    // The platform name keeps the operator's certificate; an unknown name gets none.
    let roots = rig.operator_ca_pem.clone();
    let (addr, name) = (rig.tls_addr(), rig.platform_name());
    let operator = tokio::task::spawn_blocking(move || presented(&addr, &name, &roots)).await.unwrap();
    assert!(operator.is_ok(), "the platform name is served with the operator's certificate: {operator:?}");
    assert!(rig.served_serial(&rig.hostname("nobody")).await.is_err());

    assert_eq!(rig.events_of(&id, "DomainVerified").await, 1);
    assert_eq!(rig.events_of(&id, "CertificateOrdered").await, 1);
    assert_eq!(rig.events_of(&id, "CertificateIssued").await, 1);
    // The private key is kept sealed, in the log and in the read model.
    let key_at_rest = rig.platform.scalar("SELECT count(*) FROM certificates WHERE private_key LIKE 'v1.%'").await;
    assert_eq!(key_at_rest, 1);
    let clear = rig.platform.scalar("SELECT count(*) FROM events WHERE payload::text LIKE '%PRIVATE KEY%'").await
        + rig.platform.scalar("SELECT count(*) FROM certificates WHERE private_key LIKE '%PRIVATE KEY%'").await;
    assert_eq!(clear, 0, "no private key in the clear at rest");

    // A renewal asked for by the tenant: a new certificate, served without a restart.
    let (status, body) = rig.platform.send(&rig.tenant, Method::POST, &format!("/v1/domains/{id}/renewal"), None).await;
    assert_eq!(status, 202, "{body}");
    assert!(body["renewal_requested_at"].is_string(), "{body}");
    let (status, again) =
        rig.platform.send(&rig.tenant, Method::POST, &format!("/v1/domains/{id}/renewal"), None).await;
    assert!(status == 409 || again["certificate"]["serial"] != json!(serial), "{status} {again}");
    let renewed = rig
        .domain_until(&id, "the certificate to be renewed", Duration::from_secs(120), |d| {
            d["certificate"]["serial"].as_str().is_some_and(|s| s != serial)
        })
        .await;
    assert_eq!(renewed["status"], "active");
    assert_eq!(renewed["renewal_requested_at"], Value::Null);
    let new_serial = renewed["certificate"]["serial"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match rig.served_serial(&hostname).await {
            Ok(served) if served == new_serial => break,
            other => assert!(Instant::now() < deadline, "the node does not serve the renewed certificate: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(rig.events_of(&id, "CertificateRenewed").await, 1);
    assert_eq!(rig.events_of(&id, "CertificateIssued").await, 1);

    // Given up, the name is no longer served (announced: the node's poll is far away).
    let (status, _) = rig.platform.send(&rig.tenant, Method::DELETE, &format!("/v1/domains/{id}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(rig.platform.scalar("SELECT count(*) FROM certificates").await, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while rig.served_serial(&hostname).await.is_ok() {
        assert!(Instant::now() < deadline, "the node still serves a removed domain");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_certificate_near_expiry_is_renewed_by_itself_and_served_without_a_restart() {
    // Pebble issues 30-second certificates: renewal comes due 20 s in.
    let rig = Rig::start(
        |http_port| PebbleOptions { validity: Some(Duration::from_secs(30)), ..PebbleOptions::answering_on(http_port) },
        &[],
    )
    .await;
    let _worker = rig.worker();
    let hostname = rig.hostname("soon");
    let id = id_of(&rig.add_domain(&hostname).await);
    rig.pebble.set_cname(&hostname, &rig.platform_name()).await.expect("the CNAME");
    let active = rig.domain_until(&id, "active", Duration::from_secs(120), |d| d["status"] == "active").await;
    let first = active["certificate"]["serial"].as_str().unwrap().to_owned();
    let renewed = rig
        .domain_until(&id, "the renewal due by time", Duration::from_secs(90), |d| {
            d["certificate"]["serial"].as_str().is_some_and(|s| s != first)
        })
        .await;
    let second = renewed["certificate"]["serial"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match rig.served_serial(&hostname).await {
            Ok(served) if served != first => break,
            other => assert!(Instant::now() < deadline, "still serving the first certificate: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(rig.events_of(&id, "CertificateRenewed").await >= 1);
    let reason: Value = rig
        .platform
        .json(&format!(
            "SELECT payload FROM events WHERE stream_id = 'domain-{id}' AND event_type = 'CertificateRenewalRequested' \
             ORDER BY position LIMIT 1"
        ))
        .await;
    assert_eq!(reason["reason"], "due", "{reason}");
    assert_ne!(first, second);
}

#[tokio::test]
async fn a_worker_killed_in_the_middle_of_an_order_records_exactly_one_certificate() {
    // Pebble's validator waits a random 0–10 s before it checks, and the client
    // polls the order: it is open long enough to kill the worker in it.
    let rig =
        Rig::start(|http_port| PebbleOptions { va_sleep: Some(10), ..PebbleOptions::answering_on(http_port) }, &[])
            .await;
    let worker = rig.worker();
    let hostname = rig.hostname("crash");
    let added = rig.add_domain(&hostname).await;
    let id = id_of(&added);
    // Proved by the TXT record this time.
    let txt = &added["dns_records"][1];
    rig.pebble.set_txt(txt["name"].as_str().unwrap(), txt["value"].as_str().unwrap()).await.expect("the TXT record");
    // Watched closely, so the kill lands while the CA is still validating.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = format!("SELECT count(*) FROM domains WHERE id = '{id}' AND status = 'issuing'");
    while rig.platform.scalar(&status).await == 0 {
        assert!(Instant::now() < deadline, "the order was not placed: {}", rig.domain(&id).await);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(worker); // SIGKILL, in the middle of the order
    assert_eq!(rig.domain(&id).await["verified_by"], "txt");
    assert_eq!(rig.events_of(&id, "CertificateIssued").await, 0, "killed before the certificate");

    let _restarted = rig.worker();
    rig.domain_until(&id, "active after the restart", Duration::from_secs(120), |d| d["status"] == "active").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rig.events_of(&id, "CertificateIssued").await, 1, "exactly one certificate");
    assert!(rig.served_serial(&hostname).await.is_ok());
}

#[tokio::test]
async fn a_domain_whose_record_never_comes_is_parked_and_shows_failed_with_the_reason() {
    let rig =
        Rig::start(PebbleOptions::answering_on, &[("CONFER_DNS_RETRIES", "3"), ("CONFER_DNS_RETRY_BASE_MS", "200")])
            .await;
    let _worker = rig.worker();
    let hostname = rig.hostname("never");
    let id = id_of(&rig.add_domain(&hostname).await);
    // A CNAME elsewhere is not ours.
    rig.pebble.set_cname(&hostname, "someone-else.example").await.expect("the CNAME");
    let failed =
        rig.domain_until(&id, "the domain to fail", Duration::from_secs(60), |d| d["status"] == "failed").await;
    let reason = failed["reason"].as_str().expect("a reason");
    assert!(reason.contains(&rig.platform_name()) && reason.contains("CNAME"), "{reason}");
    assert_eq!(failed["next_retry_at"], Value::Null);
    let deadline = Instant::now() + Duration::from_secs(10);
    while rig.vhost.ready("confer.jobs.check_domain.parked") != Some(1) {
        assert!(Instant::now() < deadline, "the job is not in the parking queue");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Three deferred checks (one per retry), then the failure.
    assert_eq!(rig.events_of(&id, "DomainStepDeferred").await, 3);
    assert_eq!(rig.events_of(&id, "DomainFailed").await, 1);
    assert_eq!(rig.events_of(&id, "DomainVerified").await, 0);
}

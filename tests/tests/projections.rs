//! `confer-api rebuild-projections` rebuilds every read model from the log, and
//! the rebuilt rows equal the live ones.

use confer_tests::{TestPlatform, unique_slug};
use reqwest::Method;
use serde_json::{Value, json};

/// A domain's whole life as the worker records it: verified, a deferred step,
/// ordered, issued, a renewal asked for and done, a renewal that failed; and
/// another domain whose DNS check failed for good.
async fn domain_life(p: &TestPlatform, tenant: &str, kept: &Value, failing: &Value) {
    use confer_store::domain::{
        CertificateRecord, DomainEvent, DomainStage, EventMetadata, Hostname, SealedSecret, StreamId,
    };
    use confer_store::{EventStore, ExpectedVersion};
    let store = EventStore::new(confer_store::connect_as_app(&p.db.url, 2).await.expect("connect"));
    let tenant: uuid::Uuid = tenant.parse().unwrap();
    let id: uuid::Uuid = kept["id"].as_str().unwrap().parse().unwrap();
    let hostname = Hostname::parse("hostname", kept["hostname"].as_str().unwrap()).unwrap();
    let at = |days: i64| {
        chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z").unwrap().to_utc() + chrono::Duration::days(days)
    };
    let certificate = |serial: &str, from: i64| CertificateRecord {
        serial: serial.to_owned(),
        issuer: "CN=Test CA".to_owned(),
        not_before: at(from),
        not_after: at(from + 90),
        renew_at: at(from + 60),
        chain_pem: "-----BEGIN CERTIFICATE-----".to_owned(),
        private_key: SealedSecret("v1.sealed".to_owned()),
    };
    let events = vec![
        DomainEvent::DomainStepDeferred {
            domain_id: id,
            stage: DomainStage::Dns,
            reason: "not yet".into(),
            next_retry_at: at(0),
        },
        DomainEvent::DomainVerified { domain_id: id, hostname: hostname.clone(), method: "cname".into() },
        DomainEvent::CertificateOrdered {
            domain_id: id,
            hostname: hostname.clone(),
            order_url: "https://ca/1".into(),
            renewal: false,
        },
        DomainEvent::CertificateIssued { domain_id: id, hostname: hostname.clone(), certificate: certificate("0a", 0) },
        DomainEvent::CertificateRenewalRequested {
            domain_id: id,
            hostname: hostname.clone(),
            replaces_serial: "0a".into(),
            reason: "due".into(),
        },
        DomainEvent::CertificateRenewed {
            domain_id: id,
            hostname: hostname.clone(),
            certificate: certificate("0b", 60),
        },
        DomainEvent::CertificateRenewalRequested {
            domain_id: id,
            hostname: hostname.clone(),
            replaces_serial: "0b".into(),
            reason: "requested".into(),
        },
        DomainEvent::DomainFailed { domain_id: id, stage: DomainStage::Renewal, reason: "the CA refused".into() },
    ];
    let meta = EventMetadata { actor: "worker".into(), ..Default::default() };
    store
        .append(tenant, &StreamId::domain(id), ExpectedVersion::Exactly(1), &events, &meta)
        .await
        .expect("the domain's life");
    let never: uuid::Uuid = failing["id"].as_str().unwrap().parse().unwrap();
    let failed = DomainEvent::DomainFailed { domain_id: never, stage: DomainStage::Dns, reason: "no record".into() };
    store
        .append(tenant, &StreamId::domain(never), ExpectedVersion::Exactly(1), &[failed], &meta)
        .await
        .expect("a failure");
}

async fn snapshot(p: &TestPlatform) -> Value {
    let mut tables = serde_json::Map::new();
    for table in ["tenants", "api_keys", "users", "meetings", "domains", "certificates"] {
        let id = if table == "certificates" { "domain_id" } else { "id" };
        let rows = p.json(&format!("SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY {id}), '[]') FROM {table} t")).await;
        tables.insert(table.to_owned(), rows);
    }
    Value::Object(tables)
}

#[tokio::test]
async fn rebuilt_read_models_equal_the_live_ones() {
    let p = TestPlatform::start().await;
    for slug in [unique_slug("rb-a"), unique_slug("rb-b")] {
        let t = p.signup(&slug).await;
        p.send(&t, Method::POST, "/v1/api-keys", Some(json!({"name": "spare"}))).await;
        let (_, keys) = p.get(&t, "/v1/api-keys").await;
        let spare =
            keys.as_array().unwrap().iter().find(|k| k["name"] == "spare").unwrap()["id"].as_str().unwrap().to_owned();
        p.send(&t, Method::DELETE, &format!("/v1/api-keys/{spare}"), None).await;
        p.send(
            &t,
            Method::PATCH,
            "/v1/settings",
            Some(json!({"lobby": true, "max_participants": 30,
            "ldap": {"url": "ldap://127.0.0.1", "base_dn": "dc=x", "bind_dn": "cn=svc,dc=x", "bind_password": "pw"}})),
        )
        .await;
        let (_, u) = p
            .send(
                &t,
                Method::POST,
                "/v1/users",
                Some(json!({"email": "a@x.example", "display_name": "A", "password": "long enough"})),
            )
            .await;
        let uid = u["id"].as_str().unwrap();
        p.send(&t, Method::PATCH, &format!("/v1/users/{uid}"), Some(json!({"role": "moderator"}))).await;
        p.send(&t, Method::POST, &format!("/v1/users/{uid}/disable"), None).await;
        let (_, u2) =
            p.send(&t, Method::POST, "/v1/users", Some(json!({"email": "b@x.example", "display_name": "B"}))).await;
        let u2 = u2["id"].as_str().unwrap();
        p.send(&t, Method::POST, &format!("/v1/users/{u2}/disable"), None).await;
        p.send(&t, Method::PATCH, &format!("/v1/users/{u2}"), Some(json!({"disabled": false}))).await;
        let (_, m1) = p
            .send(
                &t,
                Method::POST,
                "/v1/meetings",
                Some(json!({"room": "r1", "starts_at": "2031-01-01T09:00:00Z",
            "ends_at": "2031-01-01T10:00:00Z", "password": "pw", "moderators": ["a@x.example"], "lobby": true})),
            )
            .await;
        let (_, m2) = p
            .send(
                &t,
                Method::POST,
                "/v1/meetings",
                Some(json!({"room": "r2", "starts_at": "2031-01-02T09:00:00Z",
            "ends_at": "2031-01-02T10:00:00Z"})),
            )
            .await;
        p.send(
            &t,
            Method::PATCH,
            &format!("/v1/meetings/{}", m1["id"].as_str().unwrap()),
            Some(json!({"starts_at": "2031-01-01T08:00:00Z", "password": null})),
        )
        .await;
        p.send(&t, Method::DELETE, &format!("/v1/meetings/{}", m2["id"].as_str().unwrap()), None).await;
        let (status, kept) =
            p.send(&t, Method::POST, "/v1/domains", Some(json!({"hostname": format!("meet.{slug}.example")}))).await;
        assert_eq!(status, 202, "{kept}");
        let (_, dropped) =
            p.send(&t, Method::POST, "/v1/domains", Some(json!({"hostname": format!("old.{slug}.example")}))).await;
        p.send(&t, Method::DELETE, &format!("/v1/domains/{}", dropped["id"].as_str().unwrap()), None).await;
        let (_, failing) =
            p.send(&t, Method::POST, "/v1/domains", Some(json!({"hostname": format!("never.{slug}.example")}))).await;
        domain_life(&p, &t.id, &kept, &failing).await;
    }
    let live = snapshot(&p).await;
    assert_eq!(live["meetings"].as_array().unwrap().len(), 4);
    assert_eq!(live["users"].as_array().unwrap().len(), 4);
    let types = p.json("SELECT jsonb_agg(DISTINCT event_type) FROM events").await;
    assert_eq!(types.as_array().unwrap().len(), 20, "every event type is replayed: {types}");
    assert_eq!(live["domains"].as_array().unwrap().len(), 4);
    assert_eq!(live["certificates"].as_array().unwrap().len(), 2);
    let jobs = p.scalar("SELECT count(*) FROM outbox").await;
    assert_eq!(jobs, 12, "a check_domain job per domain added, an order per verification and per renewal asked");

    // Damage the read models, then rebuild them with the real command.
    p.scalar("WITH d AS (DELETE FROM meetings RETURNING 1) SELECT count(*) FROM d").await;
    p.scalar("WITH u AS (UPDATE users SET display_name = 'corrupted' RETURNING 1) SELECT count(*) FROM u").await;
    p.scalar("WITH c AS (DELETE FROM certificates RETURNING 1) SELECT count(*) FROM c").await;
    assert_ne!(snapshot(&p).await, live);
    let (ok, _) = p.run_cli(&["rebuild-projections"]);
    assert!(ok, "rebuild-projections succeeds");
    assert_eq!(snapshot(&p).await, live, "rebuilt rows equal the live ones, column for column");
    assert_eq!(p.scalar("SELECT count(*) FROM outbox").await, jobs, "replaying the log queues no jobs");
}

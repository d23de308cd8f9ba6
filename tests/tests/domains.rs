//! `/v1/domains`, against the real api and PostgreSQL: adding a custom domain answers
//! the DNS record that proves it and writes `DomainAdded` together with its
//! `check_domain` job in the outbox; bad names and names another tenant holds are
//! refused with nothing written; a tenant holds at most its cap.

use confer_tests::{TestPlatform, TestTenant, unique_slug};
use reqwest::Method;
use serde_json::{Value, json};

async fn add(p: &TestPlatform, t: &TestTenant, hostname: &str) -> (u16, Value) {
    p.send(t, Method::POST, "/v1/domains", Some(json!({ "hostname": hostname }))).await
}

async fn written(p: &TestPlatform) -> (i64, i64) {
    (p.event_count().await, p.scalar("SELECT count(*) FROM outbox").await)
}

#[tokio::test]
async fn adding_a_domain_answers_its_dns_records_and_queues_its_check_in_the_same_append() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("dom")).await;
    let (status, domain) = add(&p, &t, " Meet.Example.COM. ").await;
    assert_eq!(status, 202, "{domain}");
    assert_eq!(
        (domain["hostname"].as_str(), domain["status"].as_str()),
        (Some("meet.example.com"), Some("pending_dns"))
    );
    let records = domain["dns_records"].as_array().unwrap();
    assert_eq!(
        records[0],
        json!({"type": "CNAME", "name": "meet.example.com", "value": format!("{}.confer.localhost", t.slug)})
    );
    assert_eq!(records[1]["type"], "TXT");
    assert_eq!(records[1]["name"], "_confer-challenge.meet.example.com");
    assert!(records[1]["value"].as_str().unwrap().starts_with("confer-verification="));

    let id = domain["id"].as_str().unwrap();
    let job = p
        .json(&format!(
            "SELECT to_jsonb(o) - 'created_at' FROM outbox o WHERE payload->>'domain_id' = '{id}' AND published_at IS NULL"
        ))
        .await;
    assert_eq!(job["kind"], "check_domain");
    assert_eq!(job["tenant_id"], json!(t.id));
    assert_eq!(job["payload"]["hostname"], "meet.example.com");
    let same_append = p
        .scalar(&format!(
            "SELECT count(*) FROM events e JOIN outbox o ON o.event_position = e.position
             WHERE e.event_type = 'DomainAdded' AND e.payload->>'domain_id' = '{id}'"
        ))
        .await;
    assert_eq!(same_append, 1, "the job points at the event that caused it");

    let (status, one) = p.get(&t, &format!("/v1/domains/{id}")).await;
    assert_eq!((status, one["hostname"].as_str()), (200, Some("meet.example.com")));
    let (_, list) = p.get(&t, "/v1/domains").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");

    let other = p.signup(&unique_slug("dom")).await;
    let (status, _) = p.get(&other, &format!("/v1/domains/{id}")).await;
    assert_eq!(status, 404, "another tenant's domain looks missing");
    let (_, theirs) = p.get(&other, "/v1/domains").await;
    assert_eq!(theirs["items"], json!([]));
}

#[tokio::test]
async fn bad_hostnames_are_refused_with_a_clear_message_and_nothing_written() {
    let p = TestPlatform::start_with(&[("CONFER_BASE_DOMAIN", "confer.example")]).await;
    let t = p.signup(&unique_slug("dom")).await;
    let before = written(&p).await;
    let long = format!("{}.example.com", vec!["abcdefghij"; 24].join("."));
    for (hostname, says) in [
        ("192.0.2.10", "IP address"),
        ("[2001:db8::1]", "IP address"),
        ("localhost", "localhost"),
        ("*.example.com", "wildcard"),
        (long.as_str(), "253"),
        ("bad_label.example.com", "letters, digits and hyphens"),
        ("-x.example.com", "hyphen"),
        ("example", "two labels"),
        ("", "empty"),
        ("meet.localhost", "localhost"),
        ("acme.confer.example", "platform's own domain"),
        ("Confer.Example.", "platform's own domain"),
    ] {
        let (status, error) = add(&p, &t, hostname).await;
        assert_eq!(status, 422, "{hostname}: {error}");
        assert_eq!(error["error"]["field"], "hostname", "{hostname}: {error}");
        let message = error["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(says), "{hostname}: {message}");
    }
    let (status, _) = p.send(&t, Method::POST, "/v1/domains", Some(json!({"hostname": "a.example.com", "x": 1}))).await;
    assert_eq!(status, 400, "an unknown field");
    assert_eq!(written(&p).await, before, "no event and no job for a refused name");
}

#[tokio::test]
async fn a_name_another_tenant_holds_is_refused_until_they_give_it_up() {
    let p = TestPlatform::start().await;
    let a = p.signup(&unique_slug("dom")).await;
    let b = p.signup(&unique_slug("dom")).await;
    let (status, held) = add(&p, &a, "video.example.org").await;
    assert_eq!(status, 202);
    let before = written(&p).await;
    let (status, error) = add(&p, &b, "VIDEO.example.org").await;
    assert_eq!((status, error["error"]["code"].as_str()), (409, Some("hostname_taken")), "{error}");
    assert!(!error.to_string().contains(&a.slug), "the holder is not named: {error}");
    let (status, _) = add(&p, &a, "video.example.org").await;
    assert_eq!(status, 409, "the same tenant twice");
    assert_eq!(written(&p).await, before, "nothing written for a taken name");

    let (status, _) = p.send(&a, Method::DELETE, &format!("/v1/domains/{}", held["id"].as_str().unwrap()), None).await;
    assert_eq!(status, 204);
    let (status, _) = p.get(&a, &format!("/v1/domains/{}", held["id"].as_str().unwrap())).await;
    assert_eq!(status, 404);
    let (status, taken) = add(&p, &b, "video.example.org").await;
    assert_eq!(status, 202, "free again once given up: {taken}");
    let removed = p.scalar("SELECT count(*) FROM events WHERE event_type = 'DomainRemoved'").await;
    assert_eq!(removed, 1);
}

#[tokio::test]
async fn a_tenant_holds_at_most_its_cap_and_a_retried_add_is_answered_once() {
    let p = TestPlatform::start_with(&[("CONFER_MAX_DOMAINS_PER_TENANT", "2")]).await;
    let t = p.signup(&unique_slug("dom")).await;
    let key = uuid::Uuid::new_v4().to_string();
    let send = || {
        p.http()
            .post(p.url("/v1/domains"))
            .bearer_auth(&t.key)
            .header("Idempotency-Key", &key)
            .json(&json!({"hostname": "one.example.net"}))
            .send()
    };
    let first: Value = send().await.unwrap().json().await.unwrap();
    let again = send().await.unwrap();
    assert_eq!(again.status(), 202);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"], "the retry is answered with the first answer");
    assert_eq!(p.scalar("SELECT count(*) FROM outbox").await, 1, "one job for one add");

    assert_eq!(add(&p, &t, "two.example.net").await.0, 202);
    let (status, error) = add(&p, &t, "three.example.net").await;
    assert_eq!((status, error["error"]["code"].as_str()), (409, Some("too_many_domains")), "{error}");
}

//! Quotas and floods (issue 14, item 8) against the real api and PostgreSQL: a cap on
//! API keys per tenant that parallel creations cannot pass, a request budget per
//! tenant (not per key), unknown keys refused per network before the database is
//! asked, and password hashing limited per tenant.

use confer_tests::{TestPlatform, status_and_json, unique_slug};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_tenant_holds_at_most_its_cap_of_api_keys_even_when_they_are_created_at_once() {
    let p = TestPlatform::start_with(&[("CONFER_MAX_API_KEYS_PER_TENANT", "4")]).await;
    let t = p.signup(&unique_slug("keycap")).await;
    let creations =
        (0..10).map(|i| p.send(&t, Method::POST, "/v1/api-keys", Some(json!({"name": format!("client {i}")}))));
    let answers = futures_util::future::join_all(creations).await;
    let created: Vec<_> = answers.iter().filter(|(s, _)| *s == 201).collect();
    let refused = answers.iter().filter(|(s, b)| *s == 409 && b["error"]["code"] == "too_many_api_keys").count();
    assert_eq!((created.len(), refused), (3, 7), "the signup's key and three more: {answers:?}");
    assert_eq!(p.scalar("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL").await, 4);
    // Revoking one makes room for one.
    let id = created[0].1["id"].as_str().expect("an id").to_owned();
    assert_eq!(p.send(&t, Method::DELETE, &format!("/v1/api-keys/{id}"), None).await.0, 204);
    assert_eq!(p.send(&t, Method::POST, "/v1/api-keys", Some(json!({"name": "again"}))).await.0, 201);
    assert_eq!(p.send(&t, Method::POST, "/v1/api-keys", Some(json!({"name": "one more"}))).await.0, 409);
}

#[tokio::test]
async fn a_tenants_keys_share_one_request_budget() {
    let p = TestPlatform::start_with(&[("CONFER_TENANT_REQUESTS_PER_SECOND", "2")]).await;
    let t = p.signup(&unique_slug("tbudget")).await;
    let other = p.signup(&unique_slug("tother")).await;
    // Wait out the burst the signup and key creations spent.
    let mut keys = vec![t.key.clone()];
    for i in 0..2 {
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        let (status, key) = p.send(&t, Method::POST, "/v1/api-keys", Some(json!({"name": format!("k{i}")}))).await;
        assert_eq!(status, 201, "{key}");
        keys.push(key["key"].as_str().expect("a key").to_owned());
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let mut answers = Vec::new();
    for i in 0..30 {
        let res = p.http().get(p.url("/v1/settings")).bearer_auth(&keys[i % keys.len()]).send().await.unwrap();
        let retry_after = res.headers().get("retry-after").is_some();
        let (status, body) = status_and_json(res).await;
        answers.push((status, body["error"]["code"].as_str().map(str::to_owned), retry_after));
    }
    let served = answers.iter().filter(|(s, _, _)| *s == 200).count();
    let limited = answers.iter().filter(|(s, c, r)| *s == 429 && c.as_deref() == Some("rate_limited") && *r).count();
    assert!(served <= 8 && served + limited == 30, "three keys, one budget of 2/s (burst 4): {answers:?}");
    assert_eq!(p.get(&other, "/v1/settings").await.0, 200, "another tenant has its own budget");
}

#[tokio::test]
async fn unknown_keys_from_one_network_are_refused_before_the_database_is_asked() {
    let p = TestPlatform::start_with(&[("CONFER_INVALID_KEYS_PER_MINUTE", "5")]).await;
    let t = p.signup(&unique_slug("badkeys")).await;
    assert_eq!(p.get(&t, "/v1/settings").await.0, 200, "the real key, now cached");
    let mut statuses = Vec::new();
    for i in 0..8 {
        let res = p.http().get(p.url("/v1/settings")).bearer_auth(format!("cfr_guess{i:040}")).send().await.unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);

    // With the database gone, a refused network still gets 429 (it was not asked),
    // where a lookup would fail.
    p.set_database_reachable(false).await;
    let res = p.http().get(p.url("/v1/settings")).bearer_auth(format!("cfr_guess{:040}", 99)).send().await.unwrap();
    assert_eq!(res.status(), 429, "refused unasked");
    p.set_database_reachable(true).await;
}

#[tokio::test]
async fn password_hashing_is_limited_per_tenant() {
    let p = TestPlatform::start_with(&[("CONFER_PASSWORD_HASHES_PER_SECOND", "1")]).await;
    let t = p.signup(&unique_slug("argon")).await;
    // At once: each is counted when it arrives, before its hash is made.
    let creations = (0..6).map(|i| {
        let body = json!({"email": format!("u{i}@example.org"), "display_name": "U", "password": "long enough pass"});
        p.send(&t, Method::POST, "/v1/users", Some(body))
    });
    let statuses: Vec<u16> = futures_util::future::join_all(creations).await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 2, "a burst of two hashes: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == 201 || *s == 429), "{statuses:?}");
    let body = json!({"email": "nopass@example.org", "display_name": "No password"});
    assert_eq!(p.send(&t, Method::POST, "/v1/users", Some(body)).await.0, 201, "no hash, no limit");
    assert_eq!(p.scalar("SELECT count(*) FROM users").await, 3, "nothing refused was written");
}

//! Signup, API keys and authentication, through the real `confer-api`.

use confer_tests::{TestPlatform, status_and_json, unique_slug};
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

#[tokio::test]
async fn signup_returns_the_tenant_and_a_key_that_is_stored_only_as_a_hash() {
    let p = TestPlatform::start().await;
    let slug = unique_slug("acme");
    let t = p.signup(&slug).await;
    let (status, me) = p.get(&t, "/v1/tenant").await;
    assert_eq!(status, 200);
    assert_eq!(me["slug"], slug);
    assert_eq!(me["site_url"], format!("https://{slug}.confer.localhost"));

    let hash = hex::encode(Sha256::digest(t.key.as_bytes()));
    assert_eq!(p.scalar(&format!("SELECT count(*) FROM api_keys WHERE key_hash = '\\x{hash}'")).await, 1);
    let leaks = format!(
        "SELECT (SELECT count(*) FROM events WHERE payload::text LIKE '%{k}%' OR metadata::text LIKE '%{k}%')
              + (SELECT count(*) FROM idempotency_keys WHERE response_body::text LIKE '%{k}%')",
        k = t.key
    );
    assert_eq!(p.scalar(&leaks).await, 0, "the plaintext key is nowhere in the database");
    let types = p.json("SELECT jsonb_agg(event_type ORDER BY position) FROM events").await;
    assert_eq!(types, json!(["TenantCreated", "ApiKeyCreated"]));
}

#[tokio::test]
async fn a_taken_slug_is_409_and_writes_nothing() {
    let p = TestPlatform::start().await;
    let slug = unique_slug("dup");
    p.signup(&slug).await;
    let before = p.event_count().await;
    let res = p
        .http()
        .post(p.url("/v1/tenants"))
        .json(&json!({"name": "Other", "slug": slug, "admin_email": "x@other.example"}))
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(res).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "slug_taken");
    assert_eq!(body["error"]["field"], "slug");
    assert_eq!(p.event_count().await, before);
    assert_eq!(p.scalar("SELECT count(*) FROM tenant_keys").await, 1, "no orphan data key");
}

#[tokio::test]
async fn bad_signups_are_422_with_the_field_and_write_nothing() {
    let p = TestPlatform::start().await;
    let cases = [
        (json!({"name": "A", "slug": "Bad_Slug", "admin_email": "a@b.example"}), "slug"),
        (json!({"name": "A", "slug": "-lead", "admin_email": "a@b.example"}), "slug"),
        (json!({"name": "A", "slug": "x".repeat(64), "admin_email": "a@b.example"}), "slug"),
        (json!({"name": "A", "slug": "api", "admin_email": "a@b.example"}), "slug"),
        (json!({"name": "A", "slug": "fine-slug", "admin_email": "not-an-email"}), "admin_email"),
        (json!({"name": "   ", "slug": "fine-slug", "admin_email": "a@b.example"}), "name"),
    ];
    for (body, field) in cases {
        let res = p.http().post(p.url("/v1/tenants")).json(&body).send().await.unwrap();
        let (status, err) = status_and_json(res).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(err["error"]["code"], "invalid_field");
        assert_eq!(err["error"]["field"], field, "{body}");
        assert!(!err["error"]["message"].as_str().unwrap().is_empty());
    }
    assert_eq!(p.event_count().await, 0);
}

#[tokio::test]
async fn signups_are_rate_limited_per_client_address() {
    let p = TestPlatform::start_with(&[("CONFER_SIGNUPS_PER_MINUTE", "2")]).await;
    p.signup(&unique_slug("one")).await;
    p.signup(&unique_slug("two")).await;
    let res = p
        .http()
        .post(p.url("/v1/tenants"))
        .json(&json!({"name": "Three", "slug": unique_slug("three"), "admin_email": "a@three.example"}))
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("retry-after"));
    let (status, body) = status_and_json(res).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(p.scalar("SELECT count(*) FROM tenants").await, 2);
}

#[tokio::test]
async fn requests_without_a_working_key_are_401() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("auth")).await;
    let bare = p.http().get(p.url("/v1/meetings")).send().await.unwrap();
    assert_eq!(bare.headers().get("www-authenticate").map(|v| v.to_str().unwrap()), Some("Bearer"));
    let (status, body) = status_and_json(bare).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")));
    let forged = format!("{}x", t.key);
    for key in ["cfr_nope", forged.as_str(), "Basic abc"] {
        let res = p.http().get(p.url("/v1/meetings")).bearer_auth(key).send().await.unwrap();
        assert_eq!(res.status(), 401, "{key}");
    }
}

#[tokio::test]
async fn api_keys_are_created_listed_and_revoked() {
    let p = TestPlatform::start().await;
    let admin = p.signup(&unique_slug("keys")).await;
    let (status, created) = p.send(&admin, Method::POST, "/v1/api-keys", Some(json!({"name": "ci"}))).await;
    assert_eq!(status, 201);
    let second = confer_tests::TestTenant { key: created["key"].as_str().unwrap().to_owned(), ..admin.clone() };
    assert_eq!(p.get(&second, "/v1/tenant").await.0, 200, "the new key works");

    let (_, list) = p.get(&admin, "/v1/api-keys").await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|k| k.get("key").is_none()), "secrets are never listed");

    let admin_key_id = list.iter().find(|k| k["name"] == "admin").unwrap()["id"].as_str().unwrap().to_owned();
    let (status, _) = p.send(&second, Method::DELETE, &format!("/v1/api-keys/{admin_key_id}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(p.get(&admin, "/v1/tenant").await.0, 401, "a revoked key stops working");

    let ci_id = created["id"].as_str().unwrap();
    let (status, body) = p.send(&second, Method::DELETE, &format!("/v1/api-keys/{ci_id}"), None).await;
    assert_eq!(status, 409, "the last working key cannot be revoked");
    assert_eq!(body["error"]["code"], "last_api_key");
    assert_eq!(p.get(&second, "/v1/tenant").await.0, 200);
}

#[tokio::test]
async fn the_operator_command_creates_the_demo_tenant_once_and_reissues_keys() {
    let p = TestPlatform::start().await;
    let args = ["ensure-tenant", "--slug", "demo", "--name", "Demo", "--admin-email", "admin@demo.example"];
    let (ok, first) = p.run_cli(&args);
    assert!(ok);
    let (ok, second) = p.run_cli(&args);
    assert!(ok);
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    let second: serde_json::Value = serde_json::from_str(&second).unwrap();
    assert_eq!(first["tenant"]["id"], second["tenant"]["id"], "the same tenant");
    assert_ne!(first["api_key"]["key"], second["api_key"]["key"], "a fresh key each time");
    assert_eq!(p.scalar("SELECT count(*) FROM tenants").await, 1);
    let t = confer_tests::TestTenant {
        id: String::new(),
        slug: "demo".into(),
        key: second["api_key"]["key"].as_str().unwrap().into(),
    };
    assert_eq!(p.get(&t, "/v1/tenant").await.0, 200);
}

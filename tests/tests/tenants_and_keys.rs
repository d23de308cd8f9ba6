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

/// Signs up with an idempotency key; returns status, `Idempotent-Replayed` and body.
async fn keyed_signup(p: &TestPlatform, key: &str, body: &serde_json::Value) -> (u16, bool, serde_json::Value) {
    let res = p.http().post(p.url("/v1/tenants")).header("idempotency-key", key).json(body).send().await.unwrap();
    let replayed = res.headers().get("idempotent-replayed").is_some_and(|v| v == "true");
    let (status, body) = status_and_json(res).await;
    (status, replayed, body)
}

#[tokio::test]
async fn a_signup_retried_with_its_idempotency_key_answers_the_same_tenant_and_key_sealed_meanwhile() {
    let p = TestPlatform::start().await;
    let slug = unique_slug("retry");
    let key = uuid::Uuid::new_v4().to_string();
    let body = json!({"name": "Retry Ltd", "slug": slug, "admin_email": "a@retry.example"});
    let (status, replayed, first) = keyed_signup(&p, &key, &body).await;
    assert_eq!((status, replayed), (201, false), "{first}");
    let (status, replayed, again) = keyed_signup(&p, &key, &body).await;
    assert_eq!((status, replayed), (201, true), "{again}");
    assert_eq!(again, first, "the same tenant and the same admin key");
    assert_eq!(p.scalar("SELECT count(*) FROM tenants").await, 1);
    assert_eq!(p.scalar("SELECT count(*) FROM events WHERE event_type = 'TenantCreated'").await, 1);

    // The replayed key works, and is nowhere in the database in the clear.
    let secret = first["api_key"]["key"].as_str().unwrap();
    let res = p.http().get(p.url("/v1/tenant")).bearer_auth(secret).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let leaks = format!(
        "SELECT (SELECT count(*) FROM signup_replays WHERE sealed_answer LIKE '%{secret}%' OR sealed_answer LIKE '%{slug}%')
              + (SELECT count(*) FROM events WHERE payload::text LIKE '%{secret}%')"
    );
    assert_eq!(p.scalar(&leaks).await, 0, "the saved answer is sealed");
    assert_eq!(p.scalar("SELECT count(*) FROM signup_replays").await, 1);
    assert_eq!(
        p.scalar(&format!(
            "SELECT count(*) FROM signup_replays WHERE key_hash = '\\x{}'",
            hex::encode(Sha256::digest(key.as_bytes()))
        ))
        .await,
        1,
        "kept under the key's hash"
    );

    // The same key with another signup is refused; another key for the slug is 409.
    let other = json!({"name": "Retry Ltd", "slug": unique_slug("other"), "admin_email": "a@retry.example"});
    let (status, _, refused) = keyed_signup(&p, &key, &other).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["field"], "Idempotency-Key");
    let (status, _, taken) = keyed_signup(&p, &uuid::Uuid::new_v4().to_string(), &body).await;
    assert_eq!(status, 409, "{taken}");
    assert_eq!(taken["error"]["code"], "slug_taken");

    // Deleting the tenant forgets the answer: the key signs up afresh, with a new tenant.
    let res =
        p.http().delete(p.url("/v1/tenant")).bearer_auth(secret).json(&json!({"confirm": slug})).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(p.scalar("SELECT count(*) FROM signup_replays").await, 0);
    let (status, replayed, fresh) = keyed_signup(&p, &key, &body).await;
    assert_eq!((status, replayed), (201, false), "{fresh}");
    assert_ne!(fresh["tenant"]["id"], first["tenant"]["id"]);
}

#[tokio::test]
async fn twenty_racing_signups_with_one_idempotency_key_make_one_tenant_and_all_get_it() {
    let p = TestPlatform::start().await;
    let key = uuid::Uuid::new_v4().to_string();
    let body = json!({"name": "Race", "slug": unique_slug("race"), "admin_email": "a@race.example"});
    let answers = futures_util::future::join_all((0..20).map(|_| keyed_signup(&p, &key, &body))).await;
    let ids: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|(status, _, b)| {
            assert_eq!(*status, 201, "{b}");
            format!("{} {}", b["tenant"]["id"], b["api_key"]["key"])
        })
        .collect();
    assert_eq!(ids.len(), 1, "one tenant, one admin key: {ids:?}");
    assert_eq!(answers.iter().filter(|(_, replayed, _)| !replayed).count(), 1, "one fresh answer, the rest replays");
    assert_eq!(p.scalar("SELECT count(*) FROM tenants").await, 1);
    assert_eq!(p.scalar("SELECT count(*) FROM tenant_keys").await, 1);
}

#[tokio::test]
async fn a_signup_refuses_a_short_idempotency_key() {
    let p = TestPlatform::start().await;
    let body = json!({"name": "Short", "slug": unique_slug("short"), "admin_email": "a@short.example"});
    let (status, _, refused) = keyed_signup(&p, "1", &body).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["field"], "Idempotency-Key");
    assert_eq!(p.scalar("SELECT count(*) FROM tenants").await, 0);
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

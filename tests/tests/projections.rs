//! `confer-api rebuild-projections` rebuilds every read model from the log, and
//! the rebuilt rows equal the live ones.

use confer_tests::{TestPlatform, unique_slug};
use reqwest::Method;
use serde_json::{Value, json};

async fn snapshot(p: &TestPlatform) -> Value {
    let mut tables = serde_json::Map::new();
    for table in ["tenants", "api_keys", "users", "meetings", "domains"] {
        let rows = p.json(&format!("SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY id), '[]') FROM {table} t")).await;
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
            "ldap": {"url": "ldap://127.0.0.1", "base_dn": "dc=x", "bind_password": "pw"}})),
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
    }
    let live = snapshot(&p).await;
    assert_eq!(live["meetings"].as_array().unwrap().len(), 4);
    assert_eq!(live["users"].as_array().unwrap().len(), 4);
    let types = p.json("SELECT jsonb_agg(DISTINCT event_type) FROM events").await;
    assert_eq!(types.as_array().unwrap().len(), 13, "every event type is replayed: {types}");
    assert_eq!(live["domains"].as_array().unwrap().len(), 2);
    let jobs = p.scalar("SELECT count(*) FROM outbox").await;
    assert_eq!(jobs, 4, "one check_domain job per domain added");

    // Damage the read models, then rebuild them with the real command.
    p.scalar("WITH d AS (DELETE FROM meetings RETURNING 1) SELECT count(*) FROM d").await;
    p.scalar("WITH u AS (UPDATE users SET display_name = 'corrupted' RETURNING 1) SELECT count(*) FROM u").await;
    assert_ne!(snapshot(&p).await, live);
    let (ok, _) = p.run_cli(&["rebuild-projections"]);
    assert!(ok, "rebuild-projections succeeds");
    assert_eq!(snapshot(&p).await, live, "rebuilt rows equal the live ones, column for column");
    assert_eq!(p.scalar("SELECT count(*) FROM outbox").await, jobs, "replaying the log queues no jobs");
}

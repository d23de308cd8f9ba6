//! Tenant isolation at the API: every endpoint called with another tenant's key
//! answers 404, as if the resource did not exist, and changes nothing.

use confer_tests::{TestPlatform, unique_slug};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn every_endpoint_with_another_tenants_key_is_404_and_changes_nothing() {
    let p = TestPlatform::start().await;
    let owner = p.signup(&unique_slug("owner")).await;
    let intruder = p.signup(&unique_slug("intruder")).await;

    let (_, user) = p
        .send(&owner, Method::POST, "/v1/users", Some(json!({"email": "ann@owner.example", "display_name": "Ann"})))
        .await;
    let (_, meeting) = p
        .send(
            &owner,
            Method::POST,
            "/v1/meetings",
            Some(json!({
            "room": "secret", "starts_at": "2031-01-01T09:00:00Z", "ends_at": "2031-01-01T10:00:00Z"})),
        )
        .await;
    let (_, key) = p.send(&owner, Method::POST, "/v1/api-keys", Some(json!({"name": "spare"}))).await;
    let (user, meeting, key) =
        (user["id"].as_str().unwrap(), meeting["id"].as_str().unwrap(), key["id"].as_str().unwrap());
    let before = p.event_count().await;

    let calls = [
        (Method::GET, format!("/v1/users/{user}"), None),
        (Method::PATCH, format!("/v1/users/{user}"), Some(json!({"display_name": "Mallory"}))),
        (Method::POST, format!("/v1/users/{user}/disable"), None),
        (Method::GET, format!("/v1/meetings/{meeting}"), None),
        (Method::PATCH, format!("/v1/meetings/{meeting}"), Some(json!({"title": "pwned"}))),
        (Method::DELETE, format!("/v1/meetings/{meeting}"), None),
        (Method::GET, format!("/v1/meetings/{meeting}/events"), None),
        (Method::DELETE, format!("/v1/api-keys/{key}"), None),
    ];
    for (method, path, body) in calls {
        let (status, err) = p.send(&intruder, method.clone(), &path, body).await;
        assert_eq!(status, 404, "{method} {path}");
        assert_eq!(err["error"]["code"], "not_found", "{method} {path}");
    }
    assert_eq!(p.event_count().await, before, "nothing was appended");

    // Lists and the feed show only the caller's own things.
    let (_, users) = p.get(&intruder, "/v1/users").await;
    assert_eq!(users["items"], json!([]));
    let (_, meetings) = p.get(&intruder, "/v1/meetings?from=2030-12-01T00:00:00Z&to=2031-02-01T00:00:00Z").await;
    assert_eq!(meetings["items"], json!([]));
    let (_, keys) = p.get(&intruder, "/v1/api-keys").await;
    assert_eq!(keys.as_array().unwrap().len(), 1);
    let (_, feed) = p.get(&intruder, "/v1/events").await;
    assert!(feed["events"].as_array().unwrap().iter().all(|e| !e.to_string().contains(&owner.id)));
    let (_, me) = p.get(&intruder, "/v1/tenant").await;
    assert_eq!(me["id"], intruder.id);

    // The owner still sees everything unchanged.
    let (status, m) = p.get(&owner, &format!("/v1/meetings/{meeting}")).await;
    assert_eq!((status, m["status"].as_str(), m["title"].as_str()), (200, Some("scheduled"), Some("secret")));
    let (_, u) = p.get(&owner, &format!("/v1/users/{user}")).await;
    assert_eq!((u["display_name"].as_str(), u["disabled"].as_bool()), (Some("Ann"), Some(false)));
}

//! Bad input never yields a 500 or a partial write; data survives a crash;
//! the operational endpoints answer.

use confer_tests::{TestPlatform, status_and_json, unique_slug};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn malformed_oversized_and_non_json_bodies_are_4xx_and_write_nothing() {
    let p = TestPlatform::start_with(&[("CONFER_MAX_BODY_BYTES", "4096")]).await;
    let t = p.signup(&unique_slug("bodies")).await;
    let before = p.event_count().await;
    let raw = |body: Vec<u8>, content_type: &str| {
        p.http()
            .post(p.url("/v1/meetings"))
            .bearer_auth(&t.key)
            .header("content-type", content_type.to_owned())
            .body(body)
            .send()
    };
    let cases: Vec<(Vec<u8>, &str, u16, &str)> = vec![
        (b"{not json".to_vec(), "application/json", 400, "malformed_request"),
        (b"".to_vec(), "application/json", 400, "malformed_request"),
        (br#"{"room": 5, "starts_at": "2031-01-01T09:00:00Z", "ends_at": "2031-01-01T10:00:00Z"}"#.to_vec(), "application/json", 400, "malformed_request"),
        (br#"{"room": "a", "starts_at": "2031-01-01T09:00:00Z", "ends_at": "2031-01-01T10:00:00Z", "rooom": 1}"#.to_vec(), "application/json", 400, "malformed_request"),
        (br#"{"room": "a", "starts_at": "tomorrow", "ends_at": "2031-01-01T10:00:00Z"}"#.to_vec(), "application/json", 400, "malformed_request"),
        (format!(r#"{{"room": "a", "title": "{}", "starts_at": "2031-01-01T09:00:00Z", "ends_at": "2031-01-01T10:00:00Z"}}"#, "x".repeat(10_000)).into_bytes(), "application/json", 413, "body_too_large"),
        (br#"room=a"#.to_vec(), "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (vec![0xff, 0xfe, 0x00], "application/json", 400, "malformed_request"),
    ];
    for (body, content_type, status, code) in cases {
        let (got, err) = status_and_json(raw(body.clone(), content_type).await.unwrap()).await;
        assert_eq!(
            (got, err["error"]["code"].as_str()),
            (status, Some(code)),
            "{}",
            String::from_utf8_lossy(&body[..body.len().min(80)])
        );
        assert!(!err["error"]["message"].as_str().unwrap_or("").is_empty());
    }
    let (status, err) = status_and_json(
        raw(
            br#"{"room": "a", "starts_at": "tomorrow", "ends_at": "2031-01-01T10:00:00Z"}"#.to_vec(),
            "application/json",
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((status, err["error"]["field"].as_str()), (400, Some("starts_at")), "the field at fault is named");
    assert_eq!(p.event_count().await, before);
    assert_eq!(p.scalar("SELECT count(*) FROM meetings").await, 0);
    // Unknown ids and endpoints are JSON 404s.
    assert_eq!(p.get(&t, "/v1/meetings/not-a-uuid").await.0, 404);
    let (status, body) = p.get(&t, "/v1/nothing-here").await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    let (status, _) = p.send(&t, Method::POST, "/v1/meetings", None).await;
    assert_eq!(status, 415, "no body, no content type");
    let put = p.http().put(p.url("/v1/meetings")).bearer_auth(&t.key).send().await.unwrap();
    assert_eq!(put.headers().get("allow").map(|v| v.to_str().unwrap()), Some("GET, POST"));
    let (status, body) = status_and_json(put).await;
    assert_eq!((status, body["error"]["code"].as_str()), (405, Some("method_not_allowed")));
}

#[tokio::test]
async fn data_is_intact_after_the_api_is_killed_and_restarted() {
    let mut p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("restart")).await;
    let (_, m) = p
        .send(&t, Method::POST, "/v1/meetings", Some(json!({
            "room": "durable", "starts_at": "2031-01-01T09:00:00Z", "ends_at": "2031-01-01T10:00:00Z", "password": "pw"})))
        .await;
    let (_, feed_before) = p.get(&t, "/v1/events").await;
    p.restart().await;
    let (status, again) = p.get(&t, &format!("/v1/meetings/{}", m["id"].as_str().unwrap())).await;
    assert_eq!(status, 200, "the old key still works and the meeting is there");
    assert_eq!(again, m);
    let (_, feed_after) = p.get(&t, "/v1/events").await;
    assert_eq!(feed_before, feed_after);
    let (status, _) = p
        .send(
            &t,
            Method::POST,
            "/v1/meetings",
            Some(json!({
            "room": "durable", "starts_at": "2031-01-01T09:30:00Z", "ends_at": "2031-01-01T10:30:00Z"})),
        )
        .await;
    assert_eq!(status, 409, "the constraints survive too");
}

#[tokio::test]
async fn health_readiness_metrics_and_the_openapi_document_answer() {
    let log = confer_tests::LogLines::default();
    let p = TestPlatform::start_logging_into(&[("CONFER_METRICS_LISTEN", "127.0.0.1:0")], log.clone()).await;
    let get = |path: &str| p.http().get(p.url(path)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    let (status, ready) = status_and_json(get("/readyz").await.unwrap()).await;
    assert_eq!((status, ready), (200, json!({"status": "ready"})));
    // Metrics are not for strangers: not on the api's listener, only on their own.
    assert_eq!(get("/metrics").await.unwrap().status(), 404);
    let metrics_addr = log
        .lock()
        .unwrap()
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|v| v["metrics_addr"].as_str().map(str::to_owned))
        .expect("the api logs where its metrics listen");
    let metrics = p.http().get(format!("http://{metrics_addr}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("confer_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"} 1"),
        "{metrics}"
    );
    let (status, doc) = status_and_json(get("/v1/openapi.json").await.unwrap()).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/tenants",
        "/v1/api-keys/{id}",
        "/v1/settings",
        "/v1/users/{id}",
        "/v1/meetings",
        "/v1/meetings/{id}/events",
        "/v1/events",
    ] {
        assert!(doc["paths"].get(path).is_some(), "OpenAPI lacks {path}");
    }
    assert!(doc["components"]["schemas"].get("ErrorBody").is_some());
}

#[tokio::test]
async fn readiness_fails_when_the_database_goes_away() {
    let p = TestPlatform::start().await;
    p.set_database_reachable(false).await;
    let (status, body) = status_and_json(p.http().get(p.url("/readyz")).send().await.unwrap()).await;
    assert_eq!((status, body), (503, json!({"status": "unavailable"})), "no error text for strangers");
    p.set_database_reachable(true).await;
    let mut ok = false;
    for _ in 0..50 {
        if p.http().get(p.url("/readyz")).send().await.unwrap().status() == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ok, "ready again once the database is back");
}

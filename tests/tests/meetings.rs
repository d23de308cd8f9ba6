//! Scheduling meetings through the real API: overlaps, stale versions,
//! idempotent retries, windows and pagination, and one meeting's history.

use confer_tests::{TestPlatform, TestTenant, unique_slug};
use reqwest::Method;
use serde_json::{Value, json};

fn meeting(room: &str, start: &str, end: &str) -> Value {
    json!({"room": room, "title": format!("About {room}"), "starts_at": start, "ends_at": end})
}

async fn schedule(p: &TestPlatform, t: &TestTenant, body: Value) -> (u16, Value) {
    p.send(t, Method::POST, "/v1/meetings", Some(body)).await
}

#[tokio::test]
async fn a_scheduled_meeting_never_returns_its_password() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("pw")).await;
    let mut body = meeting("board", "2031-03-01T09:00:00Z", "2031-03-01T10:00:00Z");
    body["password"] = json!("s3cret-pass");
    body["moderators"] = json!(["Chair@Example.org", "chair@example.org"]);
    let (status, created) = schedule(&p, &t, body).await;
    assert_eq!(status, 201);
    assert_eq!(created["has_password"], true);
    assert_eq!(created["moderators"], json!(["chair@example.org"]));
    assert!(!created.to_string().contains("s3cret"));
    let id = created["id"].as_str().unwrap();
    let (_, got) = p.get(&t, &format!("/v1/meetings/{id}")).await;
    assert!(got.get("password").is_none() && got.get("password_hash").is_none());
    let (_, feed) = p.get(&t, "/v1/events").await;
    assert!(!feed.to_string().contains("argon2"), "no hash in the feed");
    let stored = p.json("SELECT to_jsonb(password_hash) FROM meetings").await;
    assert!(stored.as_str().unwrap().starts_with("$argon2id$"), "stored as an argon2id hash");
}

#[tokio::test]
async fn ends_before_start_is_422_and_writes_nothing() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("time")).await;
    let before = p.event_count().await;
    for (start, end) in
        [("2031-01-01T10:00:00Z", "2031-01-01T10:00:00Z"), ("2031-01-01T10:00:00Z", "2031-01-01T09:00:00Z")]
    {
        let (status, body) = schedule(&p, &t, meeting("r", start, end)).await;
        assert_eq!(status, 422);
        assert_eq!(body["error"]["field"], "ends_at");
    }
    let (status, body) = schedule(&p, &t, meeting("bad room!", "2031-01-01T09:00:00Z", "2031-01-01T10:00:00Z")).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("room")));
    assert_eq!(p.event_count().await, before);
}

#[tokio::test]
async fn the_same_room_booked_twice_for_overlapping_times_is_409() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("book")).await;
    assert_eq!(schedule(&p, &t, meeting("daily", "2031-01-01T09:00:00Z", "2031-01-01T10:00:00Z")).await.0, 201);
    let (status, body) = schedule(&p, &t, meeting("Daily", "2031-01-01T09:30:00Z", "2031-01-01T10:30:00Z")).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "room_booked");
    // Back to back is fine, and so is another room at the same time.
    assert_eq!(schedule(&p, &t, meeting("daily", "2031-01-01T10:00:00Z", "2031-01-01T11:00:00Z")).await.0, 201);
    assert_eq!(schedule(&p, &t, meeting("other", "2031-01-01T09:00:00Z", "2031-01-01T10:00:00Z")).await.0, 201);
    // Another tenant has its own rooms.
    let u = p.signup(&unique_slug("book2")).await;
    assert_eq!(schedule(&p, &u, meeting("daily", "2031-01-01T09:00:00Z", "2031-01-01T10:00:00Z")).await.0, 201);
}

#[tokio::test]
async fn concurrent_bookings_of_one_slot_let_exactly_one_through() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("rush")).await;
    let attempts = (0..10).map(|i| {
        let start = format!("2031-02-01T09:{:02}:00Z", i);
        schedule(&p, &t, meeting("hot", &start, "2031-02-01T10:30:00Z"))
    });
    let results = futures_util::future::join_all(attempts).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let refused = results.iter().filter(|(s, _)| *s == 409).count();
    assert_eq!((created, refused), (1, 9), "{results:?}");
    assert_eq!(p.scalar("SELECT count(*) FROM meetings").await, 1);
}

#[tokio::test]
async fn reschedule_with_a_stale_if_match_is_412() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("resched")).await;
    let (_, m) = schedule(&p, &t, meeting("plan", "2031-01-05T09:00:00Z", "2031-01-05T10:00:00Z")).await;
    let path = format!("/v1/meetings/{}", m["id"].as_str().unwrap());
    let patch = |version: &str, body: Value| {
        p.http().patch(p.url(&path)).bearer_auth(&t.key).header("if-match", version.to_owned()).json(&body).send()
    };
    let res =
        patch("\"1\"", json!({"starts_at": "2031-01-05T11:00:00Z", "ends_at": "2031-01-05T12:00:00Z"})).await.unwrap();
    assert_eq!(res.headers()["etag"], "\"2\"");
    let (status, moved) = confer_tests::status_and_json(res).await;
    assert_eq!(status, 200);
    assert_eq!((moved["version"].as_i64(), moved["starts_at"].as_str()), (Some(2), Some("2031-01-05T11:00:00Z")));

    let before = p.event_count().await;
    let (status, body) = confer_tests::status_and_json(patch("1", json!({"title": "late"})).await.unwrap()).await;
    assert_eq!(status, 412);
    assert_eq!(body["error"]["code"], "stale_version");
    assert_eq!(p.event_count().await, before, "a stale write appends nothing");
    let (_, now) = p.get(&t, &path).await;
    assert_eq!(now["title"], "About plan");

    let (status, _) =
        confer_tests::status_and_json(patch("2", json!({"ends_at": "2031-01-05T10:59:00Z"})).await.unwrap()).await;
    assert_eq!(status, 422, "a reschedule may not end before it starts");
}

#[tokio::test]
async fn cancel_is_204_frees_the_room_and_is_recorded() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("cancel")).await;
    let (_, m) = schedule(&p, &t, meeting("retro", "2031-01-07T09:00:00Z", "2031-01-07T10:00:00Z")).await;
    let id = m["id"].as_str().unwrap();
    let (status, body) = p.send(&t, Method::DELETE, &format!("/v1/meetings/{id}"), None).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(
        p.send(&t, Method::DELETE, &format!("/v1/meetings/{id}"), None).await.0,
        204,
        "cancelling twice is fine"
    );
    let (_, got) = p.get(&t, &format!("/v1/meetings/{id}")).await;
    assert_eq!(got["status"], "cancelled");
    assert_eq!(schedule(&p, &t, meeting("retro", "2031-01-07T09:00:00Z", "2031-01-07T10:00:00Z")).await.0, 201);
    let (status, history) = p.get(&t, &format!("/v1/meetings/{id}/events")).await;
    assert_eq!(status, 200);
    let types: Vec<&str> = history.as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["MeetingScheduled", "MeetingCancelled"]);
    assert_eq!(p.send(&t, Method::PATCH, &format!("/v1/meetings/{id}"), Some(json!({"title": "x"}))).await.0, 409);
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_replays_the_first_answer() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("idem")).await;
    let body = meeting("once", "2031-01-09T09:00:00Z", "2031-01-09T10:00:00Z");
    let post = |key: &str, body: &Value| {
        p.http()
            .post(p.url("/v1/meetings"))
            .bearer_auth(&t.key)
            .header("idempotency-key", key.to_owned())
            .json(body)
            .send()
    };
    let first = post("retry-1", &body).await.unwrap();
    assert!(first.headers().get("idempotent-replayed").is_none());
    let (s1, b1) = confer_tests::status_and_json(first).await;
    let events = p.event_count().await;
    let second = post("retry-1", &body).await.unwrap();
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    let (s2, b2) = confer_tests::status_and_json(second).await;
    assert_eq!((s1, &b1), (s2, &b2), "the same status and body");
    assert_eq!(p.event_count().await, events, "the retry appends nothing");
    assert_eq!(p.scalar("SELECT count(*) FROM meetings").await, 1);

    let mut other = body.clone();
    other["room"] = json!("different");
    let (status, err) = confer_tests::status_and_json(post("retry-1", &other).await.unwrap()).await;
    assert_eq!(status, 422, "a key reused for another request is refused");
    assert_eq!(err["error"]["field"], "Idempotency-Key");
    assert_eq!(p.event_count().await, events);
}

#[tokio::test]
async fn listing_by_window_is_ordered_by_start_and_paginates() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("list")).await;
    for (i, day) in [5, 1, 3, 2, 4].iter().enumerate() {
        let start = format!("2031-04-{day:02}T09:00:00Z");
        let end = format!("2031-04-{day:02}T10:00:00Z");
        assert_eq!(schedule(&p, &t, meeting(&format!("room{i}"), &start, &end)).await.0, 201);
    }
    assert_eq!(schedule(&p, &t, meeting("outside", "2031-06-01T09:00:00Z", "2031-06-01T10:00:00Z")).await.0, 201);
    let mut starts = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = "/v1/meetings?from=2031-04-01T00:00:00Z&to=2031-05-01T00:00:00Z&limit=2".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = p.get(&t, &path).await;
        assert_eq!(status, 200);
        pages += 1;
        for m in page["items"].as_array().unwrap() {
            starts.push(m["starts_at"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (1..=5).map(|d| format!("2031-04-{d:02}T09:00:00Z")).collect();
    assert_eq!(starts, expected);
    let (status, body) = p.get(&t, "/v1/meetings?from=2031-04-02T00:00:00Z&to=2031-04-01T00:00:00Z").await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("to")));
    assert_eq!(p.get(&t, "/v1/meetings?cursor=garbage").await.0, 400);
    assert_eq!(p.get(&t, "/v1/meetings?limit=0").await.0, 422);
}

#[tokio::test]
async fn the_event_feed_pages_in_log_order() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("feed")).await;
    for i in 0..5 {
        let start = format!("2031-05-01T{:02}:00:00Z", 8 + i);
        let end = format!("2031-05-01T{:02}:30:00Z", 8 + i);
        schedule(&p, &t, meeting("feed", &start, &end)).await;
    }
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let (_, page) = p.get(&t, &format!("/v1/events?after={after}&limit=3")).await;
        let events = page["events"].as_array().unwrap().clone();
        if events.is_empty() {
            break;
        }
        seen.extend(events.iter().map(|e| (e["position"].as_i64().unwrap(), e["type"].as_str().unwrap().to_owned())));
        after = page["next_after"].as_i64().unwrap();
    }
    assert_eq!(seen.len(), 7, "TenantCreated, ApiKeyCreated and five MeetingScheduled");
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "strictly increasing positions");
    assert_eq!(seen[0].1, "TenantCreated");
    assert!(seen[2..].iter().all(|(_, ty)| ty == "MeetingScheduled"));
    assert_eq!(p.get(&t, "/v1/events?limit=5000").await.0, 422);
}

//! A scheduled meeting's password and moderators never lapse (docs/SECURITY.md):
//! attacks against a real node and the real api. When the node cannot learn a
//! room's meeting rules — the api rate-limits it, is down, or the asker's network
//! asked about too many rooms — a join to that room is refused with
//! `try_again_later`, never let into an unlocked room as its moderator; whoever
//! waits for the host gave the meeting's password first; and strangers flooding a
//! site spend a budget of the node's api calls that its own reads do not share.

use confer_tests::media_node::{MediaNode, Signaling};
use confer_tests::{TestPlatform, TestTenant, status_and_json, unique_slug};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);
const PLATFORM_TOKEN: &str = "platform-token-for-the-fail-closed-tests";

/// A node credential minted by the api, as the front door gets one.
async fn node_credential(p: &TestPlatform, t: &TestTenant) -> String {
    let res = p
        .http()
        .post(p.url("/v1/platform/nodes"))
        .bearer_auth(PLATFORM_TOKEN)
        .json(&json!({"tenant_id": t.id, "node_id": uuid::Uuid::new_v4().to_string()}))
        .send()
        .await
        .expect("the api answers");
    let (status, body) = status_and_json(res).await;
    assert_eq!(status, 201, "{body}");
    body["credential"].as_str().expect("a credential").to_owned()
}

/// Schedules a meeting on now in `room`, locked with `password`, moderated by chair@example.org.
async fn schedule(p: &TestPlatform, t: &TestTenant, room: &str, password: &str) {
    let now = chrono::Utc::now();
    let (status, body) = p
        .send(
            t,
            Method::POST,
            "/v1/meetings",
            Some(json!({"room": room, "title": "Board", "starts_at": now - chrono::Duration::minutes(5),
                        "ends_at": now + chrono::Duration::hours(1), "password": password,
                        "moderators": ["chair@example.org"]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// A join of `room` as a guest called `name`, from `client` (as the trusted front
/// door forwards it), without a password.
async fn guest_join(node: &MediaNode, client: &str, room: &str, name: &str) -> (Signaling, Value) {
    let mut s = node.signaling_with(&[("X-Forwarded-For", client)]).await;
    let reply = s.request(json!({"type": "join", "room": room, "name": name})).await;
    (s, reply)
}

/// Gus's join, again while the answer is `try_again_later` (for up to 30 s): the
/// last socket and its answer.
async fn retried_while_later(node: &MediaNode, client: &str, room: &str, password: Option<&str>) -> (Signaling, Value) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut s = node.signaling_with(&[("X-Forwarded-For", client)]).await;
        let reply = s.request(json!({"type": "join", "room": room, "name": "Gus", "password": password})).await;
        if reply["code"] != "try_again_later" || std::time::Instant::now() > deadline {
            return (s, reply);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A join token for `board` that does not itself make its holder a moderator.
async fn token(p: &TestPlatform, t: &TestTenant, email: &str) -> String {
    let body = json!({"room": "board", "user": {"id": email, "name": email, "email": email}, "moderator": false});
    let (status, minted) = p.send(t, Method::POST, "/v1/tokens", Some(body)).await;
    assert_eq!(status, 201, "{minted}");
    minted["token"].as_str().expect("a token").to_owned()
}

fn assert_kept_out(reply: &Value) {
    assert_ne!(reply["type"], "joined", "let into a locked meeting without its password: {reply}");
    assert_ne!(reply["type"], "waiting", "let wait without the password: {reply}");
    let code = reply["code"].as_str().unwrap_or_default();
    assert!(["try_again_later", "password_required"].contains(&code), "{reply}");
}

#[tokio::test]
async fn a_locked_meetings_room_stays_shut_when_strangers_exhaust_the_nodes_api_budget_or_the_api_is_down() {
    // A node budget small enough to exhaust: 5 requests a second, bursts of 10.
    let mut p = TestPlatform::start_with(&[
        ("CONFER_PLATFORM_TOKEN", PLATFORM_TOKEN),
        ("CONFER_NODE_REQUESTS_PER_SECOND", "5"),
    ])
    .await;
    let t = p.signup(&unique_slug("shut")).await;
    let credential = node_credential(&p, &t).await;
    let node = MediaNode::start(
        &p.base_url,
        &t,
        &[("CONFER_NODE_CREDENTIAL", credential.as_str()), ("CONFER_TRUSTED_PROXY", "127.0.0.1")],
    );
    node.wait_for_access("open", true).await;
    schedule(&p, &t, "board", "quarterly-42").await;
    schedule(&p, &t, "vault", "annual-43").await;

    // Strangers from many networks join random rooms: each costs the node an api
    // call, until the api rate-limits the node. Then they try the locked room.
    let mut refused_later = 0;
    let mut sockets = Vec::new();
    for i in 0..40 {
        let (s, reply) = guest_join(&node, &format!("203.0.113.{i}"), &format!("random-{i}"), "Eve").await;
        if reply["code"] == "try_again_later" {
            refused_later += 1;
        }
        sockets.push(s);
    }
    let (_, reply) = guest_join(&node, "203.0.113.250", "board", "Eve").await;
    assert_kept_out(&reply);
    assert!(refused_later > 0, "the flood never exhausted the node's budget: the attack was not made");

    // The node's own reads count against a budget the flood does not touch.
    let visitor_calls =
        (0..30).map(|_| p.http().get(p.url("/v1/rooms/somewhere/meeting")).bearer_auth(&credential).send());
    let statuses: Vec<u16> =
        futures_util::future::join_all(visitor_calls).await.into_iter().map(|r| r.unwrap().status().as_u16()).collect();
    assert!(statuses.contains(&429), "the node's visitor budget is exhausted: {statuses:?}");
    let own = p.http().get(p.url("/v1/settings")).bearer_auth(&credential).send().await.unwrap();
    assert_eq!(own.status(), 200, "the node still reads its settings");

    // Once the budget is back (the flood's room facts drain from it too), the
    // meeting's rules apply as ever.
    let (_, reply) = retried_while_later(&node, "198.51.100.1", "board", None).await;
    assert_eq!(reply["code"], "password_required", "{reply}");
    // Gus keeps his seat for the rest of the test.
    let (_gus, joined) = retried_while_later(&node, "198.51.100.1", "board", Some("quarterly-42")).await;
    assert_eq!(joined["type"], "joined", "{joined}");

    // The api goes down: the rules of a room the node has not read are unknown, and
    // nobody walks in (before, the first to come was seated as its moderator).
    p.kill_api();
    let (_, reply) = guest_join(&node, "198.51.100.2", "vault", "Eve").await;
    assert_eq!(reply["code"], "try_again_later", "{reply}");
    // A room whose rules the node read a moment ago keeps them for their cache time.
    let (_, reply) = guest_join(&node, "198.51.100.3", "board", "Eve").await;
    assert_eq!(reply["code"], "password_required", "{reply}");
    drop(sockets);
}

#[tokio::test]
async fn one_network_asking_about_many_rooms_is_slowed_and_others_are_not() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("nets")).await;
    let node = MediaNode::start(&p.base_url, &t, &[("CONFER_TRUSTED_PROXY", "127.0.0.1")]);
    node.wait_for_access("open", true).await;
    // One IPv6 /64, from addresses all over it, asks about 60 rooms.
    let mut codes = Vec::new();
    let mut sockets = Vec::new();
    for i in 0..60 {
        let (s, reply) = guest_join(&node, &format!("2001:db8:7:7::{i:x}"), &format!("room-{i}"), "Eve").await;
        codes.push(reply["code"].as_str().unwrap_or(reply["type"].as_str().unwrap_or_default()).to_owned());
        sockets.push(s);
    }
    let joined = codes.iter().filter(|c| *c == "joined").count();
    let slowed = codes.iter().filter(|c| *c == "try_again_later").count();
    assert_eq!(joined + slowed, 60, "{codes:?}");
    assert!(joined >= 20, "a burst of 20 lookups per network: {codes:?}");
    assert!(slowed >= 10, "then 2 a second: {codes:?}");
    // Someone elsewhere still gets in at once.
    let (_, reply) = guest_join(&node, "2001:db8:8:8::1", "room-elsewhere", "Ann").await;
    assert_eq!(reply["type"], "joined", "{reply}");
    // A room whose rules were just read costs no lookup: the slowed network may join it.
    let last_known = codes.iter().rposition(|c| c == "joined").expect("some joined");
    let (_, reply) = guest_join(&node, "2001:db8:7:7::ffff", &format!("room-{last_known}"), "Eve").await;
    assert_eq!(reply["type"], "joined", "{reply}");
    drop(sockets);
}

#[tokio::test]
async fn a_guest_or_member_who_comes_before_the_host_gives_the_meetings_password_first() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("early")).await;
    let node = MediaNode::start(&p.base_url, &t, &[]);
    let (status, body) =
        p.send(&t, Method::PATCH, "/v1/settings", Some(json!({"auth": "internal", "guests_allowed": true}))).await;
    assert_eq!(status, 200, "{body}");
    node.wait_for_access("internal", true).await;
    schedule(&p, &t, "board", "quarterly-42").await;
    // Before: a guest who came early waited, and was seated when the host came,
    // without the password ever being asked.
    let mut guest = node.signaling(None).await;
    let reply = guest.request(json!({"type": "join", "room": "board", "name": "Gus"})).await;
    assert_eq!(reply["code"], "password_required", "{reply}");
    let mut member = node.signaling(None).await;
    let member_token = token(&p, &t, "bob@example.org").await;
    let reply = member.request(json!({"type": "join", "room": "board", "token": member_token})).await;
    assert_eq!(reply["code"], "password_required", "a token holder who does not moderate: {reply}");
    let reply = guest.request(json!({"type": "join", "room": "board", "name": "Gus", "password": "guess"})).await;
    assert_eq!(reply["code"], "wrong_password", "{reply}");

    // With the password, they wait for the host, and enter when the chair comes.
    let reply =
        guest.request(json!({"type": "join", "room": "board", "name": "Gus", "password": "quarterly-42"})).await;
    assert_eq!((reply["type"].as_str(), reply["reason"].as_str()), (Some("waiting"), Some("host")), "{reply}");
    let mut chair = node.signaling(None).await;
    let chair_token = token(&p, &t, "chair@example.org").await;
    let joined = chair.request(json!({"type": "join", "room": "board", "token": chair_token})).await;
    assert_eq!((joined["type"].as_str(), joined["role"].as_str()), (Some("joined"), Some("moderator")), "{joined}");
    let seated = guest.push("joined", WAIT).await.expect("the guest who gave the password enters");
    assert_eq!(seated["role"], "participant");
    assert_eq!(seated["room"]["participants"].as_array().map(Vec::len), Some(2), "{seated}");
}

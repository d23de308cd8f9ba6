//! A media node and the api together: what happens in the node's rooms is recorded
//! by the api as events (in order, exactly once, even when the api was down while it
//! happened), and the tenant's settings reach the node.

use confer_tests::{TestPlatform, TestTenant, unique_slug};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::process::Child;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_node(api: &str, tenant: &TestTenant) -> (Node, String) {
    let env = [
        ("CONFER_TENANT", tenant.slug.clone()),
        ("CONFER_MEDIA_LISTEN", "127.0.0.1:0".to_owned()),
        ("CONFER_MEDIA_UDP", "127.0.0.1:0".to_owned()),
        ("CONFER_API_URL", api.to_owned()),
        ("CONFER_NODE_CREDENTIAL", tenant.key.clone()),
        ("CONFER_REDIS_URL", confer_tests::redis_url()),
        // Settings are read at start and when the api announces a change on Redis;
        // the fallback poll is out of the tests' way.
        ("CONFER_SETTINGS_POLL_SECONDS", "600".to_owned()),
    ];
    let env: Vec<(String, String)> = env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let (child, addr) = confer_tests::spawn_logged("confer-media", &env);
    (Node(child), addr)
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws(node: &str) -> Socket {
    tokio_tungstenite::connect_async(format!("ws://{node}/ws")).await.expect("signaling").0
}

/// Sends a request and returns its reply (pushes are skipped).
async fn request(socket: &mut Socket, id: u64, mut body: Value) -> Value {
    body["v"] = json!(1);
    body["id"] = json!(id);
    socket.send(Message::text(body.to_string())).await.unwrap();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("a reply");
        let Some(Ok(Message::Text(t))) = frame else { panic!("signaling closed") };
        let v: Value = serde_json::from_str(t.as_str()).unwrap();
        if v["re"] == json!(id) {
            return v;
        }
    }
}

/// The room-fact events of the tenant, once at least `n` are there.
async fn room_events(p: &TestPlatform, t: &TestTenant, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, feed) = p.get(t, "/v1/events?limit=1000").await;
        let events: Vec<Value> = feed["events"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|e| e["stream_id"].as_str().unwrap_or("").starts_with("room_session-"))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if events.len() >= n {
            return events;
        }
        assert!(Instant::now() < deadline, "only {} room events: {events:?}", events.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_meeting_on_the_node_appears_in_the_tenants_event_feed_in_order() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("facts")).await;
    let (_node, node) = start_node(&p.base_url, &t);

    let mut ann = ws(&node).await;
    let ann_id =
        request(&mut ann, 1, json!({"type": "join", "room": "standup", "name": "Ann"})).await["participant"].clone();
    let mut bob = ws(&node).await;
    request(&mut bob, 1, json!({"type": "join", "room": "standup", "name": "Bob"})).await;
    assert_eq!(request(&mut ann, 2, json!({"type": "lock", "password": "pw"})).await["type"], "ok");
    request(&mut bob, 2, json!({"type": "leave"})).await;
    request(&mut ann, 3, json!({"type": "leave"})).await;

    let events = room_events(&p, &t, 7).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "MeetingStarted",
            "ParticipantJoined",
            "ParticipantJoined",
            "RoomLocked",
            "ParticipantLeft",
            "ParticipantLeft",
            "MeetingEnded"
        ]
    );
    let stream = events[0]["stream_id"].clone();
    assert!(events.iter().all(|e| e["stream_id"] == stream), "one stream for the run of the room");
    let versions: Vec<i64> = events.iter().map(|e| e["stream_version"].as_i64().unwrap()).collect();
    assert_eq!(versions, [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(events[1]["data"]["display_name"], "Ann");
    assert_eq!(events[1]["data"]["participant"], ann_id);
    assert_eq!(events[3]["data"]["by"], ann_id);
    assert_eq!(events[4]["data"]["reason"], "left");
    assert!(events.iter().all(|e| e["data"]["room"] == "standup"));
    assert!(!events.iter().any(|e| e.to_string().contains("\"pw\"")), "the room password is not a fact");
}

#[tokio::test]
async fn facts_from_while_the_api_was_down_are_delivered_once_it_is_back() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let mut p = TestPlatform::start_with(&[("CONFER_API_LISTEN", listen.as_str())]).await;
    let t = p.signup(&unique_slug("buffer")).await;
    let (_node, node) = start_node(&p.base_url, &t);
    // The node reads the room's rules while the api is up (a join whose rules are
    // unknown is refused); it keeps them for 10 s.
    let mut pre = ws(&node).await;
    let reply = request(&mut pre, 1, json!({"type": "join", "room": "offline", "name": "Pre"})).await;
    assert_eq!(reply["type"], "joined", "{reply}");
    request(&mut pre, 2, json!({"type": "leave"})).await;
    room_events(&p, &t, 4).await;

    p.kill_api();
    let mut ann = ws(&node).await;
    let reply = request(&mut ann, 1, json!({"type": "join", "room": "offline", "name": "Ann"})).await;
    assert_eq!(reply["type"], "joined", "{reply}");
    request(&mut ann, 2, json!({"type": "leave"})).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(p.scalar("SELECT count(*) FROM events WHERE stream_id LIKE 'room_session-%'").await, 4);

    p.restart().await;
    assert_eq!(p.base_url, format!("http://{listen}"), "the api is back where the node expects it");
    let events = room_events(&p, &t, 8).await;
    let types: Vec<&str> = events[4..].iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["MeetingStarted", "ParticipantJoined", "ParticipantLeft", "MeetingEnded"]);
    // Nothing twice, even though delivery was retried.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(p.scalar("SELECT count(*) FROM events WHERE stream_id LIKE 'room_session-%'").await, 8);
}

#[tokio::test]
async fn the_tenants_max_participants_reaches_the_node_and_applies_to_the_next_join() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("cap")).await;
    let (status, _) = p.send(&t, reqwest::Method::PATCH, "/v1/settings", Some(json!({"max_participants": 2}))).await;
    assert_eq!(status, 200);
    let (_node, node) = start_node(&p.base_url, &t);

    // The node starts with its flag (75) until it has read the settings.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seated = Vec::new();
    loop {
        let mut s = ws(&node).await;
        let reply = request(&mut s, 1, json!({"type": "join", "room": "small", "name": "P"})).await;
        if reply["code"] == "room_full" {
            break;
        }
        assert_eq!(reply["type"], "joined", "{reply}");
        seated.push(s);
        assert!(seated.len() <= 2 || Instant::now() < deadline, "the cap of 2 never applied");
        if seated.len() > 2 {
            // Joined before the settings were read: leave and try again.
            let mut extra = seated.pop().unwrap();
            request(&mut extra, 2, json!({"type": "leave"})).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    assert_eq!(seated.len(), 2);

    // Raising the cap lets the next one in, without restarting the node: the api
    // announces the change on Redis (the node's poll is ten minutes away).
    let (status, _) = p.send(&t, reqwest::Method::PATCH, "/v1/settings", Some(json!({"max_participants": 3}))).await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut s = ws(&node).await;
        let reply = request(&mut s, 1, json!({"type": "join", "room": "small", "name": "Q"})).await;
        if reply["type"] == "joined" {
            seated.push(s);
            break;
        }
        assert_eq!(reply["code"], "room_full");
        assert!(Instant::now() < deadline, "the new cap never reached the node");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The cap is now 3 (not gone): the fourth is told the room is full.
    let mut s = ws(&node).await;
    let reply = request(&mut s, 1, json!({"type": "join", "room": "small", "name": "R"})).await;
    assert_eq!(reply["code"], "room_full", "{reply}");
    assert_eq!(seated.len(), 3);
}

#[tokio::test]
async fn on_sigterm_the_node_tells_everyone_ends_the_meeting_and_flushes_its_facts() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("term")).await;
    let (node_process, node) = start_node(&p.base_url, &t);
    let mut ann = ws(&node).await;
    request(&mut ann, 1, json!({"type": "join", "room": "closing", "name": "Ann"})).await;
    let mut bob = ws(&node).await;
    request(&mut bob, 1, json!({"type": "join", "room": "closing", "name": "Bob"})).await;

    let pid = node_process.0.id();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success());

    // Both are told the meeting ended, then their sockets close.
    for socket in [&mut ann, &mut bob] {
        let mut told = false;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    told |= v["event"]["type"] == "participant_left" && v["event"]["reason"] == "meeting_ended";
                }
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => break,
                _ => {}
            }
            assert!(Instant::now() < deadline, "the socket stayed open");
        }
        assert!(told, "a participant was not told the meeting ended");
    }
    // The node exits by itself, after its facts (the end included) reached the api.
    let mut node_process = node_process;
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = node_process.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the node did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "a clean exit after SIGTERM: {status}");
    let events = room_events(&p, &t, 5).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"MeetingStarted"));
    assert_eq!(types.last(), Some(&"MeetingEnded"), "{types:?}");
    assert_eq!(types.iter().filter(|t| **t == "ParticipantLeft").count(), 2);
}

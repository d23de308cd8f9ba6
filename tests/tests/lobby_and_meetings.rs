//! The lobby and scheduled meetings, on a real node with the real api: those who are
//! not moderators knock and a moderator admits or denies them (and the denied are
//! told); a meeting scheduled through the api locks its room with its password,
//! overrides the tenant's lobby, and makes the people it names moderators.

use confer_tests::media_node::MediaNode;
use confer_tests::{TestPlatform, unique_slug};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn with_the_lobby_on_newcomers_knock_a_moderator_admits_one_and_denies_another() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("lob")).await;
    let node = MediaNode::start(&p.base_url, &t, &[]);
    let (status, _) = p.send(&t, Method::PATCH, "/v1/settings", Some(json!({"lobby": true}))).await;
    assert_eq!(status, 200);
    node.wait_for_site(|site| site["lobby"] == json!(true)).await;
    let mut ann = node.signaling(None).await;
    let joined = ann.request(json!({"type": "join", "room": "porch", "name": "Ann"})).await;
    assert_eq!(joined["role"], "moderator", "{joined}");
    let ann_id = joined["participant"].clone();

    let mut bob = node.signaling(None).await;
    let reply = bob.request(json!({"type": "join", "room": "porch", "name": "Bob"})).await;
    assert_eq!((reply["type"].as_str(), reply["reason"].as_str()), (Some("waiting"), Some("lobby")), "{reply}");
    let bob_id = reply["participant"].clone();
    let knock = ann.event("participant_knocking", WAIT).await.expect("the moderator hears the knock");
    assert_eq!((knock["participant"].clone(), knock["display_name"].as_str()), (bob_id.clone(), Some("Bob")));

    // Someone waiting may not act in the room.
    let refused = bob.request(json!({"type": "chat", "text": "let me in"})).await;
    assert_eq!(refused["code"], "not_joined", "{refused}");

    let ok = ann.request(json!({"type": "admit", "participant": bob_id})).await;
    assert_eq!(ok["type"], "ok", "{ok}");
    let admitted = bob.push("joined", WAIT).await.expect("Bob is let in");
    assert_eq!((admitted["participant"].clone(), admitted["role"].as_str()), (bob_id.clone(), Some("participant")));
    assert_eq!(admitted["room"]["participants"].as_array().map(Vec::len), Some(2));
    let seen = ann.event_where("participant_joined", |e| e["participant"]["id"] == bob_id, WAIT).await;
    assert!(seen.is_some(), "Ann sees Bob join");

    // A participant is not told of knocks; only moderators are.
    let mut cleo = node.signaling(None).await;
    let reply = cleo.request(json!({"type": "join", "room": "porch", "name": "Cleo"})).await;
    assert_eq!(reply["reason"], "lobby", "{reply}");
    let cleo_id = reply["participant"].clone();
    ann.event("participant_knocking", WAIT).await.expect("Ann hears Cleo");
    assert!(bob.event("participant_knocking", Duration::from_millis(500)).await.is_none(), "Bob moderates nothing");
    let refused = bob.request(json!({"type": "admit", "participant": cleo_id})).await;
    assert_eq!(refused["code"], "not_moderator", "{refused}");

    let ok = ann.request(json!({"type": "deny", "participant": cleo_id})).await;
    assert_eq!(ok["type"], "ok", "{ok}");
    let told = cleo.push("join_refused", WAIT).await.expect("Cleo is told");
    assert_eq!(told["code"], "denied", "{told}");
    let ended = ann.event_where("knock_ended", |e| e["participant"] == cleo_id, WAIT).await;
    let ended = ended.expect("the lobby list is updated");
    assert_eq!((ended["outcome"].as_str(), ended["by"].clone()), (Some("denied"), ann_id));

    // A moderator who joins later learns who is knocking; a participant does not.
    let mut dan = node.signaling(None).await;
    let reply = dan.request(json!({"type": "join", "room": "porch", "name": "Dan"})).await;
    assert_eq!(reply["reason"], "lobby", "{reply}");
    let dan_id = reply["participant"].clone();
    let mut eve = node.signaling(None).await;
    let reply = eve.request(json!({"type": "join", "room": "porch", "name": "Eve"})).await;
    assert_eq!(reply["reason"], "lobby", "{reply}");
    let eve_id = reply["participant"].clone();
    let ok = ann.request(json!({"type": "admit", "participant": dan_id})).await;
    assert_eq!(ok["type"], "ok", "{ok}");
    let dan_in = dan.push("joined", WAIT).await.expect("Dan is let in");
    assert_eq!(dan_in["lobby"], json!([]), "Dan is no moderator: {dan_in}");
    let (status, minted) = p
        .send(
            &t,
            reqwest::Method::POST,
            "/v1/tokens",
            Some(json!({"room": "porch", "user": {"id": "m-1", "name": "Mo"}, "moderator": true})),
        )
        .await;
    assert_eq!(status, 201, "{minted}");
    let mut mo = node.signaling(None).await;
    let joined = mo.request(json!({"type": "join", "room": "porch", "token": minted["token"]})).await;
    assert_eq!(joined["role"], "moderator", "{joined}");
    let knocking: Vec<_> = joined["lobby"].as_array().unwrap().iter().map(|k| k["participant"].clone()).collect();
    assert_eq!(knocking, vec![eve_id], "a moderator joining later sees who knocks: {joined}");
}

#[tokio::test]
async fn a_scheduled_meeting_locks_its_room_with_its_password_overrides_the_lobby_and_names_its_moderators() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("mtg")).await;
    let node = MediaNode::start(&p.base_url, &t, &[]);
    let now = chrono::Utc::now();
    let (status, meeting) = p
        .send(
            &t,
            Method::POST,
            "/v1/meetings",
            Some(json!({"room": "board", "title": "Board meeting", "starts_at": now - chrono::Duration::minutes(5),
                        "ends_at": now + chrono::Duration::hours(1), "password": "quarterly-42",
                        "moderators": ["Chair@Example.org"], "lobby": true})),
        )
        .await;
    assert_eq!(status, 201, "{meeting}");

    // Nobody gets in without the meeting's password, the first to come included.
    let mut guest = node.signaling(None).await;
    let reply = guest.request(json!({"type": "join", "room": "board", "name": "Gus"})).await;
    assert_eq!(reply["code"], "password_required", "{reply}");
    let reply = guest.request(json!({"type": "join", "room": "board", "name": "Gus", "password": "guess"})).await;
    assert_eq!(reply["code"], "wrong_password", "{reply}");

    // The chair, named by the meeting, moderates: no password, no lobby.
    let (_, minted) = p
        .send(
            &t,
            Method::POST,
            "/v1/tokens",
            Some(json!({"room": "board", "user": {"id": "c-1", "name": "Chair", "email": "chair@example.org"}, "moderator": false})),
        )
        .await;
    let mut chair = node.signaling(None).await;
    let joined = chair.request(json!({"type": "join", "room": "board", "token": minted["token"]})).await;
    assert_eq!((joined["type"].as_str(), joined["role"].as_str()), (Some("joined"), Some("moderator")), "{joined}");
    assert_eq!(joined["room"]["locked"], true, "the meeting's password locks the room");

    // With the right password a guest knocks (the meeting's lobby), and is let in.
    let reply =
        guest.request(json!({"type": "join", "room": "board", "name": "Gus", "password": "quarterly-42"})).await;
    assert_eq!((reply["type"].as_str(), reply["reason"].as_str()), (Some("waiting"), Some("lobby")), "{reply}");
    chair.request(json!({"type": "admit", "participant": reply["participant"]})).await;
    let admitted = guest.push("joined", WAIT).await.expect("Gus is let in");
    assert_eq!(admitted["role"], "participant");

    // Another room of the tenant has neither password nor lobby.
    let mut other = node.signaling(None).await;
    let reply = other.request(json!({"type": "join", "room": "hallway", "name": "Ida"})).await;
    assert_eq!(reply["type"], "joined", "{reply}");

    // The meeting's password hash never leaves the api.
    let (_, rules) = p.get(&t, "/v1/rooms/board/meeting").await;
    assert_eq!((rules["has_password"].as_bool(), rules["lobby"].as_bool()), (Some(true), Some(true)), "{rules}");
    assert_eq!(rules["moderators"], json!(["chair@example.org"]));
    assert!(!rules.to_string().contains("argon2"), "{rules}");
    let (status, _) = p.get(&t, "/v1/rooms/hallway/meeting").await;
    assert_eq!(status, 404);
}

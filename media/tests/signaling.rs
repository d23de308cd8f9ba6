//! Signaling end to end: WebSocket clients speaking `docs/signaling.md` to a real
//! node (actix-web + the hub + the SFU on loopback UDP), with webrtc-rs peers for
//! media. Browsers come in the end-to-end tests; these pin the protocol.

mod common;

use common::{Client, vp8_track};
use confer_media::password_attempts::PasswordAttempts;
use confer_media::room::RoomPolicy;
use confer_media::signaling::{Hub, SignalingLimits, websocket};
use futures_util::{SinkExt, StreamExt};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtp_transceiver::RTCRtpSenderId;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A node on loopback: HTTP (signaling) and UDP (media).
async fn start_node(max_participants: u32) -> SocketAddr {
    start_node_counting(max_participants, None).await
}

/// A node that counts wrong room passwords with `attempts`.
async fn start_node_counting(max_participants: u32, attempts: Option<PasswordAttempts>) -> SocketAddr {
    start_node_with(RoomPolicy { max_participants, ..RoomPolicy::default() }, attempts, SignalingLimits::default())
        .await
}

/// A node applying `policy`, holding sockets to `limits`.
async fn start_node_with(
    policy: RoomPolicy,
    attempts: Option<PasswordAttempts>,
    limits: SignalingLimits,
) -> SocketAddr {
    let (sfu, speakers) = common::start_node();
    let hub = Hub::new(policy, sfu, None);
    hub.limit_signaling(limits);
    if let Some(attempts) = attempts {
        hub.limit_password_attempts(attempts);
    }
    hub.spawn_ticker();
    hub.relay_speakers(speakers);
    let data = actix_web::web::Data::new(hub);
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new().app_data(data.clone()).route("/ws", actix_web::web::get().to(websocket))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    addr
}

/// A signaling client: requests get their reply; everything else is kept as a push.
struct Ws {
    socket: Socket,
    next_id: u64,
    pushes: Vec<Value>,
}

impl Ws {
    async fn connect(node: SocketAddr) -> Self {
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{node}/ws")).await.unwrap();
        Ws { socket, next_id: 1, pushes: vec![] }
    }

    /// A client whose connection comes from `source` (any 127.0.0.0/8 address: each
    /// is a network of its own to the password counter).
    async fn connect_from(node: SocketAddr, source: std::net::Ipv4Addr) -> Self {
        let tcp = tokio::net::TcpSocket::new_v4().unwrap();
        tcp.bind(SocketAddr::from((source, 0))).unwrap();
        let stream = tcp.connect(node).await.unwrap();
        let plain = tokio_tungstenite::MaybeTlsStream::Plain(stream);
        let (socket, _) = tokio_tungstenite::client_async(format!("ws://{node}/ws"), plain).await.unwrap();
        Ws { socket, next_id: 1, pushes: vec![] }
    }

    async fn send_raw(&mut self, text: &str) {
        self.socket.send(Message::text(text.to_owned())).await.unwrap();
    }

    async fn read(&mut self, wait: Duration) -> Option<Value> {
        match tokio::time::timeout(wait, self.socket.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => Some(serde_json::from_str(t.as_str()).unwrap()),
            _ => None,
        }
    }

    /// Sends a request and returns its reply.
    async fn request(&mut self, mut body: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        body["v"] = json!(1);
        body["id"] = json!(id);
        self.send_raw(&body.to_string()).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(Instant::now() < deadline, "no reply to {body}");
            let Some(frame) = self.read(Duration::from_millis(200)).await else { continue };
            if frame["re"] == json!(id) {
                return frame;
            }
            self.pushes.push(frame);
        }
    }

    /// Collects pushes that arrived.
    async fn drain(&mut self) {
        while let Some(frame) = self.read(Duration::from_millis(1)).await {
            self.pushes.push(frame);
        }
    }

    fn take_pushes(&mut self, kind: &str) -> Vec<Value> {
        let (taken, kept) = std::mem::take(&mut self.pushes).into_iter().partition(|p| p["type"] == kind);
        self.pushes = kept;
        taken
    }

    fn saw_event(&self, event_type: &str) -> bool {
        self.pushes.iter().any(|p| p["type"] == "event" && p["event"]["type"] == event_type)
    }
}

/// A participant: signaling, a publish connection with one video track, a subscribe connection.
struct Participant {
    ws: Ws,
    id: String,
    publisher: Client,
    subscriber: Client,
    sender: RTCRtpSenderId,
    frames: u16,
}

impl Participant {
    async fn join(node: SocketAddr, room: &str, name: &str) -> (Self, Value) {
        let mut ws = Ws::connect(node).await;
        let joined = ws.request(json!({"type": "join", "room": room, "name": name})).await;
        assert_eq!(joined["type"], "joined", "{joined}");
        let mut publisher = Client::new();
        let sender = publisher.pc.add_track(vp8_track()).unwrap();
        let id = joined["participant"].as_str().unwrap().to_owned();
        (Participant { ws, id, publisher, subscriber: Client::new(), sender, frames: 0 }, joined)
    }

    async fn start_media(&mut self) {
        let offer = self.publisher.pc.create_offer(None).unwrap();
        self.publisher.pc.set_local_description(Instant::now(), offer).unwrap();
        let sdp = self.publisher.pc.local_description().unwrap().sdp.clone();
        let answer = self.ws.request(json!({"type": "publish", "sdp": sdp})).await;
        assert_eq!(answer["type"], "publish_answer", "{answer}");
        let answer = RTCSessionDescription::answer(answer["sdp"].as_str().unwrap().to_owned()).unwrap();
        self.publisher.pc.set_remote_description(Instant::now(), answer).unwrap();
        let offer = self.ws.request(json!({"type": "subscribe"})).await;
        assert_eq!(offer["type"], "subscribe_offer", "{offer}");
        self.answer(offer["sdp"].as_str().unwrap().to_owned()).await;
    }

    async fn answer(&mut self, offer: String) {
        let pc = &mut self.subscriber.pc;
        pc.set_remote_description(Instant::now(), RTCSessionDescription::offer(offer).unwrap()).unwrap();
        let answer = pc.create_answer(None).unwrap();
        pc.set_local_description(Instant::now(), answer).unwrap();
        let sdp = pc.local_description().unwrap().sdp.clone();
        let ok = self.ws.request(json!({"type": "subscribe_answer", "sdp": sdp})).await;
        assert_eq!(ok["type"], "ok", "{ok}");
    }

    /// One round: send a frame once connected, move media, answer renegotiations.
    async fn step(&mut self) {
        if self.publisher.connected {
            self.frames += 1;
            let _ = common::try_frame(self.sender, &mut self.publisher, self.frames);
        }
        self.publisher.pump();
        self.subscriber.pump();
        self.ws.drain().await;
        for offer in self.ws.take_pushes("subscribe_offer") {
            self.answer(offer["sdp"].as_str().unwrap().to_owned()).await;
        }
    }
}

#[actix_web::test]
async fn two_participants_receive_each_others_video_and_chat_through_signaling() {
    let node = start_node(75).await;
    let (mut ann, joined) = Participant::join(node, "standup", "Ann").await;
    assert_eq!(joined["role"], "moderator", "with auth open the first to join moderates");
    let (mut bob, joined) = Participant::join(node, "standup", "Bob").await;
    assert_eq!(joined["role"], "participant");
    assert_eq!(joined["room"]["participants"].as_array().unwrap().len(), 2);
    ann.start_media().await;
    bob.start_media().await;

    let deadline = Instant::now() + Duration::from_secs(15);
    while ann.subscriber.rtp.len() < 20 || bob.subscriber.rtp.len() < 20 {
        assert!(
            Instant::now() < deadline,
            "ann got {} packets, bob {}",
            ann.subscriber.rtp.len(),
            bob.subscriber.rtp.len()
        );
        ann.step().await;
        bob.step().await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(ann.ws.saw_event("participant_joined"), "ann was told bob joined");
    assert!(bob.subscriber.rtp.iter().all(|p| p.payload[1..].starts_with(b"frame-")));

    let ok = ann.ws.request(json!({"type": "chat", "text": "hello bob"})).await;
    assert_eq!(ok["type"], "ok");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        bob.ws.drain().await;
        if let Some(chat) = bob.ws.take_pushes("chat").pop() {
            assert_eq!((chat["name"].as_str(), chat["text"].as_str()), (Some("Ann"), Some("hello bob")));
            assert_eq!(chat["from"], json!(ann.id));
            break;
        }
        assert!(Instant::now() < deadline, "the chat never reached bob");
    }
    // Leaving ends bob's media: ann is told.
    assert_eq!(bob.ws.request(json!({"type": "leave"})).await["type"], "ok");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ann.ws.saw_event("participant_left") {
        assert!(Instant::now() < deadline, "ann was not told bob left");
        ann.step().await;
    }
}

#[actix_web::test]
async fn a_locked_room_admits_a_newcomer_only_with_the_password_and_forgets_it_when_empty() {
    let node = start_node(75).await;
    let (mut ann, _) = Participant::join(node, "board", "Ann").await;
    assert_eq!(ann.ws.request(json!({"type": "lock", "password": "s3cret"})).await["type"], "ok");

    let mut cat = Ws::connect(node).await;
    let refused = cat.request(json!({"type": "join", "room": "board", "name": "Cat"})).await;
    assert_eq!((refused["type"].as_str(), refused["code"].as_str()), (Some("error"), Some("password_required")));
    let wrong = cat.request(json!({"type": "join", "room": "board", "name": "Cat", "password": "nope"})).await;
    assert_eq!(wrong["code"], "wrong_password");
    let admitted = cat.request(json!({"type": "join", "room": "board", "name": "Cat", "password": "s3cret"})).await;
    assert_eq!(admitted["type"], "joined", "{admitted}");
    assert_eq!(admitted["room"]["locked"], true);

    // A participant may not unlock; the moderator may not be removed by one.
    let not_allowed = cat.request(json!({"type": "unlock"})).await;
    assert_eq!(not_allowed["code"], "not_moderator");

    // Everyone leaves: the room is gone, and the next join opens a new, unlocked meeting.
    assert_eq!(cat.request(json!({"type": "leave"})).await["type"], "ok");
    assert_eq!(ann.ws.request(json!({"type": "leave"})).await["type"], "ok");
    let mut dan = Ws::connect(node).await;
    let fresh = dan.request(json!({"type": "join", "room": "board", "name": "Dan"})).await;
    assert_eq!(fresh["type"], "joined", "{fresh}");
    assert_eq!((fresh["room"]["locked"].as_bool(), fresh["role"].as_str()), (Some(false), Some("moderator")));
}

/// The test Redis (the infra scripts start one on loopback).
fn redis_url() -> String {
    std::env::var("CONFER_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Deletes the counts a test left under its own key prefix.
async fn forget_counts(prefix: &str) {
    let mut redis = redis::Client::open(redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:*")).query_async(&mut redis).await.unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut redis).await.unwrap();
    }
}

#[actix_web::test]
async fn the_sixth_wrong_password_in_a_window_is_refused_even_when_right_and_the_count_is_in_redis() {
    // A tenant of its own (a fresh key prefix), and a two-second window instead of a minute.
    let prefix = format!("confer-test:{}", uuid::Uuid::new_v4().simple());
    let window = Duration::from_secs(2);
    let attempts = PasswordAttempts::connect(&redis_url(), &prefix, 5, 50, window).await.expect("the test Redis");
    let node = start_node_counting(75, Some(attempts.clone())).await;
    let (mut ann, _) = Participant::join(node, "vault", "Ann").await;
    assert_eq!(ann.ws.request(json!({"type": "lock", "password": "s3cret"})).await["type"], "ok");

    let mut eve = Ws::connect(node).await;
    for _ in 0..5 {
        let wrong = eve.request(json!({"type": "join", "room": "vault", "name": "Eve", "password": "guess"})).await;
        assert_eq!(wrong["code"], "wrong_password", "{wrong}");
    }
    // The count is in Redis, where every node of the tenant sees it.
    let key = attempts.key("vault", "127.0.0.1".parse().unwrap());
    let mut redis = redis::Client::open(redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let (count, ttl): (u32, i64) = redis::pipe().get(&key).ttl(&key).query_async(&mut redis).await.unwrap();
    assert_eq!(count, 5);
    assert!((1..=2).contains(&ttl), "the window runs from the first wrong try: ttl {ttl}");

    // The sixth try is refused, even with the right password; and so on another socket.
    let refused = eve.request(json!({"type": "join", "room": "vault", "name": "Eve", "password": "s3cret"})).await;
    assert_eq!(refused["code"], "too_many_attempts", "{refused}");
    let mut again = Ws::connect(node).await;
    let refused = again.request(json!({"type": "join", "room": "vault", "name": "Eve", "password": "s3cret"})).await;
    assert_eq!(refused["code"], "too_many_attempts", "{refused}");
    assert_eq!(ann.ws.request(json!({"type": "chat", "text": "still here"})).await["type"], "ok", "ann is unaffected");

    // Once the window is over, the right password works.
    tokio::time::sleep(window + Duration::from_millis(300)).await;
    let admitted = eve.request(json!({"type": "join", "room": "vault", "name": "Eve", "password": "s3cret"})).await;
    assert_eq!(admitted["type"], "joined", "{admitted}");
    let _: () = redis::cmd("DEL").arg(&key).query_async(&mut redis).await.unwrap();
}

#[actix_web::test]
async fn fifty_wrong_passwords_at_once_get_at_most_the_limit_through() {
    let prefix = format!("confer-test:{}", uuid::Uuid::new_v4().simple());
    let attempts = PasswordAttempts::connect(&redis_url(), &prefix, 5, 500, Duration::from_secs(30))
        .await
        .expect("the test Redis");
    let node = start_node_counting(75, Some(attempts.clone())).await;
    let (mut ann, _) = Participant::join(node, "vault", "Ann").await;
    assert_eq!(ann.ws.request(json!({"type": "lock", "password": "s3cret"})).await["type"], "ok");

    let mut sockets = Vec::new();
    for _ in 0..50 {
        sockets.push(Ws::connect(node).await);
    }
    let tries = sockets
        .iter_mut()
        .map(|ws| ws.request(json!({"type": "join", "room": "vault", "name": "Eve", "password": "guess"})));
    let replies = futures_util::future::join_all(tries).await;
    let wrong = replies.iter().filter(|r| r["code"] == "wrong_password").count();
    let refused = replies.iter().filter(|r| r["code"] == "too_many_attempts").count();
    assert_eq!((wrong, refused), (5, 45), "counted before checked: {replies:?}");
    forget_counts(&prefix).await;
}

#[actix_web::test]
async fn one_ipv6_64_shares_its_tries_and_a_right_password_gives_its_try_back() {
    let prefix = format!("confer-test:{}", uuid::Uuid::new_v4().simple());
    let attempts = PasswordAttempts::connect(&redis_url(), &prefix, 3, 100, Duration::from_secs(30))
        .await
        .expect("the test Redis");
    // Addresses of one /64 count together; another /64 has its own tries.
    for host in 1..=3u16 {
        let address = std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 7, 0, 0, 0, host);
        let _wrong = attempts.reserve("vault", address.into()).await.expect("within the limit");
    }
    let same_64 = "2001:db8:0:7:ffff::1".parse().unwrap();
    assert!(matches!(
        attempts.reserve("vault", same_64).await,
        Err(confer_media::password_attempts::AttemptsError::TooMany { .. })
    ));
    let other_64 = "2001:db8:0:8::1".parse().unwrap();
    let right = attempts.reserve("vault", other_64).await.expect("another /64");
    // A try that was right is given back: it does not count toward the limit.
    attempts.refund(right).await.unwrap();
    let mut redis = redis::Client::open(redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let count: u32 = redis::cmd("GET").arg(attempts.key("vault", other_64)).query_async(&mut redis).await.unwrap();
    assert_eq!(count, 0);
    assert_eq!(attempts.key("vault", same_64), attempts.key("vault", "2001:db8:0:7::1".parse().unwrap()));
    forget_counts(&prefix).await;
}

#[actix_web::test]
async fn tries_sprayed_from_many_addresses_lock_the_rooms_password_and_its_moderators_are_told() {
    let prefix = format!("confer-test:{}", uuid::Uuid::new_v4().simple());
    // Two tries per address, six per room from everywhere.
    let attempts =
        PasswordAttempts::connect(&redis_url(), &prefix, 2, 6, Duration::from_secs(30)).await.expect("the test Redis");
    let node = start_node_counting(75, Some(attempts.clone())).await;
    let (mut ann, _) = Participant::join(node, "vault", "Ann").await;
    assert_eq!(ann.ws.request(json!({"type": "lock", "password": "s3cret"})).await["type"], "ok");
    let (mut dee, _) = (Ws::connect(node).await, ());
    assert_eq!(
        dee.request(json!({"type": "join", "room": "vault", "name": "Dee", "password": "s3cret"})).await["type"],
        "joined"
    );

    // Three addresses, two wrong tries each: the room's six.
    for last in 2..=4u8 {
        let mut eve = Ws::connect_from(node, std::net::Ipv4Addr::new(127, 0, 0, last)).await;
        for _ in 0..2 {
            let wrong = eve.request(json!({"type": "join", "room": "vault", "name": "Eve", "password": "guess"})).await;
            assert_eq!(wrong["code"], "wrong_password", "{wrong}");
        }
    }
    // A fresh address with the right password: the room's tries are locked for everyone.
    let mut late = Ws::connect_from(node, std::net::Ipv4Addr::new(127, 0, 0, 9)).await;
    let refused = late.request(json!({"type": "join", "room": "vault", "name": "Fay", "password": "s3cret"})).await;
    assert_eq!(refused["code"], "too_many_attempts", "{refused}");
    let again = late.request(json!({"type": "join", "room": "vault", "name": "Fay", "password": "s3cret"})).await;
    assert_eq!(again["code"], "too_many_attempts", "{again}");
    // The moderator is told, once; the participant who does not moderate is not.
    let deadline = Instant::now() + Duration::from_secs(5);
    while ann.ws.pushes.iter().all(|p| p["type"] != "password_tries_locked") {
        assert!(Instant::now() < deadline, "the moderator was not told");
        ann.ws.drain().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let told = ann.ws.take_pushes("password_tries_locked");
    assert_eq!((told.len(), told[0]["room"].as_str()), (1, Some("vault")), "{told:?}");
    assert!(told[0]["retry_after_seconds"].as_u64().is_some_and(|s| (1..=30).contains(&s)), "{told:?}");
    dee.drain().await;
    assert!(dee.pushes.iter().all(|p| p["type"] != "password_tries_locked"), "{:?}", dee.pushes);
    // Joins without a password are not tries: the room itself stays usable.
    assert_eq!(ann.ws.request(json!({"type": "chat", "text": "still here"})).await["type"], "ok");
    forget_counts(&prefix).await;
}

#[actix_web::test]
async fn the_one_over_the_cap_is_told_the_room_is_full_and_a_removed_participant_is_disconnected() {
    let node = start_node(2).await;
    let (mut ann, _) = Participant::join(node, "small", "Ann").await;
    let (mut bob, _) = Participant::join(node, "small", "Bob").await;
    let mut cat = Ws::connect(node).await;
    let full = cat.request(json!({"type": "join", "room": "small", "name": "Cat"})).await;
    assert_eq!(full["code"], "room_full");

    let removed = ann.ws.request(json!({"type": "remove", "participant": bob.id})).await;
    assert_eq!(removed["type"], "ok");
    // bob hears why, then his socket closes.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout(Duration::from_millis(200), bob.ws.socket.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => bob.ws.pushes.push(serde_json::from_str(t.as_str()).unwrap()),
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => break,
            _ => {}
        }
        assert!(Instant::now() < deadline, "bob's socket was not closed");
    }
    assert!(
        bob.ws.pushes.iter().any(|p| p["event"]["type"] == "participant_left" && p["event"]["reason"] == "removed")
    );
    // Now there is a seat for cat.
    assert_eq!(cat.request(json!({"type": "join", "room": "small", "name": "Cat"})).await["type"], "joined");
}

#[actix_web::test]
async fn unknown_or_malformed_frames_get_an_error_frame_and_change_nothing() {
    let node = start_node(75).await;
    let mut ws = Ws::connect(node).await;
    for (text, code) in [
        ("hello", "malformed_frame"),
        (r#"{"v":1,"id":1,"type":"teleport"}"#, "malformed_frame"),
        (r#"{"v":7,"id":2,"type":"leave"}"#, "unsupported_version"),
        (r#"{"v":1,"id":3,"type":"publish","sdp":"x"}"#, "not_joined"),
        (r#"{"v":1,"id":4,"type":"join","room":"../etc","name":"Eve"}"#, "invalid_room_name"),
        (r#"{"v":1,"id":5,"type":"join","room":"ok","name":""}"#, "invalid_display_name"),
    ] {
        ws.send_raw(text).await;
        let reply = ws.read(Duration::from_secs(5)).await.expect("an error frame");
        assert_eq!((reply["type"].as_str(), reply["code"].as_str()), (Some("error"), Some(code)), "{text}");
        assert!(!reply["message"].as_str().unwrap().is_empty());
    }
    // Nothing changed: the room was never opened, and the session can still join.
    let joined = ws.request(json!({"type": "join", "room": "ok", "name": "Eve"})).await;
    assert_eq!((joined["type"].as_str(), joined["role"].as_str()), (Some("joined"), Some("moderator")));
    assert_eq!(joined["room"]["participants"].as_array().unwrap().len(), 1);
    let again = ws.request(json!({"type": "join", "room": "ok", "name": "Eve"})).await;
    assert_eq!(again["code"], "already_joined");
    let bad_sdp = ws.request(json!({"type": "publish", "sdp": "not sdp"})).await;
    assert_eq!(bad_sdp["code"], "media_error");
}

#[actix_web::test]
async fn a_dropped_participant_rejoins_with_their_token_as_the_same_participant() {
    let node = start_node(75).await;
    let (mut bob, _) = Participant::join(node, "retro", "Bob").await;
    let mut ann = Ws::connect(node).await;
    let joined = ann.request(json!({"type": "join", "room": "retro", "name": "Ann"})).await;
    let (id, token) = (joined["participant"].clone(), joined["reconnect_token"].clone());

    // Ann's network drops: the socket closes without a goodbye.
    drop(ann);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !bob.ws.saw_event("participant_away") {
        assert!(Instant::now() < deadline, "bob was not told ann is away");
        bob.ws.drain().await;
    }
    // She comes back with her token: the same seat, no duplicate.
    let mut again = Ws::connect(node).await;
    let rejoined =
        again.request(json!({"type": "join", "room": "retro", "name": "Ann", "reconnect_token": token})).await;
    assert_eq!(rejoined["type"], "joined", "{rejoined}");
    assert_eq!(rejoined["participant"], id, "the same participant");
    assert_eq!(rejoined["room"]["participants"].as_array().unwrap().len(), 2, "no duplicate");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !bob.ws.saw_event("participant_rejoined") {
        assert!(Instant::now() < deadline, "bob was not told ann is back");
        bob.ws.drain().await;
    }
    // A made-up token is refused and opens nothing.
    let mut mallory = Ws::connect(node).await;
    let refused =
        mallory.request(json!({"type": "join", "room": "retro", "name": "M", "reconnect_token": "not-a-token"})).await;
    assert_eq!(refused["type"], "error");
}

/// Reads frames until the socket closes; the error codes seen on the way.
async fn codes_until_closed(ws: &mut Ws) -> Vec<String> {
    let mut codes = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "the socket stayed open; codes so far: {codes:?}");
        match tokio::time::timeout(Duration::from_secs(5), ws.socket.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let frame: Value = serde_json::from_str(t.as_str()).unwrap();
                if let Some(code) = frame["code"].as_str() {
                    codes.push(code.to_owned());
                }
            }
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return codes,
            Ok(Some(Ok(_))) => {}
            Err(_) => panic!("nothing from the socket for 5 s, and it did not close"),
        }
    }
}

#[actix_web::test]
async fn a_chat_flood_is_cut_to_the_sockets_budget_and_a_frame_flood_closes_the_socket() {
    let limits = SignalingLimits { frames_per_second: 5, chat_per_second: 1, refusals_before_close: 20 };
    let node = start_node_with(RoomPolicy::default(), None, limits).await;
    let mut flooder = Ws::connect(node).await;
    assert_eq!(flooder.request(json!({"type": "join", "room": "flood", "name": "Flo"})).await["type"], "joined");
    let mut reader = Ws::connect(node).await;
    assert_eq!(reader.request(json!({"type": "join", "room": "flood", "name": "Rea"})).await["type"], "joined");

    // Chat: a burst of five, then refused with its own code; nobody gets the rest.
    let mut answers = Vec::new();
    for i in 0..8 {
        let reply = flooder.request(json!({"type": "chat", "text": format!("spam {i}")})).await;
        answers.push(reply["code"].as_str().unwrap_or(reply["type"].as_str().unwrap()).to_owned());
    }
    assert_eq!(&answers[..5], ["ok"; 5], "{answers:?}");
    assert!(answers[5..].iter().all(|a| a == "too_many_messages"), "{answers:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    reader.drain().await;
    assert_eq!(reader.take_pushes("chat").len(), 5, "only the chat within the budget reached the room");

    // Frames of any kind: over the budget each is refused, and a socket that keeps
    // going is closed.
    for _ in 0..60 {
        flooder
            .send_raw(r#"{"v":1,"type":"media","audio_muted":true,"video_muted":false,"screen_sharing":false}"#)
            .await;
    }
    let codes = codes_until_closed(&mut flooder).await;
    assert!(codes.iter().any(|c| c == "too_many_frames"), "{codes:?}");

    // The room goes on, and another socket from the same address is not held to the closed one's budget.
    let mut again = Ws::connect(node).await;
    assert_eq!(again.request(json!({"type": "join", "room": "elsewhere", "name": "Flo"})).await["type"], "joined");
    assert_eq!(reader.request(json!({"type": "chat", "text": "still here"})).await["type"], "ok");
}

#[actix_web::test]
async fn a_frame_over_the_size_limit_is_refused_and_closes_the_socket() {
    let node = start_node(75).await;
    let mut ws = Ws::connect(node).await;
    let huge = format!(r#"{{"v":1,"id":1,"type":"chat","text":"{}"}}"#, "x".repeat(300 * 1024));
    ws.send_raw(&huge).await;
    let codes = codes_until_closed(&mut ws).await;
    assert_eq!(codes, ["frame_too_large"]);
}

#[actix_web::test]
async fn a_publish_offer_with_too_many_media_sections_is_refused() {
    let node = start_node(75).await;
    let mut ws = Ws::connect(node).await;
    assert_eq!(ws.request(json!({"type": "join", "room": "m", "name": "Eve"})).await["type"], "joined");
    let mut sdp = String::from("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
    for i in 0..50 {
        sdp.push_str(&format!("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:{i}\r\n"));
    }
    let reply = ws.request(json!({"type": "publish", "sdp": sdp})).await;
    assert_eq!(reply["code"], "too_many_media_sections", "{reply}");
}

#[actix_web::test]
async fn a_rooms_lobby_holds_at_most_its_cap_and_the_next_knock_is_refused() {
    let limits = SignalingLimits { frames_per_second: 1000, chat_per_second: 10, refusals_before_close: 200 };
    let node = start_node_with(RoomPolicy { lobby: true, ..RoomPolicy::default() }, None, limits).await;
    let mut host = Ws::connect(node).await;
    assert_eq!(host.request(json!({"type": "join", "room": "l", "name": "Host"})).await["role"], "moderator");
    let mut knockers = Vec::new();
    for i in 0..confer_media::room::MAX_WAITING {
        let mut ws = Ws::connect(node).await;
        let reply = ws.request(json!({"type": "join", "room": "l", "name": format!("K{i}")})).await;
        assert_eq!(reply["type"], "waiting", "{reply}");
        knockers.push(ws);
    }
    let mut one_more = Ws::connect(node).await;
    let reply = one_more.request(json!({"type": "join", "room": "l", "name": "Late"})).await;
    assert_eq!(reply["code"], "waiting_list_full", "{reply}");
    // Once someone is let in, there is room to knock again.
    host.drain().await;
    let knock = host.pushes.iter().find(|p| p["event"]["type"] == "participant_knocking").cloned().expect("a knock");
    assert_eq!(
        host.request(json!({"type": "admit", "participant": knock["event"]["participant"]})).await["type"],
        "ok"
    );
    let reply = one_more.request(json!({"type": "join", "room": "l", "name": "Late"})).await;
    assert_eq!(reply["type"], "waiting", "{reply}");
}

//! The meeting page in real browsers: three headless Chromiums with fake cameras
//! and microphones join one room on a real `confer-media` node, and each one's
//! `getStats()` shows video frames decoded and audio packets received from both
//! others; a chat message typed in one page appears in the other two.

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `confer-media` on free ports; returns it and its site's address.
fn start_node() -> (Killed, String) {
    let env = [("CONFER_MEDIA_LISTEN", "127.0.0.1:0"), ("CONFER_MEDIA_UDP", "127.0.0.1:0")];
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let (child, addr) = confer_tests::spawn_logged("confer-media", &env);
    (Killed(child), addr)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Starts chromedriver; returns it and its URL once it answers.
async fn start_chromedriver() -> (Killed, String) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian package chromium-driver) must be installed");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{url}/status")).await.is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (Killed(child), url)
}

async fn browser(driver: &str, profile: &std::path::Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    // chromedriver is plain HTTP on loopback: no TLS stack needed.
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver)
        .await
        .expect("a Chromium session")
}

#[tokio::test]
async fn three_browsers_see_and_hear_each_other_and_chat() {
    let (_node, site) = start_node();
    let (_driver, driver_url) = start_chromedriver().await;
    let profiles = tempdir();
    let names = ["Ann", "Bob", "Cat"];
    let mut browsers = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let profile = profiles.join(format!("profile-{i}"));
        std::fs::create_dir_all(&profile).unwrap();
        let b = browser(&driver_url, &profile).await;
        b.goto(&format!("http://{site}/standup?name={name}&prejoin=0")).await.unwrap();
        browsers.push(b);
    }

    // Everyone receives video frames and audio packets from both others.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = Vec::new();
    loop {
        last.clear();
        for b in &browsers {
            let stats = b.execute("return window.confer ? window.confer.stats() : {}", vec![]).await.unwrap();
            last.push(stats);
        }
        let everyone_sees_everyone = last.iter().all(|stats| {
            let remotes: Vec<&Value> = stats.as_object().map(|o| o.values().collect()).unwrap_or_default();
            remotes.len() == 2
                && remotes.iter().all(|r| {
                    r["video"]["framesDecoded"].as_u64().unwrap_or(0) > 10
                        && r["audio"]["packetsReceived"].as_u64().unwrap_or(0) > 10
                })
        });
        if everyone_sees_everyone {
            break;
        }
        assert!(Instant::now() < deadline, "not everyone receives everyone: {last:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // A chat message from Ann reaches Bob and Cat.
    browsers[0]
        .execute(
            "document.getElementById('chat-text').value = 'hello from Ann'; \
             document.getElementById('chat-form').requestSubmit(); return true;",
            vec![],
        )
        .await
        .unwrap();
    for b in &browsers[1..] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = b.execute("return document.getElementById('messages').textContent", vec![]).await.unwrap();
            if text.as_str().unwrap_or("").contains("Ann: hello from Ann") {
                break;
            }
            assert!(Instant::now() < deadline, "chat did not arrive: {text}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for b in browsers {
        let _ = b.close().await;
    }
    let _ = std::fs::remove_dir_all(&profiles);
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("confer-chromium-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `script` in the page until it returns true.
async fn wait_for(b: &Client, script: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if b.execute(script, vec![]).await.ok().and_then(|v| v.as_bool()) == Some(true) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const IN_MEETING: &str = "return !document.getElementById('meeting').hidden";

#[tokio::test]
async fn a_locked_room_admits_a_newcomer_with_the_password_and_the_moderator_mutes_all_and_ends_it() {
    let (_node, site) = start_node();
    let (_driver, driver_url) = start_chromedriver().await;
    let profiles = tempdir();
    let open = |i: usize| {
        let profile = profiles.join(format!("profile-{i}"));
        std::fs::create_dir_all(&profile).unwrap();
        let driver_url = driver_url.clone();
        async move { browser(&driver_url, &profile).await }
    };

    let ann = open(0).await;
    ann.goto(&format!("http://{site}/board?name=Ann&prejoin=0")).await.unwrap();
    wait_for(&ann, IN_MEETING, "ann to be in the meeting").await;
    wait_for(&ann, "return !document.getElementById('lock').hidden", "the moderator's lock button").await;
    ann.execute("window.prompt = () => 'letmein'; document.getElementById('lock').click(); return true;", vec![])
        .await
        .unwrap();
    wait_for(&ann, "return document.getElementById('lock').textContent === 'Unlock room'", "the room to lock").await;

    // Dan arrives without the password: told, and asked for it.
    let dan = open(1).await;
    dan.goto(&format!("http://{site}/board?name=Dan&prejoin=0")).await.unwrap();
    wait_for(
        &dan,
        "return document.getElementById('notice').textContent.includes('locked') \
         && !document.getElementById('password-row').hidden",
        "dan to be told the room is locked",
    )
    .await;
    assert_eq!(dan.execute(IN_MEETING, vec![]).await.unwrap(), json!(false), "dan is not let in");
    // With the password, Dan is admitted, and Ann sees him.
    dan.execute(
        "document.getElementById('password').value = 'letmein'; \
         document.getElementById('join-form').requestSubmit(); return true;",
        vec![],
    )
    .await
    .unwrap();
    wait_for(&dan, IN_MEETING, "dan to be admitted with the password").await;
    wait_for(&ann, "return document.getElementById('people-list').textContent.includes('Dan')", "ann to see dan").await;

    // The moderator mutes everyone: Dan's microphone goes off.
    wait_for(&dan, "return document.getElementById('toggle-mic').textContent === 'Mute'", "dan's mic on").await;
    ann.execute("document.getElementById('mute-all').click(); return true;", vec![]).await.unwrap();
    wait_for(
        &dan,
        "return document.getElementById('toggle-mic').textContent === 'Unmute' \
         && window.confer.state.local.getAudioTracks().every((t) => !t.enabled)",
        "dan to be muted by the moderator",
    )
    .await;

    // The moderator ends the meeting for all: Dan is told and out; the room is gone, and the
    // next to come opens a new meeting, unlocked, as its moderator.
    ann.execute("window.confirm = () => true; document.getElementById('end-meeting').click(); return true;", vec![])
        .await
        .unwrap();
    wait_for(
        &dan,
        "return document.getElementById('notice').textContent.includes('ended') \
         && document.getElementById('meeting').hidden",
        "dan to be told the meeting ended",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let eve = open(2).await;
    eve.goto(&format!("http://{site}/board?name=Eve&prejoin=0")).await.unwrap();
    wait_for(&eve, IN_MEETING, "eve to walk straight in: no password any more").await;
    wait_for(
        &eve,
        "return !document.getElementById('lock').hidden && document.getElementById('lock').textContent === 'Lock room'",
        "eve to moderate a new, unlocked meeting",
    )
    .await;
    for b in [ann, dan, eve] {
        let _ = b.close().await;
    }
    let _ = std::fs::remove_dir_all(&profiles);
}

/// A coturn on loopback with a fresh secret; returns it, its port and the secret.
fn start_coturn() -> (Killed, u16, String) {
    let port = free_port();
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let relay_base = 40_000 + (port % 200) * 100;
    let child = Command::new("turnserver")
        .args([
            "-n",
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            &format!("--listening-port={port}"),
            "--use-auth-secret",
            &format!("--static-auth-secret={secret}"),
            "--realm=confer.test",
            "--allow-loopback-peers",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
            &format!("--min-port={relay_base}"),
            &format!("--max-port={}", relay_base + 99),
            "--log-file=stdout",
            "--simple-log",
            &format!("--pidfile=/tmp/confer-turn-{port}.pid"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("turnserver (Debian package coturn) must be installed");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "coturn did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Killed(child), port, secret)
}

#[tokio::test]
async fn a_participant_forced_to_relay_sends_and_receives_through_coturn() {
    let (_coturn, turn_port, secret) = start_coturn();
    let env = [
        ("CONFER_MEDIA_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ("CONFER_MEDIA_UDP".to_owned(), "127.0.0.1:0".to_owned()),
        ("CONFER_TURN_URLS".to_owned(), format!("turn:127.0.0.1:{turn_port}?transport=udp")),
        ("CONFER_TURN_SECRET".to_owned(), secret),
    ];
    let (node, site) = confer_tests::spawn_logged("confer-media", &env);
    let _node = Killed(node);
    let (_driver, driver_url) = start_chromedriver().await;
    let profiles = tempdir();
    let mut browsers = Vec::new();
    for (i, query) in ["name=Ann&prejoin=0", "name=Rita&prejoin=0&relay=1"].iter().enumerate() {
        let profile = profiles.join(format!("profile-{i}"));
        std::fs::create_dir_all(&profile).unwrap();
        let b = browser(&driver_url, &profile).await;
        b.goto(&format!("http://{site}/relay-check?{query}")).await.unwrap();
        browsers.push(b);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut stats = Vec::new();
        for b in &browsers {
            stats.push(b.execute("return window.confer ? window.confer.stats() : {}", vec![]).await.unwrap());
        }
        let ok = stats.iter().all(|s| {
            let remotes: Vec<&Value> = s.as_object().map(|o| o.values().collect()).unwrap_or_default();
            remotes.len() == 1
                && remotes.iter().all(|r| {
                    r["video"]["framesDecoded"].as_u64().unwrap_or(0) > 10
                        && r["audio"]["packetsReceived"].as_u64().unwrap_or(0) > 10
                })
        });
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "media did not flow both ways: {stats:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let transports = browsers[1].execute("return window.confer.transports()", vec![]).await.unwrap();
    assert_eq!(transports, json!({"publish": "relay", "subscribe": "relay"}), "Rita's media went through coturn");
    let direct = browsers[0].execute("return window.confer.transports()", vec![]).await.unwrap();
    assert_eq!(direct["publish"], "host", "Ann's did not");
    for b in browsers {
        let _ = b.close().await;
    }
    let _ = std::fs::remove_dir_all(&profiles);
}

/// Video frames `viewer` has decoded from each remote participant.
async fn frames_from(viewer: &Client) -> Value {
    viewer
        .execute(
            "return window.confer.stats().then((s) => Object.fromEntries(Object.entries(s).map(([k, v]) => \
             [k, v.video ? v.video.framesDecoded : 0])))",
            vec![],
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_participant_whose_connection_drops_comes_back_as_the_same_participant() {
    let (_node, site) = start_node();
    let (_driver, driver_url) = start_chromedriver().await;
    let profiles = tempdir();
    let mut browsers = Vec::new();
    for (i, name) in ["Ann", "Bob"].iter().enumerate() {
        let profile = profiles.join(format!("profile-{i}"));
        std::fs::create_dir_all(&profile).unwrap();
        let b = browser(&driver_url, &profile).await;
        b.goto(&format!("http://{site}/sync?name={name}&prejoin=0")).await.unwrap();
        browsers.push(b);
    }
    let (ann, bob) = (&browsers[0], &browsers[1]);
    wait_for(
        bob,
        "return window.confer.stats().then((s) => Object.values(s).some((r) => r.video && r.video.framesDecoded > 10))",
        "bob to see ann",
    )
    .await;
    let ann_id = ann.execute("return window.confer.state.me", vec![]).await.unwrap();

    // Ann's signaling connection drops (as on a network change).
    ann.execute("window.confer.state.ws.close(); return true;", vec![]).await.unwrap();
    wait_for(
        bob,
        "return document.getElementById('people-list').textContent.includes('reconnecting')",
        "bob to see ann reconnecting",
    )
    .await;
    wait_for(
        bob,
        "return !document.getElementById('people-list').textContent.includes('reconnecting')",
        "ann to be back",
    )
    .await;
    assert_eq!(ann.execute("return window.confer.state.me", vec![]).await.unwrap(), ann_id, "the same participant");
    let tiles = bob.execute("return document.querySelectorAll('#grid .tile').length", vec![]).await.unwrap();
    assert_eq!(tiles, json!(2), "no duplicate tile at bob's");
    let people = bob.execute("return document.querySelectorAll('#people-list li').length", vec![]).await.unwrap();
    assert_eq!(people, json!(2));

    // Her media flows again: bob's decoded frames from her keep growing.
    let key = ann_id.as_str().unwrap().to_owned();
    let before = frames_from(bob).await[&key].as_u64().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = frames_from(bob).await[&key].as_u64().unwrap_or(0);
        if now > before + 20 {
            break;
        }
        assert!(Instant::now() < deadline, "ann's video did not come back: {before} -> {now}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for b in browsers {
        let _ = b.close().await;
    }
    let _ = std::fs::remove_dir_all(&profiles);
}

//! The meeting page in real browsers: three headless Chromiums with fake cameras
//! and microphones join one room on a real `confer-media` node, and each one's
//! `getStats()` shows video frames decoded and audio packets received from both
//! others; a chat message typed in one page appears in the other two.

mod browsers;

use browsers::{
    IN_MEETING, Killed, browser, chromium, frames_from, start_chromedriver, start_coturn, start_node, tempdir,
    tone_wav, wait_for,
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

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
    let devices_off = dan
        .execute("return window.confer.state.local.getTracks().every((t) => t.readyState === 'ended')", vec![])
        .await
        .unwrap();
    assert_eq!(devices_off, json!(true), "dan's camera and microphone are off once the meeting ended");
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

#[tokio::test]
async fn a_participant_forced_to_relay_sends_and_receives_through_coturn() {
    let coturn = start_coturn();
    let env = [
        ("CONFER_MEDIA_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ("CONFER_MEDIA_UDP".to_owned(), "127.0.0.1:0".to_owned()),
        ("CONFER_TURN_URLS".to_owned(), format!("turn:127.0.0.1:{}?transport=udp", coturn.port)),
        ("CONFER_TURN_SECRET".to_owned(), coturn.secret.clone()),
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
        if Instant::now() >= deadline {
            let transports = browsers[1]
                .execute(
                    "const s = window.confer.state; return window.confer.transports().then((t) => ({ t, \
                     publish: s.publisher && s.publisher.connectionState, \
                     subscribe: s.subscriber && s.subscriber.connectionState }))",
                    vec![],
                )
                .await;
            let ann = browsers[0]
                .execute(
                    "const s = window.confer.state; return { sub: s.subscriber && s.subscriber.connectionState, \
                     signaling: s.subscriber && s.subscriber.signalingState, \
                     mids: s.subscriber && s.subscriber.getTransceivers().map((t) => [t.mid, t.direction, t.currentDirection, t.receiver.track.readyState]), \
                     tiles: [...s.tiles.keys()], people: [...s.people.keys()] }",
                    vec![],
                )
                .await;
            panic!(
                "media did not flow both ways: {stats:?}; Rita's transports: {transports:?}; Ann: {ann:?}; coturn: {}",
                coturn.log_tail()
            );
        }
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

/// Tabs through the page until the control `id` has the focus, then presses Enter.
async fn press_by_keyboard(b: &fantoccini::Client, id: &str) {
    use fantoccini::key::Key;
    let body = b.find(fantoccini::Locator::Css("body")).await.unwrap();
    body.click().await.unwrap();
    for _ in 0..40 {
        let focused = b.execute("return document.activeElement && document.activeElement.id", vec![]).await.unwrap();
        if focused == json!(id) {
            b.active_element().await.unwrap().send_keys(&Key::Enter.to_string()).await.unwrap();
            return;
        }
        b.active_element().await.unwrap().send_keys(&Key::Tab.to_string()).await.unwrap();
    }
    panic!("the control {id} cannot be reached with Tab");
}

#[tokio::test]
async fn the_one_talking_is_the_active_speaker_and_a_shared_screen_reaches_the_others() {
    let (_node, site) = start_node();
    let (_driver, driver_url) = start_chromedriver().await;
    let profiles = tempdir();
    // Both microphones play a steady tone: whoever is not muted is talking.
    let tone = format!("--use-file-for-fake-audio-capture={}", tone_wav(&profiles).display());
    let open = |i: usize| {
        let profile = profiles.join(format!("profile-{i}"));
        std::fs::create_dir_all(&profile).unwrap();
        let (driver_url, tone) = (driver_url.clone(), tone.clone());
        async move { chromium(&driver_url, &profile, &[tone]).await }
    };
    // Ann is alone and talking: she is the speaker.
    let ann = open(0).await;
    ann.goto(&format!("http://{site}/review?name=Ann&prejoin=0")).await.unwrap();
    wait_for(&ann, IN_MEETING, "ann to be in").await;
    let ann_id = ann.execute("return window.confer.state.me", vec![]).await.unwrap();
    let ann_speaks = format!("return window.confer.state.speaker === {ann_id}");
    wait_for(&ann, &ann_speaks, "ann, alone and talking, to be the speaker").await;

    // Bob comes in and is told at once who is speaking.
    let bob = open(1).await;
    bob.goto(&format!("http://{site}/review?name=Bob&prejoin=0")).await.unwrap();
    wait_for(&bob, IN_MEETING, "bob to be in").await;
    let bob_id = bob.execute("return window.confer.state.me", vec![]).await.unwrap();
    let told = bob.execute("return window.confer.state.diagnostics.find((d) => d.includes('joined as'))", vec![]).await;
    let told = told.unwrap().as_str().unwrap_or_default().to_owned();
    assert!(
        told.ends_with(&format!("joined as {}, speaker {}", bob_id.as_str().unwrap(), ann_id.as_str().unwrap())),
        "bob's join told him ann is speaking: {told}"
    );
    wait_for(
        &bob,
        "return window.confer.stats().then((s) => Object.values(s).some((r) => r.audio && r.audio.packetsReceived > 20))",
        "bob to hear ann",
    )
    .await;
    // Bob mutes, from the keyboard alone (Tab to the button, Enter): Ann is the only
    // one talking, and both pages say so.
    press_by_keyboard(&bob, "toggle-mic").await;
    wait_for(&bob, "return window.confer.state.micMuted === true", "bob's microphone to be muted by keyboard").await;
    for b in [&ann, &bob] {
        wait_for(b, &ann_speaks, "ann to be the speaker").await;
    }
    let highlighted = bob
        .execute("return [...document.querySelectorAll('#grid .tile.speaking')].map((t) => t.dataset.tile)", vec![])
        .await
        .unwrap();
    assert_eq!(highlighted, json!([ann_id]), "bob's page highlights ann's tile");
    let browsers = [ann, bob];
    let (ann, bob) = (&browsers[0], &browsers[1]);

    // Ann mutes and Bob unmutes: Bob takes over.
    ann.execute("document.getElementById('toggle-mic').click(); return true;", vec![]).await.unwrap();
    bob.execute("document.getElementById('toggle-mic').click(); return true;", vec![]).await.unwrap();
    for b in [ann, bob] {
        wait_for(b, &format!("return window.confer.state.speaker === {bob_id}"), "bob to be the speaker").await;
    }
    let highlighted = ann
        .execute("return [...document.querySelectorAll('#grid .tile.speaking')].map((t) => t.dataset.tile)", vec![])
        .await
        .unwrap();
    assert_eq!(highlighted, json!([bob_id]), "ann's page highlights bob's tile");

    // Ann shares her screen: Bob gets a second video from her, in its own tile, and her
    // camera goes on too.
    ann.find(fantoccini::Locator::Id("toggle-screen")).await.unwrap().click().await.unwrap();
    let screen_tile = format!("{}-screen", ann_id.as_str().unwrap());
    wait_for(
        bob,
        &format!(
            "return window.confer.stats().then((s) => s['{screen_tile}'] && s['{screen_tile}'].video \
             && s['{screen_tile}'].video.framesDecoded > 10 && s[{ann_id}].video.framesDecoded > 10)"
        ),
        "bob to see ann's screen and camera",
    )
    .await;
    wait_for(
        bob,
        "return document.getElementById('people-list').textContent.includes('sharing screen')",
        "bob's list to show ann sharing",
    )
    .await;
    let label = bob
        .execute(&format!("return document.querySelector('[data-tile=\"{screen_tile}\"] .name').textContent"), vec![])
        .await
        .unwrap();
    assert_eq!(label, json!("Ann (screen)"));

    // She stops: the screen tile goes away at Bob's; her camera stays.
    ann.execute("document.getElementById('toggle-screen').click(); return true;", vec![]).await.unwrap();
    wait_for(
        bob,
        &format!("return !document.querySelector('[data-tile=\"{screen_tile}\"]')"),
        "ann's screen tile to go away",
    )
    .await;
    let before = frames_from(bob).await[ann_id.as_str().unwrap()].as_u64().unwrap_or(0);
    wait_for(
        bob,
        &format!("return window.confer.stats().then((s) => s[{ann_id}].video.framesDecoded > {before} + 10)"),
        "ann's camera to keep coming",
    )
    .await;
    for b in browsers {
        let _ = b.close().await;
    }
    let _ = std::fs::remove_dir_all(&profiles);
}

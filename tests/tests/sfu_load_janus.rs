//! The SFU load tool's Janus driver (`sfu_load::janus_driver`), driven as the load
//! tool drives it, with SDP from real peers: Chromium's PeerConnections publish
//! (Opus and VP8 from a tone and a canvas) and subscribe through the driver, and
//! their media goes through Janus.
//!
//! Janus gathers no candidates on loopback: the test runs in the private network of
//! `confer_tests::private_network` (as root, like the other Janus test), Janus's
//! media on 198.18.0.1.

mod browsers;

use browsers::{chromium, start_chromedriver, tempdir};
use confer_tests::janus;
use confer_tests::private_network::{self, PEER_ADDRESS, SFU_ADDRESS};
use confer_tests::sdp_summary::Sdp;
use confer_tests::sfu_load::driver::{SfuDriver, SfuSession};
use confer_tests::sfu_load::janus_driver::{JanusDriver, JanusOptions};
use confer_tests::sfu_load::probe::Kind;
use confer_tests::sfu_load::runner::{self, RunOptions};
use confer_tests::sfu_load::workload::Workload;
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn each_subscriber_gets_every_other_publisher_once_it_is_up_and_their_media_flows() {
    const NAME: &str = "each_subscriber_gets_every_other_publisher_once_it_is_up_and_their_media_flows";
    if !janus::run_test_in_private_network_with_janus(NAME) {
        return;
    }
    let janus = JanusDriver::start(JanusOptions::default()).await.expect("Janus starts");
    let _log = LogOnFailure(&janus);
    assert_eq!(janus.name(), "janus");
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", janus.pid())).expect("Janus's process");
    assert_eq!(comm.trim(), "janus", "pid() is Janus's process");
    let room = janus.prepare_room(0).await.expect("a room");

    let (_chromedriver, driver_url) = start_chromedriver().await;
    let profile = tempdir();
    let _profile = RemovedAtTheEnd(profile.clone());
    let no_mdns = ["--disable-features=WebRtcHideLocalIpsWithMdns".to_owned()];
    let browser = chromium(&driver_url, &profile, &no_mdns).await;
    browser.execute(PEERS, vec![]).await.expect("the page's peers");
    let page = Page(&browser);

    let mut alice = janus.join(&room, "alice").await.expect("alice joins");
    let mut bob = janus.join(&room, "bob").await.expect("bob joins");
    let mut carol = janus.join(&room, "carol").await.expect("carol joins");

    // Bob publishes and is up; his subscription to one publisher waits until alice
    // is up: his own feed does not count, and Janus refuses feeds that are not up.
    let answer = bob.publish(page.offer("bob").await).await.expect("Janus answers bob");
    page.accept("bob", &answer).await;
    bob.publish_up().await.expect("bob's PeerConnection is up");
    let (bob_offer, ()) = tokio::join!(async { bob.subscribe(1).await.expect("bob subscribes") }, async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let answer = alice.publish(page.offer("alice").await).await.expect("Janus answers alice");
        page.accept("alice", &answer).await;
        alice.publish_up().await.expect("alice's PeerConnection is up");
    });
    let (alice_feed, bob_feed) = (alice.feed().expect("alice's feed"), bob.feed().expect("bob's feed"));
    assert_ne!(alice_feed, bob_feed);
    assert_eq!(bob.subscribed(), [alice_feed]);
    assert_offers_one_feed(&bob_offer);

    // Alice gets bob's feed at once; carol, who does not publish, gets both.
    let alice_offer = alice.subscribe(1).await.expect("alice subscribes");
    assert_eq!(alice.subscribed(), [bob_feed]);
    assert_offers_one_feed(&alice_offer);
    let carol_offer = carol.subscribe(2).await.expect("carol subscribes");
    let mut subscribed = carol.subscribed().to_vec();
    subscribed.sort_by_key(|f| f.0);
    let mut expected = vec![alice_feed, bob_feed];
    expected.sort_by_key(|f| f.0);
    assert_eq!(subscribed, expected);
    let kinds = Sdp::parse(&carol_offer).media.iter().map(|m| m.kind.clone()).collect::<Vec<_>>();
    assert_eq!(kinds, ["audio", "video", "audio", "video"], "Janus's offer to carol:\n{carol_offer}");

    // Chromium's answers are taken, and the media of the other publishers arrives.
    for (name, offer, session) in
        [("alice-in", alice_offer, &mut alice), ("bob-in", bob_offer, &mut bob), ("carol-in", carol_offer, &mut carol)]
    {
        let answer = page.answer(name, &offer).await;
        session.answer(answer).await.unwrap_or_else(|e| panic!("Janus takes {name}'s answer: {e:#}"));
    }
    for (name, streams) in [("alice-in", 1), ("bob-in", 1), ("carol-in", 2)] {
        page.wait_for_media(name, streams).await;
    }

    // Misuse is refused with the participant named.
    let refused = carol.answer("v=0".into()).await.expect_err("a second answer");
    assert!(format!("{refused:#}").contains("carol"), "{refused:#}");
    let refused = carol.subscribe(1).await.expect_err("a second subscription");
    assert!(format!("{refused:#}").contains("subscribes already"), "{refused:#}");
    let mut dave = janus.join(&room, "dave").await.expect("dave joins");
    let refused = dave.publish_up().await.expect_err("up before publishing");
    assert!(format!("{refused:#}").contains("dave"), "{refused:#}");
    let refused = janus.join("not-a-room", "erin").await.err().expect("a room that is not a number");
    assert!(format!("{refused:#}").contains("not-a-room"), "{refused:#}");
    let _ = browser.close().await;
}

#[tokio::test]
async fn the_load_tools_peers_get_every_stream_through_janus() {
    const NAME: &str = "the_load_tools_peers_get_every_stream_through_janus";
    if !janus::run_test_in_private_network_with_janus(NAME) {
        return;
    }
    let janus = JanusDriver::start(JanusOptions::default()).await.expect("Janus starts");
    let _log = LogOnFailure(&janus);
    let workload =
        Workload { rooms: 1, publishers: 2, subscribers: 1, seconds: 3, warmup_seconds: 1, ..Workload::default() };
    let options = RunOptions { local_ip: PEER_ADDRESS.into() };
    let report = runner::run(&janus, &workload, &options).await.expect("the load run on Janus");
    eprintln!("{}", serde_json::to_string_pretty(&report).expect("the report as JSON"));

    assert_eq!(report.sfu, "janus");
    let streams: Vec<(u32, Kind, u64)> = report.streams.iter().map(|s| (s.publisher, s.kind, s.packets)).collect();
    assert_eq!(streams.len(), 4, "one subscriber, two publishers, audio and video: {streams:?}");
    assert!(streams.iter().all(|(_, _, packets)| *packets > 0), "every stream has packets: {streams:?}");
    assert_eq!((report.silent_streams, report.foreign_packets), (0, 0));
    assert!(report.sfu_cpu_seconds > 0.0, "Janus's CPU time is read: {}", report.sfu_cpu_seconds);
}

#[test]
fn a_binary_reexecuted_in_the_private_network_has_both_addresses_and_its_exit_code_comes_back() {
    const NAME: &str = "a_binary_reexecuted_in_the_private_network_has_both_addresses_and_its_exit_code_comes_back";
    if !private_network::is_inside() {
        if !private_network::can_enter() {
            eprintln!("SKIPPED {NAME}: it needs root for a private network namespace (unshare -n)");
            return;
        }
        // As a binary's main does it, with this test binary's own arguments.
        let code = private_network::reexec_in_private_network(["--exact", NAME, "--nocapture"]).expect("unshare runs");
        assert_eq!(code, Some(0), "the test passed in the namespace");
        return;
    }
    assert_eq!(private_network::reexec_in_private_network(["never", "run"]).expect("inside"), None);
    let sfu = std::net::UdpSocket::bind((SFU_ADDRESS, 0)).expect("the SFU's address is here");
    let peer = std::net::UdpSocket::bind((PEER_ADDRESS, 0)).expect("the peers' address is here");
    for socket in [&sfu, &peer] {
        socket.set_read_timeout(Some(Duration::from_secs(2))).expect("a timeout");
    }
    let mut buffer = [0; 16];
    peer.send_to(b"ping", sfu.local_addr().expect("an address")).expect("sent");
    let (n, from) = sfu.recv_from(&mut buffer).expect("the SFU receives");
    assert_eq!((&buffer[..n], from), (&b"ping"[..], peer.local_addr().expect("an address")));
    sfu.send_to(b"pong", from).expect("sent");
    let (n, _) = peer.recv_from(&mut buffer).expect("the peer receives");
    assert_eq!(&buffer[..n], b"pong");
    let default_route = std::process::Command::new("ip").args(["route", "show", "default"]).output().expect("ip runs");
    assert!(String::from_utf8_lossy(&default_route.stdout).contains("confer0"), "a default route for browsers");
}

/// Janus's offer of one publisher: Opus then VP8, sending only, its candidates all
/// on its veth address.
fn assert_offers_one_feed(offer: &str) {
    let sdp = Sdp::parse(offer);
    let kinds: Vec<&str> = sdp.media.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(kinds, ["audio", "video"], "Janus's offer:\n{offer}");
    assert_eq!(sdp.media[0].codecs().first().map(String::as_str), Some("opus/48000/2"), "{offer}");
    assert_eq!(sdp.media[1].codecs().first().map(String::as_str), Some("VP8/90000"), "{offer}");
    assert!(sdp.media.iter().all(|m| m.lines.iter().any(|l| l == "a=sendonly")), "Janus only sends: {offer}");
    let candidates: Vec<&String> =
        sdp.media.iter().flat_map(|m| m.lines.iter()).filter(|l| l.starts_with("a=candidate:")).collect();
    assert!(!candidates.is_empty(), "Janus's offer has its candidates: {offer}");
    for candidate in candidates {
        assert_eq!(candidate.split_whitespace().nth(4), Some(SFU_ADDRESS.to_string().as_str()), "{candidate}");
    }
}

/// Chromium's PeerConnections, by name: publishers send a tone and a changing canvas.
const PEERS: &str = "
    window.peers = {};
    window.gathered = (pc) => new Promise((done) => {
        if (pc.iceGatheringState === 'complete') return done();
        pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && done());
        setTimeout(done, 5000);
    });
    window.source = () => {
        const canvas = document.createElement('canvas');
        canvas.width = 320; canvas.height = 240;
        const g = canvas.getContext('2d');
        let n = 0;
        setInterval(() => { g.fillStyle = `hsl(${(n++ * 7) % 360} 80% 50%)`; g.fillRect(0, 0, 320, 240); }, 33);
        const audio = new AudioContext();
        const tone = audio.createOscillator();
        const out = audio.createMediaStreamDestination();
        tone.connect(out); tone.start();
        return new MediaStream([...out.stream.getAudioTracks(), ...canvas.captureStream(30).getVideoTracks()]);
    };
    window.offer = async (name) => {
        const pc = new RTCPeerConnection(); peers[name] = pc;
        const stream = source();
        for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
        await pc.setLocalDescription(await pc.createOffer());
        await gathered(pc);
        return pc.localDescription.sdp;
    };
    window.accept = async (name, sdp) => { await peers[name].setRemoteDescription({ type: 'answer', sdp }); };
    window.answer = async (name, sdp) => {
        const pc = new RTCPeerConnection(); peers[name] = pc;
        await pc.setRemoteDescription({ type: 'offer', sdp });
        await pc.setLocalDescription(await pc.createAnswer());
        await gathered(pc);
        return pc.localDescription.sdp;
    };
    window.received = async (name) => {
        const counts = [];
        (await peers[name].getStats()).forEach((s) => {
            if (s.type === 'inbound-rtp') counts.push([s.kind, s.packetsReceived]);
        });
        return counts;
    };
    return true;";

/// The page of [`PEERS`].
struct Page<'a>(&'a fantoccini::Client);

impl Page<'_> {
    async fn call(&self, function: &str, args: Vec<Value>) -> Value {
        let script = format!("return window.{function}(...arguments)");
        self.0.execute(&script, args).await.unwrap_or_else(|e| panic!("{function} in Chromium: {e}"))
    }

    /// A new publisher's offer, with its candidates.
    async fn offer(&self, name: &str) -> String {
        self.call("offer", vec![name.into()]).await.as_str().expect("an SDP").to_owned()
    }

    /// Gives a publisher Janus's answer.
    async fn accept(&self, name: &str, answer: &str) {
        self.call("accept", vec![name.into(), answer.into()]).await;
    }

    /// A new subscriber's answer to Janus's `offer`, with its candidates.
    async fn answer(&self, name: &str, offer: &str) -> String {
        self.call("answer", vec![name.into(), offer.into()]).await.as_str().expect("an SDP").to_owned()
    }

    /// Waits until subscriber `name` has packets on each of its audio and video
    /// streams, `feeds` of each.
    async fn wait_for_media(&self, name: &str, feeds: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let counts = self.call("received", vec![name.into()]).await;
            let counts: Vec<(String, u64)> = serde_json::from_value(counts).expect("kinds and counts");
            let flowing = |kind: &str| counts.iter().filter(|(k, n)| k == kind && *n > 0).count();
            if flowing("audio") == feeds && flowing("video") == feeds {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{name} receives no media of {feeds} feeds: {counts:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A folder removed when the test ends, passed or failed.
struct RemovedAtTheEnd(std::path::PathBuf);

impl Drop for RemovedAtTheEnd {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Prints the end of Janus's log when the test fails.
struct LogOnFailure<'a>(&'a JanusDriver);

impl Drop for LogOnFailure<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("janus's log ends with:\n{}", self.0.log_tail(80));
        }
    }
}

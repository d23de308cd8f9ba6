//! Janus's VideoRoom, the SFU `confer-media` is compared with (issue 6), driven
//! through `confer_tests::janus` as the load tool drives it: a room of our own
//! (2 Mbit/s, 100 publishers, Opus and VP8); a publisher whose hand-made offer (one
//! Opus m-line, one VP8 m-line) Janus answers before any ICE; and a subscriber whose
//! offer from Janus carries a publisher's two streams, which it answers.
//!
//! Janus lets nobody subscribe to a publisher until that publisher's PeerConnection is
//! up (ICE and DTLS done: its `webrtcup`), and the hand-made publisher has no ICE agent
//! or DTLS behind it. So the feed subscribed to is Chromium's: a PeerConnection with two
//! send-only transceivers and no tracks, enough for ICE and DTLS.
//!
//! Janus gathers no candidates on loopback, so the test runs in its own network
//! namespace (as root, like the Firefox test) where Janus's media is on the veth
//! address 198.18.0.1 and the hand-made client's on 198.18.0.2.

mod browsers;

use browsers::{chromium, start_chromedriver, tempdir};
use confer_tests::janus::{
    Candidate, FeedId, HandleId, Janus, JanusConfig, JanusError, Jsep, Notification, RoomId, RoomSpec, SdpType,
    StreamRequest,
};
use confer_tests::private_network::{PEER_ADDRESS, SFU_ADDRESS, SFU_INTERFACE};
use confer_tests::sdp_summary::Sdp;
use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

/// Any sha-256 fingerprint: the hand-made peers never reach DTLS.
const FINGERPRINT: &str = "sha-256 \
    5B:2A:0F:7C:11:93:DE:44:86:0A:B7:3C:E2:59:1D:F0:6E:A8:42:C5:9B:37:D1:08:7F:E6:24:B9:5A:C3:10:8D";

#[tokio::test]
async fn janus_answers_publishers_and_offers_a_live_feed_to_a_subscriber() {
    const NAME: &str = "janus_answers_publishers_and_offers_a_live_feed_to_a_subscriber";
    if !confer_tests::janus::run_test_in_private_network_with_janus(NAME) {
        return;
    }
    let janus_ip = SFU_ADDRESS;
    let client = client_socket();
    let client_port = client.local_addr().expect("the client socket's address").port();
    let dir = std::env::temp_dir().join(format!("confer-janus-{}", uuid::Uuid::new_v4().simple()));
    let profile = tempdir();
    let _cleanup = RemovedAtTheEnd(vec![dir.clone(), profile.clone()]);
    let janus = Janus::start(&JanusConfig::new(&dir).on(SFU_INTERFACE, janus_ip)).await.expect("janus starts");
    let _log = LogOnFailure(&janus);

    let session = janus.client().await.expect("a session");
    let mut notifications = session.notifications();
    let admin = session.attach().await.expect("a handle");
    let room = admin.create_room(&RoomSpec::opus_vp8(100, 2_000_000)).await.expect("a room");

    // A publisher's hand-made offer: Janus answers it before any ICE.
    let publisher = session.attach().await.expect("a handle");
    let joined = publisher.join_publisher(room, "hand-made").await.expect("join as publisher");
    assert_eq!(joined.room, room);
    assert!(joined.publishers.is_empty(), "nobody published before: {:?}", joined.publishers);
    let offer = Jsep::offer(publisher_offer(client_port)).without_trickle();
    let published = publisher.configure(&offer).await.expect("Janus answers the offer");
    let answer = Sdp::parse(&published.answer.sdp);
    assert_eq!(answer.kinds(), ["audio", "video"], "Janus's answer:\n{}", published.answer.sdp);
    assert_eq!(answer.media[0].codecs(), ["opus/48000/2"], "{}", published.answer.sdp);
    assert_eq!(answer.media[1].codecs(), ["VP8/90000"], "{}", published.answer.sdp);
    assert!(answer.media.iter().all(|m| m.has("a=recvonly")), "Janus only receives: {}", published.answer.sdp);
    assert_eq!(answer.media.iter().map(|m| m.mid()).collect::<Vec<_>>(), [Some("0"), Some("1")]);
    assert!(answer.session_has("a=ice-lite"), "Janus runs ICE lite: {}", published.answer.sdp);
    assert_candidates_only_on(&answer, janus_ip, &published.answer.sdp);
    let kinds: Vec<(&str, Option<&str>)> =
        published.streams.iter().map(|s| (s.kind.as_str(), s.codec.as_deref())).collect();
    assert_eq!(kinds, [("audio", Some("opus")), ("video", Some("vp8"))]);

    // Janus lets nobody subscribe to a publisher whose PeerConnection is not up yet.
    let early = session.attach().await.expect("a handle");
    let refused = early.join_subscriber(room, &[StreamRequest::all_of(joined.feed)]).await;
    assert!(matches!(refused, Err(JanusError::Plugin { code: 428, .. })), "subscribing too early: {refused:?}");

    // A live publisher: Chromium's PeerConnection (two send-only transceivers, no
    // tracks) completes ICE and DTLS with Janus.
    let (_chromedriver, driver_url) = start_chromedriver().await;
    let no_mdns = ["--disable-features=WebRtcHideLocalIpsWithMdns".to_owned()];
    let browser = chromium(&driver_url, &profile, &no_mdns).await;
    let live = session.attach().await.expect("a handle");
    let live_joined = live.join_publisher(room, "chromium").await.expect("join as publisher");
    assert!(live_joined.publishers.is_empty(), "a publisher that is not up is not listed: {:?}", live_joined);
    let offer = browser.execute(CHROMIUM_OFFER, vec![]).await.expect("Chromium's offer");
    let offer = offer.as_str().expect("an SDP").to_owned();
    let published = live.configure(&Jsep::offer(offer).without_trickle()).await.expect("Janus answers Chromium");
    // Chromium offers every codec it has: Janus keeps the room's.
    let answer = Sdp::parse(&published.answer.sdp);
    assert_eq!(answer.kinds(), ["audio", "video"], "Janus's answer:\n{}", published.answer.sdp);
    assert_eq!(answer.media[0].codecs(), ["opus/48000/2"], "{}", published.answer.sdp);
    assert_eq!(answer.media[1].codecs().first().map(String::as_str), Some("VP8/90000"), "{}", published.answer.sdp);
    assert!(answer.media[1].codecs().iter().all(|c| c == "VP8/90000" || c.starts_with("rtx/")));
    browser
        .execute(
            "return window.pc.setRemoteDescription({type: 'answer', sdp: arguments[0]}).then(() => true)",
            vec![published.answer.sdp.clone().into()],
        )
        .await
        .expect("Chromium takes Janus's answer");
    wait_for_webrtcup(&mut notifications, live.id(), &browser).await;

    // A subscriber to the live feed: Janus offers its two streams and takes our answer.
    let subscriber = session.attach().await.expect("a handle");
    let subscribed =
        subscriber.join_subscriber(room, &[StreamRequest::all_of(live_joined.feed)]).await.expect("join as subscriber");
    assert_eq!(subscribed.room, room);
    assert_eq!(subscribed.offer.kind, SdpType::Offer);
    let offer = Sdp::parse(&subscribed.offer.sdp);
    assert_eq!(offer.kinds(), ["audio", "video"], "Janus's offer:\n{}", subscribed.offer.sdp);
    assert_eq!(offer.media[0].codecs(), ["opus/48000/2"], "{}", subscribed.offer.sdp);
    assert_eq!(offer.media[1].codecs().first().map(String::as_str), Some("VP8/90000"), "{}", subscribed.offer.sdp);
    assert!(offer.media.iter().all(|m| m.has("a=sendonly")), "Janus only sends: {}", subscribed.offer.sdp);
    assert!(offer.session_has("a=ice-lite"), "Janus runs ICE lite: {}", subscribed.offer.sdp);
    assert_candidates_only_on(&offer, janus_ip, &subscribed.offer.sdp);
    let feed = Some(live_joined.feed);
    let streams: Vec<(&str, Option<FeedId>, Option<&str>)> =
        subscribed.streams.iter().map(|s| (s.kind.as_str(), s.feed, s.codec.as_deref())).collect();
    assert_eq!(streams, [("audio", feed, Some("opus")), ("video", feed, Some("vp8"))]);
    subscriber.start(&Jsep::answer(subscriber_answer(&offer, client_port))).await.expect("Janus takes our answer");
    let candidate = Candidate {
        sdp_mid: offer.media[0].mid().unwrap_or("0").to_owned(),
        sdp_mline_index: 0,
        candidate: format!("candidate:1 1 udp 2130706431 {PEER_ADDRESS} {client_port} typ host"),
    };
    subscriber.trickle(&[candidate]).await.expect("trickle");
    subscriber.trickle_completed().await.expect("end of candidates");

    // A newcomer sees the live publisher only, with its streams.
    let newcomer = session.attach().await.expect("a handle");
    let newcomer_joined = newcomer.join_publisher(room, "newcomer").await.expect("join as publisher");
    let seen: Vec<(FeedId, Option<&str>, usize)> =
        newcomer_joined.publishers.iter().map(|p| (p.feed, p.display.as_deref(), p.streams.len())).collect();
    assert_eq!(seen, [(live_joined.feed, Some("chromium"), 2)]);

    // Refusals are typed: the plugin's (no such room), the core's (no such handle).
    let missing = early.join_subscriber(RoomId(1), &[]).await;
    assert!(matches!(missing, Err(JanusError::Plugin { code: 426, .. })), "a room that does not exist: {missing:?}");
    newcomer.clone().detach().await.expect("detach");
    let detached = newcomer.join_publisher(room, "again").await;
    assert!(matches!(detached, Err(JanusError::Api { code: 459, .. })), "a detached handle: {detached:?}");

    session.keepalive().await.expect("keepalive");
    admin.destroy_room(room).await.expect("the room is destroyed");
    session.destroy().await.expect("the session ends");
    let _ = browser.close().await;
}

/// Chromium's offer with all its candidates: two send-only transceivers, no tracks
/// (enough for ICE and DTLS, and nothing to ask permission for).
const CHROMIUM_OFFER: &str = "return (async () => { \
    const pc = new RTCPeerConnection(); window.pc = pc; \
    pc.addTransceiver('audio', { direction: 'sendonly' }); \
    pc.addTransceiver('video', { direction: 'sendonly' }); \
    await pc.setLocalDescription(await pc.createOffer()); \
    await new Promise((done) => { \
        if (pc.iceGatheringState === 'complete') return done(); \
        pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && done()); \
        setTimeout(done, 5000); }); \
    return pc.localDescription.sdp; })()";

/// Waits for Janus's `webrtcup` of `handle` (ICE and DTLS done).
async fn wait_for_webrtcup(
    notifications: &mut tokio::sync::broadcast::Receiver<Notification>,
    handle: HandleId,
    browser: &fantoccini::Client,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, notifications.recv()).await {
            Ok(Ok(Notification::WebRtcUp { handle: up })) if up == handle => return,
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("the notifications ended: {e}"),
            Err(_) => {
                let state =
                    browser.execute("return [window.pc.iceConnectionState, window.pc.connectionState]", vec![]).await;
                panic!("Janus's PeerConnection with Chromium did not come up; Chromium's is {state:?}");
            }
        }
    }
}

/// Folders removed when the test ends, passed or failed.
struct RemovedAtTheEnd(Vec<std::path::PathBuf>);

impl Drop for RemovedAtTheEnd {
    fn drop(&mut self) {
        for dir in &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Prints the end of Janus's log when the test fails.
struct LogOnFailure<'a>(&'a Janus);

impl Drop for LogOnFailure<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("janus's log ends with:\n{}", self.0.log_tail(80));
        }
    }
}

/// The client's UDP socket on the peers' end of the veth pair, so that its candidate
/// names a real socket.
fn client_socket() -> UdpSocket {
    UdpSocket::bind((PEER_ADDRESS, 0)).expect("a UDP socket on the client's address")
}

/// An offer as a browser publishing one Opus and one VP8 stream makes it, with its
/// one host candidate.
fn publisher_offer(port: u16) -> String {
    let candidate = format!("a=candidate:1 1 udp 2130706431 {PEER_ADDRESS} {port} typ host");
    let common = |mid: &str, ssrc: u32, track: &str| {
        vec![
            format!("c=IN IP4 {PEER_ADDRESS}"),
            "a=rtcp:9 IN IP4 0.0.0.0".into(),
            candidate.clone(),
            "a=end-of-candidates".into(),
            "a=ice-ufrag:cnfr".into(),
            "a=ice-pwd:confer-load-0123456789ab".into(),
            format!("a=fingerprint:{FINGERPRINT}"),
            "a=setup:actpass".into(),
            format!("a=mid:{mid}"),
            "a=sendonly".into(),
            format!("a=msid:confer {track}"),
            "a=rtcp-mux".into(),
            format!("a=ssrc:{ssrc} cname:confer"),
        ]
    };
    let mut lines: Vec<String> = vec![
        "v=0".into(),
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1".into(),
        "s=-".into(),
        "t=0 0".into(),
        "a=group:BUNDLE 0 1".into(),
        "a=msid-semantic: WMS confer".into(),
        "m=audio 9 UDP/TLS/RTP/SAVPF 111".into(),
    ];
    lines.extend(common("0", 1111, "audio0"));
    lines.extend(["a=rtpmap:111 opus/48000/2".into(), "a=fmtp:111 minptime=10;useinbandfec=1".into()]);
    lines.push("m=video 9 UDP/TLS/RTP/SAVPF 96".into());
    lines.extend(common("1", 2222, "video0"));
    lines.extend(
        ["a=rtpmap:96 VP8/90000", "a=rtcp-fb:96 ccm fir", "a=rtcp-fb:96 nack", "a=rtcp-fb:96 nack pli"]
            .map(String::from),
    );
    lines.push("a=rtcp-fb:96 goog-remb".into());
    lines.iter().map(|l| format!("{l}\r\n")).collect()
}

/// Our answer to Janus's subscriber offer: each m-line received, with the codec the
/// offer gives it.
fn subscriber_answer(offer: &Sdp, port: u16) -> String {
    let mids: Vec<&str> = offer.media.iter().filter_map(|m| m.mid()).collect();
    let mut lines: Vec<String> = vec![
        "v=0".into(),
        "o=- 7202430315227314562 2 IN IP4 127.0.0.1".into(),
        "s=-".into(),
        "t=0 0".into(),
        format!("a=group:BUNDLE {}", mids.join(" ")),
    ];
    for media in &offer.media {
        let (pt, codec) = media.first_codec().expect("an offered codec");
        lines.push(format!("m={} 9 UDP/TLS/RTP/SAVPF {pt}", media.kind));
        lines.push(format!("c=IN IP4 {PEER_ADDRESS}"));
        lines.push(format!("a=candidate:1 1 udp 2130706431 {PEER_ADDRESS} {port} typ host"));
        lines.push("a=ice-ufrag:cnfs".into());
        lines.push("a=ice-pwd:confer-load-0123456789cd".into());
        lines.push(format!("a=fingerprint:{FINGERPRINT}"));
        lines.push("a=setup:active".into());
        lines.push(format!("a=mid:{}", media.mid().expect("a mid")));
        lines.push("a=recvonly".into());
        lines.push("a=rtcp-mux".into());
        lines.push(format!("a=rtpmap:{pt} {codec}"));
    }
    lines.iter().map(|l| format!("{l}\r\n")).collect()
}

fn assert_candidates_only_on(sdp: &Sdp, ip: Ipv4Addr, text: &str) {
    let candidates: Vec<&str> = sdp.all_lines().filter(|l| l.starts_with("a=candidate:")).collect();
    assert!(!candidates.is_empty(), "Janus gave no candidate (it waits for none: ICE lite, half trickle): {text}");
    for candidate in candidates {
        // a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type>
        let fields: Vec<&str> = candidate.split_whitespace().collect();
        assert_eq!(fields.get(4).copied(), Some(ip.to_string().as_str()), "{candidate}");
        assert_eq!(fields.get(2).map(|t| t.to_ascii_lowercase()), Some("udp".into()), "{candidate}");
        assert_eq!(fields.get(7).copied(), Some("host"), "{candidate}");
        let port: u16 = fields.get(5).and_then(|p| p.parse().ok()).expect("a candidate's port");
        assert!((20_000..=40_000).contains(&port), "Janus's media port {port} is outside its range");
    }
}

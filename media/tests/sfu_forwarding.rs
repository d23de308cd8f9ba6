//! The SFU over real UDP on loopback: a publisher's video reaches a subscriber
//! through the node's one socket, rewritten to the subscriber's own SSRC, and
//! keyframe requests travel back to the publisher. The clients are webrtc-rs peers
//! on their own sockets, so every byte crosses the kernel as it would from a browser.

use bytes::{Bytes, BytesMut};
use confer_media::sfu::{DeliverKeyframeRequests, Seat, SfuConfig, SfuHandle, SfuNode, SubscriberUpdate};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{Registry, Slot};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_VP8, MediaEngine};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent};
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::transport::{CandidateConfig, CandidateHostConfig, RTCIceCandidate, RTCIceCandidateInit};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind};
use rtc::rtp_transceiver::{RTCRtpReceiverId, RTCRtpSenderId};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// A webrtc-rs peer on its own UDP socket, pumped by the test.
struct Client {
    pc: RTCPeerConnection,
    socket: UdpSocket,
    addr: SocketAddr,
    connected: bool,
    tracks: Vec<(RTCRtpReceiverId, u32)>,
    rtp: Vec<rtp::Packet>,
    keyframe_requests: usize,
}

impl Client {
    fn new() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let addr = socket.local_addr().unwrap();
        let mut media = MediaEngine::default();
        media.register_default_codecs().unwrap();
        let interceptors = register_default_interceptors(
            Registry::new().with(Slot::from(14_000), DeliverKeyframeRequests::default()),
            &mut media,
        )
        .unwrap();
        let settings = SettingEngineBuilder::new().with_multicast_dns_mode(MulticastDnsMode::Disabled).build();
        let mut pc = RTCPeerConnectionBuilder::new()
            .with_media_engine(media)
            .with_setting_engine(settings)
            .with_interceptor_registry(interceptors)
            .build(Instant::now())
            .unwrap();
        let candidate = CandidateHostConfig {
            base_config: CandidateConfig {
                network: "udp".into(),
                address: addr.ip().to_string(),
                port: addr.port(),
                component: 1,
                ..Default::default()
            },
            ..Default::default()
        }
        .new_candidate_host()
        .unwrap();
        pc.add_local_candidate(RTCIceCandidate::from(&candidate).to_json().unwrap()).unwrap();
        pc.add_local_candidate(RTCIceCandidateInit::default()).unwrap();
        Client { pc, socket, addr, connected: false, tracks: vec![], rtp: vec![], keyframe_requests: 0 }
    }

    /// Moves datagrams both ways, fires timers, collects events, RTP and PLIs.
    fn pump(&mut self) {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = self.socket.recv_from(&mut buf) {
            let message = TaggedBytesMut {
                now: Instant::now(),
                transport: TransportContext {
                    local_addr: self.addr,
                    peer_addr: from,
                    ecn: None,
                    transport_protocol: TransportProtocol::UDP,
                },
                message: BytesMut::from(&buf[..n]),
            };
            let _ = self.pc.handle_read(message);
        }
        let now = Instant::now();
        if self.pc.poll_timeout().is_some_and(|t| t <= now) {
            let _ = self.pc.handle_timeout(now);
        }
        while let Some(out) = self.pc.poll_write() {
            let _ = self.socket.send_to(&out.message, out.transport.peer_addr);
        }
        while let Some(event) = self.pc.poll_event() {
            match event {
                RTCPeerConnectionEvent::OnConnectionStateChangeEvent(s) => {
                    self.connected |= s == RTCPeerConnectionState::Connected;
                }
                RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init)) => {
                    self.tracks.push((init.receiver_id, init.ssrc));
                }
                _ => {}
            }
        }
        while let Some(m) = self.pc.poll_read() {
            match m.message {
                RTCMessage::RtpPacket(_, packet) => self.rtp.push(packet),
                RTCMessage::RtcpPacket(_, packets) => {
                    self.keyframe_requests +=
                        packets.iter().filter(|p| p.as_any().downcast_ref::<PictureLossIndication>().is_some()).count();
                }
                _ => {}
            }
        }
    }
}

async fn pump_until(clients: &mut [&mut Client], mut done: impl FnMut(&[&mut Client]) -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(clients) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        for c in clients.iter_mut() {
            c.pump();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

const PUBLISHER_SSRC: u32 = 0x1111_2222;

fn vp8_track() -> MediaStreamTrack {
    MediaStreamTrack::new(
        "ann-stream".into(),
        "ann-camera".into(),
        "camera".into(),
        RtpCodecKind::Video,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(PUBLISHER_SSRC), ..Default::default() },
            codec: RTCRtpCodec { mime_type: MIME_TYPE_VP8.into(), clock_rate: 90_000, ..Default::default() },
            ..Default::default()
        }],
    )
}

/// A VP8 packet whose payload says which frame it is.
fn frame(sender: RTCRtpSenderId, publisher: &mut Client, n: u16) {
    try_frame(sender, publisher, n).expect("the publisher can send");
}

fn try_frame(sender: RTCRtpSenderId, publisher: &mut Client, n: u16) -> Result<(), rtc::shared::error::Error> {
    let payload_type = publisher.pc.rtp_sender(sender).unwrap().get_parameters().rtp_parameters.codecs[0].payload_type;
    let packet = rtp::Packet {
        header: rtp::header::Header {
            version: 2,
            marker: true,
            payload_type,
            sequence_number: n,
            timestamp: u32::from(n) * 3000,
            ssrc: PUBLISHER_SSRC,
            ..Default::default()
        },
        // A VP8 payload descriptor (start of partition) followed by our marker text.
        payload: Bytes::from([&[0x10u8][..], format!("frame-{n}").as_bytes()].concat()),
    };
    publisher.pc.rtp_sender(sender).unwrap().write_rtp(Instant::now(), packet)
}

async fn publish(node: &SfuHandle, name: &str, client: &mut Client) {
    let seat = Seat::new("standup", name);
    let offer = client.pc.create_offer(None).unwrap();
    client.pc.set_local_description(Instant::now(), offer).unwrap();
    let sdp = client.pc.local_description().unwrap().sdp.clone();
    let answer = node.publish(&seat, sdp).await.expect("the node answers the publish offer");
    assert!(answer.contains("a=candidate:"), "the answer carries the node's candidate");
    client.pc.set_remote_description(Instant::now(), RTCSessionDescription::answer(answer).unwrap()).unwrap();
}

#[tokio::test]
async fn a_publishers_video_reaches_a_subscriber_through_the_node_and_keyframe_requests_flow_back() {
    let node = SfuNode::start(SfuConfig { bind: "127.0.0.1:0".parse().unwrap(), advertised_ip: None }).unwrap();
    let mut ann = Client::new();
    let sender = ann.pc.add_track(vp8_track()).unwrap();
    publish(&node, "ann", &mut ann).await;
    pump_until(&mut [&mut ann], |c| c[0].connected, "the publisher to connect").await;

    // The node learns of the track from its first packets; then bob subscribes.
    let mut n = 0u16;
    let offer = loop {
        n += 1;
        frame(sender, &mut ann, n);
        ann.pump();
        let (offer, _updates) = node.subscribe(&Seat::new("standup", "bob")).await.unwrap();
        if offer.contains("m=video") {
            break offer;
        }
        assert!(n < 500, "the node never saw ann's track");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let announced_ssrc: u32 = offer
        .lines()
        .find_map(|l| l.strip_prefix("a=ssrc:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("the offer announces the subscriber-side SSRC");
    assert_ne!(announced_ssrc, PUBLISHER_SSRC, "each subscriber gets its own SSRC");

    let mut bob = Client::new();
    bob.pc.set_remote_description(Instant::now(), RTCSessionDescription::offer(offer).unwrap()).unwrap();
    let answer = bob.pc.create_answer(None).unwrap();
    bob.pc.set_local_description(Instant::now(), answer).unwrap();
    node.answer_subscription(&Seat::new("standup", "bob"), bob.pc.local_description().unwrap().sdp.clone())
        .await
        .unwrap();
    pump_until(&mut [&mut ann, &mut bob], |c| c[1].connected, "the subscriber to connect").await;

    // The node asked ann for a keyframe for its new subscriber, by itself.
    pump_until(&mut [&mut ann, &mut bob], |c| c[0].keyframe_requests > 0, "a keyframe request at the publisher").await;

    let first_forwarded = n + 1;
    let deadline = Instant::now() + Duration::from_secs(10);
    while bob.rtp.len() < 30 {
        assert!(Instant::now() < deadline, "only {} packets reached bob", bob.rtp.len());
        n += 1;
        frame(sender, &mut ann, n);
        for _ in 0..3 {
            ann.pump();
            bob.pump();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    assert_eq!(bob.tracks.len(), 1, "bob sees one remote track");
    assert_eq!(bob.tracks[0].1, announced_ssrc);
    for packet in &bob.rtp {
        assert_eq!(packet.header.ssrc, announced_ssrc, "rewritten to the subscriber's SSRC");
        let text = std::str::from_utf8(&packet.payload[1..]).unwrap();
        let k: u16 = text.strip_prefix("frame-").unwrap().parse().unwrap();
        assert!(k <= n, "a frame ann sent: {text}");
    }
    let received: Vec<u16> = bob.rtp.iter().map(|p| p.header.sequence_number).collect();
    assert!(received.windows(2).all(|w| w[0] < w[1]), "in order, no duplicates: {received:?}");
    assert!(received.iter().filter(|&&s| s >= first_forwarded).count() >= 25, "frames sent after bob joined arrive");

    // bob asks for a keyframe; it reaches ann.
    let before = ann.keyframe_requests;
    let receiver = bob.tracks[0].0;
    let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc: announced_ssrc };
    bob.pc.rtp_receiver(receiver).unwrap().write_rtcp(Instant::now(), vec![Box::new(pli)]).unwrap();
    pump_until(&mut [&mut ann, &mut bob], |c| c[0].keyframe_requests > before, "bob's keyframe request at ann").await;

    // Once ann has left, what she still sends is not forwarded.
    node.leave(&Seat::new("standup", "ann"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    bob.pump();
    let count = bob.rtp.len();
    for _ in 0..30 {
        n += 1;
        let _ = try_frame(sender, &mut ann, n);
        ann.pump();
        bob.pump();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(bob.rtp.len(), count, "nothing from a participant who left");
    node.stop();
}

fn ssrc_in(sdp: &str) -> Option<u32> {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=ssrc:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|s| s.parse().ok())
}

async fn answer(node: &SfuHandle, name: &str, client: &mut Client, offer: String) {
    let seat = Seat::new("standup", name);
    client.pc.set_remote_description(Instant::now(), RTCSessionDescription::offer(offer).unwrap()).unwrap();
    let answer = client.pc.create_answer(None).unwrap();
    client.pc.set_local_description(Instant::now(), answer).unwrap();
    node.answer_subscription(&seat, client.pc.local_description().unwrap().sdp.clone()).await.unwrap();
}

#[tokio::test]
async fn a_subscriber_who_was_there_first_is_offered_the_new_track_and_loses_it_when_the_publisher_leaves() {
    let node = SfuNode::start(SfuConfig { bind: "127.0.0.1:0".parse().unwrap(), advertised_ip: None }).unwrap();

    // bob is alone: his subscribe connection starts with nothing to receive.
    let mut bob = Client::new();
    let (offer, mut updates) = node.subscribe(&Seat::new("standup", "bob")).await.unwrap();
    assert!(!offer.contains("m=video"));
    answer(&node, "bob", &mut bob, offer).await;

    // ann arrives and publishes; once her track is known, bob is offered it.
    let mut ann = Client::new();
    let sender = ann.pc.add_track(vp8_track()).unwrap();
    publish(&node, "ann", &mut ann).await;
    pump_until(&mut [&mut ann], |c| c[0].connected, "the publisher to connect").await;
    let mut n = 0u16;
    let deadline = Instant::now() + Duration::from_secs(10);
    let offer = loop {
        n += 1;
        frame(sender, &mut ann, n);
        ann.pump();
        bob.pump();
        if let Ok(SubscriberUpdate::Offer(offer)) = updates.try_recv() {
            break offer;
        }
        assert!(Instant::now() < deadline, "bob was never offered ann's track");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(offer.contains("m=video"), "the new offer carries ann's video");
    let (elsewhere, mut elsewhere_updates) = node.subscribe(&Seat::new("other-room", "cat")).await.unwrap();
    assert!(!elsewhere.contains("m=video"), "nothing of ann's reaches another room");
    let announced = ssrc_in(&offer).expect("an SSRC for bob's copy");
    answer(&node, "bob", &mut bob, offer).await;

    let deadline = Instant::now() + Duration::from_secs(10);
    while bob.rtp.len() < 20 {
        assert!(Instant::now() < deadline, "only {} packets reached bob", bob.rtp.len());
        n += 1;
        frame(sender, &mut ann, n);
        for _ in 0..3 {
            ann.pump();
            bob.pump();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    assert!(bob.rtp.iter().all(|p| p.header.ssrc == announced));
    assert!(bob.rtp.iter().all(|p| p.payload[1..].starts_with(b"frame-")));

    // ann leaves: bob is offered a session without her track.
    node.leave(&Seat::new("standup", "ann"));
    let deadline = Instant::now() + Duration::from_secs(5);
    let offer = loop {
        bob.pump();
        if let Ok(SubscriberUpdate::Offer(offer)) = updates.try_recv() {
            break offer;
        }
        assert!(Instant::now() < deadline, "bob was not told that ann's track is gone");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(!offer.contains(&format!("a=ssrc:{announced}")), "ann's copy is no longer offered");
    assert!(elsewhere_updates.try_recv().is_err(), "another room was never offered anything");
    answer(&node, "bob", &mut bob, offer).await;
    node.stop();
}

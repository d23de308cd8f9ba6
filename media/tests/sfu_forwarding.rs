//! The SFU over real UDP on loopback: a publisher's video reaches a subscriber
//! through the node's one socket, rewritten to the subscriber's own SSRC, and
//! keyframe requests travel back to the publisher. The clients are webrtc-rs peers
//! on their own sockets, so every byte crosses the kernel as it would from a browser.

mod common;

use common::{Client, PUBLISHER_SSRC, frame, pump_until, try_frame, vp8_track};
use confer_media::sfu::{Seat, SfuHandle, SubscriberUpdate, TrackSource};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{NackPair, TransportLayerNack};
use std::time::{Duration, Instant};

async fn publish(node: &SfuHandle, name: &str, client: &mut Client) {
    let seat = Seat::new("standup", name);
    let offer = client.pc.create_offer(None).unwrap();
    client.pc.set_local_description(Instant::now(), offer).unwrap();
    let sdp = client.pc.local_description().unwrap().sdp.clone();
    let answer = node.publish(&seat, TrackSource::Camera, sdp).await.expect("the node answers the publish offer");
    assert!(answer.contains("a=candidate:"), "the answer carries the node's candidate");
    client.pc.set_remote_description(Instant::now(), RTCSessionDescription::answer(answer).unwrap()).unwrap();
}

#[tokio::test]
async fn a_publishers_video_reaches_a_subscriber_through_the_node_keyframe_requests_flow_back_and_losses_are_resent() {
    let (node, _speakers) = common::start_node();
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
    answer(&node, "bob", &mut bob, offer).await;
    pump_until(&mut [&mut ann, &mut bob], |c| c[1].connected, "the subscriber to connect").await;

    // The node asked ann for a keyframe for its new subscriber, by itself.
    pump_until(&mut [&mut ann, &mut bob], |c| c[0].keyframe_requests > 0, "a keyframe request at the publisher").await;

    let first_forwarded = n + 1;
    send_frames_until(sender, &mut ann, &mut bob, &mut n, 30).await;
    assert_eq!(bob.tracks.len(), 1, "bob sees one remote track");
    assert_eq!(bob.tracks[0].1, announced_ssrc);
    let bobs_vp8 = bob.pc.rtp_receiver(bob.tracks[0].0).unwrap().get_parameters().rtp_parameters.codecs[0].payload_type;
    for packet in &bob.rtp {
        assert_eq!(packet.header.ssrc, announced_ssrc, "rewritten to the subscriber's SSRC");
        assert_eq!(packet.header.payload_type, bobs_vp8, "the payload type negotiated with bob");
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

    // bob reports a packet lost: the node resends it from its send history, as it
    // was (bob's SSRC, the same sequence number and payload).
    let lost = bob.rtp[bob.rtp.len() - 3].clone();
    let nack = TransportLayerNack {
        sender_ssrc: 0,
        media_ssrc: announced_ssrc,
        nacks: vec![NackPair { packet_id: lost.header.sequence_number, lost_packets: 0 }],
    };
    bob.pc.rtp_receiver(receiver).unwrap().write_rtcp(Instant::now(), vec![Box::new(nack)]).unwrap();
    let copies =
        |c: &[&mut Client]| c[1].rtp.iter().filter(|p| p.header.sequence_number == lost.header.sequence_number).count();
    pump_until(&mut [&mut ann, &mut bob], |c| copies(c) == 2, "the lost packet, resent").await;
    let resent = bob.rtp.iter().rev().find(|p| p.header.sequence_number == lost.header.sequence_number).unwrap();
    assert_eq!((resent.header.ssrc, &resent.payload), (announced_ssrc, &lost.payload));

    // The node describes what it sends bob in sender reports (for lip sync and RTT).
    pump_until(
        &mut [&mut ann, &mut bob],
        |c| c[1].sender_reports.contains(&announced_ssrc),
        "a sender report for bob's stream",
    )
    .await;

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

/// ann sends frames (numbered from `n`) until bob has received `count` packets.
async fn send_frames_until(
    sender: rtc::rtp_transceiver::RTCRtpSenderId,
    ann: &mut Client,
    bob: &mut Client,
    n: &mut u16,
    count: usize,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while bob.rtp.len() < count {
        assert!(Instant::now() < deadline, "only {} packets reached bob", bob.rtp.len());
        *n += 1;
        frame(sender, ann, *n);
        for _ in 0..3 {
            ann.pump();
            bob.pump();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
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

/// Chromium checks consent on a connection it only receives on about every 25 s.
/// An ICE-lite node hears nothing else from the client's ICE meanwhile; it must not
/// call the connection disconnected and stop forwarding to it between two checks.
#[tokio::test]
async fn a_subscriber_whose_client_checks_consent_rarely_keeps_receiving() {
    let (node, _speakers) = common::start_node();
    let mut ann = Client::new();
    let sender = ann.pc.add_track(vp8_track()).unwrap();
    publish(&node, "ann", &mut ann).await;
    pump_until(&mut [&mut ann], |c| c[0].connected, "the publisher to connect").await;
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
    let consent_interval = Duration::from_secs(12);
    let mut bob = Client::checking_consent_every(consent_interval);
    answer(&node, "bob", &mut bob, offer).await;
    pump_until(&mut [&mut ann, &mut bob], |c| c[1].connected, "the subscriber to connect").await;
    send_frames_until(sender, &mut ann, &mut bob, &mut n, 5).await;

    // Frames keep coming for longer than rtc's default 5 s of silence, until
    // just before bob's next consent check.
    let until = Instant::now() + consent_interval - Duration::from_secs(1);
    let mut last_second = 0;
    while Instant::now() < until {
        n += 1;
        frame(sender, &mut ann, n);
        let before = bob.rtp.len();
        for _ in 0..10 {
            ann.pump();
            bob.pump();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if until.saturating_duration_since(Instant::now()) < Duration::from_secs(1) {
            last_second += bob.rtp.len() - before;
        }
    }
    assert!(
        last_second >= 10,
        "bob still receives {} s after his last consent check: {last_second} packets in its last second",
        consent_interval.as_secs() - 1
    );
    node.stop();
}

#[tokio::test]
async fn a_subscriber_who_was_there_first_is_offered_the_new_track_and_loses_it_when_the_publisher_leaves() {
    let (node, _speakers) = common::start_node();

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

    send_frames_until(sender, &mut ann, &mut bob, &mut n, 20).await;
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

#[tokio::test]
async fn rooms_are_spread_over_the_loops_and_each_loop_serves_its_rooms_on_its_own_port() {
    let (node, _speakers) = common::start_node();
    let ports: Vec<u16> = node.media_addrs().iter().map(|a| a.port()).collect();
    assert_eq!(ports.len(), 2);
    assert_ne!(ports[0], ports[1], "each loop has its own socket");
    // Rooms land on both loops.
    let rooms: Vec<String> = (0..16).map(|i| format!("room-{i}")).collect();
    let used: std::collections::BTreeSet<u16> = rooms.iter().map(|r| node.media_addr_of(r).port()).collect();
    assert_eq!(used.len(), 2, "16 rooms use both loops");
    // A participant of a room on each loop connects to that loop's port, and a
    // second participant of the same room is sent to the same loop.
    for port in ports {
        let room = rooms.iter().find(|r| node.media_addr_of(r).port() == port).unwrap();
        let mut second = Client::new();
        second.pc.add_track(vp8_track()).unwrap();
        let offer = second.pc.create_offer(None).unwrap();
        second.pc.set_local_description(Instant::now(), offer).unwrap();
        let sdp = second.pc.local_description().unwrap().sdp.clone();
        let answer = node.publish(&Seat::new(room, "bob"), TrackSource::Camera, sdp).await.unwrap();
        assert!(answer.contains(&format!(" {port} typ host")), "the room's second participant: {answer}");
        let mut client = Client::new();
        client.pc.add_track(vp8_track()).unwrap();
        let offer = client.pc.create_offer(None).unwrap();
        client.pc.set_local_description(Instant::now(), offer).unwrap();
        let sdp = client.pc.local_description().unwrap().sdp.clone();
        let answer = node.publish(&Seat::new(room, "ann"), TrackSource::Camera, sdp).await.unwrap();
        assert!(answer.contains(&format!(" {port} typ host")), "the answer names the room's loop: {answer}");
        client.pc.set_remote_description(Instant::now(), RTCSessionDescription::answer(answer).unwrap()).unwrap();
        pump_until(&mut [&mut client], |c| c[0].connected, "the publisher to connect to its room's loop").await;
    }
    node.stop();
}

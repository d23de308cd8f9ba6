//! Test helpers shared by the media node's integration tests: a webrtc-rs peer on
//! its own loopback UDP socket, pumped by the test, and a VP8 track to publish.
#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use confer_media::sfu::{DeliverRtcp, SfuConfig, SfuHandle, SfuNode, SpeakerChanges};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{Registry, Slot};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_VP8, MediaEngine};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent};
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind};
use rtc::rtp_transceiver::{RTCRtpReceiverId, RTCRtpSenderId};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// A webrtc-rs peer on its own UDP socket, pumped by the test.
pub struct Client {
    pub pc: RTCPeerConnection,
    socket: UdpSocket,
    addr: SocketAddr,
    pub connected: bool,
    pub tracks: Vec<(RTCRtpReceiverId, u32)>,
    pub rtp: Vec<rtp::Packet>,
    pub keyframe_requests: usize,
    /// RTCP sender reports received, per SSRC they describe.
    pub sender_reports: Vec<u32>,
}

impl Client {
    pub fn new() -> Self {
        Self::with_settings(SettingEngineBuilder::new())
    }

    /// A client that sends a consent check on its selected pair only every
    /// `interval` (and does not give up on the node itself meanwhile), as Chromium
    /// does on a connection it only receives on.
    pub fn checking_consent_every(interval: Duration) -> Self {
        let patient = Some(Duration::from_secs(600));
        Self::with_settings(SettingEngineBuilder::new().with_ice_timeouts(patient, patient, Some(interval)))
    }

    fn with_settings(settings: SettingEngineBuilder) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let addr = socket.local_addr().unwrap();
        let mut media = MediaEngine::default();
        media.register_default_codecs().unwrap();
        let interceptors = register_default_interceptors(
            Registry::new()
                .with(Slot::from(14_000), DeliverRtcp::keyframe_requests())
                // Sender reports too: the tests check that the node sends them.
                .with(
                    Slot::from(14_100),
                    DeliverRtcp::matching(|p| p.as_any().downcast_ref::<SenderReport>().is_some()),
                ),
            &mut media,
        )
        .unwrap();
        let settings = settings.with_multicast_dns_mode(MulticastDnsMode::Disabled).build();
        let mut pc = RTCPeerConnectionBuilder::new()
            .with_media_engine(media)
            .with_setting_engine(settings)
            .with_interceptor_registry(interceptors)
            .build(Instant::now())
            .unwrap();
        confer_media::sfu::offer_host_candidate(&mut pc, addr).unwrap();
        Client {
            pc,
            socket,
            addr,
            connected: false,
            tracks: vec![],
            rtp: vec![],
            keyframe_requests: 0,
            sender_reports: vec![],
        }
    }

    /// Moves datagrams both ways, fires timers, collects events, RTP and PLIs.
    pub fn pump(&mut self) {
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
                    self.sender_reports.extend(
                        packets.iter().filter_map(|p| p.as_any().downcast_ref::<SenderReport>()).map(|r| r.ssrc),
                    );
                }
                _ => {}
            }
        }
    }
}

/// A media node with two loops on loopback ports the OS picks.
pub fn start_node() -> (SfuHandle, SpeakerChanges) {
    SfuNode::start(SfuConfig { loops: 2, ..SfuConfig::per_core("127.0.0.1:0".parse().unwrap()) }).unwrap()
}

pub async fn pump_until(clients: &mut [&mut Client], mut done: impl FnMut(&[&mut Client]) -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(clients) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        for c in clients.iter_mut() {
            c.pump();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

pub const PUBLISHER_SSRC: u32 = 0x1111_2222;

pub fn vp8_track() -> MediaStreamTrack {
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
pub fn frame(sender: RTCRtpSenderId, publisher: &mut Client, n: u16) {
    try_frame(sender, publisher, n).expect("the publisher can send");
}

pub fn try_frame(sender: RTCRtpSenderId, publisher: &mut Client, n: u16) -> Result<(), rtc::shared::error::Error> {
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

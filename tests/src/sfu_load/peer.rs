//! One load peer: a webrtc-rs (`rtc`, sans-IO) connection on its own non-blocking
//! UDP socket, with one host candidate on the given local address and no mDNS.
//! A publisher sends one Opus-sized audio and one VP8 video stream (sendonly) and
//! answers every keyframe request with a keyframe; a subscriber counts what it
//! receives. The media thread (`media_thread.rs`) owns and drives every peer.

use super::probe::{Kind, StreamTag, nanos_since_epoch};
use super::receiver_stats::{DelayHistogram, ReceiverStats};
use super::synthetic_media::{AudioSource, PayloadArena, VideoShape, VideoSource, parse_payload};
use anyhow::Context;
use bytes::BytesMut;
use confer_media::sfu::DeliverRtcp;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{Registry, Slot};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent};
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind};
use rtc::rtp_transceiver::{RTCRtpSenderId, RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use rtc::sansio::Protocol;
use rtc::shared::marshal::MarshalSize;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Largest datagram read.
const MAX_DATAGRAM: usize = 2048;
/// Bytes the receive buffer takes at a time (split per datagram, reused once freed).
const RECEIVE_CHUNK: usize = 256 * 1024;

/// Buffers and tallies the media thread shares among its peers, so that no peer
/// allocates per packet on its own account.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Every counted packet's added delay.
    pub delays: DelayHistogram,
    /// How late the latest-sent packet was against its schedule, at worst.
    pub max_lag: Duration,
    /// Datagrams the tool could not send (socket buffer full, or an error).
    pub send_errors: u64,
    /// Datagrams received, all peers.
    pub datagrams_in: u64,
    /// Datagrams sent, all peers.
    pub datagrams_out: u64,
    arena: PayloadArena,
    receive: BytesMut,
    frame: Vec<rtp::Packet>,
}

impl Scratch {
    /// Starts a new measurement window.
    pub fn reset(&mut self) {
        self.delays.clear();
        self.max_lag = Duration::ZERO;
        self.send_errors = 0;
        self.datagrams_in = 0;
        self.datagrams_out = 0;
    }
}

/// A publisher's two streams and what it has been asked for.
#[derive(Debug)]
pub struct Publisher {
    /// The publisher's number across all rooms (its streams' tags derive from it).
    pub index: u32,
    audio_sender: RTCRtpSenderId,
    video_sender: RTCRtpSenderId,
    audio_ssrc: u32,
    video_ssrc: u32,
    shape: VideoShape,
    /// Set once connected and the payload types are known.
    media: Option<(AudioSource, VideoSource)>,
    /// PLI/FIR received.
    pub keyframe_requests: u64,
}

impl Publisher {
    /// Audio and video packets sent so far.
    pub fn sent(&self) -> (u64, u64) {
        self.media.as_ref().map_or((0, 0), |(audio, video)| (audio.sent(), video.sent()))
    }

    /// Keyframes sent so far.
    pub fn keyframes(&self) -> u64 {
        self.media.as_ref().map_or(0, |(_, video)| video.keyframes())
    }
}

/// A subscriber's view of its tracks and what arrived on them.
#[derive(Debug)]
pub struct Subscriber {
    /// Audio or video, by the SSRC the SFU sends it on.
    kinds: Vec<(u32, Kind)>,
    /// What arrived.
    pub stats: ReceiverStats,
}

/// What a peer is for.
#[derive(Debug)]
pub enum Role {
    /// Sends audio and video.
    Publisher(Publisher),
    /// Receives.
    Subscriber(Subscriber),
}

/// One connection and its socket.
pub struct LoadPeer {
    pc: RTCPeerConnection,
    socket: mio::net::UdpSocket,
    local: SocketAddr,
    state: RTCPeerConnectionState,
    next_timeout: Option<Instant>,
    /// What the peer does.
    pub role: Role,
}

impl LoadPeer {
    /// A publisher on `local_ip`, sending as publisher number `index` (stream ids
    /// `name`), and its offer (complete with its one candidate).
    pub fn publisher(local_ip: IpAddr, name: &str, index: u32, shape: VideoShape) -> anyhow::Result<(Self, String)> {
        let (mut pc, socket, local) = connection(local_ip)?;
        let audio_ssrc = 0x1000_0000 | (index << 1);
        let video_ssrc = audio_ssrc | 1;
        let audio = track(name, "audio", RtpCodecKind::Audio, audio_ssrc, opus());
        let video = track(name, "video", RtpCodecKind::Video, video_ssrc, vp8());
        let audio_sender = RTCRtpSenderId::from(pc.add_transceiver_from_track(audio, Some(sendonly()))?);
        let video_sender = RTCRtpSenderId::from(pc.add_transceiver_from_track(video, Some(sendonly()))?);
        let offer = pc.create_offer(None)?;
        pc.set_local_description(Instant::now(), offer)?;
        let sdp = pc.local_description().map(|d| d.sdp).context("no local offer")?;
        let role = Role::Publisher(Publisher {
            index,
            audio_sender,
            video_sender,
            audio_ssrc,
            video_ssrc,
            shape,
            media: None,
            keyframe_requests: 0,
        });
        Ok((Self::new(pc, socket, local, role), sdp))
    }

    /// A subscriber on `local_ip` that answers the SFU's `offer`, and its answer.
    pub fn subscriber(local_ip: IpAddr, offer: &str, stats: ReceiverStats) -> anyhow::Result<(Self, String)> {
        let (mut pc, socket, local) = connection(local_ip)?;
        pc.set_remote_description(Instant::now(), RTCSessionDescription::offer(offer.to_owned())?)?;
        let answer = pc.create_answer(None)?;
        pc.set_local_description(Instant::now(), answer)?;
        let sdp = pc.local_description().map(|d| d.sdp).context("no local answer")?;
        let role = Role::Subscriber(Subscriber { kinds: Vec::new(), stats });
        Ok((Self::new(pc, socket, local, role), sdp))
    }

    fn new(pc: RTCPeerConnection, socket: mio::net::UdpSocket, local: SocketAddr, role: Role) -> Self {
        Self { pc, socket, local, state: RTCPeerConnectionState::New, next_timeout: Some(Instant::now()), role }
    }

    /// Applies the SFU's answer to a publisher's offer.
    pub fn set_answer(&mut self, answer: &str, scratch: &mut Scratch) -> anyhow::Result<()> {
        self.pc.set_remote_description(Instant::now(), RTCSessionDescription::answer(answer.to_owned())?)?;
        self.service(Instant::now(), scratch);
        Ok(())
    }

    /// The socket, to register for readiness.
    pub fn socket_mut(&mut self) -> &mut mio::net::UdpSocket {
        &mut self.socket
    }

    /// The connection's state.
    pub fn state(&self) -> RTCPeerConnectionState {
        self.state
    }

    /// When the connection next wants [`LoadPeer::fire_timers`].
    pub fn next_timeout(&self) -> Option<Instant> {
        self.next_timeout
    }

    /// When a publisher's next packet is due.
    pub fn next_media(&self) -> Option<Instant> {
        match &self.role {
            Role::Publisher(Publisher { media: Some((audio, video)), .. }) => {
                Some(audio.next_due().min(video.next_due()))
            }
            _ => None,
        }
    }

    /// Reads every datagram waiting on the socket and handles it.
    pub fn receive(&mut self, scratch: &mut Scratch) {
        loop {
            if scratch.receive.capacity() < MAX_DATAGRAM {
                scratch.receive.reserve(RECEIVE_CHUNK);
            }
            scratch.receive.resize(MAX_DATAGRAM, 0);
            let (n, from) = match self.socket.recv_from(&mut scratch.receive[..]) {
                Ok(got) => got,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // ICMP errors (port unreachable) surface here on Linux: not fatal.
                Err(_) => continue,
            };
            scratch.receive.truncate(n);
            scratch.datagrams_in += 1;
            let now = Instant::now();
            let message = TaggedBytesMut {
                now,
                transport: TransportContext {
                    local_addr: self.local,
                    peer_addr: from,
                    ecn: None,
                    transport_protocol: TransportProtocol::UDP,
                },
                message: scratch.receive.split(),
            };
            if self.pc.handle_read(message).is_ok() {
                self.take_events(now);
                self.take_reads(now, scratch);
            }
        }
        self.flush(scratch);
        self.next_timeout = self.pc.poll_timeout();
    }

    /// Fires the connection's timers when due.
    pub fn fire_timers(&mut self, now: Instant, scratch: &mut Scratch) {
        if self.next_timeout.is_some_and(|t| t <= now) {
            let _ = self.pc.handle_timeout(now);
            self.service(now, scratch);
        }
    }

    /// Sends a publisher's packets that are due.
    pub fn send_media(&mut self, now: Instant, scratch: &mut Scratch) {
        let Role::Publisher(Publisher { media: Some((audio, video)), audio_sender, video_sender, .. }) = &mut self.role
        else {
            return;
        };
        let mut wrote = false;
        while let Some((packet, late)) = audio.poll(now, &mut scratch.arena) {
            scratch.max_lag = scratch.max_lag.max(late);
            if let Some(mut sender) = self.pc.rtp_sender(*audio_sender) {
                wrote |= sender.write_rtp(now, packet).is_ok();
            }
        }
        while let Some(late) = video.poll(now, &mut scratch.arena, &mut scratch.frame) {
            scratch.max_lag = scratch.max_lag.max(late);
            if let Some(mut sender) = self.pc.rtp_sender(*video_sender) {
                for packet in scratch.frame.drain(..) {
                    wrote |= sender.write_rtp(now, packet).is_ok();
                }
            }
            scratch.frame.clear();
        }
        if wrote {
            self.flush(scratch);
            self.next_timeout = self.pc.poll_timeout();
        }
    }

    /// Handles whatever the connection has for us: datagrams, events, messages.
    fn service(&mut self, now: Instant, scratch: &mut Scratch) {
        self.take_events(now);
        self.take_reads(now, scratch);
        self.flush(scratch);
        self.next_timeout = self.pc.poll_timeout();
    }

    fn flush(&mut self, scratch: &mut Scratch) {
        while let Some(out) = self.pc.poll_write() {
            match self.socket.send_to(&out.message, out.transport.peer_addr) {
                Ok(_) => scratch.datagrams_out += 1,
                Err(_) => scratch.send_errors += 1,
            }
        }
    }

    fn take_events(&mut self, now: Instant) {
        while let Some(event) = self.pc.poll_event() {
            match event {
                RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => {
                    self.state = state;
                    if state == RTCPeerConnectionState::Connected {
                        self.start_media(now);
                    }
                }
                RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init)) => {
                    let kind = self.pc.rtp_receiver(init.receiver_id).map(|r| r.track().kind());
                    if let (Role::Subscriber(subscriber), Some(kind)) = (&mut self.role, kind) {
                        let kind = if kind == RtpCodecKind::Video { Kind::Video } else { Kind::Audio };
                        subscriber.kinds.retain(|(ssrc, _)| *ssrc != init.ssrc);
                        subscriber.kinds.push((init.ssrc, kind));
                    }
                }
                _ => {}
            }
        }
    }

    /// A publisher starts sending once connected, its start staggered by its
    /// number so that publishers do not all send in the same instant.
    fn start_media(&mut self, now: Instant) {
        let Role::Publisher(publisher) = &mut self.role else { return };
        if publisher.media.is_some() {
            return;
        }
        let mut payload_type = |sender| {
            self.pc
                .rtp_sender(sender)
                .and_then(|mut s| s.get_parameters().rtp_parameters.codecs.first().map(|c| c.payload_type))
        };
        let (Some(audio_pt), Some(video_pt)) =
            (payload_type(publisher.audio_sender), payload_type(publisher.video_sender))
        else {
            return;
        };
        let start = now + Duration::from_micros(u64::from(publisher.index) * 3_373 % 20_000);
        let mut audio = AudioSource::new(StreamTag::of(publisher.index, Kind::Audio), publisher.audio_ssrc, start);
        audio.set_payload_type(audio_pt);
        let mut video =
            VideoSource::new(StreamTag::of(publisher.index, Kind::Video), publisher.video_ssrc, publisher.shape, start);
        video.set_payload_type(video_pt);
        publisher.media = Some((audio, video));
    }

    fn take_reads(&mut self, now: Instant, scratch: &mut Scratch) {
        let received_at = nanos_since_epoch(now);
        while let Some(message) = self.pc.poll_read() {
            match (message.message, &mut self.role) {
                (RTCMessage::RtpPacket(_, packet), Role::Subscriber(subscriber)) => {
                    count_rtp(subscriber, &packet, received_at, scratch);
                }
                (RTCMessage::RtcpPacket(_, _), Role::Publisher(publisher)) => {
                    // Only keyframe requests reach us (`DeliverRtcp::keyframe_requests`).
                    publisher.keyframe_requests += 1;
                    if let Some((_, video)) = &mut publisher.media {
                        video.request_keyframe();
                    }
                }
                _ => {}
            }
        }
    }
}

/// Counts one received RTP packet on the stream its probe names.
fn count_rtp(subscriber: &mut Subscriber, packet: &rtp::Packet, received_at: u64, scratch: &mut Scratch) {
    let kind = subscriber.kinds.iter().find(|(ssrc, _)| *ssrc == packet.header.ssrc).map(|(_, kind)| *kind);
    let Some((probe, keyframe)) = kind.and_then(|kind| parse_payload(kind, &packet.payload)) else {
        subscriber.stats.unreadable += 1;
        return;
    };
    if Some(probe.tag.kind()) != kind {
        subscriber.stats.unreadable += 1;
        return;
    }
    let Some(stream) = subscriber.stats.stream_mut(probe.tag) else {
        subscriber.stats.foreign += 1;
        return;
    };
    let rtp_bytes = packet.header.marshal_size() + packet.payload.len();
    if stream.record(probe.tag.kind(), &probe, keyframe, rtp_bytes) {
        scratch.delays.record(Duration::from_nanos(received_at.saturating_sub(probe.sent_at)));
    }
}

/// A connection with default codecs and interceptors (plus keyframe requests
/// delivered to us), no mDNS, and one host candidate: a fresh socket on `local_ip`.
fn connection(local_ip: IpAddr) -> anyhow::Result<(RTCPeerConnection, mio::net::UdpSocket, SocketAddr)> {
    let socket = mio::net::UdpSocket::bind(SocketAddr::new(local_ip, 0))
        .with_context(|| format!("bind a UDP socket on {local_ip}"))?;
    let local = socket.local_addr()?;
    let mut media = MediaEngine::default();
    media.register_default_codecs()?;
    let interceptors = register_default_interceptors(
        Registry::new().with(Slot::from(14_000), DeliverRtcp::keyframe_requests()),
        &mut media,
    )?;
    let settings = SettingEngineBuilder::new().with_multicast_dns_mode(MulticastDnsMode::Disabled).build();
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_media_engine(media)
        .with_setting_engine(settings)
        .with_interceptor_registry(interceptors)
        .build(Instant::now())?;
    // One host candidate, and the end of candidates: no trickle.
    confer_media::sfu::offer_host_candidate(&mut pc, local)?;
    Ok((pc, socket, local))
}

fn sendonly() -> RTCRtpTransceiverInit {
    RTCRtpTransceiverInit { direction: RTCRtpTransceiverDirection::Sendonly, streams: vec![], send_encodings: vec![] }
}

fn opus() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        ..Default::default()
    }
}

fn vp8() -> RTCRtpCodec {
    RTCRtpCodec { mime_type: MIME_TYPE_VP8.to_owned(), clock_rate: 90_000, ..Default::default() }
}

fn track(stream: &str, id: &str, kind: RtpCodecKind, ssrc: u32, codec: RTCRtpCodec) -> MediaStreamTrack {
    MediaStreamTrack::new(
        stream.to_owned(),
        format!("{stream}-{id}"),
        id.to_owned(),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(ssrc), ..Default::default() },
            codec,
            ..Default::default()
        }],
    )
}

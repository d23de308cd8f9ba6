//! Building the node's side of a connection.

use super::SfuError;
use super::active_speaker::AUDIO_LEVEL_URI;
use super::rtcp_delivery::DeliverRtcp;
use rand::Rng;
use rand::distr::Alphanumeric;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{
    NackGeneratorBuilder, NackResponderBuilder, ReceiverReportBuilder, Registry, SenderReportBuilder, Slot,
    TwccReceiverBuilder,
};
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, RTCDtlsRole, RTCIceCandidate, RTCIceCandidateInit,
};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp_transceiver::RTCRtpTransceiverDirection;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpHeaderExtensionCapability, RtpCodecKind};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Which way media flows on a connection of the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// A participant sends its tracks to the node.
    Publisher,
    /// The node sends the others' tracks to a participant.
    Subscriber,
}

/// A new connection and the ufrag that routes its STUN to it.
pub(crate) struct NewPeer {
    pub(crate) pc: RTCPeerConnection,
    pub(crate) ufrag: String,
}

fn random_text(len: usize) -> String {
    rand::rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

/// How long a connection may go without a STUN check from its client before the
/// node counts it disconnected (and stops forwarding to it). An ICE-lite node sends
/// no checks of its own and media does not count, so this waits on the client's
/// consent checks alone: Chromium sends them on a connection it only receives on
/// about every 25 s (measured), and later still on a busy machine. rtc's default
/// of 5 s made a subscriber's video stop for most of every 25 s, and a check late
/// by a few seconds more failed the connection for good.
const SILENCE_BEFORE_DISCONNECTED: Duration = Duration::from_secs(40);

/// How much longer, once disconnected, before the connection is failed and closed.
/// A client that is really gone has usually been noticed well before by signaling
/// (its socket closes and its seat expires, which closes its connections).
const SILENCE_BEFORE_FAILED: Duration = Duration::from_secs(20);

/// A connection of the node: ICE lite with our own credentials (so the ufrag can
/// route it), no mDNS (nothing multicast leaves the node), DTLS server when
/// answering (the client starts the handshake as soon as ICE works, instead of our
/// early ClientHello being dropped and resent a second later), NACK and RTCP
/// reports, keyframe requests delivered to the loop, audio levels on received
/// audio (for active-speaker detection), and one host candidate: the address
/// clients must send to.
pub(crate) fn build(advertised: SocketAddr, side: Side, now: Instant) -> Result<NewPeer, SfuError> {
    let ufrag = random_text(8);
    let mut media = MediaEngine::default();
    media.register_default_codecs()?;
    media.register_header_extension(
        RTCRtpHeaderExtensionCapability { uri: AUDIO_LEVEL_URI.to_owned() },
        RtpCodecKind::Audio,
        Some(RTCRtpTransceiverDirection::Recvonly),
    )?;
    // The default set, for what it negotiates (NACK, PLI, transport-cc, the
    // simulcast extensions); the chain itself is chosen per side below.
    register_default_interceptors(Registry::new(), &mut media)?;
    let interceptors = interceptors_for(side);
    let settings = SettingEngineBuilder::new()
        .with_lite(true)
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .with_ice_credentials(ufrag.clone(), random_text(24))
        .with_answering_dtls_role(RTCDtlsRole::Server)
        .with_ice_timeouts(Some(SILENCE_BEFORE_DISCONNECTED), Some(SILENCE_BEFORE_FAILED), None)
        .build();
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_media_engine(media)
        .with_setting_engine(settings)
        .with_interceptor_registry(interceptors)
        .build(now)?;
    offer_host_candidate(&mut pc, advertised)?;
    Ok(NewPeer { pc, ufrag })
}

/// The interceptors a connection of `side` uses. Every packet walks the whole chain
/// (in and out), so each side gets only what works on its direction: a subscriber
/// connection sends media (NACK answers from its send history, sender reports) and
/// receives keyframe requests; a publisher connection receives media (NACKs for
/// what went missing, transport-cc feedback, receiver reports). The unused half
/// cost every forwarded packet a walk through three more interceptors.
fn interceptors_for(side: Side) -> Registry {
    match side {
        Side::Subscriber => Registry::new()
            .with(Slot::NackResponder, NackResponderBuilder::new().build())
            .with(Slot::SenderReport, SenderReportBuilder::new().build())
            .with(Slot::from(14_000), DeliverRtcp::keyframe_requests()),
        Side::Publisher => Registry::new()
            .with(Slot::NackGenerator, NackGeneratorBuilder::new().build())
            .with(Slot::TwccReceiver, TwccReceiverBuilder::new().build())
            .with(Slot::ReceiverReport, ReceiverReportBuilder::new().build()),
    }
}

/// Gives `pc` its one candidate, a UDP host candidate at `addr`, and ends gathering:
/// its offers and answers are complete, with no trickle. The node, and any peer the
/// tests or load tools drive, are reached the same way.
pub fn offer_host_candidate(pc: &mut RTCPeerConnection, addr: SocketAddr) -> Result<(), rtc::shared::error::Error> {
    let candidate = CandidateHostConfig {
        base_config: CandidateConfig {
            network: "udp".to_owned(),
            address: addr.ip().to_string(),
            port: addr.port(),
            component: 1,
            ..Default::default()
        },
        ..Default::default()
    }
    .new_candidate_host()?;
    pc.add_local_candidate(RTCIceCandidate::from(&candidate).to_json()?)?;
    pc.add_local_candidate(RTCIceCandidateInit::default())
}

//! Building the node's side of a connection.

use super::SfuError;
use super::active_speaker::AUDIO_LEVEL_URI;
use super::keyframe_requests::DeliverKeyframeRequests;
use rand::Rng;
use rand::distr::Alphanumeric;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{Registry, Slot};
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
use std::time::Instant;

/// A new connection and the ufrag that routes its STUN to it.
pub(crate) struct NewPeer {
    pub(crate) pc: RTCPeerConnection,
    pub(crate) ufrag: String,
}

fn random_text(len: usize) -> String {
    rand::rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

/// A connection of the node: ICE lite with our own credentials (so the ufrag can
/// route it), no mDNS (nothing multicast leaves the node), DTLS server when
/// answering (the client starts the handshake as soon as ICE works, instead of our
/// early ClientHello being dropped and resent a second later), NACK and RTCP
/// reports, keyframe requests delivered to the loop, audio levels on received
/// audio (for active-speaker detection), and one host candidate: the address
/// clients must send to.
pub(crate) fn build(advertised: SocketAddr, now: Instant) -> Result<NewPeer, SfuError> {
    let ufrag = random_text(8);
    let mut media = MediaEngine::default();
    media.register_default_codecs()?;
    media.register_header_extension(
        RTCRtpHeaderExtensionCapability { uri: AUDIO_LEVEL_URI.to_owned() },
        RtpCodecKind::Audio,
        Some(RTCRtpTransceiverDirection::Recvonly),
    )?;
    let interceptors = register_default_interceptors(
        Registry::new().with(Slot::from(14_000), DeliverKeyframeRequests::default()),
        &mut media,
    )?;
    let settings = SettingEngineBuilder::new()
        .with_lite(true)
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .with_ice_credentials(ufrag.clone(), random_text(24))
        .with_answering_dtls_role(RTCDtlsRole::Server)
        .build();
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_media_engine(media)
        .with_setting_engine(settings)
        .with_interceptor_registry(interceptors)
        .build(now)?;
    offer_host_candidate(&mut pc, advertised)?;
    Ok(NewPeer { pc, ufrag })
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

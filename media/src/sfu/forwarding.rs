//! Which subscriber tracks each published track feeds, and the RTP rewrite that
//! makes a publisher's packet valid on a subscriber's connection.
//!
//! rtc validates but does not rewrite: a packet written to a sender must carry
//! that sender's SSRC, a payload type negotiated on that connection, and only
//! header extensions negotiated there. The publisher's extension ids mean nothing
//! on the subscriber's connection, so forwarded packets carry none (the node reads
//! the audio level itself, for active-speaker detection, before it forwards).

use super::ice_demux::ConnId;
use super::node::Seat;
use super::track_source::TrackSource;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RtpCodecKind};
use rtc::rtp_transceiver::{RTCRtpReceiverId, RTCRtpSenderId};
use rustc_hash::FxHashMap;

/// A track a participant publishes, as the node receives it.
#[derive(Debug, Clone)]
pub(crate) struct PublishedTrack {
    pub(crate) seat: Seat,
    pub(crate) conn: ConnId,
    pub(crate) receiver: RTCRtpReceiverId,
    pub(crate) ssrc: u32,
    pub(crate) kind: RtpCodecKind,
    pub(crate) codec: RTCRtpCodec,
    /// Camera (and microphone) or screen.
    pub(crate) source: TrackSource,
    /// The id the publisher's audio-level extension has on its connection, if negotiated.
    pub(crate) audio_level: Option<u8>,
}

/// One subscriber's copy of a published track.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub(crate) conn: ConnId,
    pub(crate) sender: RTCRtpSenderId,
    pub(crate) ssrc: u32,
    /// Learnt from the negotiated parameters at the first packet.
    pub(crate) payload_type: Option<u8>,
}

/// A publisher's track is known by its connection and the track id rtc gives it.
pub(crate) type TrackKey = (ConnId, String);

/// The forwarding table.
#[derive(Default)]
pub(crate) struct Routes {
    /// Looked up for every packet a publisher sends; keyed by the node's connection ids.
    tracks: FxHashMap<TrackKey, (PublishedTrack, Vec<Subscription>)>,
    /// A subscriber's local track id → the published track it copies (for PLI).
    sources: FxHashMap<TrackKey, TrackKey>,
}

impl Routes {
    /// Records a track a publisher started sending.
    pub(crate) fn publish(&mut self, key: TrackKey, track: PublishedTrack) {
        self.tracks.entry(key).or_insert_with(|| (track, Vec::new()));
    }

    /// What `seat` may receive: the tracks published by everyone else in its room.
    pub(crate) fn tracks_for(&self, seat: &Seat) -> Vec<(TrackKey, PublishedTrack)> {
        let mut out: Vec<_> = self
            .tracks
            .iter()
            .filter(|(_, (t, _))| t.seat.room == seat.room && t.seat != *seat)
            .map(|(k, (t, _))| (k.clone(), t.clone()))
            .collect();
        out.sort_by(|a, b| (&a.1.seat, &a.0.1).cmp(&(&b.1.seat, &b.0.1)));
        out
    }

    /// Feeds `source` to a subscriber's sender whose local track id is `local_track`.
    pub(crate) fn subscribe(&mut self, source: &TrackKey, local_track: TrackKey, sub: Subscription) {
        if let Some((_, subs)) = self.tracks.get_mut(source) {
            subs.push(sub);
            self.sources.insert(local_track, source.clone());
        }
    }

    /// A published track and the subscriptions it feeds.
    pub(crate) fn route_mut(&mut self, source: &TrackKey) -> Option<(&PublishedTrack, &mut Vec<Subscription>)> {
        self.tracks.get_mut(source).map(|(track, subs)| (&*track, subs))
    }

    /// The published track a subscriber's local track copies.
    pub(crate) fn source_of(&self, local_track: &TrackKey) -> Option<&PublishedTrack> {
        let source = self.sources.get(local_track)?;
        self.tracks.get(source).map(|(t, _)| t)
    }

    /// Video tracks feeding `subscriber_conn` (to ask for keyframes when it connects).
    pub(crate) fn video_sources_of(&self, subscriber_conn: ConnId) -> Vec<PublishedTrack> {
        self.tracks
            .values()
            .filter(|(t, subs)| t.kind == RtpCodecKind::Video && subs.iter().any(|s| s.conn == subscriber_conn))
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// Every subscriber copy of the tracks `publisher_conn` publishes.
    pub(crate) fn copies_of_publisher(&self, publisher_conn: ConnId) -> Vec<Subscription> {
        self.tracks.iter().filter(|((c, _), _)| *c == publisher_conn).flat_map(|(_, (_, subs))| subs.clone()).collect()
    }

    /// Forgets a connection: its published tracks and its subscriptions.
    pub(crate) fn remove_conn(&mut self, conn: ConnId) {
        self.tracks.retain(|(c, _), _| *c != conn);
        for (_, subs) in self.tracks.values_mut() {
            subs.retain(|s| s.conn != conn);
        }
        let tracks = &self.tracks;
        self.sources.retain(|(c, _), source| *c != conn && tracks.contains_key(source));
    }
}

/// The copy of a publisher's packet that the subscriber's sender sends: its SSRC and
/// payload type, no header extensions, the same payload (shared, not copied).
/// Nothing is allocated unless the packet lists contributing sources.
pub(crate) fn copy_for(packet: &rtp::Packet, ssrc: u32, payload_type: u8) -> rtp::Packet {
    let h = &packet.header;
    rtp::Packet {
        header: rtp::header::Header {
            version: h.version,
            padding: h.padding,
            extension: false,
            marker: h.marker,
            payload_type,
            sequence_number: h.sequence_number,
            timestamp: h.timestamp,
            ssrc,
            csrc: h.csrc.clone(),
            extension_profile: 0,
            extensions: Vec::new(),
            extensions_padding: 0,
        },
        payload: packet.payload.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(participant: &str, conn: ConnId, kind: RtpCodecKind) -> PublishedTrack {
        PublishedTrack {
            seat: Seat::new("room", participant),
            conn,
            receiver: RTCRtpReceiverId::default(),
            ssrc: 1,
            kind,
            codec: RTCRtpCodec::default(),
            source: TrackSource::Camera,
            audio_level: None,
        }
    }

    #[test]
    fn a_participant_is_offered_everyone_elses_tracks_in_their_room_only() {
        let mut r = Routes::default();
        r.publish((1, "a-video".into()), track("ann", 1, RtpCodecKind::Video));
        r.publish((2, "b-audio".into()), track("bob", 2, RtpCodecKind::Audio));
        let mut elsewhere = track("cat", 3, RtpCodecKind::Video);
        elsewhere.seat = Seat::new("other-room", "cat");
        r.publish((3, "c-video".into()), elsewhere);
        let for_ann: Vec<_> = r.tracks_for(&Seat::new("room", "ann")).into_iter().map(|(k, _)| k.1).collect();
        assert_eq!(for_ann, ["b-audio"]);
        let for_cat: Vec<_> = r.tracks_for(&Seat::new("other-room", "cat")).into_iter().map(|(k, _)| k.1).collect();
        assert!(for_cat.is_empty());
    }

    #[test]
    fn removing_a_subscriber_stops_its_copies_and_removing_a_publisher_its_tracks() {
        let mut r = Routes::default();
        let source: TrackKey = (1, "a-video".into());
        r.publish(source.clone(), track("ann", 1, RtpCodecKind::Video));
        let sub = Subscription { conn: 5, sender: RTCRtpSenderId::default(), ssrc: 9, payload_type: None };
        r.subscribe(&source, (5, "t0".into()), sub);
        assert_eq!(r.video_sources_of(5).len(), 1);
        assert!(r.source_of(&(5, "t0".into())).is_some());
        r.remove_conn(5);
        assert!(r.route_mut(&source).unwrap().1.is_empty());
        assert!(r.source_of(&(5, "t0".into())).is_none());
        r.remove_conn(1);
        assert!(r.route_mut(&source).is_none());
    }

    #[test]
    fn a_copy_has_the_subscribers_ssrc_and_payload_type_no_extensions_and_the_same_payload() {
        let mut p = rtp::Packet::default();
        p.header.ssrc = 1;
        p.header.payload_type = 100;
        p.header.sequence_number = 7;
        p.header.timestamp = 9000;
        p.header.marker = true;
        p.header.extension = true;
        p.header.extensions.push(rtp::header::Extension { id: 3, payload: bytes::Bytes::from_static(&[1]) });
        p.payload = bytes::Bytes::from_static(b"frame");
        let c = copy_for(&p, 42, 96);
        assert_eq!((c.header.ssrc, c.header.payload_type, c.header.extension), (42, 96, false));
        assert_eq!((c.header.sequence_number, c.header.timestamp, c.header.marker), (7, 9000, true));
        assert!(c.header.extensions.is_empty());
        assert_eq!(c.payload.as_ptr(), p.payload.as_ptr(), "the payload is shared, not copied");
    }
}

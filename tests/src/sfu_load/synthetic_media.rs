//! What a publisher sends: Opus-sized audio every 20 ms, and synthetic VP8 frames at
//! a chosen bitrate and frame rate, correctly packetized (payload descriptor, frame
//! header, marker bit) so that an SFU that looks for keyframes finds them. Nothing
//! here is decodable, and nothing needs to be: SFUs forward payloads unchanged.
//!
//! Every payload carries a [`Probe`] right after its codec header.

use super::probe::{Kind, PROBE_LEN, Probe, StreamTag, nanos_since_epoch};
use bytes::BytesMut;
use rtc::rtp;
use std::time::{Duration, Instant};

/// One audio packet every this often (Opus' usual frame).
pub const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
/// Bytes of each audio payload (a 32 kbit/s Opus frame is about this size).
pub const AUDIO_PAYLOAD: usize = 100;
/// Opus' RTP clock.
const AUDIO_CLOCK: u32 = 48_000;
/// The largest video payload per packet (what browsers use, leaving room for SRTP).
pub const MAX_VIDEO_PAYLOAD: usize = 1_100;
/// A keyframe at least this often, besides the ones keyframe requests ask for.
pub const KEYFRAME_INTERVAL: Duration = Duration::from_secs(3);
/// A keyframe is this many times the average frame (real encoders: 3–10×); the
/// delta frames are smaller so that the bitrate holds over the keyframe interval.
const KEYFRAME_SIZE_FACTOR: usize = 3;
/// VP8's RTP clock.
const VIDEO_CLOCK: u32 = 90_000;
/// The picture size keyframes announce.
const WIDTH: u16 = 640;
const HEIGHT: u16 = 360;
/// How late a source may fall before it skips ahead instead of catching up in a burst.
const MAX_CATCH_UP: Duration = Duration::from_millis(200);
/// Bytes the payload arena takes at a time.
const ARENA_CHUNK: usize = 64 * 1024;
/// VP8 payload descriptor: no extensions, start of partition, partition 0.
const VP8_START: u8 = 0x10;
/// VP8 payload descriptor of a continuation packet.
const VP8_CONTINUATION: u8 = 0x00;
/// The bytes of a keyframe's VP8 frame header (frame tag, start code, size).
const KEYFRAME_HEADER_LEN: usize = 10;
/// The bytes of a delta frame's VP8 frame header (frame tag).
const DELTA_HEADER_LEN: usize = 3;

/// Where an RTP stream is: the numbers every packet header needs.
#[derive(Debug, Clone, Copy)]
struct RtpState {
    ssrc: u32,
    payload_type: u8,
    sequence: u16,
    timestamp: u32,
}

impl RtpState {
    fn header(&mut self, marker: bool) -> rtp::header::Header {
        let header = rtp::header::Header {
            version: 2,
            marker,
            payload_type: self.payload_type,
            sequence_number: self.sequence,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
            ..Default::default()
        };
        self.sequence = self.sequence.wrapping_add(1);
        header
    }
}

/// A fixed-interval schedule that skips ahead when it falls far behind.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    next: Instant,
    interval: Duration,
}

impl Schedule {
    /// How late the due tick is (`None` when not due yet), advancing past it.
    fn take(&mut self, now: Instant) -> Option<Duration> {
        let late = now.checked_duration_since(self.next)?;
        self.next += self.interval;
        if late > MAX_CATCH_UP {
            self.next = now + self.interval;
        }
        Some(late)
    }
}

/// Payload bytes are written into one growing buffer and split off: once the
/// packets sent earlier are gone, its memory is reused, so sending allocates little.
#[derive(Debug, Default)]
pub struct PayloadArena(BytesMut);

impl PayloadArena {
    fn payload(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) -> bytes::Bytes {
        if self.0.capacity() < len {
            self.0.reserve(ARENA_CHUNK.max(len));
        }
        self.0.resize(len, 0);
        fill(&mut self.0[..]);
        self.0.split().freeze()
    }
}

/// A publisher's audio: a [`AUDIO_PAYLOAD`]-byte packet every [`AUDIO_INTERVAL`].
#[derive(Debug)]
pub struct AudioSource {
    tag: StreamTag,
    counter: u64,
    rtp: RtpState,
    schedule: Schedule,
}

impl AudioSource {
    /// Audio of stream `tag` on `ssrc`, first due at `start`.
    pub fn new(tag: StreamTag, ssrc: u32, start: Instant) -> Self {
        let rtp = RtpState { ssrc, payload_type: 0, sequence: random_u16(ssrc), timestamp: ssrc.rotate_left(7) };
        Self { tag, counter: 0, rtp, schedule: Schedule { next: start, interval: AUDIO_INTERVAL } }
    }

    /// The payload type negotiated for Opus.
    pub fn set_payload_type(&mut self, payload_type: u8) {
        self.rtp.payload_type = payload_type;
    }

    /// When the next packet is due.
    pub fn next_due(&self) -> Instant {
        self.schedule.next
    }

    /// The next packet and how late it is, when one is due at `now`.
    pub fn poll(&mut self, now: Instant, arena: &mut PayloadArena) -> Option<(rtp::Packet, Duration)> {
        let late = self.schedule.take(now)?;
        let probe = Probe { sent_at: nanos_since_epoch(now), counter: self.counter, tag: self.tag };
        self.counter += 1;
        let payload = arena.payload(AUDIO_PAYLOAD, |bytes| probe.write(bytes));
        let packet = rtp::Packet { header: self.rtp.header(false), payload };
        self.rtp.timestamp = self.rtp.timestamp.wrapping_add(AUDIO_CLOCK / 50);
        Some((packet, late))
    }

    /// Packets sent so far.
    pub fn sent(&self) -> u64 {
        self.counter
    }
}

/// Frame sizes for a bitrate and frame rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoShape {
    /// Payload bytes of a keyframe.
    pub keyframe_bytes: usize,
    /// Payload bytes of every other frame.
    pub delta_bytes: usize,
    /// Frames per second.
    pub fps: u32,
}

impl VideoShape {
    /// Frames that average `kbps` (payload bits) at `fps`, with a keyframe every
    /// [`KEYFRAME_INTERVAL`] three times the average frame.
    pub fn new(kbps: u32, fps: u32) -> Self {
        let fps = fps.max(1);
        let average = (kbps as usize * 1000 / 8 / fps as usize).max(1);
        let per_interval = (KEYFRAME_INTERVAL.as_secs() as usize * fps as usize).max(2);
        let keyframe_bytes = (average * KEYFRAME_SIZE_FACTOR).max(min_frame_bytes(true));
        let delta_bytes = (average * per_interval).saturating_sub(keyframe_bytes) / (per_interval - 1);
        Self { keyframe_bytes, delta_bytes: delta_bytes.max(min_frame_bytes(false)), fps }
    }

    /// Packets per second, on average, without extra keyframes.
    pub fn packets_per_second(&self) -> f64 {
        let per_interval = KEYFRAME_INTERVAL.as_secs_f64() * f64::from(self.fps);
        let packets =
            packet_count(self.keyframe_bytes) as f64 + (per_interval - 1.0) * packet_count(self.delta_bytes) as f64;
        packets / KEYFRAME_INTERVAL.as_secs_f64()
    }
}

fn min_frame_bytes(keyframe: bool) -> usize {
    1 + if keyframe { KEYFRAME_HEADER_LEN } else { DELTA_HEADER_LEN } + PROBE_LEN
}

fn packet_count(frame_bytes: usize) -> usize {
    frame_bytes.div_ceil(MAX_VIDEO_PAYLOAD).max(1)
}

/// A publisher's video: VP8 frames of [`VideoShape`], each sent as one burst of
/// packets, a keyframe every [`KEYFRAME_INTERVAL`] and after every request.
#[derive(Debug)]
pub struct VideoSource {
    tag: StreamTag,
    counter: u64,
    rtp: RtpState,
    shape: VideoShape,
    schedule: Schedule,
    next_keyframe: Instant,
    keyframe_requested: bool,
    frames: u64,
    keyframes: u64,
}

impl VideoSource {
    /// Video of stream `tag` on `ssrc`, first frame (a keyframe) due at `start`.
    pub fn new(tag: StreamTag, ssrc: u32, shape: VideoShape, start: Instant) -> Self {
        let rtp = RtpState { ssrc, payload_type: 0, sequence: random_u16(ssrc), timestamp: ssrc.rotate_left(11) };
        let interval = Duration::from_secs(1) / shape.fps.max(1);
        Self {
            tag,
            counter: 0,
            rtp,
            shape,
            schedule: Schedule { next: start, interval },
            next_keyframe: start,
            keyframe_requested: true,
            frames: 0,
            keyframes: 0,
        }
    }

    /// The payload type negotiated for VP8.
    pub fn set_payload_type(&mut self, payload_type: u8) {
        self.rtp.payload_type = payload_type;
    }

    /// Makes the next frame a keyframe (a PLI or FIR came).
    pub fn request_keyframe(&mut self) {
        self.keyframe_requested = true;
    }

    /// When the next frame is due.
    pub fn next_due(&self) -> Instant {
        self.schedule.next
    }

    /// Appends the next frame's packets to `out` and returns how late it is, when
    /// one is due at `now`.
    pub fn poll(&mut self, now: Instant, arena: &mut PayloadArena, out: &mut Vec<rtp::Packet>) -> Option<Duration> {
        let late = self.schedule.take(now)?;
        let keyframe = self.keyframe_requested || now >= self.next_keyframe;
        if keyframe {
            self.keyframe_requested = false;
            self.next_keyframe = now + KEYFRAME_INTERVAL;
            self.keyframes += 1;
        }
        let frame_bytes = if keyframe { self.shape.keyframe_bytes } else { self.shape.delta_bytes };
        let packets = packet_count(frame_bytes);
        let per_packet = frame_bytes.div_ceil(packets);
        let sent_at = nanos_since_epoch(now);
        for index in 0..packets {
            let first = index == 0;
            let header_len = match (first, keyframe) {
                (false, _) => 0,
                (true, true) => KEYFRAME_HEADER_LEN,
                (true, false) => DELTA_HEADER_LEN,
            };
            let len = per_packet.max(1 + header_len + PROBE_LEN);
            let probe = Probe { sent_at, counter: self.counter, tag: self.tag };
            self.counter += 1;
            let payload = arena.payload(len, |bytes| {
                bytes[0] = if first { VP8_START } else { VP8_CONTINUATION };
                if first {
                    write_frame_header(&mut bytes[1..1 + header_len], keyframe, frame_bytes - 1 - header_len);
                }
                probe.write(&mut bytes[1 + header_len..]);
            });
            out.push(rtp::Packet { header: self.rtp.header(index + 1 == packets), payload });
        }
        self.rtp.timestamp = self.rtp.timestamp.wrapping_add(VIDEO_CLOCK / self.shape.fps.max(1));
        self.frames += 1;
        Some(late)
    }

    /// Packets sent so far.
    pub fn sent(&self) -> u64 {
        self.counter
    }

    /// Keyframes sent so far.
    pub fn keyframes(&self) -> u64 {
        self.keyframes
    }
}

/// A VP8 frame header (RFC 6386 §9.1): the 3-byte frame tag (key-frame bit 0 for
/// a keyframe, version 0, shown, first partition size), and for a keyframe the
/// start code and the picture size.
fn write_frame_header(out: &mut [u8], keyframe: bool, rest: usize) {
    let first_partition = u32::try_from(rest.min(0x7_ffff)).unwrap_or(0x7_ffff);
    let tag = (first_partition << 5) | (1 << 4) | u32::from(!keyframe);
    out[..3].copy_from_slice(&tag.to_le_bytes()[..3]);
    if keyframe {
        out[3..6].copy_from_slice(&[0x9d, 0x01, 0x2a]);
        out[6..8].copy_from_slice(&WIDTH.to_le_bytes());
        out[8..10].copy_from_slice(&HEIGHT.to_le_bytes());
    }
}

/// Where the probe starts in a received payload of `kind`, and whether the packet
/// starts a VP8 keyframe: skips the VP8 payload descriptor (with any extensions an
/// SFU may have added) and, on a frame's first packet, its frame header.
pub fn parse_payload(kind: Kind, payload: &[u8]) -> Option<(Probe, bool)> {
    match kind {
        Kind::Audio => Probe::read(payload).map(|p| (p, false)),
        Kind::Video => {
            let descriptor = *payload.first()?;
            let mut at = 1;
            if descriptor & 0x80 != 0 {
                let extensions = *payload.get(at)?;
                at += 1;
                if extensions & 0x80 != 0 {
                    // PictureID: one byte, or two when its M bit is set.
                    at += if payload.get(at)? & 0x80 != 0 { 2 } else { 1 };
                }
                if extensions & 0x40 != 0 {
                    at += 1; // TL0PICIDX
                }
                if extensions & 0x30 != 0 {
                    at += 1; // TID/Y/KEYIDX
                }
            }
            let start = descriptor & 0x10 != 0 && descriptor & 0x0f == 0;
            let mut keyframe = false;
            if start {
                keyframe = payload.get(at)? & 0x01 == 0;
                at += if keyframe { KEYFRAME_HEADER_LEN } else { DELTA_HEADER_LEN };
            }
            Probe::read(payload.get(at..)?).map(|p| (p, keyframe))
        }
    }
}

/// A stable, spread-out 16-bit start for a stream's sequence numbers.
fn random_u16(seed: u32) -> u16 {
    (seed.wrapping_mul(0x9e37_79b9) >> 16) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(video: &mut VideoSource, start: Instant, count: u32) -> Vec<Vec<rtp::Packet>> {
        let mut arena = PayloadArena::default();
        (0..count)
            .map(|i| {
                let mut out = Vec::new();
                video.poll(start + Duration::from_millis(u64::from(i) * 34), &mut arena, &mut out).expect("due");
                out
            })
            .collect()
    }

    #[test]
    fn a_keyframe_opens_the_stream_with_the_vp8_start_code_and_picture_size() {
        let start = Instant::now();
        let mut video = VideoSource::new(StreamTag::of(1, Kind::Video), 5, VideoShape::new(500, 30), start);
        let frame = &frames(&mut video, start, 1)[0];
        let first = &frame[0].payload;
        assert_eq!(first[0], 0x10, "S bit, partition 0");
        assert_eq!(first[1] & 0x01, 0, "key-frame bit 0");
        assert_eq!(&first[4..7], &[0x9d, 0x01, 0x2a]);
        assert_eq!(u16::from_le_bytes([first[7], first[8]]), 640);
        assert_eq!(u16::from_le_bytes([first[9], first[10]]), 360);
        assert!(frame.iter().all(|p| p.payload.len() <= MAX_VIDEO_PAYLOAD));
        assert!(frame.last().is_some_and(|p| p.header.marker));
        assert!(frame.len() > 1, "a 6 kB keyframe takes several packets");
        assert!(frame[..frame.len() - 1].iter().all(|p| !p.header.marker));
        assert!(frame[1..].iter().all(|p| p.payload[0] == 0), "continuations: S bit clear");
        let (probe, keyframe) = parse_payload(Kind::Video, first).expect("a probe");
        assert!(keyframe);
        assert_eq!((probe.counter, probe.tag), (0, StreamTag::of(1, Kind::Video)));
        let (probe, keyframe) = parse_payload(Kind::Video, &frame[1].payload).expect("a probe");
        assert!(!keyframe);
        assert_eq!(probe.counter, 1);
    }

    #[test]
    fn delta_frames_follow_until_a_keyframe_is_requested() {
        let start = Instant::now();
        let mut video = VideoSource::new(StreamTag::of(0, Kind::Video), 5, VideoShape::new(500, 30), start);
        let sent = frames(&mut video, start, 3);
        let (_, keyframe) = parse_payload(Kind::Video, &sent[1][0].payload).expect("a probe");
        assert!(!keyframe);
        assert_eq!(sent[1][0].payload[1] & 0x01, 1, "key-frame bit 1: a delta frame");
        video.request_keyframe();
        let mut out = Vec::new();
        video.poll(start + Duration::from_millis(200), &mut PayloadArena::default(), &mut out).expect("due");
        assert!(parse_payload(Kind::Video, &out[0].payload).expect("a probe").1);
        assert_eq!(video.keyframes(), 2);
    }

    #[test]
    fn the_bitrate_holds_over_a_keyframe_interval() {
        let shape = VideoShape::new(500, 30);
        let per_interval = 90;
        let bits = (shape.keyframe_bytes + (per_interval - 1) * shape.delta_bytes) * 8 / 3;
        assert!((490_000..=510_000).contains(&bits), "{bits} bit/s");
        assert!((60.0..70.0).contains(&shape.packets_per_second()), "{}", shape.packets_per_second());
    }

    #[test]
    fn audio_is_a_probe_in_a_hundred_bytes_every_twenty_milliseconds() {
        let start = Instant::now();
        let mut audio = AudioSource::new(StreamTag::of(2, Kind::Audio), 9, start);
        let mut arena = PayloadArena::default();
        let (first, _) = audio.poll(start, &mut arena).expect("due at start");
        assert!(audio.poll(start + Duration::from_millis(19), &mut arena).is_none());
        let (second, _) = audio.poll(start + Duration::from_millis(20), &mut arena).expect("due");
        assert_eq!(first.payload.len(), AUDIO_PAYLOAD);
        assert_eq!(second.header.sequence_number, first.header.sequence_number.wrapping_add(1));
        assert_eq!(second.header.timestamp, first.header.timestamp.wrapping_add(960));
        assert_eq!(parse_payload(Kind::Audio, &second.payload).expect("a probe").0.counter, 1);
    }
}

//! The probe every synthetic payload carries, right after its codec header: when
//! it was sent, its number in its stream, and which stream it belongs to. An SFU
//! forwards payloads unchanged, so a receiver reads loss and delay from it without
//! trusting anything the SFU rewrites (SSRCs, sequence numbers, track ids).
//!
//! Layout (big-endian), 20 bytes: send time in nanoseconds since [`epoch`] (u64),
//! the stream's counter (u64, from 0, one per packet), the stream tag (u32).

use std::sync::OnceLock;
use std::time::Instant;

/// Bytes a probe takes.
pub const PROBE_LEN: usize = 20;

/// The one clock every send and receive time is measured on: the process's
/// first use of it. Senders and receivers live in the same process.
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds from [`epoch`] to `at`.
pub fn nanos_since_epoch(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch()).as_nanos()).unwrap_or(u64::MAX)
}

/// Audio or video: the two streams each publisher sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Opus-sized packets every 20 ms.
    Audio,
    /// Synthetic VP8 frames.
    Video,
}

/// Which stream a packet belongs to: publisher number `p` (numbered across all
/// rooms of a run) sends audio as tag `2p` and video as `2p + 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamTag(pub u32);

impl StreamTag {
    /// The tag of `publisher`'s stream of `kind`.
    pub fn of(publisher: u32, kind: Kind) -> Self {
        Self(publisher * 2 + u32::from(kind == Kind::Video))
    }

    /// The publisher that sends this stream.
    pub fn publisher(self) -> u32 {
        self.0 / 2
    }

    /// Audio or video.
    pub fn kind(self) -> Kind {
        if self.0.is_multiple_of(2) { Kind::Audio } else { Kind::Video }
    }
}

/// What a probe says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Send time, nanoseconds since [`epoch`].
    pub sent_at: u64,
    /// The packet's number in its stream.
    pub counter: u64,
    /// The stream.
    pub tag: StreamTag,
}

impl Probe {
    /// Writes the probe into the first [`PROBE_LEN`] bytes of `out`.
    pub fn write(&self, out: &mut [u8]) {
        out[0..8].copy_from_slice(&self.sent_at.to_be_bytes());
        out[8..16].copy_from_slice(&self.counter.to_be_bytes());
        out[16..20].copy_from_slice(&self.tag.0.to_be_bytes());
    }

    /// Reads a probe from the start of `bytes`, if there is room for one.
    pub fn read(bytes: &[u8]) -> Option<Self> {
        let bytes = bytes.get(..PROBE_LEN)?;
        let u64_at = |at: usize| bytes[at..at + 8].try_into().ok().map(u64::from_be_bytes);
        Some(Self {
            sent_at: u64_at(0)?,
            counter: u64_at(8)?,
            tag: StreamTag(u32::from_be_bytes(bytes[16..20].try_into().ok()?)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_reads_back_as_written() {
        let probe = Probe { sent_at: 0x0102_0304_0506_0708, counter: 42, tag: StreamTag::of(7, Kind::Video) };
        let mut bytes = [0u8; PROBE_LEN + 3];
        probe.write(&mut bytes);
        assert_eq!(Probe::read(&bytes), Some(probe));
        assert_eq!(Probe::read(&bytes[..PROBE_LEN - 1]), None);
    }

    #[test]
    fn a_tag_names_its_publisher_and_kind() {
        let tag = StreamTag::of(3, Kind::Audio);
        assert_eq!((tag.publisher(), tag.kind()), (3, Kind::Audio));
        let tag = StreamTag::of(3, Kind::Video);
        assert_eq!((tag.publisher(), tag.kind()), (3, Kind::Video));
    }
}

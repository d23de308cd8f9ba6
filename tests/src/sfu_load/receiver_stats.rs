//! What subscribers received, per stream (subscriber × publisher × kind): packets,
//! bytes, loss read from the probes' counters, and the added delay of every packet
//! in one histogram per run.
//!
//! A stream counts from its first keyframe (video) or its first packet (audio):
//! what an SFU sends before a subscriber can decode is not a loss to it.

use super::probe::{Kind, Probe, StreamTag};
use std::time::Duration;

/// Sub-buckets per power of two: values are kept to within 1/32 (about 3%).
const SUB_BUCKETS: u64 = 32;

/// Delays in microseconds, log-linear buckets (exact below 64 µs, then within
/// about 3%), from 0 to hours, in about 1,200 counters.
#[derive(Debug, Clone)]
pub struct DelayHistogram {
    counts: Vec<u64>,
    total: u64,
    max_us: u64,
}

impl Default for DelayHistogram {
    fn default() -> Self {
        Self { counts: vec![0; bucket_of(u64::MAX) + 1], total: 0, max_us: 0 }
    }
}

fn bucket_of(us: u64) -> usize {
    if us < 2 * SUB_BUCKETS {
        return us as usize;
    }
    let shift = 63 - u64::from(us.leading_zeros()) - SUB_BUCKETS.trailing_zeros() as u64;
    let top = us >> shift; // in [SUB_BUCKETS, 2 * SUB_BUCKETS)
    (SUB_BUCKETS * (shift + 1) + (top - SUB_BUCKETS)) as usize
}

/// The largest value of `bucket`.
fn bucket_top(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < 2 * SUB_BUCKETS {
        return bucket;
    }
    let shift = bucket / SUB_BUCKETS - 1;
    let top = bucket % SUB_BUCKETS + SUB_BUCKETS;
    u64::try_from((u128::from(top + 1) << shift) - 1).unwrap_or(u64::MAX)
}

impl DelayHistogram {
    /// Records one delay.
    pub fn record(&mut self, delay: Duration) {
        let us = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket_of(us)] += 1;
        self.total += 1;
        self.max_us = self.max_us.max(us);
    }

    /// Adds another histogram's samples.
    pub fn merge(&mut self, other: &Self) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max_us = self.max_us.max(other.max_us);
    }

    /// Forgets every sample.
    pub fn clear(&mut self) {
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.total = 0;
        self.max_us = 0;
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The delay at quantile `q` (0–1), in milliseconds (the top of its bucket),
    /// or `None` without samples.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(bucket_top(bucket).min(self.max_us) as f64 / 1000.0);
            }
        }
        Some(self.max_us as f64 / 1000.0)
    }

    /// The largest delay, in milliseconds, or `None` without samples.
    pub fn max_ms(&self) -> Option<f64> {
        (self.total > 0).then(|| self.max_us as f64 / 1000.0)
    }
}

/// One received stream during the measurement window.
#[derive(Debug, Clone, Default)]
pub struct StreamStats {
    /// Packets counted (after the stream's start).
    pub packets: u64,
    /// RTP bytes (header and payload) of those packets.
    pub bytes: u64,
    /// The lowest and highest probe counter counted.
    range: Option<(u64, u64)>,
    /// A keyframe arrived (video; audio starts at once).
    pub started: bool,
}

impl StreamStats {
    /// Counts a packet; returns whether it counted (the stream has started).
    pub fn record(&mut self, kind: Kind, probe: &Probe, keyframe: bool, rtp_bytes: usize) -> bool {
        if !self.started {
            if kind == Kind::Video && !keyframe {
                return false;
            }
            self.started = true;
        }
        self.packets += 1;
        self.bytes += rtp_bytes as u64;
        self.range = Some(match self.range {
            None => (probe.counter, probe.counter),
            Some((low, high)) => (low.min(probe.counter), high.max(probe.counter)),
        });
        true
    }

    /// Starts a new window: counts go to zero; a started stream stays started.
    pub fn reset(&mut self) {
        *self = Self { started: self.started, ..Self::default() };
    }

    /// Packets the publisher sent between the first and the last one counted.
    pub fn expected(&self) -> u64 {
        self.range.map_or(0, |(low, high)| high - low + 1)
    }

    /// Of [`StreamStats::expected`], the ones that never arrived.
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.packets)
    }
}

/// Everything one subscribe connection received: one [`StreamStats`] per stream of
/// its room (tags `first_tag..first_tag + len`), and what it should not have got.
#[derive(Debug, Clone)]
pub struct ReceiverStats {
    first_tag: u32,
    /// Per tag of the room, from `first_tag`.
    pub streams: Vec<StreamStats>,
    /// The tags this subscriber should receive.
    pub expected: Vec<StreamTag>,
    /// Packets of a stream it should not receive (another room's, its own).
    pub foreign: u64,
    /// Packets without a readable probe, or of a track whose kind is unknown.
    pub unreadable: u64,
}

impl ReceiverStats {
    /// Stats for a subscriber that should receive the `expected` streams, all
    /// within `room_tags`.
    pub fn new(room_tags: std::ops::Range<u32>, expected: Vec<StreamTag>) -> Self {
        let len = room_tags.len();
        Self {
            first_tag: room_tags.start,
            streams: vec![StreamStats::default(); len],
            expected,
            foreign: 0,
            unreadable: 0,
        }
    }

    /// The stream of `tag`, if this subscriber should receive it.
    pub fn stream_mut(&mut self, tag: StreamTag) -> Option<&mut StreamStats> {
        if !self.expected.contains(&tag) {
            return None;
        }
        let at = usize::try_from(tag.0.checked_sub(self.first_tag)?).ok()?;
        self.streams.get_mut(at)
    }

    /// The stream of `tag`, if this subscriber should receive it.
    pub fn stream(&self, tag: StreamTag) -> Option<&StreamStats> {
        let at = usize::try_from(tag.0.checked_sub(self.first_tag)?).ok()?;
        self.expected.contains(&tag).then(|| self.streams.get(at)).flatten()
    }

    /// Whether every expected stream has started and delivered packets since the
    /// last reset.
    pub fn all_flowing(&self) -> bool {
        self.expected.iter().all(|&tag| self.stream(tag).is_some_and(|s| s.started && s.packets > 0))
    }

    /// Starts a new window.
    pub fn reset(&mut self) {
        self.streams.iter_mut().for_each(StreamStats::reset);
        self.foreign = 0;
        self.unreadable = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(counter: u64) -> Probe {
        Probe { sent_at: 0, counter, tag: StreamTag::of(0, Kind::Video) }
    }

    #[test]
    fn video_counts_from_its_first_keyframe_and_loss_is_the_gaps_between_counters() {
        let mut stream = StreamStats::default();
        assert!(!stream.record(Kind::Video, &probe(1), false, 100), "before a keyframe");
        assert!(stream.record(Kind::Video, &probe(5), true, 100));
        for counter in [6, 8, 7, 10] {
            stream.record(Kind::Video, &probe(counter), false, 100);
        }
        assert_eq!((stream.packets, stream.expected(), stream.lost()), (5, 6, 1));
        stream.reset();
        assert!(stream.started && stream.packets == 0 && stream.expected() == 0);
    }

    #[test]
    fn quantiles_are_within_three_percent() {
        let mut delays = DelayHistogram::default();
        for us in 1..=10_000u64 {
            delays.record(Duration::from_micros(us));
        }
        let p50 = delays.quantile_ms(0.5).expect("samples");
        let p99 = delays.quantile_ms(0.99).expect("samples");
        assert!((5.0..=5.0 * 1.04).contains(&p50), "{p50}");
        assert!((9.9..=9.9 * 1.04).contains(&p99), "{p99}");
        assert_eq!(delays.max_ms(), Some(10.0));
        assert_eq!(delays.quantile_ms(1.0), Some(10.0));
        let mut merged = DelayHistogram::default();
        merged.merge(&delays);
        assert_eq!(merged.count(), 10_000);
    }

    #[test]
    fn every_value_falls_in_a_bucket_whose_top_is_not_below_it() {
        for us in (0..5_000_000u64).step_by(997).chain([u64::MAX / 2, u64::MAX]) {
            let bucket = bucket_of(us);
            assert!(bucket_top(bucket) >= us, "{us}");
            assert!(bucket == 0 || bucket_top(bucket - 1) < us, "{us}");
        }
    }

    #[test]
    fn a_subscriber_counts_its_own_or_another_rooms_streams_as_foreign() {
        let mine = StreamTag::of(1, Kind::Audio);
        let mut stats = ReceiverStats::new(0..6, vec![mine, StreamTag::of(1, Kind::Video)]);
        assert!(stats.stream_mut(mine).is_some());
        assert!(stats.stream_mut(StreamTag::of(0, Kind::Audio)).is_none(), "its own");
        assert!(stats.stream_mut(StreamTag::of(9, Kind::Audio)).is_none(), "another room's");
        assert!(!stats.all_flowing());
    }
}

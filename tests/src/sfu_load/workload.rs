//! The shape of a run: how many rooms, publishers and receivers, what each
//! publisher sends, and how long it is measured; the three scenarios of the
//! comparison; and the packet rates such a run should produce.

use super::synthetic_media::{AUDIO_INTERVAL, VideoShape};
use serde::Serialize;

/// One run's workload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workload {
    /// Rooms, all alike.
    pub rooms: usize,
    /// Publishers per room, each sending one audio and one video stream.
    pub publishers: usize,
    /// Receive-only participants per room, each receiving every publisher.
    pub subscribers: usize,
    /// Whether every publisher also receives the room's other publishers.
    pub everyone_receives: bool,
    /// Video bitrate of each publisher (RTP payload), kbit/s.
    pub video_kbps: u32,
    /// Video frames per second.
    pub fps: u32,
    /// Length of the measurement window, seconds.
    pub seconds: u64,
    /// Time between everyone receiving and the window's start, seconds.
    pub warmup_seconds: u64,
}

/// The scenarios of the Confer/Janus comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// 1 room × 2 publishers × 10 receive-only subscribers.
    TwoByTen,
    /// 1 room × 10 participants, each sending and receiving the 9 others.
    TenAll,
    /// 20 rooms × 3 participants, each sending and receiving the 2 others.
    TwentyRooms,
}

impl Default for Workload {
    fn default() -> Self {
        Self {
            rooms: 1,
            publishers: 2,
            subscribers: 10,
            everyone_receives: false,
            video_kbps: 500,
            fps: 30,
            seconds: 20,
            warmup_seconds: 3,
        }
    }
}

impl Workload {
    /// The scenario's rooms and participants, with the default media and timing.
    pub fn scenario(scenario: Scenario) -> Self {
        let (rooms, publishers, subscribers, everyone_receives) = match scenario {
            Scenario::TwoByTen => (1, 2, 10, false),
            Scenario::TenAll => (1, 10, 0, true),
            Scenario::TwentyRooms => (20, 3, 0, true),
        };
        Self { rooms, publishers, subscribers, everyone_receives, ..Self::default() }
    }

    /// Frame sizes of each publisher's video.
    pub fn video_shape(&self) -> VideoShape {
        VideoShape::new(self.video_kbps, self.fps)
    }

    /// Publishers in all rooms.
    pub fn total_publishers(&self) -> usize {
        self.rooms * self.publishers
    }

    /// Subscribe connections in all rooms.
    pub fn subscribe_connections(&self) -> usize {
        self.rooms * (self.subscribers + if self.everyone_receives { self.publishers } else { 0 })
    }

    /// Publishers' streams delivered to subscribe connections, in one room: each
    /// subscriber gets every publisher, each publisher (when it receives) the others.
    pub fn deliveries_per_room(&self) -> usize {
        let own = if self.everyone_receives { self.publishers * self.publishers.saturating_sub(1) } else { 0 };
        self.subscribers * self.publishers + own
    }

    /// Packets per second one publisher sends (audio and video, without extra keyframes).
    pub fn publisher_pps(&self) -> f64 {
        1.0 / AUDIO_INTERVAL.as_secs_f64() + self.video_shape().packets_per_second()
    }

    /// Packets per second all publishers send.
    pub fn published_pps(&self) -> f64 {
        self.total_publishers() as f64 * self.publisher_pps()
    }

    /// Packets per second the SFU should forward to all subscribers.
    pub fn expected_forwarded_pps(&self) -> f64 {
        (self.rooms * self.deliveries_per_room()) as f64 * self.publisher_pps()
    }

    /// `rooms×publishers×subscribers`, `+all` when everyone receives, e.g. `1×10×0+all`.
    pub fn label(&self) -> String {
        let all = if self.everyone_receives { "+all" } else { "" };
        format!("{}×{}×{}{all}", self.rooms, self.publishers, self.subscribers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_who_all_send_and_receive_get_ninety_streams() {
        let ten = Workload::scenario(Scenario::TenAll);
        assert_eq!(ten.deliveries_per_room(), 90);
        assert_eq!(ten.subscribe_connections(), 10);
        let expected = ten.expected_forwarded_pps();
        assert!((90.0 * 110.0..90.0 * 120.0).contains(&expected), "{expected}");
    }

    #[test]
    fn two_publishers_to_ten_subscribers_forward_twenty_streams() {
        let two = Workload::scenario(Scenario::TwoByTen);
        assert_eq!((two.deliveries_per_room(), two.subscribe_connections(), two.label()), (20, 10, "1×2×10".into()));
        let twenty = Workload::scenario(Scenario::TwentyRooms);
        assert_eq!((twenty.rooms * twenty.deliveries_per_room(), twenty.label()), (120, "20×3×0+all".into()));
    }
}

//! What one signaling socket may ask of the node: frames per second (chat
//! included), chat messages per second, and media sections per publish offer.
//! Over a budget, the frame is answered with an error and does nothing; a socket
//! that keeps going after many refusals is closed.

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;

/// The node's signaling limits (from its configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalingLimits {
    /// Frames a socket may send per second, after a burst of twice as many.
    pub frames_per_second: u32,
    /// Chat messages a socket may send per second, after a burst of five times as many.
    pub chat_per_second: u32,
    /// Refused frames after which the socket is closed.
    pub refusals_before_close: u32,
}

impl Default for SignalingLimits {
    fn default() -> Self {
        Self { frames_per_second: 20, chat_per_second: 2, refusals_before_close: 200 }
    }
}

/// Media sections (`m=` lines) a publish offer may hold: a camera's audio and video,
/// or a screen's video and its audio, with room for a data channel.
pub(crate) const MAX_MEDIA_SECTIONS: usize = 4;

/// How many media sections an SDP has.
pub(crate) fn media_sections(sdp: &str) -> usize {
    sdp.lines().filter(|l| l.starts_with("m=")).count()
}

/// One socket's budgets.
pub(crate) struct SocketBudget {
    frames: DefaultDirectRateLimiter,
    chat: DefaultDirectRateLimiter,
    refusals: u32,
    refusals_before_close: u32,
}

/// Whether a frame may be handled.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Handle,
    /// Answer with an error, do nothing.
    Refuse,
    /// Refused too often: close the socket.
    Close,
}

fn quota(per_second: u32, burst_factor: u32) -> Quota {
    let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(per_second.saturating_mul(burst_factor)).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(rate).allow_burst(burst)
}

impl SocketBudget {
    pub(crate) fn new(limits: SignalingLimits) -> Self {
        Self {
            frames: RateLimiter::direct(quota(limits.frames_per_second, 2)),
            chat: RateLimiter::direct(quota(limits.chat_per_second, 5)),
            refusals: 0,
            refusals_before_close: limits.refusals_before_close,
        }
    }

    fn verdict(&mut self, allowed: bool) -> Verdict {
        if allowed {
            return Verdict::Handle;
        }
        self.refusals += 1;
        if self.refusals >= self.refusals_before_close { Verdict::Close } else { Verdict::Refuse }
    }

    /// A frame arrived.
    pub(crate) fn frame(&mut self) -> Verdict {
        let allowed = self.frames.check().is_ok();
        self.verdict(allowed)
    }

    /// The frame is a chat message.
    pub(crate) fn chat(&mut self) -> Verdict {
        let allowed = self.chat.check().is_ok();
        self.verdict(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_frames_are_refused_then_the_socket_is_closed() {
        let mut budget =
            SocketBudget::new(SignalingLimits { frames_per_second: 10, chat_per_second: 1, refusals_before_close: 3 });
        for _ in 0..20 {
            assert_eq!(budget.frame(), Verdict::Handle);
        }
        assert_eq!(budget.frame(), Verdict::Refuse);
        assert_eq!(budget.frame(), Verdict::Refuse);
        assert_eq!(budget.frame(), Verdict::Close);
    }

    #[test]
    fn chat_has_its_own_smaller_budget() {
        let mut budget = SocketBudget::new(SignalingLimits::default());
        for _ in 0..10 {
            assert_eq!(budget.chat(), Verdict::Handle);
        }
        assert_eq!(budget.chat(), Verdict::Refuse);
        assert_eq!(budget.frame(), Verdict::Handle, "other frames still pass");
    }

    #[test]
    fn media_sections_are_counted_by_their_m_lines() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n";
        assert_eq!(media_sections(sdp), 2);
        assert_eq!(media_sections("v=0\r\n"), 0);
    }
}

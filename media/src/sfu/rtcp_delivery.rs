//! An interceptor that lets chosen inbound RTCP reach the application. Without it,
//! the end of rtc's interceptor chain drops all inbound RTCP; the SFU needs keyframe
//! requests (PLI, FIR) to ask the publisher for a keyframe when a subscriber lost one.

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::sansio::Protocol;
use std::collections::VecDeque;
use std::time::Instant;

/// Which RTCP packets are delivered.
pub type RtcpFilter = fn(&dyn rtc::rtcp::Packet) -> bool;

/// Marks inbound RTCP compounds holding a packet `wanted` picks for delivery to the
/// application; passes everything through. Public so that test clients and load
/// tools can see what the node sends them too.
pub struct DeliverRtcp {
    wanted: RtcpFilter,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl DeliverRtcp {
    /// Delivers compounds holding a packet `wanted` picks.
    pub fn matching(wanted: RtcpFilter) -> Self {
        Self { wanted, read: VecDeque::new(), write: VecDeque::new() }
    }

    /// Delivers keyframe requests (PLI, FIR).
    pub fn keyframe_requests() -> Self {
        Self::matching(|p| {
            p.as_any().downcast_ref::<PictureLossIndication>().is_some()
                || p.as_any().downcast_ref::<FullIntraRequest>().is_some()
        })
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for DeliverRtcp {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet
            && packets.iter().any(|p| (self.wanted)(p.as_ref()))
        {
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write.pop_front()
    }
}

impl Interceptor for DeliverRtcp {
    fn bind_local_stream(&mut self, _: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}

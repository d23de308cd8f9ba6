//! Datagrams a loop sends, gathered and handed to the kernel in as few system calls
//! and as few kernel packets as it takes:
//! - a packet a publisher sends fans out to every subscriber of its room, and all of
//!   those go in one `sendmmsg` instead of one `sendto` each;
//! - packets that go to the same subscriber one after the other (a video frame's
//!   packets, read in one batch) go as one UDP GSO send: the kernel builds and routes
//!   one large packet and cuts it into the datagrams at the end, instead of doing
//!   its per-datagram work for each.
//!
//! The kernel's per-datagram work was the largest share of the node's CPU
//! (docs/BENCHMARKS.md, "Where Confer's CPU goes"). `nix` wraps the system calls;
//! nothing here is `unsafe`.

use bytes::BytesMut;
use nix::errno::Errno;
use nix::sys::socket::{ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, sendmmsg, sendmsg};
use std::io::IoSlice;
use std::net::{SocketAddr, UdpSocket};
use std::ops::Range;
use std::os::fd::AsRawFd;

/// Datagrams one GSO send may carry (the kernel's UDP_MAX_SEGMENTS is 64 or 128).
const MAX_SEGMENTS: usize = 64;
/// Bytes one GSO send may carry: an IP packet's 64 KiB less the headers.
const MAX_SEGMENTED_BYTES: usize = 65_000;

/// Datagrams waiting to be sent, at most `capacity` of them (then sent at once).
pub(crate) struct SendBatch {
    datagrams: Vec<BytesMut>,
    /// Each datagram's destination, in the form the system calls take (and compared
    /// to find runs to one peer): owned, so the buffer is kept across flushes.
    addrs: Vec<Option<SockaddrStorage>>,
    headers: MultiHeaders<SockaddrStorage>,
    capacity: usize,
    /// The kernel takes UDP GSO on this socket (off once it has refused it).
    segmentation: bool,
}

impl SendBatch {
    /// A batch of up to `capacity` datagrams, sending runs to one peer with GSO if
    /// `segmentation`.
    pub(crate) fn new(capacity: usize, segmentation: bool) -> Self {
        let capacity = capacity.max(1);
        Self {
            datagrams: Vec::with_capacity(capacity),
            addrs: Vec::with_capacity(capacity),
            headers: MultiHeaders::preallocate(capacity, None),
            capacity,
            segmentation,
        }
    }

    /// Adds a datagram; sends the batch when it is full.
    pub(crate) fn push(&mut self, socket: &UdpSocket, datagram: BytesMut, to: SocketAddr) {
        self.datagrams.push(datagram);
        self.addrs.push(Some(SockaddrStorage::from(to)));
        if self.datagrams.len() >= self.capacity {
            self.flush(socket);
        }
    }

    /// Datagrams gathered and not sent yet.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.datagrams.len()
    }

    /// Sends everything gathered, in order. A run of datagrams to one peer goes as
    /// one segmented send; the datagrams between runs go together in one `sendmmsg`.
    /// A datagram the kernel refuses is dropped, as UDP may drop it anyway (logged
    /// at debug); the rest still go.
    pub(crate) fn flush(&mut self, socket: &UdpSocket) {
        let count = self.datagrams.len();
        let mut singles_from = 0;
        let mut at = 0;
        while at < count {
            let run_end = if self.segmentation { self.run_from(at) } else { at + 1 };
            if run_end - at > 1 {
                self.send_each(socket, singles_from..at);
                if !self.send_segmented(socket, at..run_end) {
                    self.send_each(socket, at..run_end);
                }
                singles_from = run_end;
            }
            at = run_end;
        }
        self.send_each(socket, singles_from..count);
        self.datagrams.clear();
        self.addrs.clear();
    }

    /// The end of the run that starts at `start`: the datagrams after it that go to
    /// the same peer and can share its segment size (GSO cuts a send into pieces of
    /// one size; only the last may be shorter, so a shorter datagram ends the run).
    fn run_from(&self, start: usize) -> usize {
        let segment = self.datagrams[start].len();
        let to = &self.addrs[start];
        let mut bytes = segment;
        let mut end = start + 1;
        while end < self.datagrams.len() && end - start < MAX_SEGMENTS && self.addrs[end] == *to {
            let len = self.datagrams[end].len();
            if len > segment || len == 0 || bytes + len > MAX_SEGMENTED_BYTES {
                break;
            }
            bytes += len;
            end += 1;
            if len < segment {
                break;
            }
        }
        end
    }

    /// Sends `range` (datagrams to one peer) as one GSO send. False when the kernel
    /// does not take GSO here: the caller sends them one by one, and so does every
    /// later flush.
    fn send_segmented(&mut self, socket: &UdpSocket, range: Range<usize>) -> bool {
        let Ok(segment) = u16::try_from(self.datagrams[range.start].len()) else { return false };
        let iov: Vec<IoSlice<'_>> = self.datagrams[range.clone()].iter().map(|d| IoSlice::new(d)).collect();
        let control = [ControlMessage::UdpGsoSegments(&segment)];
        match sendmsg(socket.as_raw_fd(), &iov, &control, MsgFlags::empty(), self.addrs[range.start].as_ref()) {
            Ok(_) => true,
            Err(e @ (Errno::EINVAL | Errno::EIO | Errno::ENOPROTOOPT | Errno::EOPNOTSUPP)) => {
                tracing::warn!(error = %e, "the kernel refuses UDP segmentation offload; sending datagrams one by one");
                self.segmentation = false;
                false
            }
            Err(e) => {
                tracing::debug!(error = %e, to = ?self.addrs[range.start], "send failed");
                true
            }
        }
    }

    /// Sends `range` with `sendmmsg`, each datagram on its own.
    fn send_each(&mut self, socket: &UdpSocket, range: Range<usize>) {
        if range.is_empty() {
            return;
        }
        // The one allocation per call: the I/O vectors borrow the datagrams.
        let slices: Vec<[IoSlice<'_>; 1]> = self.datagrams[range.clone()].iter().map(|d| [IoSlice::new(d)]).collect();
        let addrs = &self.addrs[range.clone()];
        let mut start = 0;
        while start < slices.len() {
            match sendmmsg(
                socket.as_raw_fd(),
                &mut self.headers,
                &slices[start..],
                &addrs[start..],
                [],
                MsgFlags::empty(),
            ) {
                Ok(results) => start += results.count().max(1),
                Err(e) => {
                    // The first datagram failed: skip it and send the others.
                    tracing::debug!(error = %e, to = ?addrs[start], "send failed");
                    start += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn receiver() -> UdpSocket {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s
    }

    /// Every datagram waiting at `socket`, as (length, first byte).
    fn drain(socket: &UdpSocket, expected: usize) -> Vec<(usize, u8)> {
        let mut buf = [0u8; 4096];
        (0..expected)
            .map(|_| {
                let n = socket.recv(&mut buf).unwrap();
                (n, buf[0])
            })
            .collect()
    }

    #[test]
    fn every_datagram_arrives_at_its_own_destination_in_order() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a, b) = (receiver(), receiver());
        let mut batch = SendBatch::new(3, true);
        for n in 0..5u8 {
            let to = if n % 2 == 0 { a.local_addr().unwrap() } else { b.local_addr().unwrap() };
            batch.push(&sender, BytesMut::from(&[n; 10][..]), to);
        }
        batch.flush(&sender);
        assert_eq!(drain(&a, 3), [(10, 0), (10, 2), (10, 4)]);
        assert_eq!(drain(&b, 2), [(10, 1), (10, 3)]);
    }

    #[test]
    fn a_run_to_one_peer_arrives_as_the_same_datagrams_in_order_between_the_others() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a, b) = (receiver(), receiver());
        let (to_a, to_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let mut batch = SendBatch::new(64, true);
        // A frame of three packets to a (1200, 1200, 700), a packet to b, a frame of
        // two to b, an audio packet to a, and a larger one after it (its own run).
        let sends: [(SocketAddr, usize, u8); 7] = [
            (to_a, 1200, 1),
            (to_a, 1200, 2),
            (to_a, 700, 3),
            (to_b, 100, 4),
            (to_b, 1100, 5),
            (to_a, 120, 6),
            (to_a, 1000, 7),
        ];
        for (to, len, tag) in sends {
            batch.push(&sender, BytesMut::from(&vec![tag; len][..]), to);
        }
        assert_eq!(batch.run_from(0), 3, "the frame to a is one run, its shorter last packet included");
        assert_eq!(batch.run_from(3), 4, "a packet, then a larger one, are not one run");
        batch.flush(&sender);
        assert!(batch.segmentation, "loopback takes GSO");
        assert_eq!(batch.len(), 0);
        assert_eq!(drain(&a, 5), [(1200, 1), (1200, 2), (700, 3), (120, 6), (1000, 7)]);
        assert_eq!(drain(&b, 2), [(100, 4), (1100, 5)]);
    }

    #[test]
    fn a_refused_datagram_does_not_stop_the_others() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let a = receiver();
        let mut batch = SendBatch::new(8, true);
        // Too large for UDP: refused with EMSGSIZE.
        batch.push(&sender, BytesMut::from(&vec![1u8; 70_000][..]), a.local_addr().unwrap());
        batch.push(&sender, BytesMut::from(&[2u8; 5][..]), a.local_addr().unwrap());
        batch.flush(&sender);
        assert_eq!(drain(&a, 1), [(5, 2)]);
    }
}

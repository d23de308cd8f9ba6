//! Datagrams a loop sends, gathered and handed to the kernel with one `sendmmsg`
//! instead of one `sendto` each: a packet a publisher sends fans out to every
//! subscriber of its room, and the kernel's per-call cost was the largest share of
//! the node's CPU (docs/BENCHMARKS.md, "Where Confer's CPU goes").
//!
//! `nix` wraps the system call; nothing here is `unsafe`.

use bytes::BytesMut;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, sendmmsg};
use std::io::IoSlice;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

/// Datagrams waiting to be sent, at most `capacity` of them (then sent at once).
pub(crate) struct SendBatch {
    datagrams: Vec<BytesMut>,
    /// Each datagram's destination, in the form the system call takes: owned, so the
    /// buffer is kept across flushes (no allocation per flush for it).
    addrs: Vec<Option<SockaddrStorage>>,
    headers: MultiHeaders<SockaddrStorage>,
    capacity: usize,
}

impl SendBatch {
    /// A batch of up to `capacity` datagrams.
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            datagrams: Vec::with_capacity(capacity),
            addrs: Vec::with_capacity(capacity),
            headers: MultiHeaders::preallocate(capacity, None),
            capacity,
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

    /// Sends everything gathered. A datagram the kernel refuses is dropped, as UDP
    /// may drop it anyway (logged at debug); the rest still go.
    pub(crate) fn flush(&mut self, socket: &UdpSocket) {
        if self.datagrams.is_empty() {
            return;
        }
        // The one allocation per flush: the I/O vectors borrow the datagrams.
        let slices: Vec<[IoSlice<'_>; 1]> = self.datagrams.iter().map(|d| [IoSlice::new(d)]).collect();
        let mut start = 0;
        while start < slices.len() {
            match sendmmsg(
                socket.as_raw_fd(),
                &mut self.headers,
                &slices[start..],
                &self.addrs[start..],
                [],
                MsgFlags::empty(),
            ) {
                Ok(results) => start += results.count().max(1),
                Err(e) => {
                    // The first datagram failed: skip it and send the others.
                    tracing::debug!(error = %e, to = ?self.addrs[start], "send failed");
                    start += 1;
                }
            }
        }
        self.datagrams.clear();
        self.addrs.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_datagram_arrives_at_its_own_destination_in_order() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        for s in [&a, &b] {
            s.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        }
        let mut batch = SendBatch::new(3);
        for n in 0..5u8 {
            let to = if n % 2 == 0 { a.local_addr().unwrap() } else { b.local_addr().unwrap() };
            batch.push(&sender, BytesMut::from(&[n; 10][..]), to);
        }
        batch.flush(&sender);
        let mut buf = [0u8; 64];
        let mut got_a = Vec::new();
        for _ in 0..3 {
            let n = a.recv(&mut buf).unwrap();
            got_a.push((n, buf[0]));
        }
        let mut got_b = Vec::new();
        for _ in 0..2 {
            let n = b.recv(&mut buf).unwrap();
            got_b.push((n, buf[0]));
        }
        assert_eq!(got_a, [(10, 0), (10, 2), (10, 4)]);
        assert_eq!(got_b, [(10, 1), (10, 3)]);
    }

    #[test]
    fn a_refused_datagram_does_not_stop_the_others() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        let mut batch = SendBatch::new(8);
        // Too large for UDP: refused with EMSGSIZE.
        batch.push(&sender, BytesMut::from(&vec![1u8; 70_000][..]), a.local_addr().unwrap());
        batch.push(&sender, BytesMut::from(&[2u8; 5][..]), a.local_addr().unwrap());
        batch.flush(&sender);
        let mut buf = [0u8; 64];
        let n = a.recv(&mut buf).unwrap();
        assert_eq!((n, buf[0]), (5, 2));
    }
}

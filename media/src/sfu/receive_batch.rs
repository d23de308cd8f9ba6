//! Datagrams a loop reads, as many as are waiting (up to a batch) with one
//! `recvmmsg`: one system call instead of one per datagram when packets come
//! faster than the loop wakes up, and what the batch makes the loop send goes out
//! together afterwards (so a frame's packets to one subscriber can share one GSO
//! send, see `send_batch`).
//!
//! `nix` wraps the system call; nothing here is `unsafe`.

use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg};
use std::io::IoSliceMut;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

/// Room for datagrams read in one call.
pub(crate) struct ReceiveBatch {
    /// One buffer of `datagram_size` bytes per datagram, end to end.
    buffers: Vec<u8>,
    datagram_size: usize,
    headers: MultiHeaders<SockaddrStorage>,
    /// What the last `receive` read: each datagram's length and sender.
    received: Vec<(usize, SocketAddr)>,
}

impl ReceiveBatch {
    /// Room for `capacity` datagrams of up to `datagram_size` bytes (longer ones are cut).
    pub(crate) fn new(capacity: usize, datagram_size: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            buffers: vec![0; capacity * datagram_size],
            datagram_size,
            headers: MultiHeaders::preallocate(capacity, None),
            received: Vec::with_capacity(capacity),
        }
    }

    /// Waits for a datagram (as long as the socket's read timeout allows), then reads
    /// it and every other one already waiting, up to the batch. Returns how many;
    /// `WouldBlock`/`TimedOut` when none came.
    pub(crate) fn receive(&mut self, socket: &UdpSocket) -> std::io::Result<usize> {
        self.received.clear();
        // The one allocation per call: the I/O vectors borrow the buffers.
        let mut slices: Vec<[IoSliceMut<'_>; 1]> =
            self.buffers.chunks_mut(self.datagram_size).map(|b| [IoSliceMut::new(b)]).collect();
        let results = recvmmsg(socket.as_raw_fd(), &mut self.headers, &mut slices, MsgFlags::MSG_WAITFORONE, None)
            .map_err(|e: Errno| std::io::Error::from_raw_os_error(e as i32))?;
        for message in results {
            if let Some(from) = message.address.as_ref().and_then(socket_addr) {
                self.received.push((message.bytes.min(self.datagram_size), from));
            }
        }
        Ok(self.received.len())
    }

    /// The `index`th datagram of the last `receive`, and who sent it.
    pub(crate) fn datagram(&self, index: usize) -> Option<(&[u8], SocketAddr)> {
        let &(len, from) = self.received.get(index)?;
        let start = index * self.datagram_size;
        Some((&self.buffers[start..start + len], from))
    }
}

fn socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    addr.as_sockaddr_in6().map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_waiting_datagram_is_read_in_one_call_with_its_sender() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let (a, b) = (UdpSocket::bind("127.0.0.1:0").unwrap(), UdpSocket::bind("127.0.0.1:0").unwrap());
        let to = socket.local_addr().unwrap();
        a.send_to(b"first", to).unwrap();
        b.send_to(b"second, longer", to).unwrap();
        a.send_to(&[7u8; 3000], to).unwrap();
        let mut batch = ReceiveBatch::new(8, 2048);
        // Loopback delivers at once: all three are waiting.
        assert_eq!(batch.receive(&socket).unwrap(), 3);
        assert_eq!(batch.datagram(0), Some((&b"first"[..], a.local_addr().unwrap())));
        assert_eq!(batch.datagram(1), Some((&b"second, longer"[..], b.local_addr().unwrap())));
        let (long, _) = batch.datagram(2).unwrap();
        assert_eq!(long.len(), 2048, "a datagram longer than the buffer is cut");
        assert_eq!(batch.datagram(3), None);
    }

    #[test]
    fn nothing_waiting_is_a_timeout_not_an_empty_batch() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let mut batch = ReceiveBatch::new(4, 2048);
        let err = batch.receive(&socket).unwrap_err();
        assert!(matches!(err.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut), "{err}");
    }
}

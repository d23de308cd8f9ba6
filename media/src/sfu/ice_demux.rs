//! Routing datagrams that arrive on an event loop's UDP socket to its connections.
//!
//! A STUN binding request names the connection it is for: its USERNAME attribute
//! is `<our ufrag>:<their ufrag>`, and every connection has its own ufrag. Once a
//! connection's checks succeed, its media comes from the same remote address, so
//! addresses learnt from STUN route everything else. Parsing the USERNAME by hand
//! (a 20-byte header and type-length-value attributes) avoids copying the message.

use std::collections::HashMap;
use std::net::SocketAddr;

/// A connection's index in the event loop.
pub(crate) type ConnId = u64;

const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
const ATTR_USERNAME: u16 = 0x0006;

/// Maps ufrags and remote addresses to connections.
#[derive(Default)]
pub(crate) struct IceDemux {
    by_ufrag: HashMap<String, ConnId>,
    by_addr: HashMap<SocketAddr, ConnId>,
}

impl IceDemux {
    /// Datagrams whose STUN username starts with `ufrag` belong to `conn`.
    pub(crate) fn register(&mut self, ufrag: String, conn: ConnId) {
        self.by_ufrag.insert(ufrag, conn);
    }

    /// Forgets everything about `conn`.
    pub(crate) fn remove(&mut self, conn: ConnId) {
        self.by_ufrag.retain(|_, c| *c != conn);
        self.by_addr.retain(|_, c| *c != conn);
    }

    /// The connection a datagram from `from` belongs to. A STUN request with a
    /// known ufrag also (re)binds `from` to its connection.
    pub(crate) fn route(&mut self, datagram: &[u8], from: SocketAddr) -> Option<ConnId> {
        if let Some(ufrag) = stun_local_ufrag(datagram) {
            let conn = *self.by_ufrag.get(ufrag)?;
            self.by_addr.insert(from, conn);
            return Some(conn);
        }
        self.by_addr.get(&from).copied()
    }
}

/// The local (first) part of a STUN message's USERNAME, if `datagram` is STUN and has one.
fn stun_local_ufrag(datagram: &[u8]) -> Option<&str> {
    if datagram.len() < 20 || datagram[0] > 3 || datagram[4..8] != MAGIC_COOKIE {
        return None;
    }
    let body_len = u16::from_be_bytes([datagram[2], datagram[3]]) as usize;
    let body = datagram.get(20..20 + body_len)?;
    let mut at = 0;
    while at + 4 <= body.len() {
        let kind = u16::from_be_bytes([body[at], body[at + 1]]);
        let len = u16::from_be_bytes([body[at + 2], body[at + 3]]) as usize;
        let value = body.get(at + 4..at + 4 + len)?;
        if kind == ATTR_USERNAME {
            let username = std::str::from_utf8(value).ok()?;
            return username.split(':').next();
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::stun::message::{BINDING_REQUEST, Message, TransactionId};
    use rtc::stun::textattrs::TextAttribute;

    fn binding_request(username: &str) -> Vec<u8> {
        let mut m = Message::new();
        m.build(&[
            Box::new(BINDING_REQUEST),
            Box::new(TransactionId::new()),
            Box::new(TextAttribute::new(rtc::stun::attributes::ATTR_USERNAME, username.to_owned())),
        ])
        .unwrap();
        m.raw
    }

    #[test]
    fn stun_requests_route_by_ufrag_and_teach_the_address() {
        let mut demux = IceDemux::default();
        demux.register("abcd".into(), 7);
        demux.register("wxyz".into(), 9);
        let from: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(demux.route(&binding_request("wxyz:remote1"), from), Some(9));
        // Media (not STUN) from the same address now goes to the same connection.
        assert_eq!(demux.route(&[0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], from), Some(9));
        let stranger: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        assert_eq!(demux.route(&[0x80, 96, 0, 1], stranger), None);
        assert_eq!(demux.route(&binding_request("nope:remote"), stranger), None);
    }

    #[test]
    fn removing_a_connection_forgets_its_ufrag_and_addresses() {
        let mut demux = IceDemux::default();
        demux.register("abcd".into(), 7);
        let from: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        demux.route(&binding_request("abcd:r"), from);
        demux.remove(7);
        assert_eq!(demux.route(&[0x80, 96], from), None);
        assert_eq!(demux.route(&binding_request("abcd:r"), from), None);
    }

    #[test]
    fn truncated_or_odd_stun_is_not_routed() {
        let mut demux = IceDemux::default();
        demux.register("abcd".into(), 7);
        let from: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut m = binding_request("abcd:r");
        m.truncate(24);
        assert_eq!(demux.route(&m, from), None);
        assert_eq!(demux.route(&[], from), None);
    }
}

//! The UDP ports nodes' SFUs may use: a configured range, one port per node (a
//! node runs one media loop), handed out lowest first and given back when the node
//! is gone. A port something else holds is skipped.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Mutex;

/// The range and the ports taken from it.
pub struct UdpPorts {
    ip: IpAddr,
    first: u16,
    last: u16,
    taken: Mutex<BTreeSet<u16>>,
}

impl UdpPorts {
    /// Ports `first..=last` on `ip`.
    pub fn new(ip: IpAddr, first: u16, last: u16) -> Self {
        Self { ip, first, last, taken: Mutex::new(BTreeSet::new()) }
    }

    /// The range, for messages.
    pub fn range(&self) -> (u16, u16) {
        (self.first, self.last)
    }

    /// Takes the lowest free port that can be bound now; `None` when none is left.
    pub fn take(&self) -> Option<SocketAddr> {
        let mut taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        for port in self.first..=self.last {
            if taken.contains(&port) {
                continue;
            }
            let addr = SocketAddr::new(self.ip, port);
            // Held by something else (a process outside the platform): skip it.
            if UdpSocket::bind(addr).is_err() {
                continue;
            }
            taken.insert(port);
            return Some(addr);
        }
        None
    }

    /// Gives `addr`'s port back.
    pub fn give_back(&self, addr: SocketAddr) {
        self.taken.lock().unwrap_or_else(|p| p.into_inner()).remove(&addr.port());
    }

    /// How many ports are taken.
    pub fn in_use(&self) -> usize {
        self.taken.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_handed_out_once_until_given_back() {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let base = probe.local_addr().unwrap().port();
        drop(probe);
        let ports = UdpPorts::new("127.0.0.1".parse().unwrap(), base, base.saturating_add(1));
        let a = ports.take().unwrap();
        let b = ports.take().unwrap();
        assert_ne!(a, b);
        assert_eq!(ports.take(), None, "the range is exhausted");
        ports.give_back(a);
        assert_eq!(ports.take(), Some(a));
    }

    #[test]
    fn a_port_held_elsewhere_is_skipped() {
        let held = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let ports = UdpPorts::new("127.0.0.1".parse().unwrap(), port, port);
        assert_eq!(ports.take(), None);
    }
}

//! What one client is, when the platform counts what it does (password tries, api
//! lookups, signups, unknown keys): an IPv4 address, or an IPv6 address's /64, what
//! one subscriber is usually given, so one client holds all of it. The api and the
//! media nodes count alike.

use std::net::{IpAddr, Ipv6Addr};

/// The network `addr` stands for: an IPv4 address itself (also when written as an
/// IPv4-mapped IPv6 address), an IPv6 address's /64.
pub fn network_of(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_counts_as_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(network_of(a), network_of(b));
        assert_eq!(network_of(a), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        assert_ne!(network_of(a), network_of(other));
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(network_of(v4), v4);
        assert_eq!(network_of("::ffff:203.0.113.7".parse().unwrap()), v4);
    }
}

//! Which addresses the platform connects to on a tenant's behalf.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why an address is not connected to. The text is shown to tenants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A special-purpose network the operator has not allowed.
    #[error("{0} is in a {1} network, which the platform does not connect to")]
    SpecialNetwork(IpAddr, &'static str),
    /// One of the platform's own services.
    #[error("{0} is one of the platform's own services")]
    PlatformService(SocketAddr),
}

/// The rule for outbound connections: the special networks the operator allows, and
/// the platform's own services, which are refused whatever is allowed.
#[derive(Debug, Clone, Default)]
pub struct OutboundGuard {
    allowed: Vec<IpNet>,
    platform: Vec<SocketAddr>,
}

impl OutboundGuard {
    /// A guard allowing the special networks `allowed` (e.g. `127.0.0.0/8` for a
    /// directory on the same host) and refusing every address in `platform`. A
    /// platform service on an unspecified address (`0.0.0.0:8080`, listening
    /// everywhere) refuses its port on every special-purpose address, allowed or not.
    pub fn new(allowed: Vec<IpNet>, platform: Vec<SocketAddr>) -> Self {
        let platform = platform.into_iter().map(|a| SocketAddr::new(a.ip().to_canonical(), a.port())).collect();
        Self { allowed, platform }
    }

    /// Whether the platform may connect to `addr` on a tenant's behalf.
    pub fn check(&self, addr: SocketAddr) -> Result<(), Refusal> {
        let ip = addr.ip().to_canonical();
        // A service listening everywhere is refused on every special-purpose address;
        // on a public one it is as public as the platform's front anyway (and a
        // tenant's provider at port 8080 elsewhere must not be refused for it).
        let special = special_network(ip).is_some();
        let own = self.platform.iter().any(|service| {
            service.port() == addr.port() && (service.ip() == ip || (service.ip().is_unspecified() && special))
        });
        if own {
            return Err(Refusal::PlatformService(SocketAddr::new(ip, addr.port())));
        }
        match special_network(ip) {
            Some(kind) if !self.allowed.iter().any(|net| net.contains(&ip)) => Err(Refusal::SpecialNetwork(ip, kind)),
            _ => Ok(()),
        }
    }
}

/// The kind of special-purpose network `ip` is in (the IANA special-purpose address
/// registries, RFC 6890 and its updates), or `None` for a globally routed address.
/// An IPv6 address that carries an IPv4 one (mapped, NAT64, 6to4) is judged by it.
pub fn special_network(ip: IpAddr) -> Option<&'static str> {
    match ip.to_canonical() {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (127, _, _) => "loopback",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "private",
        (169, 254, _) => "link-local",
        (100, 64..=127, _) => "shared (carrier-grade NAT)",
        (0, _, _) => "\"this\" (0.0.0.0/8)",
        (192, 0, 0) => "IETF protocol",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        (192, 88, 99) => "6to4 relay",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved",
        _ => return None,
    })
}

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    Some(match s {
        [0, 0, 0, 0, 0, 0, 0, 0] => "unspecified",
        [0, 0, 0, 0, 0, 0, 0, 1] => "loopback",
        // IPv4-compatible (deprecated): never a real destination.
        [0, 0, 0, 0, 0, 0, _, _] => "IPv4-compatible",
        // NAT64: reaches the IPv4 address it carries.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => return special_v4(embedded_v4(hi, lo)),
        [0x64, 0xff9b, 1, ..] => "local NAT64",
        // 6to4: reaches the IPv4 address in its second and third segments.
        [0x2002, hi, lo, ..] => return special_v4(embedded_v4(hi, lo)),
        [0x100, 0, 0, 0, ..] => "discard-only",
        [0x2001, 0xdb8, ..] => "documentation",
        [0x2001, 0..=0x1ff, ..] => "IETF protocol",
        [first, ..] if first & 0xfe00 == 0xfc00 => "unique-local",
        [first, ..] if first & 0xffc0 == 0xfe80 => "link-local",
        [first, ..] if first & 0xffc0 == 0xfec0 => "site-local",
        [first, ..] if first & 0xff00 == 0xff00 => "multicast",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn special_networks_are_refused() {
        let guard = OutboundGuard::default();
        for refused in [
            "127.0.0.1:389",
            "127.8.9.10:80",
            "10.1.2.3:389",
            "172.16.0.1:389",
            "172.31.255.255:389",
            "192.168.1.1:443",
            "169.254.169.254:80",
            "100.64.0.1:80",
            "0.0.0.0:80",
            "198.18.0.1:80",
            "224.0.0.1:80",
            "255.255.255.255:80",
            "[::1]:389",
            "[::]:80",
            "[::ffff:127.0.0.1]:6379",
            "[::ffff:10.0.0.1]:80",
            "[::127.0.0.1]:80",
            "[64:ff9b::a9fe:a9fe]:80",
            "[2002:7f00:1::]:80",
            "[fe80::1]:80",
            "[fd00::1]:80",
            "[fc12:3456::1]:80",
            "[ff02::1]:80",
            "[2001:db8::1]:80",
        ] {
            assert!(
                matches!(guard.check(addr(refused)), Err(Refusal::SpecialNetwork(..))),
                "{refused} should be refused"
            );
        }
    }

    #[test]
    fn global_addresses_pass() {
        let guard = OutboundGuard::default();
        for passed in [
            "1.1.1.1:636",
            "8.8.8.8:443",
            "172.32.0.1:389",
            "100.128.0.1:80",
            "[2606:4700::1111]:443",
            "[2002:0808:0808::]:80",
            "[64:ff9b::808:808]:443",
        ] {
            assert_eq!(guard.check(addr(passed)), Ok(()), "{passed} should pass");
        }
    }

    #[test]
    fn an_allowed_network_passes_but_never_the_platforms_own_services() {
        let guard = OutboundGuard::new(
            vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
            vec![addr("127.0.0.1:6379"), addr("0.0.0.0:8080"), addr("[::1]:5432")],
        );
        assert_eq!(guard.check(addr("127.0.0.1:389")), Ok(()));
        assert_eq!(guard.check(addr("[::1]:389")), Ok(()));
        assert!(matches!(guard.check(addr("10.0.0.1:389")), Err(Refusal::SpecialNetwork(..))), "only what is allowed");
        assert!(matches!(guard.check(addr("127.0.0.1:6379")), Err(Refusal::PlatformService(_))));
        assert!(matches!(guard.check(addr("[::ffff:127.0.0.1]:6379")), Err(Refusal::PlatformService(_))), "mapped");
        assert!(
            matches!(guard.check(addr("127.0.0.1:8080")), Err(Refusal::PlatformService(_))),
            "listening everywhere"
        );
        assert!(matches!(guard.check(addr("[::1]:5432")), Err(Refusal::PlatformService(_))));
        assert_eq!(guard.check(addr("127.0.0.2:6379")), Ok(()), "another address, another service");
        assert_eq!(guard.check(addr("203.0.114.9:8080")), Ok(()), "a public host's port 8080 is not the platform's");
    }

    #[test]
    fn refusals_say_why_in_the_tenants_terms() {
        let guard = OutboundGuard::default();
        let text = guard.check(addr("169.254.169.254:80")).unwrap_err().to_string();
        assert_eq!(text, "169.254.169.254 is in a link-local network, which the platform does not connect to");
    }
}

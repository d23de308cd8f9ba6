//! A DNS name as the node compares it with a client's SNI: lowercase ASCII, without
//! a trailing dot. Built only by [`HostName::parse`], so a name in the certificate
//! map and a name from a handshake are equal exactly when they name the same host.

use rustls_pki_types::DnsName;
use std::fmt;

/// A valid DNS name, lowercase, without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostName(String);

/// Why a name is not a [`HostName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a DNS name")]
pub struct InvalidHostName(String);

impl HostName {
    /// `name` lowercased, one trailing dot dropped, if it is then a DNS name.
    pub fn parse(name: &str) -> Result<Self, InvalidHostName> {
        let without_dot = name.strip_suffix('.').unwrap_or(name);
        let lower = without_dot.to_ascii_lowercase();
        // `DnsName` takes one trailing dot itself; a second one is not a name.
        match DnsName::try_from(lower.as_str()) {
            Ok(_) if !lower.ends_with('.') => Ok(Self(lower)),
            _ => Err(InvalidHostName(name.to_owned())),
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_one_trailing_dot_do_not_matter() {
        assert_eq!(HostName::parse("Meet.Example.TEST.").map(|h| h.0), Ok("meet.example.test".to_owned()));
        assert_eq!(HostName::parse("meet.example.test"), HostName::parse("MEET.example.test."));
    }

    #[test]
    fn what_is_not_a_dns_name_is_refused() {
        for name in ["", ".", "meet..example.test", "meet.example.test..", "meet example.test", "mé.example.test"] {
            assert!(HostName::parse(name).is_err(), "{name:?} was taken for a DNS name");
        }
    }
}

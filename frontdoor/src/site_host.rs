//! `SiteHost`: the name a request is for, from its `Host` header (HTTP) or its SNI
//! (HTTPS), parsed once at the edge. Browsers and clients write the same name in
//! several ways — with a port, in upper case, with the root's trailing dot — and all
//! of them mean one site; anything that is not a DNS name is refused.

/// A site's name: lowercase, without port or trailing dot, a valid DNS name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SiteHost(String);

/// Why a `Host` is not a site's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadHost {
    /// No `Host` header (HTTP/1.1 requires one) and no authority in the request line.
    #[error("the request names no host")]
    Missing,
    /// Not a DNS name (an IP literal, a bad label, too long …).
    #[error("{0:?} is not a site's name")]
    NotAName(String),
}

impl SiteHost {
    /// Parses a `Host` header value or an SNI name: `Acme.Confer.Example.:8000` is
    /// `acme.confer.example`.
    pub fn parse(raw: &str) -> Result<Self, BadHost> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(BadHost::Missing);
        }
        let bad = || BadHost::NotAName(raw.chars().take(100).collect());
        if raw.starts_with('[') {
            return Err(bad()); // an IPv6 literal
        }
        let name = match raw.rsplit_once(':') {
            Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && port.len() <= 5 => {
                name
            }
            Some(_) => return Err(bad()),
            None => raw,
        };
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        if name.is_empty() || name.len() > 253 {
            return Err(bad());
        }
        let labels_ok = name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
        // A name whose last label is all digits is an IPv4 literal, not a site.
        let ip_like = name.rsplit('.').next().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()));
        if !labels_ok || ip_like {
            return Err(bad());
        }
        Ok(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tenant slug when this is a platform name `<slug>.<base>`.
    pub fn slug_under(&self, base: &str) -> Option<&str> {
        let rest = self.0.strip_suffix(base)?.strip_suffix('.')?;
        (!rest.contains('.')).then_some(rest)
    }
}

impl std::fmt::Display for SiteHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_site_however_the_client_writes_it() {
        for raw in ["acme.localhost", "ACME.localhost", "acme.localhost.", "acme.localhost:8000", "Acme.LocalHost.:80"]
        {
            assert_eq!(SiteHost::parse(raw).unwrap().as_str(), "acme.localhost", "{raw}");
        }
    }

    #[test]
    fn what_is_not_a_name_is_refused() {
        assert_eq!(SiteHost::parse(""), Err(BadHost::Missing));
        for raw in ["127.0.0.1", "127.0.0.1:80", "[::1]:80", "a..b", "-a.b", "a_b.c", "a.b:x", "a.b:", "a b"] {
            assert!(matches!(SiteHost::parse(raw), Err(BadHost::NotAName(_))), "{raw}");
        }
        assert!(SiteHost::parse(&format!("{}.example", "a".repeat(64))).is_err());
    }

    #[test]
    fn platform_names_give_their_slug() {
        let host = SiteHost::parse("acme.confer.localhost").unwrap();
        assert_eq!(host.slug_under("confer.localhost"), Some("acme"));
        assert_eq!(SiteHost::parse("a.acme.confer.localhost").unwrap().slug_under("confer.localhost"), None);
        assert_eq!(SiteHost::parse("meet.acme.example").unwrap().slug_under("confer.localhost"), None);
    }
}

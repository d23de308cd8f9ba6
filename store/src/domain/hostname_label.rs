//! A tenant's slug: the DNS label of its site, `<slug>.<base-domain>`.

use super::FieldError;
use std::fmt;

/// Names a tenant may not take: they would shadow platform hosts.
const RESERVED: &[&str] = &["www", "api", "admin", "app", "mail", "static", "status", "metrics"];

/// A valid DNS label, lower case, 3–63 characters of `a-z`, `0-9` and inner `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantSlug(String);

impl TenantSlug {
    /// Parses a slug, refusing anything that is not a lower-case DNS label.
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let err = |m: &str| Err(FieldError::new("slug", m));
        if value.len() < 3 || value.len() > 63 {
            return err("slug must be 3 to 63 characters long");
        }
        if !value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return err("slug may contain only lower-case letters a-z, digits and '-'");
        }
        if value.starts_with('-') || value.ends_with('-') {
            return err("slug must not start or end with '-'");
        }
        if value.as_bytes().get(2..4) == Some(b"--") {
            return err("slug must not have '--' in the third and fourth places (reserved for IDNA)");
        }
        if RESERVED.contains(&value) {
            return err("slug is reserved by the platform");
        }
        Ok(Self(value.to_owned()))
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_labels() {
        for ok in ["acme", "acme-corp", "a1b", &"x".repeat(63)] {
            assert!(TenantSlug::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_lower_case_label() {
        for bad in ["ab", "Acme", "acme_corp", "-acme", "acme-", "ac.me", "xn--abc", "api", "", &"x".repeat(64), "ącme"]
        {
            let e = TenantSlug::parse(bad).unwrap_err();
            assert_eq!(e.field, "slug", "{bad}");
        }
    }
}

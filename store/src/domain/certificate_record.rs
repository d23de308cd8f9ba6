//! A custom domain's certificate as the log keeps it, and the steps of a domain's
//! life that can be deferred or fail.

use super::SealedSecret;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A certificate issued for a custom domain: its public parts in the clear, its
/// private key sealed with the tenant's data key (so shredding the tenant shreds it).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRecord {
    /// The leaf's serial number, lowercase hex.
    pub serial: String,
    /// The issuer's distinguished name.
    pub issuer: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// When to ask for the next one: two thirds into its lifetime.
    pub renew_at: DateTime<Utc>,
    /// The leaf, then the intermediates, PEM.
    pub chain_pem: String,
    /// The leaf's private key (PKCS#8 PEM), sealed.
    pub private_key: SealedSecret,
}

impl std::fmt::Debug for CertificateRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateRecord")
            .field("serial", &self.serial)
            .field("issuer", &self.issuer)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("renew_at", &self.renew_at)
            .finish_non_exhaustive()
    }
}

/// Two thirds into the lifetime from `not_before` to `not_after`: when Let's
/// Encrypt, Caddy and cert-manager ask for the next certificate.
pub fn renewal_time(not_before: DateTime<Utc>, not_after: DateTime<Utc>) -> DateTime<Utc> {
    not_before + (not_after - not_before) * 2 / 3
}

/// The step of a domain's life that was deferred or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DomainStage {
    /// Looking for the DNS record that proves the name.
    Dns,
    /// Ordering the first certificate.
    Certificate,
    /// Ordering the next certificate while the current one is served.
    Renewal,
}

impl DomainStage {
    /// The stage as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Certificate => "certificate",
            Self::Renewal => "renewal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn renewal_comes_two_thirds_into_the_lifetime() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let end = start + chrono::Duration::days(90);
        assert_eq!(renewal_time(start, end), start + chrono::Duration::days(60));
    }

    #[test]
    fn the_sealed_key_is_not_in_debug_output() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let record = CertificateRecord {
            serial: "ab".into(),
            issuer: "CN=x".into(),
            not_before: t,
            not_after: t,
            renew_at: t,
            chain_pem: "chain".into(),
            private_key: SealedSecret("sealed-bytes".into()),
        };
        assert!(!format!("{record:?}").contains("sealed-bytes"));
    }
}

//! A custom domain's certificate as the api hands it to the tenant's media nodes
//! (`GET /v1/certificates`), and where its arrival is announced.

use serde::{Deserialize, Serialize};

/// One certificate a node serves, chosen by SNI for `hostname`. Its `Debug` leaves
/// the private key out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantCertificate {
    /// The custom domain it is for, lowercase, without a trailing dot.
    pub hostname: String,
    /// The leaf first, then the intermediates, PEM.
    pub chain_pem: String,
    /// The leaf's private key, PKCS#8 PEM (opened by the api from its sealed form).
    pub private_key_pem: String,
    /// The leaf's serial number, lowercase hex.
    pub serial: String,
    /// When the leaf expires (RFC 3339).
    pub not_after: String,
}

impl std::fmt::Debug for TenantCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantCertificate")
            .field("hostname", &self.hostname)
            .field("serial", &self.serial)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// The answer of `GET /v1/certificates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantCertificates {
    pub items: Vec<TenantCertificate>,
}

/// The Redis pub/sub channel on which the worker announces that one of `tenant`'s
/// certificates was issued or renewed; its media nodes then read the list again.
pub fn certificates_channel(tenant: &str) -> String {
    format!("confer:{tenant}:certificates")
}

/// The Redis key under which the worker leaves the key authorization of an ACME
/// HTTP-01 challenge `token`, for any media node to answer
/// `GET /.well-known/acme-challenge/<token>` with.
pub fn acme_http01_key(token: &str) -> String {
    format!("confer:acme:http01:{token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_leaves_the_private_key_out() {
        let certificate = TenantCertificate {
            hostname: "meet.example.com".into(),
            chain_pem: "chain".into(),
            private_key_pem: "-----BEGIN PRIVATE KEY----- secret".into(),
            serial: "0a".into(),
            not_after: "2031-01-01T00:00:00Z".into(),
        };
        let shown = format!("{certificate:?} {:?}", TenantCertificates { items: vec![certificate.clone()] });
        assert!(!shown.contains("secret") && shown.contains("meet.example.com"), "{shown}");
    }
}

//! `GET /v1/certificates`: a tenant's custom-domain certificates with their private
//! keys, as the api hands them to the tenant's media nodes to serve by SNI.

use serde::{Deserialize, Serialize};

/// One certificate a node serves, chosen by SNI for `hostname`. Its `Debug` leaves
/// the private key out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct TenantCertificates {
    /// Every active certificate of the tenant; a node serves exactly these.
    pub items: Vec<TenantCertificate>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate() -> TenantCertificate {
        TenantCertificate {
            hostname: "meet.example.com".into(),
            chain_pem: "chain".into(),
            private_key_pem: "-----BEGIN PRIVATE KEY----- secret".into(),
            serial: "0a".into(),
            not_after: "2031-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn debug_output_leaves_the_private_key_out() {
        let certificate = certificate();
        let shown = format!("{certificate:?} {:?}", TenantCertificates { items: vec![certificate.clone()] });
        assert!(!shown.contains("secret") && shown.contains("meet.example.com"), "{shown}");
    }

    #[test]
    fn the_list_round_trips_and_a_certificate_without_its_key_does_not_decode() {
        let list = TenantCertificates { items: vec![certificate()] };
        let json = serde_json::to_value(&list).expect("a JSON list");
        assert_eq!(serde_json::from_value::<TenantCertificates>(json.clone()).ok(), Some(list));
        let mut renamed = json;
        let item = &mut renamed["items"][0];
        item["key_pem"] = item["private_key_pem"].take();
        item.as_object_mut().map(|o| o.remove("private_key_pem"));
        assert!(serde_json::from_value::<TenantCertificates>(renamed).is_err());
    }
}

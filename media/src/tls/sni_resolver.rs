//! Choosing the certificate of a handshake by its SNI: the platform name gets the
//! operator's certificate, each custom domain of the tenant its own, a handshake
//! without SNI the platform's, and any other name none (rustls then fails the
//! handshake, so the node never shows a certificate for a name it does not serve).

use super::certificate_store::CertificateStore;
use super::host_name::HostName;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::sync::Arc;

/// The operator's certificate for the tenant's platform name, `<tenant>.<base domain>`.
#[derive(Debug, Clone)]
pub struct PlatformCertificate {
    /// The platform name.
    pub name: HostName,
    /// Its chain and key.
    pub key: Arc<CertifiedKey>,
}

/// Chooses the certificate of each handshake; see the module's documentation.
#[derive(Debug)]
pub struct SniResolver {
    platform: Option<PlatformCertificate>,
    domains: Arc<CertificateStore>,
}

impl SniResolver {
    /// Serves `platform` (when the operator gave one) and what is in `domains`.
    pub fn new(platform: Option<PlatformCertificate>, domains: Arc<CertificateStore>) -> Self {
        Self { platform, domains }
    }

    /// The certificate for a handshake that asked for `server_name` (none: no SNI).
    pub fn for_server_name(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let Some(server_name) = server_name else {
            return self.platform.as_ref().map(|p| p.key.clone());
        };
        let name = HostName::parse(server_name).ok()?;
        match &self.platform {
            Some(platform) if platform.name == name => Some(platform.key.clone()),
            _ => self.domains.get(&name),
        }
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let server_name = client_hello.server_name();
        let key = self.for_server_name(server_name);
        if key.is_none() {
            tracing::debug!(sni = server_name.unwrap_or("(none)"), "no certificate for this name: handshake refused");
        }
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confer_vocabulary::TenantCertificate;
    use rustls::crypto::ring::default_provider;

    struct Made {
        chain_pem: String,
        key_pem: String,
    }

    fn made(name: &str) -> Made {
        let made = rcgen::generate_simple_self_signed(vec![name.to_owned()]).expect("a certificate");
        Made { chain_pem: made.cert.pem(), key_pem: made.signing_key.serialize_pem() }
    }

    fn served(name: &str, made: &Made, serial: &str) -> TenantCertificate {
        TenantCertificate {
            hostname: name.to_owned(),
            chain_pem: made.chain_pem.clone(),
            private_key_pem: made.key_pem.clone(),
            serial: serial.to_owned(),
            not_after: "2099-01-01T00:00:00Z".to_owned(),
        }
    }

    fn leaf_of(key: Option<Arc<CertifiedKey>>) -> Option<Vec<u8>> {
        key.map(|k| k.cert[0].to_vec())
    }

    fn leaf_pem(made: &Made) -> Vec<u8> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(made.chain_pem.as_bytes()).expect("a PEM certificate").to_vec()
    }

    /// A resolver for the platform name `acme.confer.test` and the custom domains given.
    fn resolver(domains: &[TenantCertificate]) -> (SniResolver, Made) {
        let provider = Arc::new(default_provider());
        let platform = made("acme.confer.test");
        let key = super::super::certified_key::from_pem(&platform.chain_pem, &platform.key_pem, &provider)
            .expect("the platform certificate");
        let store = Arc::new(CertificateStore::new(provider));
        store.replace(domains);
        let platform_certificate =
            PlatformCertificate { name: HostName::parse("acme.confer.test").expect("a name"), key: Arc::new(key) };
        (SniResolver::new(Some(platform_certificate), store), platform)
    }

    #[test]
    fn each_custom_domain_gets_its_own_certificate() {
        let (meet, talk) = (made("meet.example.test"), made("talk.example.test"));
        let (resolver, _) =
            resolver(&[served("meet.example.test", &meet, "01"), served("talk.example.test", &talk, "02")]);
        assert_eq!(leaf_of(resolver.for_server_name(Some("meet.example.test"))), Some(leaf_pem(&meet)));
        assert_eq!(leaf_of(resolver.for_server_name(Some("talk.example.test"))), Some(leaf_pem(&talk)));
    }

    #[test]
    fn the_platform_name_and_a_handshake_without_sni_get_the_operators_certificate() {
        let meet = made("meet.example.test");
        let (resolver, platform) = resolver(&[served("meet.example.test", &meet, "01")]);
        assert_eq!(leaf_of(resolver.for_server_name(Some("acme.confer.test"))), Some(leaf_pem(&platform)));
        assert_eq!(leaf_of(resolver.for_server_name(None)), Some(leaf_pem(&platform)));
    }

    #[test]
    fn sni_matches_whatever_its_case_and_trailing_dot() {
        let meet = made("meet.example.test");
        let (resolver, platform) = resolver(&[served("meet.example.test", &meet, "01")]);
        for sni in ["MEET.Example.Test", "meet.example.test.", "Meet.EXAMPLE.test."] {
            assert_eq!(leaf_of(resolver.for_server_name(Some(sni))), Some(leaf_pem(&meet)), "{sni}");
        }
        assert_eq!(leaf_of(resolver.for_server_name(Some("ACME.confer.test."))), Some(leaf_pem(&platform)));
    }

    #[test]
    fn a_name_the_tenant_does_not_serve_gets_no_certificate() {
        let meet = made("meet.example.test");
        let (resolver, _) = resolver(&[served("meet.example.test", &meet, "01")]);
        for sni in ["other.example.test", "example.test", "x.meet.example.test", "other.confer.test", "not a name"] {
            assert!(resolver.for_server_name(Some(sni)).is_none(), "{sni} got a certificate");
        }
    }

    #[test]
    fn without_an_operator_certificate_only_custom_domains_are_served() {
        let meet = made("meet.example.test");
        let store = Arc::new(CertificateStore::new(Arc::new(default_provider())));
        store.replace(&[served("meet.example.test", &meet, "01")]);
        let resolver = SniResolver::new(None, store);
        assert!(resolver.for_server_name(None).is_none());
        assert!(resolver.for_server_name(Some("acme.confer.test")).is_none());
        assert_eq!(leaf_of(resolver.for_server_name(Some("meet.example.test"))), Some(leaf_pem(&meet)));
    }

    #[test]
    fn a_bad_entry_is_skipped_and_the_others_are_served() {
        let (meet, talk, stranger) = (made("meet.example.test"), made("talk.example.test"), made("x.example.test"));
        let mismatched = Made { chain_pem: talk.chain_pem.clone(), key_pem: stranger.key_pem.clone() };
        let garbled = Made {
            chain_pem: "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n".into(),
            key_pem: meet.key_pem.clone(),
        };
        let (resolver, _) = resolver(&[
            served("talk.example.test", &mismatched, "02"),
            served("bad.example.test", &garbled, "03"),
            served("not a name", &stranger, "04"),
            served("meet.example.test", &meet, "01"),
        ]);
        assert_eq!(leaf_of(resolver.for_server_name(Some("meet.example.test"))), Some(leaf_pem(&meet)));
        for sni in ["talk.example.test", "bad.example.test"] {
            assert!(resolver.for_server_name(Some(sni)).is_none(), "{sni} was served");
        }
    }

    #[test]
    fn a_replaced_set_is_served_from_the_next_handshake_on() {
        let (old, new) = (made("meet.example.test"), made("meet.example.test"));
        let provider = Arc::new(default_provider());
        let store = Arc::new(CertificateStore::new(provider));
        let resolver = SniResolver::new(None, store.clone());
        let loaded = store.replace(&[served("meet.example.test", &old, "01")]);
        assert_eq!(loaded.iter().map(|l| l.serial.as_str()).collect::<Vec<_>>(), ["01"]);
        assert_eq!(leaf_of(resolver.for_server_name(Some("meet.example.test"))), Some(leaf_pem(&old)));
        store.replace(&[served("meet.example.test", &new, "02")]);
        assert_eq!(leaf_of(resolver.for_server_name(Some("meet.example.test"))), Some(leaf_pem(&new)));
        store.replace(&[]);
        assert!(resolver.for_server_name(Some("meet.example.test")).is_none());
    }
}

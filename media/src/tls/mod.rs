//! HTTPS on the media node: the tenant's custom domains, each with its own
//! certificate chosen by SNI, and its platform name `<tenant>.<base domain>` with the
//! operator's certificate.
//!
//! - [`host_name`]: a DNS name as SNI is compared with it.
//! - [`certified_key`]: PEM chain and key to what rustls serves, checked to match.
//! - [`certificate_store`]: the custom-domain certificates in force, swapped whole.
//! - [`sni_resolver`]: which certificate a handshake gets.
//! - [`certificate_follower`]: keeps the store equal to the api's `GET /v1/certificates`,
//!   re-reading on a Redis announcement and every poll interval.
//! - [`acme_http01`]: answers ACME HTTP-01 challenges (on the plain-HTTP listener too)
//!   from Redis, so the worker can get those certificates issued.

pub mod acme_http01;
pub mod certificate_follower;
pub mod certificate_store;
pub mod certified_key;
pub mod host_name;
pub mod sni_resolver;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use std::sync::Arc;

/// The crypto the node's TLS uses (ring), given to rustls explicitly so that no
/// process-wide default is needed.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS configuration of the HTTPS listener: TLS 1.2 and 1.3, no client
/// certificates, the certificate of each handshake chosen by `resolver`.
///
/// ALPN is left to actix-web, which puts `http/1.1` (and `h2` only when built with
/// HTTP/2) in front of what is configured here.
pub fn server_config(
    provider: Arc<CryptoProvider>,
    resolver: Arc<sni_resolver::SniResolver>,
) -> Result<ServerConfig, rustls::Error> {
    Ok(ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver))
}

#[cfg(test)]
mod tests {
    //! Whole handshakes in memory, through rustls, against [`server_config`].

    use super::*;
    use certificate_store::CertificateStore;
    use confer_vocabulary::TenantCertificate;
    use rustls::pki_types::{CertificateDer, ServerName};
    use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConnection};
    use sni_resolver::{PlatformCertificate, SniResolver};

    struct TestCa {
        issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
        der: CertificateDer<'static>,
    }

    impl TestCa {
        fn new() -> Self {
            let key = rcgen::KeyPair::generate().expect("a key");
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            params.distinguished_name.push(rcgen::DnType::CommonName, "Confer test CA");
            let der = params.self_signed(&key).expect("a CA certificate").der().clone();
            Self { issuer: rcgen::Issuer::new(params, key), der }
        }

        /// A leaf for `name`: (chain PEM, key PEM, leaf DER).
        fn leaf(&self, name: &str) -> (String, String, Vec<u8>) {
            let key = rcgen::KeyPair::generate().expect("a key");
            let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
                .expect("leaf parameters")
                .signed_by(&key, &self.issuer)
                .expect("a leaf");
            (cert.pem(), key.serialize_pem(), cert.der().to_vec())
        }

        fn client(&self, sni: bool) -> Arc<ClientConfig> {
            let mut roots = RootCertStore::empty();
            roots.add(self.der.clone()).expect("the CA as a root");
            let mut config = ClientConfig::builder_with_provider(crypto_provider())
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.enable_sni = sni;
            Arc::new(config)
        }
    }

    /// Runs a handshake to `name`; the leaf the client verified, or why it failed.
    fn handshake(server: &Arc<ServerConfig>, client: Arc<ClientConfig>, name: &str) -> Result<Vec<u8>, rustls::Error> {
        let name = ServerName::try_from(name.to_owned()).expect("a server name");
        let mut client = ClientConnection::new(client, name)?;
        let mut server = ServerConnection::new(server.clone())?;
        while client.is_handshaking() || server.is_handshaking() {
            let mut wire = Vec::new();
            client.write_tls(&mut wire).expect("in memory");
            server.read_tls(&mut wire.as_slice()).expect("in memory");
            let on_server = server.process_new_packets();
            wire.clear();
            server.write_tls(&mut wire).expect("in memory");
            client.read_tls(&mut wire.as_slice()).expect("in memory");
            client.process_new_packets()?;
            on_server?;
        }
        let leaf = client.peer_certificates().and_then(|chain| chain.first()).expect("a verified chain");
        Ok(leaf.to_vec())
    }

    #[test]
    fn handshakes_get_the_certificate_of_the_name_they_ask_for() {
        let ca = TestCa::new();
        let (platform_chain, platform_key, platform_leaf) = ca.leaf("acme.confer.test");
        let (meet_chain, meet_key, meet_leaf) = ca.leaf("meet.example.test");
        let provider = crypto_provider();
        let store = Arc::new(CertificateStore::new(provider.clone()));
        store.replace(&[TenantCertificate {
            hostname: "meet.example.test".into(),
            chain_pem: meet_chain,
            private_key_pem: meet_key,
            serial: "01".into(),
            not_after: "2099-01-01T00:00:00Z".into(),
        }]);
        let platform = PlatformCertificate {
            name: host_name::HostName::parse("acme.confer.test").expect("a name"),
            key: Arc::new(certified_key::from_pem(&platform_chain, &platform_key, &provider).expect("a key")),
        };
        let resolver = Arc::new(SniResolver::new(Some(platform), store));
        let server = Arc::new(server_config(provider, resolver).expect("a server config"));

        assert_eq!(handshake(&server, ca.client(true), "meet.example.test"), Ok(meet_leaf));
        assert_eq!(handshake(&server, ca.client(true), "acme.confer.test"), Ok(platform_leaf.clone()));
        assert_eq!(handshake(&server, ca.client(false), "acme.confer.test"), Ok(platform_leaf));
        assert!(handshake(&server, ca.client(true), "other.example.test").is_err());
    }
}

//! The tenant's custom-domain certificates, by host name, as the node serves them
//! now. The follower replaces the whole set when the api's list changes; a handshake
//! reads the current set with one atomic load, so a reload never makes it wait and
//! it never sees half a reload.

use super::certified_key;
use super::host_name::HostName;
use arc_swap::ArcSwap;
use confer_vocabulary::TenantCertificate;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

type Domains = HashMap<HostName, Arc<CertifiedKey>>;

/// The certificates of the tenant's custom domains.
pub struct CertificateStore {
    provider: Arc<CryptoProvider>,
    domains: ArcSwap<Domains>,
}

/// A certificate that [`CertificateStore::replace`] put in service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The domain it is served for.
    pub hostname: HostName,
    /// Its leaf's serial, as the api gave it.
    pub serial: String,
}

impl CertificateStore {
    /// An empty store whose keys are loaded with `provider`.
    pub fn new(provider: Arc<CryptoProvider>) -> Self {
        Self { provider, domains: ArcSwap::from_pointee(HashMap::new()) }
    }

    /// Serves `certificates` from now on, instead of the set before. One that cannot
    /// be served (a bad name, bad PEM, a key that is not its leaf's) is logged with
    /// its host name and left out; the others are served all the same. Returns those
    /// put in service.
    pub fn replace(&self, certificates: &[TenantCertificate]) -> Vec<Loaded> {
        let mut domains = Domains::with_capacity(certificates.len());
        let mut loaded: Vec<Loaded> = Vec::with_capacity(certificates.len());
        for certificate in certificates {
            let hostname = match HostName::parse(&certificate.hostname) {
                Ok(hostname) => hostname,
                Err(e) => {
                    tracing::error!(hostname = %certificate.hostname, serial = %certificate.serial, error = %e,
                        "a certificate for a name that is not a DNS name is not served");
                    continue;
                }
            };
            let key =
                match certified_key::from_pem(&certificate.chain_pem, &certificate.private_key_pem, &self.provider) {
                    Ok(key) => key,
                    Err(e) => {
                        tracing::error!(hostname = %hostname, serial = %certificate.serial, error = %e,
                        "a certificate that cannot be served is left out");
                        continue;
                    }
                };
            if domains.insert(hostname.clone(), Arc::new(key)).is_some() {
                tracing::warn!(hostname = %hostname, serial = %certificate.serial,
                    "two certificates for one domain: the later one in the list is served");
                loaded.retain(|l| l.hostname != hostname);
            }
            loaded.push(Loaded { hostname, serial: certificate.serial.clone() });
        }
        self.domains.store(Arc::new(domains));
        loaded
    }

    /// The key served for `hostname`, if any.
    pub fn get(&self, hostname: &HostName) -> Option<Arc<CertifiedKey>> {
        self.domains.load().get(hostname).cloned()
    }
}

impl fmt::Debug for CertificateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let domains = self.domains.load();
        let mut names: Vec<&str> = domains.keys().map(HostName::as_str).collect();
        names.sort_unstable();
        f.debug_struct("CertificateStore").field("domains", &names).finish_non_exhaustive()
    }
}

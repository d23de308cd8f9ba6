//! Turning PEM into what rustls serves: a chain (leaf first) and its private key
//! become a [`CertifiedKey`], once the key is known to be the leaf's. A certificate
//! whose key does not match would fail every handshake; it is refused here instead,
//! where the error can name it.

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;

/// Why a chain and key cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// The chain holds no certificate.
    #[error("the chain holds no certificate")]
    NoCertificate,
    /// The chain is not PEM certificates.
    #[error("the chain is not PEM certificates: {0}")]
    Chain(pem::Error),
    /// The key is not a PEM private key (PKCS#8, SEC1 or PKCS#1).
    #[error("the private key is not a PEM private key: {0}")]
    Key(pem::Error),
    /// The key is of a kind the crypto provider cannot sign with.
    #[error("the private key cannot sign: {0}")]
    UnusableKey(rustls::Error),
    /// The key is not the one the leaf certifies (or the leaf cannot be read).
    #[error("the private key does not match the leaf certificate: {0}")]
    KeyMismatch(rustls::Error),
}

/// The chain in `chain_pem` with the key in `key_pem`, checked to belong together.
pub fn from_pem(chain_pem: &str, key_pem: &str, provider: &CryptoProvider) -> Result<CertifiedKey, CertificateError> {
    let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(CertificateError::Chain)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(CertificateError::Key)?;
    checked(chain, key, provider)
}

/// [`from_pem`] for the chain and key in these files (the operator's certificate).
pub fn from_pem_files(
    chain_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, CertificateError> {
    let chain = CertificateDer::pem_file_iter(chain_path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(CertificateError::Chain)?;
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(CertificateError::Key)?;
    checked(chain, key, provider)
}

fn checked(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, CertificateError> {
    if chain.is_empty() {
        return Err(CertificateError::NoCertificate);
    }
    let signing_key = provider.key_provider.load_private_key(key).map_err(CertificateError::UnusableKey)?;
    let certified = CertifiedKey::new(chain, signing_key);
    // Stricter than `CertifiedKey::from_der`: a key that cannot tell its public half
    // is refused too (ring's keys always can).
    certified.keys_match().map_err(CertificateError::KeyMismatch)?;
    Ok(certified)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::crypto::ring::default_provider;

    fn self_signed(name: &str) -> rcgen::CertifiedKey<rcgen::KeyPair> {
        rcgen::generate_simple_self_signed(vec![name.to_owned()]).expect("a certificate")
    }

    #[test]
    fn a_chain_and_its_own_key_are_served() {
        let made = self_signed("meet.example.test");
        let key = from_pem(&made.cert.pem(), &made.signing_key.serialize_pem(), &default_provider());
        assert!(key.is_ok(), "{:?}", key.err());
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let (one, other) = (self_signed("meet.example.test"), self_signed("meet.example.test"));
        let key = from_pem(&one.cert.pem(), &other.signing_key.serialize_pem(), &default_provider());
        assert!(matches!(key, Err(CertificateError::KeyMismatch(_))), "{:?}", key.err());
    }

    #[test]
    fn an_empty_or_garbled_chain_is_refused() {
        let made = self_signed("meet.example.test");
        let key_pem = made.signing_key.serialize_pem();
        assert!(matches!(from_pem("", &key_pem, &default_provider()), Err(CertificateError::NoCertificate)));
        assert!(matches!(from_pem(&made.cert.pem(), "not a key", &default_provider()), Err(CertificateError::Key(_))));
    }
}

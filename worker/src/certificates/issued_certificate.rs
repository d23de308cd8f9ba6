//! `IssuedCertificate`: a certificate chain and its private key, checked to belong
//! together and to cover the hostname they were ordered for, with the leaf's facts
//! (serial, issuer, validity) read once so that nobody parses X.509 again.

use std::fmt;

use chrono::{DateTime, Utc};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// A certificate the CA issued, with its key. Only [`IssuedCertificate::from_pem`]
/// makes one, so whoever holds one knows the chain parses, its leaf covers
/// [`hostname`](Self::hostname), and the key is the leaf's.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    hostname: String,
    chain_pem: String,
    private_key_pem: String,
    serial: String,
    issuer: String,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
}

/// Why a chain and key are not a usable certificate for a hostname.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateParseError {
    /// The chain holds no `CERTIFICATE` PEM block.
    #[error("the chain holds no PEM certificate")]
    Empty,
    /// A PEM block could not be decoded.
    #[error("the chain is not valid PEM: {0}")]
    Pem(String),
    /// The leaf is not a well-formed X.509 certificate.
    #[error("the leaf certificate does not parse: {0}")]
    Leaf(String),
    /// The leaf's validity is outside what a date can hold.
    #[error("the leaf's validity is out of range")]
    Validity,
    /// The leaf's subject alternative names do not include the hostname.
    #[error("the leaf is for {names:?}, not for {hostname}")]
    NotForHostname {
        /// The name that was ordered.
        hostname: String,
        /// The DNS names the leaf covers.
        names: Vec<String>,
    },
    /// The private key is not a PKCS#8 PEM key rcgen can read (the key itself is
    /// never part of the message).
    #[error("the private key is not a readable PKCS#8 PEM key")]
    Key,
    /// The private key is not the one the leaf certifies.
    #[error("the private key does not match the leaf's public key")]
    KeyMismatch,
}

impl IssuedCertificate {
    /// Reads `chain_pem` (leaf first, then intermediates) and `private_key_pem`
    /// (PKCS#8), and checks that the leaf covers `hostname` (a DNS name of its subject
    /// alternative names, or a wildcard one label above it) and certifies that key.
    /// `hostname` is kept lowercase, without a trailing dot.
    pub fn from_pem(hostname: &str, chain_pem: &str, private_key_pem: &str) -> Result<Self, CertificateParseError> {
        let hostname = normalize(hostname);
        let leaf_der = match CertificateDer::pem_slice_iter(chain_pem.as_bytes()).next() {
            None => return Err(CertificateParseError::Empty),
            Some(Err(e)) => return Err(CertificateParseError::Pem(e.to_string())),
            Some(Ok(der)) => der,
        };
        let (_, leaf) =
            X509Certificate::from_der(leaf_der.as_ref()).map_err(|e| CertificateParseError::Leaf(e.to_string()))?;

        let names = dns_names(&leaf)?;
        if !names.iter().any(|name| covers(name, &hostname)) {
            return Err(CertificateParseError::NotForHostname { hostname, names });
        }

        let key = rcgen::KeyPair::from_pem(private_key_pem).map_err(|_| CertificateParseError::Key)?;
        if rcgen::PublicKeyData::subject_public_key_info(&key) != leaf.public_key().raw {
            return Err(CertificateParseError::KeyMismatch);
        }

        let time = |t: x509_parser::time::ASN1Time| {
            DateTime::<Utc>::from_timestamp(t.timestamp(), 0).ok_or(CertificateParseError::Validity)
        };
        Ok(Self {
            serial: serial_hex(leaf.raw_serial()),
            issuer: leaf.issuer().to_string(),
            not_before: time(leaf.validity().not_before)?,
            not_after: time(leaf.validity().not_after)?,
            hostname,
            chain_pem: chain_pem.to_owned(),
            private_key_pem: private_key_pem.to_owned(),
        })
    }

    /// The name it was ordered for: lowercase, no trailing dot.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The chain as the CA sent it, PEM: the leaf first, then the intermediates.
    pub fn chain_pem(&self) -> &str {
        &self.chain_pem
    }

    /// The leaf's private key, PKCS#8 PEM. A secret: store it sealed, never log it.
    pub fn private_key_pem(&self) -> &str {
        &self.private_key_pem
    }

    /// The leaf's serial number: lowercase hex of its bytes, no colons, without the
    /// leading zero byte DER adds to keep a number positive (as `openssl x509 -serial`
    /// prints it, in lowercase).
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The leaf's issuer, as a distinguished name string (`CN=…, O=…`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Start of the leaf's validity.
    pub fn not_before(&self) -> DateTime<Utc> {
        self.not_before
    }

    /// End of the leaf's validity.
    pub fn not_after(&self) -> DateTime<Utc> {
        self.not_after
    }

    /// When to renew: two thirds into the leaf's lifetime (day 60 of a 90-day
    /// certificate), as Let's Encrypt advises.
    pub fn renew_at(&self) -> DateTime<Utc> {
        self.not_before + (self.not_after - self.not_before) * 2 / 3
    }

    /// The certificate as the api hands it to media nodes.
    pub fn to_tenant_certificate(&self) -> confer_vocabulary::TenantCertificate {
        confer_vocabulary::TenantCertificate {
            hostname: self.hostname.clone(),
            chain_pem: self.chain_pem.clone(),
            private_key_pem: self.private_key_pem.clone(),
            serial: self.serial.clone(),
            not_after: self.not_after.to_rfc3339(),
        }
    }
}

/// Everything but the private key (and the chain, which says nothing in a log).
impl fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCertificate")
            .field("hostname", &self.hostname)
            .field("serial", &self.serial)
            .field("issuer", &self.issuer)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("private_key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

fn normalize(hostname: &str) -> String {
    let lower = hostname.trim().to_ascii_lowercase();
    lower.strip_suffix('.').unwrap_or(&lower).to_owned()
}

/// The DNS names of the leaf's subject alternative names, lowercase.
fn dns_names(leaf: &X509Certificate<'_>) -> Result<Vec<String>, CertificateParseError> {
    let san = leaf.subject_alternative_name().map_err(|e| CertificateParseError::Leaf(e.to_string()))?;
    Ok(san
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(dns) => Some(normalize(dns)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Whether the SAN `name` covers `hostname`: equal, or `*.<parent>` with `hostname`
/// exactly one label below the parent (RFC 6125 §6.4.3, wildcard as the whole label).
fn covers(name: &str, hostname: &str) -> bool {
    match name.strip_prefix("*.") {
        Some(parent) => hostname.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
        None => name == hostname,
    }
}

fn serial_hex(raw: &[u8]) -> String {
    let significant = match raw {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => raw,
    };
    hex_lower(significant)
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256, SerialNumber};

    struct Made {
        chain_pem: String,
        key_pem: String,
    }

    /// A leaf for `names`, valid for `days` from 2030-01-01, with this serial, signed
    /// by a fresh CA named "Test Issuing CA".
    fn make(names: &[&str], serial: &[u8], days: i64) -> Made {
        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name = DistinguishedName::new();
        ca_params.distinguished_name.push(DnType::CommonName, "Test Issuing CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.serial_number = Some(SerialNumber::from_slice(serial));
        params.not_before = rcgen::date_time_ymd(2030, 1, 1);
        params.not_after = params.not_before + std::time::Duration::from_secs(days as u64 * 86_400);
        let leaf = params.signed_by(&key, &issuer).unwrap();
        Made { chain_pem: format!("{}{}", leaf.pem(), ca_cert.pem()), key_pem: key.serialize_pem() }
    }

    #[test]
    fn reads_serial_issuer_and_validity_of_the_leaf() {
        let made = make(&["meet.example.com"], &[0x0a, 0xbc, 0xde], 90);
        let cert = IssuedCertificate::from_pem("Meet.Example.com.", &made.chain_pem, &made.key_pem).unwrap();
        assert_eq!(cert.hostname(), "meet.example.com");
        assert_eq!(cert.serial(), "0abcde");
        assert_eq!(cert.issuer(), "CN=Test Issuing CA");
        assert_eq!(cert.not_before().to_rfc3339(), "2030-01-01T00:00:00+00:00");
        assert_eq!(cert.not_after().to_rfc3339(), "2030-04-01T00:00:00+00:00");
        assert_eq!(cert.chain_pem(), made.chain_pem);
        assert_eq!(cert.private_key_pem(), made.key_pem);
    }

    #[test]
    fn the_sign_byte_of_a_serial_is_not_part_of_it() {
        let made = make(&["meet.example.com"], &[0x00, 0x80, 0x01], 90);
        let cert = IssuedCertificate::from_pem("meet.example.com", &made.chain_pem, &made.key_pem).unwrap();
        assert_eq!(cert.serial(), "8001");
    }

    #[test]
    fn renewal_is_due_two_thirds_into_the_lifetime() {
        let made = make(&["meet.example.com"], &[1], 90);
        let cert = IssuedCertificate::from_pem("meet.example.com", &made.chain_pem, &made.key_pem).unwrap();
        assert_eq!(cert.renew_at().to_rfc3339(), "2030-03-02T00:00:00+00:00");
    }

    #[test]
    fn a_leaf_for_other_names_is_refused() {
        let made = make(&["other.example.com", "www.example.com"], &[1], 90);
        let err = IssuedCertificate::from_pem("meet.example.com", &made.chain_pem, &made.key_pem).unwrap_err();
        assert_eq!(
            err,
            CertificateParseError::NotForHostname {
                hostname: "meet.example.com".into(),
                names: vec!["other.example.com".into(), "www.example.com".into()],
            }
        );
    }

    #[test]
    fn a_wildcard_covers_one_label_only() {
        let made = make(&["*.example.com"], &[1], 90);
        assert!(IssuedCertificate::from_pem("meet.example.com", &made.chain_pem, &made.key_pem).is_ok());
        assert!(IssuedCertificate::from_pem("a.meet.example.com", &made.chain_pem, &made.key_pem).is_err());
        assert!(IssuedCertificate::from_pem("example.com", &made.chain_pem, &made.key_pem).is_err());
    }

    #[test]
    fn a_key_that_is_not_the_leafs_is_refused() {
        let made = make(&["meet.example.com"], &[1], 90);
        let other = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap().serialize_pem();
        let err = IssuedCertificate::from_pem("meet.example.com", &made.chain_pem, &other).unwrap_err();
        assert_eq!(err, CertificateParseError::KeyMismatch);
        let err = IssuedCertificate::from_pem("meet.example.com", &made.chain_pem, "not a key").unwrap_err();
        assert_eq!(err, CertificateParseError::Key);
    }

    #[test]
    fn an_empty_or_broken_chain_is_refused() {
        let made = make(&["meet.example.com"], &[1], 90);
        assert_eq!(
            IssuedCertificate::from_pem("meet.example.com", "", &made.key_pem),
            Err(CertificateParseError::Empty)
        );
        let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            IssuedCertificate::from_pem("meet.example.com", broken, &made.key_pem),
            Err(CertificateParseError::Leaf(_))
        ));
    }

    #[test]
    fn debug_never_shows_the_private_key() {
        let made = make(&["meet.example.com"], &[1], 90);
        let cert = IssuedCertificate::from_pem("meet.example.com", &made.chain_pem, &made.key_pem).unwrap();
        let shown = format!("{cert:?}");
        assert!(shown.contains("meet.example.com"), "{shown}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        let body: String = made.key_pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(!shown.contains(&body[..20]), "{shown}");
    }

    #[test]
    fn it_becomes_the_certificate_a_node_serves() {
        let made = make(&["meet.example.com"], &[0x12, 0x34], 90);
        let cert = IssuedCertificate::from_pem("meet.example.com", &made.chain_pem, &made.key_pem).unwrap();
        let served = cert.to_tenant_certificate();
        assert_eq!(served.serial, "1234");
        assert_eq!(served.not_after, "2030-04-01T00:00:00+00:00");
        assert_eq!(served.private_key_pem, made.key_pem);
    }
}

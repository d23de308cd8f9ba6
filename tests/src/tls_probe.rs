//! What a TLS client sees of a server: the certificate chain it presents for a name
//! (SNI), verified against given roots as a browser would (rustls + webpki).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

/// The leaf a server presented, once the handshake verified it.
#[derive(Debug, Clone)]
pub struct Presented {
    /// Lowercase hex without the leading zero byte DER may add (as the api shows it).
    pub serial: String,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// The subject alternative DNS names.
    pub names: Vec<String>,
    /// The whole chain as sent.
    pub chain: Vec<CertificateDer<'static>>,
}

/// Connects to `addr`, asks for `sni`, verifies the chain against `roots_pem` (one
/// or more PEM certificates) for that name, and returns the leaf; an error says why
/// the handshake failed (e.g. no certificate for the name, or one that does not
/// verify).
pub fn presented(addr: &str, sni: &str, roots_pem: &str) -> Result<Presented, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(roots_pem.as_bytes()) {
        roots.add(cert.map_err(|e| format!("a root PEM: {e}"))?).map_err(|e| format!("a root: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(sni.to_owned()).map_err(|e| format!("{sni}: {e}"))?;
    let mut connection = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let mut socket = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    socket.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    while connection.is_handshaking() {
        connection.complete_io(&mut socket).map_err(|e| format!("handshake for {sni}: {e}"))?;
    }
    let _ = connection.writer().flush();
    let chain: Vec<CertificateDer<'static>> = connection
        .peer_certificates()
        .ok_or("no certificate presented")?
        .iter()
        .map(|c| c.clone().into_owned())
        .collect();
    let leaf = chain.first().ok_or("an empty chain")?;
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf).map_err(|e| format!("the leaf: {e}"))?;
    let names = parsed
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Presented { serial: serial_hex(parsed.raw_serial()), issuer: parsed.issuer().to_string(), names, chain })
}

/// A serial's bytes as the api shows them: lowercase hex, without DER's sign byte.
fn serial_hex(raw: &[u8]) -> String {
    let significant = match raw {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => raw,
    };
    significant.iter().map(|b| format!("{b:02x}")).collect()
}

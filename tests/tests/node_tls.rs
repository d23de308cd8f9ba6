//! HTTPS on a real `confer-media` node: each custom domain gets its own certificate
//! by SNI, the platform name gets the operator's, other names get none, and a renewed
//! certificate is served as soon as it is announced on Redis, without a restart. Also
//! the ACME HTTP-01 answers on the plain-HTTP listener, read from Redis.
//!
//! The api's `GET /v1/certificates` is played by a small fake api in this file; the
//! whole chain (api, worker, Pebble) is tested elsewhere.

use confer_tests::media_node::MediaNode;
use confer_tests::{LogLines, TestTenant, redis_url, unique_slug};
use confer_vocabulary::{TenantCertificate, TenantCertificates, acme_http01_key, certificates_channel};
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A certificate authority of the test's own, which the test's clients trust.
struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    der: CertificateDer<'static>,
}

/// A leaf the test CA issued, with its key.
struct Leaf {
    chain_pem: String,
    key_pem: String,
    /// Lowercase hex, as the api reports it.
    serial: String,
}

impl TestCa {
    fn new() -> Self {
        let key = rcgen::KeyPair::generate().expect("a CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "Confer node_tls test CA");
        let der = params.self_signed(&key).expect("a CA certificate").der().clone();
        Self { issuer: rcgen::Issuer::new(params, key), der }
    }

    /// A fresh leaf for `name`, with a serial of its own.
    fn leaf(&self, name: &str) -> Leaf {
        let key = rcgen::KeyPair::generate().expect("a leaf key");
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).expect("leaf parameters");
        // A positive serial whose DER encoding is these very bytes (high bit clear).
        let mut serial = uuid::Uuid::new_v4().as_bytes().to_vec();
        serial[0] = 0x40 | (serial[0] & 0x3f);
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let cert = params.signed_by(&key, &self.issuer).expect("a leaf");
        Leaf { chain_pem: cert.pem(), key_pem: key.serialize_pem(), serial: hex::encode(serial) }
    }

    /// A client that trusts this CA only, offering `h2` and `http/1.1`; `sni: false`
    /// sends no server name.
    fn client(&self, sni: bool) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).expect("the CA as a root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.enable_sni = sni;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

impl Leaf {
    fn served_for(&self, hostname: &str) -> TenantCertificate {
        TenantCertificate {
            hostname: hostname.to_owned(),
            chain_pem: self.chain_pem.clone(),
            private_key_pem: self.key_pem.clone(),
            serial: self.serial.clone(),
            not_after: "2099-01-01T00:00:00Z".to_owned(),
        }
    }
}

/// The api as far as a node's HTTPS needs it: the tenant's settings and its
/// certificate list (for the tenant's key only); 404 for anything else. It runs on
/// the test's runtime, which must have worker threads: starting a node blocks the
/// test's own thread until the node listens, and the node reads its settings first.
struct FakeApi {
    url: String,
    certificates: Arc<Mutex<TenantCertificates>>,
    certificate_reads: Arc<AtomicUsize>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeApi {
    async fn start(api_key: &str, certificates: TenantCertificates) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port for the fake api");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let certificates = Arc::new(Mutex::new(certificates));
        let certificate_reads = Arc::new(AtomicUsize::new(0));
        let (list, reads, bearer) = (certificates.clone(), certificate_reads.clone(), format!("bearer {api_key}"));
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (list, reads, bearer) = (list.clone(), reads.clone(), bearer.clone());
                tokio::spawn(async move { Self::answer(stream, &list, &reads, &bearer).await });
            }
        });
        Self { url, certificates, certificate_reads, server }
    }

    /// Answers one request and closes the connection.
    async fn answer(mut stream: TcpStream, list: &Mutex<TenantCertificates>, reads: &AtomicUsize, bearer: &str) {
        let Some(head) = read_head(&mut stream).await else { return };
        let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
        let authorized = head.lines().any(|line| line.to_ascii_lowercase() == format!("authorization: {bearer}"));
        let (status, body) = match path.as_str() {
            "/v1/settings" if authorized => {
                ("200 OK", r#"{"auth":"open","guests_allowed":true,"lobby":false,"max_participants":10}"#.to_owned())
            }
            "/v1/certificates" if authorized => {
                reads.fetch_add(1, Ordering::SeqCst);
                let list = list.lock().unwrap_or_else(|e| e.into_inner()).clone();
                ("200 OK", serde_json::to_string(&list).expect("a JSON list"))
            }
            "/v1/settings" | "/v1/certificates" => ("401 Unauthorized", r#"{"error":{"code":"unauthorized"}}"#.into()),
            _ => ("404 Not Found", r#"{"error":{"code":"not_found"}}"#.to_owned()),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    }

    fn serve(&self, certificates: Vec<TenantCertificate>) {
        *self.certificates.lock().unwrap_or_else(|e| e.into_inner()) = TenantCertificates { items: certificates };
    }

    fn certificate_reads(&self) -> usize {
        self.certificate_reads.load(Ordering::SeqCst)
    }
}

/// A request's head (up to the blank line), or none if the peer went away first.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&byte[..n]);
    }
    String::from_utf8(head).ok()
}

/// The operator's certificate as files, removed when dropped.
struct OperatorFiles {
    dir: PathBuf,
}

impl OperatorFiles {
    fn write(leaf: &Leaf) -> Self {
        let dir = std::env::temp_dir().join(format!("confer-node-tls-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        std::fs::write(dir.join("chain.pem"), &leaf.chain_pem).expect("the operator's chain");
        std::fs::write(dir.join("key.pem"), &leaf.key_pem).expect("the operator's key");
        Self { dir }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).to_string_lossy().into_owned()
    }
}

impl Drop for OperatorFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What a TLS handshake showed: the serial of the leaf the client verified (lowercase
/// hex) and the protocol agreed on by ALPN.
#[derive(Debug)]
struct Shown {
    serial: String,
    alpn: Option<Vec<u8>>,
}

async fn connect(
    client: &tokio_rustls::TlsConnector,
    addr: &str,
    name: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(name.to_owned()).expect("a server name");
    tokio::time::timeout(Duration::from_secs(10), client.connect(name, tcp)).await.expect("the handshake ends")
}

/// A handshake with the node at `addr` for `name`, verified against the test CA.
async fn handshake(client: &tokio_rustls::TlsConnector, addr: &str, name: &str) -> std::io::Result<Shown> {
    let stream = connect(client, addr, name).await?;
    let (_, connection) = stream.get_ref();
    let leaf = connection.peer_certificates().and_then(|chain| chain.first()).expect("a verified chain");
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf).expect("an X.509 leaf");
    Ok(Shown { serial: hex::encode(parsed.raw_serial()), alpn: connection.alpn_protocol().map(<[u8]>::to_vec) })
}

/// Waits until `log` has a line with `message` and, if given, `field` equal to `value`.
async fn wait_for_log(log: &LogLines, message: &str, field: Option<(&str, &str)>) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let seen = log.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|line| {
            let Ok(line) = serde_json::from_str::<serde_json::Value>(line) else { return false };
            line["message"] == message && field.is_none_or(|(name, value)| line[name] == value)
        });
        if seen {
            return;
        }
        assert!(Instant::now() < deadline, "the node never logged {message:?} with {field:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn test_tenant(slug: &str) -> TestTenant {
    TestTenant {
        id: uuid::Uuid::new_v4().to_string(),
        slug: slug.to_owned(),
        key: format!("confer_test_{}", uuid::Uuid::new_v4().simple()),
    }
}

async fn redis() -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(redis_url()).expect("a Redis URL");
    client.get_multiplexed_async_connection().await.expect("the test Redis")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_name_gets_its_certificate_by_sni_and_a_renewal_is_served_once_announced() {
    let slug = unique_slug("tls");
    let tenant = test_tenant(&slug);
    let platform_name = format!("{slug}.confer.test");
    let ca = TestCa::new();
    let operator = ca.leaf(&platform_name);
    let first = ca.leaf("meet.example.test");
    let api =
        FakeApi::start(&tenant.key, TenantCertificates { items: vec![first.served_for("meet.example.test")] }).await;
    let files = OperatorFiles::write(&operator);
    let log = LogLines::default();
    let (chain, key) = (files.path("chain.pem"), files.path("key.pem"));
    let (_node, tls) = MediaNode::start_with_tls(
        &api.url,
        &tenant,
        &[
            ("CONFER_BASE_DOMAIN", "confer.test"),
            ("CONFER_TLS_CERT", &chain),
            ("CONFER_TLS_KEY", &key),
            // Only the announcement can bring the renewal in time.
            ("CONFER_CERTIFICATES_POLL_SECONDS", "600"),
        ],
        log.clone(),
    );
    wait_for_log(&log, "certificates loaded", Some(("serials", &first.serial))).await;
    let client = ca.client(true);

    let custom = handshake(&client, &tls, "meet.example.test").await.expect("the custom domain's handshake");
    assert_eq!(custom.serial, first.serial, "the custom domain's own certificate");
    assert_eq!(custom.alpn.as_deref(), Some(&b"http/1.1"[..]), "HTTP/1.1 by ALPN");
    let platform = handshake(&client, &tls, &platform_name).await.expect("the platform name's handshake");
    assert_eq!(platform.serial, operator.serial, "the operator's certificate for the platform name");
    let without_sni = handshake(&ca.client(false), &tls, &platform_name).await.expect("a handshake without SNI");
    assert_eq!(without_sni.serial, operator.serial, "the platform's certificate without SNI");
    assert!(handshake(&client, &tls, "other.example.test").await.is_err(), "a name the tenant does not serve");

    // The same site over TLS.
    let mut stream = connect(&client, &tls, "meet.example.test").await.expect("a TLS connection");
    let request = "GET /healthz HTTP/1.1\r\nhost: meet.example.test\r\nconnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).await.expect("the request is sent");
    let mut response = Vec::new();
    // The node may close without a close_notify once it has answered.
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "GET /healthz over TLS: {response}");
    assert!(response.ends_with("\r\n\r\nok"), "GET /healthz over TLS: {response}");

    // Renewal: the api now lists a new certificate, and the worker announces it.
    wait_for_log(&log, "following announcements", Some(("what", "certificates"))).await;
    // The node reads once at start and once more when it has subscribed; any read
    // after those is the announcement's doing.
    let deadline = Instant::now() + Duration::from_secs(15);
    while api.certificate_reads() < 2 {
        assert!(Instant::now() < deadline, "the node did not read its certificates after subscribing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let renewed = ca.leaf("meet.example.test");
    api.serve(vec![renewed.served_for("meet.example.test")]);
    let _: i64 = redis::cmd("PUBLISH")
        .arg(certificates_channel(&slug))
        .arg("meet.example.test")
        .query_async(&mut redis().await)
        .await
        .expect("the announcement is published");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = handshake(&client, &tls, "meet.example.test").await.expect("the custom domain's handshake");
        if now.serial == renewed.serial {
            break;
        }
        assert_eq!(now.serial, first.serial, "only the first or the renewed certificate is ever served");
        assert!(Instant::now() < deadline, "the renewed certificate was never served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let platform = handshake(&client, &tls, &platform_name).await.expect("the platform name's handshake");
    assert_eq!(platform.serial, operator.serial, "the platform name keeps the operator's certificate");
}

/// A request sent as written (no client normalizing `..` or `//` away); the status.
async fn raw_status(addr: &str, path: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).await.expect("the node's HTTP listener");
    let request = format!("GET {path} HTTP/1.1\r\nhost: meet.example.test\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("the request is sent");
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let response = String::from_utf8_lossy(&response);
    response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status: {response}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_http01_challenges_are_answered_from_redis_on_plain_http() {
    let slug = unique_slug("acme");
    let tenant = test_tenant(&slug);
    let api = FakeApi::start(&tenant.key, TenantCertificates { items: vec![] }).await;
    let node = MediaNode::start(&api.url, &tenant, &[]);
    let token = format!("tok_{}-{}", uuid::Uuid::new_v4().simple(), slug.replace('-', "_"));
    let key_authorization = format!("{token}.thumbprint-{}", uuid::Uuid::new_v4().simple());
    let mut redis = redis().await;
    let () = redis::cmd("SET")
        .arg(acme_http01_key(&token))
        .arg(&key_authorization)
        .arg("EX")
        .arg(300)
        .query_async(&mut redis)
        .await
        .expect("the challenge is left in Redis");

    let http = reqwest::Client::new();
    let answer = http.get(node.url(&format!("/.well-known/acme-challenge/{token}"))).send().await.expect("an answer");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "text/plain");
    assert_eq!(answer.text().await.expect("a body"), key_authorization, "the key authorization, exactly");

    let unknown = format!("tok_{}", uuid::Uuid::new_v4().simple());
    let answer = http.get(node.url(&format!("/.well-known/acme-challenge/{unknown}"))).send().await.expect("an answer");
    assert_eq!(answer.status(), 404, "an unknown token");

    for path in [
        "/.well-known/acme-challenge/..".to_owned(),
        format!("/.well-known/acme-challenge/x/../{token}"),
        format!("/.well-known/acme-challenge/{token}/.."),
        format!("/.well-known/acme-challenge/..%2F{token}"),
        format!("/.well-known/acme-challenge/{token}%2F.."),
        format!("/.well-known/acme-challenge/a/{token}"),
        format!("/.well-known/acme-challenge/{token}.x"),
    ] {
        assert_eq!(raw_status(&node.addr, &path).await, 404, "GET {path}");
    }
    let _: i64 = redis::cmd("DEL").arg(acme_http01_key(&token)).query_async(&mut redis).await.expect("cleanup");
}

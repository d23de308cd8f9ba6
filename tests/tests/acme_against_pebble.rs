//! The worker's ACME client against a real Pebble (tests/src/pebble.rs): certificates
//! are issued over HTTP-01 for names that resolve (through Pebble's challtestsrv) to
//! 127.0.0.1, where each test runs a tiny responder serving the answers the client
//! posts on an in-memory board. Pebble refuses 5% of good nonces on purpose, so every
//! order here also proves the client copes with `badNonce`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use confer_tests::pebble::{Pebble, PebbleOptions};
use confer_worker::certificates::{
    AcmeClient, AcmeError, AcmeSettings, ChallengeBoard, IssuedCertificate, RedisChallengeBoard,
};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use x509_parser::prelude::{FromDer, X509Certificate};

const NAME: &str = "meet.example.test";

/// Answers posted by the client, as a media node would find them in Redis.
#[derive(Clone, Default)]
struct MemoryBoard(Arc<Mutex<HashMap<String, String>>>);

impl MemoryBoard {
    fn answers(&self) -> HashMap<String, String> {
        self.0.lock().unwrap().clone()
    }
}

impl ChallengeBoard for MemoryBoard {
    async fn post(&self, token: &str, key_authorization: &str) -> Result<(), AcmeError> {
        self.0.lock().unwrap().insert(token.to_owned(), key_authorization.to_owned());
        Ok(())
    }

    async fn take_down(&self, token: &str) -> Result<(), AcmeError> {
        self.0.lock().unwrap().remove(token);
        Ok(())
    }
}

/// A minimal HTTP/1.1 server on 127.0.0.1 answering
/// `GET /.well-known/acme-challenge/<token>` from a board, except for the hosts it
/// was told to refuse (404, as a node that does not know the name). Stops when dropped.
struct Responder {
    port: u16,
    /// Every `(host, path)` asked for.
    requests: Arc<Mutex<Vec<(String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Responder {
    async fn start(board: MemoryBoard, refused_hosts: &[&str]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let refused: Arc<HashSet<String>> = Arc::new(refused_hosts.iter().map(|h| h.to_string()).collect());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (board, refused, seen) = (board.clone(), refused.clone(), seen.clone());
                tokio::spawn(async move {
                    let Some((host, path)) = read_request_head(&mut stream).await else { return };
                    seen.lock().unwrap().push((host.clone(), path.clone()));
                    let answer = path
                        .strip_prefix("/.well-known/acme-challenge/")
                        .filter(|_| !refused.contains(&host))
                        .and_then(|token| board.answers().get(token).cloned());
                    let response = match answer {
                        Some(body) => format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        ),
                        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
                    };
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self { port, requests, task }
    }

    fn requests(&self) -> Vec<(String, String)> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The Host (without port) and path of a request, once its head has arrived.
async fn read_request_head(stream: &mut tokio::net::TcpStream) -> Option<(String, String)> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.ok()?.ok()?;
        if n == 0 || head.len() > 16 * 1024 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.lines();
    let path = lines.next()?.split_whitespace().nth(1)?.to_owned();
    let host = lines
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("host")).map(|(_, v)| v.trim()))
        .unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(name, _)| name).to_ascii_lowercase();
    Some((host, path))
}

/// A Pebble validating on the responder's port, and a client trusting its API.
struct Setup {
    pebble: Pebble,
    responder: Responder,
    board: MemoryBoard,
    client: AcmeClient,
}

async fn setup(refused_hosts: &[&str], validity: Option<Duration>) -> Setup {
    let board = MemoryBoard::default();
    let responder = Responder::start(board.clone(), refused_hosts).await;
    let options = PebbleOptions { validity, ..PebbleOptions::answering_on(responder.port) };
    let pebble = Pebble::start(options).await.expect("pebble starts");
    let client = AcmeClient::new(AcmeSettings {
        directory_url: pebble.directory_url(),
        root_pem: Some(pebble.api_root_pem_path()),
        contact: Some("certificates@example.test".into()),
    })
    .with_poll_timeout(Duration::from_secs(30));
    Setup { pebble, responder, board, client }
}

fn chain_of(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<_, _>>().expect("PEM certificates")
}

/// Verifies `chain_pem` for `name` as a TLS client trusting only `roots_pem` would.
fn verify_for(name: &str, chain_pem: &str, roots_pem: &str) -> Result<(), rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    for root in chain_of(roots_pem) {
        roots.add(root).expect("a usable root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build().expect("a verifier");
    let chain = chain_of(chain_pem);
    let server_name = ServerName::try_from(name.to_owned()).expect("a DNS name");
    verifier.verify_server_cert(&chain[0], &chain[1..], &server_name, &[], UnixTime::now()).map(|_| ())
}

fn leaf_of(certificate: &IssuedCertificate) -> CertificateDer<'static> {
    chain_of(certificate.chain_pem()).remove(0)
}

#[tokio::test]
async fn a_certificate_is_issued_that_verifies_for_the_name_against_pebbles_root() {
    let Setup { pebble, responder, board, client } = setup(&[], None).await;
    let (account, credentials) = client.account(None).await.expect("an account");
    assert!(credentials.is_some(), "a new account comes with credentials to save");
    let mut order_url = None;
    let certificate = client
        .order_reporting(&account, NAME, &board, |url| order_url = Some(url.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("issued: {e}\n{}", pebble.log()));

    assert!(order_url.is_some_and(|url| url.starts_with("https://127.0.0.1:")), "the order URL was reported");
    assert_eq!(certificate.hostname(), NAME);
    assert!(
        responder
            .requests()
            .iter()
            .any(|(host, path)| host == NAME && path.starts_with("/.well-known/acme-challenge/")),
        "Pebble fetched the answer from the responder: {:?}",
        responder.requests()
    );

    let roots = pebble.issuing_roots_pem().await.expect("Pebble's issuing root");
    verify_for(NAME, certificate.chain_pem(), &roots).expect("the chain verifies for the name");
    assert!(verify_for("other.example.test", certificate.chain_pem(), &roots).is_err(), "not for another name");
    assert!(
        verify_for(NAME, certificate.chain_pem(), pebble.api_root_pem()).is_err(),
        "the API's root is not the issuing root"
    );

    let leaf_der = leaf_of(&certificate);
    let (_, leaf) = X509Certificate::from_der(leaf_der.as_ref()).expect("an X.509 leaf");
    let serial = x509_parser::num_bigint::BigUint::parse_bytes(certificate.serial().as_bytes(), 16).expect("hex");
    assert_eq!(serial, leaf.serial, "serial {}", certificate.serial());
    assert!(certificate.serial().bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(certificate.issuer(), leaf.issuer().to_string());
    assert!(certificate.issuer().contains("Pebble Intermediate CA"), "{}", certificate.issuer());
    assert_eq!(certificate.not_before().timestamp(), leaf.validity().not_before.timestamp());
    assert_eq!(certificate.not_after().timestamp(), leaf.validity().not_after.timestamp());

    let key = PrivateKeyDer::from_pem_slice(certificate.private_key_pem().as_bytes()).expect("a PEM key");
    assert!(matches!(key, PrivateKeyDer::Pkcs8(_)), "the key is PKCS#8");
    let provider = rustls::crypto::ring::default_provider();
    let signing_key = provider.key_provider.load_private_key(key).expect("a usable key");
    let certified = rustls::sign::CertifiedKey::new(chain_of(certificate.chain_pem()), signing_key);
    certified.keys_match().expect("the key is the leaf's");
    assert!(!format!("{certificate:?}").contains("PRIVATE KEY"));

    assert!(board.answers().is_empty(), "answers taken down: {:?}", board.answers());
}

#[tokio::test]
async fn saved_credentials_serve_the_next_order_without_a_new_account() {
    let Setup { pebble, board, client, responder: _responder } = setup(&[], None).await;
    let (first, credentials) = client.account(None).await.expect("an account");
    let credentials = credentials.expect("credentials to save");
    client.order(&first, NAME, &board).await.unwrap_or_else(|e| panic!("first order: {e}\n{}", pebble.log()));

    let (again, nothing_to_save) = client.account(Some(&credentials)).await.expect("the saved account");
    assert!(nothing_to_save.is_none(), "no new account, so nothing new to save");
    assert_eq!(again.id(), first.id());
    let second =
        client.order(&again, NAME, &board).await.unwrap_or_else(|e| panic!("second order: {e}\n{}", pebble.log()));
    assert_eq!(second.hostname(), NAME);
    assert!(board.answers().is_empty());

    let other_ca = AcmeClient::new(AcmeSettings {
        directory_url: "https://acme.invalid/directory".into(),
        ..client.settings().clone()
    });
    let Err(refused) = other_ca.account(Some(&credentials)).await else { panic!("credentials of another CA") };
    assert!(matches!(refused, AcmeError::Credentials(_)), "{refused}");
    let Err(garbled) = client.account(Some("{\"id\": 1")).await else { panic!("not JSON accepted") };
    assert!(matches!(garbled, AcmeError::Credentials(_)), "{garbled}");
    assert!(!garbled.is_transient());
}

#[tokio::test]
async fn a_challenge_nobody_answers_fails_with_the_cas_detail() {
    const UNANSWERED: &str = "unanswered.example.test";
    let Setup { pebble, responder, board, client } = setup(&[UNANSWERED], None).await;
    let (account, _) = client.account(None).await.expect("an account");

    let failure = client.order(&account, UNANSWERED, &board).await.expect_err("the CA cannot validate");
    eprintln!("the order failed as expected: {failure}");
    match &failure {
        AcmeError::ChallengeInvalid { hostname, problem_type, detail } => {
            assert_eq!(hostname, UNANSWERED);
            assert_eq!(problem_type.as_deref(), Some("urn:ietf:params:acme:error:unauthorized"), "{failure}");
            assert!(detail.contains("404"), "Pebble says what it got: {detail}");
        }
        other => panic!("expected ChallengeInvalid, got {other:?}\n{}", pebble.log()),
    }
    assert!(failure.to_string().contains(UNANSWERED), "{failure}");
    assert!(!failure.is_transient(), "a refused answer needs the site fixed first");
    assert!(responder.requests().iter().any(|(host, _)| host == UNANSWERED), "Pebble did ask");
    assert!(board.answers().is_empty(), "answers taken down after the failure: {:?}", board.answers());
}

#[tokio::test]
async fn a_short_validity_makes_renewal_due_two_thirds_in() {
    let Setup { pebble, board, client, responder: _responder } = setup(&[], Some(Duration::from_secs(60))).await;
    let (account, _) = client.account(None).await.expect("an account");
    let certificate =
        client.order(&account, NAME, &board).await.unwrap_or_else(|e| panic!("issued: {e}\n{}", pebble.log()));

    eprintln!("issued: {certificate:?}, renew at {}", certificate.renew_at());
    let lifetime = (certificate.not_after() - certificate.not_before()).num_seconds();
    assert!((58..=61).contains(&lifetime), "lifetime {lifetime} s");
    let renew_in = (certificate.renew_at() - certificate.not_before()).num_seconds();
    assert!((38..=41).contains(&renew_in), "renewal {renew_in} s after not_before");
}

#[tokio::test]
async fn the_redis_board_keeps_an_answer_for_fifteen_minutes_at_most() {
    let redis = redis::Client::open(confer_tests::redis_url()).expect("a Redis URL");
    let mut connection = redis.get_connection_manager().await.expect("Redis answers");
    let board = RedisChallengeBoard::new(connection.clone());
    let token = format!("test-{}", uuid::Uuid::new_v4().simple());
    let key = confer_vocabulary::acme_http01_key(&token);

    board.post(&token, "token.thumbprint").await.expect("posted");
    let value: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut connection).await.unwrap();
    assert_eq!(value.as_deref(), Some("token.thumbprint"));
    let ttl: i64 = redis::cmd("TTL").arg(&key).query_async(&mut connection).await.unwrap();
    assert!((1..=900).contains(&ttl), "TTL {ttl}");

    board.take_down(&token).await.expect("taken down");
    let exists: i64 = redis::cmd("EXISTS").arg(&key).query_async(&mut connection).await.unwrap();
    assert_eq!(exists, 0);
    board.take_down(&token).await.expect("taking down what is gone is fine");
}

//! A whole platform for custom domains, for one test or one benchmark run: the api,
//! a tenant, its media node serving HTTPS (with an operator's certificate for the
//! platform name), Pebble with pebble-challtestsrv as the DNS server, a RabbitMQ
//! vhost, and `confer-worker` started on demand with everything wired.

use crate::media_node::MediaNode;
use crate::pebble::{Pebble, PebbleOptions};
use crate::rabbitmq::TestVhost;
use crate::tls_probe::presented;
use crate::{Killed, LogLines, TestPlatform, TestTenant, binary, redis_url, unique_slug};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The platform's base domain in these runs.
pub const BASE_DOMAIN: &str = "confer.test";

/// Everything a custom domain needs.
pub struct DomainRig {
    pub platform: TestPlatform,
    pub tenant: TestTenant,
    _node: MediaNode,
    /// The node's HTTPS address.
    pub tls_addr: String,
    pub pebble: Pebble,
    pub vhost: TestVhost,
    dir: PathBuf,
    worker_env: Vec<(String, String)>,
    /// The operator's certificate for the platform name, and its CA.
    pub operator_ca_pem: String,
}

impl DomainRig {
    /// Starts it all but the worker; Pebble's options are made from the node's HTTP port.
    pub async fn start(options: impl FnOnce(u16) -> PebbleOptions, worker_extra: &[(&str, &str)]) -> Self {
        let platform = TestPlatform::start_with(&[("CONFER_BASE_DOMAIN", BASE_DOMAIN)]).await;
        let tenant = platform.signup(&unique_slug("dom")).await;
        let dir = std::env::temp_dir().join(format!("confer-domains-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let platform_name = format!("{}.{BASE_DOMAIN}", tenant.slug);
        let (operator_ca_pem, cert_pem, key_pem) = operator_certificate(&platform_name);
        std::fs::write(dir.join("operator.pem"), cert_pem).expect("write the operator's certificate");
        std::fs::write(dir.join("operator.key"), key_pem).expect("write the operator's key");
        let cert_path = dir.join("operator.pem").display().to_string();
        let key_path = dir.join("operator.key").display().to_string();
        let (node, tls_addr) = MediaNode::start_with_tls(
            &platform.base_url,
            &tenant,
            &[
                ("CONFER_BASE_DOMAIN", BASE_DOMAIN),
                ("CONFER_TLS_CERT", &cert_path),
                ("CONFER_TLS_KEY", &key_path),
                // New certificates arrive by the worker's announcement on Redis.
                ("CONFER_CERTIFICATES_POLL_SECONDS", "600"),
            ],
            LogLines::default(),
        );
        let http_port: u16 = node.addr.rsplit(':').next().and_then(|p| p.parse().ok()).expect("the node's port");
        // Pebble's validator fetches http://<domain>:<port>/.well-known/…: the node's
        // plain-HTTP port (challtestsrv answers 127.0.0.1 for every name).
        let pebble = Pebble::start(options(http_port)).await.expect("Pebble starts");
        let vhost = TestVhost::create();
        let mut worker_env: Vec<(String, String)> = [
            ("DATABASE_URL", platform.db.url.clone()),
            ("CONFER_AMQP_URL", vhost.amqp_url()),
            ("CONFER_MASTER_KEY", platform.master_key().to_owned()),
            ("CONFER_REDIS_URL", redis_url()),
            ("CONFER_DNS_RESOLVER", pebble.dns_server().to_string()),
            ("CONFER_DNS_RETRIES", "20".to_owned()),
            ("CONFER_DNS_RETRY_BASE_MS", "250".to_owned()),
            ("CONFER_ACME_DIRECTORY_URL", pebble.directory_url()),
            ("CONFER_ACME_ROOT", pebble.api_root_pem_path().display().to_string()),
            ("CONFER_ACME_RETRIES", "4".to_owned()),
            ("CONFER_ACME_RETRY_BASE_MS", "500".to_owned()),
            ("CONFER_RENEWAL_SCAN_SECONDS", "1".to_owned()),
            ("CONFER_OUTBOX_IDLE_MS", "50".to_owned()),
            ("CONFER_LOG_FORMAT", "json".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        worker_env.extend(worker_extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Self { platform, tenant, _node: node, tls_addr, pebble, vhost, dir, worker_env, operator_ca_pem }
    }

    /// Starts a worker (killed when dropped).
    pub fn worker(&self) -> Killed {
        let child = Command::new(binary("confer-worker"))
            .envs(self.worker_env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start confer-worker");
        Killed(child)
    }

    pub fn platform_name(&self) -> String {
        format!("{}.{BASE_DOMAIN}", self.tenant.slug)
    }

    pub fn hostname(&self, label: &str) -> String {
        format!("{label}.{}.example", self.tenant.slug)
    }

    pub async fn add_domain(&self, hostname: &str) -> Value {
        let (status, body) =
            self.platform.send(&self.tenant, Method::POST, "/v1/domains", Some(json!({"hostname": hostname}))).await;
        assert_eq!(status, 202, "{body}");
        body
    }

    pub async fn domain(&self, id: &str) -> Value {
        let (status, body) = self.platform.get(&self.tenant, &format!("/v1/domains/{id}")).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Waits until the domain satisfies `done`, and returns it.
    pub async fn domain_until(&self, id: &str, what: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let domain = self.domain(id).await;
            if done(&domain) {
                return domain;
            }
            assert!(Instant::now() < deadline, "{what} did not happen within {within:?}; the domain: {domain:#}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn tls_addr(&self) -> String {
        self.tls_addr.clone()
    }

    /// The serial the node presents for `hostname`, verified against Pebble's roots.
    pub async fn served_serial(&self, hostname: &str) -> Result<String, String> {
        let roots = self.pebble.issuing_roots_pem().await.expect("Pebble's roots");
        let addr = self.tls_addr();
        let hostname = hostname.to_owned();
        tokio::task::spawn_blocking(move || presented(&addr, &hostname, &roots).map(|p| p.serial))
            .await
            .expect("the probe ran")
    }

    pub async fn events_of(&self, id: &str, event_type: &str) -> i64 {
        self.platform
            .scalar(&format!(
                "SELECT count(*) FROM events WHERE stream_id = 'domain-{id}' AND event_type = '{event_type}'"
            ))
            .await
    }
}

impl Drop for DomainRig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A CA and a leaf for `name` made here, standing for the operator's own.
fn operator_certificate(name: &str) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().expect("a CA key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "Operator test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("the CA");
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().expect("a key");
    let leaf = rcgen::CertificateParams::new(vec![name.to_owned()]).expect("leaf params");
    let leaf = leaf.signed_by(&key, &issuer).expect("the leaf");
    (ca_cert.pem(), leaf.pem(), key.serialize_pem())
}

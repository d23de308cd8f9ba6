//! A private Pebble (Let's Encrypt's test ACME CA) per test, with its own
//! `pebble-challtestsrv` as the DNS server it resolves names through.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use confer_tests::pebble::{Pebble, PebbleOptions};
//! // Pebble's validator fetches http://<name>:<http_port>/.well-known/acme-challenge/…
//! let pebble = Pebble::start(PebbleOptions::answering_on(5002)).await?;
//! let directory = pebble.directory_url(); // https://127.0.0.1:<port>/dir
//! let trust_for_the_api = pebble.api_root_pem_path(); // for Account::builder_with_root
//! let trust_for_issued_chains = pebble.issuing_roots_pem().await?;
//! pebble.set_txt("_acme-challenge.meet.example.test", "value").await?;
//! # Ok(())
//! # }
//! ```
//!
//! [`Pebble::start`] makes a temporary directory (mode 0700) and in it a throwaway CA
//! and a leaf for `localhost` and `127.0.0.1` (P-256, made with rcgen) that Pebble's
//! own HTTPS API (ACME and management) presents, and `pebble.json`. It then runs, in
//! that directory as their working directory, with their output in `challtestsrv.log`
//! and `pebble.log`:
//!
//! - `pebble-challtestsrv` with only its DNS server (UDP and TCP on one port) and its
//!   management API; its own HTTP-01, HTTPS and TLS-ALPN-01 responders are off, so the
//!   test (or a media node) answers challenges. Every name resolves to 127.0.0.1 (A)
//!   and to nothing (AAAA) unless the test says otherwise through the management API.
//! - `pebble -config pebble.json -dnsserver 127.0.0.1:<dns>`, validating HTTP-01 on
//!   127.0.0.1:[`PebbleOptions::http_port`], with `PEBBLE_VA_NOSLEEP=1` (or
//!   `PEBBLE_VA_SLEEPTIME`, see [`PebbleOptions::va_sleep`]). Pebble's default
//!   rejection of 5% of good nonces (`badNonce`) stays on: clients must cope.
//!
//! All ports but the HTTP-01 one are loopback ports the OS picked a moment before; if
//! another process takes one in between, a server exits and the start is retried on
//! new ports. The start waits until Pebble serves its directory and challtestsrv its
//! management API. Dropping the [`Pebble`] kills both and removes the directory, so
//! tests run in parallel and twice in a row. A test process that dies without
//! unwinding leaves its servers behind: the next start finds directories whose owning
//! test process is gone and kills the servers still working in them.
//!
//! Pebble makes a new issuing root and intermediate at every start, so trust
//! [`Pebble::issuing_roots_pem`] of this very instance. Needs `/usr/bin/pebble` and
//! `pebble-challtestsrv` (Debian package `pebble`; `infra/pebble.sh` installs it and is
//! run when they are missing).

use crate::Killed;
use anyhow::{Context, anyhow, bail};
use serde_json::json;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How Pebble validates and issues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PebbleOptions {
    /// The port Pebble's validator connects to for HTTP-01, on the address the name
    /// resolves to (127.0.0.1 by default): where a media node or the test answers.
    pub http_port: u16,
    /// Lifetime of issued certificates (Pebble's `certificateValidityPeriod`, whole
    /// seconds); `None`: Pebble's default (about five years in 2.4).
    pub validity: Option<Duration>,
    /// `Some(n)`: before validating, Pebble sleeps a random 0 to `n` seconds
    /// (`PEBBLE_VA_SLEEPTIME`), so a test can act while an order is pending. `None`:
    /// it validates at once (`PEBBLE_VA_NOSLEEP=1`).
    pub va_sleep: Option<u32>,
}

impl PebbleOptions {
    /// Validation on 127.0.0.1:`http_port`, at once; Pebble's default validity.
    pub fn answering_on(http_port: u16) -> Self {
        Self { http_port, validity: None, va_sleep: None }
    }
}

/// A running Pebble and its DNS server (see the module documentation).
pub struct Pebble {
    options: PebbleOptions,
    dir: PathBuf,
    /// Pebble's ACME API.
    listen: SocketAddr,
    /// Pebble's management API (issuing roots and intermediates).
    management: SocketAddr,
    /// challtestsrv's DNS server (UDP and TCP).
    dns: SocketAddr,
    /// challtestsrv's management API (plain HTTP).
    dns_management: SocketAddr,
    api_root_pem: String,
    /// Trusts only the API root.
    https: reqwest::Client,
    http: reqwest::Client,
    pebble: Option<Killed>,
    challtestsrv: Option<Killed>,
}

const DIR_PREFIX: &str = "confer-pebble-";
const START_ATTEMPTS: usize = 5;
const START_WAIT: Duration = Duration::from_secs(30);
const PEBBLE: &str = "pebble";
const CHALLTESTSRV: &str = "pebble-challtestsrv";

impl Pebble {
    /// Starts a fresh Pebble and challtestsrv (see the module documentation).
    pub async fn start(options: PebbleOptions) -> anyhow::Result<Self> {
        ensure_installed()?;
        reap_orphans();
        let dir =
            std::env::temp_dir().join(format!("{DIR_PREFIX}{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir).with_context(|| format!("create {}", dir.display()))?;
        set_private(&dir)?;
        let api_root_pem = write_api_certificates(&dir)?;
        let trusted =
            reqwest::Certificate::from_pem(api_root_pem.as_bytes()).context("the API root as reqwest sees it")?;
        let https = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(trusted)
            .timeout(Duration::from_secs(10))
            .build()
            .context("an HTTPS client trusting the API root")?;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().context("an HTTP client")?;
        let unbound = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut pebble = Self {
            options,
            dir,
            listen: unbound,
            management: unbound,
            dns: unbound,
            dns_management: unbound,
            api_root_pem,
            https,
            http,
            pebble: None,
            challtestsrv: None,
        };
        let mut last_failure = String::new();
        for _ in 0..START_ATTEMPTS {
            match pebble.launch().await {
                Ok(()) => return Ok(pebble),
                Err(failure) => last_failure = format!("{failure:#}"),
            }
        }
        bail!("pebble did not start in {START_ATTEMPTS} attempts; the last time: {last_failure}")
    }

    /// `https://127.0.0.1:<port>/dir`: the ACME directory.
    pub fn directory_url(&self) -> String {
        format!("https://{}/dir", self.listen)
    }

    /// PEM of the throwaway CA that signed the certificate of Pebble's HTTPS API: what
    /// an ACME client talking to it must trust (and only that).
    pub fn api_root_pem(&self) -> &str {
        &self.api_root_pem
    }

    /// The file holding [`Pebble::api_root_pem`] (for `Account::builder_with_root`).
    pub fn api_root_pem_path(&self) -> PathBuf {
        self.dir.join("api-root.pem")
    }

    /// PEM of the root that issued certificates chain to (`/roots/0` of the management
    /// API): what a TLS client must trust to verify a certificate this Pebble issued.
    pub async fn issuing_roots_pem(&self) -> anyhow::Result<String> {
        self.management_get("/roots/0").await
    }

    /// PEM of the intermediate that signs the leaves (`/intermediates/0`); the chain
    /// an order returns already holds it.
    pub async fn issuing_intermediates_pem(&self) -> anyhow::Result<String> {
        self.management_get("/intermediates/0").await
    }

    /// Where challtestsrv answers DNS (UDP and TCP): the resolver Pebble uses, and one
    /// a test's DNS checks can ask.
    pub fn dns_server(&self) -> SocketAddr {
        self.dns
    }

    /// The options it was started with.
    pub fn options(&self) -> &PebbleOptions {
        &self.options
    }

    /// Makes `host` a CNAME of `target`.
    pub async fn set_cname(&self, host: &str, target: &str) -> anyhow::Result<()> {
        self.dns_command("/set-cname", json!({"host": fqdn(host), "target": fqdn(target)})).await
    }

    /// Removes the CNAME of `host`.
    pub async fn clear_cname(&self, host: &str) -> anyhow::Result<()> {
        self.dns_command("/clear-cname", json!({"host": fqdn(host)})).await
    }

    /// Makes `host` answer a TXT record `value` (e.g. `_acme-challenge.<name>`, or a
    /// domain-ownership token).
    pub async fn set_txt(&self, host: &str, value: &str) -> anyhow::Result<()> {
        self.dns_command("/set-txt", json!({"host": fqdn(host), "value": value})).await
    }

    /// Removes the TXT records of `host`.
    pub async fn clear_txt(&self, host: &str) -> anyhow::Result<()> {
        self.dns_command("/clear-txt", json!({"host": fqdn(host)})).await
    }

    /// Makes `host` resolve to these IPv4 addresses instead of 127.0.0.1.
    pub async fn add_a(&self, host: &str, addresses: &[std::net::Ipv4Addr]) -> anyhow::Result<()> {
        let addresses: Vec<String> = addresses.iter().map(ToString::to_string).collect();
        self.dns_command("/add-a", json!({"host": fqdn(host), "addresses": addresses})).await
    }

    /// Makes `host` resolve to 127.0.0.1 again.
    pub async fn clear_a(&self, host: &str) -> anyhow::Result<()> {
        self.dns_command("/clear-a", json!({"host": fqdn(host)})).await
    }

    /// Pebble's and challtestsrv's output so far.
    pub fn log(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        format!("--- pebble.log\n{}--- challtestsrv.log\n{}", read("pebble.log"), read("challtestsrv.log"))
    }

    /// The temporary directory (certificates, config, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    async fn management_get(&self, path: &str) -> anyhow::Result<String> {
        let url = format!("https://{}{path}", self.management);
        let response = self.https.get(&url).send().await.with_context(|| format!("GET {url}"))?;
        let status = response.status();
        let body = response.text().await.with_context(|| format!("read GET {url}"))?;
        if !status.is_success() {
            bail!("GET {url}: {status}: {body}");
        }
        Ok(body)
    }

    async fn dns_command(&self, path: &str, body: serde_json::Value) -> anyhow::Result<()> {
        let url = format!("http://{}{path}", self.dns_management);
        let response = self.http.post(&url).json(&body).send().await.with_context(|| format!("POST {url}"))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            bail!("POST {url} {body}: {status}: {text}");
        }
        Ok(())
    }

    /// Starts both servers on fresh ports and waits until they answer; on failure,
    /// kills what started and says why (with the logs).
    async fn launch(&mut self) -> anyhow::Result<()> {
        self.stop();
        let ports = FreePorts::pick()?;
        self.listen = loopback(ports.listen);
        self.management = loopback(ports.management);
        self.dns = loopback(ports.dns);
        self.dns_management = loopback(ports.dns_management);
        self.write_config(ports.tls)?;
        drop(ports);

        let challtestsrv = self.spawn(
            CHALLTESTSRV,
            Command::new(CHALLTESTSRV)
                .args(["-management", &self.dns_management.to_string(), "-dns01", &self.dns.to_string()])
                .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
                .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""]),
            "challtestsrv",
        )?;
        self.challtestsrv = Some(challtestsrv);
        let mut command = Command::new(PEBBLE);
        command.args(["-config", "pebble.json", "-dnsserver", &self.dns.to_string()]);
        match self.options.va_sleep {
            Some(seconds) => command.env("PEBBLE_VA_SLEEPTIME", seconds.to_string()).env_remove("PEBBLE_VA_NOSLEEP"),
            None => command.env("PEBBLE_VA_NOSLEEP", "1").env_remove("PEBBLE_VA_SLEEPTIME"),
        };
        // Pebble's defaults, whatever the environment of the test run says.
        command.env_remove("PEBBLE_WFE_NONCEREJECT").env_remove("PEBBLE_VA_ALWAYS_VALID");
        self.pebble = Some(self.spawn(PEBBLE, &mut command, "pebble")?);

        let deadline = Instant::now() + START_WAIT;
        loop {
            if let Some(exited) = self.exited() {
                let log = self.log();
                self.stop();
                bail!("{exited}:\n{log}");
            }
            if self.answers().await {
                return Ok(());
            }
            if Instant::now() > deadline {
                let log = self.log();
                self.stop();
                bail!("pebble did not answer within {START_WAIT:?}:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Which server exited, and how, if one did.
    fn exited(&mut self) -> Option<String> {
        for (name, server) in [(CHALLTESTSRV, &mut self.challtestsrv), (PEBBLE, &mut self.pebble)] {
            if let Some(Killed(child)) = server
                && let Ok(Some(status)) = child.try_wait()
            {
                return Some(format!("{name} exited ({status})"));
            }
        }
        None
    }

    /// Whether Pebble serves its directory and challtestsrv its management API.
    async fn answers(&self) -> bool {
        let directory = self.https.get(self.directory_url()).send().await;
        if !directory.is_ok_and(|r| r.status().is_success()) {
            return false;
        }
        self.clear_txt("confer-pebble-ready.test").await.is_ok()
    }

    fn spawn(&self, program: &str, command: &mut Command, log: &str) -> anyhow::Result<Killed> {
        let out = std::fs::File::create(self.dir.join(format!("{log}.log"))).context("create a log file")?;
        let err = out.try_clone().context("share the log file")?;
        let child = command
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("start {program}"))?;
        std::fs::write(self.dir.join(format!("{log}.pid")), child.id().to_string()).context("write a pid file")?;
        Ok(Killed(child))
    }

    fn write_config(&self, tls_port: u16) -> anyhow::Result<()> {
        let mut pebble = json!({
            "listenAddress": self.listen.to_string(),
            "managementListenAddress": self.management.to_string(),
            "certificate": "api.pem",
            "privateKey": "api.key",
            "httpPort": self.options.http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        });
        if let Some(validity) = self.options.validity {
            pebble["certificateValidityPeriod"] = json!(validity.as_secs());
        }
        let config = serde_json::to_string_pretty(&json!({ "pebble": pebble }))?;
        std::fs::write(self.dir.join("pebble.json"), config).context("write pebble.json")
    }

    fn stop(&mut self) {
        // `Killed` kills and reaps on drop.
        self.pebble = None;
        self.challtestsrv = None;
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Installs Pebble when it is missing (`infra/pebble.sh`), once per test process.
fn ensure_installed() -> anyhow::Result<()> {
    static INSTALLED: Mutex<bool> = Mutex::new(false);
    let mut done = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if *done {
        return Ok(());
    }
    let on_path = |program: &str| {
        std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
    };
    if !on_path(PEBBLE) || !on_path(CHALLTESTSRV) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra/pebble.sh");
        let status = Command::new("bash").arg(&script).status().context("run infra/pebble.sh")?;
        if !status.success() {
            bail!("infra/pebble.sh failed ({status}): Pebble cannot be installed");
        }
    }
    *done = true;
    Ok(())
}

/// The loopback ports of one start, held (bound) until dropped so that they differ.
struct FreePorts {
    listen: u16,
    management: u16,
    tls: u16,
    dns: u16,
    dns_management: u16,
    _held: Vec<TcpListener>,
    _dns_udp: UdpSocket,
}

impl FreePorts {
    fn pick() -> anyhow::Result<Self> {
        let mut held = Vec::new();
        let mut ports = [0u16; 4];
        for port in &mut ports {
            let listener = TcpListener::bind("127.0.0.1:0").context("bind an ephemeral port")?;
            *port = listener.local_addr()?.port();
            held.push(listener);
        }
        let [listen, management, tls, dns_management] = ports;
        // DNS needs the same port free for UDP and TCP.
        for _ in 0..20 {
            let listener = TcpListener::bind("127.0.0.1:0").context("bind an ephemeral port")?;
            let dns = listener.local_addr()?.port();
            held.push(listener);
            if let Ok(udp) = UdpSocket::bind(("127.0.0.1", dns)) {
                return Ok(Self { listen, management, tls, dns, dns_management, _held: held, _dns_udp: udp });
            }
        }
        Err(anyhow!("found no loopback port free for both UDP and TCP"))
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// `host` with the trailing dot challtestsrv wants.
fn fqdn(host: &str) -> String {
    if host.ends_with('.') { host.to_owned() } else { format!("{host}.") }
}

/// Writes `api-root.pem` (a throwaway CA), `api.pem` and `api.key` (its leaf for
/// `localhost` and `127.0.0.1`) into `dir`; returns the CA's PEM.
fn write_api_certificates(dir: &Path) -> anyhow::Result<String> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name.push(DnType::CommonName, "Confer test Pebble API CA");
    let ca_pem = ca.self_signed(&ca_key)?.pem();
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    leaf.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_pem = leaf.signed_by(&key, &issuer)?.pem();

    std::fs::write(dir.join("api-root.pem"), &ca_pem).context("write api-root.pem")?;
    std::fs::write(dir.join("api.pem"), leaf_pem).context("write api.pem")?;
    std::fs::write(dir.join("api.key"), key.serialize_pem()).context("write api.key")?;
    set_private(&dir.join("api.key"))?;
    Ok(ca_pem)
}

fn set_private(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if path.is_dir() { 0o700 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}

/// Kills the servers of test processes that died without cleaning up (a server is
/// killed only when the pid in its pid file still works in that very directory), and
/// removes their directories.
fn reap_orphans() {
    crate::orphans::reap_orphans(DIR_PREFIX, &["pebble.pid", "challtestsrv.pid"], crate::orphans::works_in);
}

//! Real browsers for the end-to-end tests: a `confer-media` node, chromedriver or
//! geckodriver, headless Chromium or Firefox with fake camera and microphone, and
//! ways to wait for what a page shows.
#![allow(dead_code)]

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use confer_tests::Killed;

/// A browser driver, in a process group of its own with the browsers it starts: the
/// whole group is killed when dropped, so a failed test leaves no browser running.
pub struct DriverGroup(Child);

impl DriverGroup {
    fn spawn(command: &mut Command) -> std::io::Result<Self> {
        command.process_group(0).spawn().map(Self)
    }
}

impl Drop for DriverGroup {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.0.id())]).status();
        let _ = self.0.wait();
    }
}

/// Starts `confer-media` on free ports; returns it and its site's address.
pub fn start_node() -> (Killed, String) {
    start_node_with_media_on("127.0.0.1:0")
}

/// Starts `confer-media` with its media socket on `udp`; returns it and its site's address.
pub fn start_node_with_media_on(udp: &str) -> (Killed, String) {
    let env = [("CONFER_MEDIA_LISTEN", "127.0.0.1:0"), ("CONFER_MEDIA_UDP", udp)];
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let (child, addr) = confer_tests::spawn_logged("confer-media", &env);
    (Killed(child), addr)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Starts chromedriver; returns it and its URL once it answers.
pub async fn start_chromedriver() -> (DriverGroup, String) {
    let port = free_port();
    let child = DriverGroup::spawn(
        Command::new("chromedriver").arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()),
    )
    .expect("chromedriver (Debian package chromium-driver) must be installed");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{url}/status")).await.is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (child, url)
}

pub async fn browser(driver: &str, profile: &std::path::Path) -> Client {
    chromium(driver, profile, &[]).await
}

/// A headless Chromium with the fake camera and microphone, and `extra` flags.
pub async fn chromium(driver: &str, profile: &std::path::Path, extra: &[String]) -> Client {
    let mut args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        "--allow-loopback-in-peer-connection",
        "--autoplay-policy=no-user-gesture-required",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.extend(extra.iter().cloned());
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), json!({ "binary": "/usr/bin/chromium", "args": args }));
    connect(driver, caps).await
}

async fn connect(driver: &str, caps: serde_json::Map<String, Value>) -> Client {
    // The drivers are plain HTTP on loopback: no TLS stack needed.
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver)
        .await
        .expect("a browser session")
}

/// Starts geckodriver (one Firefox session per geckodriver); returns it and its URL.
pub async fn start_geckodriver() -> (DriverGroup, String) {
    let port = free_port();
    let child = DriverGroup::spawn(
        Command::new(geckodriver())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .expect("geckodriver (infra/services.sh installs it with cargo install) must be installed");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{url}/status")).await.is_err() {
        assert!(Instant::now() < deadline, "geckodriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (child, url)
}

/// geckodriver on the PATH, or where `cargo install` puts it.
fn geckodriver() -> std::path::PathBuf {
    let installed = std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo/bin/geckodriver"));
    match installed {
        Some(p) if p.exists() => p,
        _ => "geckodriver".into(),
    }
}

/// A headless Firefox (Debian's firefox-esr) with fake camera and microphone and no
/// permission prompts, talking to nothing outside.
pub async fn firefox(driver: &str, profile: &std::path::Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("firefox"));
    caps.insert(
        "moz:firefoxOptions".into(),
        json!({
            "binary": "/usr/bin/firefox-esr",
            "args": ["-headless", "-profile", profile.display().to_string()],
            "prefs": {
                "media.navigator.streams.fake": true,
                "media.navigator.permission.disabled": true,
                "media.peerconnection.ice.obfuscate_host_addresses": false,
                "media.autoplay.default": 0,
                "network.dns.disableIPv6": true,
                "app.update.enabled": false,
                "browser.shell.checkDefaultBrowser": false,
                "datareporting.policy.dataSubmissionEnabled": false,
                "toolkit.telemetry.enabled": false,
                "network.captive-portal-service.enabled": false,
                "network.connectivity-service.enabled": false,
                "browser.safebrowsing.malware.enabled": false,
                "browser.safebrowsing.phishing.enabled": false,
                "extensions.update.enabled": false,
                "browser.search.update": false
            }
        }),
    );
    connect(driver, caps).await
}

/// A WAV file of a steady tone (48 kHz mono, about −13 dBov): a fake microphone
/// that is clearly talking, for `--use-file-for-fake-audio-capture`.
pub fn tone_wav(dir: &std::path::Path) -> std::path::PathBuf {
    let rate = 48_000u32;
    let samples: Vec<i16> = (0..rate * 2)
        .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin() * 0.3 * f32::from(i16::MAX)) as i16)
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        wav.extend_from_slice(&s.to_le_bytes());
    }
    let path = dir.join("tone.wav");
    std::fs::write(&path, wav).expect("the tone file is written");
    path
}

pub fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("confer-chromium-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `script` in the page until it returns true.
pub async fn wait_for(b: &Client, script: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if b.execute(script, vec![]).await.ok().and_then(|v| v.as_bool()) == Some(true) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub const IN_MEETING: &str = "return !document.getElementById('meeting').hidden";

/// A coturn on loopback with a fresh secret, logging to a file of its own.
pub struct Coturn {
    _process: Killed,
    /// Its port, for TURN over UDP and TCP.
    pub port: u16,
    /// The secret it mints credentials with (`use-auth-secret`).
    pub secret: String,
    log: std::path::PathBuf,
}

impl Coturn {
    /// The end of its log, for a failing test to show.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A port free on loopback for both TCP and UDP, below the ephemeral range (32768
/// and up), so no socket another test opens on port 0 takes it before coturn binds.
fn free_tcp_and_udp_port() -> u16 {
    loop {
        let port = 20_000 + (uuid::Uuid::new_v4().as_u128() % 12_000) as u16;
        let tcp = TcpListener::bind(("127.0.0.1", port));
        let udp = std::net::UdpSocket::bind(("127.0.0.1", port));
        if tcp.is_ok() && udp.is_ok() {
            return port;
        }
    }
}

/// Whether a STUN server answers a binding request on UDP `port` within 200 ms.
fn answers_stun(port: u16) -> bool {
    let Ok(socket) = std::net::UdpSocket::bind("127.0.0.1:0") else { return false };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
    // A Binding request (RFC 8489): type 0x0001, no attributes, the magic cookie, a
    // transaction id.
    let mut request = [0u8; 20];
    request[..2].copy_from_slice(&0x0001u16.to_be_bytes());
    request[4..8].copy_from_slice(&0x2112_A442u32.to_be_bytes());
    request[8..].copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..12]);
    if socket.send_to(&request, ("127.0.0.1", port)).is_err() {
        return false;
    }
    let mut answer = [0u8; 512];
    matches!(socket.recv(&mut answer), Ok(n) if n >= 20 && answer[..2] == 0x0101u16.to_be_bytes() && answer[8..20] == request[8..20])
}

/// Starts a coturn on loopback with a fresh secret; returns once it answers STUN
/// over UDP (the transport the tests relay over) and accepts TCP.
pub fn start_coturn() -> Coturn {
    let port = free_tcp_and_udp_port();
    let secret = uuid::Uuid::new_v4().simple().to_string();
    // Relay ports below the listening ports, away from the ephemeral range too.
    let relay_base = 10_000 + (port % 100) * 100;
    let log = std::env::temp_dir().join(format!("confer-turn-{port}.log"));
    let log_file = std::fs::File::create(&log).expect("a coturn log file");
    let child = Command::new("turnserver")
        .args([
            "-n",
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            &format!("--listening-port={port}"),
            "--use-auth-secret",
            &format!("--static-auth-secret={secret}"),
            "--realm=confer.test",
            "--allow-loopback-peers",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
            &format!("--min-port={relay_base}"),
            &format!("--max-port={}", relay_base + 99),
            "--log-file=stdout",
            "--simple-log",
            &format!("--pidfile=/tmp/confer-turn-{port}.pid"),
        ])
        .stdout(log_file)
        .stderr(Stdio::null())
        .spawn()
        .expect("turnserver (Debian package coturn) must be installed");
    let coturn = Coturn { _process: Killed(child), port, secret, log };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !answers_stun(port) || std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "coturn did not start: {}", coturn.log_tail());
        std::thread::sleep(Duration::from_millis(50));
    }
    coturn
}

/// Video frames `viewer` has decoded from each remote participant.
pub async fn frames_from(viewer: &Client) -> Value {
    viewer
        .execute(
            "return window.confer.stats().then((s) => Object.fromEntries(Object.entries(s).map(([k, v]) => \
             [k, v.video ? v.video.framesDecoded : 0])))",
            vec![],
        )
        .await
        .unwrap()
}

/// The address for the node when this process runs in a private network namespace
/// (`confer_tests::private_network`: loopback and a veth pair, nothing that leads
/// out); otherwise runs test `name` of this binary again in one (as root), asserts
/// that it passed, and returns `None`.
pub fn in_private_network(name: &str) -> Option<String> {
    confer_tests::private_network::run_test_in_private_network(name)
        .then(|| confer_tests::private_network::SFU_ADDRESS.to_string())
}

//! Janus (Debian's `janus` 1.1 and its VideoRoom plugin), the SFU that `confer-media`
//! is measured against (issue 6): [`JanusConfig`] writes its configuration with
//! `infra/janus.sh`, [`Janus`] runs it, and [`VideoRoomClient`] speaks its HTTP API so
//! that a load tool can build rooms of publishers and subscribers on it.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use confer_tests::janus::{FeedId, Janus, JanusConfig, Jsep, RoomSpec, StreamRequest};
//! // Inside a private network namespace where 198.18.0.1 is on the interface `confer0`.
//! let janus = Janus::start(&JanusConfig::new("/tmp/janus").on("confer0", "198.18.0.1".parse()?)).await?;
//! let client = janus.client().await?;
//! let admin = client.attach().await?;
//! let room = admin.create_room(&RoomSpec::opus_vp8(100, 2_000_000)).await?;
//! let publisher = client.attach().await?;
//! let joined = publisher.join_publisher(room, "p1").await?;
//! # let my_offer = String::new();
//! let published = publisher.configure(&Jsep::offer(my_offer).without_trickle()).await?;
//! // published.answer.sdp is Janus's answer, with its candidates on 198.18.0.1.
//! let subscriber = client.attach().await?;
//! let subscribed = subscriber.join_subscriber(room, &[StreamRequest::all_of(joined.feed)]).await?;
//! // subscribed.offer.sdp is Janus's offer: answer it with `subscriber.start(&answer)`.
//! # let _: FeedId = joined.feed;
//! # Ok(())
//! # }
//! ```
//!
//! Janus never gathers ICE candidates on loopback: it must run in a network namespace
//! of its own (`unshare -n`, as root) where its media address ([`JanusConfig::ip`],
//! 198.18.0.1 by default) is on a veth interface. [`Janus::start`] does not make the
//! namespace: its caller runs in one already (the tests re-run themselves in one with
//! `browsers::in_private_network`), and it refuses to start when the address is not
//! one of this host's. The HTTP API listens on 127.0.0.1 of that namespace. Install
//! Janus with [`install`] before entering the namespace (apt has no network in there).
//!
//! [`VideoRoomClient`] is one Janus session. Its requests are plain HTTP POSTs; what
//! Janus answers later (the plugin's reply to `join`, `configure`, `start`, with their
//! JSEP) comes through the session's long poll (`GET /janus/<session>`, which also
//! keeps the session alive), read by one task per client and handed to the request
//! waiting for that `transaction`. Everything else (`webrtcup`, `media`, `hangup`,
//! VideoRoom notifications such as new publishers) goes to
//! [`VideoRoomClient::notifications`]. Each attached [`VideoRoomHandle`] is one
//! PeerConnection on Janus's side: a publisher, a subscriber (which may receive many
//! feeds, Janus 1.x multistream), or a handle only used to manage rooms.

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::net::{Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, oneshot};

/// The name Janus gives the VideoRoom plugin.
const VIDEOROOM: &str = "janus.plugin.videoroom";

/// Installs Janus when it is missing (`infra/janus.sh --install-only`). Call it before
/// entering the private network namespace: apt has no network in there.
pub fn install() -> anyhow::Result<()> {
    run_script(&["--install-only".as_ref()], &[])
}

/// For a test that needs Janus: `true` when this process runs in the private network
/// already (run the test's body); otherwise installs Janus (while apt can reach its
/// mirrors), runs test `name` again in the private network
/// (`private_network::run_test_in_private_network`) and returns `false`. Without
/// root it says the test is skipped and returns `false`.
pub fn run_test_in_private_network_with_janus(name: &str) -> bool {
    use crate::private_network;
    if !private_network::is_inside() {
        if !private_network::can_enter() {
            eprintln!("SKIPPED {name}: it needs root for a private network namespace (unshare -n); CI runs it as root");
            return false;
        }
        install().expect("janus is installed");
    }
    private_network::run_test_in_private_network(name)
}

/// Runs `infra/janus.sh` with `args` and `env`.
fn run_script(args: &[&std::ffi::OsStr], env: &[(&str, String)]) -> anyhow::Result<()> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/janus.sh");
    let output = Command::new("bash")
        .arg(&script)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .with_context(|| format!("run {}", script.display()))?;
    if !output.status.success() {
        bail!(
            "{} failed ({}): {}{}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// How Janus is configured (see `infra/janus.sh`, which writes the files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JanusConfig {
    /// The folder of the configuration files (and of `janus.log`, Janus's output).
    pub dir: PathBuf,
    /// The address of Janus's media: its only ICE candidates are there.
    pub ip: Ipv4Addr,
    /// The interface(s) Janus gathers candidates on (`ice_enforce_list`); `None`: the
    /// interface that holds [`JanusConfig::ip`].
    pub interface: Option<String>,
    /// The one address the HTTP API listens on.
    pub http_ip: Ipv4Addr,
    /// The HTTP API's port.
    pub http_port: u16,
    /// The UDP ports of the media sockets (first, last).
    pub rtp_ports: (u16, u16),
    /// Static event loops serving the media of all handles (`event_loops`).
    pub event_loops: u32,
    /// ICE lite, as `confer-media` is.
    pub ice_lite: bool,
    /// Janus's log level, 0 (nothing) to 7.
    pub debug_level: u8,
}

impl JanusConfig {
    /// The defaults of `infra/janus.sh`, written into `dir`: media on 198.18.0.1, the
    /// API on 127.0.0.1:8088, ports 20000-40000, two event loops, ICE lite.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            ip: Ipv4Addr::new(198, 18, 0, 1),
            interface: None,
            http_ip: Ipv4Addr::LOCALHOST,
            http_port: 8088,
            rtp_ports: (20_000, 40_000),
            event_loops: 2,
            ice_lite: true,
            debug_level: 4,
        }
    }

    /// Media on `interface`, whose address is `ip`.
    pub fn on(mut self, interface: &str, ip: Ipv4Addr) -> Self {
        self.interface = Some(interface.to_owned());
        self.ip = ip;
        self
    }

    /// The base URL of the Janus API, `http://<http_ip>:<http_port>/janus`.
    pub fn api_url(&self) -> String {
        format!("http://{}:{}/janus", self.http_ip, self.http_port)
    }

    /// Writes the configuration folder by running `infra/janus.sh` (which installs
    /// Janus first when it is missing: see [`install`]).
    pub fn write(&self) -> anyhow::Result<()> {
        let env = [
            ("JANUS_IP", self.ip.to_string()),
            ("JANUS_IFACE", self.interface.clone().unwrap_or_else(|| self.ip.to_string())),
            ("JANUS_HTTP_IP", self.http_ip.to_string()),
            ("JANUS_HTTP_PORT", self.http_port.to_string()),
            ("JANUS_RTP_PORTS", format!("{}-{}", self.rtp_ports.0, self.rtp_ports.1)),
            ("JANUS_EVENT_LOOPS", self.event_loops.to_string()),
            ("JANUS_ICE_LITE", self.ice_lite.to_string()),
            ("JANUS_DEBUG_LEVEL", self.debug_level.to_string()),
        ];
        run_script(&[self.dir.as_os_str()], &env)
    }
}

/// A running Janus, killed when dropped.
pub struct Janus {
    child: Child,
    api_url: String,
    log: PathBuf,
}

impl Janus {
    /// Writes `config` (see [`JanusConfig::write`]), starts
    /// `janus --configs-folder=<dir> --config=<dir>/janus.jcfg` with its output in
    /// `<dir>/janus.log`, and waits until `GET /janus/info` answers.
    ///
    /// The caller runs in the private network namespace already: Janus does not start
    /// unless [`JanusConfig::ip`] is an address of this host.
    pub async fn start(config: &JanusConfig) -> anyhow::Result<Self> {
        UdpSocket::bind((config.ip, 0)).with_context(|| {
            format!(
                "{} is not an address of this host: Janus must run in a private network namespace \
                 (unshare -n) where a veth interface holds it",
                config.ip
            )
        })?;
        config.write()?;
        let dir = std::fs::canonicalize(&config.dir).with_context(|| format!("{}", config.dir.display()))?;
        let log = dir.join("janus.log");
        let out = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let err = out.try_clone().context("the log file's second handle")?;
        let child = Command::new("janus")
            .arg(format!("--configs-folder={}", dir.display()))
            .arg(format!("--config={}", dir.join("janus.jcfg").display()))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .context("start janus (infra/janus.sh installs the Debian package)")?;
        let mut janus = Self { child, api_url: config.api_url(), log };
        janus.wait_until_it_answers().await?;
        Ok(janus)
    }

    async fn wait_until_it_answers(&mut self) -> anyhow::Result<()> {
        let http = http_client().context("an HTTP client")?;
        let info = format!("{}/info", self.api_url);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().context("janus's status")? {
                bail!("janus exited ({status}) before answering; its log ends with:\n{}", self.log_tail(30));
            }
            if let Ok(res) = http.get(&info).timeout(Duration::from_secs(2)).send().await
                && res.status().is_success()
                && let Ok(body) = res.json::<Value>().await
                && body["janus"] == "server_info"
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("janus did not answer {info} within 30 s; its log ends with:\n{}", self.log_tail(30));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The base URL of its API, `http://127.0.0.1:8088/janus` by default.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// Its process id (for measuring its CPU time).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where its output goes.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `lines` lines of its output, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// A new session on it.
    pub async fn client(&self) -> Result<VideoRoomClient, JanusError> {
        VideoRoomClient::connect(&self.api_url).await
    }
}

impl Drop for Janus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    // Janus is on this host: never through a proxy from the environment.
    reqwest::Client::builder().no_proxy().connect_timeout(Duration::from_secs(5)).build()
}

// ------------------------------------------------------------------ errors

/// Why a request to Janus failed.
#[derive(Debug)]
pub enum JanusError {
    /// The HTTP exchange failed (connection refused, timeout, a cut body).
    Http(reqwest::Error),
    /// Janus answered with an HTTP status other than 200 (404: no such session).
    Status {
        /// The HTTP status.
        status: u16,
        /// The request's path.
        path: String,
    },
    /// What Janus sent is not JSON, or not the JSON this request gets.
    Json(serde_json::Error),
    /// The Janus core refused the request (`{"janus": "error"}`).
    Api {
        /// Janus's error code (e.g. 458: no such session, 459: no such handle).
        code: i64,
        /// Janus's explanation.
        reason: String,
    },
    /// The VideoRoom plugin refused the request (`error_code` in its reply).
    Plugin {
        /// The plugin's error code (e.g. 426: no such room, 428: no such feed).
        code: i64,
        /// The plugin's explanation.
        reason: String,
    },
    /// A reply that lacks what the request should have produced.
    Unexpected {
        /// What was expected.
        expected: &'static str,
        /// What came.
        got: Value,
    },
    /// Janus said nothing more about the request within the client's timeout.
    Timeout {
        /// The request.
        request: String,
        /// How long the client waited.
        after: Duration,
    },
    /// The session is over (Janus stopped, or dropped the session): its requests
    /// will never be answered.
    SessionClosed,
}

impl fmt::Display for JanusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http(e) => write!(f, "HTTP request to Janus failed: {e}"),
            Self::Status { status, path } => write!(f, "Janus answered {path} with HTTP status {status}"),
            Self::Json(e) => write!(f, "Janus's reply is not what was expected: {e}"),
            Self::Api { code, reason } => write!(f, "Janus refused the request: {reason} ({code})"),
            Self::Plugin { code, reason } => write!(f, "the VideoRoom plugin refused the request: {reason} ({code})"),
            Self::Unexpected { expected, got } => write!(f, "expected {expected} from Janus, got {got}"),
            Self::Timeout { request, after } => write!(f, "Janus did not answer {request} within {after:?}"),
            Self::SessionClosed => write!(f, "the Janus session is over"),
        }
    }
}

impl std::error::Error for JanusError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Http(e) => Some(e),
            Self::Json(e) => Some(e),
            _ => None,
        }
    }
}

impl From<reqwest::Error> for JanusError {
    fn from(e: reqwest::Error) -> Self {
        Self::Http(e)
    }
}

impl From<serde_json::Error> for JanusError {
    fn from(e: serde_json::Error) -> Self {
        Self::Json(e)
    }
}

// ------------------------------------------------------------------ API types

/// A Janus session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub u64);

/// A handle: one attachment to the plugin, one PeerConnection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HandleId(pub u64);

/// A VideoRoom room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoomId(pub u64);

/// A publisher in a room (the plugin's participant `id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FeedId(pub u64);

/// An SDP offer or answer, as Janus carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jsep {
    /// Offer or answer.
    #[serde(rename = "type")]
    pub kind: SdpType,
    /// The SDP.
    pub sdp: String,
    /// `Some(false)`: every candidate is in the SDP, none will be trickled. Janus
    /// assumes trickle when it is absent, and then waits for `completed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trickle: Option<bool>,
}

impl Jsep {
    /// An offer.
    pub fn offer(sdp: impl Into<String>) -> Self {
        Self { kind: SdpType::Offer, sdp: sdp.into(), trickle: None }
    }

    /// An answer.
    pub fn answer(sdp: impl Into<String>) -> Self {
        Self { kind: SdpType::Answer, sdp: sdp.into(), trickle: None }
    }

    /// The same, saying that its candidates are all in the SDP.
    pub fn without_trickle(mut self) -> Self {
        self.trickle = Some(false);
        self
    }
}

/// The type of a [`Jsep`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdpType {
    /// An offer.
    Offer,
    /// An answer.
    Answer,
}

/// A room to create.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomSpec {
    /// Its id; `None`: Janus picks one.
    pub room: Option<RoomId>,
    /// Its description.
    pub description: String,
    /// The most publishers at once.
    pub publishers: u32,
    /// The video bitrate publishers are told to keep under (REMB), bits per second.
    pub bitrate: u32,
    /// The audio codecs publishers may use, in order of preference (`opus`).
    pub audiocodec: String,
    /// The video codecs publishers may use, in order of preference (`vp8`).
    pub videocodec: String,
    /// Other fields of the VideoRoom `create` request (e.g. `"transport_wide_cc_ext"`).
    pub extra: Map<String, Value>,
}

impl RoomSpec {
    /// An Opus and VP8 room for `publishers`, with video up to `bitrate` bit/s.
    pub fn opus_vp8(publishers: u32, bitrate: u32) -> Self {
        Self {
            room: None,
            description: "confer load".to_owned(),
            publishers,
            bitrate,
            audiocodec: "opus".to_owned(),
            videocodec: "vp8".to_owned(),
            extra: Map::new(),
        }
    }

    fn request(&self) -> Value {
        let mut body = self.extra.clone();
        body.insert("request".into(), json!("create"));
        if let Some(room) = self.room {
            body.insert("room".into(), json!(room));
        }
        body.insert("description".into(), json!(self.description));
        body.insert("publishers".into(), json!(self.publishers));
        body.insert("bitrate".into(), json!(self.bitrate));
        body.insert("audiocodec".into(), json!(self.audiocodec));
        body.insert("videocodec".into(), json!(self.videocodec));
        body.entry("is_private").or_insert(json!(true));
        body.entry("permanent").or_insert(json!(false));
        Value::Object(body)
    }
}

/// One stream (m-line) of a publisher, as the plugin describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PublishedStream {
    /// `audio`, `video` or `data`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its m-line's index in the publisher's SDP.
    pub mindex: u32,
    /// Its `a=mid`.
    pub mid: String,
    /// The codec negotiated (absent for data).
    #[serde(default)]
    pub codec: Option<String>,
    /// Whether the publisher stopped sending it.
    #[serde(default)]
    pub disabled: bool,
}

/// A publisher already in a room when one joins.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Publisher {
    /// Its feed.
    #[serde(rename = "id")]
    pub feed: FeedId,
    /// Its display name.
    #[serde(default)]
    pub display: Option<String>,
    /// What it publishes.
    #[serde(default)]
    pub streams: Vec<PublishedStream>,
}

/// The plugin's reply to a publisher's `join`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PublisherJoined {
    /// The room.
    pub room: RoomId,
    /// The feed this handle publishes (what subscribers ask for).
    #[serde(rename = "id")]
    pub feed: FeedId,
    /// The private id that ties this publisher's subscriptions to it.
    pub private_id: u64,
    /// The publishers already publishing.
    #[serde(default)]
    pub publishers: Vec<Publisher>,
}

/// The plugin's reply to a publisher's `configure` with an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Janus's answer.
    pub answer: Jsep,
    /// The streams Janus accepted (may be absent from the reply: then empty).
    pub streams: Vec<PublishedStream>,
}

/// A stream to subscribe to: all streams of a feed, or the one with `mid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamRequest {
    /// The publisher.
    pub feed: FeedId,
    /// The publisher's `mid` of the stream; `None`: all its streams.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mid: Option<String>,
}

impl StreamRequest {
    /// Every stream of `feed`.
    pub fn all_of(feed: FeedId) -> Self {
        Self { feed, mid: None }
    }

    /// The stream of `feed` whose `mid` is `mid`.
    pub fn one_of(feed: FeedId, mid: &str) -> Self {
        Self { feed, mid: Some(mid.to_owned()) }
    }
}

/// One stream (m-line) of a subscription, as the plugin describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SubscribedStream {
    /// `audio`, `video` or `data`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its m-line's index in Janus's offer.
    pub mindex: u32,
    /// Its `a=mid` in Janus's offer (not the publisher's).
    pub mid: String,
    /// Whether it carries anything (false for a placeholder).
    #[serde(default)]
    pub active: bool,
    /// The publisher it comes from.
    #[serde(default, rename = "feed_id")]
    pub feed: Option<FeedId>,
    /// The publisher's `mid` of it.
    #[serde(default)]
    pub feed_mid: Option<String>,
    /// The codec.
    #[serde(default)]
    pub codec: Option<String>,
}

/// The plugin's reply to a subscriber's `join`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribed {
    /// The room.
    pub room: RoomId,
    /// Its streams, in m-line order.
    pub streams: Vec<SubscribedStream>,
    /// Janus's offer: answer it with [`VideoRoomHandle::start`].
    pub offer: Jsep,
}

/// An ICE candidate to trickle to Janus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// The `a=mid` of the m-line it is for.
    #[serde(rename = "sdpMid")]
    pub sdp_mid: String,
    /// The index of that m-line.
    #[serde(rename = "sdpMLineIndex")]
    pub sdp_mline_index: u32,
    /// `candidate:…`, as in an `a=candidate` line without `a=`.
    pub candidate: String,
}

/// What Janus says about a session on its own, not in reply to a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    /// The handle's PeerConnection is up (ICE and DTLS done).
    WebRtcUp {
        /// The handle.
        handle: HandleId,
    },
    /// Janus started or stopped receiving a stream of the handle.
    Media {
        /// The handle.
        handle: HandleId,
        /// The stream's mid.
        mid: Option<String>,
        /// `audio` or `video`.
        kind: String,
        /// Whether it is receiving now.
        receiving: bool,
    },
    /// Janus sees packets of the handle lost (NACKs) beyond its threshold.
    SlowLink {
        /// The handle.
        handle: HandleId,
        /// The stream's mid.
        mid: Option<String>,
        /// Whether the loss is on what Janus receives (else on what it sends).
        uplink: bool,
        /// Packets lost in the last second.
        lost: u64,
    },
    /// The handle's PeerConnection is gone.
    Hangup {
        /// The handle.
        handle: HandleId,
        /// Why.
        reason: String,
    },
    /// The handle is detached from the plugin.
    Detached {
        /// The handle.
        handle: HandleId,
    },
    /// An event of the plugin not tied to a request (a publisher joined or left…).
    Plugin {
        /// The handle it was sent to.
        handle: HandleId,
        /// The plugin's data.
        data: Value,
        /// An SDP, when the plugin sent one (a subscription updated).
        jsep: Option<Jsep>,
    },
    /// Anything else, as Janus sent it.
    Other(Value),
}

impl Notification {
    fn from_message(message: Value) -> Self {
        let handle = HandleId(message["sender"].as_u64().unwrap_or(0));
        let mid = message["mid"].as_str().map(str::to_owned);
        match message["janus"].as_str().unwrap_or("") {
            "webrtcup" => Self::WebRtcUp { handle },
            "media" => Self::Media {
                handle,
                mid,
                kind: message["type"].as_str().unwrap_or("").to_owned(),
                receiving: message["receiving"].as_bool().unwrap_or(false),
            },
            "slowlink" => Self::SlowLink {
                handle,
                mid,
                uplink: message["uplink"].as_bool().unwrap_or(false),
                lost: message["lost"].as_u64().unwrap_or(0),
            },
            "hangup" => Self::Hangup { handle, reason: message["reason"].as_str().unwrap_or("").to_owned() },
            "detached" => Self::Detached { handle },
            "event" if message["plugindata"].is_object() => Self::Plugin {
                handle,
                data: message["plugindata"]["data"].clone(),
                jsep: serde_json::from_value(message["jsep"].clone()).ok(),
            },
            _ => Self::Other(message),
        }
    }
}

// ------------------------------------------------------------------ the client

/// How long a request waits for the plugin's event, unless told otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Events asked for per long poll.
const MAX_EVENTS: u32 = 64;
/// Notifications kept for a slow reader before the oldest are dropped.
const NOTIFICATIONS_KEPT: usize = 4096;

/// A session on Janus (see the module documentation); its long poll stops when it
/// is dropped (the session then ends by Janus's timeout, or at once with
/// [`VideoRoomClient::destroy`]).
pub struct VideoRoomClient {
    shared: Arc<Shared>,
    poller: tokio::task::JoinHandle<()>,
}

/// What the client, its handles and its long poll share.
struct Shared {
    http: reqwest::Client,
    /// `<api>/<session>`.
    session_url: String,
    session: SessionId,
    /// Requests waiting for their event, by transaction; `None` once the session is over.
    waiting: Mutex<Option<HashMap<String, oneshot::Sender<Value>>>>,
    notifications: broadcast::Sender<Notification>,
    transaction_prefix: String,
    next_transaction: AtomicU64,
    timeout: Duration,
}

impl VideoRoomClient {
    /// Creates a session on the Janus whose API is at `api_url`
    /// (`http://127.0.0.1:8088/janus`) and starts reading its events.
    pub async fn connect(api_url: &str) -> Result<Self, JanusError> {
        Self::connect_with_timeout(api_url, DEFAULT_TIMEOUT).await
    }

    /// [`VideoRoomClient::connect`], with requests waiting at most `timeout` for
    /// Janus's event.
    pub async fn connect_with_timeout(api_url: &str, timeout: Duration) -> Result<Self, JanusError> {
        let http = http_client()?;
        let api_url = api_url.trim_end_matches('/').to_owned();
        let transaction_prefix = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let reply =
            post(&http, &api_url, json!({"janus": "create", "transaction": format!("{transaction_prefix}-0")})).await?;
        let session = SessionId(id_in(&reply, "a session id")?);
        let (notifications, _) = broadcast::channel(NOTIFICATIONS_KEPT);
        let shared = Arc::new(Shared {
            http,
            session_url: format!("{api_url}/{}", session.0),
            session,
            waiting: Mutex::new(Some(HashMap::new())),
            notifications,
            transaction_prefix,
            next_transaction: AtomicU64::new(1),
            timeout,
        });
        let poller = tokio::spawn(long_poll(shared.clone()));
        Ok(Self { shared, poller })
    }

    /// The session's id.
    pub fn session(&self) -> SessionId {
        self.shared.session
    }

    /// Notifications from now on (see [`Notification`]). A reader that falls more
    /// than a few thousand behind loses the oldest.
    pub fn notifications(&self) -> broadcast::Receiver<Notification> {
        self.shared.notifications.subscribe()
    }

    /// Attaches a new handle to the VideoRoom plugin.
    pub async fn attach(&self) -> Result<VideoRoomHandle, JanusError> {
        let reply =
            self.shared.request(&self.shared.session_url, json!({"janus": "attach", "plugin": VIDEOROOM})).await?;
        let id = HandleId(id_in(&reply, "a handle id")?);
        Ok(VideoRoomHandle { shared: self.shared.clone(), id })
    }

    /// Tells Janus the session is alive. The long poll already does, every 30 s at
    /// most: this is for a client whose long poll is known to be stalled.
    pub async fn keepalive(&self) -> Result<(), JanusError> {
        let reply = self.shared.request(&self.shared.session_url, json!({"janus": "keepalive"})).await?;
        expect_kind(&reply, "ack")
    }

    /// Ends the session: Janus closes all its handles' PeerConnections.
    pub async fn destroy(self) -> Result<(), JanusError> {
        let reply = self.shared.request(&self.shared.session_url, json!({"janus": "destroy"})).await?;
        self.shared.close();
        expect_kind(&reply, "success")
    }
}

impl Drop for VideoRoomClient {
    fn drop(&mut self) {
        self.poller.abort();
        self.shared.close();
    }
}

/// A handle attached to the VideoRoom plugin: one PeerConnection on Janus's side.
#[derive(Clone)]
pub struct VideoRoomHandle {
    shared: Arc<Shared>,
    id: HandleId,
}

impl fmt::Debug for VideoRoomHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VideoRoomHandle").field("session", &self.shared.session).field("id", &self.id).finish()
    }
}

impl VideoRoomHandle {
    /// The handle's id (the `sender` of its notifications).
    pub fn id(&self) -> HandleId {
        self.id
    }

    /// Creates a room (not kept across Janus restarts); returns its id.
    pub async fn create_room(&self, spec: &RoomSpec) -> Result<RoomId, JanusError> {
        let (data, _) = self.message(spec.request(), None).await?;
        expect_plugin_reply(&data, "created")?;
        Ok(RoomId(id_field(&data, "room", "the created room's id")?))
    }

    /// Destroys a room: its participants are told and their PeerConnections closed.
    pub async fn destroy_room(&self, room: RoomId) -> Result<(), JanusError> {
        let (data, _) = self.message(json!({"request": "destroy", "room": room}), None).await?;
        expect_plugin_reply(&data, "destroyed")
    }

    /// Joins `room` as a publisher named `display` (nothing is sent yet: see
    /// [`VideoRoomHandle::configure`]).
    pub async fn join_publisher(&self, room: RoomId, display: &str) -> Result<PublisherJoined, JanusError> {
        let body = json!({"request": "join", "ptype": "publisher", "room": room, "display": display});
        let (data, _) = self.message(body, None).await?;
        expect_plugin_reply(&data, "joined")?;
        Ok(serde_json::from_value(data)?)
    }

    /// Publishes: sends our `offer` (`configure` with a JSEP); returns Janus's answer.
    /// Janus answers before ICE is done; with ICE lite its candidates are in the answer.
    pub async fn configure(&self, offer: &Jsep) -> Result<Published, JanusError> {
        let (data, jsep) = self.message(json!({"request": "configure"}), Some(offer)).await?;
        let answer = jsep.ok_or_else(|| JanusError::Unexpected { expected: "an SDP answer", got: data.clone() })?;
        if answer.kind != SdpType::Answer {
            return Err(JanusError::Unexpected { expected: "an SDP answer", got: json!(answer) });
        }
        let streams = match data.get("streams") {
            Some(streams) => serde_json::from_value(streams.clone())?,
            None => Vec::new(),
        };
        Ok(Published { answer, streams })
    }

    /// Joins `room` as a subscriber to `streams` (of one feed or of several, Janus
    /// 1.x multistream: one PeerConnection for all); returns Janus's offer.
    pub async fn join_subscriber(&self, room: RoomId, streams: &[StreamRequest]) -> Result<Subscribed, JanusError> {
        let body = json!({"request": "join", "ptype": "subscriber", "room": room, "streams": streams});
        let (data, jsep) = self.message(body, None).await?;
        expect_plugin_reply(&data, "attached")?;
        let offer = jsep.ok_or_else(|| JanusError::Unexpected { expected: "an SDP offer", got: data.clone() })?;
        if offer.kind != SdpType::Offer {
            return Err(JanusError::Unexpected { expected: "an SDP offer", got: json!(offer) });
        }
        let streams = serde_json::from_value(data.get("streams").cloned().unwrap_or_else(|| json!([])))?;
        Ok(Subscribed { room, streams, offer })
    }

    /// Answers a subscription's offer: Janus starts sending once ICE and DTLS are up.
    pub async fn start(&self, answer: &Jsep) -> Result<(), JanusError> {
        let (data, _) = self.message(json!({"request": "start"}), Some(answer)).await?;
        if data["started"] == "ok" {
            Ok(())
        } else {
            Err(JanusError::Unexpected { expected: "\"started\": \"ok\"", got: data })
        }
    }

    /// Leaves the room (a publisher stops publishing and is gone; a subscriber stops).
    pub async fn leave(&self) -> Result<(), JanusError> {
        self.message(json!({"request": "leave"}), None).await.map(|_| ())
    }

    /// Sends our ICE candidates.
    pub async fn trickle(&self, candidates: &[Candidate]) -> Result<(), JanusError> {
        let reply = self.shared.request(&self.url(), json!({"janus": "trickle", "candidates": candidates})).await?;
        expect_kind(&reply, "ack")
    }

    /// Tells Janus all our candidates are sent.
    pub async fn trickle_completed(&self) -> Result<(), JanusError> {
        let body = json!({"janus": "trickle", "candidate": {"completed": true}});
        let reply = self.shared.request(&self.url(), body).await?;
        expect_kind(&reply, "ack")
    }

    /// Closes the handle's PeerConnection, keeping the handle.
    pub async fn hangup(&self) -> Result<(), JanusError> {
        let reply = self.shared.request(&self.url(), json!({"janus": "hangup"})).await?;
        expect_kind(&reply, "success")
    }

    /// Detaches the handle from the plugin.
    pub async fn detach(self) -> Result<(), JanusError> {
        let reply = self.shared.request(&self.url(), json!({"janus": "detach"})).await?;
        expect_kind(&reply, "success")
    }

    fn url(&self) -> String {
        format!("{}/{}", self.shared.session_url, self.id.0)
    }

    /// Sends a request to the plugin; returns the plugin's data and JSEP, whether
    /// Janus answered at once (`success`) or later through the long poll (`ack`, then
    /// an `event` with the same transaction).
    async fn message(&self, body: Value, jsep: Option<&Jsep>) -> Result<(Value, Option<Jsep>), JanusError> {
        let request = body["request"].as_str().unwrap_or("message").to_owned();
        let transaction = self.shared.transaction();
        // Registered before sending: the event may come before the ack does.
        let event = self.shared.wait_for(&transaction)?;
        let mut message = json!({"janus": "message", "body": body, "transaction": transaction});
        if let Some(jsep) = jsep {
            message["jsep"] = json!(jsep);
        }
        let reply = match post(&self.shared.http, &self.url(), message).await {
            Ok(reply) => reply,
            Err(e) => {
                self.shared.forget(&transaction);
                return Err(e);
            }
        };
        let reply = match reply["janus"].as_str() {
            Some("success") => {
                self.shared.forget(&transaction);
                reply
            }
            Some("ack") => match tokio::time::timeout(self.shared.timeout, event).await {
                Ok(Ok(event)) => event,
                Ok(Err(_)) => return Err(JanusError::SessionClosed),
                Err(_) => {
                    self.shared.forget(&transaction);
                    return Err(JanusError::Timeout { request, after: self.shared.timeout });
                }
            },
            _ => {
                self.shared.forget(&transaction);
                return Err(JanusError::Unexpected { expected: "success or ack", got: reply });
            }
        };
        if reply["janus"] == "error" {
            return Err(api_error(&reply));
        }
        let data = reply["plugindata"]["data"].clone();
        if !data.is_object() {
            return Err(JanusError::Unexpected { expected: "the plugin's data", got: reply });
        }
        if let Some(code) = data["error_code"].as_i64() {
            return Err(JanusError::Plugin { code, reason: data["error"].as_str().unwrap_or("").to_owned() });
        }
        let jsep = match reply.get("jsep") {
            Some(jsep) => Some(serde_json::from_value(jsep.clone())?),
            None => None,
        };
        Ok((data, jsep))
    }
}

impl Shared {
    fn transaction(&self) -> String {
        format!("{}-{}", self.transaction_prefix, self.next_transaction.fetch_add(1, Ordering::Relaxed))
    }

    /// A request with a new transaction, on `url`; returns Janus's reply.
    async fn request(&self, url: &str, mut body: Value) -> Result<Value, JanusError> {
        body["transaction"] = json!(self.transaction());
        post(&self.http, url, body).await
    }

    fn wait_for(&self, transaction: &str) -> Result<oneshot::Receiver<Value>, JanusError> {
        let (tx, rx) = oneshot::channel();
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let waiting = waiting.as_mut().ok_or(JanusError::SessionClosed)?;
        waiting.insert(transaction.to_owned(), tx);
        Ok(rx)
    }

    fn forget(&self, transaction: &str) {
        if let Some(waiting) = self.waiting.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            waiting.remove(transaction);
        }
    }

    /// Fails every waiting request and all later ones.
    fn close(&self) {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Hands a message of the long poll to the request waiting for it, or to the
    /// notifications.
    fn dispatch(&self, message: Value) {
        if message["janus"] == "keepalive" {
            return;
        }
        let waiter = message["transaction"].as_str().and_then(|transaction| {
            self.waiting.lock().unwrap_or_else(|e| e.into_inner()).as_mut().and_then(|w| w.remove(transaction))
        });
        match waiter {
            Some(waiter) => {
                let _ = waiter.send(message);
            }
            None => {
                // Nobody listening is fine: notifications are for whoever wants them.
                let _ = self.notifications.send(Notification::from_message(message));
            }
        }
    }
}

/// Reads the session's events until the session is over (Janus answers 404 for it,
/// or has not answered for a few seconds).
async fn long_poll(shared: Arc<Shared>) {
    let url = format!("{}?maxev={MAX_EVENTS}", shared.session_url);
    let mut failing_since: Option<Instant> = None;
    loop {
        // Janus answers an idle long poll after 30 s with a keepalive.
        let result = shared.http.get(&url).timeout(Duration::from_secs(45)).send().await;
        let events = match result {
            Ok(res) if res.status() == reqwest::StatusCode::NOT_FOUND => break,
            Ok(res) if res.status().is_success() => res.json::<Value>().await.ok(),
            _ => None,
        };
        match events {
            Some(Value::Array(events)) => {
                failing_since = None;
                events.into_iter().for_each(|e| shared.dispatch(e));
            }
            Some(event) => {
                failing_since = None;
                if event["janus"] == "error" && event["error"]["code"] == 458 {
                    break;
                }
                shared.dispatch(event);
            }
            None => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(5) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    shared.close();
}

/// POSTs a Janus API request; returns the reply, or the error Janus gave.
async fn post(http: &reqwest::Client, url: &str, body: Value) -> Result<Value, JanusError> {
    let res = http.post(url).json(&body).timeout(Duration::from_secs(15)).send().await?;
    if !res.status().is_success() {
        return Err(JanusError::Status { status: res.status().as_u16(), path: res.url().path().to_owned() });
    }
    let reply: Value = serde_json::from_slice(&res.bytes().await?)?;
    if reply["janus"] == "error" {
        return Err(api_error(&reply));
    }
    Ok(reply)
}

fn api_error(reply: &Value) -> JanusError {
    JanusError::Api {
        code: reply["error"]["code"].as_i64().unwrap_or(0),
        reason: reply["error"]["reason"].as_str().unwrap_or("").to_owned(),
    }
}

/// `data.id` of a `success` reply (a new session or handle).
fn id_in(reply: &Value, what: &'static str) -> Result<u64, JanusError> {
    expect_kind(reply, "success")?;
    id_field(&reply["data"], "id", what)
}

fn id_field(data: &Value, field: &str, what: &'static str) -> Result<u64, JanusError> {
    data[field].as_u64().ok_or_else(|| JanusError::Unexpected { expected: what, got: data.clone() })
}

fn expect_kind(reply: &Value, kind: &'static str) -> Result<(), JanusError> {
    if reply["janus"] == kind { Ok(()) } else { Err(JanusError::Unexpected { expected: kind, got: reply.clone() }) }
}

/// Checks the plugin's `videoroom` field (`created`, `joined`, `attached`…).
fn expect_plugin_reply(data: &Value, kind: &'static str) -> Result<(), JanusError> {
    if data["videoroom"] == kind { Ok(()) } else { Err(JanusError::Unexpected { expected: kind, got: data.clone() }) }
}

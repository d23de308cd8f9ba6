//! The load tool's driver for Janus's VideoRoom (issue 6): it starts Janus, makes
//! one room per workload room, and carries each participant's SDP through Janus's
//! HTTP API (`crate::janus`), so the same peers that load Confer load Janus.
//!
//! Janus never gathers candidates on loopback: the tool runs in the private network
//! of `crate::private_network`, Janus's media on [`SFU_ADDRESS`] (interface
//! [`SFU_INTERFACE`]), the peers on `PEER_ADDRESS`. apt has no network in there, so
//! the binary installs Janus first:
//!
//! ```no_run
//! use confer_tests::private_network::{is_inside, reexec_in_private_network};
//! use confer_tests::sfu_load::driver::{SfuDriver, SfuSession};
//! use confer_tests::sfu_load::janus_driver::{JanusDriver, JanusOptions};
//!
//! fn main() -> anyhow::Result<()> {
//!     let args: Vec<String> = std::env::args().skip(1).collect();
//!     if !is_inside() {
//!         confer_tests::janus::install()?;
//!     }
//!     if let Some(code) = reexec_in_private_network(&args)? {
//!         std::process::exit(code);
//!     }
//!     tokio::runtime::Runtime::new()?.block_on(async {
//!         let janus = JanusDriver::start(JanusOptions::default()).await?;
//!         let room = janus.prepare_room(0).await?;
//!         let mut alice = janus.join(&room, "alice").await?;
//!         # let offer = String::new();
//!         let answer = alice.publish(offer).await?; // give it to alice's peer, then:
//!         alice.publish_up().await?;
//!         let mut bob = janus.join(&room, "bob").await?;
//!         let offer = bob.subscribe(1).await?; // alice's audio and video
//!         # let answer = String::new();
//!         bob.answer(answer).await?;
//!         Ok::<(), anyhow::Error>(())
//!     })
//! }
//! ```
//!
//! Each participant is a Janus session of its own (as each browser is), with a
//! publisher handle and, once it subscribes, a subscriber handle receiving every
//! other feed of the room (Janus 1.x multistream: one PeerConnection). Janus refuses
//! to subscribe anyone to a publisher whose PeerConnection is not up yet (428, "No
//! such feed"), so the driver follows each publisher's `webrtcup` and a subscription
//! waits until enough other publishers are up. The sessions' long polls keep them
//! alive (Janus drops a session after 60 s without a request).

use super::driver::{DriverError, SfuDriver, SfuSession};
use crate::janus::{
    FeedId, HandleId, Janus, JanusConfig, Jsep, Notification, RoomId, RoomSpec, StreamRequest, VideoRoomClient,
    VideoRoomHandle,
};
use crate::private_network::{SFU_ADDRESS, SFU_INTERFACE};
use anyhow::{Context, bail};
use serde_json::json;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// How Janus runs and how its rooms are made.
#[derive(Debug, Clone, PartialEq)]
pub struct JanusOptions {
    /// Static event loops serving the media of all handles (`event_loops`).
    pub event_loops: u32,
    /// The video bitrate of each room (REMB to publishers), bits per second: above
    /// what the workload sends, so that Janus caps nothing.
    pub bitrate: u32,
    /// Publisher seats of each room: at least the workload's publishers per room.
    pub publishers: u32,
    /// Janus's log level, 0 (nothing) to 7.
    pub debug_level: u8,
    /// The port of Janus's HTTP API on 127.0.0.1 (of the private network).
    pub http_port: u16,
    /// The folder of Janus's configuration and log; `None`: a temporary folder,
    /// removed when the driver is dropped.
    pub dir: Option<PathBuf>,
    /// How long a request, a `webrtcup` or the publishers of a subscription are
    /// waited for.
    pub timeout: Duration,
}

impl Default for JanusOptions {
    /// Two event loops, rooms of 100 publishers at 3 Mbit/s, Janus's log at level 4
    /// (no per-packet lines), its API on port 8088, 60 s to wait.
    fn default() -> Self {
        Self {
            event_loops: 2,
            bitrate: 3_000_000,
            publishers: 100,
            debug_level: 4,
            http_port: 8088,
            dir: None,
            timeout: Duration::from_secs(60),
        }
    }
}

/// A running Janus and the rooms made on it for the workload.
pub struct JanusDriver {
    options: JanusOptions,
    rooms: Arc<Rooms>,
    /// The session and handle that create rooms.
    admin: VideoRoomHandle,
    _admin_session: VideoRoomClient,
    janus: Janus,
    /// Declared after `janus`: removed once Janus is gone.
    _dir: Option<RemovedWhenDropped>,
}

impl JanusDriver {
    /// Starts Janus (see `crate::janus::Janus::start`) with its media on
    /// [`SFU_ADDRESS`] of [`SFU_INTERFACE`] and its API on 127.0.0.1. This
    /// process runs in the private network already, and Janus is installed (both
    /// are done before: see the module documentation).
    pub async fn start(options: JanusOptions) -> anyhow::Result<Self> {
        let temporary = options.dir.is_none();
        let dir = options
            .dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join(format!("confer-janus-{}", uuid::Uuid::new_v4().simple())));
        let removed = temporary.then(|| RemovedWhenDropped(dir.clone()));
        let mut config = JanusConfig::new(&dir).on(SFU_INTERFACE, SFU_ADDRESS);
        config.event_loops = options.event_loops;
        config.debug_level = options.debug_level;
        config.http_port = options.http_port;
        let janus = Janus::start(&config).await.context(
            "start Janus (installed beforehand with confer_tests::janus::install(), in the private network \
             of confer_tests::private_network)",
        )?;
        let admin_session = VideoRoomClient::connect_with_timeout(janus.api_url(), options.timeout)
            .await
            .context("a Janus session to create rooms")?;
        let admin = admin_session.attach().await.context("a VideoRoom handle to create rooms")?;
        let (rooms, _) = watch::channel(HashMap::new());
        Ok(Self { options, rooms: Arc::new(rooms), admin, _admin_session: admin_session, janus, _dir: removed })
    }

    /// The options Janus runs with.
    pub fn options(&self) -> &JanusOptions {
        &self.options
    }

    /// Where Janus's output goes.
    pub fn log_path(&self) -> &std::path::Path {
        self.janus.log_path()
    }

    /// The last `lines` lines of Janus's output, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        self.janus.log_tail(lines)
    }
}

impl SfuDriver for JanusDriver {
    type Session = JanusSession;

    fn name(&self) -> &'static str {
        "janus"
    }

    fn pid(&self) -> u32 {
        self.janus.pid()
    }

    /// Creates a VideoRoom room: Opus and VP8 only, video up to
    /// [`JanusOptions::bitrate`], [`JanusOptions::publishers`] seats, nothing
    /// recorded, no event when someone joins without publishing.
    async fn prepare_room(&self, room: usize) -> Result<String, DriverError> {
        let mut spec = RoomSpec::opus_vp8(self.options.publishers, self.options.bitrate);
        spec.description = format!("confer load room {room}");
        spec.extra.insert("record".into(), json!(false));
        spec.extra.insert("notify_joining".into(), json!(false));
        let id = self.admin.create_room(&spec).await.with_context(|| format!("create Janus room for room {room}"))?;
        self.rooms.send_modify(|rooms| {
            rooms.insert(id, Vec::new());
        });
        Ok(id.0.to_string())
    }

    /// A new Janus session with a VideoRoom handle that will publish.
    async fn join(&self, room: &str, name: &str) -> Result<JanusSession, DriverError> {
        let id = RoomId(room.parse().with_context(|| format!("'{room}' is not a Janus room id"))?);
        let context = || format!("join {name} to Janus room {room}");
        let client = VideoRoomClient::connect_with_timeout(self.janus.api_url(), self.options.timeout)
            .await
            .with_context(context)?;
        // Before anything is published: no webrtcup can come before we listen.
        let notifications = client.notifications();
        let publisher = client.attach().await.with_context(context)?;
        let watcher = tokio::spawn(follow_publisher(notifications, publisher.id(), self.rooms.clone()));
        Ok(JanusSession {
            room: id,
            name: name.to_owned(),
            timeout: self.options.timeout,
            rooms: self.rooms.clone(),
            watcher,
            publisher,
            feed: None,
            subscriber: None,
            subscribed: Vec::new(),
            client: Some(client),
        })
    }
}

/// One participant's Janus session: see the module documentation. Dropping it ends
/// the session on Janus (its PeerConnections close).
pub struct JanusSession {
    room: RoomId,
    name: String,
    timeout: Duration,
    rooms: Arc<Rooms>,
    /// Follows the publisher handle's `webrtcup` and `hangup` into `rooms`.
    watcher: JoinHandle<()>,
    publisher: VideoRoomHandle,
    /// Our feed, once published.
    feed: Option<FeedId>,
    subscriber: Option<VideoRoomHandle>,
    /// The feeds the subscriber handle receives.
    subscribed: Vec<FeedId>,
    /// `None` only while dropped.
    client: Option<VideoRoomClient>,
}

impl JanusSession {
    /// The feed this session publishes, once it does.
    pub fn feed(&self) -> Option<FeedId> {
        self.feed
    }

    /// The feeds it subscribed to (every other publisher up when it did).
    pub fn subscribed(&self) -> &[FeedId] {
        &self.subscribed
    }

    fn describe(&self) -> String {
        match self.feed {
            Some(feed) => format!("{} (feed {}) in Janus room {}", self.name, feed.0, self.room.0),
            None => format!("{} in Janus room {}", self.name, self.room.0),
        }
    }
}

impl SfuSession for JanusSession {
    /// Joins the room as a publisher and `configure`s with `offer` (complete with
    /// candidates: no trickle); returns Janus's answer.
    async fn publish(&mut self, offer: String) -> Result<String, DriverError> {
        if self.feed.is_some() {
            bail!("{} publishes already", self.describe());
        }
        let joined = self
            .publisher
            .join_publisher(self.room, &self.name)
            .await
            .with_context(|| format!("join {} as a publisher", self.describe()))?;
        self.feed = Some(joined.feed);
        // Listed before Janus answers: its webrtcup finds it.
        let feed =
            Feed { name: self.name.clone(), feed: joined.feed, handle: self.publisher.id(), state: State::Offered };
        self.rooms.send_modify(|rooms| rooms.entry(self.room).or_default().push(feed));
        let published = self
            .publisher
            .configure(&Jsep::offer(offer).without_trickle())
            .await
            .with_context(|| format!("publish {}", self.describe()))?;
        Ok(published.answer.sdp)
    }

    /// Waits for Janus's `webrtcup` of our publisher handle (ICE and DTLS done).
    async fn publish_up(&mut self) -> Result<(), DriverError> {
        let Some(feed) = self.feed else { bail!("{} has not published", self.describe()) };
        let mut changes = self.rooms.subscribe();
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let state = feed_state(&changes.borrow_and_update(), self.room, feed);
            match state {
                Some(State::Up) => return Ok(()),
                Some(State::Gone(reason)) => bail!("Janus hung up on {} before it was up: {reason}", self.describe()),
                Some(State::Offered) => {}
                None => bail!("{} is no longer listed", self.describe()),
            }
            if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
                bail!("Janus's PeerConnection with {} was not up within {:?}", self.describe(), self.timeout);
            }
        }
    }

    /// Waits until `publishers` other publishers of the room are up, then joins a
    /// subscriber handle to all their streams (every other publisher up by then);
    /// returns Janus's offer.
    async fn subscribe(&mut self, publishers: usize) -> Result<String, DriverError> {
        if self.subscriber.is_some() {
            bail!("{} subscribes already", self.describe());
        }
        if publishers == 0 {
            bail!("{} has nobody to subscribe to (Janus takes no empty subscription)", self.describe());
        }
        let feeds = self.others_up(publishers).await?;
        let client = self.client.as_ref().context("the session is closed")?;
        let subscriber =
            client.attach().await.with_context(|| format!("a subscriber handle of {}", self.describe()))?;
        let streams: Vec<StreamRequest> = feeds.iter().map(|feed| StreamRequest::all_of(*feed)).collect();
        let subscribed = subscriber.join_subscriber(self.room, &streams).await.with_context(|| {
            let feeds: Vec<u64> = feeds.iter().map(|f| f.0).collect();
            format!("subscribe {} to feeds {feeds:?}", self.describe())
        })?;
        self.subscriber = Some(subscriber);
        self.subscribed = feeds;
        Ok(subscribed.offer.sdp)
    }

    /// `start`s the subscription with our answer (complete with candidates).
    async fn answer(&mut self, answer: String) -> Result<(), DriverError> {
        let Some(subscriber) = &self.subscriber else { bail!("{} has not subscribed", self.describe()) };
        subscriber
            .start(&Jsep::answer(answer).without_trickle())
            .await
            .with_context(|| format!("answer the subscription of {}", self.describe()))?;
        Ok(())
    }
}

impl JanusSession {
    /// The feeds of the room other than ours that are up, once there are `wanted`.
    async fn others_up(&self, wanted: usize) -> anyhow::Result<Vec<FeedId>> {
        let mut changes = self.rooms.subscribe();
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let (up, listed) = {
                let rooms = changes.borrow_and_update();
                let others: Vec<&Feed> = rooms
                    .get(&self.room)
                    .map(|feeds| feeds.iter().filter(|f| Some(f.feed) != self.feed).collect())
                    .unwrap_or_default();
                let up: Vec<FeedId> = others.iter().filter(|f| f.state == State::Up).map(|f| f.feed).collect();
                (up, others.iter().map(|f| f.to_string()).collect::<Vec<_>>())
            };
            if up.len() >= wanted {
                return Ok(up);
            }
            if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
                bail!(
                    "{} waited {:?} for {wanted} other publishers to be up; the room has [{}]",
                    self.describe(),
                    self.timeout,
                    listed.join(", ")
                );
            }
        }
    }
}

impl Drop for JanusSession {
    fn drop(&mut self) {
        self.watcher.abort();
        let (room, handle) = (self.room, self.publisher.id());
        self.rooms.send_modify(|rooms| {
            if let Some(feeds) = rooms.get_mut(&room) {
                feeds.retain(|f| f.handle != handle);
            }
        });
        // Ends the session now rather than by Janus's timeout, when a runtime is there
        // to send the request.
        if let (Some(client), Ok(runtime)) = (self.client.take(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(async move {
                let _ = client.destroy().await;
            });
        }
    }
}

/// The publishers of each room, and whether Janus has their PeerConnection up. A
/// `watch` so that waiters wake on every change; borrowed only briefly, never across
/// an await.
type Rooms = watch::Sender<HashMap<RoomId, Vec<Feed>>>;

/// A publisher of a room.
#[derive(Debug, Clone)]
struct Feed {
    name: String,
    feed: FeedId,
    /// Its publisher handle, the `sender` of its notifications.
    handle: HandleId,
    state: State,
}

impl fmt::Display for Feed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (feed {}, {:?})", self.name, self.feed.0, self.state)
    }
}

/// Where a publisher's PeerConnection is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Janus has its offer (and answered it).
    Offered,
    /// Janus said `webrtcup`: subscribers may have it.
    Up,
    /// Janus said `hangup`, for this reason.
    Gone(String),
}

fn feed_state(rooms: &HashMap<RoomId, Vec<Feed>>, room: RoomId, feed: FeedId) -> Option<State> {
    rooms.get(&room)?.iter().find(|f| f.feed == feed).map(|f| f.state.clone())
}

/// Records the `webrtcup` and `hangup` of publisher handle `handle` in `rooms`,
/// until the session's notifications end.
async fn follow_publisher(mut notifications: broadcast::Receiver<Notification>, handle: HandleId, rooms: Arc<Rooms>) {
    loop {
        let state = match notifications.recv().await {
            Ok(Notification::WebRtcUp { handle: of }) if of == handle => State::Up,
            Ok(Notification::Hangup { handle: of, reason }) if of == handle => State::Gone(reason),
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        rooms.send_if_modified(|rooms| {
            let feed = rooms.values_mut().flat_map(|feeds| feeds.iter_mut()).find(|f| f.handle == handle);
            match feed {
                Some(feed) if feed.state != state => {
                    feed.state = state.clone();
                    true
                }
                _ => false,
            }
        });
    }
}

/// A folder removed when dropped.
struct RemovedWhenDropped(PathBuf);

impl Drop for RemovedWhenDropped {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

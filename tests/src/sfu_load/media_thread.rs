//! The one OS thread that drives every load peer, and the handle signaling (async,
//! on tokio) uses to reach it.
//!
//! Each turn of the loop: take commands, send the media that is due, fire the
//! connections' due timers, then wait on epoll (mio) until a socket is readable or
//! the next due moment (at most 1 ms), and read every readable socket dry. No task,
//! channel or lock per packet: only SDP and statistics cross threads, through a
//! command queue and one-shot replies.

use super::peer::{LoadPeer, Role, Scratch};
use super::proc_stats::{CpuMark, Process};
use super::receiver_stats::{DelayHistogram, ReceiverStats};
use super::synthetic_media::VideoShape;
use anyhow::Context;
use rtc::peer_connection::state::RTCPeerConnectionState;
use std::net::IpAddr;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A peer of the media thread.
pub type PeerId = usize;

/// The longest the loop sleeps.
const MAX_WAIT: Duration = Duration::from_millis(1);
/// The poll token that means "commands are waiting".
const WAKE: mio::Token = mio::Token(usize::MAX);

/// How one peer is doing.
#[derive(Debug, Clone)]
pub struct PeerStatus {
    /// Its connection's state.
    pub state: RTCPeerConnectionState,
    /// For a subscriber: every stream it should receive has started and delivered
    /// since the last window began. Publishers: whether media is being sent.
    pub flowing: bool,
}

/// What a publisher sent during a window.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// The publisher's number.
    pub index: u32,
    /// Audio packets.
    pub audio: u64,
    /// Video packets.
    pub video: u64,
    /// Keyframes.
    pub keyframes: u64,
    /// Keyframe requests received.
    pub keyframe_requests: u64,
}

/// Everything measured in one window.
#[derive(Debug, Clone)]
pub struct WindowStats {
    /// Length of the window as the media thread saw it.
    pub seconds: f64,
    /// One per subscribe connection, in the order they were added.
    pub receivers: Vec<ReceiverStats>,
    /// One per publisher, in the order they were added.
    pub published: Vec<Published>,
    /// Added delay of every counted packet.
    pub delays: DelayHistogram,
    /// CPU time of the media thread.
    pub thread_cpu_seconds: f64,
    /// The latest any packet was sent against its schedule.
    pub max_lag: Duration,
    /// Datagrams the tool failed to send.
    pub send_errors: u64,
    /// Datagrams received by all peers.
    pub datagrams_in: u64,
    /// Datagrams sent by all peers.
    pub datagrams_out: u64,
}

type Reply<T> = oneshot::Sender<anyhow::Result<T>>;

enum Command {
    AddPublisher { name: String, index: u32, shape: VideoShape, reply: Reply<(PeerId, String)> },
    SetAnswer { peer: PeerId, sdp: String, reply: Reply<()> },
    AddSubscriber { offer: String, stats: ReceiverStats, reply: Reply<(PeerId, String)> },
    Status { reply: Reply<Vec<PeerStatus>> },
    StartWindow { reply: Reply<()> },
    EndWindow { reply: Reply<WindowStats> },
    Stop,
}

/// The media thread, stopped when dropped.
pub struct MediaThread {
    commands: mpsc::Sender<Command>,
    waker: Arc<mio::Waker>,
    thread: Option<JoinHandle<()>>,
}

impl MediaThread {
    /// Starts the thread; its peers bind sockets on `local_ip`.
    pub fn start(local_ip: IpAddr) -> anyhow::Result<Self> {
        let poll = mio::Poll::new().context("create an epoll instance")?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKE)?);
        let (commands, inbox) = mpsc::channel();
        let mut event_loop = EventLoop {
            poll,
            inbox,
            local_ip,
            peers: Vec::new(),
            scratch: Scratch::default(),
            window: None,
            next_scan: Instant::now(),
        };
        let thread = std::thread::Builder::new().name("sfu-load-media".into()).spawn(move || event_loop.run())?;
        Ok(Self { commands, waker, thread: Some(thread) })
    }

    async fn ask<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> anyhow::Result<T> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(command(reply)).map_err(|_| anyhow::anyhow!("the media thread has stopped"))?;
        self.waker.wake()?;
        answer.await.map_err(|_| anyhow::anyhow!("the media thread has stopped"))?
    }

    /// A new publisher (number `index`, stream ids `name`); returns its id and offer.
    pub async fn add_publisher(&self, name: &str, index: u32, shape: VideoShape) -> anyhow::Result<(PeerId, String)> {
        self.ask(|reply| Command::AddPublisher { name: name.to_owned(), index, shape, reply }).await
    }

    /// Applies the SFU's answer to publisher `peer`'s offer.
    pub async fn set_answer(&self, peer: PeerId, sdp: String) -> anyhow::Result<()> {
        self.ask(|reply| Command::SetAnswer { peer, sdp, reply }).await
    }

    /// A new subscriber answering `offer`, counting into `stats`; returns its id and answer.
    pub async fn add_subscriber(&self, offer: String, stats: ReceiverStats) -> anyhow::Result<(PeerId, String)> {
        self.ask(|reply| Command::AddSubscriber { offer, stats, reply }).await
    }

    /// Every peer's state, by id.
    pub async fn status(&self) -> anyhow::Result<Vec<PeerStatus>> {
        self.ask(|reply| Command::Status { reply }).await
    }

    /// Zeroes every count: the measurement window starts now.
    pub async fn start_window(&self) -> anyhow::Result<()> {
        self.ask(|reply| Command::StartWindow { reply }).await
    }

    /// Ends the window and returns what was measured in it.
    pub async fn end_window(&self) -> anyhow::Result<WindowStats> {
        self.ask(|reply| Command::EndWindow { reply }).await
    }
}

impl Drop for MediaThread {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Stop);
        let _ = self.waker.wake();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Where a window started.
struct WindowStart {
    at: Instant,
    cpu: Option<CpuMark>,
    published: Vec<Published>,
}

struct EventLoop {
    poll: mio::Poll,
    inbox: mpsc::Receiver<Command>,
    local_ip: IpAddr,
    peers: Vec<LoadPeer>,
    scratch: Scratch,
    window: Option<WindowStart>,
    /// When media or a timer is next due.
    next_scan: Instant,
}

impl EventLoop {
    fn run(&mut self) {
        let mut events = mio::Events::with_capacity(1024);
        loop {
            loop {
                match self.inbox.try_recv() {
                    Ok(Command::Stop) | Err(mpsc::TryRecvError::Disconnected) => return,
                    Ok(command) => {
                        self.command(command);
                        // A new peer or description may have timers due at once.
                        self.next_scan = Instant::now();
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                }
            }
            let now = Instant::now();
            if now >= self.next_scan {
                self.scan(now);
            }
            let wait = self.next_scan.saturating_duration_since(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, Some(wait))
                && e.kind() != std::io::ErrorKind::Interrupted
            {
                eprintln!("sfu-load: epoll failed: {e}");
                return;
            }
            for event in &events {
                if let Some(peer) = self.peers.get_mut(event.token().0) {
                    peer.receive(&mut self.scratch);
                    // What came in may have brought a timer forward.
                    if let Some(due) = peer.next_timeout() {
                        self.next_scan = self.next_scan.min(due);
                    }
                }
            }
        }
    }

    /// Sends the media that is due and fires the due timers, and notes when the
    /// next of either is due (at most [`MAX_WAIT`] from now). Between scans, only
    /// readable sockets are touched: the loop costs nothing per idle peer.
    fn scan(&mut self, now: Instant) {
        let mut next = now + MAX_WAIT;
        for peer in &mut self.peers {
            if let Some(due) = peer.next_media() {
                if due <= now {
                    // Stamped with the moment it goes, not the scan's start.
                    peer.send_media(Instant::now(), &mut self.scratch);
                }
                next = next.min(peer.next_media().unwrap_or(next));
            }
            peer.fire_timers(now, &mut self.scratch);
            next = next.min(peer.next_timeout().unwrap_or(next));
        }
        self.next_scan = next;
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::AddPublisher { name, index, shape, reply } => {
                let added = LoadPeer::publisher(self.local_ip, &name, index, shape)
                    .and_then(|(p, sdp)| Ok((self.add(p)?, sdp)));
                let _ = reply.send(added);
            }
            Command::SetAnswer { peer, sdp, reply } => {
                let applied = match self.peers.get_mut(peer) {
                    Some(p) => p.set_answer(&sdp, &mut self.scratch),
                    None => Err(anyhow::anyhow!("no peer {peer}")),
                };
                let _ = reply.send(applied);
            }
            Command::AddSubscriber { offer, stats, reply } => {
                let added =
                    LoadPeer::subscriber(self.local_ip, &offer, stats).and_then(|(p, sdp)| Ok((self.add(p)?, sdp)));
                let _ = reply.send(added);
            }
            Command::Status { reply } => {
                let _ = reply.send(Ok(self.peers.iter().map(status).collect()));
            }
            Command::StartWindow { reply } => {
                self.start_window();
                let _ = reply.send(Ok(()));
            }
            Command::EndWindow { reply } => {
                let _ = reply.send(self.end_window());
            }
            Command::Stop => {}
        }
    }

    fn add(&mut self, mut peer: LoadPeer) -> anyhow::Result<PeerId> {
        let id = self.peers.len();
        self.poll.registry().register(peer.socket_mut(), mio::Token(id), mio::Interest::READABLE)?;
        self.peers.push(peer);
        Ok(id)
    }

    fn published(&self) -> Vec<Published> {
        self.peers
            .iter()
            .filter_map(|peer| match &peer.role {
                Role::Publisher(p) => {
                    let (audio, video) = p.sent();
                    Some(Published {
                        index: p.index,
                        audio,
                        video,
                        keyframes: p.keyframes(),
                        keyframe_requests: p.keyframe_requests,
                    })
                }
                Role::Subscriber(_) => None,
            })
            .collect()
    }

    fn start_window(&mut self) {
        for peer in &mut self.peers {
            if let Role::Subscriber(s) = &mut peer.role {
                s.stats.reset();
            }
        }
        self.scratch.reset();
        let cpu = CpuMark::now(Process::ThisThread).ok();
        self.window = Some(WindowStart { at: Instant::now(), cpu, published: self.published() });
    }

    fn end_window(&mut self) -> anyhow::Result<WindowStats> {
        let start = self.window.take().context("no window was started")?;
        let thread_cpu_seconds = start.cpu.and_then(|cpu| cpu.seconds_since().ok()).unwrap_or(0.0);
        let published = self
            .published()
            .into_iter()
            .zip(&start.published)
            .map(|(end, start)| Published {
                index: end.index,
                audio: end.audio - start.audio,
                video: end.video - start.video,
                keyframes: end.keyframes - start.keyframes,
                keyframe_requests: end.keyframe_requests - start.keyframe_requests,
            })
            .collect();
        let receivers = self
            .peers
            .iter()
            .filter_map(|peer| match &peer.role {
                Role::Subscriber(s) => Some(s.stats.clone()),
                Role::Publisher(_) => None,
            })
            .collect();
        Ok(WindowStats {
            seconds: start.at.elapsed().as_secs_f64(),
            receivers,
            published,
            delays: self.scratch.delays.clone(),
            thread_cpu_seconds,
            max_lag: self.scratch.max_lag,
            send_errors: self.scratch.send_errors,
            datagrams_in: self.scratch.datagrams_in,
            datagrams_out: self.scratch.datagrams_out,
        })
    }
}

fn status(peer: &LoadPeer) -> PeerStatus {
    let flowing = match &peer.role {
        Role::Subscriber(s) => s.stats.all_flowing(),
        Role::Publisher(p) => p.sent() != (0, 0),
    };
    PeerStatus { state: peer.state(), flowing }
}

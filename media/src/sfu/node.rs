//! The event loops that own the node's connections, and the handle that signaling
//! uses to reach them.
//!
//! One loop per core, each a thread with its own UDP socket, and no task, channel
//! or lock per connection or packet. Datagrams are read in batches (`ReceiveBatch`);
//! each is routed (`IceDemux`), handed to its connection, and whatever that
//! produces (events, decrypted RTP to forward) is handled before the next one; the
//! datagrams they all make the node send go out together before the loop waits
//! again (`SendBatch`). A room lives on one loop (chosen by its name), so
//! forwarding never crosses threads. Signaling talks to each loop through one
//! bounded command queue, and wakes it with an empty datagram to its socket: an
//! idle loop sleeps until its connections' next timer (at most `IDLE_WAIT`).

use super::SfuError;
use super::active_speaker::{AUDIO_LEVEL_URI, ActiveSpeaker, EVALUATION_INTERVAL, SpeakerDetector};
use super::forwarding::{PublishedTrack, Routes, Subscription, TrackKey, copy_for};
use super::ice_demux::{ConnId, IceDemux};
use super::peer;
use super::receive_batch::ReceiveBatch;
use super::send_batch::SendBatch;
use super::track_source::TrackSource;
use bytes::BytesMut;
use rand::Rng;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::RTCPeerConnection;
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent};
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The longest a loop sleeps when no connection has a timer sooner.
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// Largest datagram read.
const MAX_DATAGRAM: usize = 2048;
/// Datagrams sent per `sendmmsg` at most (Linux's UIO_MAXIOV is 1024).
const SEND_BATCH: usize = 256;
/// Datagrams read per `recvmmsg` at most.
const RECEIVE_BATCH: usize = 32;
/// Each loop socket's kernel buffers, bytes (the kernel caps them at
/// `net.core.rmem_max`/`wmem_max`). The default 208 KiB holds about 270 datagrams:
/// while hundreds of participants join at once, the handshakes keep the loop busy
/// long enough for their retransmissions and ICE checks to overflow it.
const SOCKET_BUFFER: usize = 4 << 20;
/// Commands that may wait for the loop before signaling is told it is busy.
const COMMAND_QUEUE: usize = 1024;
/// Speaker changes queued for signaling before further ones are dropped.
const SPEAKER_QUEUE: usize = 256;
/// How often every connection is asked again when it next needs `handle_timeout`.
/// In between, the loop uses the deadline each connection gave when last serviced;
/// writing forwarded media to a connection can only arm a later timer (its first
/// sender report), which this catches.
const DEADLINE_REFRESH: Duration = Duration::from_millis(100);

/// Each room's new active speaker, as the node detects it.
pub type SpeakerChanges = tokio::sync::mpsc::Receiver<ActiveSpeaker>;

/// Where the node listens and what address it tells clients to send to.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// The UDP address of the first loop; loop `i` binds port + `i` (port 0: each
    /// loop any free port).
    pub bind: SocketAddr,
    /// The address in the node's ICE candidate, when clients must use another one
    /// than the bound address (NAT, a public IP).
    pub advertised_ip: Option<std::net::IpAddr>,
    /// Event loops (threads, each with its own socket); rooms are spread over them.
    /// At least one.
    pub loops: usize,
    /// Send a run of packets to one peer as one UDP GSO send (the kernel still
    /// turns it down if it cannot, and the loop then sends them one by one).
    pub udp_gso: bool,
}

impl SfuConfig {
    /// One loop per core, on `bind`, advertising the bound address.
    pub fn per_core(bind: SocketAddr) -> Self {
        let loops = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self { bind, advertised_ip: None, loops, udp_gso: true }
    }
}

/// Starts media nodes.
pub struct SfuNode;

impl SfuNode {
    /// Binds the sockets and starts the event loops, each on its own thread. Returns
    /// the handle signaling drives them with, and the active-speaker changes they report.
    pub fn start(config: SfuConfig) -> Result<(SfuHandle, SpeakerChanges), SfuError> {
        let (speaker_changes, speakers_out) = tokio::sync::mpsc::channel(SPEAKER_QUEUE);
        let mut loops = Vec::new();
        for index in 0..config.loops.max(1) {
            let port = match config.bind.port() {
                0 => 0,
                first => u16::try_from(index)
                    .ok()
                    .and_then(|i| first.checked_add(i))
                    .ok_or_else(|| std::io::Error::new(ErrorKind::InvalidInput, "the media ports run past 65535"))?,
            };
            let socket = UdpSocket::bind(SocketAddr::new(config.bind.ip(), port))?;
            enlarge_buffers(&socket);
            loops.push(Self::start_loop(index, socket, &config, speaker_changes.clone())?);
        }
        Ok((SfuHandle { loops: loops.into() }, speakers_out))
    }

    fn start_loop(
        index: usize,
        socket: UdpSocket,
        config: &SfuConfig,
        speaker_changes: tokio::sync::mpsc::Sender<ActiveSpeaker>,
    ) -> Result<LoopHandle, SfuError> {
        let bound = socket.local_addr()?;
        let advertised = SocketAddr::new(config.advertised_ip.unwrap_or(bound.ip()), bound.port());
        let udp_gso = config.udp_gso;
        let (commands, inbox) = mpsc::sync_channel(COMMAND_QUEUE);
        // Built on its thread: the send batch's system-call headers hold raw pointers
        // and stay on the thread that uses them.
        std::thread::Builder::new().name(format!("sfu-loop-{index}")).spawn(move || {
            EventLoop {
                socket,
                advertised,
                inbox,
                conns: FxHashMap::default(),
                participants: HashMap::new(),
                next_conn: 1,
                demux: IceDemux::default(),
                routes: Routes::default(),
                speakers: SpeakerDetector::default(),
                speaker_changes,
                next_speaker_evaluation: Instant::now() + EVALUATION_INTERVAL,
                next_timer: Instant::now(),
                next_deadline_refresh: Instant::now(),
                read_timeout: Duration::ZERO,
                pending: Vec::new(),
                written: Vec::new(),
                due: Vec::new(),
                outgoing: SendBatch::new(SEND_BATCH, udp_gso),
            }
            .run()
        })?;
        tracing::info!(loop_index = index, %bound, %advertised, "media loop listening");
        Ok(LoopHandle { commands, addr: advertised, alarm: LoopAlarm::for_loop(bound)? })
    }
}

/// Asks for `SOCKET_BUFFER` each way: past `net.core.rmem_max`/`wmem_max` where the
/// node may (CAP_NET_ADMIN), else up to them. A smaller grant is logged with the fix.
fn enlarge_buffers(socket: &UdpSocket) {
    use nix::sys::socket::{getsockopt, setsockopt, sockopt};
    let receive = setsockopt(socket, sockopt::RcvBufForce, &SOCKET_BUFFER)
        .or_else(|_| setsockopt(socket, sockopt::RcvBuf, &SOCKET_BUFFER))
        .and_then(|()| getsockopt(socket, sockopt::RcvBuf));
    let send = setsockopt(socket, sockopt::SndBufForce, &SOCKET_BUFFER)
        .or_else(|_| setsockopt(socket, sockopt::SndBuf, &SOCKET_BUFFER))
        .and_then(|()| getsockopt(socket, sockopt::SndBuf));
    for (name, sysctl, granted) in [("receive", "net.core.rmem_max", receive), ("send", "net.core.wmem_max", send)] {
        match granted {
            // The kernel reports twice what it was asked for (its bookkeeping share).
            Ok(granted) if granted >= SOCKET_BUFFER => tracing::debug!(buffer = name, granted, "media socket buffer"),
            Ok(granted) => tracing::warn!(
                buffer = name,
                granted,
                wanted = SOCKET_BUFFER,
                "media socket buffer smaller than wanted: raise {sysctl} (sysctl) so that many joining at once are not dropped"
            ),
            Err(e) => tracing::warn!(buffer = name, error = %e, "cannot enlarge a media socket buffer"),
        }
    }
}

struct LoopHandle {
    commands: mpsc::SyncSender<Command>,
    addr: SocketAddr,
    alarm: LoopAlarm,
}

/// Wakes a loop that sleeps in its socket read, so that a command is handled at once:
/// an empty datagram from a socket of our own (the loop ignores empty datagrams).
struct LoopAlarm {
    socket: UdpSocket,
}

impl LoopAlarm {
    /// An alarm for the loop whose socket is bound to `bound` (an unspecified
    /// address is reached on loopback).
    fn for_loop(bound: SocketAddr) -> std::io::Result<Self> {
        let (any, loopback): (std::net::IpAddr, std::net::IpAddr) = match bound {
            SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED.into(), std::net::Ipv4Addr::LOCALHOST.into()),
            SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED.into(), std::net::Ipv6Addr::LOCALHOST.into()),
        };
        let target = if bound.ip().is_unspecified() { SocketAddr::new(loopback, bound.port()) } else { bound };
        let socket = UdpSocket::bind(SocketAddr::new(any, 0))?;
        socket.connect(target)?;
        socket.set_nonblocking(true)?;
        Ok(Self { socket })
    }

    fn ring(&self) {
        // A full socket buffer means the loop is busy reading: it sees the command anyway.
        if let Err(e) = self.socket.send(&[]) {
            tracing::debug!(error = %e, "cannot wake a media loop");
        }
    }
}

/// Signaling's way into the event loops. Cheap to clone.
#[derive(Clone)]
pub struct SfuHandle {
    loops: std::sync::Arc<[LoopHandle]>,
}

/// What the node tells a subscriber after the first offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriberUpdate {
    /// Tracks were added or removed: answer this offer with `answer_subscription`.
    Offer(String),
}

/// Updates for one subscriber, in order. Bounded: a subscriber that stops reading
/// misses updates rather than stalling the node.
pub type SubscriberUpdates = tokio::sync::mpsc::Receiver<SubscriberUpdate>;

/// Updates queued per subscriber before further ones are dropped.
const UPDATE_QUEUE: usize = 64;

type Subscribed = (String, SubscriberUpdates);

/// A participant of one room: media is only ever forwarded between seats of the same room.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Seat {
    /// The room.
    pub room: String,
    /// The participant, unique within the room.
    pub participant: String,
}

impl Seat {
    /// The seat of `participant` in `room`.
    pub fn new(room: &str, participant: &str) -> Self {
        Self { room: room.to_owned(), participant: participant.to_owned() }
    }
}

enum Command {
    Publish { seat: Seat, source: TrackSource, offer: String, reply: oneshot::Sender<Result<String, SfuError>> },
    Unpublish { seat: Seat, source: TrackSource },
    Subscribe { seat: Seat, reply: oneshot::Sender<Result<Subscribed, SfuError>> },
    Answer { seat: Seat, answer: String, reply: oneshot::Sender<Result<(), SfuError>> },
    Leave { seat: Seat },
    Stop,
}

impl SfuHandle {
    /// The addresses clients send media to, one per loop.
    pub fn media_addrs(&self) -> Vec<SocketAddr> {
        self.loops.iter().map(|l| l.addr).collect()
    }

    /// The address participants of `room` send media to (its loop's socket).
    pub fn media_addr_of(&self, room: &str) -> SocketAddr {
        self.loop_of(room).addr
    }

    /// The loop a room lives on: a stable hash of its name, so every seat of a room
    /// (and every packet between them) stays on one thread.
    fn loop_of(&self, room: &str) -> &LoopHandle {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        room.hash(&mut hasher);
        let index = usize::try_from(hasher.finish() % self.loops.len() as u64).unwrap_or(0);
        &self.loops[index]
    }

    fn send(&self, command: Command) -> Result<(), SfuError> {
        let target = match &command {
            Command::Publish { seat, .. }
            | Command::Unpublish { seat, .. }
            | Command::Subscribe { seat, .. }
            | Command::Answer { seat, .. }
            | Command::Leave { seat } => self.loop_of(&seat.room),
            Command::Stop => return Err(SfuError::Stopped),
        };
        target.commands.try_send(command).map_err(|_| SfuError::Stopped)?;
        target.alarm.ring();
        Ok(())
    }

    /// A participant offers the tracks it publishes from `source`; answers with the
    /// node's SDP. Publishing a source again replaces its earlier connection.
    pub async fn publish(&self, seat: &Seat, source: TrackSource, offer_sdp: String) -> Result<String, SfuError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Publish { seat: seat.clone(), source, offer: offer_sdp, reply })?;
        answer.await.map_err(|_| SfuError::Stopped)?
    }

    /// Stops publishing `source` (a screen share ends): its connection closes and
    /// subscribers lose its tracks.
    pub fn unpublish(&self, seat: &Seat, source: TrackSource) -> Result<(), SfuError> {
        self.send(Command::Unpublish { seat: seat.clone(), source })
    }

    /// Opens (or reopens) a participant's subscribe connection carrying every track
    /// the others publish now. Returns the node's offer for the client to answer, and
    /// the updates (new offers) that follow as others start or stop publishing.
    pub async fn subscribe(&self, seat: &Seat) -> Result<(String, SubscriberUpdates), SfuError> {
        let (reply, offer) = oneshot::channel();
        self.send(Command::Subscribe { seat: seat.clone(), reply })?;
        offer.await.map_err(|_| SfuError::Stopped)?
    }

    /// The client's answer to the node's subscribe offer.
    pub async fn answer_subscription(&self, seat: &Seat, answer_sdp: String) -> Result<(), SfuError> {
        let (reply, done) = oneshot::channel();
        self.send(Command::Answer { seat: seat.clone(), answer: answer_sdp, reply })?;
        done.await.map_err(|_| SfuError::Stopped)?
    }

    /// Closes a participant's connections and stops forwarding to and from them.
    pub fn leave(&self, seat: &Seat) {
        let _ = self.send(Command::Leave { seat: seat.clone() });
    }

    /// Stops the event loops.
    pub fn stop(&self) {
        for l in self.loops.iter() {
            let _ = l.commands.try_send(Command::Stop);
            l.alarm.ring();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Publish(TrackSource),
    Subscribe,
}

struct Conn {
    pc: RTCPeerConnection,
    seat: Seat,
    direction: Direction,
    /// Subscribe connections: where new offers go.
    updates: Option<tokio::sync::mpsc::Sender<SubscriberUpdate>>,
    /// An offer is out and its answer has not come back.
    offer_pending: bool,
    /// Tracks changed while an offer was out: offer again after the answer.
    renegotiate_after_answer: bool,
    /// ICE and DTLS are up: packets can be protected and sent. Until then nothing is
    /// forwarded to it (rtc would refuse each packet, after doing the work).
    connected: bool,
    /// When rtc next wants `handle_timeout`, as it said when last serviced.
    deadline: Option<Instant>,
    /// Forwarded media was written to it and is not collected yet (it is in `written`).
    written: bool,
}

#[derive(Default)]
struct Participant {
    camera: Option<ConnId>,
    screen: Option<ConnId>,
    subscribe: Option<ConnId>,
}

impl Participant {
    fn slot(&mut self, direction: Direction) -> &mut Option<ConnId> {
        match direction {
            Direction::Publish(TrackSource::Camera) => &mut self.camera,
            Direction::Publish(TrackSource::Screen) => &mut self.screen,
            Direction::Subscribe => &mut self.subscribe,
        }
    }

    fn conns(&self) -> impl Iterator<Item = ConnId> {
        [self.camera, self.screen, self.subscribe].into_iter().flatten()
    }
}

struct EventLoop {
    socket: UdpSocket,
    advertised: SocketAddr,
    inbox: mpsc::Receiver<Command>,
    /// Looked up several times per forwarded packet; the keys are the node's own.
    conns: FxHashMap<ConnId, Conn>,
    participants: HashMap<Seat, Participant>,
    next_conn: ConnId,
    demux: IceDemux,
    routes: Routes,
    speakers: SpeakerDetector,
    speaker_changes: tokio::sync::mpsc::Sender<ActiveSpeaker>,
    next_speaker_evaluation: Instant,
    /// The earliest timer deadline known among the connections.
    next_timer: Instant,
    /// When every connection's deadline is asked again (`DEADLINE_REFRESH`).
    next_deadline_refresh: Instant,
    /// The socket's read timeout as last set.
    read_timeout: Duration,
    /// `service`'s work list, kept to reuse its allocation.
    pending: Vec<ConnId>,
    /// Subscriber connections forwarded media was written to, for `send_all`.
    written: Vec<ConnId>,
    /// `fire_timers`' list of due connections, kept to reuse its allocation.
    due: Vec<ConnId>,
    /// Datagrams to send, flushed by `send_all` before the loop waits again.
    outgoing: SendBatch,
}

impl EventLoop {
    fn run(&mut self) {
        let mut incoming = ReceiveBatch::new(RECEIVE_BATCH, MAX_DATAGRAM);
        loop {
            loop {
                match self.inbox.try_recv() {
                    Ok(Command::Stop) | Err(mpsc::TryRecvError::Disconnected) => return self.shutdown(),
                    Ok(command) => self.command(command),
                    Err(mpsc::TryRecvError::Empty) => break,
                }
            }
            self.announce_speakers();
            let now = Instant::now();
            if now >= self.next_timer {
                // `service` lowers `next_timer` for every connection it touches, the
                // ones the due timers touch included; the scan lowers it for the rest.
                self.next_timer = now + IDLE_WAIT;
                self.fire_timers(now);
            }
            self.next_timer = self.next_timer.min(self.next_speaker_evaluation);
            // Whole milliseconds, so the timeout (a system call) changes rarely.
            let wait = self.next_timer.saturating_duration_since(now).clamp(Duration::from_millis(1), IDLE_WAIT);
            let wait = Duration::from_millis(u64::try_from(wait.as_millis()).unwrap_or(1));
            if wait != self.read_timeout {
                match self.socket.set_read_timeout(Some(wait)) {
                    Ok(()) => self.read_timeout = wait,
                    Err(e) => tracing::error!(error = %e, "cannot set the socket timeout"),
                }
            }
            // Everything the commands, timers and the last batch of datagrams made
            // the connections send goes out before the loop waits.
            self.send_all();
            match incoming.receive(&self.socket) {
                Ok(count) => {
                    for index in 0..count {
                        if let Some((datagram, from)) = incoming.datagram(index) {
                            self.datagram(datagram, from);
                        }
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                Err(e) => tracing::warn!(error = %e, "receive failed"),
            }
        }
    }

    /// Collects what forwarded media the connections were handed (all a subscriber
    /// has to do with it is send it: writing media raises no events and delivers
    /// nothing, so this skips the event, read and timer walks a full `service` does),
    /// then sends every datagram gathered. A subscriber's datagrams come out
    /// together, so a frame's packets to it can go as one segmented send.
    fn send_all(&mut self) {
        let mut written = std::mem::take(&mut self.written);
        for id in written.drain(..) {
            let Some(conn) = self.conns.get_mut(&id) else { continue };
            conn.written = false;
            while let Some(out) = conn.pc.poll_write() {
                self.outgoing.push(&self.socket, out.message, out.transport.peer_addr);
            }
        }
        self.written = written;
        self.outgoing.flush(&self.socket);
    }

    fn datagram(&mut self, datagram: &[u8], from: SocketAddr) {
        if datagram.is_empty() {
            // Signaling's alarm (or nothing at all): the commands are read next.
            return;
        }
        let Some(id) = self.demux.route(datagram, from) else { return };
        let Some(conn) = self.conns.get_mut(&id) else { return };
        let message = TaggedBytesMut {
            now: Instant::now(),
            transport: TransportContext {
                local_addr: self.advertised,
                peer_addr: from,
                ecn: None,
                transport_protocol: TransportProtocol::UDP,
            },
            message: BytesMut::from(datagram),
        };
        if let Err(e) = conn.pc.handle_read(message) {
            tracing::debug!(conn = id, error = %e, "datagram refused");
        }
        self.service(id);
    }

    /// Picks each room's speaker when the interval is over, and tells signaling.
    fn announce_speakers(&mut self) {
        let now = Instant::now();
        if now < self.next_speaker_evaluation {
            return;
        }
        self.next_speaker_evaluation = now + EVALUATION_INTERVAL;
        for change in self.speakers.evaluate() {
            if self.speaker_changes.try_send(change).is_err() {
                tracing::debug!("signaling is not reading speaker changes; one dropped");
            }
        }
    }

    /// Handles every timer that is due at `now`, in one pass over the connections'
    /// known deadlines (asking rtc again only every `DEADLINE_REFRESH`: each ask walks
    /// a connection's whole pipeline), lowering `next_timer` to the earliest still ahead.
    fn fire_timers(&mut self, now: Instant) {
        let refresh = now >= self.next_deadline_refresh;
        if refresh {
            self.next_deadline_refresh = now + DEADLINE_REFRESH;
        }
        self.next_timer = self.next_timer.min(self.next_deadline_refresh);
        let mut due = std::mem::take(&mut self.due);
        due.clear();
        for (id, conn) in self.conns.iter_mut() {
            if refresh {
                conn.deadline = conn.pc.poll_timeout();
            }
            match conn.deadline {
                Some(t) if t <= now => due.push(*id),
                Some(t) => self.next_timer = self.next_timer.min(t),
                None => {}
            }
        }
        for &id in &due {
            if let Some(conn) = self.conns.get_mut(&id)
                && let Err(e) = conn.pc.handle_timeout(now)
            {
                tracing::debug!(conn = id, error = %e, "timeout handling failed");
            }
            // Lowers `next_timer` for this connection (and any it touched).
            self.service(id);
        }
        self.due = due;
    }

    /// Drains what `id` (and any connection it forwarded to) has to send, report or
    /// deliver; what is to be sent waits in `outgoing` for `send_all`.
    /// Afterwards, `next_timer` also covers every connection it serviced (only those
    /// can have an earlier deadline now), so timers need no scan per datagram. The
    /// subscribers it forwarded to only send: writing media can arm no earlier timer.
    fn service(&mut self, id: ConnId) {
        // The work list is reused across calls: no allocation per datagram.
        let mut pending = std::mem::take(&mut self.pending);
        pending.clear();
        pending.push(id);
        while let Some(id) = pending.pop() {
            let Some(conn) = self.conns.get_mut(&id) else { continue };
            while let Some(out) = conn.pc.poll_write() {
                self.outgoing.push(&self.socket, out.message, out.transport.peer_addr);
            }
            while let Some(event) = self.conns.get_mut(&id).and_then(|c| c.pc.poll_event()) {
                self.event(id, event, &mut pending);
            }
            while let Some(message) = self.conns.get_mut(&id).and_then(|c| c.pc.poll_read()) {
                self.message(id, message.message, &mut pending);
            }
            if let Some(conn) = self.conns.get_mut(&id) {
                conn.deadline = conn.pc.poll_timeout();
                if let Some(t) = conn.deadline {
                    self.next_timer = self.next_timer.min(t);
                }
            }
        }
        self.pending = pending;
    }

    fn event(&mut self, id: ConnId, event: RTCPeerConnectionEvent, pending: &mut Vec<ConnId>) {
        match event {
            RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init)) => {
                let Some(conn) = self.conns.get_mut(&id) else { return };
                let Direction::Publish(source) = conn.direction else { return };
                let Some(mut receiver) = conn.pc.rtp_receiver(init.receiver_id) else { return };
                let audio_level = receiver
                    .get_parameters()
                    .rtp_parameters
                    .header_extensions
                    .iter()
                    .find(|e| e.uri == AUDIO_LEVEL_URI)
                    .and_then(|e| u8::try_from(e.id).ok());
                let track = receiver.track();
                let Some(codec) = track.codec(init.ssrc).cloned() else { return };
                let kind = track.kind();
                let published = PublishedTrack {
                    seat: conn.seat.clone(),
                    conn: id,
                    receiver: init.receiver_id,
                    ssrc: init.ssrc,
                    kind,
                    codec,
                    source,
                    // Only camera-side audio counts for the active speaker.
                    audio_level: audio_level.filter(|_| kind == RtpCodecKind::Audio && source == TrackSource::Camera),
                };
                tracing::info!(room = %published.seat.room, participant = %published.seat.participant, track = %init.track_id, kind = ?published.kind, ?source, "track published");
                if published.audio_level.is_some() {
                    self.speakers.listen(id, &published.seat);
                }
                let source: TrackKey = (id, init.track_id);
                self.routes.publish(source.clone(), published.clone());
                // Everyone already subscribed gets the new track, by renegotiation.
                let subscribers: Vec<ConnId> = self
                    .participants
                    .iter()
                    .filter(|(seat, _)| seat.room == published.seat.room && **seat != published.seat)
                    .filter_map(|(_, p)| p.subscribe)
                    .collect();
                for sub in subscribers {
                    if let Err(e) = self.add_subscription(sub, &source, &published) {
                        tracing::warn!(conn = sub, error = %e, "cannot add a track to a subscriber");
                        continue;
                    }
                    self.renegotiate(sub);
                    pending.push(sub);
                }
            }
            RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => {
                tracing::debug!(conn = id, %state, "connection state");
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.connected = state == RTCPeerConnectionState::Connected;
                }
                match state {
                    RTCPeerConnectionState::Connected => self.request_keyframes_for(id, pending),
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => self.drop_conn(id),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn message(&mut self, id: ConnId, message: RTCMessage, pending: &mut Vec<ConnId>) {
        match message {
            RTCMessage::RtpPacket(track_id, packet) => self.forward(id, track_id, packet),
            RTCMessage::RtcpPacket(track_id, _) => {
                // A keyframe request from a subscriber: ask the publisher.
                let Some(source) = self.routes.source_of(&(id, track_id)).cloned() else { return };
                self.request_keyframe(&source, pending);
            }
            _ => {}
        }
    }

    fn forward(&mut self, from: ConnId, track_id: String, packet: rtc::rtp::Packet) {
        let key: TrackKey = (from, track_id);
        let Some((track, subs)) = self.routes.route_mut(&key) else { return };
        if let Some(extension) = track.audio_level
            && let Some(level) = packet.header.get_extension(extension)
            && let Some(&level) = level.first()
        {
            self.speakers.observe(from, level);
        }
        let now = Instant::now();
        for sub in subs.iter_mut() {
            let Some(conn) = self.conns.get_mut(&sub.conn).filter(|c| c.connected) else { continue };
            let Some(mut sender) = conn.pc.rtp_sender(sub.sender) else { continue };
            let payload_type = match sub.payload_type {
                Some(pt) => pt,
                None => match sender.get_parameters().rtp_parameters.codecs.first() {
                    Some(codec) => *sub.payload_type.insert(codec.payload_type),
                    None => continue,
                },
            };
            if let Err(e) = sender.write_rtp(now, copy_for(&packet, sub.ssrc, payload_type)) {
                tracing::debug!(conn = sub.conn, error = %e, "forward refused");
            }
            if !std::mem::replace(&mut conn.written, true) {
                self.written.push(sub.conn);
            }
        }
    }

    fn request_keyframe(&mut self, source: &PublishedTrack, pending: &mut Vec<ConnId>) {
        let Some(conn) = self.conns.get_mut(&source.conn) else { return };
        let Some(mut receiver) = conn.pc.rtp_receiver(source.receiver) else { return };
        let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc: source.ssrc };
        if let Err(e) = receiver.write_rtcp(Instant::now(), vec![Box::new(pli)]) {
            tracing::debug!(conn = source.conn, error = %e, "keyframe request failed");
        }
        pending.push(source.conn);
    }

    /// A subscriber just connected: it needs a keyframe of every video it receives.
    fn request_keyframes_for(&mut self, id: ConnId, pending: &mut Vec<ConnId>) {
        for source in self.routes.video_sources_of(id) {
            self.request_keyframe(&source, pending);
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Publish { seat, source, offer, reply } => {
                let _ = reply.send(self.publish(seat, source, offer));
            }
            Command::Unpublish { seat, source } => self.unpublish(&seat, source),
            Command::Subscribe { seat, reply } => {
                let _ = reply.send(self.subscribe(seat));
            }
            Command::Answer { seat, answer, reply } => {
                let _ = reply.send(self.answer(&seat, answer));
            }
            Command::Leave { seat } => self.leave(&seat),
            Command::Stop => {}
        }
    }

    fn add_conn(&mut self, seat: &Seat, direction: Direction, pc: RTCPeerConnection, ufrag: String) -> ConnId {
        let id = self.next_conn;
        self.next_conn += 1;
        self.demux.register(ufrag, id);
        tracing::debug!(conn = id, room = %seat.room, participant = %seat.participant, ?direction, "connection added");
        self.conns.insert(
            id,
            Conn {
                pc,
                seat: seat.clone(),
                direction,
                updates: None,
                offer_pending: false,
                renegotiate_after_answer: false,
                connected: false,
                deadline: None,
                written: false,
            },
        );
        let old = self.participants.entry(seat.clone()).or_default().slot(direction).replace(id);
        if let Some(old) = old {
            self.close_conn(old);
        }
        id
    }

    fn publish(&mut self, seat: Seat, source: TrackSource, offer: String) -> Result<String, SfuError> {
        let now = Instant::now();
        let peer::NewPeer { mut pc, ufrag } = peer::build(self.advertised, peer::Side::Publisher, now)?;
        pc.set_remote_description(now, RTCSessionDescription::offer(offer)?)?;
        let answer = pc.create_answer(None)?;
        pc.set_local_description(now, answer)?;
        let sdp =
            pc.local_description().map(|d| d.sdp.clone()).ok_or_else(|| SfuError::Negotiation("no answer".into()))?;
        let id = self.add_conn(&seat, Direction::Publish(source), pc, ufrag);
        self.service(id);
        Ok(sdp)
    }

    /// Adds a sendonly copy of `track` to subscribe connection `sub` and starts forwarding to it.
    fn add_subscription(&mut self, sub: ConnId, source: &TrackKey, track: &PublishedTrack) -> Result<(), SfuError> {
        let conn = self.conns.get_mut(&sub).ok_or(SfuError::UnknownParticipant)?;
        let ssrc: u32 = rand::rng().random();
        let local_track_id = format!("{}-{}", track.seat.participant, source.1);
        let encoding = RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(ssrc), ..Default::default() },
            codec: track.codec.clone(),
            ..Default::default()
        };
        let outgoing = MediaStreamTrack::new(
            track.source.stream_id(&track.seat.participant),
            local_track_id.clone(),
            local_track_id.clone(),
            track.kind,
            vec![encoding],
        );
        let sender = conn.pc.add_track(outgoing)?;
        self.routes.subscribe(
            source,
            (sub, local_track_id),
            Subscription { conn: sub, sender, ssrc, payload_type: None },
        );
        Ok(())
    }

    /// Sends subscriber `id` a new offer, or, while one is out, does so after its answer.
    fn renegotiate(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else { return };
        if conn.offer_pending {
            conn.renegotiate_after_answer = true;
            return;
        }
        let now = Instant::now();
        let offered = conn.pc.create_offer(None).and_then(|offer| conn.pc.set_local_description(now, offer));
        if let Err(e) = offered {
            tracing::warn!(conn = id, error = %e, "cannot renegotiate");
            return;
        }
        let Some(sdp) = conn.pc.local_description().map(|d| d.sdp.clone()) else { return };
        conn.offer_pending = true;
        if let Some(updates) = &conn.updates
            && updates.try_send(SubscriberUpdate::Offer(sdp)).is_err()
        {
            tracing::warn!(conn = id, "subscriber is not reading its updates; offer dropped");
        }
    }

    fn subscribe(&mut self, seat: Seat) -> Result<Subscribed, SfuError> {
        let now = Instant::now();
        let peer::NewPeer { pc, ufrag } = peer::build(self.advertised, peer::Side::Subscriber, now)?;
        let (updates, receiver) = tokio::sync::mpsc::channel(UPDATE_QUEUE);
        let id = self.add_conn(&seat, Direction::Subscribe, pc, ufrag);
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.updates = Some(updates);
        }
        match self.first_offer(id, &seat, now) {
            Ok(sdp) => Ok((sdp, receiver)),
            Err(e) => {
                // No half-built connection stays behind.
                self.close_conn(id);
                Err(e)
            }
        }
    }

    /// The subscribe connection `id`'s first offer: every track of the others, and the data channel.
    fn first_offer(&mut self, id: ConnId, seat: &Seat, now: Instant) -> Result<String, SfuError> {
        for (source, track) in self.routes.tracks_for(seat) {
            self.add_subscription(id, &source, &track)?;
        }
        let conn = self.conns.get_mut(&id).ok_or(SfuError::UnknownParticipant)?;
        // A data channel from the start: it gives the first offer a section (and ICE
        // credentials) even when nobody publishes yet, and will carry chat.
        conn.pc.create_data_channel("confer", None)?;
        let offer = conn.pc.create_offer(None)?;
        conn.pc.set_local_description(now, offer)?;
        let sdp = conn
            .pc
            .local_description()
            .map(|d| d.sdp.clone())
            .ok_or_else(|| SfuError::Negotiation("no offer".into()))?;
        conn.offer_pending = true;
        self.service(id);
        Ok(sdp)
    }

    fn answer(&mut self, seat: &Seat, answer: String) -> Result<(), SfuError> {
        let id = self.participants.get(seat).and_then(|p| p.subscribe).ok_or(SfuError::UnknownParticipant)?;
        let conn = self.conns.get_mut(&id).ok_or(SfuError::UnknownParticipant)?;
        conn.pc.set_remote_description(Instant::now(), RTCSessionDescription::answer(answer)?)?;
        conn.offer_pending = false;
        if std::mem::take(&mut conn.renegotiate_after_answer) {
            self.renegotiate(id);
        }
        self.service(id);
        Ok(())
    }

    fn unpublish(&mut self, seat: &Seat, source: TrackSource) {
        if let Some(id) = self.participants.get_mut(seat).and_then(|p| p.slot(Direction::Publish(source)).take()) {
            self.close_conn(id);
        }
    }

    fn leave(&mut self, seat: &Seat) {
        if let Some(p) = self.participants.remove(seat) {
            for id in p.conns() {
                self.close_conn(id);
            }
        }
    }

    /// Closes a connection politely (DTLS close_notify goes out) and forgets it.
    fn close_conn(&mut self, id: ConnId) {
        if let Some(mut conn) = self.conns.remove(&id) {
            let _ = conn.pc.close();
            while let Some(out) = conn.pc.poll_write() {
                let _ = self.socket.send_to(&out.message, out.transport.peer_addr);
            }
        }
        self.forget(id);
    }

    /// Forgets a connection that failed or closed by itself.
    fn drop_conn(&mut self, id: ConnId) {
        self.conns.remove(&id);
        self.forget(id);
    }

    fn forget(&mut self, id: ConnId) {
        self.demux.remove(id);
        self.speakers.forget(id);
        // Subscribers of this connection's tracks lose them, by renegotiation.
        let copies = self.routes.copies_of_publisher(id);
        self.routes.remove_conn(id);
        let mut touched = Vec::new();
        for copy in copies {
            if let Some(conn) = self.conns.get_mut(&copy.conn) {
                if let Err(e) = conn.pc.remove_track(copy.sender) {
                    tracing::debug!(conn = copy.conn, error = %e, "cannot remove a track");
                }
                touched.push(copy.conn);
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for sub in touched {
            self.renegotiate(sub);
            self.service(sub);
        }
        for p in self.participants.values_mut() {
            for slot in [&mut p.camera, &mut p.screen, &mut p.subscribe] {
                if *slot == Some(id) {
                    *slot = None;
                }
            }
        }
    }

    fn shutdown(&mut self) {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            self.close_conn(id);
        }
        tracing::info!("media node stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{getsockopt, sockopt};

    #[test]
    fn a_loop_socket_gets_buffers_for_a_crowd_joining_at_once() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let before = getsockopt(&socket, sockopt::RcvBuf).unwrap();
        enlarge_buffers(&socket);
        let receive = getsockopt(&socket, sockopt::RcvBuf).unwrap();
        let send = getsockopt(&socket, sockopt::SndBuf).unwrap();
        // As root the node gets what it asks for; otherwise up to the sysctl's limit
        // (which the kernel reports doubled).
        let limit = |sysctl: &str| -> usize { std::fs::read_to_string(sysctl).unwrap().trim().parse().unwrap() };
        let floor = |max: usize| SOCKET_BUFFER.min(2 * max);
        assert!(
            receive >= floor(limit("/proc/sys/net/core/rmem_max")) && receive >= before,
            "receive buffer {receive}"
        );
        assert!(send >= floor(limit("/proc/sys/net/core/wmem_max")), "send buffer {send}");
    }
}

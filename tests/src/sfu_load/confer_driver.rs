//! Confer under load: the real `confer-media` binary, alone (no api, so its site is
//! `auth: open` and anyone may join as a guest), on loopback, and sessions that
//! speak `docs/signaling.md` over a WebSocket.

use super::driver::{DriverError, SfuDriver, SfuSession};
use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// How long the node may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a request may wait for its reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a subscriber waits for the node to know every publisher's tracks.
const TRACKS_TIMEOUT: Duration = Duration::from_secs(20);

/// How the node is started.
#[derive(Debug, Clone)]
pub struct ConferOptions {
    /// `CONFER_MEDIA_LOOPS`: SFU event loops (threads).
    pub media_loops: usize,
    /// `CONFER_MAX_PARTICIPANTS`: seats per room (the default, 75, is below a sweep's top).
    pub max_participants: u32,
}

impl Default for ConferOptions {
    fn default() -> Self {
        Self { media_loops: 2, max_participants: 1_000 }
    }
}

/// A running `confer-media`, killed when dropped.
pub struct ConferDriver {
    child: Child,
    addr: String,
}

impl Drop for ConferDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ConferDriver {
    /// Starts the node on 127.0.0.1 (HTTP and UDP on ports the OS picks) and waits
    /// until it listens. Its warnings and errors are echoed to our stderr.
    pub async fn start(options: &ConferOptions) -> anyhow::Result<Self> {
        let binary = crate::binary("confer-media");
        let mut child = Command::new(&binary)
            // Nothing from the caller's environment may attach it to an api or Redis.
            .env_remove("CONFER_API_URL")
            .env_remove("CONFER_NODE_CREDENTIAL")
            .env_remove("CONFER_REDIS_URL")
            .env_remove("CONFER_MEDIA_TLS_LISTEN")
            .env("CONFER_TENANT", "load")
            .env("CONFER_MEDIA_LISTEN", "127.0.0.1:0")
            .env("CONFER_MEDIA_UDP", "127.0.0.1:0")
            .env("CONFER_MEDIA_LOOPS", options.media_loops.to_string())
            .env("CONFER_MAX_PARTICIPANTS", options.max_participants.to_string())
            .env("CONFER_LOG_FORMAT", "json")
            // Warnings, and the node's own info lines (one says where it listens). Not
            // rtc's warnings: it logs one per packet forwarded to a subscriber whose
            // DTLS is not done yet, which costs the node CPU while a run sets up.
            .env("RUST_LOG", "warn,rtc=error,confer_media=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let stderr = child.stderr.take().context("the node's stderr")?;
        let (addr_tx, addr_rx) = oneshot::channel();
        std::thread::Builder::new().name("confer-media-log".into()).spawn(move || follow_log(stderr, addr_tx))?;
        // Killed by `Drop` if it does not come up.
        let mut driver = Self { child, addr: String::new() };
        driver.addr = match tokio::time::timeout(START_TIMEOUT, addr_rx).await {
            Ok(Ok(addr)) => addr,
            _ => bail!("confer-media did not report where it listens within {START_TIMEOUT:?}"),
        };
        Ok(driver)
    }

    /// `127.0.0.1:<port>` of the node's site and signaling.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

/// Reads the node's JSON log: hands over the `addr` of its first line that has one,
/// and echoes what is not `INFO` or below.
fn follow_log(stderr: std::process::ChildStderr, addr: oneshot::Sender<String>) {
    let mut addr = Some(addr);
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        let parsed: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if let Some(found) = parsed.get("addr").and_then(Value::as_str)
            && let Some(tx) = addr.take()
        {
            let _ = tx.send(found.to_owned());
        }
        let quiet = matches!(parsed.get("level").and_then(Value::as_str), Some("INFO" | "DEBUG" | "TRACE"));
        if !quiet {
            eprintln!("[confer-media] {line}");
        }
    }
}

impl SfuDriver for ConferDriver {
    type Session = ConferSession;

    fn name(&self) -> &'static str {
        "confer"
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn prepare_room(&self, room: usize) -> Result<String, DriverError> {
        // Rooms open when their first participant joins.
        Ok(format!("load-{room}"))
    }

    async fn join(&self, room: &str, name: &str) -> Result<ConferSession, DriverError> {
        let url = format!("ws://{}/ws", self.addr);
        let (socket, _) =
            tokio_tungstenite::connect_async(url.as_str()).await.with_context(|| format!("connect to {url}"))?;
        ConferSession::join(socket, room, name).await
    }
}

/// A signaling WebSocket to a node.
pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One participant's signaling: a task owns the WebSocket, so that the node's
/// pushes (room events, speaker changes) are always read, and hands over replies
/// and subscribe offers.
pub struct ConferSession {
    requests: mpsc::Sender<(Value, oneshot::Sender<Value>)>,
    offers: mpsc::UnboundedReceiver<String>,
}

/// Moves frames between the socket and the session until either side is gone;
/// then leaves the room, so that the node drops the seat at once.
async fn carry_frames(
    mut socket: Socket,
    mut requests: mpsc::Receiver<(Value, oneshot::Sender<Value>)>,
    offers: mpsc::UnboundedSender<String>,
) {
    let mut next_id: u64 = 1;
    let mut waiting: HashMap<u64, oneshot::Sender<Value>> = HashMap::new();
    loop {
        tokio::select! {
            request = requests.recv() => {
                let Some((mut body, reply)) = request else { break };
                body["v"] = json!(1);
                body["id"] = json!(next_id);
                waiting.insert(next_id, reply);
                next_id += 1;
                if socket.send(Message::text(body.to_string())).await.is_err() {
                    return;
                }
            }
            frame = socket.next() => {
                let Some(Ok(frame)) = frame else { return };
                let Message::Text(text) = frame else { continue };
                let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                if let Some(reply) = frame.get("re").and_then(Value::as_u64).and_then(|re| waiting.remove(&re)) {
                    let _ = reply.send(frame);
                } else if frame["type"] == "subscribe_offer"
                    && let Some(sdp) = frame["sdp"].as_str()
                {
                    let _ = offers.send(sdp.to_owned());
                }
            }
        }
    }
    let leave = json!({"v": 1, "type": "leave"});
    let _ = socket.send(Message::text(leave.to_string())).await;
    let _ = socket.close(None).await;
}

impl ConferSession {
    /// Joins `room` as `name` over a node's signaling `socket`.
    pub async fn join(socket: Socket, room: &str, name: &str) -> anyhow::Result<Self> {
        let (requests, inbox) = mpsc::channel(16);
        let (offers_tx, offers) = mpsc::unbounded_channel();
        tokio::spawn(carry_frames(socket, inbox, offers_tx));
        let mut session = ConferSession { requests, offers };
        session.request(json!({"type": "join", "room": room, "name": name}), "joined").await?;
        Ok(session)
    }

    /// Sends a request and returns its reply, which must be of type `expected`.
    async fn request(&mut self, body: Value, expected: &str) -> anyhow::Result<Value> {
        let what = body["type"].as_str().unwrap_or("request").to_owned();
        let (reply, answer) = oneshot::channel();
        self.requests.send((body, reply)).await.map_err(|_| anyhow::anyhow!("signaling closed before {what}"))?;
        let frame = match tokio::time::timeout(REPLY_TIMEOUT, answer).await {
            Ok(Ok(frame)) => frame,
            Ok(Err(_)) => bail!("signaling closed before the reply to {what}"),
            Err(_) => bail!("no reply to {what} within {REPLY_TIMEOUT:?}"),
        };
        if frame["type"] != expected {
            bail!("{what}: the node answered {} ({}): {}", frame["type"], frame["code"], frame["message"]);
        }
        Ok(frame)
    }
}

/// Audio and video sections of `sdp` that the offerer sends on.
pub fn sending_media_sections(sdp: &str) -> usize {
    let mut count = 0;
    let mut section: Option<bool> = None; // Some(sending) inside an audio/video section
    let mut close = |section: Option<bool>| count += usize::from(section == Some(true));
    for line in sdp.lines() {
        if let Some(media) = line.strip_prefix("m=") {
            close(section.take());
            let mut fields = media.split_whitespace();
            let kind = fields.next().unwrap_or("");
            let port = fields.next().unwrap_or("0");
            section = (matches!(kind, "audio" | "video") && port != "0").then_some(true);
        } else if matches!(line.trim_end(), "a=inactive" | "a=recvonly")
            && let Some(sending) = section.as_mut()
        {
            *sending = false;
        }
    }
    close(section);
    count
}

impl SfuSession for ConferSession {
    async fn publish(&mut self, offer: String) -> Result<String, DriverError> {
        let reply = self.request(json!({"type": "publish", "sdp": offer}), "publish_answer").await?;
        reply["sdp"].as_str().map(str::to_owned).context("publish_answer without sdp")
    }

    async fn publish_up(&mut self) -> Result<(), DriverError> {
        // The node takes media as soon as the connection is up.
        Ok(())
    }

    /// The node offers the tracks it knows now, and learns a publisher's tracks from
    /// their first packets. Until it knows all of them, this subscribes again (which
    /// replaces the unanswered connection) rather than answering a partial offer:
    /// the session's contract is one offer, one answer.
    async fn subscribe(&mut self, publishers: usize) -> Result<String, DriverError> {
        let deadline = Instant::now() + TRACKS_TIMEOUT;
        loop {
            while self.offers.try_recv().is_ok() {}
            let reply = self.request(json!({"type": "subscribe"}), "subscribe_offer").await?;
            let sdp = reply["sdp"].as_str().context("subscribe_offer without sdp")?.to_owned();
            let offered = sending_media_sections(&sdp);
            if offered >= 2 * publishers {
                return Ok(sdp);
            }
            if Instant::now() > deadline {
                bail!("the node offered {offered} tracks after {TRACKS_TIMEOUT:?}; expected {}", 2 * publishers);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn answer(&mut self, answer: String) -> Result<(), DriverError> {
        self.request(json!({"type": "subscribe_answer", "sdp": answer}), "ok").await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_audio_and_video_sections_that_send_are_counted() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendonly\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=inactive\r\nm=video 0 UDP/TLS/RTP/SAVPF 96\r\n\
                   m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";
        assert_eq!(sending_media_sections(sdp), 2);
    }
}

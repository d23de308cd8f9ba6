//! One run of a workload on one SFU, and the sweep that raises the subscribers
//! until the SFU stops keeping up.
//!
//! A run: publishers join and publish; once every publish connection is up and
//! sending, receivers subscribe (receive-only participants, and with
//! `everyone_receives` every publisher too, on a connection of its own); once every
//! stream flows, a warm-up, then the measurement window, bracketed by readings of
//! the SFU's and the tool's `/proc` entries.

use super::driver::{SfuDriver, SfuSession};
use super::media_thread::{MediaThread, PeerId, PeerStatus, Published, WindowStats};
use super::probe::{Kind, StreamTag};
use super::proc_stats::{CpuMark, Process, memory};
use super::receiver_stats::ReceiverStats;
use super::workload::Workload;
use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt};
use rtc::peer_connection::state::RTCPeerConnectionState;
use serde::Serialize;
use std::future::Future;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Signaling requests in flight at once while setting a run up.
const SETUP_CONCURRENCY: usize = 8;
/// The clean-run limits of a sweep.
pub const MAX_CLEAN_LOSS_PERCENT: f64 = 1.0;
/// The clean-run limits of a sweep.
pub const MAX_CLEAN_P99_MS: f64 = 50.0;

/// Where the tool runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The address the load peers bind (127.0.0.1 for Confer; the veth address,
    /// 198.18.0.2, inside the private network Janus needs).
    pub local_ip: IpAddr,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { local_ip: IpAddr::from([127, 0, 0, 1]) }
    }
}

/// What one subscriber got of one publisher's stream in the window.
#[derive(Debug, Clone, Serialize)]
pub struct StreamReport {
    /// The subscribe connection, numbered in the order they were set up.
    pub subscriber: usize,
    /// The publisher, numbered across rooms.
    pub publisher: u32,
    /// Audio or video.
    pub kind: Kind,
    /// Packets counted.
    pub packets: u64,
    /// Packets lost (missing counters, or all the publisher sent when none came).
    pub lost: u64,
}

/// The figures of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// `confer` or `janus`.
    pub sfu: String,
    /// What ran.
    pub workload: Workload,
    /// The measurement window, seconds.
    pub window_seconds: f64,
    /// Packets per second all publishers sent.
    pub published_pps: f64,
    /// Packets per second that reached the subscribers (what the SFU forwarded).
    pub forwarded_pps: f64,
    /// The same as RTP bits (header and payload) per second.
    pub forwarded_bps: f64,
    /// What the workload should forward, packets per second.
    pub expected_forwarded_pps: f64,
    /// The SFU process's user and system CPU time in the window.
    pub sfu_cpu_seconds: f64,
    /// SFU CPU per forwarded packet, microseconds.
    pub cpu_us_per_forwarded_packet: f64,
    /// SFU CPU seconds per million forwarded packets (numerically the same as
    /// microseconds per packet).
    pub cpu_seconds_per_million: f64,
    /// The SFU's peak resident memory (VmHWM), MiB.
    pub sfu_peak_rss_mb: f64,
    /// The SFU's resident memory at the window's end (VmRSS), MiB.
    pub sfu_rss_mb: f64,
    /// Packets lost on the way to the subscribers, percent of those expected.
    pub loss_percent: f64,
    /// Added delay (receipt − send), median, ms.
    pub delay_p50_ms: Option<f64>,
    /// Added delay, 99th percentile, ms.
    pub delay_p99_ms: Option<f64>,
    /// Added delay, worst, ms.
    pub delay_max_ms: Option<f64>,
    /// Delay samples (packets counted).
    pub delay_samples: u64,
    /// The tool's own CPU time in the window (all its threads).
    pub tool_cpu_seconds: f64,
    /// Of that, the media thread's (the generator's one thread).
    pub tool_media_thread_cpu_seconds: f64,
    /// How late the generator sent a packet against its schedule, at worst, ms.
    pub tool_max_lag_ms: f64,
    /// Datagrams the tool failed to send.
    pub tool_send_errors: u64,
    /// Keyframe requests the publishers received in the window.
    pub keyframe_requests: u64,
    /// Expected streams with no packet at all in the window.
    pub silent_streams: usize,
    /// Packets a subscriber should not have received (another room's, its own).
    pub foreign_packets: u64,
    /// Packets without a readable probe.
    pub unreadable_packets: u64,
    /// Per stream, for checks (not written to JSON: thousands of rows in a sweep).
    #[serde(skip)]
    pub streams: Vec<StreamReport>,
}

impl RunReport {
    /// Whether the SFU kept up: loss at most 1% and p99 delay at most 50 ms.
    pub fn is_clean(&self) -> bool {
        self.loss_percent <= MAX_CLEAN_LOSS_PERCENT && self.delay_p99_ms.is_some_and(|p99| p99 <= MAX_CLEAN_P99_MS)
    }
}

/// A publisher as the run holds it.
struct PublisherSeat<S> {
    room: usize,
    index: u32,
    session: S,
    peer: PeerId,
}

/// Runs `workload` on the SFU behind `driver` and measures it.
pub async fn run<D: SfuDriver>(driver: &D, workload: &Workload, options: &RunOptions) -> anyhow::Result<RunReport> {
    anyhow::ensure!(workload.rooms > 0 && workload.publishers > 0, "a run needs rooms and publishers");
    anyhow::ensure!(workload.subscribe_connections() > 0, "nobody receives: add subscribers or --everyone-receives");
    let media = MediaThread::start(options.local_ip)?;
    let mut rooms = Vec::with_capacity(workload.rooms);
    for room in 0..workload.rooms {
        rooms.push(driver.prepare_room(room).await.with_context(|| format!("prepare room {room}"))?);
    }

    let mut publishers = publish_all(driver, workload, &media, &rooms).await?;
    let publisher_peers: Vec<PeerId> = publishers.iter().map(|p| p.peer).collect();
    wait_for(&media, &publisher_peers, setup_timeout(publisher_peers.len()), "every publisher to connect and send")
        .await?;
    for publisher in &mut publishers {
        publisher.session.publish_up().await.with_context(|| format!("publisher {} up", publisher.index))?;
    }

    let (subscriber_peers, receive_only) = subscribe_all(driver, workload, &media, &rooms, &mut publishers).await?;
    wait_for(
        &media,
        &subscriber_peers,
        setup_timeout(subscriber_peers.len()),
        "every subscriber to receive every stream",
    )
    .await?;

    tokio::time::sleep(Duration::from_secs(workload.warmup_seconds)).await;
    let sfu = Process::Pid(driver.pid());
    let sfu_cpu = CpuMark::now(sfu).context("the SFU's CPU time")?;
    let tool_cpu = CpuMark::now(Process::Myself)?;
    media.start_window().await?;
    tokio::time::sleep(Duration::from_secs(workload.seconds)).await;
    let window = media.end_window().await?;
    let sfu_cpu_seconds = sfu_cpu.seconds_since().context("the SFU's CPU time")?;
    let tool_cpu_seconds = tool_cpu.seconds_since()?;
    let sfu_memory = memory(sfu).context("the SFU's memory")?;
    drop(media);
    drop(receive_only);
    drop(publishers);
    let mut report = summarize(driver.name(), workload, &window);
    report.sfu_cpu_seconds = sfu_cpu_seconds;
    report.tool_cpu_seconds = tool_cpu_seconds;
    let packets = report.forwarded_pps * report.window_seconds;
    report.cpu_us_per_forwarded_packet = if packets > 0.0 { sfu_cpu_seconds * 1e6 / packets } else { f64::NAN };
    report.cpu_seconds_per_million = report.cpu_us_per_forwarded_packet;
    report.sfu_peak_rss_mb = sfu_memory.peak_rss_kib as f64 / 1024.0;
    report.sfu_rss_mb = sfu_memory.rss_kib as f64 / 1024.0;
    Ok(report)
}

/// Longer setups for more connections: 20 s plus 50 ms each.
fn setup_timeout(connections: usize) -> Duration {
    Duration::from_secs(20) + Duration::from_millis(50) * u32::try_from(connections).unwrap_or(u32::MAX / 100)
}

/// Joins and publishes every publisher of every room.
async fn publish_all<D: SfuDriver>(
    driver: &D,
    workload: &Workload,
    media: &MediaThread,
    rooms: &[String],
) -> anyhow::Result<Vec<PublisherSeat<D::Session>>> {
    let shape = workload.video_shape();
    let seats = (0..workload.rooms).flat_map(|room| (0..workload.publishers).map(move |p| (room, p)));
    futures_util::stream::iter(seats)
        .map(|(room, p)| async move {
            let index = u32::try_from(room * workload.publishers + p)?;
            let name = format!("pub-{room}-{p}");
            let mut session = driver.join(&rooms[room], &name).await.with_context(|| format!("{name} joins"))?;
            let (peer, offer) = media.add_publisher(&name, index, shape).await?;
            let answer = session.publish(offer).await.with_context(|| format!("{name} publishes"))?;
            media.set_answer(peer, answer).await.with_context(|| format!("{name}'s answer"))?;
            anyhow::Ok(PublisherSeat { room, index, session, peer })
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await
}

/// The streams of room `room`'s publishers: their tags, and the ones a receiver
/// gets (all but its own, if it publishes).
fn room_streams(workload: &Workload, room: usize, own: Option<u32>) -> (std::ops::Range<u32>, Vec<StreamTag>) {
    let first = (room * workload.publishers) as u32;
    let publishers = first..first + workload.publishers as u32;
    let expected = publishers
        .clone()
        .filter(|&p| Some(p) != own)
        .flat_map(|p| [StreamTag::of(p, Kind::Audio), StreamTag::of(p, Kind::Video)])
        .collect();
    (StreamTag::of(publishers.start, Kind::Audio).0..StreamTag::of(publishers.end, Kind::Audio).0, expected)
}

/// Subscribes one receiver through `session` and answers with a new peer.
async fn subscribe_one<S: SfuSession>(
    session: &mut S,
    media: &MediaThread,
    publishers: usize,
    stats: ReceiverStats,
) -> anyhow::Result<PeerId> {
    let offer = session.subscribe(publishers).await?;
    let (peer, answer) = media.add_subscriber(offer, stats).await?;
    session.answer(answer).await?;
    Ok(peer)
}

/// Subscribes every receiver: each publisher (when everyone receives), then the
/// receive-only participants. Returns the subscribe peers, and the receive-only
/// participants' sessions (kept open for the run).
async fn subscribe_all<D: SfuDriver>(
    driver: &D,
    workload: &Workload,
    media: &MediaThread,
    rooms: &[String],
    publishers: &mut [PublisherSeat<D::Session>],
) -> anyhow::Result<(Vec<PeerId>, Vec<D::Session>)> {
    let mut peers = Vec::new();
    if workload.everyone_receives {
        let own: Vec<PeerId> = futures_util::stream::iter(publishers.iter_mut())
            .map(|seat| async move {
                let (tags, expected) = room_streams(workload, seat.room, Some(seat.index));
                subscribe_one(&mut seat.session, media, workload.publishers - 1, ReceiverStats::new(tags, expected))
                    .await
                    .with_context(|| format!("publisher {} subscribes", seat.index))
            })
            .buffered(SETUP_CONCURRENCY)
            .try_collect()
            .await?;
        peers.extend(own);
    }
    let seats = (0..workload.rooms).flat_map(|room| (0..workload.subscribers).map(move |s| (room, s)));
    let receivers: Vec<(PeerId, D::Session)> = futures_util::stream::iter(seats)
        .map(|(room, s)| async move {
            let name = format!("sub-{room}-{s}");
            let mut session = driver.join(&rooms[room], &name).await.with_context(|| format!("{name} joins"))?;
            let (tags, expected) = room_streams(workload, room, None);
            let peer = subscribe_one(&mut session, media, workload.publishers, ReceiverStats::new(tags, expected))
                .await
                .with_context(|| format!("{name} subscribes"))?;
            anyhow::Ok((peer, session))
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;
    let (receive_only, sessions): (Vec<PeerId>, Vec<D::Session>) = receivers.into_iter().unzip();
    peers.extend(receive_only);
    Ok((peers, sessions))
}

/// Waits until every peer of `peers` is connected and its media flows.
async fn wait_for(media: &MediaThread, peers: &[PeerId], within: Duration, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let status = media.status().await?;
        let of = |id: &PeerId| status.get(*id).cloned();
        let lagging: Vec<(PeerId, Option<PeerStatus>)> = peers
            .iter()
            .map(|id| (*id, of(id)))
            .filter(|(_, s)| !s.as_ref().is_some_and(|s| s.state == RTCPeerConnectionState::Connected && s.flowing))
            .collect();
        if lagging.is_empty() {
            return Ok(());
        }
        let failed =
            lagging.iter().filter(|(_, s)| s.as_ref().is_some_and(|s| s.state == RTCPeerConnectionState::Failed));
        if let Some((id, _)) = failed.clone().next() {
            bail!("waiting for {what}: peer {id} failed ({} failed in all)", failed.count());
        }
        if Instant::now() > deadline {
            let (id, state) = &lagging[0];
            bail!(
                "waiting for {what}: {} of {} not there after {within:?} (peer {id}: {state:?})",
                lagging.len(),
                peers.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The report's media figures from what the media thread measured.
fn summarize(sfu: &str, workload: &Workload, window: &WindowStats) -> RunReport {
    let mut sent = vec![Published::default(); workload.total_publishers()];
    for published in &window.published {
        if let Some(slot) = sent.get_mut(published.index as usize) {
            *slot = published.clone();
        }
    }
    let mut streams = Vec::new();
    let (mut packets, mut bytes, mut lost, mut expected, mut silent) = (0u64, 0u64, 0u64, 0u64, 0usize);
    let (mut foreign, mut unreadable) = (0, 0);
    for (subscriber, receiver) in window.receivers.iter().enumerate() {
        foreign += receiver.foreign;
        unreadable += receiver.unreadable;
        for &tag in &receiver.expected {
            let stream = receiver.stream(tag).cloned().unwrap_or_default();
            let (stream_lost, stream_expected) = if stream.packets > 0 {
                (stream.lost(), stream.expected())
            } else {
                silent += 1;
                let published = sent.get(tag.publisher() as usize);
                let count = published.map_or(0, |p| if tag.kind() == Kind::Audio { p.audio } else { p.video });
                (count, count)
            };
            packets += stream.packets;
            bytes += stream.bytes;
            lost += stream_lost;
            expected += stream_expected;
            streams.push(StreamReport {
                subscriber,
                publisher: tag.publisher(),
                kind: tag.kind(),
                packets: stream.packets,
                lost: stream_lost,
            });
        }
    }
    let seconds = window.seconds.max(f64::EPSILON);
    let published_packets: u64 = window.published.iter().map(|p| p.audio + p.video).sum();
    RunReport {
        sfu: sfu.to_owned(),
        workload: workload.clone(),
        window_seconds: window.seconds,
        published_pps: published_packets as f64 / seconds,
        forwarded_pps: packets as f64 / seconds,
        forwarded_bps: bytes as f64 * 8.0 / seconds,
        expected_forwarded_pps: workload.expected_forwarded_pps(),
        sfu_cpu_seconds: 0.0,
        cpu_us_per_forwarded_packet: 0.0,
        cpu_seconds_per_million: 0.0,
        sfu_peak_rss_mb: 0.0,
        sfu_rss_mb: 0.0,
        loss_percent: if expected > 0 { lost as f64 * 100.0 / expected as f64 } else { 100.0 },
        delay_p50_ms: window.delays.quantile_ms(0.50),
        delay_p99_ms: window.delays.quantile_ms(0.99),
        delay_max_ms: window.delays.max_ms(),
        delay_samples: window.delays.count(),
        tool_cpu_seconds: 0.0,
        tool_media_thread_cpu_seconds: window.thread_cpu_seconds,
        tool_max_lag_ms: window.max_lag.as_secs_f64() * 1000.0,
        tool_send_errors: window.send_errors,
        keyframe_requests: window.published.iter().map(|p| p.keyframe_requests).sum(),
        silent_streams: silent,
        foreign_packets: foreign,
        unreadable_packets: unreadable,
        streams,
    }
}

/// Every point of a sweep, and the last clean one.
#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    /// One run per subscriber count, in order.
    pub points: Vec<RunReport>,
    /// Subscribers per room of the last clean point.
    pub last_clean_subscribers: Option<usize>,
    /// Why the sweep stopped.
    pub stopped_because: String,
}

/// Subscriber counts a sweep tries: 10, 20, 40, 80, then every 40 up to `max`.
pub fn sweep_points(max: usize) -> Vec<usize> {
    [10, 20, 40].into_iter().chain((80..).step_by(40)).take_while(|&n| n <= max).collect()
}

/// Runs `workload` with more and more subscribers per room (`points`), each on a
/// fresh SFU from `start`, until a run is not clean (loss above 1% or p99 above
/// 50 ms) or fails. `on_point` sees each point as it comes.
pub async fn sweep<D, F, Fut>(
    mut start: F,
    workload: &Workload,
    options: &RunOptions,
    points: &[usize],
    mut on_point: impl FnMut(&RunReport),
) -> anyhow::Result<SweepReport>
where
    D: SfuDriver,
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<D>>,
{
    let mut report = SweepReport {
        points: Vec::new(),
        last_clean_subscribers: None,
        stopped_because: "every point was clean".into(),
    };
    for &subscribers in points {
        let point = Workload { subscribers, ..workload.clone() };
        let driver = start().await?;
        let run = run(&driver, &point, options).await;
        drop(driver);
        match run {
            Ok(run) => {
                on_point(&run);
                let clean = run.is_clean();
                report.points.push(run);
                if !clean {
                    report.stopped_because = format!("not clean at {subscribers} subscribers per room");
                    break;
                }
                report.last_clean_subscribers = Some(subscribers);
            }
            Err(e) => {
                report.stopped_because = format!("the run with {subscribers} subscribers per room failed: {e:#}");
                break;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_publisher_receives_its_rooms_others_and_nothing_of_its_own() {
        let workload = Workload { rooms: 2, publishers: 3, ..Workload::default() };
        let (tags, expected) = room_streams(&workload, 1, Some(4));
        assert_eq!(tags, 6..12);
        let publishers: Vec<u32> = expected.iter().map(|t| t.publisher()).collect();
        assert_eq!(publishers, [3, 3, 5, 5]);
    }

    #[test]
    fn a_sweep_doubles_then_climbs_by_forty() {
        assert_eq!(sweep_points(200), [10, 20, 40, 80, 120, 160, 200]);
    }
}

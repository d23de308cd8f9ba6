//! `confer-load chat-flood`: whether a chat flood in one room slows joins in others.
//!
//! Starts a real `confer-media` (no api: auth open) and times joins to fresh rooms
//! (connect, `join`, the `joined` reply) first on a quiet node, then while
//! `flooders` sockets in one room send chat messages as fast as the node answers
//! them. The ratio of the two join times is what the node's locking costs a room
//! that has nothing to do with the flood.

use crate::{Killed, spawn_logged};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Join times in one phase, in microseconds, sorted.
struct JoinTimes(Vec<u64>);

impl JoinTimes {
    fn percentile(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let at = ((self.0.len() as f64 - 1.0) * p).round() as usize;
        self.0[at] as f64 / 1000.0
    }
}

/// Sends `body` as request `id` and reads frames until its reply (pushes dropped).
async fn request(socket: &mut Socket, id: u64, mut body: Value) -> anyhow::Result<Value> {
    body["v"] = json!(1);
    body["id"] = json!(id);
    socket.send(Message::text(body.to_string())).await?;
    loop {
        match tokio::time::timeout(Duration::from_secs(30), socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let frame: Value = serde_json::from_str(text.as_str())?;
                if frame["re"] == json!(id) {
                    return Ok(frame);
                }
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => anyhow::bail!("the socket closed"),
            Err(_) => anyhow::bail!("no reply within 30 s"),
        }
    }
}

async fn connect(site: &str) -> anyhow::Result<Socket> {
    Ok(tokio_tungstenite::connect_async(format!("ws://{site}/ws")).await?.0)
}

/// Joins a fresh room again and again for `seconds`, one join at a time.
async fn time_joins(site: &str, phase: &str, seconds: u64) -> anyhow::Result<JoinTimes> {
    let mut times = Vec::new();
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let started = Instant::now();
        let mut socket = connect(site).await?;
        let reply =
            request(&mut socket, 1, json!({"type": "join", "room": format!("{phase}-{n}"), "name": "Joiner"})).await?;
        anyhow::ensure!(reply["type"] == "joined", "the join was refused: {reply}");
        times.push(started.elapsed().as_micros() as u64);
        let _ = request(&mut socket, 2, json!({"type": "leave"})).await;
        let _ = socket.close(None).await;
    }
    times.sort_unstable();
    Ok(JoinTimes(times))
}

/// One flooder: joins room `flood` and sends chat messages until `stop`.
/// Whether the node closed the socket.
async fn flood(site: String, index: usize, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) -> anyhow::Result<bool> {
    let mut socket = connect(&site).await?;
    let reply =
        request(&mut socket, 1, json!({"type": "join", "room": "flood", "name": format!("Flooder {index}")})).await?;
    anyhow::ensure!(reply["type"] == "joined", "the flooder was refused: {reply}");
    let mut id = 1;
    while !stop.load(Ordering::Relaxed) {
        id += 1;
        // Over its budget the node refuses, and after many refusals closes the socket.
        let Ok(reply) = request(&mut socket, id, json!({"type": "chat", "text": "flood flood flood"})).await else {
            return Ok(true);
        };
        if reply["type"] == "ok" {
            sent.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(false)
}

/// Runs both phases against a node started with `node_env` and prints the figures.
pub async fn run(flooders: usize, seconds: u64, node_env: &[(String, String)]) -> anyhow::Result<()> {
    let mut env = vec![
        ("CONFER_MEDIA_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ("CONFER_MEDIA_UDP".to_owned(), "127.0.0.1:0".to_owned()),
    ];
    env.extend(node_env.iter().cloned());
    let (node, site) = spawn_logged("confer-media", &env);
    let _node = Killed(node);

    let quiet = time_joins(&site, "quiet", seconds).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..flooders {
        tasks.push(tokio::spawn(flood(site.clone(), i, stop.clone(), sent.clone())));
    }
    // Let every flooder get in before timing.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = sent.load(Ordering::Relaxed);
    let started = Instant::now();
    let flooded = time_joins(&site, "busy", seconds).await?;
    let messages = sent.load(Ordering::Relaxed) - before;
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut closed = 0;
    for task in tasks {
        closed += usize::from(task.await??);
    }

    println!("chat flood: {flooders} sockets in one room, {seconds} s per phase");
    println!(
        "quiet node:   {} joins, join p50 {:.2} ms, p99 {:.2} ms",
        quiet.0.len(),
        quiet.percentile(0.5),
        quiet.percentile(0.99)
    );
    println!(
        "during flood: {} joins, join p50 {:.2} ms, p99 {:.2} ms; {:.0} chat messages/s accepted, {:.0} pushes/s sent",
        flooded.0.len(),
        flooded.percentile(0.5),
        flooded.percentile(0.99),
        messages as f64 / elapsed,
        messages as f64 * flooders as f64 / elapsed
    );
    println!("flooding sockets the node closed for going on past their budget: {closed}");
    println!(
        "ratio (flood / quiet): p50 {:.2}, p99 {:.2}",
        flooded.percentile(0.5) / quiet.percentile(0.5),
        flooded.percentile(0.99) / quiet.percentile(0.99)
    );
    Ok(())
}

//! `confer-load`: load generators for the figures in docs/BENCHMARKS.md.
//!
//! `confer-load appends` drives the event store directly (the `api` library, as the
//! API does it for a command whose only write is an append: one statement that
//! checks the expected version, inserts and projects) and reports appends per
//! second with latency percentiles.

use clap::{Parser, Subcommand};
use confer_api::domain::{DomainEvent, EventMetadata, RoomName, StreamId};
use confer_api::store::{EventStore, ExpectedVersion};
use sea_orm::{ConnectOptions, ConnectionTrait, Database};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Parser)]
#[command(about = "Load generators for Confer's benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Load,
}

#[derive(Subcommand)]
enum Load {
    /// Appends events through the event store into a fresh database.
    Appends {
        /// Server to create the benchmark database on (a maintenance database URL).
        #[arg(long, env = "CONFER_TEST_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        admin_url: String,
        /// Streams written to; each belongs to one client, so appends never conflict.
        #[arg(long, default_value_t = 1)]
        streams: usize,
        /// Concurrent writers (at most `streams`).
        #[arg(long, default_value_t = 1)]
        clients: usize,
        /// Duration of the measurement.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

fn event(stream_no: usize, version: i64) -> DomainEvent {
    let at = chrono::Utc::now();
    let room = RoomName::parse(&format!("bench-{stream_no}")).unwrap_or_else(|_| unreachable!("valid room name"));
    if version == 0 {
        DomainEvent::MeetingScheduled {
            meeting_id: Uuid::from_u128(stream_no as u128 + 1),
            room,
            title: "benchmark".into(),
            starts_at: at,
            ends_at: at + chrono::Duration::hours(1),
            password_hash: None,
            moderators: vec![],
            lobby: None,
        }
    } else {
        DomainEvent::MeetingChanged {
            meeting_id: Uuid::from_u128(stream_no as u128 + 1),
            title: format!("benchmark v{version}"),
            starts_at: at,
            ends_at: at + chrono::Duration::hours(1),
            password_hash: None,
            moderators: vec![],
            lobby: None,
        }
    }
}

async fn appends(admin_url: String, streams: usize, clients: usize, seconds: u64) -> anyhow::Result<()> {
    let clients = clients.clamp(1, streams.max(1));
    let name = format!("confer_bench_{}", Uuid::new_v4().simple());
    let admin = Database::connect(admin_url.clone()).await?;
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
    let url = format!("{}/{name}", &admin_url[..admin_url.rfind('/').unwrap_or(admin_url.len())]);
    let owner = Database::connect(url.clone()).await?;
    confer_api::app::migrate(&owner).await?;
    owner.close().await?;
    // Connected as the API connects: as the role confer_app.
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(clients as u32)
        .sqlx_logging(false)
        .map_sqlx_postgres_opts(|o| o.options([("role", "confer_app")]));
    let db = Database::connect(options).await?;
    let store = EventStore::new(db.clone());
    let tenant = Uuid::now_v7();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (store, stop) = (store.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mine: Vec<usize> = (client..streams).step_by(clients).collect();
            let ids: Vec<StreamId> = mine.iter().map(|n| StreamId::from_stored(format!("bench-{n}"))).collect();
            let mut versions = vec![0i64; mine.len()];
            let mut latencies = Vec::new();
            let meta = EventMetadata { actor: "bench".into(), ..Default::default() };
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let k = i % mine.len();
                let expected =
                    if versions[k] == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exactly(versions[k]) };
                let t0 = Instant::now();
                // As the API appends when a command's only write is the append: one statement.
                store.append(tenant, &ids[k], expected, &[event(mine[k], versions[k])], &meta).await?;
                latencies.push(t0.elapsed());
                versions[k] += 1;
                i += 1;
            }
            anyhow::Ok(latencies)
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or_default()
    };
    println!(
        "appends streams={streams} clients={clients}: {} in {:.1} s = {:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms",
        all.len(),
        elapsed,
        all.len() as f64 / elapsed,
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0
    );
    db.close().await.ok();
    admin.execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)")).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Load::Appends { admin_url, streams, clients, seconds } => appends(admin_url, streams, clients, seconds).await,
    }
}

//! `confer-load`: load generators for the figures in docs/BENCHMARKS.md.
//!
//! `confer-load appends` drives the event store directly (the `api` library, as the
//! API does it for a command whose only write is an append: one statement that
//! checks the expected version, inserts and projects) and reports appends per
//! second with latency percentiles.
//!
//! `confer-load jobs` puts no-op jobs in a fresh database's outbox and times the real
//! `confer-worker`: first relaying them to RabbitMQ, then consuming them (each one's
//! outcome recorded, as every job's is).
//!
//! `confer-load domains` times custom domains from "DNS record created" to "the
//! node serves the certificate", against Pebble, through the real api, worker and
//! media node.
//!
//! `confer-load chat-flood` times joins to quiet rooms of a real node, first with
//! nothing else going on, then while sockets in another room flood it with chat.
//!
//! `confer-load front-door` signs tenants up and times their cold starts through the
//! real front door, then measures the nodes' memory and the front door's cost
//! against a direct connection (see `confer_tests::front_door_load`).

use clap::{Parser, Subcommand};
use confer_store::domain::{DomainEvent, EventMetadata, RoomName, StreamId};
use confer_store::{EventStore, ExpectedVersion};
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
    /// No-op jobs through the worker: outbox → RabbitMQ, then RabbitMQ → done.
    Jobs {
        /// Jobs to run.
        #[arg(long, default_value_t = 20_000)]
        count: u32,
        /// Jobs a consumer holds at once (`CONFER_JOB_PREFETCH`).
        #[arg(long, default_value_t = 16)]
        prefetch: u16,
    },
    /// Custom domains from DNS record to certificate served, against Pebble.
    Domains {
        /// Domains, one after another.
        #[arg(long, default_value_t = 10)]
        count: usize,
    },
    /// Tenants at once, a 2-person meeting each, through the front door: more and
    /// more tenants until loss passes 1% or p99 delay 50 ms.
    Tenants {
        /// The tenant counts to try, in order.
        #[arg(long, value_delimiter = ',', default_values_t = [5, 10, 20, 30, 40, 60, 80])]
        points: Vec<usize>,
        /// Seconds of each measurement window.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Video bitrate per participant, kbit/s.
        #[arg(long, default_value_t = 500)]
        video_kbps: u32,
    },
    /// Join times in quiet rooms, on a quiet node and during a chat flood in another room.
    ChatFlood {
        /// Sockets flooding one room with chat.
        #[arg(long, default_value_t = 20)]
        flooders: usize,
        /// Seconds of each phase.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// `NAME=value` settings for the node (e.g. its signaling limits), repeatable.
        #[arg(long = "node-env")]
        node_env: Vec<String>,
    },
    /// Nodes on demand: cold starts, nodes' memory, the front door against direct.
    FrontDoor {
        /// Tenants signed up and started, one after another.
        #[arg(long, default_value_t = 100)]
        tenants: usize,
        /// Seconds of each wrk turn.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// wrk connections.
        #[arg(long, default_value_t = 32)]
        connections: u32,
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

/// Jobs per second from the first to the last timestamp of `column` in `table`.
async fn rate(db: &sea_orm::DatabaseConnection, table: &str, column: &str) -> anyhow::Result<(i64, f64)> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT count({column}) AS n, extract(epoch FROM max({column}) - min({column}))::float8 AS secs FROM {table}"
            ),
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no answer"))?;
    let n: i64 = row.try_get("", "n")?;
    let secs: Option<f64> = row.try_get("", "secs")?;
    let secs = secs.unwrap_or(0.0);
    Ok((n, if secs > 0.0 { (n - 1) as f64 / secs } else { 0.0 }))
}

/// Waits until `query` (a count) reaches `target`.
async fn until_count(
    db: &sea_orm::DatabaseConnection,
    query: &str,
    target: i64,
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, query.to_owned()))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no answer"))?;
        if row.try_get::<i64>("", "n")? >= target {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "{query} did not reach {target} within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn jobs(count: u32, prefetch: u16) -> anyhow::Result<()> {
    use confer_tests::{Killed, TestDatabase, binary, rabbitmq::TestVhost};
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    confer_api::app::migrate(&db).await?;
    // As the superuser: the outbox's row-level security does not apply.
    db.execute_unprepared(&format!(
        "INSERT INTO outbox (id, tenant_id, kind, payload, event_position, created_at) \
         SELECT gen_random_uuid(), '{}', 'noop', '{{}}'::jsonb, 0, now() FROM generate_series(1, {count})",
        Uuid::now_v7()
    ))
    .await?;
    let vhost = TestVhost::create();
    let worker = |kinds: &str| -> anyhow::Result<Killed> {
        let child = std::process::Command::new(binary("confer-worker"))
            .env("DATABASE_URL", &database.url)
            .env("CONFER_AMQP_URL", vhost.amqp_url())
            .env("CONFER_WORKER_JOBS", kinds)
            .env("CONFER_JOB_PREFETCH", prefetch.to_string())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()?;
        Ok(Killed(child))
    };
    let relaying = worker("none")?;
    until_count(
        &db,
        "SELECT count(*) AS n FROM outbox WHERE published_at IS NOT NULL",
        count.into(),
        Duration::from_secs(600),
    )
    .await?;
    drop(relaying);
    let (published, relayed) = rate(&db, "outbox", "published_at").await?;
    let consuming = worker("noop")?;
    until_count(&db, "SELECT count(*) AS n FROM processed_jobs", count.into(), Duration::from_secs(600)).await?;
    drop(consuming);
    let (done, consumed) = rate(&db, "processed_jobs", "finished_at").await?;
    println!("jobs relayed (outbox → RabbitMQ, confirmed, marked sent): {published} at {relayed:.0}/s");
    println!("jobs consumed (noop, outcome recorded, acked; prefetch {prefetch}): {done} at {consumed:.0}/s");
    db.close().await.ok();
    Ok(())
}

async fn domains(count: usize) -> anyhow::Result<()> {
    use confer_tests::domain_rig::DomainRig;
    use confer_tests::pebble::PebbleOptions;
    // The platform's DNS rechecks are not what is measured: the record exists
    // before the domain is added.
    let rig = DomainRig::start(PebbleOptions::answering_on, &[]).await;
    let _worker = rig.worker();
    let mut times = Vec::with_capacity(count);
    for n in 0..count {
        let hostname = rig.hostname(&format!("bench{n}"));
        rig.pebble.set_cname(&hostname, &rig.platform_name()).await?;
        let created = Instant::now();
        rig.add_domain(&hostname).await;
        let deadline = created + Duration::from_secs(120);
        while rig.served_serial(&hostname).await.is_err() {
            anyhow::ensure!(Instant::now() < deadline, "{hostname} was not served within 120 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let took = created.elapsed();
        eprintln!("{hostname}: {took:?}");
        times.push(took);
    }
    times.sort();
    let at = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    println!(
        "domains: {count}, record created → certificate served: p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms",
        at(0.5).as_secs_f64() * 1000.0,
        at(0.9).as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0
    );
    Ok(())
}

async fn tenants(points: Vec<usize>, seconds: u64, video_kbps: u32) -> anyhow::Result<()> {
    use confer_tests::front_door_load::percentile;
    use confer_tests::sfu_load::proc_stats::{Process, memory};
    use confer_tests::sfu_load::runner::{RunOptions, run};
    use confer_tests::sfu_load::tenants_driver::TenantsDriver;
    use confer_tests::sfu_load::workload::Workload;
    let ms = |mut d: Vec<Duration>, p: f64| {
        d.sort();
        if d.is_empty() { 0.0 } else { percentile(&d, p).as_secs_f64() * 1e3 }
    };
    for n in points {
        let driver = TenantsDriver::start(n).await?;
        let workload = Workload {
            rooms: n,
            publishers: 2,
            subscribers: 0,
            everyone_receives: true,
            video_kbps,
            fps: 30,
            seconds,
            warmup_seconds: 3,
        };
        let report = run(&driver, &workload, &RunOptions::default()).await;
        let joins = driver.joins();
        let rss_mib: u64 = driver
            .node_pids()
            .into_iter()
            .filter_map(|pid| memory(Process::Pid(pid)).ok())
            .map(|m| m.rss_kib)
            .sum::<u64>()
            / 1024;
        let nodes = driver.node_pids().len();
        drop(driver);
        match report {
            Ok(r) => {
                println!(
                    "tenants {n:>3} ({nodes} nodes, {rss_mib} MiB RSS summed): forwarded {:.0} pps of {:.0}, loss {:.2}%, delay p50 {:.1} ms p99 {:.1} ms · join p50 {:.0} ms p99 {:.0} ms, first of a tenant p50 {:.0} ms p99 {:.0} ms{}",
                    r.forwarded_pps,
                    r.expected_forwarded_pps,
                    r.loss_percent,
                    r.delay_p50_ms.unwrap_or(f64::NAN),
                    r.delay_p99_ms.unwrap_or(f64::NAN),
                    ms(joins.later.clone(), 0.5),
                    ms(joins.later, 0.99),
                    ms(joins.first.clone(), 0.5),
                    ms(joins.first, 0.99),
                    if r.is_clean() { "" } else { "  ← not clean" }
                );
                if !r.is_clean() {
                    break;
                }
            }
            Err(e) => {
                println!("tenants {n:>3}: the run failed: {e:#}");
                break;
            }
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Load::Appends { admin_url, streams, clients, seconds } => appends(admin_url, streams, clients, seconds).await,
        Load::Jobs { count, prefetch } => jobs(count, prefetch).await,
        Load::Domains { count } => domains(count).await,
        Load::Tenants { points, seconds, video_kbps } => tenants(points, seconds, video_kbps).await,
        Load::FrontDoor { tenants, seconds, connections } => {
            confer_tests::front_door_load::FrontDoorLoad { tenants, seconds, connections }.run().await
        }
        Load::ChatFlood { flooders, seconds, node_env } => {
            let node_env: Vec<(String, String)> = node_env
                .iter()
                .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
                .collect();
            confer_tests::chat_flood_load::run(flooders, seconds, &node_env).await
        }
    }
}

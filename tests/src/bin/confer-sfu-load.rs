//! `confer-sfu-load`: the same WebRTC workload on Confer's media node and on Janus,
//! measured the same way (see `confer_tests::sfu_load`).
//!
//! ```text
//! confer-sfu-load --scenario two-by-ten
//! confer-sfu-load --scenario ten-all --seconds 30 --json ten-all.json
//! confer-sfu-load --rooms 1 --publishers 2 --sweep --json sweep.json
//! confer-sfu-load --sfu both --scenario ten-all --repeat 5
//! ```
//!
//! Prints one table row per run (and per sweep point) on stdout, notes on the
//! generator's own load on stderr, and with `--json` writes every row to a file.
//!
//! Janus gathers no ICE candidates on loopback: with `--sfu janus` or `both` the
//! tool installs Janus if needed, then runs itself again in a private network
//! namespace (`confer_tests::private_network`, as root), where Janus's media is on
//! a veth address and the load peers on the other end (Confer stays on 127.0.0.1).

use clap::{Parser, ValueEnum};
use confer_tests::private_network::{self, PEER_ADDRESS};
use confer_tests::sfu_load::confer_driver::{ConferDriver, ConferOptions};
use confer_tests::sfu_load::driver::SfuDriver;
use confer_tests::sfu_load::janus_driver::{JanusDriver, JanusOptions};
use confer_tests::sfu_load::report::{self, JsonReport};
use confer_tests::sfu_load::runner::{self, RunOptions, RunReport, SweepReport};
use confer_tests::sfu_load::workload::{Scenario, Workload};
use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Sfu {
    Confer,
    Janus,
    Both,
}

/// Loads an SFU with WebRTC publishers and subscribers and reports forwarding rate,
/// CPU per packet, memory, loss and delay.
#[derive(Debug, Parser)]
#[command(name = "confer-sfu-load")]
struct Cli {
    /// The SFU to load.
    #[arg(long, value_enum, default_value_t = Sfu::Confer)]
    sfu: Sfu,
    /// A preset of rooms and participants (the flags below override it).
    #[arg(long, value_enum)]
    scenario: Option<Scenario>,
    /// Rooms.
    #[arg(long)]
    rooms: Option<usize>,
    /// Publishers per room.
    #[arg(long)]
    publishers: Option<usize>,
    /// Receive-only subscribers per room.
    #[arg(long)]
    subscribers: Option<usize>,
    /// Every publisher also receives the room's other publishers.
    #[arg(long)]
    everyone_receives: bool,
    /// Video bitrate per publisher, kbit/s.
    #[arg(long, default_value_t = 500)]
    video_kbps: u32,
    /// Video frames per second.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Measurement window, seconds.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Warm-up once everything flows, seconds.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Confer's SFU event loops (`CONFER_MEDIA_LOOPS`).
    #[arg(long, default_value_t = 2)]
    media_loops: usize,
    /// Janus's media event loops (`event_loops`).
    #[arg(long, default_value_t = 2)]
    janus_event_loops: u32,
    /// Raise the subscribers per room (10, 20, 40, 80, then +40) until loss passes
    /// 1% or p99 delay passes 50 ms; a fresh SFU per point.
    #[arg(long)]
    sweep: bool,
    /// The most subscribers per room a sweep tries.
    #[arg(long, default_value_t = 400)]
    sweep_max: usize,
    /// Runs per SFU, taken in turns (Confer, Janus, Confer, ...); the medians are
    /// printed at the end. Not with `--sweep`.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    repeat: u32,
    /// Write every run as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The address the load peers bind (default: 127.0.0.1 for Confer, the private
    /// network's peer address for Janus).
    #[arg(long)]
    local_ip: Option<IpAddr>,
}

impl Cli {
    fn workload(&self) -> Workload {
        let base = self.scenario.map(Workload::scenario).unwrap_or_default();
        Workload {
            rooms: self.rooms.unwrap_or(base.rooms),
            publishers: self.publishers.unwrap_or(base.publishers),
            subscribers: self.subscribers.unwrap_or(base.subscribers),
            everyone_receives: self.everyone_receives || base.everyone_receives,
            video_kbps: self.video_kbps,
            fps: self.fps,
            seconds: self.seconds,
            warmup_seconds: self.warmup,
        }
    }
}

/// What one SFU gave.
struct Outcome {
    sfu: &'static str,
    runs: Vec<RunReport>,
    sweep: Option<SweepReport>,
}

/// Prints a sweep point as it comes (the header with the first).
fn point_printer() -> impl FnMut(&RunReport) {
    let mut first = true;
    move |run| {
        let table = report::table(std::slice::from_ref(run));
        let skip = usize::from(!std::mem::take(&mut first));
        table.lines().skip(skip).for_each(|line| println!("{line}"));
        eprintln!("{}", report::notes(run));
    }
}

/// One run or a sweep on the SFU `start` brings up.
async fn measure<D, F, Fut>(
    name: &'static str,
    mut start: F,
    cli: &Cli,
    options: &RunOptions,
) -> anyhow::Result<Outcome>
where
    D: SfuDriver,
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<D>>,
{
    let workload = cli.workload();
    if cli.sweep {
        let points = runner::sweep_points(cli.sweep_max);
        let sweep = runner::sweep(start, &workload, options, &points, point_printer()).await?;
        println!("{}", report::sweep_summary(name, &sweep));
        return Ok(Outcome { sfu: name, runs: sweep.points.clone(), sweep: Some(sweep) });
    }
    let driver = start().await?;
    let run = runner::run(&driver, &workload, options).await?;
    drop(driver);
    eprintln!("{}", report::notes(&run));
    Ok(Outcome { sfu: name, runs: vec![run], sweep: None })
}

async fn confer(cli: &Cli) -> anyhow::Result<Outcome> {
    let options = ConferOptions { media_loops: cli.media_loops, ..ConferOptions::default() };
    let run_options = RunOptions { local_ip: cli.local_ip.unwrap_or(RunOptions::default().local_ip) };
    measure("confer", || ConferDriver::start(&options), cli, &run_options).await
}

async fn janus(cli: &Cli) -> anyhow::Result<Outcome> {
    let workload = cli.workload();
    let defaults = JanusOptions::default();
    let options = JanusOptions {
        event_loops: cli.janus_event_loops,
        // Room caps well above what is sent, so that Janus limits nothing.
        bitrate: defaults.bitrate.max(cli.video_kbps.saturating_mul(2_000)),
        publishers: defaults.publishers.max(u32::try_from(workload.publishers)?),
        ..defaults
    };
    let run_options = RunOptions { local_ip: cli.local_ip.unwrap_or(IpAddr::V4(PEER_ADDRESS)) };
    measure("janus", || JanusDriver::start(options.clone()), cli, &run_options).await
}

async fn main_async(cli: Cli) -> anyhow::Result<()> {
    anyhow::ensure!(cli.repeat == 1 || !cli.sweep, "--repeat and --sweep do not go together");
    let mut outcomes = Vec::new();
    for _ in 0..cli.repeat {
        if matches!(cli.sfu, Sfu::Confer | Sfu::Both) {
            outcomes.push(confer(&cli).await?);
        }
        if matches!(cli.sfu, Sfu::Janus | Sfu::Both) {
            outcomes.push(janus(&cli).await?);
        }
    }
    let runs: Vec<RunReport> = outcomes.iter().flat_map(|o| o.runs.iter().cloned()).collect();
    println!();
    print!("{}", report::table(&runs));
    if cli.repeat > 1 {
        print!("{}", report::medians(&runs));
    }
    if let Some(path) = &cli.json {
        let sweeps = outcomes.iter().filter_map(|o| o.sweep.as_ref().map(|s| (o.sfu, s))).collect();
        report::write_json(path, &JsonReport { runs: &runs, sweeps })?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.sfu != Sfu::Confer {
        if !private_network::is_inside() {
            confer_tests::janus::install()?; // apt has no network in the namespace
        }
        let args: Vec<String> = std::env::args().skip(1).collect();
        if let Some(code) = private_network::reexec_in_private_network(&args)? {
            std::process::exit(code);
        }
    }
    // Signaling only: the media has a thread of its own.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(main_async(cli))
}

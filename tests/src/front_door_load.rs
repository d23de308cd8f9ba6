//! `confer-load front-door`: what nodes on demand cost, on the real api, front door
//! and nodes (the binaries of the profile this tool was built with).
//!
//! 1. **Cold starts.** Signs up `tenants` tenants, then opens each one's meeting page
//!    through the front door, one after another: every request finds its tenant
//!    stopped, so each one starts a node and waits for it. Times request → page.
//! 2. **Memory.** With all those nodes running idle: the RSS and PSS of the front
//!    door and of every node (PSS shares the pages the nodes have in common, such as
//!    the binary's, between them: the sum of PSS is what they take together).
//! 3. **The front door's cost.** `wrk` on one tenant's meeting page, in turns: straight
//!    to the node's HTTP port, then through the front door, twice each; with
//!    `connections` connections (saturation) and with one.

use crate::front_door::FrontDoorPlatform;
use crate::sfu_load::proc_stats::{Process, memory};
use crate::unique_slug;
use std::process::Command;
use std::time::{Duration, Instant};

/// What to measure.
pub struct FrontDoorLoad {
    /// Tenants to sign up and start (and to keep running idle for the memory figures).
    pub tenants: usize,
    /// Seconds of each `wrk` turn.
    pub seconds: u64,
    /// `wrk` connections.
    pub connections: u32,
}

/// A process's resident and proportional set sizes, KiB.
#[derive(Debug, Clone, Copy, Default)]
struct Memory {
    rss_kib: u64,
    pss_kib: u64,
}

/// RSS as the SFU load tool reads it (`/proc/<pid>/status`), and PSS from
/// `/proc/<pid>/smaps_rollup`.
fn memory_of(pid: u32) -> Memory {
    let rss_kib = memory(Process::Pid(pid)).map_or(0, |m| m.rss_kib);
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let pss_kib = rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Memory { rss_kib, pss_kib }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The `p` quantile (0–1) of `sorted`, which must not be empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// One `wrk` turn: requests per second and p99 latency (ms).
fn wrk(url: &str, host: &str, seconds: u64, connections: u32) -> anyhow::Result<(f64, f64)> {
    let out = Command::new("wrk")
        .args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency", "-H"])
        .arg(format!("Host: {host}"))
        .arg(url)
        .output()
        .map_err(|e| anyhow::anyhow!("wrk could not run ({e}): apt-get install wrk"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(out.status.success(), "wrk failed: {text}");
    anyhow::ensure!(!text.contains("Non-2xx"), "wrk saw errors: {text}");
    let rate = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or_else(|| anyhow::anyhow!("no Requests/sec in wrk's output: {text}"))?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(str::trim)
        .and_then(wrk_duration_ms)
        .ok_or_else(|| anyhow::anyhow!("no 99% in wrk's output: {text}"))?;
    Ok((rate, p99))
}

/// `812.00us`, `1.23ms`, `2.00s` → milliseconds.
fn wrk_duration_ms(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

impl FrontDoorLoad {
    /// Runs the three measurements and prints one line per figure.
    pub async fn run(&self) -> anyhow::Result<()> {
        let first_port = 31_000;
        let ports = format!("{first_port}-{}", first_port + self.tenants.max(1) as u16 * 2);
        let door = FrontDoorPlatform::start(&[
            ("CONFER_NODE_IDLE_SECONDS", "3600"),
            ("CONFER_NODE_UDP_PORTS", &ports),
            ("RUST_LOG", "warn,confer_frontdoor=info"),
        ])
        .await;

        // 1. Cold starts.
        let mut tenants = Vec::with_capacity(self.tenants);
        for _ in 0..self.tenants {
            tenants.push(door.platform.signup(&unique_slug("cold")).await);
        }
        let mut took = Vec::with_capacity(tenants.len());
        for t in &tenants {
            let host = format!("{}.localhost", t.slug);
            let started = Instant::now();
            let res = door.get_site(&host, "/standup").await;
            let status = res.status();
            let page = res.text().await.unwrap_or_default();
            let elapsed = started.elapsed();
            anyhow::ensure!(status == 200 && page.contains("<html"), "{host}: {status} {page}");
            took.push(elapsed);
        }
        took.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "cold start  {} tenants, request → meeting page: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            took.len(),
            ms(percentile(&took, 0.50)),
            ms(percentile(&took, 0.90)),
            ms(percentile(&took, 0.99)),
            ms(took[took.len() - 1]),
        );

        // 2. Memory, once the nodes have settled.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let front = memory_of(door.front_door_pid());
        let mut nodes: Vec<Memory> = door.node_pids().into_iter().map(memory_of).collect();
        anyhow::ensure!(nodes.len() == tenants.len(), "{} nodes running for {} tenants", nodes.len(), tenants.len());
        nodes.sort_by_key(|m| m.rss_kib);
        let rss: u64 = nodes.iter().map(|m| m.rss_kib).sum();
        let mut pss_sorted: Vec<u64> = nodes.iter().map(|m| m.pss_kib).collect();
        pss_sorted.sort();
        let pss: u64 = pss_sorted.iter().sum();
        println!("memory      front door with {} nodes: RSS {:.1} MiB", nodes.len(), mib(front.rss_kib));
        println!(
            "memory      one idle node: RSS {:.1} MiB (median; max {:.1}), PSS {:.1} MiB (median)",
            mib(nodes[nodes.len() / 2].rss_kib),
            mib(nodes[nodes.len() - 1].rss_kib),
            mib(pss_sorted[pss_sorted.len() / 2]),
        );
        println!(
            "memory      {} idle nodes together: PSS {:.0} MiB ({:.1} MiB each), RSS summed {:.0} MiB",
            nodes.len(),
            mib(pss),
            mib(pss) / nodes.len() as f64,
            mib(rss),
        );

        // 3. Straight to the node and through the front door, in turns.
        let tenant = &tenants[0];
        let node = door.registration(tenant).await.ok_or_else(|| anyhow::anyhow!("{} has no node", tenant.slug))?;
        let host = format!("{}.localhost", tenant.slug);
        let direct = format!("http://{}/standup", node.http);
        let through = format!("http://127.0.0.1:{}/standup", door.port);
        wrk(&direct, &host, 2, self.connections)?; // warm-up
        wrk(&through, &host, 2, self.connections)?;
        // At saturation (every core busy: wrk, the front door and the node share them)
        // and with one connection (what a request waits for when nobody queues).
        for connections in [self.connections, 1] {
            let mut turns = Vec::new();
            for _ in 0..2 {
                let d = wrk(&direct, &host, self.seconds, connections)?;
                let f = wrk(&through, &host, self.seconds, connections)?;
                println!(
                    "proxy       {connections} connection(s), meeting page: direct {:.0} req/s p99 {:.2} ms · front door {:.0} req/s p99 {:.2} ms · {:.0}% of direct",
                    d.0,
                    d.1,
                    f.0,
                    f.1,
                    100.0 * f.0 / d.0
                );
                turns.push(f.0 / d.0);
            }
            println!(
                "proxy       {connections} connection(s): front door ÷ direct, mean of the turns: {:.0}%",
                100.0 * turns.iter().sum::<f64>() / turns.len() as f64
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_durations_are_read_in_milliseconds() {
        assert_eq!(wrk_duration_ms("812.00us"), Some(0.812));
        assert_eq!(wrk_duration_ms("1.50ms"), Some(1.5));
        assert_eq!(wrk_duration_ms("2.00s"), Some(2000.0));
        assert_eq!(wrk_duration_ms("fast"), None);
    }

    #[test]
    fn percentiles_pick_the_rank() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&d, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&d, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&d[..1], 0.99), Duration::from_millis(1));
    }
}

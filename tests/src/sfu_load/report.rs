//! How runs are shown: a table on stdout, one row per run, and every row as JSON
//! for whoever draws the plot.

use super::runner::{RunReport, SweepReport};
use anyhow::Context;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

/// The media thread's share of a core above which its figures are suspect: a
/// generator that is nearly saturated adds its own queueing to the delays and loss.
const GENERATOR_BUSY: f64 = 0.8;

const HEADER: [&str; 15] = [
    "sfu",
    "workload",
    "kbps",
    "fwd pps",
    "expected",
    "fwd Mbit/s",
    "SFU CPU s",
    "µs/pkt",
    "peak RSS MB",
    "loss %",
    "p50 ms",
    "p99 ms",
    "max ms",
    "tool CPU s (media)",
    "clean",
];

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
}

fn row(run: &RunReport) -> [String; 15] {
    [
        run.sfu.clone(),
        run.workload.label(),
        run.workload.video_kbps.to_string(),
        format!("{:.0}", run.forwarded_pps),
        format!("{:.0}", run.expected_forwarded_pps),
        format!("{:.2}", run.forwarded_bps / 1e6),
        format!("{:.2}", run.sfu_cpu_seconds),
        format!("{:.1}", run.cpu_us_per_forwarded_packet),
        format!("{:.1}", run.sfu_peak_rss_mb),
        format!("{:.3}", run.loss_percent),
        ms(run.delay_p50_ms),
        ms(run.delay_p99_ms),
        ms(run.delay_max_ms),
        format!("{:.2} ({:.2})", run.tool_cpu_seconds, run.tool_media_thread_cpu_seconds),
        if run.is_clean() { "yes" } else { "no" }.to_owned(),
    ]
}

/// Each SFU's median CPU per forwarded packet over `runs` (a machine shared with
/// other work is noisy: repeated runs, taken in turns, and their medians compare
/// better than one run each), and, with two SFUs, how many packets per CPU-second
/// the first forwards for each one the second does.
pub fn medians(runs: &[RunReport]) -> String {
    let samples: Vec<(&str, f64)> = runs.iter().map(|r| (r.sfu.as_str(), r.cpu_us_per_forwarded_packet)).collect();
    median_summary(&samples)
}

/// `medians` over (SFU, µs per packet) samples, SFUs in the order they first appear.
fn median_summary(samples: &[(&str, f64)]) -> String {
    let mut sfus: Vec<&str> = Vec::new();
    for (sfu, _) in samples {
        if !sfus.contains(sfu) {
            sfus.push(sfu);
        }
    }
    let mut out = String::new();
    let mut medians = Vec::new();
    for sfu in &sfus {
        let mut values: Vec<f64> = samples.iter().filter(|(s, _)| s == sfu).map(|(_, v)| *v).collect();
        let median = median(&mut values);
        let n = values.len();
        let all: Vec<String> = values.iter().map(|v| format!("{v:.1}")).collect();
        let _ = writeln!(out, "{sfu}: median {median:.1} µs per forwarded packet over {n} runs ({})", all.join(", "));
        medians.push(median);
    }
    if let ([first, second], [a, b]) = (sfus.as_slice(), medians.as_slice())
        && *a > 0.0
    {
        let _ = writeln!(out, "{first} forwards {:.2}x the packets per CPU-second of {second} (medians)", b / a);
        // Each round's two runs follow each other, so their ratio cancels the
        // machine's slower drifts.
        let of = |sfu: &str| -> Vec<f64> { samples.iter().filter(|(s, _)| *s == sfu).map(|(_, v)| *v).collect() };
        let mut rounds: Vec<f64> =
            of(first).into_iter().zip(of(second)).filter(|(a, _)| *a > 0.0).map(|(a, b)| b / a).collect();
        if !rounds.is_empty() {
            let shown: Vec<String> = rounds.iter().map(|r| format!("{r:.2}")).collect();
            let _ = writeln!(out, "per round: {}; median {:.2}x", shown.join(", "), median(&mut rounds));
        }
    }
    out
}

/// The median of `values` (not empty), which it sorts.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

/// The runs as an aligned text table.
pub fn table(runs: &[RunReport]) -> String {
    let rows: Vec<[String; 15]> = runs.iter().map(row).collect();
    let mut widths = HEADER.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (cell, width))| {
                let pad = " ".repeat(width - cell.chars().count());
                if i < 2 { format!("{cell}{pad}") } else { format!("{pad}{cell}") }
            })
            .collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(&HEADER.map(str::to_owned));
    for row in &rows {
        line(row);
    }
    out
}

/// A few lines that say whether the numbers can be trusted: the generator's own
/// load, lateness and failures, and anything that arrived where it should not.
pub fn notes(run: &RunReport) -> String {
    let window = run.window_seconds.max(f64::EPSILON);
    let mut out = format!(
        "{} {}: published {:.0} pps; tool CPU {:.0}% of a core (media thread {:.0}%), sent at worst {:.1} ms late; \
         {} keyframe requests; {} silent streams",
        run.sfu,
        run.workload.label(),
        run.published_pps,
        run.tool_cpu_seconds * 100.0 / window,
        run.tool_media_thread_cpu_seconds * 100.0 / window,
        run.tool_max_lag_ms,
        run.keyframe_requests,
        run.silent_streams,
    );
    let media_thread_share = run.tool_media_thread_cpu_seconds / window;
    if media_thread_share > GENERATOR_BUSY {
        let _ = write!(
            out,
            "; THE GENERATOR WAS BUSY ({:.0}% of a core on its media thread): it may be the bottleneck, not the SFU",
            media_thread_share * 100.0
        );
    }
    for (count, what) in [
        (run.foreign_packets, "packets reached a subscriber that should not get them"),
        (run.unreadable_packets, "packets had no readable probe"),
        (run.tool_send_errors, "datagrams the tool could not send"),
    ] {
        if count > 0 {
            let _ = write!(out, "; {count} {what}");
        }
    }
    out
}

/// The sweep's closing line.
pub fn sweep_summary(sfu: &str, sweep: &SweepReport) -> String {
    match sweep.last_clean_subscribers {
        Some(n) => format!("{sfu}: last clean point {n} subscribers per room ({})", sweep.stopped_because),
        None => format!("{sfu}: no clean point ({})", sweep.stopped_because),
    }
}

/// What `--json` writes.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    /// Every run, one row each (sweep points included).
    pub runs: &'a [RunReport],
    /// The sweeps, per SFU, when sweeping.
    pub sweeps: Vec<(&'a str, &'a SweepReport)>,
}

/// Writes `report` to `path` as pretty JSON.
pub fn write_json(path: &Path, report: &JsonReport<'_>) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_are_per_sfu_and_their_ratio_is_packets_per_cpu_second() {
        let samples =
            [("confer", 10.0), ("janus", 20.0), ("confer", 14.0), ("janus", 22.0), ("confer", 11.0), ("janus", 30.0)];
        let text = median_summary(&samples);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "confer: median 11.0 µs per forwarded packet over 3 runs (10.0, 11.0, 14.0)");
        assert_eq!(lines[1], "janus: median 22.0 µs per forwarded packet over 3 runs (20.0, 22.0, 30.0)");
        assert_eq!(lines[2], "confer forwards 2.00x the packets per CPU-second of janus (medians)");
        assert_eq!(lines[3], "per round: 2.00, 1.57, 2.73; median 2.00x");
        let even = median_summary(&[("confer", 10.0), ("confer", 12.0)]);
        assert_eq!(even.trim(), "confer: median 11.0 µs per forwarded packet over 2 runs (10.0, 12.0)");
    }
}

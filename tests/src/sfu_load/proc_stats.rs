//! CPU time and memory of a process, read from `/proc`: the SFU's (by pid), the
//! tool's own, and the tool's media thread's (so that a reader can tell whether the
//! generator, not the SFU, was the limit).

use anyhow::Context;
use std::sync::OnceLock;

/// A process or thread whose `/proc` entry is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// Another process.
    Pid(u32),
    /// This process (all its threads).
    Myself,
    /// The calling thread only.
    ThisThread,
}

impl Process {
    fn dir(self) -> String {
        match self {
            Self::Pid(pid) => format!("/proc/{pid}"),
            Self::Myself => "/proc/self".to_owned(),
            Self::ThisThread => "/proc/thread-self".to_owned(),
        }
    }
}

/// Clock ticks per second of `/proc/<pid>/stat`'s times (`getconf CLK_TCK`, read once;
/// 100 if that fails, which is what Linux uses everywhere).
pub fn clock_ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .filter(|&ticks| ticks > 0)
            .unwrap_or(100)
    })
}

/// User plus system CPU time of `process` so far, in seconds.
pub fn cpu_seconds(process: Process) -> anyhow::Result<f64> {
    let path = format!("{}/stat", process.dir());
    let stat = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    let ticks = parse_cpu_ticks(&stat).with_context(|| format!("parse {path}"))?;
    Ok(ticks as f64 / clock_ticks_per_second() as f64)
}

/// utime + stime from a `stat` line. The command name (field 2) is in parentheses
/// and may hold spaces, so the fields are counted from the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Resident memory of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Peak resident set size (`VmHWM`), KiB.
    pub peak_rss_kib: u64,
    /// Resident set size now (`VmRSS`), KiB.
    pub rss_kib: u64,
}

/// `VmHWM` and `VmRSS` of `process`.
pub fn memory(process: Process) -> anyhow::Result<Memory> {
    let path = format!("{}/status", process.dir());
    let status = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    parse_memory(&status).with_context(|| format!("no VmHWM/VmRSS in {path}"))
}

fn parse_memory(status: &str) -> Option<Memory> {
    let kib = |key: &str| {
        status.lines().find_map(|line| line.strip_prefix(key)?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
    };
    Some(Memory { peak_rss_kib: kib("VmHWM:")?, rss_kib: kib("VmRSS:")? })
}

/// CPU seconds of a process over a window: take one at the start, `seconds_since`
/// at the end.
#[derive(Debug, Clone, Copy)]
pub struct CpuMark {
    process: Process,
    at: f64,
}

impl CpuMark {
    /// Marks `process`'s CPU time now.
    pub fn now(process: Process) -> anyhow::Result<Self> {
        Ok(Self { process, at: cpu_seconds(process)? })
    }

    /// CPU seconds used since the mark.
    pub fn seconds_since(&self) -> anyhow::Result<f64> {
        Ok(cpu_seconds(self.process)? - self.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_a_name_with_spaces_and_parentheses() {
        let stat = "1234 (sfu loop (2)) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 3 0 100 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
    }

    #[test]
    fn peak_and_current_rss_come_from_status() {
        let status = "Name:\tjanus\nVmPeak:\t  900 kB\nVmHWM:\t   52344 kB\nVmRSS:\t   40000 kB\n";
        assert_eq!(parse_memory(status), Some(Memory { peak_rss_kib: 52_344, rss_kib: 40_000 }));
    }

    #[test]
    fn this_process_and_thread_can_be_read() {
        assert!(cpu_seconds(Process::Myself).is_ok());
        assert!(cpu_seconds(Process::ThisThread).is_ok());
        assert!(memory(Process::Myself).expect("own memory").peak_rss_kib > 0);
    }
}

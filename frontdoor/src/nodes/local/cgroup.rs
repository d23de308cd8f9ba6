//! A node's cgroup: its memory and CPU limits, enforced by the kernel, so that a node
//! that runs away is stopped alone and its neighbours go on.
//!
//! Both hierarchies are handled. With cgroup v2 (the unified hierarchy has the
//! `memory` controller) a node gets `<root>/confer-nodes/<node>` with `memory.max`
//! and `cpu.max`. With v1 (these machines: `/sys/fs/cgroup/{memory,cpu}`) it gets a
//! group under the front door's own group in each controller, with
//! `memory.limit_in_bytes` and `cpu.cfs_quota_us`. The node joins its groups itself
//! between fork and exec ([`NodeCgroup::join_fds`]), so none of its memory is ever
//! counted outside them.

use super::super::driver::NodeLimits;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// The CPU period the quota is a share of, microseconds.
const CPU_PERIOD_US: u64 = 100_000;
/// The folder nodes' groups are made in.
const NODES_DIR: &str = "confer-nodes";

/// Which cgroup hierarchy this machine gives the front door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cgroups {
    /// The unified hierarchy; nodes' groups go under this folder.
    V2 { base: PathBuf },
    /// Separate `memory` and `cpu` hierarchies; nodes' groups go under these folders.
    V1 { memory: PathBuf, cpu: PathBuf },
}

/// Why limits could not be applied.
#[derive(Debug, thiserror::Error)]
#[error("{what} ({path}): {source}")]
pub struct CgroupError {
    what: &'static str,
    path: String,
    #[source]
    source: std::io::Error,
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> CgroupError + 'a {
    move |source| CgroupError { what, path: path.display().to_string(), source }
}

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    fs::write(path, value).map_err(io("cannot write the limit", path))
}

impl Cgroups {
    /// Finds the hierarchy under `/sys/fs/cgroup` and makes the nodes' folder;
    /// `None` when neither hierarchy is usable (no controllers, not root).
    pub fn detect() -> Result<Self, CgroupError> {
        Self::detect_at(Path::new("/sys/fs/cgroup"), &fs::read_to_string("/proc/self/cgroup").unwrap_or_default())
    }

    fn detect_at(mount: &Path, own: &str) -> Result<Self, CgroupError> {
        let controllers = fs::read_to_string(mount.join("cgroup.controllers")).unwrap_or_default();
        let found = if controllers.split_whitespace().any(|c| c == "memory") {
            let base = mount.join(NODES_DIR);
            fs::create_dir_all(&base).map_err(io("cannot make the nodes' cgroup", &base))?;
            // Children of `base` get the memory and cpu controllers (the root gives them to `base`).
            let _ = fs::write(mount.join("cgroup.subtree_control"), "+memory +cpu");
            write(&base.join("cgroup.subtree_control"), "+memory +cpu")?;
            Self::V2 { base }
        } else {
            let in_own = |controller: &str| {
                let path = own
                    .lines()
                    .filter_map(|line| {
                        let mut parts = line.splitn(3, ':');
                        parts.next();
                        parts.next().zip(parts.next())
                    })
                    .find(|(names, _)| names.split(',').any(|n| n == controller))
                    .map_or("/", |(_, path)| path);
                mount.join(controller).join(path.trim_start_matches('/')).join(NODES_DIR)
            };
            let (memory, cpu) = (in_own("memory"), in_own("cpu"));
            for dir in [&memory, &cpu] {
                fs::create_dir_all(dir).map_err(io("cannot make the nodes' cgroup", dir))?;
            }
            Self::V1 { memory, cpu }
        };
        Ok(found)
    }

    /// Makes the group of `node` with `limits`.
    pub fn create(&self, node: Uuid, limits: NodeLimits) -> Result<NodeCgroup, CgroupError> {
        let name = node.simple().to_string();
        let quota = u64::from(limits.cpu_millis.max(10)) * CPU_PERIOD_US / 1000;
        let dirs = match self {
            Self::V2 { base } => {
                let dir = base.join(&name);
                fs::create_dir_all(&dir).map_err(io("cannot make the node's cgroup", &dir))?;
                write(&dir.join("memory.max"), &limits.memory_bytes.to_string())?;
                // No swap: past its memory the node is killed, not slowed to a crawl.
                let _ = fs::write(dir.join("memory.swap.max"), "0");
                write(&dir.join("cpu.max"), &format!("{quota} {CPU_PERIOD_US}"))?;
                vec![dir]
            }
            Self::V1 { memory, cpu } => {
                let (mem_dir, cpu_dir) = (memory.join(&name), cpu.join(&name));
                for dir in [&mem_dir, &cpu_dir] {
                    fs::create_dir_all(dir).map_err(io("cannot make the node's cgroup", dir))?;
                }
                write(&mem_dir.join("memory.limit_in_bytes"), &limits.memory_bytes.to_string())?;
                let _ = fs::write(mem_dir.join("memory.swappiness"), "0");
                write(&cpu_dir.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
                write(&cpu_dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
                vec![mem_dir, cpu_dir]
            }
        };
        let mut procs = Vec::with_capacity(dirs.len());
        for dir in &dirs {
            let path = dir.join("cgroup.procs");
            procs.push(OpenOptions::new().write(true).open(&path).map_err(io("cannot open cgroup.procs", &path))?);
        }
        Ok(NodeCgroup { dirs, procs })
    }
}

/// One node's groups.
#[derive(Debug)]
pub struct NodeCgroup {
    dirs: Vec<PathBuf>,
    procs: Vec<File>,
}

impl NodeCgroup {
    /// The open `cgroup.procs` files: writing `0` to each (in the child, before
    /// exec) moves the writer into the groups.
    pub fn join_fds(&self) -> Vec<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.procs.iter().map(AsRawFd::as_raw_fd).collect()
    }

    /// Moves the process `pid` into the groups (when it could not join by itself).
    pub fn add(&mut self, pid: u32) -> Result<(), CgroupError> {
        for (file, dir) in self.procs.iter_mut().zip(&self.dirs) {
            file.write_all(pid.to_string().as_bytes()).map_err(io("cannot move the node into its cgroup", dir))?;
        }
        Ok(())
    }

    /// Whether the kernel's OOM killer ended a process of the group.
    pub fn oom_killed(&self) -> bool {
        self.dirs.iter().any(|dir| {
            // v2: memory.events `oom_kill N`; v1: memory.oom_control `oom_kill N`.
            ["memory.events", "memory.oom_control"].iter().any(|f| {
                fs::read_to_string(dir.join(f)).is_ok_and(|text| {
                    text.lines().any(|l| l.strip_prefix("oom_kill ").is_some_and(|n| n.trim() != "0"))
                })
            })
        })
    }

    /// The group's memory use now, bytes.
    pub fn memory_bytes(&self) -> Option<u64> {
        self.dirs.iter().find_map(|dir| {
            ["memory.current", "memory.usage_in_bytes"]
                .iter()
                .find_map(|f| fs::read_to_string(dir.join(f)).ok()?.trim().parse().ok())
        })
    }

    /// Removes the groups (once the node's processes are gone).
    pub fn remove(self) {
        drop(self.procs);
        for dir in &self.dirs {
            if let Err(e) = fs::remove_dir(dir) {
                tracing::warn!(cgroup = %dir.display(), error = %e, "cannot remove a stopped node's cgroup");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_groups_go_under_the_front_doors_own() {
        let mount = std::env::temp_dir().join(format!("confer-cgroup-test-{}", Uuid::new_v4().simple()));
        fs::create_dir_all(mount.join("memory/process_api/abc")).unwrap();
        fs::create_dir_all(mount.join("cpu")).unwrap();
        let own = "4:memory:/process_api/abc\n1:cpu,cpuacct:/\n0::/\n";
        let found = Cgroups::detect_at(&mount, own).unwrap();
        assert_eq!(
            found,
            Cgroups::V1 {
                memory: mount.join("memory/process_api/abc/confer-nodes"),
                cpu: mount.join("cpu/confer-nodes"),
            }
        );
        fs::remove_dir_all(&mount).unwrap();
    }
}

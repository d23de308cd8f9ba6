//! The `local` driver: each node a child process of the front door, in cgroups of
//! its own with the tenant's memory and CPU limits, with its own UDP port from a
//! configured range. A node that the front door does not stop outlives nothing: it
//! gets SIGTERM when the front door dies (the parent-death signal), and every node
//! is reaped.

mod cgroup;
mod udp_ports;

pub use cgroup::Cgroups;
pub use udp_ports::UdpPorts;

use super::driver::{DriverError, NodeDriver, NodeSpec, NodeStatus, RunningNode};
use cgroup::NodeCgroup;
use confer_vocabulary::NodeReady;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

/// Whether nodes get cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CgroupMode {
    /// When the machine gives them (v2 or v1, as root); otherwise nodes run
    /// unlimited, with a warning.
    Auto,
    /// Always: a node that cannot be limited is not started.
    Required,
    /// Never (a development machine without root).
    Off,
}

/// How the local driver runs nodes.
#[derive(Debug, Clone)]
pub struct LocalDriverConfig {
    /// The `confer-media` binary.
    pub binary: PathBuf,
    /// The address nodes' HTTP (and HTTPS) listeners bind (port chosen by the node).
    pub listen_ip: IpAddr,
    /// Nodes' UDP ports come from `udp_first..=udp_last` on `udp_ip`.
    pub udp_ip: IpAddr,
    /// The first UDP port of the range.
    pub udp_first: u16,
    /// The last.
    pub udp_last: u16,
    /// Give each node an HTTPS listener too (for TLS passed through by SNI).
    pub https: bool,
    /// Cgroups or not.
    pub cgroups: CgroupMode,
    /// How long a node may take to serve after it is started.
    pub start_timeout: Duration,
    /// Settings every node gets (the api, Redis, TURN …) as environment variables.
    pub env: Vec<(String, String)>,
}

struct LocalNode {
    child: Child,
    running: RunningNode,
    udp: SocketAddr,
    cgroup: Option<NodeCgroup>,
}

/// Child processes in cgroups.
pub struct LocalDriver {
    config: LocalDriverConfig,
    cgroups: Option<Cgroups>,
    ports: UdpPorts,
    nodes: Mutex<HashMap<Uuid, LocalNode>>,
}

impl LocalDriver {
    /// A driver; finds the cgroup hierarchy unless `config.cgroups` is `Off`.
    pub fn new(config: LocalDriverConfig) -> Result<Self, DriverError> {
        let cgroups = match config.cgroups {
            CgroupMode::Off => None,
            mode => match Cgroups::detect() {
                Ok(found) => {
                    tracing::info!(cgroups = ?found, "nodes run in cgroups with their plan's limits");
                    Some(found)
                }
                Err(e) if mode == CgroupMode::Auto => {
                    tracing::warn!(error = %e, "no usable cgroups: nodes run without memory or CPU limits");
                    None
                }
                Err(e) => return Err(DriverError::Limits(e.to_string())),
            },
        };
        let ports = UdpPorts::new(config.udp_ip, config.udp_first, config.udp_last);
        Ok(Self { config, cgroups, ports, nodes: Mutex::new(HashMap::new()) })
    }

    /// How many UDP ports are in use.
    pub fn udp_ports_in_use(&self) -> usize {
        self.ports.in_use()
    }

    fn command(&self, spec: &NodeSpec, udp: SocketAddr, cgroup: Option<&NodeCgroup>) -> Command {
        let listen = SocketAddr::new(self.config.listen_ip, 0).to_string();
        let mut cmd = Command::new(&self.config.binary);
        cmd.env_clear()
            .envs(self.config.env.iter().cloned())
            .env("CONFER_TENANT", &spec.slug)
            .env("CONFER_TENANT_ID", spec.tenant_id.to_string())
            .env("CONFER_NODE_ID", spec.node_id.to_string())
            .env("CONFER_NODE_CREDENTIAL", &spec.credential)
            .env("CONFER_MEDIA_LISTEN", &listen)
            .env("CONFER_MEDIA_UDP", udp.to_string())
            .env("CONFER_MEDIA_LOOPS", "1")
            .env("CONFER_TRUSTED_PROXY", self.config.listen_ip.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if self.config.https {
            cmd.env("CONFER_MEDIA_TLS_LISTEN", &listen);
        }
        let join: Vec<std::os::fd::RawFd> = cgroup.map(NodeCgroup::join_fds).unwrap_or_default();
        // SAFETY: between fork and exec only async-signal-safe calls are made
        // (prctl and write on descriptors opened before the fork); nothing allocates.
        unsafe {
            cmd.pre_exec(move || {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)?;
                for fd in &join {
                    // Writing 0 to cgroup.procs moves the writing process.
                    let written = nix::libc::write(*fd, b"0".as_ptr().cast(), 1);
                    if written != 1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        cmd
    }

    fn give_back(&self, udp: SocketAddr, cgroup: Option<NodeCgroup>) {
        self.ports.give_back(udp);
        if let Some(cgroup) = cgroup {
            cgroup.remove();
        }
    }
}

/// Reads the node's standard output until its ready line (then keeps draining it
/// so the pipe never fills).
async fn await_ready(child: &mut Child, timeout: Duration) -> Result<NodeReady, DriverError> {
    let stdout = child.stdout.take().ok_or_else(|| DriverError::Spawn("the node's output is not piped".into()))?;
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(timeout, async {
        loop {
            match lines.next_line().await {
                Ok(Some(line)) => {
                    if let Ok(ready) = serde_json::from_str::<NodeReady>(&line) {
                        return Ok(ready);
                    }
                }
                Ok(None) => return Err(DriverError::NotReady("it quit before serving".into())),
                Err(e) => return Err(DriverError::NotReady(format!("its output could not be read: {e}"))),
            }
        }
    })
    .await
    .map_err(|_| DriverError::NotReady(format!("it was not serving after {} s", timeout.as_secs())))??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(ready)
}

fn parse_addr(what: &str, text: &str) -> Result<SocketAddr, DriverError> {
    text.parse().map_err(|_| DriverError::NotReady(format!("its ready line names a bad {what} address {text:?}")))
}

fn describe_exit(status: std::process::ExitStatus, oom: bool) -> (String, bool) {
    use std::os::unix::process::ExitStatusExt;
    if oom {
        return ("killed by the kernel: over its memory limit".into(), false);
    }
    match (status.code(), status.signal()) {
        (Some(0), _) => ("exited cleanly".into(), true),
        (Some(code), _) => (format!("exited with code {code}"), false),
        (None, Some(signal)) => (format!("killed by signal {signal}"), false),
        _ => ("ended".into(), false),
    }
}

#[async_trait::async_trait]
impl NodeDriver for LocalDriver {
    async fn start(&self, spec: NodeSpec) -> Result<RunningNode, DriverError> {
        let (first, last) = self.ports.range();
        let udp = self.ports.take().ok_or(DriverError::PortsExhausted { first, last })?;
        let cgroup = match &self.cgroups {
            Some(cgroups) => match cgroups.create(spec.node_id, spec.limits) {
                Ok(group) => Some(group),
                Err(e) => {
                    self.give_back(udp, None);
                    return Err(DriverError::Limits(e.to_string()));
                }
            },
            None => None,
        };
        let mut child = match self.command(&spec, udp, cgroup.as_ref()).spawn() {
            Ok(child) => child,
            Err(e) => {
                self.give_back(udp, cgroup);
                return Err(DriverError::Spawn(format!("{}: {e}", self.config.binary.display())));
            }
        };
        let ready = match await_ready(&mut child, self.config.start_timeout).await {
            Ok(ready) => ready.ready,
            Err(e) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                let oom = cgroup.as_ref().is_some_and(NodeCgroup::oom_killed);
                self.give_back(udp, cgroup);
                if oom {
                    return Err(DriverError::OutOfMemory { limit_mb: spec.limits.memory_bytes / (1024 * 1024) });
                }
                return Err(e);
            }
        };
        let running = RunningNode {
            node_id: spec.node_id,
            tenant_id: spec.tenant_id,
            http: parse_addr("HTTP", &ready.http)?,
            https: ready.https.as_deref().map(|a| parse_addr("HTTPS", a)).transpose()?,
            udp: ready.udp.iter().map(|a| parse_addr("UDP", a)).collect::<Result<_, _>>()?,
        };
        tracing::info!(node = %spec.node_id, tenant = %spec.slug, pid = child.id(), http = %running.http, udp = %udp,
            "node started");
        let node = LocalNode { child, running: running.clone(), udp, cgroup };
        self.nodes.lock().unwrap_or_else(|p| p.into_inner()).insert(spec.node_id, node);
        Ok(running)
    }

    async fn stop(&self, node_id: Uuid) -> Result<(), DriverError> {
        let Some(mut node) = self.nodes.lock().unwrap_or_else(|p| p.into_inner()).remove(&node_id) else {
            return Ok(());
        };
        if let Some(pid) = node.child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
        }
        // The node ends its rooms and hands its last room facts to the api (up to 10 s).
        if tokio::time::timeout(Duration::from_secs(15), node.child.wait()).await.is_err() {
            tracing::warn!(node = %node_id, "the node did not stop within 15 s of SIGTERM; killing it");
            let _ = node.child.start_kill();
            let _ = node.child.wait().await;
        }
        self.give_back(node.udp, node.cgroup);
        Ok(())
    }

    async fn status(&self, node_id: Uuid) -> NodeStatus {
        let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        let Some(node) = nodes.get_mut(&node_id) else { return NodeStatus::Unknown };
        match node.child.try_wait() {
            Ok(None) => NodeStatus::Running(node.running.clone()),
            Ok(Some(status)) => {
                let oom = node.cgroup.as_ref().is_some_and(NodeCgroup::oom_killed);
                let (how, clean) = describe_exit(status, oom);
                if let Some(node) = nodes.remove(&node_id) {
                    drop(nodes);
                    self.give_back(node.udp, node.cgroup);
                }
                NodeStatus::Gone { how, clean }
            }
            Err(e) => NodeStatus::Gone { how: format!("cannot be waited for: {e}"), clean: false },
        }
    }

    async fn list(&self) -> Vec<RunningNode> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner()).values().map(|n| n.running.clone()).collect()
    }
}

//! `NodeDriver`: how tenants' media nodes are run, behind one small trait (start,
//! stop, status, list) so that the front door's node manager does not care whether
//! a node is a child process in a cgroup (`local`) or a pod (`kubernetes`).

use std::net::SocketAddr;
use uuid::Uuid;

/// How much of the machine a node may use (the tenant's plan).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLimits {
    /// Memory, bytes: past it the kernel kills the node, and only the node.
    pub memory_bytes: u64,
    /// CPU, in thousandths of a core (1000: one core).
    pub cpu_millis: u32,
}

impl From<confer_vocabulary::platform_api::NodePlan> for NodeLimits {
    fn from(plan: confer_vocabulary::platform_api::NodePlan) -> Self {
        Self { memory_bytes: u64::from(plan.memory_mb) * 1024 * 1024, cpu_millis: plan.cpu_percent.saturating_mul(10) }
    }
}

/// What a node is started with.
#[derive(Clone)]
pub struct NodeSpec {
    /// The node's id, fresh for each start.
    pub node_id: Uuid,
    /// The tenant it serves.
    pub tenant_id: Uuid,
    /// The tenant's slug.
    pub slug: String,
    /// Its credential for the api (minted for this start).
    pub credential: String,
    /// Its limits.
    pub limits: NodeLimits,
}

impl std::fmt::Debug for NodeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeSpec")
            .field("node_id", &self.node_id)
            .field("tenant_id", &self.tenant_id)
            .field("slug", &self.slug)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A node that serves: where to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningNode {
    /// Its id.
    pub node_id: Uuid,
    /// The tenant it serves.
    pub tenant_id: Uuid,
    /// Its HTTP site and signaling.
    pub http: SocketAddr,
    /// Its HTTPS listener, when it has one.
    pub https: Option<SocketAddr>,
    /// Its SFU's UDP addresses.
    pub udp: Vec<SocketAddr>,
}

/// Where a node stands, as its driver sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeStatus {
    /// It runs.
    Running(RunningNode),
    /// It is gone: it stopped or was stopped (`how`: exited with code 0, killed by
    /// signal 9, …).
    Gone {
        /// What ended it.
        how: String,
        /// Whether it ended on its own or by request, cleanly.
        clean: bool,
    },
    /// The driver knows no such node.
    Unknown,
}

/// Why a driver could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// Every UDP port of the configured range is taken.
    #[error("no free UDP port in {first}-{last}: every port of the range is in use by a node")]
    PortsExhausted {
        /// The range's first port.
        first: u16,
        /// Its last port.
        last: u16,
    },
    /// The node's resource limits could not be set up.
    #[error("the node's resource limits could not be set: {0}")]
    Limits(String),
    /// The node's process could not be started.
    #[error("the node could not be started: {0}")]
    Spawn(String),
    /// The kernel killed the node as it started: it needed more than its plan's memory.
    #[error("the node needed more than its memory limit ({limit_mb} MiB) and the kernel stopped it")]
    OutOfMemory {
        /// The limit, MiB.
        limit_mb: u64,
    },
    /// The node started but did not come to serve in time, or quit first.
    #[error("the node did not become ready: {0}")]
    NotReady(String),
}

/// Runs tenants' media nodes.
#[async_trait::async_trait]
pub trait NodeDriver: Send + Sync + 'static {
    /// Starts a node and returns once it serves (its address in the answer).
    async fn start(&self, spec: NodeSpec) -> Result<RunningNode, DriverError>;
    /// Stops a node: asks it to end its rooms cleanly, then makes sure it is gone.
    async fn stop(&self, node_id: Uuid) -> Result<(), DriverError>;
    /// Where a node stands. A node reported `Gone` is forgotten by the driver.
    async fn status(&self, node_id: Uuid) -> NodeStatus;
    /// The nodes that run now.
    async fn list(&self) -> Vec<RunningNode>;
}

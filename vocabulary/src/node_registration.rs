//! How a running media node registers in Redis, where the front door (and anyone
//! operating the platform) finds it: its address, ports, version and whether it is
//! idle, refreshed by a heartbeat and gone when it stops answering.

use serde::{Deserialize, Serialize};

/// The key a tenant's node registers under (the tenant's id: slugs can be reused).
pub fn node_registration_key(tenant_id: &str) -> String {
    format!("confer:node:{tenant_id}")
}

/// The key of the lease that lets exactly one starter run the tenant's node.
pub fn node_lease_key(tenant_id: &str) -> String {
    format!("confer:node-lease:{tenant_id}")
}

/// What a node says of itself: written at start and at every heartbeat, with a
/// time to live of a few heartbeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRegistration {
    /// The node's id (a UUID, given by whoever started it).
    pub node_id: String,
    /// The tenant it serves, by id.
    pub tenant_id: String,
    /// Where its HTTP site and signaling listen, `ip:port`.
    pub http: String,
    /// Where its HTTPS listener is, when it has one.
    pub https: Option<String>,
    /// Its SFU's UDP addresses, one per media loop.
    pub udp: Vec<String>,
    /// `confer-media`'s version.
    pub version: String,
    /// Rooms open now (someone seated or waiting).
    pub rooms: u32,
    /// Since when it has had no room (Unix milliseconds); `None` while it has one.
    pub idle_since_ms: Option<u64>,
    /// When this was written (Unix milliseconds).
    pub heartbeat_ms: u64,
}

/// The line a node prints on its standard output once it serves, for whoever
/// started it and waits for it: `{"ready": <NodeRegistration>}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeReady {
    /// The node as it registers.
    pub ready: NodeRegistration,
}

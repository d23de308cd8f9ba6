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

/// A Redis script (KEYS[1]: the registration key, ARGV[1]: a node id) that removes
/// the registration only if it is still that node's: whoever cleans up after a node
/// (the node itself, or the front door after it died) never removes its successor's.
pub const DEREGISTER_SCRIPT: &str = r"local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v).node_id == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

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

/// Now, in Unix milliseconds: the clock registrations are written in.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl NodeRegistration {
    /// Whether the node has had no room for at least `idle`, as of `now_ms`.
    pub fn idle_for_at_least(&self, idle: std::time::Duration, now_ms: u64) -> bool {
        self.idle_since_ms.is_some_and(|since| now_ms.saturating_sub(since) >= idle.as_millis() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn registration(idle_since_ms: Option<u64>) -> NodeRegistration {
        NodeRegistration {
            node_id: "n".into(),
            tenant_id: "t".into(),
            http: "127.0.0.1:1".into(),
            https: None,
            udp: vec![],
            version: "0".into(),
            rooms: 0,
            idle_since_ms,
            heartbeat_ms: 0,
        }
    }

    #[test]
    fn a_node_is_idle_once_it_has_had_no_room_for_the_whole_time() {
        let idle = Duration::from_secs(300);
        assert!(registration(Some(1_000)).idle_for_at_least(idle, 301_000));
        assert!(!registration(Some(1_000)).idle_for_at_least(idle, 300_999));
        assert!(!registration(None).idle_for_at_least(idle, u64::MAX), "a node with a room is never idle");
    }
}

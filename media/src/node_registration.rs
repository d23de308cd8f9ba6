//! A node started by the platform tells whoever started it that it serves (one
//! `{"ready": …}` line on its standard output) and registers in Redis under its
//! tenant's id: its address, ports, version, rooms and since when it has had none,
//! renewed every heartbeat with a time to live of a few heartbeats. The front door
//! finds it there and stops it once idle long enough. On a clean stop the
//! registration is removed.

use crate::signaling::Hub;
use confer_vocabulary::{NodeReady, NodeRegistration, node_registration_key, unix_ms};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// How often the registration is renewed.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long a registration lives without a heartbeat.
const TTL: Duration = Duration::from_secs(10);

/// What the node registers as.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    /// The node's id, given by whoever started it.
    pub node_id: String,
    /// The tenant's id.
    pub tenant_id: String,
    /// Where it serves HTTP.
    pub http: String,
    /// Where it serves HTTPS.
    pub https: Option<String>,
    /// Its SFU's UDP addresses.
    pub udp: Vec<String>,
}

/// The node's registration as of now.
fn registration(identity: &NodeIdentity, rooms: usize, idle_since_ms: Option<u64>) -> NodeRegistration {
    NodeRegistration {
        node_id: identity.node_id.clone(),
        tenant_id: identity.tenant_id.clone(),
        http: identity.http.clone(),
        https: identity.https.clone(),
        udp: identity.udp.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        rooms: u32::try_from(rooms).unwrap_or(u32::MAX),
        idle_since_ms,
        heartbeat_ms: unix_ms(),
    }
}

/// Registers now, prints the ready line, then keeps the registration fresh until
/// the returned handle is told to stop.
pub async fn register(identity: NodeIdentity, redis_url: &str, hub: Arc<Hub>) -> Result<Registered, redis::RedisError> {
    let client = redis::Client::open(redis_url)?;
    let mut redis = redis::aio::ConnectionManager::new(client).await?;
    let key = node_registration_key(&identity.tenant_id);
    let mut idle_since = Some(unix_ms());
    let first = registration(&identity, 0, idle_since);
    write_registration(&mut redis, &key, &first).await?;
    announce_ready(&first);
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task_identity = identity.clone();
    let mut task_redis = redis.clone();
    let task_key = key.clone();
    let task = tokio::spawn(async move {
        let mut every = tokio::time::interval(HEARTBEAT);
        every.tick().await;
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = &mut stop_rx => return,
            }
            let rooms = hub.open_rooms();
            idle_since = match (rooms, idle_since) {
                (0, None) => Some(unix_ms()),
                (0, since) => since,
                _ => None,
            };
            let reg = registration(&task_identity, rooms, idle_since);
            if let Err(e) = write_registration(&mut task_redis, &task_key, &reg).await {
                tracing::warn!(error = %e, "cannot renew this node's registration in Redis");
            }
        }
    });
    Ok(Registered { identity, redis, key, stop: Some(stop_tx), task })
}

async fn write_registration(
    redis: &mut redis::aio::ConnectionManager,
    key: &str,
    reg: &NodeRegistration,
) -> Result<(), redis::RedisError> {
    let text = serde_json::to_string(reg).map_err(|e| {
        redis::RedisError::from((redis::ErrorKind::ClientError, "the registration cannot be written", e.to_string()))
    })?;
    redis::cmd("SET").arg(key).arg(text).arg("PX").arg(TTL.as_millis() as u64).query_async::<()>(redis).await
}

fn announce_ready(reg: &NodeRegistration) {
    let line = match serde_json::to_string(&NodeReady { ready: reg.clone() }) {
        Ok(line) => line,
        Err(e) => {
            tracing::error!(error = %e, "cannot write the ready line");
            return;
        }
    };
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        tracing::warn!(error = %e, "cannot tell whoever started this node that it is ready");
    }
}

/// A live registration.
pub struct Registered {
    identity: NodeIdentity,
    redis: redis::aio::ConnectionManager,
    key: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Registered {
    /// Stops the heartbeat and removes the registration.
    pub async fn deregister(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
        let removed: Result<i64, _> = redis::Script::new(confer_vocabulary::DEREGISTER_SCRIPT)
            .key(&self.key)
            .arg(&self.identity.node_id)
            .invoke_async(&mut self.redis)
            .await;
        if let Err(e) = removed {
            tracing::warn!(error = %e, "cannot remove this node's registration from Redis");
        }
    }
}

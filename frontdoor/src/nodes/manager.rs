//! `NodeManager`: exactly one node per tenant while it is used, none while it is not.
//!
//! The first request for a tenant whose node is not running starts one and waits
//! for it (a cold start); requests that race it wait for the same start. A node
//! with no room for the idle time is stopped; a tenant with a meeting about to
//! start is started ahead. A node that dies is started again (after a short delay
//! that grows if it keeps dying); meanwhile its site answers 503 and its people's
//! pages reconnect once it is back.
//!
//! Within this process a tenant's state machine makes one start of many requests;
//! across front doors the Redis lease does. No lock is held across an await: the
//! state is switched under a short lock and the waiting is done on a `watch`.

use super::driver::{DriverError, NodeDriver, NodeLimits, NodeSpec, NodeStatus, RunningNode};
use super::registry::NodeRegistry;
use crate::platform_client::PlatformClient;
use confer_vocabulary::platform_api::SiteTenant;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use uuid::Uuid;

/// How the manager runs nodes.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// A node with no room for this long is stopped.
    pub idle: Duration,
    /// The limits every node gets (the default plan).
    pub limits: NodeLimits,
    /// How long the lease lasts without renewal.
    pub lease_ttl: Duration,
    /// The first restart's delay after a node died; doubled while it keeps dying.
    pub restart_delay: Duration,
    /// How far ahead of a scheduled meeting its tenant's node is started.
    pub start_ahead: Duration,
    /// How often the api is asked for meetings about to start.
    pub ahead_scan: Duration,
    /// How often nodes are checked (alive, idle).
    pub supervise_every: Duration,
    /// How long a request waits for a node another front door is starting.
    pub start_timeout: Duration,
}

/// Why a tenant's site cannot be served right now (a 503 that says so and retries).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unavailable {
    /// The node could not be started.
    #[error("the meeting site could not be started: {reason}")]
    StartFailed {
        /// Why, in the operator's terms.
        reason: String,
        /// When it is tried again.
        retry_after: Duration,
    },
    /// The node died and is being started again.
    #[error("the meeting site stopped unexpectedly ({how}) and is restarting")]
    Restarting {
        /// How it ended, in the operator's terms (e.g. over its memory limit).
        how: String,
        /// When to try again.
        retry_after: Duration,
    },
    /// The api (which mints the node's credential) or Redis (the lease) cannot be
    /// asked: nothing is started unchecked.
    #[error("the platform cannot start the meeting site right now; try again later")]
    TryAgainLater,
}

impl Unavailable {
    /// When the client should try again.
    pub fn retry_after(&self) -> Duration {
        match self {
            Self::StartFailed { retry_after, .. } | Self::Restarting { retry_after, .. } => *retry_after,
            Self::TryAgainLater => Duration::from_secs(2),
        }
    }

    /// The same failure, to be tried again in `left`.
    fn retrying_in(mut self, left: Duration) -> Self {
        if let Self::StartFailed { retry_after, .. } | Self::Restarting { retry_after, .. } = &mut self {
            *retry_after = left;
        }
        self
    }
}

type StartResult = Option<Result<Route, Unavailable>>;

/// Where a tenant's requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The node's id.
    pub node_id: Uuid,
    /// Its HTTP listener.
    pub http: SocketAddr,
    /// Its HTTPS listener.
    pub https: Option<SocketAddr>,
}

impl From<&RunningNode> for Route {
    fn from(node: &RunningNode) -> Self {
        Self { node_id: node.node_id, http: node.http, https: node.https }
    }
}

enum NodeState {
    /// No node.
    Stopped,
    /// A start is under way; its outcome arrives on the watch.
    Starting(watch::Receiver<StartResult>),
    /// Our node serves.
    Running { node: RunningNode, started: Instant },
    /// Another front door's node serves (seen in the registry).
    Elsewhere(Route),
    /// Being stopped; requests wait for it to be gone, then start a new one.
    Stopping(watch::Receiver<bool>),
    /// The last start failed or the node died: 503 until `until`, then a new start.
    Backoff { until: Instant, failure: Unavailable, restart: bool },
}

struct TenantNodes {
    tenant: SiteTenant,
    tenant_id: Uuid,
    state: NodeState,
    /// Consecutive failures (starts or deaths), for the growing delay.
    failures: u32,
    /// Kept running until then whatever its rooms (a meeting about to start).
    keep_until: Option<Instant>,
}

/// The tenants' nodes.
pub struct NodeManager {
    driver: Arc<dyn NodeDriver>,
    api: PlatformClient,
    registry: NodeRegistry,
    /// This front door, as lease holder: `<instance>`.
    instance: String,
    config: ManagerConfig,
    tenants: Mutex<HashMap<Uuid, TenantNodes>>,
}

impl NodeManager {
    /// A manager starting nodes with `driver`.
    pub fn new(
        driver: Arc<dyn NodeDriver>,
        api: PlatformClient,
        registry: NodeRegistry,
        config: ManagerConfig,
    ) -> Arc<Self> {
        Arc::new(Self {
            driver,
            api,
            registry,
            instance: format!("frontdoor-{}", Uuid::new_v4().simple()),
            config,
            tenants: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, TenantNodes>> {
        self.tenants.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where `tenant`'s requests go, starting its node if none runs.
    pub async fn route(self: &Arc<Self>, tenant: &SiteTenant) -> Result<Route, Unavailable> {
        let tenant_id = Uuid::parse_str(&tenant.tenant_id).map_err(|_| Unavailable::TryAgainLater)?;
        loop {
            let wait = {
                let mut tenants = self.lock();
                let entry = tenants.entry(tenant_id).or_insert_with(|| TenantNodes {
                    tenant: tenant.clone(),
                    tenant_id,
                    state: NodeState::Stopped,
                    failures: 0,
                    keep_until: None,
                });
                match &entry.state {
                    NodeState::Running { node, .. } => return Ok(Route::from(node)),
                    NodeState::Elsewhere(route) => return Ok(route.clone()),
                    NodeState::Backoff { until, failure, .. } if Instant::now() < *until => {
                        let left = until.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
                        return Err(failure.clone().retrying_in(left));
                    }
                    NodeState::Starting(rx) => Wait::Start(rx.clone()),
                    NodeState::Stopping(rx) => Wait::Stop(rx.clone()),
                    NodeState::Stopped | NodeState::Backoff { .. } => {
                        let (tx, rx) = watch::channel(None);
                        entry.state = NodeState::Starting(rx.clone());
                        let manager = self.clone();
                        let tenant = entry.tenant.clone();
                        // Detached: a client that gives up does not cancel the start.
                        tokio::spawn(async move {
                            let outcome = manager.start(tenant_id, tenant).await;
                            let _ = tx.send(Some(outcome));
                        });
                        Wait::Start(rx)
                    }
                }
            };
            match wait {
                Wait::Start(mut rx) => {
                    let outcome = match rx.wait_for(Option::is_some).await {
                        Ok(outcome) => outcome.clone(),
                        Err(_) => Some(Err(Unavailable::TryAgainLater)),
                    };
                    return outcome.unwrap_or(Err(Unavailable::TryAgainLater));
                }
                Wait::Stop(mut rx) => {
                    let _ = rx.wait_for(|stopped| *stopped).await;
                }
            }
        }
    }

    /// One start: the lease, a credential, the driver. Sets the tenant's state.
    async fn start(self: &Arc<Self>, tenant_id: Uuid, tenant: SiteTenant) -> Result<Route, Unavailable> {
        let started = Instant::now();
        let outcome = self.start_once(tenant_id, &tenant).await;
        let mut tenants = self.lock();
        let Some(entry) = tenants.get_mut(&tenant_id) else { return Err(Unavailable::TryAgainLater) };
        match &outcome {
            Ok(Started::Ours(node)) => {
                tracing::info!(tenant = %tenant.slug, node = %node.node_id, ms = started.elapsed().as_millis() as u64,
                    "tenant's node is serving");
                entry.state = NodeState::Running { node: node.clone(), started: Instant::now() };
            }
            Ok(Started::Elsewhere(route)) => entry.state = NodeState::Elsewhere(route.clone()),
            Err(Unavailable::TryAgainLater) => entry.state = NodeState::Stopped,
            Err(failure) => {
                entry.failures += 1;
                let delay = self.backoff(entry.failures);
                entry.state =
                    NodeState::Backoff { until: Instant::now() + delay, failure: failure.clone(), restart: false };
            }
        }
        outcome.map(|s| match s {
            Started::Ours(node) => Route::from(&node),
            Started::Elsewhere(route) => route,
        })
    }

    async fn start_once(&self, tenant_id: Uuid, tenant: &SiteTenant) -> Result<Started, Unavailable> {
        let id = tenant_id.to_string();
        let ours = self.registry.acquire_lease(&id, &self.instance, self.config.lease_ttl).await.map_err(|e| {
            tracing::error!(tenant = %tenant.slug, error = %e, "cannot take the node lease in Redis");
            Unavailable::TryAgainLater
        })?;
        if !ours {
            return self.await_elsewhere(tenant).await.map(Started::Elsewhere);
        }
        let node_id = Uuid::new_v4();
        let (credential, plan) = match self.api.node_starting(&id, &node_id.to_string()).await {
            Ok(answer) => (answer.credential, answer.plan),
            Err(e) => {
                tracing::error!(tenant = %tenant.slug, error = %e, "cannot mint the node's credential");
                let _ = self.registry.release_lease(&id, &self.instance).await;
                return Err(Unavailable::TryAgainLater);
            }
        };
        let limits = plan.map_or(self.config.limits, NodeLimits::from);
        let spec = NodeSpec { node_id, tenant_id, slug: tenant.slug.clone(), credential, limits };
        match self.driver.start(spec).await {
            Ok(node) => Ok(Started::Ours(node)),
            Err(e) => {
                tracing::error!(tenant = %tenant.slug, node = %node_id, error = %e, "the tenant's node could not start");
                self.record_failure(&id, node_id, &e).await;
                let _ = self.registry.release_lease(&id, &self.instance).await;
                Err(Unavailable::StartFailed { reason: e.to_string(), retry_after: Duration::from_secs(1) })
            }
        }
    }

    /// Records a failed start in the tenant's feed (and revokes its credential).
    async fn record_failure(&self, tenant_id: &str, node_id: Uuid, error: &DriverError) {
        if let Err(e) = self.api.node_failed(tenant_id, &node_id.to_string(), &error.to_string()).await {
            tracing::warn!(node = %node_id, error = %e, "cannot record the failed start with the api");
        }
    }

    /// Waits for the node another front door holds the lease for to register.
    async fn await_elsewhere(&self, tenant: &SiteTenant) -> Result<Route, Unavailable> {
        let deadline = Instant::now() + self.config.start_timeout;
        while Instant::now() < deadline {
            if let Ok(Some(reg)) = self.registry.registration(&tenant.tenant_id).await
                && let (Ok(node_id), Ok(http)) = (Uuid::parse_str(&reg.node_id), reg.http.parse())
            {
                let https = reg.https.as_deref().and_then(|a| a.parse().ok());
                return Ok(Route { node_id, http, https });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(Unavailable::TryAgainLater)
    }

    fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(6);
        (self.config.restart_delay * factor).min(Duration::from_secs(30))
    }

    /// A request could not reach `node_id`: check it now rather than at the next round.
    pub async fn unreachable(self: &Arc<Self>, tenant_id: &str, node_id: Uuid) {
        let Ok(tenant) = Uuid::parse_str(tenant_id) else { return };
        let elsewhere = {
            let mut tenants = self.lock();
            match tenants.get_mut(&tenant) {
                Some(entry) if matches!(&entry.state, NodeState::Elsewhere(r) if r.node_id == node_id) => {
                    entry.state = NodeState::Stopped;
                    true
                }
                _ => false,
            }
        };
        if !elsewhere {
            self.check(tenant, node_id).await;
        }
    }

    /// Checks every node: alive, idle, its lease; and starts again those that died
    /// once their delay is over.
    pub async fn supervise(self: &Arc<Self>) {
        let mut every = tokio::time::interval(self.config.supervise_every);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let (running, restarts): (Vec<(Uuid, Uuid)>, Vec<SiteTenant>) = {
                let tenants = self.lock();
                let running = tenants
                    .values()
                    .filter_map(|t| match &t.state {
                        NodeState::Running { node, .. } => Some((t.tenant_id, node.node_id)),
                        _ => None,
                    })
                    .collect();
                let restarts = tenants
                    .values()
                    .filter(|t| {
                        matches!(t.state, NodeState::Backoff { until, restart: true, .. } if Instant::now() >= until)
                    })
                    .map(|t| t.tenant.clone())
                    .collect();
                (running, restarts)
            };
            for (tenant, node) in running {
                self.check(tenant, node).await;
            }
            for tenant in restarts {
                let manager = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = manager.route(&tenant).await {
                        tracing::warn!(tenant = %tenant.slug, error = %e, "restarting the tenant's node failed");
                    }
                });
            }
        }
    }

    /// Checks one node: gone (then restart), idle past its time (then stop), else
    /// renew its lease.
    async fn check(self: &Arc<Self>, tenant_id: Uuid, node_id: Uuid) {
        let id = tenant_id.to_string();
        match self.driver.status(node_id).await {
            NodeStatus::Running(_) => {}
            NodeStatus::Gone { how, clean } => return self.gone(tenant_id, node_id, &how, clean).await,
            NodeStatus::Unknown => return,
        }
        if let Err(e) = self.registry.renew_lease(&id, &self.instance, self.config.lease_ttl).await {
            tracing::warn!(tenant = %id, error = %e, "cannot renew the node lease");
        }
        let idle_past = match self.registry.registration(&id).await {
            Ok(Some(reg)) if reg.node_id == node_id.to_string() => {
                reg.idle_for_at_least(self.config.idle, confer_vocabulary::unix_ms())
            }
            _ => false,
        };
        if idle_past && self.may_stop_idle(tenant_id, node_id) {
            self.stop(tenant_id, node_id, "idle").await;
        }
    }

    /// Whether an idle node may stop now: it is still the tenant's running node, has
    /// run for the idle time at least, and no meeting is about to start.
    fn may_stop_idle(&self, tenant_id: Uuid, node_id: Uuid) -> bool {
        let tenants = self.lock();
        let Some(entry) = tenants.get(&tenant_id) else { return false };
        let kept = entry.keep_until.is_some_and(|until| Instant::now() < until);
        !kept
            && matches!(&entry.state, NodeState::Running { node, started }
                if node.node_id == node_id && started.elapsed() >= self.config.idle)
    }

    /// Stops the tenant's node `node_id` (`reason`: `idle`, `shutdown`, `tenant_deleted`).
    pub async fn stop(self: &Arc<Self>, tenant_id: Uuid, node_id: Uuid, reason: &str) {
        let (tx, rx) = watch::channel(false);
        {
            let mut tenants = self.lock();
            match tenants.get_mut(&tenant_id) {
                Some(entry) if matches!(&entry.state, NodeState::Running { node, .. } if node.node_id == node_id) => {
                    entry.state = NodeState::Stopping(rx);
                }
                _ => return,
            }
        }
        tracing::info!(tenant = %tenant_id, node = %node_id, reason, "stopping the tenant's node");
        if let Err(e) = self.driver.stop(node_id).await {
            tracing::warn!(node = %node_id, error = %e, "stopping the node failed");
        }
        self.forget(tenant_id, node_id, reason).await;
        if let Some(entry) = self.lock().get_mut(&tenant_id) {
            entry.state = NodeState::Stopped;
        }
        let _ = tx.send(true);
    }

    /// Stops every node of `tenant_id` (it was deleted) and forgets the tenant.
    pub async fn stop_tenant(self: &Arc<Self>, tenant_id: Uuid, reason: &str) {
        let node = match self.lock().get(&tenant_id).map(|t| &t.state) {
            Some(NodeState::Running { node, .. }) => Some(node.node_id),
            _ => None,
        };
        if let Some(node) = node {
            self.stop(tenant_id, node, reason).await;
        }
        self.lock().remove(&tenant_id);
    }

    /// A node is gone without being asked: forget it, and start it again after a delay.
    async fn gone(self: &Arc<Self>, tenant_id: Uuid, node_id: Uuid, how: &str, clean: bool) {
        tracing::warn!(tenant = %tenant_id, node = %node_id, how, "the tenant's node is gone");
        self.forget(tenant_id, node_id, &format!("exited: {how}")).await;
        let mut tenants = self.lock();
        let Some(entry) = tenants.get_mut(&tenant_id) else { return };
        if !matches!(&entry.state, NodeState::Running { node, .. } if node.node_id == node_id) {
            return;
        }
        if clean {
            entry.state = NodeState::Stopped;
            return;
        }
        entry.failures += 1;
        let delay = self.backoff(entry.failures);
        entry.state = NodeState::Backoff {
            until: Instant::now() + delay,
            failure: Unavailable::Restarting { how: how.to_owned(), retry_after: delay },
            restart: true,
        };
    }

    /// What a stopped node leaves behind: its credential, registration and lease.
    async fn forget(&self, tenant_id: Uuid, node_id: Uuid, reason: &str) {
        let id = tenant_id.to_string();
        if let Err(e) = self.api.node_stopped(&node_id.to_string(), reason).await {
            tracing::warn!(node = %node_id, error = %e, "cannot revoke the stopped node's credential");
        }
        if let Err(e) = self.registry.deregister(&id, &node_id.to_string()).await {
            tracing::warn!(node = %node_id, error = %e, "cannot remove the stopped node's registration");
        }
        if let Err(e) = self.registry.release_lease(&id, &self.instance).await {
            tracing::warn!(node = %node_id, error = %e, "cannot release the node lease");
        }
    }

    /// Asks the api for meetings about to start, every `ahead_scan`, and starts
    /// their tenants' nodes ahead (kept up until the meeting could have started).
    pub async fn start_ahead(self: &Arc<Self>) {
        let mut every = tokio::time::interval(self.config.ahead_scan);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let upcoming = match self.api.upcoming_meetings(self.config.start_ahead).await {
                Ok(upcoming) => upcoming.tenants,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot ask the api for meetings about to start");
                    continue;
                }
            };
            for tenant in upcoming {
                let Ok(tenant_id) = Uuid::parse_str(&tenant.tenant_id) else { continue };
                let manager = self.clone();
                tokio::spawn(async move {
                    match manager.route(&tenant).await {
                        Ok(_) => {
                            if let Some(entry) = manager.lock().get_mut(&tenant_id) {
                                entry.keep_until = Some(Instant::now() + manager.config.ahead_scan * 2);
                            }
                            tracing::info!(tenant = %tenant.slug, "node started ahead of a scheduled meeting");
                        }
                        Err(e) => tracing::warn!(tenant = %tenant.slug, error = %e, "cannot start a node ahead"),
                    }
                });
            }
        }
    }

    /// Stops every node this front door runs (it is shutting down).
    pub async fn stop_all(self: &Arc<Self>) {
        let running: Vec<(Uuid, Uuid)> = self
            .lock()
            .values()
            .filter_map(|t| match &t.state {
                NodeState::Running { node, .. } => Some((t.tenant_id, node.node_id)),
                _ => None,
            })
            .collect();
        futures_util::future::join_all(running.into_iter().map(|(t, n)| self.stop(t, n, "shutdown"))).await;
    }

    /// How many nodes this front door runs.
    pub fn running(&self) -> usize {
        self.lock().values().filter(|t| matches!(t.state, NodeState::Running { .. })).count()
    }
}

enum Wait {
    Start(watch::Receiver<StartResult>),
    Stop(watch::Receiver<bool>),
}

enum Started {
    Ours(RunningNode),
    Elsewhere(Route),
}

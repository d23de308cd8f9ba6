//! Many tenants at once, through the front door: room number `n` of a workload is a
//! room of tenant `n`, signed up through the real api, whose node the front door
//! starts on the first participant's signaling connection. Sessions speak
//! `docs/signaling.md` over a WebSocket sent to the front door with the tenant's
//! `Host`, as a browser's is.
//!
//! The process whose CPU and memory the runner reads is the front door (media goes
//! straight to the nodes); [`TenantsDriver::joins`] has how long each join took.

use super::confer_driver::ConferSession;
use super::driver::{DriverError, SfuDriver};
use crate::front_door::FrontDoorPlatform;
use crate::unique_slug;
use anyhow::Context;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// How long joins took: the first of each tenant (it starts the tenant's node) and
/// the others.
#[derive(Debug, Clone, Default)]
pub struct Joins {
    /// Each tenant's first join to start: WebSocket through the front door, the
    /// node's cold start, `joined`.
    pub first: Vec<Duration>,
    /// The rest (a second participant joining at the same time also waits for
    /// the cold start).
    pub later: Vec<Duration>,
}

/// A platform with a front door, one tenant per room.
pub struct TenantsDriver {
    door: FrontDoorPlatform,
    joins: Mutex<Joins>,
    seen: Mutex<std::collections::HashSet<String>>,
}

impl TenantsDriver {
    /// A fresh platform whose front door can run `tenants` nodes at once.
    pub async fn start(tenants: usize) -> anyhow::Result<Self> {
        let first_port: u16 = 32_000;
        let last_port = first_port + u16::try_from(tenants * 2 + 10).context("too many tenants")?;
        let ports = format!("{first_port}-{last_port}");
        let door = FrontDoorPlatform::start(&[
            ("CONFER_NODE_IDLE_SECONDS", "3600"),
            ("CONFER_NODE_UDP_PORTS", &ports),
            ("CONFER_MAX_PARTICIPANTS", "10"),
            ("RUST_LOG", "warn,rtc=error,confer_frontdoor=info"),
        ])
        .await;
        Ok(Self { door, joins: Mutex::new(Joins::default()), seen: Mutex::new(Default::default()) })
    }

    /// The joins so far.
    pub fn joins(&self) -> Joins {
        self.joins.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The tenants' nodes' processes.
    pub fn node_pids(&self) -> Vec<u32> {
        self.door.node_pids()
    }
}

impl SfuDriver for TenantsDriver {
    type Session = ConferSession;

    fn name(&self) -> &'static str {
        "confer-tenants"
    }

    fn pid(&self) -> u32 {
        self.door.front_door_pid()
    }

    async fn prepare_room(&self, room: usize) -> Result<String, DriverError> {
        let tenant = self.door.platform.signup(&unique_slug(&format!("t{room}"))).await;
        Ok(format!("{}/standup", tenant.slug))
    }

    async fn join(&self, room: &str, name: &str) -> Result<ConferSession, DriverError> {
        let (slug, room) = room.split_once('/').context("a room is <slug>/<room>")?;
        let mut request = format!("ws://127.0.0.1:{}/ws", self.door.port).into_client_request()?;
        request.headers_mut().insert("host", HeaderValue::from_str(&format!("{slug}.localhost:{}", self.door.port))?);
        let first = self.seen.lock().unwrap_or_else(|p| p.into_inner()).insert(slug.to_owned());
        let started = Instant::now();
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .with_context(|| format!("signaling of {slug} through the front door"))?;
        let session = ConferSession::join(socket, room, name).await?;
        let took = started.elapsed();
        let mut joins = self.joins.lock().unwrap_or_else(|p| p.into_inner());
        if first {
            joins.first.push(took)
        } else {
            joins.later.push(took)
        }
        Ok(session)
    }
}

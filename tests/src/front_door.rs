//! The whole platform as a tenant's people meet through it: a [`TestPlatform`]
//! (database, `confer-api`) whose site URLs point at a real `confer-frontdoor`,
//! which starts the real `confer-media` nodes of the tenants on demand. Each test
//! gets its own ports and UDP range; the nodes are the front door's children and go
//! with it.

use crate::{Killed, LogLines, TestPlatform, TestTenant, redis_url, spawn_logged_into};
use std::net::TcpListener;
use std::time::Duration;

/// A platform with a front door.
pub struct FrontDoorPlatform {
    /// The api and database.
    pub platform: TestPlatform,
    front_door: Option<Killed>,
    /// The front door's HTTP port: sites are `http://<slug>.localhost:<port>`.
    pub port: u16,
    /// The front door's own environment.
    env: Vec<(String, String)>,
    /// Every log line of the front door and its nodes.
    pub log: LogLines,
    /// A client that sends every `*.localhost` name to the front door.
    http: reqwest::Client,
    /// The operator's platform token (the api's `/v1/platform/…`).
    platform_token: String,
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A block of UDP ports for one test's nodes in 20000-29999, spread so that tests in
/// parallel rarely meet (the front door skips ports held by others anyway), and clear
/// of the ephemeral ports and of the test coturns' relay ports (40000 and up).
fn udp_block(size: u16) -> (u16, u16) {
    let block = u16::from(uuid::Uuid::new_v4().as_bytes()[0]) % 200;
    let first = 20_000 + block * 50;
    (first, first + size.min(50) - 1)
}

impl FrontDoorPlatform {
    /// The api and a front door with `front_door_env` (e.g. a short idle time).
    pub async fn start(front_door_env: &[(&str, &str)]) -> Self {
        Self::start_with(&[], front_door_env).await
    }

    /// Also with extra environment for the api.
    pub async fn start_with(api_env: &[(&str, &str)], front_door_env: &[(&str, &str)]) -> Self {
        let port = free_tcp_port();
        let token = format!("platform-{}", uuid::Uuid::new_v4().simple());
        let site_port = port.to_string();
        let mut env: Vec<(&str, &str)> = vec![
            ("CONFER_PLATFORM_TOKEN", token.as_str()),
            ("CONFER_BASE_DOMAIN", "localhost"),
            ("CONFER_SITE_SCHEME", "http"),
            ("CONFER_SITE_PORT", site_port.as_str()),
        ];
        env.extend_from_slice(api_env);
        let platform = TestPlatform::start_with(&env).await;
        let (first, last) = udp_block(50);
        let mut door_env: Vec<(String, String)> = [
            ("CONFER_FRONTDOOR_LISTEN", format!("127.0.0.1:{port}")),
            ("CONFER_API_URL", platform.base_url.clone()),
            ("CONFER_PLATFORM_TOKEN", token.clone()),
            ("CONFER_REDIS_URL", redis_url()),
            ("CONFER_NODE_UDP_PORTS", format!("{first}-{last}")),
            ("CONFER_BASE_DOMAIN", "localhost".to_owned()),
            ("CONFER_NODE_AHEAD_SCAN_SECONDS", "1".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        door_env.extend(front_door_env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        let mut door = Self {
            platform,
            front_door: None,
            port,
            env: door_env,
            log: LogLines::default(),
            http,
            platform_token: token,
        };
        door.launch();
        door
    }

    fn launch(&mut self) {
        let (child, _) = spawn_logged_into("confer-frontdoor", &self.env, Some(self.log.clone()));
        self.front_door = Some(Killed(child));
    }

    /// Kills the front door with SIGKILL (a crash): its nodes are told by the kernel.
    pub fn kill_front_door(&mut self) {
        self.front_door = None;
    }

    /// The front door's process id.
    pub fn front_door_pid(&self) -> u32 {
        self.front_door.as_ref().map(|k| k.0.id()).unwrap_or(0)
    }

    /// A tenant's site URL for `path` (as a browser opens it).
    pub fn site_url(&self, tenant: &TestTenant, path: &str) -> String {
        format!("http://{}.localhost:{}{path}", tenant.slug, self.port)
    }

    /// A `GET` of `path` on the site named `host` (sent to the front door).
    pub async fn get_site(&self, host: &str, path: &str) -> reqwest::Response {
        self.http
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .header("host", host)
            .send()
            .await
            .expect("a request to the front door")
    }

    /// Sets the tenant's plan as the platform's operator does; returns the status.
    pub async fn set_plan(&self, tenant: &TestTenant, memory_mb: u32, cpu_percent: u32) -> u16 {
        self.http
            .put(self.platform.url(&confer_vocabulary::platform_api::tenant_plan_path(&tenant.id)))
            .bearer_auth(&self.platform_token)
            .json(&serde_json::json!({"memory_mb": memory_mb, "cpu_percent": cpu_percent}))
            .send()
            .await
            .expect("a request to the api")
            .status()
            .as_u16()
    }

    /// The tenant's node as registered in Redis.
    pub async fn registration(&self, tenant: &TestTenant) -> Option<confer_vocabulary::NodeRegistration> {
        let client = redis::Client::open(redis_url()).expect("Redis URL");
        let mut redis = client.get_multiplexed_async_connection().await.expect("Redis");
        let text: Option<String> = redis::cmd("GET")
            .arg(confer_vocabulary::node_registration_key(&tenant.id))
            .query_async(&mut redis)
            .await
            .expect("GET");
        text.map(|t| serde_json::from_str(&t).expect("a registration"))
    }

    /// Waits until the tenant's node is registered (or not), up to `within`.
    pub async fn await_registration(
        &self,
        tenant: &TestTenant,
        registered: bool,
        within: Duration,
    ) -> Option<confer_vocabulary::NodeRegistration> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let reg = self.registration(tenant).await;
            if reg.is_some() == registered || std::time::Instant::now() > deadline {
                return reg;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The process ids of `confer-media` children of the front door.
    pub fn node_pids(&self) -> Vec<u32> {
        let parent = self.front_door_pid();
        let mut pids = Vec::new();
        let Ok(dir) = std::fs::read_dir("/proc") else { return pids };
        for entry in dir.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
            // comm is in parentheses; ppid is the second field after it.
            let Some((comm, rest)) = stat.split_once(") ") else { continue };
            let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
            if comm.ends_with("(confer-media") && ppid == Some(parent) {
                pids.push(pid);
            }
        }
        pids
    }

    /// Lines of the front door's (and its nodes') log that contain `text`.
    pub fn log_lines_with(&self, text: &str) -> Vec<String> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).iter().filter(|l| l.contains(text)).cloned().collect()
    }
}

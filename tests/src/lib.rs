//! The test platform: each test gets its own PostgreSQL database and its own
//! `confer-api` process (the real binary, on a port the OS picks), so tests run in
//! parallel, in any order, and twice in a row.

pub mod chat_flood_load;
pub mod domain_rig;
pub mod front_door;
pub mod front_door_load;
pub mod janus;
pub mod media_node;
pub mod oidc_provider;
pub mod orphans;
pub mod outbound;
pub mod pebble;
pub mod private_network;
pub mod rabbitmq;
pub mod sdp_summary;
pub mod sfu_load;
pub mod slapd;
pub mod tls_probe;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// Where tests create their databases (a maintenance database on the server).
fn admin_url() -> String {
    std::env::var("CONFER_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The workspace's build directory for the profile the tests were built with.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test binary>, or target/<profile>/<load tool>
    let dir = exe.parent().expect("the executable's directory");
    if dir.ends_with("deps") { dir.parent().expect("target dir").to_path_buf() } else { dir.to_path_buf() }
}

/// Path of a workspace binary, built by `cargo test --workspace` / `cargo nextest`.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(path.exists(), "{} is missing: run `cargo build --workspace` (infra/test.sh does)", path.display());
    path
}

/// Log lines kept for a test to read (each line of a binary's log, as written).
pub type LogLines = Arc<Mutex<Vec<String>>>;

/// Starts a workspace binary that logs JSON (`CONFER_LOG_FORMAT=json` is set), echoes
/// its log to the test output, and returns it with the `addr` it reports listening on.
pub fn spawn_logged(name: &str, env: &[(String, String)]) -> (Child, String) {
    spawn_logged_into(name, env, None)
}

/// [`spawn_logged`], also appending each log line to `lines` when given.
pub fn spawn_logged_into(name: &str, env: &[(String, String)], lines: Option<LogLines>) -> (Child, String) {
    let mut child = Command::new(binary(name))
        .envs(env.iter().cloned())
        .env("CONFER_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    let tag = name.to_owned();
    // Drain the log for the whole life of the process, echoing it to the test output.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && let Some(addr) = v.get("addr").and_then(Value::as_str)
            {
                let _ = tx.send(addr.to_owned());
            }
            eprintln!("[{tag}] {line}");
            if let Some(lines) = &lines {
                lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("{name} did not start listening"));
    (child, addr)
}

/// A process killed when dropped (when a test ends, passed or failed).
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A database of one test, dropped when the test ends.
pub struct TestDatabase {
    /// Its name, `confer_test_<unix seconds>_<uuid>`: the time lets `infra/test.sh` drop
    /// leftovers of interrupted runs without touching a run that is going on now.
    pub name: String,
    /// URL to connect to it as the (super)user the tests run as.
    pub url: String,
}

impl TestDatabase {
    /// Creates an empty database.
    pub async fn create() -> Self {
        let created =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let name = format!("confer_test_{created}_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(admin_url()).await.expect("connect to CONFER_TEST_DATABASE_URL");
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
        admin.close().await.ok();
        let base = admin_url();
        let url = format!("{}/{name}", &base[..base.rfind('/').expect("database URL has a path")]);
        Self { name, url }
    }

    /// A connection as the superuser (RLS does not apply to it): the test's view of the truth.
    pub async fn connect(&self) -> DatabaseConnection {
        Database::connect(self.url.clone()).await.expect("connect to test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any runtime guarantee: use a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                if let Ok(admin) = Database::connect(admin_url()).await {
                    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                }
            });
        })
        .join();
    }
}

/// A tenant created by signup: its id, slug and admin key.
#[derive(Debug, Clone)]
pub struct TestTenant {
    pub id: String,
    pub slug: String,
    pub key: String,
}

/// The platform under test: a database and a running `confer-api`.
pub struct TestPlatform {
    api: Option<Child>,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// The test's database.
    pub db: TestDatabase,
    master_key: String,
    extra_env: Vec<(String, String)>,
    http: reqwest::Client,
    /// Where the api's log lines are kept, when the test asked for them.
    log: Option<LogLines>,
}

impl TestPlatform {
    /// A fresh database and API.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// A fresh database and an API with extra environment (e.g. lower limits).
    pub async fn start_with(env: &[(&str, &str)]) -> Self {
        Self::start_logging(env, None).await
    }

    /// [`TestPlatform::start_with`], also keeping every log line of the api (across
    /// restarts) in `log`.
    pub async fn start_logging_into(env: &[(&str, &str)], log: LogLines) -> Self {
        Self::start_logging(env, Some(log)).await
    }

    async fn start_logging(env: &[(&str, &str)], log: Option<LogLines>) -> Self {
        use base64::Engine;
        let db = TestDatabase::create().await;
        let master_key = base64::engine::general_purpose::STANDARD.encode(rand_bytes());
        let mut platform = Self {
            api: None,
            base_url: String::new(),
            db,
            master_key,
            extra_env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            // The api closes idle connections after 5 s; drop ours sooner, so that a
            // request after a pause never goes out on a connection being closed.
            http: reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(2)).build().expect("an HTTP client"),
            log,
        };
        platform.launch();
        platform
    }

    /// The environment the API runs with.
    pub fn api_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("DATABASE_URL".to_owned(), self.db.url.clone()),
            ("CONFER_MASTER_KEY".to_owned(), self.master_key.clone()),
            ("CONFER_API_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            ("CONFER_LOG_FORMAT".to_owned(), "json".to_owned()),
            ("CONFER_HTTP_WORKERS".to_owned(), "2".to_owned()),
            ("CONFER_DB_POOL_SIZE".to_owned(), "8".to_owned()),
            ("CONFER_API_REQUESTS_PER_SECOND".to_owned(), "10000".to_owned()),
            ("CONFER_SIGNUPS_PER_MINUTE".to_owned(), "1000".to_owned()),
            ("CONFER_TENANT_REQUESTS_PER_SECOND".to_owned(), "10000".to_owned()),
            ("CONFER_PASSWORD_HASHES_PER_SECOND".to_owned(), "1000".to_owned()),
            ("CONFER_INVALID_KEYS_PER_MINUTE".to_owned(), "10000".to_owned()),
            ("CONFER_REDIS_URL".to_owned(), redis_url()),
            // The tests' directories and providers listen on loopback.
            ("CONFER_OUTBOUND_ALLOW".to_owned(), outbound::LOOPBACK.to_owned()),
        ];
        env.extend(self.extra_env.iter().cloned());
        env
    }

    fn launch(&mut self) {
        let (child, addr) = spawn_logged_into("confer-api", &self.api_env(), self.log.clone());
        self.base_url = format!("http://{addr}");
        self.api = Some(child);
    }

    /// Kills the API (SIGKILL: a crash); `restart` brings it back.
    pub fn kill_api(&mut self) {
        self.stop_api();
    }

    /// Stops the API (SIGKILL: a crash) and starts it again on the same database.
    pub async fn restart(&mut self) {
        self.stop_api();
        self.launch();
    }

    fn stop_api(&mut self) {
        if let Some(mut child) = self.api.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// An absolute URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// The HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Signs up a tenant with this slug.
    pub async fn signup(&self, slug: &str) -> TestTenant {
        let res = self
            .http
            .post(self.url("/v1/tenants"))
            .json(&serde_json::json!({"name": format!("Tenant {slug}"), "slug": slug, "admin_email": format!("admin@{slug}.example")}))
            .send()
            .await
            .expect("signup request");
        assert_eq!(res.status(), 201, "signup of {slug}");
        let body: Value = res.json().await.expect("signup body");
        TestTenant {
            id: body["tenant"]["id"].as_str().expect("tenant id").to_owned(),
            slug: slug.to_owned(),
            key: body["api_key"]["key"].as_str().expect("api key").to_owned(),
        }
    }

    /// `GET` with a tenant's key; returns status and JSON body (Null when empty).
    pub async fn get(&self, tenant: &TestTenant, path: &str) -> (u16, Value) {
        let res = self.http.get(self.url(path)).bearer_auth(&tenant.key).send().await.expect("GET");
        status_and_json(res).await
    }

    /// A request with a JSON body and a tenant's key.
    pub async fn send(
        &self,
        tenant: &TestTenant,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(&tenant.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        status_and_json(req.send().await.expect("request")).await
    }

    /// The first column of the first row of a query, run as superuser.
    async fn first_value<T: sea_orm::TryGetable>(&self, query: &str) -> T {
        let db = self.db.connect().await;
        let row = db
            .query_one_raw(Statement::from_string(DbBackend::Postgres, query.to_owned()))
            .await
            .expect("query")
            .expect("a row");
        let value = row.try_get_by_index::<T>(0).expect("a value of the expected type");
        db.close().await.ok();
        value
    }

    /// The tenant's token signer, as the api derives it (read with the master key
    /// from the tenant's wrapped data key): for tests that forge expired tokens.
    pub async fn token_signer(&self, tenant: &TestTenant) -> confer_api::token_signer::TokenSigner {
        let wrapped: Vec<u8> =
            self.first_value(&format!("SELECT wrapped_key FROM tenant_keys WHERE tenant_id = '{}'", tenant.id)).await;
        let master = confer_store::secrets::MasterKey::from_base64(&self.master_key).expect("the test's master key");
        let id = uuid::Uuid::parse_str(&tenant.id).expect("a tenant id");
        let key = master.unwrap_data_key(id, &wrapped).expect("the tenant's data key");
        confer_api::token_signer::TokenSigner::of(&key).expect("a signer")
    }

    /// Takes the test's database away from the api (no new connections, the open
    /// ones ended), or gives it back; as the server's superuser.
    pub async fn set_database_reachable(&self, reachable: bool) {
        use sea_orm::ConnectionTrait;
        let url = std::env::var("CONFER_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let admin = sea_orm::Database::connect(url).await.expect("the test PostgreSQL");
        let name = &self.db.name;
        admin
            .execute_unprepared(&format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS {reachable}"))
            .await
            .expect("ALTER DATABASE");
        if !reachable {
            admin
                .execute_unprepared(&format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
                ))
                .await
                .expect("end the api's connections");
        }
        admin.close().await.ok();
    }

    /// The master key the api runs with (base64).
    pub fn master_key(&self) -> &str {
        &self.master_key
    }

    /// The first column of the first row of a query, as i64, run as superuser.
    pub async fn scalar(&self, query: &str) -> i64 {
        self.first_value(query).await
    }

    /// The first column of the first row of a query, as JSON, run as superuser.
    pub async fn json(&self, query: &str) -> Value {
        self.first_value(query).await
    }

    /// Runs `confer-api <args>` against this platform's database; returns (success, stdout).
    pub fn run_cli(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(binary("confer-api")).args(args).envs(self.api_env()).output().expect("run confer-api");
        if !out.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        }
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Number of events in the log.
    pub async fn event_count(&self) -> i64 {
        self.scalar("SELECT count(*) FROM events").await
    }
}

impl Drop for TestPlatform {
    fn drop(&mut self) {
        self.stop_api();
    }
}

/// Status and JSON body of a response (Null for an empty body).
pub async fn status_and_json(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let bytes = res.bytes().await.expect("body");
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
    (status, body)
}

fn rand_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    for chunk in b.chunks_mut(16) {
        chunk.copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    b
}

/// A slug unique to this test run.
pub fn unique_slug(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// The Redis the tests use (the infra scripts start one on loopback). Tests keep to
/// keys and channels of their own tenants, so they can share it.
pub fn redis_url() -> String {
    std::env::var("CONFER_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

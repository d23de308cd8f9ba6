//! A real `confer-media` node for one tenant, wired to a test's api, and signaling
//! clients that speak `docs/signaling.md` over a WebSocket (with the site's session
//! cookie, when they logged in).

use crate::{LogLines, TestTenant, redis_url, spawn_logged_into};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::process::Child;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A running node, killed when dropped.
pub struct MediaNode {
    child: Child,
    /// `127.0.0.1:<port>` of its site and signaling.
    pub addr: String,
}

impl Drop for MediaNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl MediaNode {
    /// Starts a node for `tenant` that reads its settings from, and logs people in
    /// through, the api at `api`. `extra` adds or overrides environment.
    pub fn start(api: &str, tenant: &TestTenant, extra: &[(&str, &str)]) -> Self {
        Self::start_logging(api, tenant, extra, None)
    }

    /// [`MediaNode::start`], also keeping every line of the node's log in `log`.
    pub fn start_logging_into(api: &str, tenant: &TestTenant, extra: &[(&str, &str)], log: LogLines) -> Self {
        Self::start_logging(api, tenant, extra, Some(log))
    }

    fn start_logging(api: &str, tenant: &TestTenant, extra: &[(&str, &str)], log: Option<LogLines>) -> Self {
        let mut env: Vec<(String, String)> = [
            ("CONFER_TENANT", tenant.slug.clone()),
            ("CONFER_MEDIA_LISTEN", "127.0.0.1:0".to_owned()),
            ("CONFER_MEDIA_UDP", "127.0.0.1:0".to_owned()),
            ("CONFER_MEDIA_LOOPS", "1".to_owned()),
            ("CONFER_API_URL", api.to_owned()),
            // The tenant's admin key serves as the node's credential until the api mints node ones.
            ("CONFER_NODE_CREDENTIAL", tenant.key.clone()),
            ("CONFER_REDIS_URL", redis_url()),
            // Settings arrive by the api's announcement on Redis; the poll is out of the way.
            ("CONFER_SETTINGS_POLL_SECONDS", "600".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let (child, addr) = spawn_logged_into("confer-media", &env, log);
        Self { child, addr }
    }

    /// [`MediaNode::start_logging_into`] with HTTPS on a port the OS picks
    /// (`CONFER_MEDIA_TLS_LISTEN=127.0.0.1:0`, unless `extra` sets it); also returns the
    /// HTTPS address the node reports (`tls` in its "confer-media listening" line).
    pub fn start_with_tls(api: &str, tenant: &TestTenant, extra: &[(&str, &str)], log: LogLines) -> (Self, String) {
        let mut env = vec![("CONFER_MEDIA_TLS_LISTEN", "127.0.0.1:0")];
        env.extend_from_slice(extra);
        let node = Self::start_logging(api, tenant, &env, Some(log.clone()));
        // The line that gave `addr` has it; it reaches `log` right after.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let listening = log.lock().unwrap_or_else(|e| e.into_inner()).iter().find_map(|line| {
                let line: Value = serde_json::from_str(line).ok()?;
                (line["message"] == json!("confer-media listening")).then(|| line["tls"].as_str().map(str::to_owned))?
            });
            if let Some(tls) = listening {
                return (node, tls);
            }
            assert!(Instant::now() < deadline, "the node did not report an HTTPS address (`tls`)");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Waits until the site reports these access settings (`GET /auth/session`).
    pub async fn wait_for_access(&self, auth: &str, guests_allowed: bool) {
        self.wait_for_site(|site| site["auth"] == json!(auth) && site["guests_allowed"] == json!(guests_allowed)).await;
    }

    /// Waits until what `GET /auth/session` says satisfies `applied`.
    pub async fn wait_for_site(&self, applied: impl Fn(&Value) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let http = reqwest::Client::new();
        loop {
            let now = http.get(self.url("/auth/session")).send().await.ok();
            let body: Value = match now {
                Some(r) => r.json().await.unwrap_or(Value::Null),
                None => Value::Null,
            };
            if applied(&body) {
                return;
            }
            assert!(Instant::now() < deadline, "the node never applied the settings; it says {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A signaling client, sending `cookie` (e.g. `confer_session=…`) with the upgrade.
    pub async fn signaling(&self, cookie: Option<&str>) -> Signaling {
        match cookie {
            Some(cookie) => self.signaling_with(&[("Cookie", cookie)]).await,
            None => self.signaling_with(&[]).await,
        }
    }

    /// A signaling client sending `headers` with the upgrade (e.g. the
    /// `X-Forwarded-For` of a front door the node trusts).
    pub async fn signaling_with(&self, headers: &[(&'static str, &str)]) -> Signaling {
        let mut request = format!("ws://{}/ws", self.addr).into_client_request().expect("a WebSocket URL");
        for (name, value) in headers {
            request.headers_mut().insert(*name, value.parse().expect("a header value"));
        }
        let (socket, _) = tokio_tungstenite::connect_async(request).await.expect("signaling answers");
        Signaling { socket, next_id: 1, pushes: Vec::new() }
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One signaling connection.
pub struct Signaling {
    socket: Socket,
    next_id: u64,
    /// Pushes received while waiting for replies, oldest first.
    pub pushes: Vec<Value>,
}

impl Signaling {
    async fn next_frame(&mut self, within: Duration) -> Option<Value> {
        match tokio::time::timeout(within, self.socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str(text.as_str()).ok(),
            Ok(Some(Ok(_))) => Some(Value::Null),
            _ => None,
        }
    }

    /// Sends a request (`v` and `id` are added) and returns its reply; pushes that
    /// come first are kept in [`Signaling::pushes`].
    pub async fn request(&mut self, mut body: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        body["v"] = json!(1);
        body["id"] = json!(id);
        self.socket.send(Message::text(body.to_string())).await.expect("signaling takes the frame");
        loop {
            let frame = self.next_frame(Duration::from_secs(15)).await.expect("a reply before the socket closed");
            if frame["re"] == json!(id) {
                return frame;
            }
            if !frame.is_null() {
                self.pushes.push(frame);
            }
        }
    }

    /// The first push of `kind` (kept or arriving within `within`), taken out.
    pub async fn push(&mut self, kind: &str, within: Duration) -> Option<Value> {
        if let Some(at) = self.pushes.iter().position(|p| p["type"] == json!(kind)) {
            return Some(self.pushes.remove(at));
        }
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let frame = self.next_frame(left).await?;
            if frame["type"] == json!(kind) {
                return Some(frame);
            }
            if !frame.is_null() {
                self.pushes.push(frame);
            }
        }
        None
    }

    /// The room event of `kind` (kept or arriving within `within`), taken out.
    pub async fn event(&mut self, kind: &str, within: Duration) -> Option<Value> {
        self.event_where(kind, |_| true, within).await
    }

    /// The room event of `kind` for which `wanted` holds (kept or arriving within
    /// `within`), taken out; others stay kept.
    pub async fn event_where(
        &mut self,
        kind: &str,
        wanted: impl Fn(&Value) -> bool,
        within: Duration,
    ) -> Option<Value> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(at) = self
                .pushes
                .iter()
                .position(|p| p["type"] == json!("event") && p["event"]["type"] == json!(kind) && wanted(&p["event"]))
            {
                return Some(self.pushes.remove(at)["event"].take());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            let frame = self.next_frame(left).await?;
            if !frame.is_null() {
                self.pushes.push(frame);
            }
        }
    }
}

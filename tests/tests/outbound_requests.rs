//! Requests a tenant's settings make the platform send go through the one outbound
//! guard (issue 14, items 2, 3 and 5), against the real api, a real OpenLDAP and
//! listeners that count who connects:
//!
//! - a directory or provider in a special network is refused, as a literal when the
//!   settings are saved and as a name at login, without a connection being made;
//! - the platform's own services (Redis, the database, the api, `CONFER_OUTBOUND_DENY`)
//!   are refused even where the operator allows loopback, and so is an endpoint the
//!   provider's discovery document names there;
//! - control characters and broken DNs in settings are refused when saved;
//! - a stored secret is not sent to a new place: changing where it goes needs it again.

use confer_tests::slapd::TestDirectory;
use confer_tests::{TestPlatform, TestTenant, redis_url, unique_slug};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A loopback listener that counts the connections made to it.
struct Bait {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl Bait {
    /// Keeps each connection open and says nothing.
    async fn silent() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let port = listener.local_addr().expect("its address").port();
        Self { port, accepted: serve(listener, None) }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Accepts connections, counting them; answers each request with `json` when given.
fn serve(listener: tokio::net::TcpListener, json: Option<String>) -> Arc<AtomicUsize> {
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let json = json.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let Some(body) = json else {
                    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                    return;
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
            });
        }
    });
    accepted
}

/// A provider that only has a discovery document, written knowing its issuer URL
/// (`http://localhost:<its port>`).
struct NamedProvider {
    issuer: String,
    bait: Bait,
}

impl NamedProvider {
    async fn start(document: impl Fn(&str) -> String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let port = listener.local_addr().expect("its address").port();
        let issuer = format!("http://localhost:{port}");
        let accepted = serve(listener, Some(document(&issuer)));
        Self { issuer, bait: Bait { port, accepted } }
    }
}

fn port_of(url: &str, default: u16) -> u16 {
    reqwest::Url::parse(url).expect("a URL").port().unwrap_or(default)
}

async fn patch(p: &TestPlatform, t: &TestTenant, body: Value) -> (u16, Value) {
    p.send(t, Method::PATCH, "/v1/settings", Some(body)).await
}

async fn password_login(p: &TestPlatform, t: &TestTenant, username: &str, password: &str) -> (u16, Value) {
    p.send(t, Method::POST, "/v1/sessions", Some(json!({"username": username, "password": password}))).await
}

async fn oidc_start(p: &TestPlatform, t: &TestTenant) -> (u16, Value) {
    p.send(t, Method::POST, "/v1/sessions/oidc", Some(json!({"redirect_uri": "https://meet.example.org/cb"}))).await
}

/// The tenant logs in through `directory` at `url`, searching as its reader.
fn ldap_at(directory: &TestDirectory, url: &str) -> Value {
    json!({"auth": "ldap", "ldap": {"url": url, "bind_dn": directory.reader_dn,
        "bind_password": directory.reader_password, "base_dn": directory.base_dn, "timeout_secs": 2}})
}

/// `block` with the fields of `change` set (a `null` clears one).
fn with(mut block: Value, change: Value) -> Value {
    for (k, v) in change.as_object().expect("an object") {
        block[k] = v.clone();
    }
    block
}

fn assert_code(answer: &(u16, Value), status: u16, code: &str) {
    assert_eq!((answer.0, answer.1["error"]["code"].as_str()), (status, Some(code)), "{}", answer.1);
}

fn assert_field(answer: &(u16, Value), field: &str) {
    assert_eq!((answer.0, answer.1["error"]["field"].as_str()), (422, Some(field)), "{}", answer.1);
}

#[tokio::test]
async fn a_directory_or_provider_in_a_special_network_is_refused_without_a_connection() {
    // The production default: no special network allowed.
    let p = TestPlatform::start_with(&[("CONFER_OUTBOUND_ALLOW", "")]).await;
    let t = p.signup(&unique_slug("ssrf")).await;
    let directory = TestDirectory::start();
    let bait = Bait::silent().await;

    // Literals are refused when saved.
    for url in [
        format!("ldap://127.0.0.1:{}", bait.port),
        format!("ldap://[::1]:{}", bait.port),
        "ldap://10.1.2.3".to_owned(),
        "ldaps://169.254.169.254".to_owned(),
        "ldap://[::ffff:127.0.0.1]:389".to_owned(),
        "ldap://0.0.0.0:389".to_owned(),
    ] {
        let answer = patch(&p, &t, json!({"ldap": {"url": url, "base_dn": "dc=example,dc=org"}})).await;
        assert_field(&answer, "ldap.url");
    }
    for issuer in [
        format!("http://127.0.0.1:{}", bait.port),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "https://[fd00::1]/realms/x".to_owned(),
        "https://192.168.1.10".to_owned(),
    ] {
        let answer = patch(&p, &t, json!({"oidc": {"issuer": issuer, "client_id": "confer"}})).await;
        assert_field(&answer, "oidc.issuer");
    }

    // A name is checked where it resolves, at login: localhost is loopback.
    let answer = patch(&p, &t, ldap_at(&directory, &format!("ldap://localhost:{}", bait.port))).await;
    assert_eq!(answer.0, 200, "a name is saved: {}", answer.1);
    let answer = password_login(&p, &t, "ann", directory.ann.password).await;
    assert_code(&answer, 503, "directory_misconfigured");
    let message = answer.1["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("may not be connected to"), "says why: {message}");
    // Spellings of 127.0.0.1 the resolver may accept are judged by the address they give.
    for host in ["2130706433", "0x7f.0.0.1", "127.1"] {
        let answer = patch(&p, &t, ldap_at(&directory, &format!("ldap://{host}:{}", bait.port))).await;
        if answer.0 == 422 {
            continue;
        }
        let answer = password_login(&p, &t, "ann", directory.ann.password).await;
        let code = answer.1["error"]["code"].as_str();
        assert!(
            answer.0 == 503 && matches!(code, Some("directory_misconfigured" | "directory_unavailable")),
            "{host}: {}",
            answer.1
        );
    }
    // The real directory, by name: refused just the same.
    let at_directory = directory.ldap_url.replace("127.0.0.1", "localhost");
    assert_eq!(patch(&p, &t, ldap_at(&directory, &at_directory)).await.0, 200);
    assert_code(&password_login(&p, &t, "ann", directory.ann.password).await, 503, "directory_misconfigured");

    let answer = patch(
        &p,
        &t,
        json!({"auth": "oidc", "oidc": {"issuer": format!("http://localhost:{}", bait.port), "client_id": "confer"}}),
    )
    .await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_code(&oidc_start(&p, &t).await, 503, "provider_misconfigured");

    assert_eq!(bait.accepted(), 0, "no connection was made to a special network");
}

#[tokio::test]
async fn the_platforms_own_services_are_refused_where_loopback_is_allowed() {
    let denied = Bait::silent().await;
    let deny = format!("127.0.0.1:{}", denied.port);
    // Loopback allowed (as in the tests' default), one more service named by the operator.
    let p = TestPlatform::start_with(&[("CONFER_OUTBOUND_DENY", &deny)]).await;
    let t = p.signup(&unique_slug("ownsvc")).await;
    let directory = TestDirectory::start();

    // The control: where loopback is allowed, the directory by name logs Ann in.
    let at_directory = directory.ldap_url.replace("127.0.0.1", "localhost");
    assert_eq!(patch(&p, &t, ldap_at(&directory, &at_directory)).await.0, 200);
    assert_eq!(password_login(&p, &t, "ann", directory.ann.password).await.0, 201);

    let redis = port_of(&redis_url(), 6379);
    let database = port_of(&p.db.url, 5432);
    let api = port_of(&p.base_url, 80);
    // As literals: refused when saved.
    for port in [redis, database, api, denied.port] {
        let answer = patch(&p, &t, ldap_at(&directory, &format!("ldap://127.0.0.1:{port}"))).await;
        assert_field(&answer, "ldap.url");
    }
    // By name: refused at login.
    for port in [redis, database, api, denied.port] {
        assert_eq!(patch(&p, &t, ldap_at(&directory, &format!("ldap://localhost:{port}"))).await.0, 200);
        let answer = password_login(&p, &t, "ann", directory.ann.password).await;
        assert_code(&answer, 503, "directory_misconfigured");
        // Refused by the guard, not a failed exchange with whatever listens there.
        let message = answer.1["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("one of the platform's own services"), "{port}: {message}");
    }
    let answer = patch(
        &p,
        &t,
        json!({"auth": "oidc", "oidc": {"issuer": format!("http://localhost:{api}"), "client_id": "confer"}}),
    )
    .await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_code(&oidc_start(&p, &t).await, 503, "provider_misconfigured");

    // A provider on an allowed address whose discovery names a denied one for its keys.
    let discovery = |issuer: &str| {
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/auth"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("http://localhost:{}/jwks", denied.port),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })
        .to_string()
    };
    let named = NamedProvider::start(discovery).await;
    let answer = patch(&p, &t, json!({"oidc": {"issuer": named.issuer, "client_id": "confer"}})).await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_code(&oidc_start(&p, &t).await, 503, "provider_misconfigured");
    assert!(named.bait.accepted() >= 1, "the discovery document was read");

    assert_eq!(denied.accepted(), 0, "no connection was made to a denied service");
}

#[tokio::test]
async fn control_characters_and_broken_names_in_settings_are_refused() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("ctrl")).await;
    let ldap = |change: Value| {
        let block = json!({"url": "ldap://ldap.example.org", "bind_dn": "cn=svc,dc=example,dc=org",
            "bind_password": "pw", "base_dn": "ou=people,dc=example,dc=org"});
        json!({"ldap": with(block, change)})
    };
    let oidc = |change: Value| json!({"oidc": with(json!({"issuer": "https://id.example.org", "client_id": "confer"}), change)});
    let before = p.event_count().await;
    let cases = [
        (ldap(json!({"bind_dn": "cn=svc,dc=example,dc=org\r\nchangetype: add"})), "ldap.bind_dn"),
        (ldap(json!({"bind_dn": "cn=svc\u{0},dc=example,dc=org"})), "ldap.bind_dn"),
        (ldap(json!({"bind_password": "pw\r\nx"})), "ldap.bind_password"),
        (ldap(json!({"bind_password": "pw\u{0}"})), "ldap.bind_password"),
        (ldap(json!({"base_dn": "ou=people,\ndc=example"})), "ldap.base_dn"),
        (ldap(json!({"base_dn": "ou=people\u{85},dc=example"})), "ldap.base_dn"),
        (ldap(json!({"base_dn": "not a dn"})), "ldap.base_dn"),
        (ldap(json!({"base_dn": "ou=people,,dc=example"})), "ldap.base_dn"),
        (ldap(json!({"base_dn": "=people,dc=example"})), "ldap.base_dn"),
        (ldap(json!({"moderator_group": "cn=mods,dc=example\u{7}"})), "ldap.moderator_group"),
        (ldap(json!({"moderator_group": "cn=mods,dc"})), "ldap.moderator_group"),
        (
            ldap(json!({"bind_dn": null, "bind_password": null, "user_dn_template": "uid=%u,ou=people\r,dc=x"})),
            "ldap.user_dn_template",
        ),
        (
            ldap(json!({"bind_dn": null, "bind_password": null, "user_dn_template": "uid=%u,,dc=x"})),
            "ldap.user_dn_template",
        ),
        (
            ldap(json!({"bind_dn": null, "bind_password": null, "user_dn_template": "ou=people,dc=x"})),
            "ldap.user_dn_template",
        ),
        (ldap(json!({"user_filter": "(uid=%u)\u{0}(cn=*)"})), "ldap.user_filter"),
        (ldap(json!({"url": "ldap://ldap.example.org\r\n:389"})), "ldap.url"),
        (ldap(json!({"url": "ldap://user:pw@ldap.example.org"})), "ldap.url"),
        (ldap(json!({"url": "ldap://ldap.example.org/?uid"})), "ldap.url"),
        (ldap(json!({"url": "ldap://"})), "ldap.url"),
        (ldap(json!({"bind_dn": null})), "ldap.bind_password"),
        (oidc(json!({"issuer": "https://id.example.org/?x=1"})), "oidc.issuer"),
        (oidc(json!({"issuer": "https://id.example.org/#frag"})), "oidc.issuer"),
        (oidc(json!({"issuer": "https://user:pw@id.example.org"})), "oidc.issuer"),
        (oidc(json!({"issuer": "https://id.example.org/realm\u{0}x"})), "oidc.issuer"),
        (oidc(json!({"client_id": "con\u{0}fer"})), "oidc.client_id"),
        (oidc(json!({"moderator_claim": "gro\nups"})), "oidc.moderator_claim"),
        (oidc(json!({"moderator_value": "mods\u{0}"})), "oidc.moderator_value"),
    ];
    for (body, field) in cases {
        let answer = patch(&p, &t, body.clone()).await;
        assert_eq!((answer.0, answer.1["error"]["field"].as_str()), (422, Some(field)), "{body}: {}", answer.1);
    }
    assert_eq!(p.event_count().await, before, "nothing refused was recorded");

    // What RFC 4514 allows is kept as it was sent: escapes, spaces around separators.
    let answer = patch(
        &p,
        &t,
        ldap(json!({"bind_dn": "cn=Smith\\, John,ou=service accounts,dc=example,dc=org",
            "base_dn": "ou=people, dc=example, dc=org", "moderator_group": "cn=mods+ou=x,dc=example,dc=org"})),
    )
    .await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!(answer.1["ldap"]["bind_dn"], "cn=Smith\\, John,ou=service accounts,dc=example,dc=org");
    let answer = patch(
        &p,
        &t,
        ldap(json!({"bind_dn": null, "bind_password": null, "user_dn_template": "uid=%u,ou=people,dc=example,dc=org"})),
    )
    .await;
    assert_eq!(answer.0, 200, "{}", answer.1);
}

#[tokio::test]
async fn a_stored_secret_is_not_sent_to_a_new_place() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("follow")).await;
    let ldap = json!({"url": "ldaps://ldap.example.org", "bind_dn": "cn=svc,dc=example,dc=org",
        "bind_password": "the-bind-secret", "base_dn": "dc=example,dc=org", "starttls": false});
    let answer = patch(&p, &t, json!({"ldap": ldap})).await;
    assert_eq!(answer.0, 200, "{}", answer.1);

    let without = |change: Value| {
        let mut block = ldap.clone();
        block.as_object_mut().expect("an object").remove("bind_password");
        json!({"ldap": with(block, change)})
    };
    let before = p.event_count().await;
    for change in [
        json!({"url": "ldaps://attacker.example.net"}),
        json!({"url": "ldaps://ldap.example.org:6360"}),
        json!({"url": "ldap://ldap.example.org:636"}),
        json!({"bind_dn": "cn=other,dc=example,dc=org"}),
        json!({"ca_pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}),
    ] {
        let answer = patch(&p, &t, without(change.clone())).await;
        assert_field(&answer, "ldap.bind_password");
        let message = answer.1["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("sent again"), "{change}: {message}");
    }
    assert_eq!(p.event_count().await, before, "nothing refused was recorded");
    let (_, settings) = p.get(&t, "/v1/settings").await;
    assert_eq!(
        (settings["ldap"]["url"].as_str(), settings["ldap"]["has_bind_password"].as_bool()),
        (Some("ldaps://ldap.example.org"), Some(true)),
        "{settings}"
    );

    // Where it still goes where it went, it is kept.
    let answer = patch(&p, &t, without(json!({"base_dn": "ou=staff,dc=example,dc=org", "timeout_secs": 9}))).await;
    assert_eq!((answer.0, answer.1["ldap"]["has_bind_password"].as_bool()), (200, Some(true)), "{}", answer.1);
    // StartTLS: turning it off sends the password in the clear, turning it on does not.
    let plain = json!({"url": "ldap://ldap.example.org"});
    let mut resent = without(plain.clone());
    resent["ldap"]["bind_password"] = json!("the-bind-secret");
    assert_eq!(patch(&p, &t, resent.clone()).await.0, 200);
    let answer = patch(&p, &t, without(json!({"url": "ldap://ldap.example.org", "starttls": true}))).await;
    assert_eq!((answer.0, answer.1["ldap"]["has_bind_password"].as_bool()), (200, Some(true)), "{}", answer.1);
    assert_field(&patch(&p, &t, without(plain)).await, "ldap.bind_password");
    // Sent along, it goes to the new place.
    let mut moved = without(json!({"url": "ldaps://ldap2.example.org"}));
    moved["ldap"]["bind_password"] = json!("another-secret");
    let answer = patch(&p, &t, moved).await;
    assert_eq!((answer.0, answer.1["ldap"]["url"].as_str()), (200, Some("ldaps://ldap2.example.org")), "{}", answer.1);
    // Without a service account, there is no password.
    let answer = patch(
        &p,
        &t,
        json!({"ldap": {"url": "ldaps://ldap2.example.org", "base_dn": "dc=example,dc=org",
        "user_dn_template": "uid=%u,dc=example,dc=org"}}),
    )
    .await;
    assert_eq!((answer.0, answer.1["ldap"]["has_bind_password"].as_bool()), (200, Some(false)), "{}", answer.1);

    // The client secret goes to the issuer's token endpoint, for this client.
    let oidc = json!({"issuer": "https://id.example.org", "client_id": "confer", "client_secret": "the-client-secret"});
    assert_eq!(patch(&p, &t, json!({"oidc": oidc})).await.0, 200);
    for change in [json!({"issuer": "https://id.attacker.example.net"}), json!({"client_id": "other"})] {
        let block = with(json!({"issuer": "https://id.example.org", "client_id": "confer"}), change);
        assert_field(&patch(&p, &t, json!({"oidc": block})).await, "oidc.client_secret");
    }
    let answer = patch(
        &p,
        &t,
        json!({"oidc": {"issuer": "https://id.example.org/", "client_id": "confer", "scopes": ["profile"]}}),
    )
    .await;
    assert_eq!((answer.0, answer.1["oidc"]["has_client_secret"].as_bool()), (200, Some(true)), "{}", answer.1);
    let (_, settings) = p.get(&t, "/v1/settings").await;
    assert_eq!(settings["oidc"]["issuer"], "https://id.example.org", "{settings}");
}

//! Secrets stay secret: no LDAP bind password, OpenID client secret, token-signing key
//! (nor the tenant's data key or the operator's master key it comes from) appears in
//! any response of the api or the media node, in any event of the log (they are
//! sealed), or in any line either of them logs.
//!
//! One run does everything that touches those secrets — settings written and read,
//! LDAP logins that succeed, fail, meet a misconfigured service account and a directory
//! that is down, OpenID logins through the provider's own form that succeed and fail
//! (also with a wrong client secret), a join token, the published keys, the event feed
//! — and keeps every response (status line, headers, body). Then it reads every event
//! (payload and metadata) and every other table straight from PostgreSQL, takes every
//! log line the api and the node wrote, and looks in all of it for each secret in each
//! form someone might print it: as is, hex, base64 (standard and URL-safe, padded or
//! not, and as part of any longer base64 text such as a PKCS#8 key or a JWT), and as a
//! Rust or JSON byte array. A failure says where a secret was found, with the secret
//! itself masked.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use confer_api::token_signer::{PURPOSE, TokenSigner};
use confer_store::secrets::MasterKey;
use confer_tests::media_node::MediaNode;
use confer_tests::oidc_provider::{ProviderConfig, TestProvider};
use confer_tests::slapd::{READER_PASSWORD, TestDirectory};
use confer_tests::{LogLines, TestPlatform, TestTenant, unique_slug};
use reqwest::Method;
use reqwest::cookie::CookieStore;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One thing that was seen: where (a response, an event, a log line) and its text.
struct Seen {
    place: String,
    text: String,
}

/// Everything the test saw, and the origins of the api and the node (responses from
/// elsewhere, the OpenID provider's pages, are not ours to judge and are not kept).
struct Corpus {
    ours: Vec<String>,
    /// A client that opens a connection per request: the api closes idle ones after
    /// 5 s, and a request sent on one just as it closes fails (the test waits on slapd
    /// and the provider in between).
    http: reqwest::Client,
    items: Vec<Seen>,
    responses: usize,
}

impl Corpus {
    fn new(ours: &[&str]) -> Self {
        Self {
            ours: ours.iter().map(|o| o.trim_end_matches('/').to_owned()).collect(),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .timeout(Duration::from_secs(30))
                .build()
                .expect("a client"),
            items: Vec::new(),
            responses: 0,
        }
    }

    fn add(&mut self, place: String, text: String) {
        self.items.push(Seen { place, text });
    }

    /// Keeps a response (status, every header, the body) and answers its parts.
    async fn response(&mut self, what: &str, res: reqwest::Response) -> (u16, HeaderMap, String) {
        let url = res.url().clone();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.text().await.unwrap_or_default();
        let origin = url.origin().ascii_serialization();
        if self.ours.contains(&origin) {
            self.responses += 1;
            let place = format!("response #{} ({what}: {} {})", self.responses, status, url.path());
            let mut text = format!("HTTP {status} {url}\n");
            for (name, value) in &headers {
                text.push_str(&format!("{name}: {}\n", String::from_utf8_lossy(value.as_bytes())));
            }
            text.push('\n');
            text.push_str(&body);
            self.add(place, text);
        }
        (status, headers, body)
    }

    /// The kept text of the responses whose place mentions `what`.
    fn responses_of(&self, what: &str) -> Vec<&str> {
        self.items
            .iter()
            .filter(|s| s.place.starts_with("response") && s.place.contains(what))
            .map(|s| s.text.as_str())
            .collect()
    }
}

/// A request to the api with the tenant's key, kept.
async fn api(
    corpus: &mut Corpus,
    p: &TestPlatform,
    t: &TestTenant,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let what = format!("api {method} {path}");
    let mut req = corpus.http.request(method, p.url(path)).bearer_auth(&t.key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let (status, _, body) = corpus.response(&what, req.send().await.expect("the api answers")).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// A password login on the node's site, kept; answers status, session cookie, body.
async fn site_login(
    corpus: &mut Corpus,
    node: &MediaNode,
    username: &str,
    password: &str,
) -> (u16, Option<String>, Value) {
    let res = corpus
        .http
        .post(node.url("/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("the site answers a login");
    let (status, headers, body) = corpus.response(&format!("node POST /auth/login as {username}"), res).await;
    let cookie = headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("confer_session="))
        .map(|c| c.split(';').next().unwrap_or_default().to_owned());
    (status, cookie, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// A browser that follows redirects by hand, so that every hop is kept.
struct Browser {
    client: reqwest::Client,
    jar: Arc<reqwest::cookie::Jar>,
}

impl Browser {
    fn new() -> Self {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .expect("a client");
        Self { client, jar }
    }

    /// Sends `first` and follows its redirects; answers the last page's URL, status and body.
    async fn go(&self, corpus: &mut Corpus, what: &str, first: reqwest::RequestBuilder) -> (reqwest::Url, u16, String) {
        let mut res = first.send().await.expect("an answer");
        for hop in 0..15 {
            let url = res.url().clone();
            let (status, headers, body) = corpus.response(&format!("{what}, hop {hop}"), res).await;
            if !(300..400).contains(&status) {
                return (url, status, body);
            }
            let location = headers.get("location").and_then(|l| l.to_str().ok()).expect("a redirect has a Location");
            let next = url.join(location).expect("a Location that resolves");
            res = self.client.get(next).send().await.expect("an answer");
        }
        panic!("{what}: too many redirects");
    }

    /// An OpenID login through the node and the provider's own form, every hop kept.
    async fn oidc_login(
        &self,
        corpus: &mut Corpus,
        node: &MediaNode,
        what: &str,
        room: &str,
    ) -> (reqwest::Url, u16, String) {
        let start = self.client.get(node.url(&format!("/auth/oidc/start?next=/{room}")));
        let (form_url, status, html) = self.go(corpus, &format!("{what}: start"), start).await;
        assert!(
            status == 200 && html.contains("name=\"login\""),
            "{what}: the provider's login form at {form_url}: {html}"
        );
        let submit = self.client.post(form_url).form(&[("login", "ann"), ("password", "ann-pass")]);
        self.go(corpus, &format!("{what}: the provider's form"), submit).await
    }

    /// The session cookie `node`'s site set, as `name=value`.
    fn session_cookie(&self, node: &MediaNode) -> Option<String> {
        let site = reqwest::Url::parse(&node.url("/")).expect("the site's URL");
        let cookies = self.jar.cookies(&site)?;
        let cookies = cookies.to_str().ok()?;
        cookies.split("; ").find(|c| c.starts_with("confer_session=")).map(str::to_owned)
    }
}

/// One secret in one of the forms it could be printed in.
struct Needle {
    secret: &'static str,
    form: String,
    text: String,
}

/// The forms of `bytes` someone might print: hex, base64 in both alphabets padded or
/// not, each 3-byte alignment of it inside a longer base64 text (a DER key, a JWT, a
/// `user:password` header), and, for keys, Rust's `{:?}` and JSON's byte arrays.
fn forms_of_bytes(secret: &'static str, bytes: &[u8], key: bool) -> Vec<Needle> {
    let mut forms = vec![
        ("hex".to_owned(), hex::encode(bytes)),
        ("HEX".to_owned(), hex::encode_upper(bytes)),
        ("base64".to_owned(), STANDARD.encode(bytes)),
        ("base64 without padding".to_owned(), STANDARD_NO_PAD.encode(bytes)),
        ("base64url".to_owned(), URL_SAFE.encode(bytes)),
        ("base64url without padding".to_owned(), URL_SAFE_NO_PAD.encode(bytes)),
    ];
    // Inside a longer base64 text the secret starts at some offset; whichever it is
    // modulo 3, the encoding of the secret's bytes from the next 3-byte boundary on
    // (to the last whole group) appears as is.
    for skip in 0..3 {
        let whole = (bytes.len().saturating_sub(skip) / 3) * 3;
        if whole >= 6 {
            let part = &bytes[skip..skip + whole];
            forms.push((format!("base64 inside longer base64, offset {skip}"), STANDARD_NO_PAD.encode(part)));
            forms.push((format!("base64url inside longer base64url, offset {skip}"), URL_SAFE_NO_PAD.encode(part)));
        }
    }
    if key {
        forms.push(("Rust byte array".to_owned(), format!("{bytes:?}")));
        forms.push(("JSON byte array".to_owned(), serde_json::to_string(bytes).unwrap_or_default()));
    }
    let mut needles: Vec<Needle> = Vec::new();
    for (form, text) in forms {
        if !needles.iter().any(|n| n.text == text) {
            needles.push(Needle { secret, form, text });
        }
    }
    needles
}

/// A secret that is text: as typed, and its bytes in every form.
fn forms_of_text(secret: &'static str, text: &str) -> Vec<Needle> {
    let mut needles = vec![Needle { secret, form: "plain text".to_owned(), text: text.to_owned() }];
    needles.extend(forms_of_bytes(secret, text.as_bytes(), false));
    needles
}

/// Every string of a JSON value (keys too), unescaped.
fn json_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| json_strings(v, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            out.push(k.clone());
            json_strings(v, out);
        }),
        _ => {}
    }
}

/// `%XX` decoded (a secret in a URL or a form).
fn percent_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(byte) = u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The readings of a text to look in: as it is, percent-decoded, and the unescaped
/// strings of the JSON in it (a whole JSON text, or the JSON body after the headers).
fn readings(text: &str) -> Vec<String> {
    let mut all = vec![text.to_owned()];
    if text.contains('%') {
        all.push(percent_decoded(text));
    }
    let body = text.split_once("\n\n").map(|(_, b)| b).unwrap_or(text);
    for candidate in [text, body] {
        if let Ok(v) = serde_json::from_str::<Value>(candidate) {
            let mut strings = Vec::new();
            json_strings(&v, &mut strings);
            all.push(strings.join("\n"));
        }
    }
    all
}

/// Where each needle was found, as lines that name the secret, the form and the
/// place, with a masked excerpt; never the secret itself.
fn findings(corpus: &[Seen], needles: &[Needle]) -> Vec<String> {
    let mut masks: Vec<&Needle> = needles.iter().collect();
    masks.sort_by_key(|n| std::cmp::Reverse(n.text.len()));
    let mask = |text: &str| {
        let mut masked = text.to_owned();
        for n in &masks {
            masked = masked.replace(&n.text, &format!("«{} as {}»", n.secret, n.form));
        }
        masked
    };
    let mut found = Vec::new();
    let mut reported = std::collections::HashSet::new();
    for seen in corpus {
        for reading in readings(&seen.text) {
            for needle in needles.iter().filter(|n| reading.contains(&n.text)) {
                if !reported.insert((needle.secret, needle.form.as_str(), seen.place.as_str())) {
                    continue;
                }
                // Masked whole before cutting, so that no part of a secret shows at an edge.
                let masked = mask(&reading);
                let at = masked.find(&format!("«{} as", needle.secret)).unwrap_or(0);
                let from = masked.floor_char_boundary(at.saturating_sub(150));
                let to = masked.ceil_char_boundary((at + 250).min(masked.len()));
                found.push(format!(
                    "the {} (as {}) in {}: …{}…",
                    needle.secret,
                    needle.form,
                    seen.place,
                    masked[from..to].replace('\n', "⏎")
                ));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Opens AES-256-GCM ciphertext as `confer_store::secrets` seals it (a 96-bit nonce, then
/// the ciphertext, then the 16-byte tag) without checking the tag: GCM's ciphertext is
/// AES-CTR from the counter block `nonce ‖ 00000002`. The tests have no AES of their
/// own; OpenSSL's command line (which the slapd harness needs too) does the CTR. The
/// result is checked by opening a secret whose plaintext is known.
fn gcm_open_unchecked(key: &[u8], sealed: &[u8]) -> Vec<u8> {
    assert!(sealed.len() > 12 + 16, "sealed data has a nonce and a tag");
    let (nonce, rest) = sealed.split_at(12);
    let ciphertext = &rest[..rest.len() - 16];
    let mut iv = nonce.to_vec();
    iv.extend_from_slice(&[0, 0, 0, 2]);
    let mut child = Command::new("openssl")
        .args(["enc", "-d", "-aes-256-ctr", "-K", &hex::encode(key), "-iv", &hex::encode(iv)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl");
    child.stdin.take().expect("stdin").write_all(ciphertext).expect("feed openssl");
    let out = child.wait_with_output().expect("openssl finishes");
    assert!(out.status.success(), "openssl enc: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Waits until some line of `log` contains `text`.
async fn wait_for_line(log: &LogLines, name: &str, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if log.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|l| l.contains(text)) {
            return;
        }
        assert!(Instant::now() < deadline, "the {name} never logged a line with {text:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn no_secret_appears_in_any_response_event_or_log_line() {
    let api_log: LogLines = LogLines::default();
    let node_log: LogLines = LogLines::default();
    let p = TestPlatform::start_logging_into(&[], api_log.clone()).await;

    // Sign up by hand, to keep the response.
    let slug = unique_slug("sec");
    let mut corpus = Corpus::new(&[&p.base_url]);
    let res = corpus
        .http
        .post(p.url("/v1/tenants"))
        .json(&json!({"name": "Secret Keepers", "slug": slug, "admin_email": format!("admin@{slug}.example")}))
        .send()
        .await
        .expect("signup");
    let (status, _, body) = corpus.response("api POST /v1/tenants (signup)", res).await;
    assert_eq!(status, 201, "{body}");
    let signed_up: Value = serde_json::from_str(&body).expect("a JSON signup");
    let t = TestTenant {
        id: signed_up["tenant"]["id"].as_str().expect("tenant id").to_owned(),
        slug: slug.clone(),
        key: signed_up["api_key"]["key"].as_str().expect("api key").to_owned(),
    };

    let node = MediaNode::start_logging_into(&p.base_url, &t, &[], node_log.clone());
    corpus.ours.push(node.url(""));
    let mut directory = TestDirectory::start();
    let mut config = ProviderConfig::new();
    config.redirect_uris = vec![node.url("/auth/oidc/callback")];
    let provider = TestProvider::start(config);

    let bind_password = directory.reader_password.clone();
    assert_eq!(bind_password, READER_PASSWORD);
    let client_secret = provider.client_secret.clone();
    let wrong_bind_password = format!("wrong-bind-{}", uuid::Uuid::new_v4().simple());
    let wrong_client_secret = format!("wrong-client-{}", uuid::Uuid::new_v4().simple());
    let wrong_login_password = format!("wrong-login-{}", uuid::Uuid::new_v4().simple());
    let ann_password = directory.ann.password.to_owned();
    let ldap_block = |password: &str| {
        json!({"url": directory.ldap_url, "bind_dn": directory.reader_dn, "bind_password": password,
               "base_dn": directory.base_dn, "moderator_group": directory.moderators_dn, "timeout_secs": 3})
    };
    let oidc_block = |secret: &str| {
        json!({"issuer": provider.issuer, "client_id": provider.client_id, "client_secret": secret,
               "scopes": ["profile", "email", "groups"], "moderator_claim": "groups", "moderator_value": "moderators"})
    };

    // Settings: written with their secrets, read back.
    let (status, body) = api(
        &mut corpus,
        &p,
        &t,
        Method::PATCH,
        "/v1/settings",
        Some(json!({"auth": "ldap", "guests_allowed": true, "ldap": ldap_block(&bind_password)})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ldap"]["has_bind_password"], true, "{body}");
    let (status, settings) = api(&mut corpus, &p, &t, Method::GET, "/v1/settings", None).await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(settings["ldap"]["bind_dn"], json!(directory.reader_dn), "{settings}");
    assert_eq!(settings["ldap"]["has_bind_password"], true, "{settings}");
    let (status, body) =
        api(&mut corpus, &p, &t, Method::PATCH, "/v1/settings", Some(json!({"oidc": oidc_block(&client_secret)})))
            .await;
    assert_eq!(status, 200, "{body}");
    let (status, settings) = api(&mut corpus, &p, &t, Method::GET, "/v1/settings", None).await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(settings["oidc"]["has_client_secret"], true, "{settings}");
    assert_eq!(settings["ldap"]["has_bind_password"], true, "{settings}");
    node.wait_for_access("ldap", true).await;

    // LDAP logins: through the site (as the page does) and straight at the api.
    let (status, cookie, body) = site_login(&mut corpus, &node, "ann", &ann_password).await;
    assert_eq!((status, body["moderator"].as_bool()), (200, Some(true)), "{body}");
    let cookie = cookie.expect("a session cookie");
    let res = corpus.http.get(node.url("/auth/session")).header("Cookie", &cookie).send().await.unwrap();
    let (_, _, who) = corpus.response("node GET /auth/session (logged in by LDAP)", res).await;
    let user: Value = serde_json::from_str::<Value>(&who).expect("JSON")["user"].clone();
    assert_eq!((user["method"].as_str(), user["name"].as_str()), (Some("ldap"), Some("Ann Example")), "{who}");
    let (status, _, body) = site_login(&mut corpus, &node, "ann", &wrong_login_password).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("invalid_credentials")), "{body}");
    let (status, body) = api(
        &mut corpus,
        &p,
        &t,
        Method::POST,
        "/v1/sessions",
        Some(json!({"username": "ann", "password": ann_password})),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // A wrong service-account password: the directory refuses the api's own bind.
    let (status, body) = api(
        &mut corpus,
        &p,
        &t,
        Method::PATCH,
        "/v1/settings",
        Some(json!({"ldap": ldap_block(&wrong_bind_password)})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = site_login(&mut corpus, &node, "ann", &ann_password).await;
    assert_eq!(status, 503, "the reader's bind fails: {body}");
    let (status, body) =
        api(&mut corpus, &p, &t, Method::PATCH, "/v1/settings", Some(json!({"ldap": ldap_block(&bind_password)})))
            .await;
    assert_eq!(status, 200, "{body}");

    // OpenID Connect: a login through the provider's form, a failed callback, a login
    // with a wrong client secret, and the api's own endpoints.
    let (status, body) = api(&mut corpus, &p, &t, Method::PATCH, "/v1/settings", Some(json!({"auth": "oidc"}))).await;
    assert_eq!(status, 200, "{body}");
    node.wait_for_access("oidc", true).await;
    let browser = Browser::new();
    let (landed, status, _) = browser.oidc_login(&mut corpus, &node, "OpenID login", "standup").await;
    assert_eq!((status, landed.path()), (200, "/standup"), "back on the meeting page after the login");
    let cookie = browser.session_cookie(&node).expect("a session cookie from the OpenID login");
    let res = corpus.http.get(node.url("/auth/session")).header("Cookie", &cookie).send().await.unwrap();
    let (_, _, who) = corpus.response("node GET /auth/session (logged in by OpenID)", res).await;
    let user: Value = serde_json::from_str::<Value>(&who).expect("JSON")["user"].clone();
    assert_eq!((user["method"].as_str(), user["name"].as_str()), (Some("oidc"), Some("Ann Example")), "{who}");

    let res = corpus
        .http
        .get(node.url("/auth/oidc/callback?code=bad&state=bad"))
        .header("Cookie", "confer_oidc=v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; confer_next=/standup")
        .send()
        .await
        .unwrap();
    let (status, _, page) = corpus.response("node GET /auth/oidc/callback with a bad pending login", res).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("Login failed"), "{page}");
    let res = corpus
        .http
        .get(node.url("/auth/oidc/callback?error=access_denied&error_description=nope"))
        .send()
        .await
        .unwrap();
    let (status, _, _) = corpus.response("node GET /auth/oidc/callback with an error", res).await;
    assert_eq!(status, 403);
    let (status, started) = api(
        &mut corpus,
        &p,
        &t,
        Method::POST,
        "/v1/sessions/oidc",
        Some(json!({"redirect_uri": node.url("/auth/oidc/callback")})),
    )
    .await;
    assert_eq!(status, 201, "{started}");
    let (status, body) = api(
        &mut corpus,
        &p,
        &t,
        Method::POST,
        "/v1/sessions/oidc/callback",
        Some(json!({"pending": started["pending"], "state": "not-the-state", "code": "bad"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");

    let (status, body) = api(
        &mut corpus,
        &p,
        &t,
        Method::PATCH,
        "/v1/settings",
        Some(json!({"oidc": oidc_block(&wrong_client_secret)})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (landed, status, page) =
        Browser::new().oidc_login(&mut corpus, &node, "OpenID login with a wrong client secret", "standup").await;
    assert_eq!((status, landed.path()), (403, "/auth/oidc/callback"), "the code exchange fails: {page}");
    let (status, body) =
        api(&mut corpus, &p, &t, Method::PATCH, "/v1/settings", Some(json!({"oidc": oidc_block(&client_secret)})))
            .await;
    assert_eq!(status, 200, "{body}");

    // A join token and the published keys.
    let (status, minted) = api(
        &mut corpus,
        &p,
        &t,
        Method::POST,
        "/v1/tokens",
        Some(json!({"room": "standup", "user": {"id": "u-1", "name": "Ann Api"}, "moderator": true})),
    )
    .await;
    assert_eq!(status, 201, "{minted}");
    let res = corpus.http.get(p.url(&format!("/v1/tenants/{slug}/jwks.json"))).send().await.unwrap();
    let (status, _, jwks) = corpus.response("api GET jwks.json", res).await;
    assert_eq!(status, 200, "{jwks}");
    let jwks: Value = serde_json::from_str(&jwks).expect("a JWKS");

    // LDAP again, with the directory down.
    let (status, body) = api(&mut corpus, &p, &t, Method::PATCH, "/v1/settings", Some(json!({"auth": "ldap"}))).await;
    assert_eq!(status, 200, "{body}");
    node.wait_for_access("ldap", true).await;
    directory.stop();
    let (status, _, body) = site_login(&mut corpus, &node, "ann", &ann_password).await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("directory_unavailable")), "{body}");

    // The feed, last, so that it holds every event.
    let (status, feed) = api(&mut corpus, &p, &t, Method::GET, "/v1/events?limit=1000", None).await;
    assert_eq!(status, 200, "{feed}");
    let feed_text = feed.to_string();
    assert!(feed_text.contains("\"has_bind_password\":true"), "the feed says a bind password is set: {feed_text}");
    assert!(feed_text.contains("\"has_client_secret\":true"), "the feed says a client secret is set: {feed_text}");

    // The log lines: wait until each process has logged its last request.
    let marker = format!("/v1/end-of-secrets-test-{}", uuid::Uuid::new_v4().simple());
    let res = corpus.http.get(p.url(&marker)).send().await.unwrap();
    corpus.response("api GET an unknown path (marks the end)", res).await;
    wait_for_line(&api_log, "api", &marker).await;
    wait_for_line(&node_log, "node", "directory_unavailable").await;

    // Every event, payload and metadata, straight from PostgreSQL.
    let events = p
        .json(
            "SELECT coalesce(jsonb_agg(jsonb_build_object('position', position, 'type', event_type, \
             'payload', payload, 'metadata', metadata) ORDER BY position), '[]'::jsonb) FROM events",
        )
        .await;
    let events = events.as_array().expect("the events").clone();
    assert!(events.len() >= 8, "the log holds the run's events: {}", events.len());
    for e in &events {
        let place = format!("event #{} {}", e["position"], e["type"].as_str().unwrap_or("?"));
        corpus.add(format!("{place} payload"), e["payload"].to_string());
        corpus.add(format!("{place} metadata"), e["metadata"].to_string());
    }
    // And every other table, row by row.
    let tables = p
        .json(
            "SELECT coalesce(jsonb_agg(table_name::text ORDER BY table_name), '[]'::jsonb) FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'events'",
        )
        .await;
    for table in tables.as_array().expect("table names").iter().filter_map(Value::as_str) {
        let rows = p.json(&format!("SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]'::jsonb) FROM \"{table}\" t")).await;
        for (i, row) in rows.as_array().expect("rows").iter().enumerate() {
            corpus.add(format!("table {table} row {i}"), row.to_string());
        }
    }
    let api_lines = api_log.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let node_lines = node_log.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for (i, line) in api_lines.iter().enumerate() {
        corpus.add(format!("api log line {}", i + 1), line.clone());
    }
    for (i, line) in node_lines.iter().enumerate() {
        corpus.add(format!("node log line {}", i + 1), line.clone());
    }

    // The keys: the tenant's data key (unwrapped here with the master key, by hand and
    // by the api's own code), the signing seed derived from it, the master key.
    let master = STANDARD.decode(p.master_key()).expect("a base64 master key");
    let wrapped = p
        .json(&format!("SELECT to_jsonb(encode(wrapped_key, 'hex')) FROM tenant_keys WHERE tenant_id = '{}'", t.id))
        .await;
    let wrapped = hex::decode(wrapped.as_str().expect("a wrapped key")).expect("hex");
    let data_key_bytes = gcm_open_unchecked(&master, &wrapped);
    assert_eq!(data_key_bytes.len(), 32, "a 32-byte data key");
    let tenant_id = uuid::Uuid::parse_str(&t.id).expect("a tenant id");
    let data_key = MasterKey::from_base64(p.master_key())
        .expect("the master key")
        .unwrap_data_key(tenant_id, &wrapped)
        .expect("the tenant's data key");
    let seed = data_key.derive(PURPOSE);
    let signer = TokenSigner::of(&data_key).expect("the signer");
    assert_eq!(jwks["keys"][0]["x"], signer.jwk()["x"], "the published key is the one derived from this data key");
    // The raw data key is right: it opens the sealed bind password of the first event.
    let sealed = events
        .iter()
        .find_map(|e| e["payload"]["settings"]["ldap"]["bind_password"].as_str())
        .expect("a sealed bind password in the log");
    assert!(sealed.starts_with("v1."), "sealed: the event holds {} characters of ciphertext", sealed.len());
    let sealed = URL_SAFE_NO_PAD.decode(&sealed[3..]).expect("base64url");
    assert_eq!(
        gcm_open_unchecked(&data_key_bytes, &sealed),
        bind_password.as_bytes(),
        "the data key opens the bind password"
    );
    let sealed_secrets = events
        .iter()
        .filter(|e| e["payload"]["settings"]["oidc"]["client_secret"].as_str().is_some_and(|s| s.starts_with("v1.")))
        .count();
    assert!(sealed_secrets >= 3, "the client secret is in the log, sealed, in each settings event after it was set");

    let mut needles = Vec::new();
    needles.extend(forms_of_text("LDAP bind password", &bind_password));
    needles.extend(forms_of_text("wrong LDAP bind password", &wrong_bind_password));
    needles.extend(forms_of_text("OpenID client secret", &client_secret));
    needles.extend(forms_of_text("wrong OpenID client secret", &wrong_client_secret));
    needles.extend(forms_of_text("login password", &ann_password));
    needles.extend(forms_of_text("wrong login password", &wrong_login_password));
    needles.extend(forms_of_bytes("token-signing key", &seed, true));
    needles.extend(forms_of_bytes("tenant data key", &data_key_bytes, true));
    needles.extend(forms_of_bytes("master key", &master, true));
    for n in &needles {
        assert!(n.text.len() >= 8, "the {} as {} is too short to look for", n.secret, n.form);
    }

    // The search sees what it should: the bind DN in the settings read back, the public
    // key in the JWKS, the capture of both logs.
    let settings_reads = corpus.responses_of("api GET /v1/settings");
    assert_eq!(settings_reads.len(), 2, "both reads of the settings were kept");
    assert!(
        settings_reads.iter().all(|r| r.contains(&directory.reader_dn) && r.contains("\"has_bind_password\":true"))
    );
    let public =
        [Needle { secret: "public key", form: "base64url".into(), text: signer.jwk()["x"].as_str().unwrap().into() }];
    let seen_public = findings(&corpus.items, &public);
    assert!(
        seen_public.iter().any(|f| f.contains("jwks.json")),
        "the public key is found in the JWKS: {seen_public:?}"
    );
    assert!(!api_lines.is_empty() && !node_lines.is_empty(), "both logs were captured");
    assert!(api_lines.iter().any(|l| l.contains("confer-api listening")), "the api's log from its start");
    assert!(api_lines.iter().any(|l| l.contains("ldap login succeeded")), "the api logged the LDAP login");
    assert!(api_lines.iter().any(|l| l.contains("\"logged in\"")), "the api logged the sessions");
    assert!(node_lines.iter().any(|l| l.contains("confer-media listening")), "the node's log from its start");
    assert!(node_lines.iter().any(|l| l.contains("a login was refused")), "the node logged a refused login");
    eprintln!(
        "looked for {} forms of {} secrets in {} responses, {} events, {} api and {} node log lines ({} places in all)",
        needles.len(),
        needles.iter().map(|n| n.secret).collect::<std::collections::HashSet<_>>().len(),
        corpus.responses,
        events.len(),
        api_lines.len(),
        node_lines.len(),
        corpus.items.len()
    );

    let leaks = findings(&corpus.items, &needles);
    assert!(leaks.is_empty(), "secrets found where they must not be:\n{}", leaks.join("\n"));
}

#[test]
fn the_search_finds_a_secret_in_any_form_and_place_and_masks_it() {
    let key: Vec<u8> = (1..=32).collect();
    let needles = forms_of_bytes("key", &key, true);
    let mut der = vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    der.extend_from_slice(&key);
    for prefix in 0..3 {
        let mut blob = vec![9u8; prefix];
        blob.extend_from_slice(&der);
        let corpus = [Seen {
            place: "a PEM".into(),
            text: format!("-----BEGIN PRIVATE KEY-----\n{}\n", STANDARD.encode(&blob)),
        }];
        assert!(!findings(&corpus, &needles).is_empty(), "inside base64 at offset {prefix}");
        let corpus = [Seen { place: "a JWT".into(), text: format!("x.{}.y", URL_SAFE_NO_PAD.encode(&blob)) }];
        assert!(!findings(&corpus, &needles).is_empty(), "inside base64url at offset {prefix}");
    }
    let corpus = [
        Seen { place: "a log line".into(), text: format!("{{\"msg\":\"key {:?}\"}}", key) },
        Seen {
            place: "a URL".into(),
            text: format!("/x?k={}", STANDARD.encode(&key).bytes().map(|b| format!("%{b:02X}")).collect::<String>()),
        },
        Seen { place: "a hex dump".into(), text: format!("KEY={}", hex::encode_upper(&key)) },
    ];
    let found = findings(&corpus, &needles);
    for place in ["a log line", "a URL", "a hex dump"] {
        assert!(found.iter().any(|f| f.contains(place)), "{place}: {found:?}");
    }
    let text = forms_of_text("password", "reader-pass");
    let corpus = [Seen {
        place: "an Authorization header".into(),
        text: format!("authorization: Basic {}", STANDARD.encode("cn=reader:reader-pass")),
    }];
    assert!(!findings(&corpus, &text).is_empty(), "inside user:password in base64");
    let corpus = [Seen { place: "a body".into(), text: "{\"error\":\"bind as reader-pass failed\"}".into() }];
    let found = findings(&corpus, &text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found.iter().all(|f| !f.contains("reader-pass") && f.contains("«password as plain text»")),
        "masked: {found:?}"
    );
    let clean = [Seen { place: "a body".into(), text: "{\"has_bind_password\":true}".into() }];
    assert!(findings(&clean, &text).is_empty());
}

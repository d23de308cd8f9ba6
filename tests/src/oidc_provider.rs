//! A private OpenID provider per test: panva's `oidc-provider` on Node
//! (`tests/oidc/provider.mjs`), on 127.0.0.1 and a port the OS picks, configured from
//! here (one client, the accounts, the signing key, the ID token lifetime).
//!
//! ```no_run
//! # async fn demo() {
//! use confer_tests::oidc_provider::{ProviderConfig, TestProvider};
//! let provider = TestProvider::start(ProviderConfig::new());
//! let settings = provider.settings(Some("groups"), Some("moderators"));
//! let http = confer_tests::outbound::loopback_http();
//! let (url, pending) = confer_api::login::oidc::begin(&http, &settings, &provider.redirect_uri).await.unwrap();
//! let back = provider.log_in(&url, "ann", "ann-pass").await.unwrap();
//! let who = confer_api::login::oidc::finish(&http, &settings, Some(&provider.client_secret), &pending, &back.code).await;
//! # }
//! ```
//!
//! A browser logs in through the provider's own page, `/interaction/<uid>`: a form with
//! the inputs `login` and `password` and the submit button `#sign-in`. A wrong password
//! shows the form again (status 401) with `#error`. Consent is given without asking.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::PrivateSigningKey;
use openidconnect::core::{CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// The redirect URI registered for the client by default: nothing listens there, the
/// tests read the code from the redirect instead of following it.
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

/// `tests/oidc`, where the provider and its `node_modules` live.
fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc")
}

fn node() -> String {
    std::env::var("CONFER_TEST_NODE").unwrap_or_else(|_| "node".into())
}

/// Installs the provider's packages when they are missing (`infra/oidc-provider.sh`,
/// which `infra/services.sh` also runs), once per test process.
fn ensure_installed() {
    static INSTALLED: Mutex<bool> = Mutex::new(false);
    let mut done = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if *done {
        return;
    }
    if !provider_dir().join("node_modules/oidc-provider").exists() {
        let script = provider_dir().join("../../infra/oidc-provider.sh");
        let status = Command::new("bash").arg(&script).status().expect("run infra/oidc-provider.sh");
        assert!(status.success(), "infra/oidc-provider.sh failed: the test OpenID provider cannot be installed");
    }
    *done = true;
}

/// An RSA key (RS256) the provider signs with, held by the test too, so that it can
/// sign tokens of its own with the provider's real key.
#[derive(Clone)]
pub struct SigningKey {
    /// Its key id (`kid`), in the provider's JWKS and in the header of what it signs.
    pub kid: String,
    /// The private key as a JWK, as the provider is given it.
    pub private_jwk: Value,
    /// The private key as PKCS#1 PEM.
    pub pkcs1_pem: String,
}

impl SigningKey {
    /// A new 2048-bit RSA key (made by Node's crypto: quick, even in a debug build).
    pub fn generate(kid: &str) -> Self {
        ensure_installed();
        let out = Command::new(node())
            .arg(provider_dir().join("provider.mjs"))
            .args(["--new-key", kid])
            .output()
            .expect("run node to make a key");
        assert!(out.status.success(), "node --new-key: {}", String::from_utf8_lossy(&out.stderr));
        let made: Value = serde_json::from_slice(&out.stdout).expect("the key as JSON");
        Self {
            kid: kid.to_owned(),
            private_jwk: made["jwk"].clone(),
            pkcs1_pem: made["pkcs1"].as_str().expect("PEM").to_owned(),
        }
    }

    /// The public half as a JWK.
    pub fn public_jwk(&self) -> Value {
        let j = &self.private_jwk;
        json!({"kty": "RSA", "n": j["n"], "e": j["e"], "kid": self.kid, "use": "sig", "alg": "RS256"})
    }

    /// Signs `claims` as a compact JWS (RS256, with this key's `kid`): any claims at
    /// all, to make expired, misaddressed or otherwise wrong ID tokens.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_kid(claims, Some(&self.kid))
    }

    /// Signs `claims` with the header's `kid` set as told (or left out).
    pub fn sign_with_kid(&self, claims: &Value, kid: Option<&str>) -> String {
        let mut header = json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let key = CoreRsaPrivateSigningKey::from_pem(&self.pkcs1_pem, None).expect("PKCS#1 key");
        let signature =
            key.sign(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, signing_input.as_bytes()).expect("sign");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// A person the provider knows.
#[derive(Debug, Clone)]
pub struct ProviderAccount {
    /// What they type in the `login` input.
    pub login: String,
    /// What they type in the `password` input.
    pub password: String,
    /// Their `sub`.
    pub subject: String,
    /// `name` (scope `profile`).
    pub name: Option<String>,
    /// `email` (scope `email`).
    pub email: Option<String>,
    /// `email_verified` (scope `email`); `None`: the claim is left out.
    pub email_verified: Option<bool>,
    /// `groups` (scope `groups`).
    pub groups: Vec<String>,
}

impl ProviderAccount {
    /// Ann: `ann` / `ann-pass`, "Ann Example", ann@example.org, in `moderators`.
    pub fn ann() -> Self {
        Self {
            login: "ann".into(),
            password: "ann-pass".into(),
            subject: "ann".into(),
            name: Some("Ann Example".into()),
            email: Some("ann@example.org".into()),
            email_verified: Some(true),
            groups: vec!["moderators".into()],
        }
    }

    /// Bob: `bob` / `bob-pass`, "Bob Example", bob@example.org, in no group.
    pub fn bob() -> Self {
        Self {
            login: "bob".into(),
            password: "bob-pass".into(),
            subject: "bob".into(),
            name: Some("Bob Example".into()),
            email: Some("bob@example.org".into()),
            email_verified: Some(true),
            groups: vec![],
        }
    }

    fn to_config(&self) -> Value {
        let mut claims = json!({"sub": self.subject, "preferred_username": self.login, "groups": self.groups});
        if let Some(name) = &self.name {
            claims["name"] = json!(name);
        }
        if let Some(email) = &self.email {
            claims["email"] = json!(email);
        }
        if let Some(verified) = self.email_verified {
            claims["email_verified"] = json!(verified);
        }
        json!({"login": self.login, "password": self.password, "claims": claims})
    }
}

/// How a [`TestProvider`] is set up.
#[derive(Clone)]
pub struct ProviderConfig {
    /// The port to listen on; 0 (the default): one the OS picks.
    pub port: u16,
    /// The one client.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// Where it may be sent back to (the first is [`TestProvider::redirect_uri`]).
    pub redirect_uris: Vec<String>,
    /// `client_secret_basic` or `client_secret_post`.
    pub token_endpoint_auth_method: String,
    /// Who can log in.
    pub accounts: Vec<ProviderAccount>,
    /// What the provider signs with.
    pub signing_key: SigningKey,
    /// ID token lifetime, seconds.
    pub id_token_ttl_secs: u64,
    /// Whether the ID token carries `name`, `email`, `groups`; when false they come only
    /// from the userinfo endpoint (the strict reading of OpenID Connect Core §5.4).
    pub claims_in_id_token: bool,
}

impl ProviderConfig {
    /// Client `confer-test` with a random secret, basic auth, [`REDIRECT_URI`]; Ann and
    /// Bob; a new key; ID tokens for an hour, with the profile claims in them.
    pub fn new() -> Self {
        Self {
            port: 0,
            client_id: "confer-test".into(),
            client_secret: format!("secret-{}", uuid::Uuid::new_v4().simple()),
            redirect_uris: vec![REDIRECT_URI.into()],
            token_endpoint_auth_method: "client_secret_basic".into(),
            accounts: vec![ProviderAccount::ann(), ProviderAccount::bob()],
            signing_key: SigningKey::generate("provider-key-1"),
            id_token_ttl_secs: 3600,
            claims_in_id_token: true,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "port": self.port,
            "clients": [{
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "redirect_uris": self.redirect_uris,
                "token_endpoint_auth_method": self.token_endpoint_auth_method,
            }],
            "accounts": self.accounts.iter().map(ProviderAccount::to_config).collect::<Vec<_>>(),
            "jwks": {"keys": [self.signing_key.private_jwk]},
            "idTokenTtl": self.id_token_ttl_secs,
            "claimsInIdToken": self.claims_in_id_token,
        })
    }
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// Where the provider sent the browser back to.
#[derive(Debug, Clone)]
pub struct ProviderRedirect {
    /// The whole `Location`.
    pub location: String,
    /// `code`, when the login succeeded.
    pub code: Option<String>,
    /// `state`, as sent.
    pub state: Option<String>,
    /// `error`, when it did not.
    pub error: Option<String>,
}

/// A running provider, stopped (SIGKILL) when dropped.
pub struct TestProvider {
    /// `http://127.0.0.1:<port>`.
    pub issuer: String,
    /// The client's id.
    pub client_id: String,
    /// The client's secret.
    pub client_secret: String,
    /// The first registered redirect URI.
    pub redirect_uri: String,
    /// Who can log in.
    pub accounts: Vec<ProviderAccount>,
    /// The key it signs ID tokens with.
    pub signing_key: SigningKey,
    child: Option<Child>,
    // Held open: the provider exits when it closes (also if this process dies).
    _stdin: Option<ChildStdin>,
}

impl TestProvider {
    /// Starts a provider and waits until it listens.
    pub fn start(config: ProviderConfig) -> Self {
        ensure_installed();
        let mut child = Command::new(node())
            .arg(provider_dir().join("provider.mjs"))
            .env("OIDC_PROVIDER_CONFIG", config.to_json().to_string())
            .env("NODE_ENV", "test")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start node tests/oidc/provider.mjs (is Node installed? infra/oidc-provider.sh)");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[oidc-provider] {line}");
            }
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && let Some(issuer) = v.get("issuer").and_then(Value::as_str)
                {
                    let _ = tx.send(issuer.to_owned());
                } else {
                    eprintln!("[oidc-provider] {line}");
                }
            }
        });
        let issuer = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(issuer) => issuer,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the test OpenID provider did not start listening (see [oidc-provider] lines above)");
            }
        };
        Self {
            issuer,
            client_id: config.client_id,
            client_secret: config.client_secret,
            redirect_uri: config.redirect_uris.first().cloned().unwrap_or_default(),
            accounts: config.accounts,
            signing_key: config.signing_key,
            child: Some(child),
            _stdin: stdin,
        }
    }

    /// The tenant settings that point at this provider (the secret is passed to
    /// `finish` in clear; sealing it is the api's business).
    pub fn settings(
        &self,
        moderator_claim: Option<&str>,
        moderator_value: Option<&str>,
    ) -> confer_store::domain::OidcSettings {
        confer_store::domain::OidcSettings {
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            client_secret: None,
            scopes: vec!["profile".into(), "email".into(), "groups".into()],
            moderator_claim: moderator_claim.map(str::to_owned),
            moderator_value: moderator_value.map(str::to_owned),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.issuer.rsplit(':').next().and_then(|p| p.parse().ok()).expect("the issuer has a port")
    }

    /// An account by login.
    pub fn account(&self, login: &str) -> &ProviderAccount {
        self.accounts.iter().find(|a| a.login == login).unwrap_or_else(|| panic!("no account {login}"))
    }

    /// Stops the provider now (SIGKILL): the "provider is down" case.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self._stdin = None;
    }

    /// Plays the browser: opens `authorization_url` with a fresh cookie jar, fills the
    /// provider's login form with `login` and `password`, and follows redirects up to
    /// the one back to the client's redirect URI, which it does not follow. Answers
    /// that redirect; `Err` with what the browser was left looking at when it never came
    /// (a wrong password: the form again).
    pub async fn log_in(
        &self,
        authorization_url: &str,
        login: &str,
        password: &str,
    ) -> Result<ProviderRedirect, String> {
        let back_to = Arc::new(self.redirect_uri.clone());
        let stop_at = back_to.clone();
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.url().as_str().starts_with(stop_at.as_str()) {
                    attempt.stop()
                } else if attempt.previous().len() >= 10 {
                    attempt.error("too many redirects")
                } else {
                    attempt.follow()
                }
            }))
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| e.to_string())?;

        let page = browser.get(authorization_url).send().await.map_err(|e| e.to_string())?;
        if let Some(redirect) = redirect_back(&page, &back_to) {
            return Ok(redirect); // already logged in at the provider
        }
        let form_url = page.url().clone();
        let status = page.status();
        let html = page.text().await.map_err(|e| e.to_string())?;
        if !html.contains("name=\"login\"") {
            return Err(format!("no login form at {form_url} (HTTP {status}): {html}"));
        }
        let after = browser
            .post(form_url)
            .form(&[("login", login), ("password", password)])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if let Some(redirect) = redirect_back(&after, &back_to) {
            return Ok(redirect);
        }
        let status = after.status();
        let url = after.url().clone();
        Err(format!("not sent back to the client: HTTP {status} at {url}: {}", after.text().await.unwrap_or_default()))
    }
}

/// The redirect back to the client, when `res` is it.
fn redirect_back(res: &reqwest::Response, back_to: &str) -> Option<ProviderRedirect> {
    if !res.status().is_redirection() {
        return None;
    }
    let location = res.headers().get(reqwest::header::LOCATION)?.to_str().ok()?.to_owned();
    if !location.starts_with(back_to) {
        return None;
    }
    let url = reqwest::Url::parse(&location).ok()?;
    let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    Some(ProviderRedirect { code: param("code"), state: param("state"), error: param("error"), location })
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        self.kill();
    }
}

//! Logging in on the meeting page in a real browser: headless Chromium on a real
//! `confer-media` node wired to a real api, and a real OpenID provider whose own login
//! form the browser fills in. A person who logs in through the provider lands back in
//! the meeting under their provider name, moderates or not as their groups say, and
//! sees and is seen by the others; the session cookie stays out of the page's reach;
//! logging out sticks. A wrong password at the provider logs nobody in. On a site with
//! internal accounts, the page's own login form opens the room, and a guest who came
//! first waits for the host and then enters on their own.

#[path = "browsers/mod.rs"]
mod browsers;

use browsers::{DriverGroup, chromium, frames_from, start_chromedriver, tempdir, wait_for};
use confer_tests::media_node::MediaNode;
use confer_tests::oidc_provider::{ProviderAccount, ProviderConfig, TestProvider};
use confer_tests::{TestPlatform, TestTenant, unique_slug};
use fantoccini::{Client, Locator};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a page may take to open its devices, join and get media flowing (the
/// machine running these tests may be slow and busy).
const MEDIA_TIMEOUT: Duration = Duration::from_secs(90);

/// A tenant, the node serving its site and, for OpenID, its provider.
struct Site {
    platform: TestPlatform,
    tenant: TestTenant,
    node: MediaNode,
    provider: Option<TestProvider>,
}

impl Site {
    /// A site that logs people in with OpenID Connect only (no guests); members of the
    /// provider's `moderators` group moderate.
    async fn oidc() -> Self {
        let mut site = Self::start("login-oidc").await;
        let mut config = ProviderConfig::new();
        config.redirect_uris = vec![site.node.url("/auth/oidc/callback")];
        let provider = TestProvider::start(config);
        site.patch(json!({"auth": "oidc", "guests_allowed": false, "oidc": {
            "issuer": provider.issuer, "client_id": provider.client_id,
            "client_secret": provider.client_secret, "scopes": ["profile", "email", "groups"],
            "moderator_claim": "groups", "moderator_value": "moderators"}}))
            .await;
        site.node.wait_for_access("oidc", false).await;
        site.provider = Some(provider);
        site
    }

    /// A site with internal accounts that lets guests in (once a host is there), and
    /// one moderator account.
    async fn internal_with_guests(email: &str, name: &str, password: &str) -> Self {
        let site = Self::start("login-internal").await;
        site.patch(json!({"auth": "internal", "guests_allowed": true})).await;
        site.node.wait_for_access("internal", true).await;
        let user = json!({"email": email, "display_name": name, "role": "moderator", "password": password});
        let (status, body) = site.send(Method::POST, "/v1/users", user).await;
        assert_eq!(status, 201, "the moderator's account: {body}");
        site
    }

    async fn start(prefix: &str) -> Self {
        let platform = TestPlatform::start().await;
        let tenant = platform.signup(&unique_slug(prefix)).await;
        let node = MediaNode::start(&platform.base_url, &tenant, &[]);
        Self { platform, tenant, node, provider: None }
    }

    async fn patch(&self, settings: Value) {
        let (status, body) = self.send(Method::PATCH, "/v1/settings", settings).await;
        assert_eq!(status, 200, "{body}");
    }

    async fn send(&self, method: Method, path: &str, body: Value) -> (u16, Value) {
        self.platform.send(&self.tenant, method, path, Some(body)).await
    }

    fn provider(&self) -> &TestProvider {
        self.provider.as_ref().expect("an OpenID site")
    }
}

/// chromedriver and the Chromiums it starts, each with a fresh profile. The driver's
/// process group (with every browser) is killed first, then the profiles are removed.
struct Browsers {
    _driver: DriverGroup,
    driver_url: String,
    profiles: Profiles,
    opened: usize,
}

struct Profiles(PathBuf);

impl Drop for Profiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Browsers {
    async fn start() -> Self {
        let (driver, driver_url) = start_chromedriver().await;
        Self { _driver: driver, driver_url, profiles: Profiles(tempdir()), opened: 0 }
    }

    /// A new headless Chromium with a profile of its own: no cookies, at the site or at
    /// the provider.
    async fn open(&mut self) -> Client {
        let profile = self.profiles.0.join(format!("profile-{}", self.opened));
        self.opened += 1;
        std::fs::create_dir_all(&profile).unwrap();
        chromium(&self.driver_url, &profile, &[]).await
    }
}

/// Runs `script` in the page and answers what it returns.
async fn run(b: &Client, script: &str) -> Value {
    b.execute(script, vec![]).await.unwrap_or_else(|e| panic!("the page runs {script:?}: {e}"))
}

/// A real WebDriver click (scrolled into view; refused if the element is not shown).
async fn click(b: &Client, css: &str) {
    let element = b.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css} on the page: {e}"));
    element.click().await.unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
}

/// Types `text` into the input `css`, as a person would.
async fn fill(b: &Client, css: &str, text: &str) {
    let element = b.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css} on the page: {e}"));
    element.clear().await.unwrap_or_else(|e| panic!("cannot clear {css}: {e}"));
    element.send_keys(text).await.unwrap_or_else(|e| panic!("cannot type into {css}: {e}"));
}

/// A JavaScript expression: whether the element `id` is rendered (not hidden by
/// itself or by an ancestor).
fn shown(id: &str) -> String {
    format!(
        "(() => {{ const e = document.getElementById('{id}'); \
         return !!e && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden'; }})()"
    )
}

/// A script: whether the page greets `name` as logged in.
fn signed_in_as(name: &str) -> String {
    format!(
        "return {} && document.getElementById('signed-in-name').textContent === {}",
        shown("signed-in"),
        json!(name)
    )
}

/// `wait_for` with a longer deadline, for joining and media.
async fn wait_long(b: &Client, script: &str, what: &str) {
    let deadline = Instant::now() + MEDIA_TIMEOUT;
    loop {
        if b.execute(script, vec![]).await.ok().and_then(|v| v.as_bool()) == Some(true) {
            return;
        }
        let diagnostics = b.execute("return window.confer && window.confer.state.diagnostics", vec![]).await;
        assert!(Instant::now() < deadline, "timed out waiting for {what}; the page's diagnostics: {diagnostics:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits until the browser is at a URL for which `at` holds; answers it.
async fn wait_for_url(b: &Client, at: impl Fn(&reqwest::Url) -> bool, what: &str) -> reqwest::Url {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let url = b.current_url().await.expect("the browser's URL");
        if at(&url) {
            return url;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; the browser is at {url}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn port_of(base: &str) -> u16 {
    reqwest::Url::parse(base).ok().and_then(|u| u.port()).unwrap_or_else(|| panic!("{base} has a port"))
}

/// Waits until the meeting page has asked the site who is logged in and shows the
/// OpenID button to someone who is not.
async fn wait_logged_out_at_oidc_site(b: &Client, what: &str) {
    wait_for(b, &format!("return {} && !{}", shown("oidc-login"), shown("signed-in")), what).await;
    assert_eq!(
        run(b, "return document.getElementById('join').disabled").await,
        json!(true),
        "{what}: guests may not join"
    );
    let cookie = b.get_named_cookie("confer_session").await;
    assert!(cookie.is_err(), "{what}: no session cookie, yet the browser holds {cookie:?}");
}

/// From the meeting page: the OpenID button (a real click), then the provider's own
/// form, filled in and sent.
async fn log_in_at_provider(b: &Client, provider: &TestProvider, login: &str, password: &str) {
    click(b, "#oidc-login").await;
    let provider_port = provider.port();
    wait_for_url(
        b,
        |u| u.port() == Some(provider_port) && u.path().starts_with("/interaction/"),
        "the provider's login form",
    )
    .await;
    wait_for(b, "return !!document.getElementById('sign-in')", "the provider's sign-in button").await;
    fill(b, "input[name=login]", login).await;
    fill(b, "input[name=password]", password).await;
    click(b, "#sign-in").await;
}

/// Logs `account` in through the provider from `room`'s page, checks the page
/// greets them, joins, and answers their participant id once their role is `role`.
async fn oidc_person_joins(b: &Client, site: &Site, room: &str, account: &ProviderAccount, role: &str) -> Value {
    let name = account.name.clone().expect("the account has a name");
    b.goto(&site.node.url(&format!("/{room}"))).await.unwrap();
    wait_logged_out_at_oidc_site(b, &format!("{} sees the OpenID button", account.login)).await;
    log_in_at_provider(b, site.provider(), &account.login, &account.password).await;

    let node_port = port_of(&site.node.url("/"));
    let back = wait_for_url(b, |u| u.port() == Some(node_port), "the way back to the meeting page").await;
    assert_eq!(back.path(), format!("/{room}"), "back on the meeting page after the login");
    wait_for(b, &signed_in_as(&name), &format!("{name} to be greeted as logged in")).await;
    let prejoin = run(
        b,
        "const $ = (id) => document.getElementById(id); \
         return {nameDisabled: $('name').disabled, name: $('name').value, oidcRowHidden: $('oidc-row').hidden, \
                 joinDisabled: $('join').disabled, join: $('join').textContent}",
    )
    .await;
    assert_eq!(
        prejoin,
        json!({"nameDisabled": true, "name": name, "oidcRowHidden": true, "joinDisabled": false, "join": "Join meeting"}),
        "the prejoin of someone logged in"
    );

    click(b, "#join").await;
    wait_long(
        b,
        &format!("const s = window.confer.state; return !!s.me && s.role === {}", json!(role)),
        &format!("{name} to be in the meeting as {role}"),
    )
    .await;
    let me = run(b, "return window.confer.state.me").await;
    let mine = run(b, "const s = window.confer.state; return s.people.get(s.me)").await;
    assert_eq!(mine["display_name"], json!(name), "{name} is in the room as themselves: {mine}");
    assert_eq!(mine["role"], json!(role), "{mine}");
    me
}

/// The display names in the page's `state.people`, sorted.
async fn people(b: &Client) -> Value {
    run(b, "return [...window.confer.state.people.values()].map((p) => p.display_name).sort()").await
}

/// Waits until `viewer` has decoded more than ten video frames from `from`.
async fn wait_for_video(viewer: &Client, from: &Value, what: &str) {
    let key = from.as_str().expect("a participant id").to_owned();
    let deadline = Instant::now() + MEDIA_TIMEOUT;
    loop {
        let frames = frames_from(viewer).await;
        if frames[&key].as_u64().unwrap_or(0) > 10 {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: no video decoded from {key}; frames by sender: {frames}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The session cookie is set, and HttpOnly: the page's scripts cannot read it.
async fn session_cookie_is_http_only(b: &Client, who: &str) {
    let visible = run(b, "return document.cookie").await;
    assert!(
        !visible.as_str().unwrap_or_default().contains("confer_session"),
        "{who}'s page can read the session cookie: {visible}"
    );
    let cookie = b.get_named_cookie("confer_session").await.unwrap_or_else(|e| panic!("{who} holds no session: {e}"));
    assert_eq!(cookie.http_only(), Some(true), "{who}'s session cookie: {cookie:?}");
}

#[tokio::test]
async fn a_person_logs_in_through_the_openid_providers_own_form_and_lands_in_the_meeting_as_themselves() {
    let site = Site::oidc().await;
    let mut browsers = Browsers::start().await;

    // Ann (in the provider's `moderators` group) opens the room and moderates it.
    let ann = browsers.open().await;
    let ann_id = oidc_person_joins(&ann, &site, "standup", &ProviderAccount::ann(), "moderator").await;
    assert_eq!(people(&ann).await, json!(["Ann Example"]));
    wait_for(
        &ann,
        "return document.getElementById('people-list').textContent.includes('Ann Example (you) — moderator')",
        "ann's people list to show her as the moderator",
    )
    .await;

    // Bob (in no group), from a browser of his own, joins as a participant.
    let bob = browsers.open().await;
    let bob_id = oidc_person_joins(&bob, &site, "standup", &ProviderAccount::bob(), "participant").await;
    assert_ne!(ann_id, bob_id);

    // They see each other: in the people list, and on video.
    wait_for(
        &ann,
        "return [...window.confer.state.people.values()].some((p) => p.display_name === 'Bob Example' \
         && p.role === 'participant')",
        "ann to see bob come in as a participant",
    )
    .await;
    assert_eq!(people(&bob).await, json!(["Ann Example", "Bob Example"]), "bob sees both");
    wait_for_video(&bob, &ann_id, "bob sees ann").await;
    wait_for_video(&ann, &bob_id, "ann sees bob").await;

    // Neither page can read its session cookie.
    session_cookie_is_http_only(&ann, "ann").await;
    session_cookie_is_http_only(&bob, "bob").await;

    // Ann leaves. The log-out button is on the prejoin, which the meeting replaces and
    // leaving does not bring back: she reloads the page, still logged in.
    click(&ann, "#leave").await;
    wait_for(&ann, "return document.getElementById('meeting').hidden", "ann to be out of the meeting").await;
    ann.refresh().await.unwrap();
    wait_for(&ann, &signed_in_as("Ann Example"), "ann to be still logged in after a reload").await;
    // She logs out: the OpenID button is back, and stays after a reload.
    click(&ann, "#logout").await;
    wait_for(
        &ann,
        &format!("return {} && !{}", shown("oidc-login"), shown("signed-in")),
        "the OpenID button to come back after logging out",
    )
    .await;
    assert_eq!(run(&ann, "return document.getElementById('name').disabled").await, json!(false));
    ann.refresh().await.unwrap();
    wait_logged_out_at_oidc_site(&ann, "ann, logged out, after a reload").await;

    for b in [ann, bob] {
        let _ = b.close().await;
    }
}

#[tokio::test]
async fn a_wrong_password_at_the_provider_never_logs_in() {
    let site = Site::oidc().await;
    let mut browsers = Browsers::start().await;
    let b = browsers.open().await;
    let page = site.node.url("/standup");
    b.goto(&page).await.unwrap();
    wait_logged_out_at_oidc_site(&b, "the OpenID button").await;

    log_in_at_provider(&b, site.provider(), "ann", "not-anns-password").await;
    wait_for(&b, "return !!document.getElementById('error')", "the provider to refuse the password").await;
    let error = run(&b, "return document.getElementById('error').textContent").await;
    assert_eq!(error, json!("Wrong login or password."));
    let url = b.current_url().await.unwrap();
    assert_eq!(url.port(), Some(site.provider().port()), "still at the provider: {url}");
    assert!(url.path().starts_with("/interaction/"), "still on the provider's form: {url}");

    // Back at the meeting page, nobody is logged in.
    b.goto(&page).await.unwrap();
    wait_logged_out_at_oidc_site(&b, "the meeting page after a refused login").await;
    let _ = b.close().await;
}

#[tokio::test]
async fn an_internal_account_logs_in_with_the_pages_form_and_a_guest_waits_for_the_host_until_then() {
    let (email, host_name, password) = ("wendy@example.org", "Wendy Weekly", "wendy-password-1");
    let site = Site::internal_with_guests(email, host_name, password).await;
    let mut browsers = Browsers::start().await;
    let page = site.node.url("/weekly");
    let ready = format!("return !document.getElementById('login-form').hidden && {}", shown("guest-hint"));

    // A guest comes first: the room has no host yet, so they wait.
    let guest = browsers.open().await;
    guest.goto(&page).await.unwrap();
    wait_for(&guest, &ready, "the guest's page to offer a login and a guest's way in").await;
    let join = run(&guest, "const j = document.getElementById('join'); return [j.disabled, j.textContent]").await;
    assert_eq!(join, json!([false, "Join as a guest"]));
    fill(&guest, "#name", "Gus Guest").await;
    click(&guest, "#join").await;
    wait_long(
        &guest,
        &format!(
            "return {} && document.getElementById('waiting-title').textContent === 'Waiting for the host'",
            shown("waiting")
        ),
        "the guest to wait for the host",
    )
    .await;
    assert_eq!(run(&guest, "return window.confer.state.me").await, Value::Null, "the guest has no seat yet");

    // The host logs in with the page's form and opens the room as its moderator.
    let host = browsers.open().await;
    host.goto(&page).await.unwrap();
    wait_for(&host, &ready, "the host's page to offer a login").await;
    fill(&host, "#login-username", email).await;
    fill(&host, "#login-password", password).await;
    click(&host, "#login").await;
    wait_for(&host, &signed_in_as(host_name), "the host to be logged in").await;
    let prejoin = run(
        &host,
        "const $ = (id) => document.getElementById(id); \
         return [$('login-form').hidden, $('name').disabled, $('join').disabled, $('join').textContent]",
    )
    .await;
    assert_eq!(prejoin, json!([true, true, false, "Join meeting"]), "the prejoin of someone logged in");
    session_cookie_is_http_only(&host, "the host").await;
    click(&host, "#join").await;
    wait_long(
        &host,
        "const s = window.confer.state; return !!s.me && s.role === 'moderator'",
        "the host to be in as the moderator",
    )
    .await;
    let host_id = run(&host, "return window.confer.state.me").await;

    // The guest enters on their own, as a participant, and sees the host.
    wait_long(
        &guest,
        &format!("const s = window.confer.state; return !!s.me && s.role === 'participant' && !{}", shown("waiting")),
        "the guest to be let in once the host came",
    )
    .await;
    assert_eq!(people(&guest).await, json!(["Gus Guest", host_name]));
    wait_for(
        &host,
        "return [...window.confer.state.people.values()].some((p) => p.display_name === 'Gus Guest')",
        "the host to see the guest",
    )
    .await;
    wait_for_video(&guest, &host_id, "the guest sees the host").await;

    for b in [guest, host] {
        let _ = b.close().await;
    }
}

#[tokio::test]
async fn a_meeting_link_with_a_join_token_lets_its_holder_in_by_the_tokens_name_and_role() {
    // A site where only people who log in get in: the token is the way in.
    let site = Site::start("login-jwt").await;
    site.patch(json!({"auth": "internal", "guests_allowed": false})).await;
    site.node.wait_for_access("internal", false).await;
    let (status, minted) = site
        .send(
            Method::POST,
            "/v1/tokens",
            json!({"room": "Launch", "user": {"id": "app-7", "name": "Tia Token", "email": "tia@example.org"},
                   "moderator": true, "ttl": 600}),
        )
        .await;
    assert_eq!(status, 201, "{minted}");
    let token = minted["token"].as_str().expect("a token");
    assert!(minted["url"].as_str().is_some_and(|u| u.ends_with(&format!("/launch?jwt={token}"))), "{minted}");

    let mut browsers = Browsers::start().await;
    let holder = browsers.open().await;
    holder.goto(&site.node.url(&format!("/launch?jwt={token}&prejoin=0"))).await.unwrap();
    wait_long(
        &holder,
        "const s = window.confer.state; return !!s.me && s.role === 'moderator'",
        "the token's holder to be in as its moderator",
    )
    .await;
    assert_eq!(people(&holder).await, json!(["Tia Token"]), "the name comes from the token");
    let address = run(&holder, "return window.location.href").await;
    let address = address.as_str().unwrap_or_default();
    assert!(
        !address.contains("jwt") && address.ends_with("/launch?prejoin=0"),
        "the token left the address bar: {address}"
    );

    // The same link with the token altered lets nobody in, and says why.
    let forger = browsers.open().await;
    // One character of the signature changed (well inside it: the last one carries
    // padding bits).
    let at = token.len() - 10;
    let swapped = if &token[at..=at] == "A" { "B" } else { "A" };
    let altered = format!("{}{swapped}{}", &token[..at], &token[at + 1..]);
    forger.goto(&site.node.url(&format!("/launch?jwt={altered}&prejoin=0"))).await.unwrap();
    wait_long(
        &forger,
        "return document.getElementById('notice').textContent.includes('not valid for this meeting')",
        "the altered link to be refused with a message",
    )
    .await;
    assert_eq!(run(&forger, "return window.confer.state.me").await, Value::Null);
}

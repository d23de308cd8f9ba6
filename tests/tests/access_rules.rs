//! The access rules of DESIGN.md, end to end: one table over the tenant's login
//! (`open`, `internal`, `ldap`, `oidc`, `token`) × who joins (someone authenticated,
//! a guest) × guests allowed or forbidden × the room opened by a moderator or not yet,
//! saying who gets in, who waits, who is refused and who moderates.
//!
//! Everything is real: the api and a media node, PostgreSQL and Redis, a private
//! OpenLDAP per test, a private OpenID provider per test. People log in the way the
//! meeting page does (the node's `/auth/login`, or its OpenID redirect through the
//! provider's own login form), and join over signaling with the site's cookie or a
//! join token from `POST /v1/tokens`.

use confer_tests::media_node::{MediaNode, Signaling};
use confer_tests::oidc_provider::{ProviderConfig, TestProvider};
use confer_tests::slapd::TestDirectory;
use confer_tests::{TestPlatform, TestTenant, unique_slug};
use reqwest::Method;
use reqwest::cookie::CookieStore;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    Open,
    Internal,
    Ldap,
    Oidc,
    Token,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// Logged in with the tenant's back-end as someone it makes a moderator (with
    /// auth open: holding a moderator's join token).
    Authenticated,
    /// Nobody logged in.
    Guest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Takes a seat at once, with this role.
    Joins(&'static str),
    /// Waits for the host, then enters on their own as a participant when one comes.
    WaitsForHost,
    /// Refused with this code.
    Refused(&'static str),
}

use Auth::*;
use Outcome::*;
use Who::*;

const OPENED: bool = true;
const NOT_YET: bool = false;
const GUESTS: bool = true;
const NO_GUESTS: bool = false;

/// The rule table: (login, who, guests allowed, room opened) → what happens.
const TABLE: &[(Auth, Who, bool, bool, Outcome)] = &[
    // auth open: anyone opens and joins; the first to join moderates.
    (Open, Authenticated, GUESTS, NOT_YET, Joins("moderator")),
    (Open, Authenticated, GUESTS, OPENED, Joins("moderator")),
    (Open, Authenticated, NO_GUESTS, NOT_YET, Joins("moderator")),
    (Open, Authenticated, NO_GUESTS, OPENED, Joins("moderator")),
    (Open, Guest, GUESTS, NOT_YET, Joins("moderator")),
    (Open, Guest, GUESTS, OPENED, Joins("participant")),
    (Open, Guest, NO_GUESTS, NOT_YET, Joins("moderator")),
    (Open, Guest, NO_GUESTS, OPENED, Joins("participant")),
    // auth on: authenticated users open rooms and moderate; guests wait for a
    // moderator to open the room, or are refused when guests are off.
    (Internal, Authenticated, GUESTS, NOT_YET, Joins("moderator")),
    (Internal, Authenticated, GUESTS, OPENED, Joins("moderator")),
    (Internal, Authenticated, NO_GUESTS, NOT_YET, Joins("moderator")),
    (Internal, Authenticated, NO_GUESTS, OPENED, Joins("moderator")),
    (Internal, Guest, GUESTS, NOT_YET, WaitsForHost),
    (Internal, Guest, GUESTS, OPENED, Joins("participant")),
    (Internal, Guest, NO_GUESTS, NOT_YET, Refused("login_required")),
    (Internal, Guest, NO_GUESTS, OPENED, Refused("login_required")),
    (Ldap, Authenticated, GUESTS, NOT_YET, Joins("moderator")),
    (Ldap, Authenticated, GUESTS, OPENED, Joins("moderator")),
    (Ldap, Authenticated, NO_GUESTS, NOT_YET, Joins("moderator")),
    (Ldap, Authenticated, NO_GUESTS, OPENED, Joins("moderator")),
    (Ldap, Guest, GUESTS, NOT_YET, WaitsForHost),
    (Ldap, Guest, GUESTS, OPENED, Joins("participant")),
    (Ldap, Guest, NO_GUESTS, NOT_YET, Refused("login_required")),
    (Ldap, Guest, NO_GUESTS, OPENED, Refused("login_required")),
    (Oidc, Authenticated, GUESTS, NOT_YET, Joins("moderator")),
    (Oidc, Authenticated, GUESTS, OPENED, Joins("moderator")),
    (Oidc, Authenticated, NO_GUESTS, NOT_YET, Joins("moderator")),
    (Oidc, Authenticated, NO_GUESTS, OPENED, Joins("moderator")),
    (Oidc, Guest, GUESTS, NOT_YET, WaitsForHost),
    (Oidc, Guest, GUESTS, OPENED, Joins("participant")),
    (Oidc, Guest, NO_GUESTS, NOT_YET, Refused("login_required")),
    (Oidc, Guest, NO_GUESTS, OPENED, Refused("login_required")),
    (Token, Authenticated, GUESTS, NOT_YET, Joins("moderator")),
    (Token, Authenticated, GUESTS, OPENED, Joins("moderator")),
    (Token, Authenticated, NO_GUESTS, NOT_YET, Joins("moderator")),
    (Token, Authenticated, NO_GUESTS, OPENED, Joins("moderator")),
    (Token, Guest, GUESTS, NOT_YET, WaitsForHost),
    (Token, Guest, GUESTS, OPENED, Joins("participant")),
    (Token, Guest, NO_GUESTS, NOT_YET, Refused("login_required")),
    (Token, Guest, NO_GUESTS, OPENED, Refused("login_required")),
];

const WAIT: Duration = Duration::from_secs(10);

/// A tenant whose site logs people in with one back-end, and a node serving it.
struct Site {
    auth: Auth,
    platform: TestPlatform,
    tenant: TestTenant,
    node: MediaNode,
    /// Kept running for the test's length.
    _directory: Option<TestDirectory>,
    _provider: Option<TestProvider>,
}

impl Site {
    async fn start(auth: Auth) -> Self {
        let platform = TestPlatform::start().await;
        let tenant = platform.signup(&unique_slug("acc")).await;
        let node = MediaNode::start(&platform.base_url, &tenant, &[]);
        let mut site = Site { auth, platform, tenant, node, _directory: None, _provider: None };
        let settings = match auth {
            Open => json!({"auth": "open"}),
            // Tokens work on any site; here the site requires a login that nobody
            // has, so only join tokens authenticate.
            Token | Internal => json!({"auth": "internal"}),
            Ldap => {
                let directory = TestDirectory::start();
                let settings = json!({"auth": "ldap", "ldap": {
                    "url": directory.ldap_url, "bind_dn": directory.reader_dn,
                    "bind_password": directory.reader_password, "base_dn": directory.base_dn,
                    "moderator_group": directory.moderators_dn, "timeout_secs": 3}});
                site._directory = Some(directory);
                settings
            }
            Oidc => {
                let mut config = ProviderConfig::new();
                config.redirect_uris = vec![site.node.url("/auth/oidc/callback")];
                let provider = TestProvider::start(config);
                let settings = json!({"auth": "oidc", "oidc": {
                    "issuer": provider.issuer, "client_id": provider.client_id,
                    "client_secret": provider.client_secret, "scopes": ["profile", "email", "groups"],
                    "moderator_claim": "groups", "moderator_value": "moderators"}});
                site._provider = Some(provider);
                settings
            }
        };
        site.patch(settings).await;
        if auth == Internal {
            let (status, body) = site
                .platform
                .send(
                    &site.tenant,
                    Method::POST,
                    "/v1/users",
                    Some(json!({"email": "ann@example.org", "display_name": "Ann Example",
                                "role": "moderator", "password": "ann-password-1"})),
                )
                .await;
            assert_eq!(status, 201, "{body}");
        }
        site
    }

    async fn patch(&self, settings: Value) {
        let (status, body) = self.platform.send(&self.tenant, Method::PATCH, "/v1/settings", Some(settings)).await;
        assert_eq!(status, 200, "{body}");
    }

    async fn allow_guests(&self, allowed: bool) {
        self.patch(json!({"guests_allowed": allowed})).await;
        let auth = match self.auth {
            Open => "open",
            Internal | Token => "internal",
            Ldap => "ldap",
            Oidc => "oidc",
        };
        self.node.wait_for_access(auth, allowed).await;
    }

    /// Logs in as the back-end's moderator the way the page does, and opens
    /// signaling with the site's cookie; or, for tokens, mints one for `room`.
    async fn authenticated(&self, room: &str) -> (Signaling, Value) {
        match self.auth {
            Open | Token => {
                let (status, minted) = self
                    .platform
                    .send(
                        &self.tenant,
                        Method::POST,
                        "/v1/tokens",
                        Some(json!({"room": room, "user": {"id": "ann-1", "name": "Ann Token"}, "moderator": true})),
                    )
                    .await;
                assert_eq!(status, 201, "{minted}");
                let signaling = self.node.signaling(None).await;
                (signaling, json!({"type": "join", "room": room, "token": minted["token"]}))
            }
            Internal => self.password_login("ann@example.org", "ann-password-1", room).await,
            Ldap => self.password_login("ann", "ann-pass", room).await,
            Oidc => {
                let cookie = oidc_login(&self.node, "ann", "ann-pass", room).await;
                (self.node.signaling(Some(&cookie)).await, json!({"type": "join", "room": room}))
            }
        }
    }

    async fn password_login(&self, username: &str, password: &str, room: &str) -> (Signaling, Value) {
        let res = reqwest::Client::new()
            .post(self.node.url("/auth/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .expect("the site answers a login");
        let status = res.status();
        let cookie = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("confer_session="))
            .map(|c| c.split(';').next().unwrap_or_default().to_owned());
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "login as {username}: {body}");
        let cookie = cookie.expect("a session cookie");
        (self.node.signaling(Some(&cookie)).await, json!({"type": "join", "room": room}))
    }

    async fn guest(&self, room: &str) -> (Signaling, Value) {
        (self.node.signaling(None).await, json!({"type": "join", "room": room, "name": "Gus Guest"}))
    }

    /// Opens `room` the way the rules allow: a moderator joins (with auth open, anyone).
    async fn open_room(&self, room: &str) -> Signaling {
        let (mut host, join) = match self.auth {
            Open => self.guest(room).await,
            _ => self.authenticated(room).await,
        };
        let reply = host.request(join).await;
        assert_eq!(reply["type"], "joined", "the host opens {room}: {reply}");
        host
    }
}

/// Logs in through the node's OpenID redirect and the provider's own form, like a
/// browser; answers the site's session cookie.
async fn oidc_login(node: &MediaNode, login: &str, password: &str, room: &str) -> String {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let browser = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("a client");
    let form = browser.get(node.url(&format!("/auth/oidc/start?next=/{room}"))).send().await.expect("the provider");
    let form_url = form.url().clone();
    let html = form.text().await.unwrap_or_default();
    assert!(html.contains("name=\"login\""), "the provider's login form at {form_url}: {html}");
    let landed = browser
        .post(form_url)
        .form(&[("login", login), ("password", password)])
        .send()
        .await
        .expect("the provider takes the form");
    assert_eq!(landed.url().path(), format!("/{room}"), "back on the meeting page after the login");
    let site = reqwest::Url::parse(&node.url("/")).expect("the site's URL");
    let cookies = jar.cookies(&site).expect("cookies for the site");
    let cookies = cookies.to_str().expect("ASCII cookies");
    cookies.split("; ").find(|c| c.starts_with("confer_session=")).expect("a session cookie").to_owned()
}

async fn check(site: &Site, row: usize) {
    let (auth, who, guests, opened, expected) = TABLE[row];
    let case = format!("{auth:?} × {who:?} × guests {guests} × opened {opened}");
    let room = format!("room-{row}");
    let mut host = None;
    if opened {
        host = Some(site.open_room(&room).await);
    }
    let (mut subject, join) = match who {
        Authenticated => site.authenticated(&room).await,
        Guest => site.guest(&room).await,
    };
    let reply = subject.request(join).await;
    match expected {
        Joins(role) => {
            assert_eq!(reply["type"], "joined", "{case}: {reply}");
            assert_eq!(reply["role"], role, "{case}: {reply}");
        }
        Refused(code) => {
            assert_eq!(reply["type"], "error", "{case}: {reply}");
            assert_eq!(reply["code"], code, "{case}: {reply}");
        }
        WaitsForHost => {
            assert_eq!(reply["type"], "waiting", "{case}: {reply}");
            assert_eq!(reply["reason"], "host", "{case}: {reply}");
            let waiter = reply["participant"].clone();
            assert!(subject.push("joined", Duration::from_millis(500)).await.is_none(), "{case}: in before the host");
            let host_now = site.open_room(&room).await;
            let joined = subject.push("joined", WAIT).await.unwrap_or_else(|| panic!("{case}: never let in"));
            assert_eq!(joined["participant"], waiter, "{case}: the id waited under is the seat's");
            assert_eq!(joined["role"], "participant", "{case}: {joined}");
            let people = joined["room"]["participants"].as_array().map(Vec::len);
            assert_eq!(people, Some(2), "{case}: the host and the guest: {joined}");
            host = Some(host_now);
        }
    }
    if let Some(host) = host.as_mut()
        && let Joins(role) = expected
    {
        let newcomer = reply["participant"].clone();
        let seen = host.event_where("participant_joined", |e| e["participant"]["id"] == newcomer, WAIT).await;
        let seen = seen.unwrap_or_else(|| panic!("{case}: the host sees the newcomer"));
        assert_eq!(seen["participant"]["role"], role, "{case}: {seen}");
    }
}

async fn run(auth: Auth) {
    let site = Site::start(auth).await;
    for guests in [GUESTS, NO_GUESTS] {
        site.allow_guests(guests).await;
        for (row, _) in TABLE.iter().enumerate().filter(|(_, r)| r.0 == auth && r.2 == guests) {
            check(&site, row).await;
        }
    }
}

#[tokio::test]
async fn auth_open_lets_anyone_in_and_the_first_moderates() {
    run(Open).await;
}

#[tokio::test]
async fn internal_accounts_open_rooms_and_guests_wait_or_are_refused() {
    run(Internal).await;
}

#[tokio::test]
async fn ldap_users_open_rooms_and_guests_wait_or_are_refused() {
    run(Ldap).await;
}

#[tokio::test]
async fn oidc_users_open_rooms_and_guests_wait_or_are_refused() {
    run(Oidc).await;
}

#[tokio::test]
async fn join_token_holders_open_rooms_and_guests_wait_or_are_refused() {
    run(Token).await;
}

#[test]
fn the_table_covers_every_combination_once() {
    let mut seen = std::collections::HashSet::new();
    for (auth, who, guests, opened, _) in TABLE {
        assert!(seen.insert((*auth as u8, *who as u8, *guests, *opened)), "{auth:?} {who:?} {guests} {opened} twice");
    }
    assert_eq!(seen.len(), 5 * 2 * 2 * 2);
}

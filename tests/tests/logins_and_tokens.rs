//! Join tokens and logins, against the real api and media node: what a token admits
//! to and what it does not (expired, another tenant's, another room's, tampered), the
//! published keys, the session cookie the site sets and clears, and the refusals a
//! person sees (wrong password, disabled account, directory down, an LDAP filter
//! injection).

use confer_tests::media_node::MediaNode;
use confer_tests::slapd::TestDirectory;
use confer_tests::{TestPlatform, TestTenant, unique_slug};
use confer_vocabulary::{JoinClaims, LoginMethod, TOKEN_ISSUER, TokenKind, TokenUser};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

async fn mint(p: &TestPlatform, t: &TestTenant, body: Value) -> (u16, Value) {
    p.send(t, Method::POST, "/v1/tokens", Some(body)).await
}

async fn join_with(node: &MediaNode, room: &str, token: &str) -> Value {
    let mut s = node.signaling(None).await;
    s.request(json!({"type": "join", "room": room, "token": token})).await
}

fn claims(tenant: &str, room: &str, exp: i64) -> JoinClaims {
    let now = chrono::Utc::now().timestamp();
    JoinClaims {
        iss: TOKEN_ISSUER.into(),
        aud: tenant.into(),
        sub: "u-9".into(),
        iat: now - 7200,
        exp,
        jti: "forged".into(),
        kind: TokenKind::Join,
        method: LoginMethod::Token,
        user: TokenUser { id: "u-9".into(), name: "Old Token".into(), email: None },
        moderator: true,
        room: Some(room.into()),
    }
}

#[tokio::test]
async fn a_join_token_admits_its_holder_to_its_room_only_until_it_expires_and_only_untouched() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("tok")).await;
    let other = p.signup(&unique_slug("tok")).await;
    let node = MediaNode::start(&p.base_url, &t, &[]);

    let (status, minted) = mint(
        &p,
        &t,
        json!({"room": "Board", "user": {"id": "u-1", "name": "Ann Api", "email": "ann@example.org"}, "moderator": true, "ttl": 600}),
    )
    .await;
    assert_eq!(status, 201, "{minted}");
    let token = minted["token"].as_str().expect("a token").to_owned();
    assert!(minted["url"].as_str().unwrap().ends_with(&format!("/board?jwt={token}")), "{minted}");

    // The published key checks the token; the header names it.
    let jwks: Value =
        reqwest::get(p.url(&format!("/v1/tenants/{}/jwks.json", t.slug))).await.unwrap().json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str(), key["alg"].as_str()),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    assert!(key.get("d").is_none(), "no private part in the JWKS: {key}");
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.clone()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&[&t.slug]);
    let checked =
        jsonwebtoken::decode::<JoinClaims>(&token, &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(), &validation)
            .expect("the token verifies with the published key");
    assert_eq!((checked.claims.room.as_deref(), checked.claims.user.name.as_str()), (Some("board"), "Ann Api"));
    let (status, _) = p.get(&t, "/v1/tenants/no-such-tenant/jwks.json").await;
    assert_eq!(status, 404);

    // The holder joins their room, by the token's name, as a moderator.
    let joined = join_with(&node, "board", &token).await;
    assert_eq!(joined["type"], "joined", "{joined}");
    assert_eq!(joined["role"], "moderator");
    let me =
        joined["room"]["participants"].as_array().unwrap().iter().find(|x| x["id"] == joined["participant"]).cloned();
    assert_eq!(me.unwrap()["display_name"], "Ann Api");

    // A join token is not a session: as the site's cookie it counts for nothing.
    let mut s = node.signaling(Some(&format!("confer_session={token}"))).await;
    let reply = s.request(json!({"type": "join", "room": "board"})).await;
    assert_eq!(reply["code"], "invalid_display_name", "joined as a guest, who must give a name: {reply}");

    // Another room: refused.
    let refused = join_with(&node, "standup", &token).await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("token_wrong_room")),
        "{refused}"
    );

    // Tampered: the payload changed (moderator false -> the signature no longer matches).
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut payload: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &parts[1]).unwrap(),
    )
    .unwrap();
    payload["room"] = json!("standup");
    parts[1] = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload.to_string());
    let tampered = parts.join(".");
    let refused = join_with(&node, "standup", &tampered).await;
    assert_eq!(refused["code"], "invalid_token", "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("tampered"), "{refused}");

    // Another tenant's token: its key is not this site's.
    let (_, theirs) =
        mint(&p, &other, json!({"room": "board", "user": {"id": "x", "name": "Xavier"}, "moderator": true})).await;
    let refused = join_with(&node, "board", theirs["token"].as_str().unwrap()).await;
    assert_eq!(refused["code"], "invalid_token", "{refused}");

    // Signed with this tenant's own key, but for another tenant: refused too.
    let signer = p.token_signer(&t).await;
    let exp = chrono::Utc::now().timestamp() + 600;
    let for_other = signer.sign(&claims(&other.slug, "board", exp)).unwrap();
    let refused = join_with(&node, "board", &for_other).await;
    assert_eq!(refused["code"], "invalid_token", "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("another site"), "{refused}");

    // Expired (an hour ago, beyond any clock leeway).
    let expired = signer.sign(&claims(&t.slug, "board", chrono::Utc::now().timestamp() - 3600)).unwrap();
    let refused = join_with(&node, "board", &expired).await;
    assert_eq!(refused["code"], "token_expired", "{refused}");

    // Garbage.
    let refused = join_with(&node, "board", "not.a.token").await;
    assert_eq!(refused["code"], "invalid_token", "{refused}");
}

#[tokio::test]
async fn minting_a_token_checks_its_fields_and_needs_a_key() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("tok")).await;
    for (body, field) in [
        (json!({"room": "../x", "user": {"id": "u", "name": "A"}}), "room"),
        (json!({"room": "x", "user": {"id": "u", "name": " "}}), "user.name"),
        (json!({"room": "x", "user": {"id": "", "name": "A"}}), "user.id"),
        (json!({"room": "x", "user": {"id": "u", "name": "A", "email": "nope"}}), "user.email"),
        (json!({"room": "x", "user": {"id": "u", "name": "A"}, "ttl": 10}), "ttl"),
        (json!({"room": "x", "user": {"id": "u", "name": "A"}, "ttl": 604_801}), "ttl"),
    ] {
        let (status, error) = mint(&p, &t, body.clone()).await;
        assert_eq!(status, 422, "{body}: {error}");
        assert_eq!(error["error"]["field"], field, "{body}: {error}");
    }
    let (status, error) = mint(&p, &t, json!({"room": "x", "user": {"id": "u", "name": "A"}, "admin": true})).await;
    assert_eq!(status, 400, "an unknown field: {error}");
    let res = reqwest::Client::new()
        .post(p.url("/v1/tokens"))
        .json(&json!({"room": "x", "user": {"id": "u", "name": "A"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

/// The `confer_session` cookie a response sets, whole (with its attributes).
fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("confer_session="))
        .map(str::to_owned)
}

async fn login(node: &MediaNode, username: &str, password: &str) -> (u16, Option<String>, Value) {
    let res = reqwest::Client::new()
        .post(node.url("/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let cookie = session_cookie(&res);
    (res.status().as_u16(), cookie, res.json().await.unwrap_or(Value::Null))
}

async fn who_is_logged_in(node: &MediaNode, cookie: Option<&str>) -> Value {
    let mut req = reqwest::Client::new().get(node.url("/auth/session"));
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    req.send().await.unwrap().json::<Value>().await.unwrap()["user"].clone()
}

#[tokio::test]
async fn an_internal_login_sets_an_httponly_lax_cookie_that_logout_clears_and_refusals_say_why() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("log")).await;
    let node = MediaNode::start(&p.base_url, &t, &[]);
    let (status, _) = p.send(&t, Method::PATCH, "/v1/settings", Some(json!({"auth": "internal"}))).await;
    assert_eq!(status, 200);
    node.wait_for_access("internal", true).await;
    let (_, bea) = p
        .send(
            &t,
            Method::POST,
            "/v1/users",
            Some(json!({"email": "Bea@Example.org", "display_name": "Bea Member", "password": "bea-password-1"})),
        )
        .await;

    let (status, cookie, body) = login(&node, "bea@example.org", "bea-password-1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["user"]["name"].as_str(), body["moderator"].as_bool()), (Some("Bea Member"), Some(false)));
    let cookie = cookie.expect("a session cookie");
    let attributes: Vec<String> = cookie.split(';').skip(1).map(|a| a.trim().to_ascii_lowercase()).collect();
    assert!(attributes.contains(&"httponly".to_owned()), "{cookie}");
    assert!(attributes.contains(&"samesite=lax".to_owned()), "{cookie}");
    assert!(attributes.contains(&"path=/".to_owned()), "{cookie}");
    assert!(!attributes.contains(&"secure".to_owned()), "not Secure over plain http: {cookie}");
    let pair = cookie.split(';').next().unwrap().to_owned();
    let user = who_is_logged_in(&node, Some(&pair)).await;
    assert_eq!((user["name"].as_str(), user["method"].as_str()), (Some("Bea Member"), Some("internal")));

    // A member joins as a participant: her login does not make her a moderator, so she
    // waits for one.
    let mut bea_socket = node.signaling(Some(&pair)).await;
    let reply = bea_socket.request(json!({"type": "join", "room": "weekly"})).await;
    assert_eq!((reply["type"].as_str(), reply["reason"].as_str()), (Some("waiting"), Some("host")), "{reply}");

    let res = reqwest::Client::new().post(node.url("/auth/logout")).header("Cookie", &pair).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let cleared = session_cookie(&res).expect("the cookie is cleared");
    assert!(cleared.to_ascii_lowercase().contains("max-age=0"), "{cleared}");
    assert!(who_is_logged_in(&node, Some(cleared.split(';').next().unwrap())).await.is_null());
    // A copy of the old cookie no longer works either: the session ended on the node.
    assert!(who_is_logged_in(&node, Some(&pair)).await.is_null(), "a logged-out session is refused");
    let mut copied = node.signaling(Some(&pair)).await;
    let reply = copied.request(json!({"type": "join", "room": "weekly"})).await;
    assert_eq!(reply["code"], "invalid_display_name", "the old cookie makes nobody: {reply}");
    let mut with_token = node.signaling(None).await;
    let token = pair.trim_start_matches("confer_session=");
    let reply = with_token.request(json!({"type": "join", "room": "weekly", "token": token})).await;
    assert_eq!(reply["code"], "session_ended", "{reply}");

    // Refusals, each with a JSON body saying why.
    let (status, cookie, body) = login(&node, "bea@example.org", "wrong-password").await;
    assert_eq!((status, cookie.is_none(), body["error"]["code"].as_str()), (403, true, Some("invalid_credentials")));
    let (status, _, body) = login(&node, "nobody@example.org", "bea-password-1").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("invalid_credentials")));
    let id = bea["id"].as_str().unwrap();
    let (status, _) = p.send(&t, Method::POST, &format!("/v1/users/{id}/disable"), None).await;
    assert_eq!(status, 200);
    let (status, _, body) = login(&node, "bea@example.org", "bea-password-1").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("account_disabled")), "{body}");
}

#[tokio::test]
async fn over_tls_the_session_cookie_is_secure() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("log")).await;
    let node = MediaNode::start(&p.base_url, &t, &[("CONFER_SITE_URL", "https://meet.example.org")]);
    p.send(&t, Method::PATCH, "/v1/settings", Some(json!({"auth": "internal"}))).await;
    node.wait_for_access("internal", true).await;
    p.send(
        &t,
        Method::POST,
        "/v1/users",
        Some(json!({"email": "cy@example.org", "display_name": "Cy", "password": "cy-password-1"})),
    )
    .await;
    let (status, cookie, body) = login(&node, "cy@example.org", "cy-password-1").await;
    assert_eq!(status, 200, "{body}");
    let cookie = cookie.unwrap().to_ascii_lowercase();
    assert!(cookie.contains("; secure") && cookie.contains("httponly"), "{cookie}");
}

#[tokio::test]
async fn ldap_logins_through_the_site_refuse_an_injection_and_say_so_clearly_when_the_directory_is_down() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("ldp")).await;
    let node = MediaNode::start(&p.base_url, &t, &[]);
    let mut directory = TestDirectory::start();
    let (status, body) = p
        .send(
            &t,
            Method::PATCH,
            "/v1/settings",
            Some(json!({"auth": "ldap", "guests_allowed": false, "ldap": {
                "url": directory.ldap_url, "bind_dn": directory.reader_dn, "bind_password": directory.reader_password,
                "base_dn": directory.base_dn, "moderator_group": directory.moderators_dn, "timeout_secs": 2}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    node.wait_for_access("ldap", false).await;

    let (status, _, body) = login(&node, "bob", "bob-pass").await;
    assert_eq!((status, body["moderator"].as_bool()), (200, Some(false)), "bob is not in the moderators group: {body}");
    let (status, _, body) = login(&node, "ann", "ann-pass").await;
    assert_eq!((status, body["moderator"].as_bool()), (200, Some(true)), "{body}");
    let (status, _, body) = login(&node, "ann", "bob-pass").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("invalid_credentials")));
    for password in ["ann-pass", "anything"] {
        let (status, _, body) = login(&node, "*)(uid=*))(|(uid=*", password).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("invalid_credentials")), "{body}");
    }

    directory.stop();
    let started = std::time::Instant::now();
    let (status, _, body) =
        tokio::time::timeout(Duration::from_secs(30), login(&node, "ann", "ann-pass")).await.expect("no hang");
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("directory_unavailable")), "{body}");
    assert!(!body["error"]["message"].as_str().unwrap_or("").is_empty(), "{body}");
    eprintln!("LDAP down answered in {:?}", started.elapsed());
}

#[tokio::test]
async fn guessing_a_login_password_is_limited_per_user_name_and_address() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("gss")).await;
    let node = MediaNode::start(&p.base_url, &t, &[("CONFER_PASSWORD_WINDOW_SECONDS", "3")]);
    p.send(&t, Method::PATCH, "/v1/settings", Some(json!({"auth": "internal"}))).await;
    node.wait_for_access("internal", true).await;
    for (email, name) in [("dee@example.org", "Dee"), ("eve@example.org", "Eve")] {
        p.send(
            &t,
            Method::POST,
            "/v1/users",
            Some(json!({"email": email, "display_name": name, "password": "right-password-1"})),
        )
        .await;
    }
    for _ in 0..5 {
        let (status, _, _) = login(&node, "dee@example.org", "wrong-password").await;
        assert_eq!(status, 403);
    }
    let (status, cookie, body) = login(&node, "DEE@example.org", "right-password-1").await;
    assert_eq!((status, cookie.is_none()), (429, true), "the sixth try is refused even when right: {body}");
    assert_eq!(body["error"]["code"], "too_many_attempts");
    let (status, _, _) = login(&node, "eve@example.org", "right-password-1").await;
    assert_eq!(status, 200, "another user name is not held back");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let (status, _, body) = login(&node, "dee@example.org", "right-password-1").await;
    assert_eq!(status, 200, "after the window the right password works: {body}");
}

#[tokio::test]
async fn fifty_wrong_logins_at_once_get_at_most_the_limit_to_the_api() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("gsp")).await;
    let node = MediaNode::start(&p.base_url, &t, &[("CONFER_PASSWORD_WINDOW_SECONDS", "30")]);
    p.send(&t, Method::PATCH, "/v1/settings", Some(json!({"auth": "internal"}))).await;
    node.wait_for_access("internal", true).await;
    let body = json!({"email": "dee@example.org", "display_name": "Dee", "password": "right-password-1"});
    assert_eq!(p.send(&t, Method::POST, "/v1/users", Some(body)).await.0, 201);
    let tries = (0..50).map(|_| login(&node, "dee@example.org", "wrong-password"));
    let statuses: Vec<u16> = futures_util::future::join_all(tries).await.into_iter().map(|(s, _, _)| s).collect();
    let checked = statuses.iter().filter(|s| **s == 403).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (5, 45), "each try is counted before the api checks it: {statuses:?}");
}

#[tokio::test]
async fn a_node_that_cannot_read_its_tenants_settings_lets_nobody_in() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("nst")).await;
    let closed = confer_tests::slapd::ClosedPort::new();
    let api = format!("http://127.0.0.1:{}", closed.port);
    let node = MediaNode::start(&api, &t, &[("CONFER_JWKS_URL", &p.url(&format!("/v1/tenants/{}/jwks.json", t.slug)))]);
    let mut s = node.signaling(None).await;
    let reply = s.request(json!({"type": "join", "room": "standup", "name": "Early"})).await;
    assert_eq!(reply["code"], "try_again_later", "the rules are unknown, so nobody is let in: {reply}");
}

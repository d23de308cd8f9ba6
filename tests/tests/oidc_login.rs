//! OpenID Connect login against a real provider (`oidc-provider` on Node, one per
//! test), with reqwest playing the browser on the provider's own login form.

use confer_api::login::LoggedIn;
use confer_api::login::oidc::{self, OidcLoginError, PendingLogin};
use confer_store::domain::OidcSettings;
use confer_tests::oidc_provider::{ProviderAccount, ProviderConfig, SigningKey, TestProvider};
use confer_tests::outbound::loopback_http;
use serde_json::{Value, json};
use std::time::Duration;

/// Starts a login, logs `login` in through the provider's form, and answers what
/// `finish` needs.
async fn log_in(provider: &TestProvider, settings: &OidcSettings, login: &str) -> (PendingLogin, String) {
    let (url, pending) = oidc::begin(&loopback_http(), settings, &provider.redirect_uri).await.expect("begin");
    let password = provider.account(login).password.clone();
    let back = provider.log_in(&url, login, &password).await.expect("the provider sends the browser back");
    assert_eq!(back.state.as_deref(), Some(pending.state.as_str()), "state comes back as sent");
    (pending, back.code.expect("a code"))
}

/// Claims of an ID token this provider would issue to this client now.
fn id_token_claims(provider: &TestProvider, nonce: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": provider.issuer,
        "aud": provider.client_id,
        "sub": "ann",
        "iat": now,
        "exp": now + 300,
        "nonce": nonce,
    })
}

/// Exchanges a code by hand (no verification) and answers the ID token's payload: to
/// see what the provider put in it.
async fn raw_id_token_claims(provider: &TestProvider, pending: &PendingLogin, code: &str) -> Value {
    let res = reqwest::Client::new()
        .post(format!("{}/token", provider.issuer))
        .basic_auth(&provider.client_id, Some(&provider.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &pending.redirect_uri),
            ("code_verifier", &pending.pkce_verifier),
        ])
        .send()
        .await
        .expect("token request");
    assert!(res.status().is_success(), "token endpoint: {}", res.status());
    let body: Value = res.json().await.expect("token JSON");
    let id_token = body["id_token"].as_str().expect("an ID token");
    let payload = id_token.split('.').nth(1).expect("a JWT");
    use base64::Engine;
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
        .expect("JSON claims")
}

fn expect_invalid_id_token(result: Result<impl std::fmt::Debug, OidcLoginError>, about: &str) -> String {
    match result {
        Err(OidcLoginError::InvalidIdToken(message)) => message,
        other => panic!("{about}: expected InvalidIdToken, got {other:?}"),
    }
}

#[tokio::test]
async fn ann_logs_in_and_moderates_by_group() {
    let provider = TestProvider::start(ProviderConfig::new());
    let settings = provider.settings(Some("groups"), Some("moderators"));

    let (url, pending) = oidc::begin(&loopback_http(), &settings, &provider.redirect_uri).await.expect("begin");
    let parsed = reqwest::Url::parse(&url).expect("an authorization URL");
    let query: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
    assert!(url.starts_with(&format!("{}/auth?", provider.issuer)), "{url}");
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], provider.client_id);
    assert_eq!(query["redirect_uri"], provider.redirect_uri);
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["state"], pending.state);
    assert_eq!(query["nonce"], pending.nonce);
    assert_eq!(query["scope"], "openid profile email groups");
    assert!(!url.contains(&pending.pkce_verifier), "the verifier stays here; only its hash is sent");

    let back = provider.log_in(&url, "ann", "ann-pass").await.expect("sent back");
    assert_eq!(back.state.as_deref(), Some(pending.state.as_str()));
    let who =
        oidc::finish(&loopback_http(), &settings, Some(&provider.client_secret), &pending, &back.code.expect("code"))
            .await
            .expect("finish");
    assert_eq!(
        who,
        LoggedIn {
            subject: "ann".into(),
            name: "Ann Example".into(),
            email: Some("ann@example.org".into()),
            moderator: true
        }
    );
}

#[tokio::test]
async fn bob_in_no_group_is_no_moderator() {
    let provider = TestProvider::start(ProviderConfig::new());
    let settings = provider.settings(Some("groups"), Some("moderators"));
    let (pending, code) = log_in(&provider, &settings, "bob").await;
    let raw = raw_id_token_claims(&provider, &pending, &code).await;
    assert_eq!(raw["groups"], json!([]), "by default the ID token carries the claims: {raw}");
    assert_eq!(raw["name"], "Bob Example");

    let (pending, code) = log_in(&provider, &settings, "bob").await;
    let who = oidc::finish(&loopback_http(), &settings, Some(&provider.client_secret), &pending, &code)
        .await
        .expect("finish");
    assert_eq!(who.subject, "bob");
    assert_eq!(who.name, "Bob Example");
    assert_eq!(who.email.as_deref(), Some("bob@example.org"));
    assert!(!who.moderator, "bob is not in moderators");
}

#[tokio::test]
async fn an_email_the_provider_has_not_verified_is_not_taken() {
    // A meeting names its moderators by email: an address the provider has not
    // verified (false, or not said) must not come with the login.
    let mut config = ProviderConfig::new();
    config.accounts[1].email_verified = Some(false);
    let mut unstated = ProviderAccount::ann();
    unstated.login = "cy".into();
    unstated.subject = "cy".into();
    unstated.email = Some("cy@example.org".into());
    unstated.email_verified = None;
    config.accounts.push(unstated);
    let provider = TestProvider::start(config);
    let settings = provider.settings(Some("groups"), Some("moderators"));
    for (login, email) in [("ann", Some("ann@example.org")), ("bob", None), ("cy", None)] {
        let (pending, code) = log_in(&provider, &settings, login).await;
        let who = oidc::finish(&loopback_http(), &settings, Some(&provider.client_secret), &pending, &code)
            .await
            .expect("finish");
        assert_eq!(who.email.as_deref(), email, "{login}");
    }
}

#[tokio::test]
async fn without_a_moderator_claim_everyone_moderates() {
    let provider = TestProvider::start(ProviderConfig::new());
    let settings = provider.settings(None, None);
    let (pending, code) = log_in(&provider, &settings, "bob").await;
    let who = oidc::finish(&loopback_http(), &settings, Some(&provider.client_secret), &pending, &code)
        .await
        .expect("finish");
    assert_eq!(who.subject, "bob");
    assert!(who.moderator, "with no rule, every authenticated person moderates");
}

#[tokio::test]
async fn claims_the_id_token_leaves_out_come_from_userinfo() {
    let provider = TestProvider::start(ProviderConfig { claims_in_id_token: false, ..ProviderConfig::new() });
    let settings = provider.settings(Some("groups"), Some("moderators"));

    // The ID token really has only the bare claims here.
    let (pending, code) = log_in(&provider, &settings, "ann").await;
    let raw = raw_id_token_claims(&provider, &pending, &code).await;
    assert_eq!(raw["sub"], "ann");
    for absent in ["groups", "name", "email"] {
        assert!(raw.get(absent).is_none(), "{absent} is not in the ID token: {raw}");
    }

    let (pending, code) = log_in(&provider, &settings, "ann").await;
    let who = oidc::finish(&loopback_http(), &settings, Some(&provider.client_secret), &pending, &code)
        .await
        .expect("finish");
    assert_eq!(
        who,
        LoggedIn {
            subject: "ann".into(),
            name: "Ann Example".into(),
            email: Some("ann@example.org".into()),
            moderator: true
        }
    );

    let (pending, code) = log_in(&provider, &settings, "bob").await;
    let who = oidc::finish(&loopback_http(), &settings, Some(&provider.client_secret), &pending, &code)
        .await
        .expect("finish");
    assert_eq!(who.name, "Bob Example");
    assert!(!who.moderator);
}

#[tokio::test]
async fn a_provider_that_rotated_its_key_is_rediscovered() {
    let first = TestProvider::start(ProviderConfig::new());
    let settings = first.settings(Some("groups"), Some("moderators"));
    oidc::begin(&loopback_http(), &settings, &first.redirect_uri).await.expect("discovery, cached with the first key");
    let port = first.port();
    drop(first);

    // The same issuer comes back signing with another key.
    let second = TestProvider::start(ProviderConfig {
        port,
        signing_key: SigningKey::generate("provider-key-2"),
        ..ProviderConfig::new()
    });
    assert_eq!(second.settings(None, None).issuer, settings.issuer);
    let (pending, code) = log_in(&second, &settings, "ann").await;
    let who =
        oidc::finish(&loopback_http(), &settings, Some(&second.client_secret), &pending, &code).await.expect("finish");
    assert_eq!(who.subject, "ann");
    assert!(who.moderator);
}

#[tokio::test]
async fn a_wrong_password_never_comes_back() {
    let provider = TestProvider::start(ProviderConfig::new());
    let settings = provider.settings(Some("groups"), Some("moderators"));
    let (url, _pending) = oidc::begin(&loopback_http(), &settings, &provider.redirect_uri).await.expect("begin");
    let err = provider.log_in(&url, "ann", "bob-pass").await.expect_err("a wrong password is refused");
    assert!(err.contains("HTTP 401") && err.contains("Wrong login or password"), "{err}");
    let err = provider.log_in(&url, "nobody", "ann-pass").await.expect_err("an unknown login is refused");
    assert!(err.contains("HTTP 401"), "{err}");
}

#[tokio::test]
async fn the_nonce_of_another_login_makes_the_id_token_invalid() {
    let provider = TestProvider::start(ProviderConfig::new());
    let settings = provider.settings(Some("groups"), Some("moderators"));
    let (_, other) = oidc::begin(&loopback_http(), &settings, &provider.redirect_uri).await.expect("begin another");
    let (pending, code) = log_in(&provider, &settings, "ann").await;
    // The code and its PKCE verifier belong together; the nonce is the other login's.
    let mixed = PendingLogin { nonce: other.nonce.clone(), ..pending };
    let message = expect_invalid_id_token(
        oidc::finish(&loopback_http(), &settings, Some(&provider.client_secret), &mixed, &code).await,
        "another login's nonce",
    );
    assert!(message.contains("nonce"), "{message}");
}

#[tokio::test]
async fn the_pending_login_of_another_login_is_refused() {
    let provider = TestProvider::start(ProviderConfig::new());
    let settings = provider.settings(Some("groups"), Some("moderators"));
    let (_, other) = oidc::begin(&loopback_http(), &settings, &provider.redirect_uri).await.expect("begin another");
    let (_, code) = log_in(&provider, &settings, "ann").await;
    // The whole pending login of another: its PKCE verifier does not match this code.
    match oidc::finish(&loopback_http(), &settings, Some(&provider.client_secret), &other, &code).await {
        Err(OidcLoginError::Refused(message)) => assert!(message.contains("invalid_grant"), "{message}"),
        other => panic!("expected Refused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_code_used_twice_is_refused() {
    let provider = TestProvider::start(ProviderConfig::new());
    let settings = provider.settings(Some("groups"), Some("moderators"));
    let (pending, code) = log_in(&provider, &settings, "ann").await;
    oidc::finish(&loopback_http(), &settings, Some(&provider.client_secret), &pending, &code).await.expect("first use");
    match oidc::finish(&loopback_http(), &settings, Some(&provider.client_secret), &pending, &code).await {
        Err(OidcLoginError::Refused(message)) => assert!(message.contains("invalid_grant"), "{message}"),
        other => panic!("expected Refused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused() {
    let provider = TestProvider::start(ProviderConfig::new());
    let settings = provider.settings(Some("groups"), Some("moderators"));
    let (pending, code) = log_in(&provider, &settings, "ann").await;
    let result = oidc::finish(&loopback_http(), &settings, Some("not-the-secret"), &pending, &code).await;
    match result {
        Err(OidcLoginError::Refused(message)) => {
            assert!(message.contains("invalid_client"), "{message}");
            assert!(!message.contains("not-the-secret"), "the secret never appears in messages: {message}");
        }
        other => panic!("expected Refused, got {other:?}"),
    }
}

#[tokio::test]
async fn an_id_token_signed_with_the_provider_key_is_accepted() {
    // The control for the forgeries below: the harness signs tokens the verifier accepts.
    let provider = TestProvider::start(ProviderConfig::new());
    let settings = provider.settings(Some("groups"), Some("moderators"));
    let metadata = oidc::provider_metadata(&loopback_http(), &settings).await.expect("discovery");
    let mut claims = id_token_claims(&provider, "n-1");
    claims["groups"] = json!(["moderators"]);
    claims["name"] = json!("Ann Example");
    let token = provider.signing_key.sign(&claims);
    let verified = oidc::verify_id_token(&metadata, &provider.client_id, &token, "n-1").expect("a good token");
    assert_eq!(verified.subject().as_str(), "ann");
    assert_eq!(verified.additional_claims().0["groups"], json!(["moderators"]));
}

#[tokio::test]
async fn a_forged_id_token_is_invalid() {
    let provider = TestProvider::start(ProviderConfig::new());
    let settings = provider.settings(Some("groups"), Some("moderators"));
    let metadata = oidc::provider_metadata(&loopback_http(), &settings).await.expect("discovery");
    let forger = SigningKey::generate("forger");
    let claims = id_token_claims(&provider, "n-1");

    // Signed by another key, claiming to be the provider's key.
    let token = forger.sign_with_kid(&claims, Some(&provider.signing_key.kid));
    let message = expect_invalid_id_token(
        oidc::verify_id_token(&metadata, &provider.client_id, &token, "n-1"),
        "signed with a key not in the JWKS, provider's kid",
    );
    assert!(message.contains("signature"), "{message}");
    // Signed by another key, under its own name.
    let token = forger.sign(&claims);
    expect_invalid_id_token(
        oidc::verify_id_token(&metadata, &provider.client_id, &token, "n-1"),
        "signed with a key not in the JWKS",
    );
    // A good token with a changed payload.
    let good = provider.signing_key.sign(&claims);
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut tampered = claims.clone();
    tampered["sub"] = json!("mallory");
    use base64::Engine;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tampered.to_string());
    expect_invalid_id_token(
        oidc::verify_id_token(&metadata, &provider.client_id, &parts.join("."), "n-1"),
        "a tampered payload",
    );
    // Unsigned (`alg: none`).
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    expect_invalid_id_token(
        oidc::verify_id_token(&metadata, &provider.client_id, &format!("{header}.{body}."), "n-1"),
        "an unsigned token",
    );
    // Not a JWT at all.
    expect_invalid_id_token(oidc::verify_id_token(&metadata, &provider.client_id, "garbage", "n-1"), "garbage");
}

#[tokio::test]
async fn an_expired_id_token_is_invalid() {
    let provider = TestProvider::start(ProviderConfig::new());
    let settings = provider.settings(Some("groups"), Some("moderators"));
    let metadata = oidc::provider_metadata(&loopback_http(), &settings).await.expect("discovery");
    let now = chrono::Utc::now().timestamp();
    let mut claims = id_token_claims(&provider, "n-1");
    claims["iat"] = json!(now - 600);
    claims["exp"] = json!(now - 60);
    let token = provider.signing_key.sign(&claims);
    let message = expect_invalid_id_token(
        oidc::verify_id_token(&metadata, &provider.client_id, &token, "n-1"),
        "expired a minute ago, signed with the provider's real key",
    );
    assert!(message.to_lowercase().contains("expired"), "{message}");
}

#[tokio::test]
async fn an_id_token_for_another_audience_is_invalid() {
    let provider = TestProvider::start(ProviderConfig::new());
    let settings = provider.settings(Some("groups"), Some("moderators"));
    let metadata = oidc::provider_metadata(&loopback_http(), &settings).await.expect("discovery");
    let mut claims = id_token_claims(&provider, "n-1");
    claims["aud"] = json!("some-other-client");
    let message = expect_invalid_id_token(
        oidc::verify_id_token(&metadata, &provider.client_id, &provider.signing_key.sign(&claims), "n-1"),
        "another client's token",
    );
    assert!(message.contains("audience"), "{message}");
    // This client among others it does not trust.
    claims["aud"] = json!([provider.client_id, "some-other-client"]);
    expect_invalid_id_token(
        oidc::verify_id_token(&metadata, &provider.client_id, &provider.signing_key.sign(&claims), "n-1"),
        "a token shared with an untrusted audience",
    );
}

#[tokio::test]
async fn an_id_token_from_another_issuer_or_without_nonce_is_invalid() {
    let provider = TestProvider::start(ProviderConfig::new());
    let settings = provider.settings(Some("groups"), Some("moderators"));
    let metadata = oidc::provider_metadata(&loopback_http(), &settings).await.expect("discovery");
    let mut claims = id_token_claims(&provider, "n-1");
    claims["iss"] = json!("http://127.0.0.1:1");
    let message = expect_invalid_id_token(
        oidc::verify_id_token(&metadata, &provider.client_id, &provider.signing_key.sign(&claims), "n-1"),
        "another issuer",
    );
    assert!(message.contains("issuer"), "{message}");
    let mut claims = id_token_claims(&provider, "n-1");
    claims.as_object_mut().expect("object").remove("nonce");
    expect_invalid_id_token(
        oidc::verify_id_token(&metadata, &provider.client_id, &provider.signing_key.sign(&claims), "n-1"),
        "no nonce",
    );
}

#[tokio::test]
async fn a_provider_that_is_down_is_unavailable_promptly() {
    let mut provider = TestProvider::start(ProviderConfig::new());
    let settings = provider.settings(Some("groups"), Some("moderators"));
    let (pending, code) = log_in(&provider, &settings, "ann").await;
    provider.kill();

    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        let finished = oidc::finish(&loopback_http(), &settings, Some(&provider.client_secret), &pending, &code).await;
        // A tenant whose provider was never reached (nothing cached for it).
        let other = OidcSettings { issuer: provider.issuer.replace("127.0.0.1", "localhost"), ..settings.clone() };
        let begun = oidc::begin(&loopback_http(), &other, &provider.redirect_uri).await;
        (finished, begun)
    })
    .await
    .expect("no hang: answered within 20 s");
    assert!(matches!(outcome.0, Err(OidcLoginError::ProviderUnavailable(_))), "finish: {:?}", outcome.0);
    assert!(matches!(outcome.1, Err(OidcLoginError::ProviderUnavailable(_))), "begin: {:?}", outcome.1.map(|_| ()));
}

#[tokio::test]
async fn an_http_issuer_off_loopback_is_misconfigured() {
    let settings = OidcSettings {
        issuer: "http://id.example.org".into(),
        client_id: "c".into(),
        client_secret: None,
        scopes: vec![],
        moderator_claim: None,
        moderator_value: None,
    };
    let result = oidc::begin(&loopback_http(), &settings, "https://meet.example.org/callback").await;
    assert!(matches!(result, Err(OidcLoginError::Misconfigured(_))), "{:?}", result.map(|_| ()));
}

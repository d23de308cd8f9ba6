//! Users and tenant settings through the real API, with secrets that stay secret.

use confer_tests::{TestPlatform, unique_slug};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn users_are_created_listed_changed_and_disabled() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("users")).await;
    let (status, ann) = p
        .send(
            &t,
            Method::POST,
            "/v1/users",
            Some(json!({
            "email": "Ann@Example.org", "display_name": "Ann", "role": "moderator", "password": "correct horse"})),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        (ann["email"].as_str(), ann["role"].as_str(), ann["has_password"].as_bool()),
        (Some("ann@example.org"), Some("moderator"), Some(true))
    );
    assert!(!ann.to_string().contains("correct horse"));
    let hash = p.json("SELECT to_jsonb(password_hash) FROM users").await;
    assert!(hash.as_str().unwrap().starts_with("$argon2id$"));

    let (status, dup) =
        p.send(&t, Method::POST, "/v1/users", Some(json!({"email": "ann@example.org", "display_name": "Again"}))).await;
    assert_eq!((status, dup["error"]["code"].as_str()), (409, Some("email_taken")));
    let (status, short) = p
        .send(
            &t,
            Method::POST,
            "/v1/users",
            Some(json!({"email": "b@example.org", "display_name": "B", "password": "short"})),
        )
        .await;
    assert_eq!((status, short["error"]["field"].as_str()), (422, Some("password")));

    for i in 0..4 {
        let body = json!({"email": format!("u{i}@example.org"), "display_name": format!("U{i}")});
        assert_eq!(p.send(&t, Method::POST, "/v1/users", Some(body)).await.0, 201);
    }
    let (_, page1) = p.get(&t, "/v1/users?limit=3").await;
    assert_eq!(page1["items"].as_array().unwrap().len(), 3);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let (_, page2) = p.get(&t, &format!("/v1/users?limit=3&cursor={cursor}")).await;
    assert_eq!(page2["items"].as_array().unwrap().len(), 2);
    assert!(page2["next_cursor"].is_null());

    let id = ann["id"].as_str().unwrap();
    let (status, changed) = p
        .send(&t, Method::PATCH, &format!("/v1/users/{id}"), Some(json!({"display_name": "Ann B", "password": null})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (changed["display_name"].as_str(), changed["has_password"].as_bool(), changed["version"].as_i64()),
        (Some("Ann B"), Some(false), Some(2))
    );
    let (status, disabled) = p.send(&t, Method::POST, &format!("/v1/users/{id}/disable"), None).await;
    assert_eq!((status, disabled["disabled"].as_bool()), (200, Some(true)));
    let (status, _) = p.send(&t, Method::PATCH, &format!("/v1/users/{id}"), Some(json!({"role": "boss"}))).await;
    assert_eq!(status, 400, "an unknown role is malformed");
    let types = p
        .json(&format!(
            "SELECT jsonb_agg(event_type ORDER BY stream_version) FROM events WHERE stream_id = 'user-{id}'"
        ))
        .await;
    assert_eq!(types, json!(["UserCreated", "UserChanged", "UserDisabled"]));
}

#[tokio::test]
async fn settings_secrets_are_write_only_and_sealed_in_the_log() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("settings")).await;
    let (status, defaults) = p.get(&t, "/v1/settings").await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            defaults["auth"].as_str(),
            defaults["guests_allowed"].as_bool(),
            defaults["max_participants"].as_i64(),
            defaults["lobby"].as_bool()
        ),
        (Some("open"), Some(true), Some(75), Some(false))
    );
    let bind_password = "ldap-bind-Secret-42";
    let client_secret = "oidc-client-Secret-99";
    let (status, s) = p
        .send(&t, Method::PATCH, "/v1/settings", Some(json!({
            "auth": "ldap", "guests_allowed": false, "max_participants": 20, "lobby": true,
            "ldap": {"url": "ldap://127.0.0.1:389", "bind_dn": "cn=admin,dc=example,dc=org", "bind_password": bind_password,
                     "base_dn": "ou=people,dc=example,dc=org", "moderator_group": "cn=mods,dc=example,dc=org"},
            "oidc": {"issuer": "http://127.0.0.1:9000", "client_id": "confer", "client_secret": client_secret}
        })))
        .await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(
        (s["ldap"]["has_bind_password"].as_bool(), s["oidc"]["has_client_secret"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(s["ldap"]["user_filter"], "(uid=%u)");

    // A later change that omits the secret keeps it, while it still goes where it went.
    let (_, s2) = p
        .send(
            &t,
            Method::PATCH,
            "/v1/settings",
            Some(json!({
            "ldap": {"url": "ldap://127.0.0.1:389", "bind_dn": "cn=admin,dc=example,dc=org", "base_dn": "ou=staff,dc=example,dc=org"}})),
        )
        .await;
    assert_eq!(s2["ldap"]["has_bind_password"], true, "{s2}");
    assert_eq!(s2["ldap"]["base_dn"], "ou=staff,dc=example,dc=org");

    let (_, got) = p.get(&t, "/v1/settings").await;
    let (_, feed) = p.get(&t, "/v1/events").await;
    for secret in [bind_password, client_secret] {
        assert!(!got.to_string().contains(secret) && !s.to_string().contains(secret), "never returned");
        assert!(!feed.to_string().contains(secret), "never in the feed");
        let in_db = format!(
            "SELECT (SELECT count(*) FROM events WHERE payload::text LIKE '%{secret}%')
                  + (SELECT count(*) FROM tenants WHERE ldap::text LIKE '%{secret}%' OR oidc::text LIKE '%{secret}%')
                  + (SELECT count(*) FROM idempotency_keys WHERE response_body::text LIKE '%{secret}%')"
        );
        assert_eq!(p.scalar(&in_db).await, 0, "not in plaintext anywhere in the database");
    }
    let sealed = p.json("SELECT payload->'settings'->'ldap'->'bind_password' FROM events WHERE event_type = 'TenantSettingsChanged' ORDER BY position LIMIT 1").await;
    assert!(sealed.as_str().unwrap().starts_with("v1."), "sealed in the event: {sealed}");
}

#[tokio::test]
async fn settings_refuse_what_cannot_work() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("badset")).await;
    let before = p.event_count().await;
    let cases = [
        (json!({"auth": "ldap"}), "auth"),
        (json!({"max_participants": 1}), "max_participants"),
        (json!({"ldap": {"url": "http://x", "base_dn": "dc=x"}}), "ldap.url"),
        (json!({"ldap": {"url": "ldap://127.0.0.1", "base_dn": "dc=x", "user_filter": "uid=%u"}}), "ldap.user_filter"),
        (json!({"oidc": {"issuer": "ftp://x", "client_id": "c"}}), "oidc.issuer"),
    ];
    for (body, field) in cases {
        let (status, err) = p.send(&t, Method::PATCH, "/v1/settings", Some(body.clone())).await;
        assert_eq!((status, err["error"]["field"].as_str()), (422, Some(field)), "{body}");
    }
    let (status, err) = p.send(&t, Method::PATCH, "/v1/settings", Some(json!({"auth": "kerberos"}))).await;
    assert_eq!((status, err["error"]["field"].as_str()), (400, Some("auth")));
    assert_eq!(p.event_count().await, before);
}

#[tokio::test]
async fn destroying_a_tenants_data_key_leaves_its_sealed_secrets_unreadable() {
    use confer_store::secrets::MasterKey;
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("shred")).await;
    p.send(
        &t,
        Method::PATCH,
        "/v1/settings",
        Some(json!({
        "ldap": {"url": "ldap://127.0.0.1", "base_dn": "dc=x", "bind_dn": "cn=svc,dc=x", "bind_password": "to-be-shredded"}})),
    )
    .await;
    let master = p.api_env().into_iter().find(|(k, _)| k == "CONFER_MASTER_KEY").unwrap().1;
    let master = MasterKey::from_base64(&master).unwrap();
    let tenant: uuid::Uuid = t.id.parse().unwrap();
    let wrapped = p.json("SELECT to_jsonb(encode(wrapped_key, 'hex')) FROM tenant_keys").await;
    let wrapped = hex::decode(wrapped.as_str().unwrap()).unwrap();
    let sealed = p.json("SELECT payload->'settings'->'ldap'->'bind_password' FROM events WHERE event_type = 'TenantSettingsChanged'").await;
    let sealed = confer_store::domain::SealedSecret(sealed.as_str().unwrap().to_owned());
    let key = master.unwrap_data_key(tenant, &wrapped).unwrap();
    assert_eq!(key.open(&sealed).unwrap(), "to-be-shredded", "readable while the key exists");

    assert_eq!(p.scalar("WITH d AS (DELETE FROM tenant_keys RETURNING 1) SELECT count(*) FROM d").await, 1);
    assert_eq!(p.scalar("SELECT count(*) FROM tenant_keys").await, 0);
    let (_, log) = (0, p.json("SELECT jsonb_agg(payload) FROM events").await);
    assert!(!log.to_string().contains("to-be-shredded"), "the log holds only ciphertext, now without a key");
}

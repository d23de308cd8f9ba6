//! Logins on a tenant's site. The media node that serves the site passes what the
//! person typed (or the OpenID provider's answer) here with its tenant key; the api
//! checks it with the tenant's chosen back-end (internal accounts, LDAP, OIDC),
//! whose secrets only the api can open, and answers a signed session token that the
//! site keeps in an HttpOnly cookie.
//!
//! - `POST /v1/sessions` `{username, password}`: internal accounts and LDAP.
//! - `POST /v1/sessions/oidc` `{redirect_uri}`: where to send the browser, and a
//!   sealed `pending` (state, nonce, PKCE verifier) for the site to keep in a cookie.
//! - `POST /v1/sessions/oidc/callback` `{pending, state, code}`: the provider's answer.
//!
//! The requests and answers are the node's contract (`confer_vocabulary::node_api::sessions`).

use super::auth::ForVisitor;
use super::extract::JsonBody;
use super::{ApiError, AppState};
use crate::domain::{AuthMode, EmailAddress, PasswordHash, SealedSecret, TenantSettings, UserRole};
use crate::login::{LoggedIn, ldap, oidc};
use crate::secrets::DataKey;
use crate::store::{Scope, users};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use confer_vocabulary::node_api::{OidcCallback, OidcStart, OidcStarted, PasswordLogin, Session, SessionUser, paths};
use confer_vocabulary::{JoinClaims, LoginMethod, TOKEN_ISSUER, TokenKind, TokenUser};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use uuid::Uuid;

/// How long the browser may take at the OpenID provider.
const OIDC_PENDING_SECONDS: i64 = 600;

/// The tenant's slug, settings and data key.
async fn tenant_of(state: &AppState, tenant: Uuid) -> Result<(String, TenantSettings, DataKey), ApiError> {
    let (row, key) = super::tokens::tenant_and_key(state, tenant).await?;
    Ok((row.slug.clone(), row.settings()?, key))
}

fn method_not_enabled(wanted: &str, auth: AuthMode) -> ApiError {
    ApiError::LoginRefused {
        code: "login_method_not_enabled",
        message: format!("this site logs people in with \"{}\", not {wanted}", auth.as_str()),
    }
}

fn invalid_credentials() -> ApiError {
    ApiError::LoginRefused { code: "invalid_credentials", message: "the user name or password is wrong".into() }
}

fn open_secret(key: &DataKey, sealed: Option<&SealedSecret>) -> Result<Option<String>, ApiError> {
    sealed.map(|s| key.open(s)).transpose().map_err(|e| ApiError::Internal(e.into()))
}

/// Signs the session of `who`, logged in by `method`.
fn session_for(
    state: &AppState,
    tenant: Uuid,
    slug: &str,
    key: &DataKey,
    method: LoginMethod,
    who: LoggedIn,
) -> Result<Session, ApiError> {
    let now = Utc::now();
    let ttl = i64::try_from(state.config.session_ttl_seconds.max(60)).unwrap_or(43_200);
    let claims = JoinClaims {
        iss: TOKEN_ISSUER.to_owned(),
        aud: slug.to_owned(),
        sub: who.subject.clone(),
        iat: now.timestamp(),
        exp: now.timestamp() + ttl,
        jti: Uuid::now_v7().to_string(),
        kind: TokenKind::Session,
        method,
        user: TokenUser { id: who.subject.clone(), name: who.name.clone(), email: who.email.clone() },
        moderator: who.moderator,
        room: None,
    };
    let token = super::tokens::signer_for(state, tenant, key)?.sign(&claims)?;
    tracing::info!(tenant = %slug, method = ?method, user = %who.subject, moderator = who.moderator, jti = %claims.jti, "logged in");
    Ok(Session {
        token,
        expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or(now),
        method,
        user: SessionUser { id: who.subject, name: who.name, email: who.email },
        moderator: who.moderator,
    })
}

/// A hash that no password matches, checked when the account is unknown so that
/// an unknown email takes as long as a wrong password.
fn decoy_hash() -> &'static PasswordHash {
    static DECOY: OnceLock<PasswordHash> = OnceLock::new();
    DECOY.get_or_init(|| {
        crate::domain::PlainPassword::parse_account("password", "decoy password, never used")
            .map(|p| p.hash())
            .unwrap_or_else(|_| PasswordHash::from_stored(String::new()))
    })
}

/// Checks an internal account's password (argon2id, on the blocking pool).
async fn internal_login(state: &AppState, tenant: Uuid, login: PasswordLogin) -> Result<LoggedIn, ApiError> {
    let email = EmailAddress::parse("username", &login.username).map_err(|_| invalid_credentials())?;
    let tx = state.store.begin(Scope::Tenant(tenant)).await?;
    let user = users::find_by_email(&tx, tenant, email.as_str()).await?;
    tx.commit().await?;
    let hash = user.as_ref().and_then(|u| u.password_hash.clone()).map(PasswordHash::from_stored);
    state.limits.check_password_hash(tenant)?;
    let password = login.password;
    let matches = web::block(move || match hash {
        Some(hash) => hash.verify(&password),
        None => {
            decoy_hash().verify(&password);
            false
        }
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    let user = user.filter(|_| matches).ok_or_else(invalid_credentials)?;
    if user.disabled {
        return Err(ApiError::LoginRefused { code: "account_disabled", message: "this account is disabled".into() });
    }
    Ok(LoggedIn {
        moderator: UserRole::parse(&user.role).is_ok_and(|r| r == UserRole::Moderator),
        subject: user.id.to_string(),
        name: user.display_name,
        email: Some(user.email),
    })
}

/// Logs in with a user name and password: internal accounts or LDAP, whichever the
/// tenant chose.
#[utoipa::path(post, path = paths::SESSIONS, tag = "sessions", request_body = PasswordLogin,
    responses((status = 201, body = Session), (status = 403, description = "invalid_credentials, account_disabled, login_method_not_enabled"),
        (status = 503, description = "the LDAP directory did not answer")),
    security(("api_key" = [])))]
pub async fn password(
    state: web::Data<AppState>,
    auth: ForVisitor,
    body: JsonBody<PasswordLogin>,
) -> Result<HttpResponse, ApiError> {
    let login = body.value;
    if login.password.is_empty() || login.password.len() > 1024 || login.username.len() > 256 {
        return Err(invalid_credentials());
    }
    let (slug, settings, key) = tenant_of(&state, auth.tenant_id).await?;
    let (method, who) = match settings.auth {
        AuthMode::Internal => (LoginMethod::Internal, internal_login(&state, auth.tenant_id, login).await?),
        AuthMode::Ldap => {
            let directory = settings.ldap.as_ref().ok_or_else(|| method_not_enabled("a password", settings.auth))?;
            let bind_password = open_secret(&key, directory.bind_password.as_ref())?;
            let who = ldap::authenticate(
                state.outbound.guard(),
                directory,
                bind_password.as_deref(),
                &login.username,
                &login.password,
            )
            .await
            .map_err(|e| match e {
                ldap::LdapLoginError::InvalidCredentials => invalid_credentials(),
                ldap::LdapLoginError::Unavailable(message) => {
                    ApiError::Unavailable { code: "directory_unavailable", message }
                }
                ldap::LdapLoginError::Misconfigured(message) => {
                    tracing::warn!(tenant = %slug, error = %message, "the tenant's LDAP settings do not work");
                    ApiError::Unavailable { code: "directory_misconfigured", message }
                }
            })?;
            (LoginMethod::Ldap, who)
        }
        other => return Err(method_not_enabled("a password", other)),
    };
    Ok(HttpResponse::Created().json(session_for(&state, auth.tenant_id, &slug, &key, method, who)?))
}

/// What the site keeps between sending the browser to the provider and its return.
#[derive(Serialize, Deserialize)]
struct SealedPending {
    login: oidc::PendingLogin,
    expires_at: i64,
}

fn oidc_settings(settings: &TenantSettings) -> Result<&crate::domain::OidcSettings, ApiError> {
    match (settings.auth, settings.oidc.as_ref()) {
        (AuthMode::Oidc, Some(oidc)) => Ok(oidc),
        (other, _) => Err(method_not_enabled("OpenID Connect", other)),
    }
}

fn provider_error(slug: &str, e: oidc::OidcLoginError) -> ApiError {
    match e {
        oidc::OidcLoginError::ProviderUnavailable(message) => {
            ApiError::Unavailable { code: "provider_unavailable", message }
        }
        oidc::OidcLoginError::Misconfigured(message) => {
            tracing::warn!(tenant = %slug, error = %message, "the tenant's OpenID settings do not work");
            ApiError::Unavailable { code: "provider_misconfigured", message }
        }
        oidc::OidcLoginError::Refused(message) => ApiError::LoginRefused { code: "login_refused", message },
        oidc::OidcLoginError::InvalidIdToken(message) => ApiError::LoginRefused { code: "invalid_id_token", message },
    }
}

/// Starts an OpenID Connect login (authorization code with PKCE).
#[utoipa::path(post, path = paths::OIDC_SESSIONS, tag = "sessions", request_body = OidcStart,
    responses((status = 201, body = OidcStarted)), security(("api_key" = [])))]
pub async fn oidc_start(
    state: web::Data<AppState>,
    auth: ForVisitor,
    body: JsonBody<OidcStart>,
) -> Result<HttpResponse, ApiError> {
    let (slug, settings, key) = tenant_of(&state, auth.tenant_id).await?;
    let provider = oidc_settings(&settings)?;
    let redirect_uri = body.value.redirect_uri;
    if !(redirect_uri.starts_with("https://") || redirect_uri.starts_with("http://")) || redirect_uri.len() > 2048 {
        return Err(crate::domain::FieldError::new("redirect_uri", "redirect_uri must be an http(s) URL").into());
    }
    let (authorization_url, login) =
        oidc::begin(&state.outbound, provider, &redirect_uri).await.map_err(|e| provider_error(&slug, e))?;
    let pending = SealedPending { login, expires_at: Utc::now().timestamp() + OIDC_PENDING_SECONDS };
    let json = serde_json::to_string(&pending).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(HttpResponse::Created().json(OidcStarted { authorization_url, pending: key.seal(&json).0 }))
}

/// Finishes an OpenID Connect login: exchanges the code and checks the ID token.
#[utoipa::path(post, path = paths::OIDC_CALLBACK, tag = "sessions", request_body = OidcCallback,
    responses((status = 201, body = Session), (status = 403, description = "invalid_login_state, login_refused, invalid_id_token")),
    security(("api_key" = [])))]
pub async fn oidc_callback(
    state: web::Data<AppState>,
    auth: ForVisitor,
    body: JsonBody<OidcCallback>,
) -> Result<HttpResponse, ApiError> {
    let callback = body.value;
    let (slug, settings, key) = tenant_of(&state, auth.tenant_id).await?;
    let provider = oidc_settings(&settings)?;
    let stale = || ApiError::LoginRefused {
        code: "invalid_login_state",
        message: "this login was not started here, or took too long; start again".into(),
    };
    let pending: SealedPending = key
        .open(&SealedSecret(callback.pending))
        .ok()
        .and_then(|json| serde_json::from_str(&json).ok())
        .ok_or_else(stale)?;
    if pending.expires_at < Utc::now().timestamp() || pending.login.state != callback.state {
        return Err(stale());
    }
    let secret = open_secret(&key, provider.client_secret.as_ref())?;
    let who = oidc::finish(&state.outbound, provider, secret.as_deref(), &pending.login, &callback.code)
        .await
        .map_err(|e| provider_error(&slug, e))?;
    Ok(HttpResponse::Created().json(session_for(&state, auth.tenant_id, &slug, &key, LoginMethod::Oidc, who)?))
}

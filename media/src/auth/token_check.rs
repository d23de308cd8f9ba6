//! Checking a join or session token: its signature against the tenant's published
//! keys (a JWKS, fetched from the api and cached; fetched again when a token names
//! a key not seen yet, at most every few seconds), its issuer, its audience (this
//! node's tenant), its expiry, and, for a join token, its room.

use super::RevokedSessions;
use confer_vocabulary::{JoinClaims, RoomName, TOKEN_ISSUER, TokenKind};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

/// The shortest time between two fetches of the keys for an unknown `kid`: a flood
/// of tokens with made-up key ids must not become a flood of requests to the api.
const REFETCH_AFTER: Duration = Duration::from_secs(5);

/// Leeway for clocks that disagree, in seconds.
const LEEWAY_SECONDS: u64 = 30;

/// Why a token was refused. The text is shown to the person holding it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT, or not one of ours (no `kid`, another algorithm).
    #[error("the token is malformed: {0}")]
    Malformed(String),
    /// No key of this tenant has this id: another tenant's token, or a made-up one.
    #[error("the token was not signed by this site's key")]
    UnknownKey,
    /// The signature does not match: the token was changed.
    #[error("the token's signature does not match: it has been tampered with")]
    BadSignature,
    /// It expired.
    #[error("the token has expired")]
    Expired,
    /// It was issued for another tenant.
    #[error("the token is for another site")]
    WrongTenant,
    /// A join token for another room.
    #[error("the token is for room \"{0}\", not this one")]
    WrongRoom(String),
    /// The keys could not be fetched.
    #[error("the site's token keys cannot be read right now; try again")]
    KeysUnavailable,
    /// A session that was logged out.
    #[error("this session was logged out; log in again")]
    LoggedOut,
    /// Whether the session was logged out cannot be told right now (Redis).
    #[error("sessions cannot be checked right now; try again")]
    SessionsUnavailable,
}

impl TokenError {
    /// The stable code signaling sends.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Expired => "token_expired",
            Self::WrongRoom(_) => "token_wrong_room",
            Self::KeysUnavailable | Self::SessionsUnavailable => "try_again_later",
            Self::LoggedOut => "session_ended",
            _ => "invalid_token",
        }
    }
}

/// Checks tokens for one tenant.
pub struct TokenCheck {
    tenant: String,
    jwks_url: String,
    http: reqwest::Client,
    keys: RwLock<HashMap<String, DecodingKey>>,
    /// When the keys were last fetched.
    fetched: Mutex<Option<Instant>>,
    /// Serialises fetches, so that a burst of unknown kids costs one request.
    fetching: tokio::sync::Mutex<()>,
    /// Sessions logged out, when there is a Redis.
    revoked: std::sync::OnceLock<RevokedSessions>,
}

impl std::fmt::Debug for TokenCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCheck").field("tenant", &self.tenant).field("jwks_url", &self.jwks_url).finish()
    }
}

impl TokenCheck {
    /// Checks tokens of `tenant` against the JWKS at `jwks_url`.
    pub fn new(tenant: &str, jwks_url: &str) -> Self {
        Self {
            tenant: tenant.to_owned(),
            jwks_url: jwks_url.to_owned(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default(),
            keys: RwLock::new(HashMap::new()),
            fetched: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
            revoked: std::sync::OnceLock::new(),
        }
    }

    /// Refuses sessions logged out (on any node of the tenant) from now on (once).
    pub fn follow_logouts(&self, revoked: RevokedSessions) {
        let _ = self.revoked.set(revoked);
    }

    /// Where logouts are recorded, when there is a Redis.
    pub fn logouts(&self) -> Option<&RevokedSessions> {
        self.revoked.get()
    }

    /// The claims of `token`, if it is a valid token of this tenant. A join token
    /// must name `room`; a session token admits to any room.
    pub async fn check(&self, token: &str, room: &RoomName) -> Result<JoinClaims, TokenError> {
        let claims = self.check_signed(token).await?;
        match claims.kind {
            TokenKind::Join => {
                let named = claims.room.as_deref().unwrap_or_default();
                if RoomName::parse(named).ok().as_ref() != Some(room) {
                    return Err(TokenError::WrongRoom(named.to_owned()));
                }
            }
            TokenKind::Session => self.not_logged_out(&claims).await?,
        }
        Ok(claims)
    }

    /// The claims of a session token (the site's cookie), if it is a valid one of
    /// this tenant; a join token is not a session.
    pub async fn check_session(&self, token: &str) -> Result<JoinClaims, TokenError> {
        let claims = self.check_signed(token).await?;
        if claims.kind != TokenKind::Session {
            return Err(TokenError::Malformed("a join token is not a session".into()));
        }
        self.not_logged_out(&claims).await?;
        Ok(claims)
    }

    /// Refuses a session that was logged out (or, with Redis unreachable, any session).
    async fn not_logged_out(&self, claims: &JoinClaims) -> Result<(), TokenError> {
        let Some(revoked) = self.revoked.get() else {
            return Ok(());
        };
        match revoked.is_revoked(&claims.jti).await {
            Ok(false) => Ok(()),
            Ok(true) => Err(TokenError::LoggedOut),
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell whether a session was logged out; refusing it");
                Err(TokenError::SessionsUnavailable)
            }
        }
    }

    /// The claims of `token` once its signature, issuer, audience and expiry check out.
    async fn check_signed(&self, token: &str) -> Result<JoinClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Malformed(format!("algorithm {:?} is not accepted", header.alg)));
        }
        let kid = header.kid.ok_or_else(|| TokenError::Malformed("the header names no key (kid)".into()))?;
        let key = match self.key(&kid) {
            Some(key) => key,
            None => {
                self.refresh().await?;
                self.key(&kid).ok_or(TokenError::UnknownKey)?
            }
        };
        verify(token, &key, &self.tenant)
    }

    fn key(&self, kid: &str) -> Option<DecodingKey> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).get(kid).cloned()
    }

    /// Fetches the keys again, unless they were fetched a moment ago.
    async fn refresh(&self) -> Result<(), TokenError> {
        let _one_at_a_time = self.fetching.lock().await;
        let recent =
            self.fetched.lock().unwrap_or_else(|p| p.into_inner()).is_some_and(|t| t.elapsed() < REFETCH_AFTER);
        if recent {
            return Ok(());
        }
        let set = self.fetch().await;
        *self.fetched.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        let set = set?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            match (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk)) {
                (Some(kid), Ok(key)) => {
                    keys.insert(kid, key);
                }
                (kid, Err(e)) => tracing::warn!(?kid, error = %e, "a key of the tenant's JWKS is unusable"),
                (None, _) => tracing::warn!("a key of the tenant's JWKS has no kid"),
            }
        }
        tracing::info!(keys = keys.len(), url = %self.jwks_url, "token keys fetched");
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
        Ok(())
    }

    async fn fetch(&self) -> Result<JwkSet, TokenError> {
        let response = self.http.get(&self.jwks_url).send().await.map_err(|e| {
            tracing::warn!(url = %self.jwks_url, error = %e, "cannot fetch the token keys");
            TokenError::KeysUnavailable
        })?;
        if !response.status().is_success() {
            tracing::warn!(url = %self.jwks_url, status = %response.status(), "cannot fetch the token keys");
            return Err(TokenError::KeysUnavailable);
        }
        response.json::<JwkSet>().await.map_err(|e| {
            tracing::warn!(url = %self.jwks_url, error = %e, "the token keys are not a JWKS");
            TokenError::KeysUnavailable
        })
    }
}

/// Checks the signature, issuer, audience and expiry of `token` with `key`.
fn verify(token: &str, key: &DecodingKey, tenant: &str) -> Result<JoinClaims, TokenError> {
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[TOKEN_ISSUER]);
    validation.set_audience(&[tenant]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = LEEWAY_SECONDS;
    jsonwebtoken::decode::<JoinClaims>(token, key, &validation).map(|data| data.claims).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::InvalidAudience => TokenError::WrongTenant,
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            other => TokenError::Malformed(format!("{other:?}")),
        }
    })
}

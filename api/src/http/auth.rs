//! `Authorization: Bearer <api key>`: which tenant a request acts for.
//!
//! Keys are 256 random bits, so a fast SHA-256 is the right hash to look them up by
//! (a slow password hash guards low-entropy secrets; these are not).

use super::rate_limit::NodeBudget;
use super::{ApiError, AppState};
use crate::store::{Scope, api_keys, node_credentials};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, http::header, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::pin::Pin;
use uuid::Uuid;

/// Keys start with this, so that secret scanners and people recognise them.
const KEY_PREFIX: &str = "cfr_";
/// Node credentials start with this.
const NODE_CREDENTIAL_PREFIX: &str = "cfn_";

/// A freshly minted API key: the secret (shown once) and what is stored of it.
pub struct MintedKey {
    /// The whole key, `cfr_<43 characters>`, for the client to keep.
    pub secret: String,
    /// The first characters, to tell keys apart in listings.
    pub prefix: String,
    /// SHA-256 of the whole key, hex.
    pub hash_hex: String,
}

/// Mints a new random API key.
pub fn mint_key() -> MintedKey {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let secret = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw));
    let prefix = secret.chars().take(KEY_PREFIX.len() + 6).collect();
    let hash_hex = hex::encode(Sha256::digest(secret.as_bytes()));
    MintedKey { secret, prefix, hash_hex }
}

/// Recently verified keys (by SHA-256) and their holders, for a short time: a
/// request then needs no database round trip to authenticate.
pub struct KeyCache(Option<moka::sync::Cache<[u8; 32], Authenticated>>);

impl KeyCache {
    /// A cache keeping entries for `ttl` (zero: no cache).
    pub fn new(ttl: std::time::Duration) -> Self {
        Self((!ttl.is_zero()).then(|| moka::sync::Cache::builder().max_capacity(100_000).time_to_live(ttl).build()))
    }

    fn get(&self, hash: &[u8; 32]) -> Option<Authenticated> {
        self.0.as_ref().and_then(|c| c.get(hash))
    }

    fn insert(&self, hash: [u8; 32], holder: Authenticated) {
        if let Some(c) = &self.0 {
            c.insert(hash, holder);
        }
    }

    /// Forgets every key (after a revocation).
    pub fn clear(&self) {
        if let Some(c) = &self.0 {
            c.invalidate_all();
        }
    }
}

/// Who is calling for a tenant: one of its API keys, or one of its media nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// An API key of the tenant (an admin's or an API client's).
    ApiKey(Uuid),
    /// A media node of the tenant, with the credential minted at its start.
    Node(Uuid),
}

/// A request whose API key is valid: the tenant it acts for and the key used.
/// Only API keys pass; a node's credential gets 403 here, so an endpoint is closed
/// to nodes unless it asks for [`NodeOrAdmin`].
#[derive(Debug, Clone, Copy)]
pub struct Authenticated {
    /// The tenant.
    pub tenant_id: Uuid,
    /// Who calls, for the audit trail in event metadata.
    pub caller: Caller,
}

impl Authenticated {
    /// The caller as event metadata names it: `api_key:<id>` or `node:<id>`.
    pub fn actor(&self) -> String {
        match self.caller {
            Caller::ApiKey(id) => format!("api_key:{id}"),
            Caller::Node(id) => format!("node:{id}"),
        }
    }
}

/// A request from the tenant's media node or with one of its API keys: what nodes do
/// (read the settings, certificates and meeting rules, check logins, report room
/// facts). Node credentials can do nothing else.
#[derive(Debug, Clone, Copy)]
pub struct NodeOrAdmin(pub Authenticated);

impl std::ops::Deref for NodeOrAdmin {
    type Target = Authenticated;
    fn deref(&self) -> &Authenticated {
        &self.0
    }
}

/// Like [`NodeOrAdmin`], for what a node asks or reports because of the people at
/// its site (a room's meeting rules, a meeting's password, a login, the facts of
/// the rooms they open). A node's credential counts these against a budget of
/// their own: visitors, strangers included, can spend it, but never the budget the
/// node reads its settings and certificates with.
#[derive(Debug, Clone, Copy)]
pub struct ForVisitor(pub Authenticated);

impl std::ops::Deref for ForVisitor {
    type Target = Authenticated;
    fn deref(&self) -> &Authenticated {
        &self.0
    }
}

/// The bearer token of a request, if it sent one.
fn bearer(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|k| k.trim().to_owned())
}

/// Finds who a key or node credential belongs to (cached), and counts the request
/// against that caller's rate limit.
async fn authenticate(
    state: web::Data<AppState>,
    key: Option<String>,
    client: Option<std::net::IpAddr>,
    budget: NodeBudget,
) -> Result<Authenticated, ApiError> {
    let key = key.filter(|k| k.len() < 128).ok_or(ApiError::Unauthorized)?;
    let node = key.starts_with(NODE_CREDENTIAL_PREFIX);
    if !node && !key.starts_with(KEY_PREFIX) {
        return Err(ApiError::Unauthorized);
    }
    let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    let caller = match state.key_cache.get(&hash) {
        Some(caller) => caller,
        None => {
            if let Some(client) = client {
                state.limits.check_key_lookup(client)?;
            }
            let tx = state.store.begin(Scope::Platform).await?;
            let caller = if node {
                node_credentials::holder_of(&tx, &hash)
                    .await?
                    .map(|h| Authenticated { tenant_id: h.tenant_id, caller: Caller::Node(h.node_id) })
            } else {
                api_keys::holder_of(&tx, &hash)
                    .await?
                    .map(|h| Authenticated { tenant_id: h.tenant_id, caller: Caller::ApiKey(h.id) })
            };
            tx.commit().await?;
            let caller = caller.ok_or_else(|| match client {
                Some(client) => state.limits.unknown_key(client),
                None => ApiError::Unauthorized,
            })?;
            state.key_cache.insert(hash, caller);
            caller
        }
    };
    match caller.caller {
        Caller::ApiKey(id) => state.limits.check_api_key(caller.tenant_id, id)?,
        Caller::Node(id) => state.limits.check_node(id, budget)?,
    }
    Ok(caller)
}

/// Authenticates `req`'s bearer key, a node's counting against `budget`.
fn authenticate_request(
    req: &HttpRequest,
    budget: NodeBudget,
) -> Pin<Box<dyn Future<Output = Result<Authenticated, ApiError>>>> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let key = bearer(req);
    let client = req.peer_addr().map(|a| a.ip());
    Box::pin(async move {
        let state = state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("application state missing")))?;
        authenticate(state, key, client, budget).await
    })
}

impl FromRequest for NodeOrAdmin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let authenticated = authenticate_request(req, NodeBudget::Own);
        Box::pin(async move { authenticated.await.map(NodeOrAdmin) })
    }
}

impl FromRequest for ForVisitor {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let authenticated = authenticate_request(req, NodeBudget::Visitors);
        Box::pin(async move { authenticated.await.map(ForVisitor) })
    }
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let any_caller = NodeOrAdmin::from_request(req, payload);
        Box::pin(async move {
            let NodeOrAdmin(auth) = any_caller.await?;
            match auth.caller {
                Caller::ApiKey(_) => Ok(auth),
                Caller::Node(_) => Err(ApiError::Forbidden {
                    code: "not_for_nodes",
                    message: "a media node's credential cannot do this; use an API key of the tenant".into(),
                }),
            }
        })
    }
}

/// A request from the platform's own front door, which looks sites up and starts
/// tenants' nodes: it sends the operator's `CONFER_PLATFORM_TOKEN`.
#[derive(Debug, Clone, Copy)]
pub struct PlatformCaller;

impl FromRequest for PlatformCaller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let expected = req.app_data::<web::Data<AppState>>().and_then(|s| s.config.platform_token.clone());
        let given = bearer(req);
        let ok = match (expected, given) {
            // Digests are compared, so the time taken says nothing about the token.
            (Some(expected), Some(given)) if !expected.is_empty() => {
                Sha256::digest(expected.as_bytes()) == Sha256::digest(given.as_bytes())
            }
            _ => false,
        };
        std::future::ready(if ok { Ok(PlatformCaller) } else { Err(ApiError::Unauthorized) })
    }
}

/// Mints a node credential: `cfn_<43 characters>`, told apart from API keys by its prefix.
pub fn mint_node_credential() -> MintedKey {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let secret = format!("{NODE_CREDENTIAL_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw));
    let prefix = secret.chars().take(NODE_CREDENTIAL_PREFIX.len() + 6).collect();
    let hash_hex = hex::encode(Sha256::digest(secret.as_bytes()));
    MintedKey { secret, prefix, hash_hex }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_are_distinct_and_prefixed() {
        let a = mint_key();
        let b = mint_key();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with("cfr_") && a.secret.len() == 4 + 43);
        assert!(a.secret.starts_with(&a.prefix));
        assert_eq!(a.hash_hex.len(), 64);
    }
}

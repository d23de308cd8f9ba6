//! `Authorization: Bearer <api key>`: which tenant a request acts for.
//!
//! Keys are 256 random bits, so a fast SHA-256 is the right hash to look them up by
//! (a slow password hash guards low-entropy secrets; these are not).

use super::{ApiError, AppState};
use crate::store::{Scope, api_keys};
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
pub struct KeyCache(Option<moka::sync::Cache<[u8; 32], api_keys::KeyHolder>>);

impl KeyCache {
    /// A cache keeping entries for `ttl` (zero: no cache).
    pub fn new(ttl: std::time::Duration) -> Self {
        Self((!ttl.is_zero()).then(|| moka::sync::Cache::builder().max_capacity(100_000).time_to_live(ttl).build()))
    }

    fn get(&self, hash: &[u8; 32]) -> Option<api_keys::KeyHolder> {
        self.0.as_ref().and_then(|c| c.get(hash))
    }

    fn insert(&self, hash: [u8; 32], holder: api_keys::KeyHolder) {
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

/// A request whose API key is valid: the tenant it acts for and the key used.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated {
    /// The tenant.
    pub tenant_id: Uuid,
    /// The key, for the audit trail in event metadata.
    pub key_id: Uuid,
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let key = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|k| k.trim().to_owned());
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("application state missing")))?;
            let key = key.filter(|k| k.starts_with(KEY_PREFIX) && k.len() < 128).ok_or(ApiError::Unauthorized)?;
            let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
            let holder = match state.key_cache.get(&hash) {
                Some(holder) => holder,
                None => {
                    let tx = state.store.begin(Scope::Platform).await?;
                    let holder = api_keys::holder_of(&tx, &hash).await?;
                    tx.commit().await?;
                    let holder = holder.ok_or(ApiError::Unauthorized)?;
                    state.key_cache.insert(hash, holder);
                    holder
                }
            };
            state.limits.check_api_key(holder.id)?;
            Ok(Authenticated { tenant_id: holder.tenant_id, key_id: holder.id })
        })
    }
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

//! Answering ACME HTTP-01 challenges: the CA fetches
//! `http://<domain>/.well-known/acme-challenge/<token>` and expects the key
//! authorization the worker left in Redis under `acme_http01_key(token)`. Any node of
//! the tenant can answer, since they all read the same Redis.

use actix_web::{HttpResponse, web};
use confer_vocabulary::acme_http01_key;
use redis::aio::ConnectionManager;
use serde_json::json;

/// Where the node reads key authorizations from.
pub struct AcmeChallenges {
    redis: Option<ConnectionManager>,
}

impl AcmeChallenges {
    /// Reads key authorizations from `redis`; without Redis, no challenge is known.
    pub fn new(redis: Option<ConnectionManager>) -> Self {
        Self { redis }
    }
}

/// An HTTP-01 token as RFC 8555 makes them: base64url characters only, so it cannot
/// step out of its Redis key or its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeToken(String);

impl ChallengeToken {
    /// Longer than any CA's token (Let's Encrypt's and Pebble's have 43 characters).
    const MAX_LEN: usize = 256;

    /// `token`, if it is 1 to 256 base64url characters.
    pub fn parse(token: &str) -> Option<Self> {
        let base64url = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        let valid = !token.is_empty() && token.len() <= Self::MAX_LEN && token.bytes().all(base64url);
        valid.then(|| Self(token.to_owned()))
    }

    /// The token.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `GET /.well-known/acme-challenge/{token}`; needs [`AcmeChallenges`] as app data.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/.well-known/acme-challenge/{token}", web::get().to(answer));
}

async fn answer(challenges: web::Data<AcmeChallenges>, token: web::Path<String>) -> HttpResponse {
    let Some(token) = ChallengeToken::parse(&token) else {
        tracing::debug!(token = %token.as_str(), "not an ACME token");
        return HttpResponse::NotFound().finish();
    };
    let Some(redis) = &challenges.redis else {
        tracing::debug!(token = %token.as_str(), "no Redis: no ACME challenge is known");
        return HttpResponse::NotFound().finish();
    };
    let read: Result<Option<String>, _> =
        redis::cmd("GET").arg(acme_http01_key(token.as_str())).query_async(&mut redis.clone()).await;
    match read {
        Ok(Some(key_authorization)) => {
            tracing::debug!(token = %token.as_str(), "ACME challenge answered");
            HttpResponse::Ok().content_type("text/plain").body(key_authorization)
        }
        Ok(None) => {
            tracing::debug!(token = %token.as_str(), "no such ACME challenge");
            HttpResponse::NotFound().finish()
        }
        Err(e) => {
            tracing::debug!(token = %token.as_str(), error = %e, "ACME challenge unreadable: Redis unreachable");
            HttpResponse::ServiceUnavailable().json(json!({"error": {
                "code": "try_again_later",
                "message": "the challenge cannot be read right now; try again"
            }}))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_base64url_only() {
        for token in ["LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0", "a", "A-_z9"] {
            assert_eq!(ChallengeToken::parse(token).map(|t| t.0), Some(token.to_owned()));
        }
        let long = "a".repeat(257);
        for token in ["", "..", "a/b", "a.b", "a%2Fb", "a b", "a:b", "*", "tökén", long.as_str()] {
            assert!(ChallengeToken::parse(token).is_none(), "{token:?} was taken for a token");
        }
    }
}

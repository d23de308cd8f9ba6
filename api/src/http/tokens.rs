//! Join tokens for API clients (`POST /v1/tokens`), as JaaS and LiveKit mint them:
//! a signed statement that one person may join one room until a time, as a
//! moderator or not. The meeting link carries it as `?jwt=`. The public keys that
//! check it are at `GET /v1/tenants/{slug}/jwks.json`.

use super::auth::Authenticated;
use super::extract::JsonBody;
use super::{ApiError, AppState};
use crate::domain::{EmailAddress, FieldError, RoomName, parse_text};
use crate::store::{Scope, tenants};
use crate::token_signer::TokenSigner;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use confer_vocabulary::{JoinClaims, LoginMethod, TOKEN_ISSUER, TokenKind, TokenUser};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Longest life of a join token: a week.
const MAX_TTL_SECONDS: u64 = 7 * 24 * 3600;
/// Life of a join token when the request names none: an hour.
const DEFAULT_TTL_SECONDS: u64 = 3600;

/// Who the token is for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenUserInput {
    /// Your id for them (1–128 characters).
    pub id: String,
    /// The name others see (1–64 characters).
    pub name: String,
    pub email: Option<String>,
}

/// A join token to mint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintToken {
    /// The room it admits to.
    pub room: String,
    pub user: TokenUserInput,
    /// Whether they moderate the room (default false).
    #[serde(default)]
    pub moderator: bool,
    /// Seconds until it expires: 60 to 604800 (a week); default 3600.
    pub ttl: Option<u64>,
}

/// A minted join token.
#[derive(Debug, Serialize, ToSchema)]
pub struct MintedToken {
    /// The JWT (EdDSA, `kid` in its header).
    pub token: String,
    /// Its id (`jti`).
    pub id: String,
    pub expires_at: DateTime<Utc>,
    /// The meeting link that carries it: `<site>/<room>?jwt=<token>`.
    pub url: String,
}

fn check_ttl(ttl: Option<u64>) -> Result<u64, FieldError> {
    match ttl.unwrap_or(DEFAULT_TTL_SECONDS) {
        t @ 60..=MAX_TTL_SECONDS => Ok(t),
        _ => Err(FieldError::new("ttl", format!("ttl must be 60 to {MAX_TTL_SECONDS} seconds"))),
    }
}

/// The claims of a new token, its input parsed.
fn claims_of(body: MintToken, tenant_slug: &str, now: DateTime<Utc>) -> Result<JoinClaims, FieldError> {
    let room = RoomName::parse(&body.room)?;
    let id = parse_text("user.id", &body.user.id, 128)?;
    let name = parse_text("user.name", &body.user.name, 64)?;
    let email = body.user.email.as_deref().map(|e| EmailAddress::parse("user.email", e)).transpose()?;
    let ttl = check_ttl(body.ttl)?;
    Ok(JoinClaims {
        iss: TOKEN_ISSUER.to_owned(),
        aud: tenant_slug.to_owned(),
        sub: id.clone(),
        iat: now.timestamp(),
        exp: now.timestamp() + i64::try_from(ttl).unwrap_or(i64::MAX / 2),
        jti: Uuid::now_v7().to_string(),
        kind: TokenKind::Join,
        method: LoginMethod::Token,
        user: TokenUser { id, name, email: email.map(|e| e.as_str().to_owned()) },
        moderator: body.moderator,
        room: Some(room.as_str().to_owned()),
    })
}

/// The tenant's row and data key, read in one transaction.
pub(crate) async fn tenant_and_key(
    state: &AppState,
    tenant: Uuid,
) -> Result<(tenants::TenantRow, crate::secrets::DataKey), ApiError> {
    let tx = state.store.begin(Scope::Tenant(tenant)).await?;
    let row = tenants::find(&tx, tenant).await?.ok_or(ApiError::NotFound("tenant"))?;
    let key = state.tenant_keys.load(&tx, tenant).await?;
    tx.commit().await?;
    Ok((row, key))
}

/// Mints a join token for one person and one room.
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", request_body = MintToken,
    responses((status = 201, body = MintedToken)), security(("api_key" = [])))]
pub async fn mint(
    state: web::Data<AppState>,
    auth: Authenticated,
    body: JsonBody<MintToken>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, key) = tenant_and_key(&state, auth.tenant_id).await?;
    let signer = signer_for(&state, auth.tenant_id, &key)?;
    let slug = tenant.slug;
    let claims = claims_of(body.value, &slug, Utc::now())?;
    let token = signer.sign(&claims)?;
    let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now);
    let room = claims.room.clone().unwrap_or_default();
    tracing::info!(jti = %claims.jti, room = %room, user = %claims.sub, moderator = claims.moderator, "join token minted");
    Ok(HttpResponse::Created().json(MintedToken {
        url: format!("{}/{room}?jwt={token}", state.config.site_url(&slug)),
        token,
        id: claims.jti,
        expires_at,
    }))
}

/// The public keys that check the tenant's join and session tokens (RFC 7517). No
/// API key needed: anyone may check a token.
#[utoipa::path(get, path = confer_vocabulary::node_api::paths::TENANT_JWKS, tag = "tokens",
    params(("slug" = String, Path, description = "the tenant's slug")),
    responses((status = 200, description = "a JWKS with the tenant's Ed25519 key")))]
pub async fn jwks(state: web::Data<AppState>, slug: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let slug = slug.into_inner();
    let jwks = match state.jwks.get(&slug) {
        Some(jwks) => jwks,
        None => {
            let tx = state.store.begin(Scope::Platform).await?;
            let row = tenants::find_by_slug(&tx, &slug).await?.ok_or(ApiError::NotFound("tenant"))?;
            let key = state.tenant_keys.load(&tx, row.id).await?;
            tx.commit().await?;
            let jwks = std::sync::Arc::new(signer_for(&state, row.id, &key)?.jwks());
            state.jwks.insert(slug, jwks.clone());
            jwks
        }
    };
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "public, max-age=300")).json(&*jwks))
}

/// The tenant's signer: derived from its data key once, then kept for a few minutes
/// (a key destroyed with its tenant stops signing within that time).
pub(crate) fn signer_for(
    state: &AppState,
    tenant: Uuid,
    key: &crate::secrets::DataKey,
) -> Result<std::sync::Arc<TokenSigner>, ApiError> {
    if let Some(signer) = state.signers.get(&tenant) {
        return Ok(signer);
    }
    let signer = std::sync::Arc::new(TokenSigner::of(key)?);
    state.signers.insert(tenant, signer.clone());
    Ok(signer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(room: &str, ttl: Option<u64>) -> MintToken {
        MintToken {
            room: room.into(),
            user: TokenUserInput { id: "u-1".into(), name: " Ann ".into(), email: Some("Ann@Example.org".into()) },
            moderator: true,
            ttl,
        }
    }

    #[test]
    fn claims_name_the_tenant_room_and_person_and_expire_after_the_ttl() {
        let now = Utc::now();
        let c = claims_of(body("Standup", Some(120)), "acme", now).unwrap();
        assert_eq!((c.aud.as_str(), c.room.as_deref(), c.user.name.as_str()), ("acme", Some("standup"), "Ann"));
        assert_eq!(c.user.email.as_deref(), Some("ann@example.org"));
        assert_eq!(c.exp - c.iat, 120);
        assert!(c.moderator);
    }

    #[test]
    fn bad_rooms_and_ttls_are_refused_by_field() {
        assert_eq!(claims_of(body("../x", None), "a", Utc::now()).unwrap_err().field, "room");
        assert_eq!(claims_of(body("x", Some(59)), "a", Utc::now()).unwrap_err().field, "ttl");
        assert_eq!(claims_of(body("x", Some(MAX_TTL_SECONDS + 1)), "a", Utc::now()).unwrap_err().field, "ttl");
        let mut nameless = body("x", None);
        nameless.user.name = " ".into();
        assert_eq!(claims_of(nameless, "a", Utc::now()).unwrap_err().field, "user.name");
    }
}

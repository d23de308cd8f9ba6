//! What a signed join or session token says, read alike by the api that signs it
//! and the media node that checks it.
//!
//! Tokens are JWTs signed with the tenant's own Ed25519 key (`alg: EdDSA`, a `kid`
//! naming the key); the public keys are published as a JWKS at
//! `/v1/tenants/<slug>/jwks.json` on the api.

use serde::{Deserialize, Serialize};

/// `iss` of every token the api signs.
pub const TOKEN_ISSUER: &str = "confer";

/// The cookie in which a tenant's site keeps a logged-in person's session token.
pub const SESSION_COOKIE: &str = "confer_session";

/// What the token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// Minted by an API client for one person and one room (`POST /v1/tokens`), put in
    /// a meeting link as `?jwt=`.
    Join,
    /// Minted after a login on the tenant's site; kept in the session cookie; any room.
    Session,
}

/// How the person was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LoginMethod {
    /// An API client vouched for them with a join token.
    Token,
    /// A Confer account (`/v1/users`).
    Internal,
    /// The tenant's LDAP directory.
    Ldap,
    /// The tenant's OpenID provider.
    Oidc,
}

/// The person a token names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUser {
    /// Their id, as the issuer knows them.
    pub id: String,
    /// The name to show.
    pub name: String,
    /// Their email, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// The claims of a join or session token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinClaims {
    /// Always [`TOKEN_ISSUER`].
    pub iss: String,
    /// The tenant's slug: a token of one tenant is refused by another's nodes.
    pub aud: String,
    /// The user's id (as in `user.id`).
    pub sub: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    /// A unique id of this token.
    pub jti: String,
    /// What the token is for.
    pub kind: TokenKind,
    /// How they were authenticated.
    pub method: LoginMethod,
    /// Who.
    pub user: TokenUser,
    /// Whether they moderate the rooms they join.
    pub moderator: bool,
    /// The one room a join token admits to; a session token has none (any room).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
}

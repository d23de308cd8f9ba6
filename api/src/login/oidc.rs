//! OpenID Connect login: the authorization code flow with PKCE (S256) against the
//! tenant's provider.
//!
//! 1. [`begin`] reads the provider's discovery document, and answers the URL to send the
//!    browser to, with the [`PendingLogin`] the caller keeps (e.g. in Redis under its
//!    `state`, for [`PENDING_LOGIN_TTL_SECS`]).
//! 2. The provider sends the browser back to `redirect_uri?code=…&state=…`. The caller
//!    finds the pending login by that `state` (which is the CSRF check) and calls
//!    [`finish`], which exchanges the code with the PKCE verifier, verifies the ID token
//!    (signature against the provider's JWKS, issuer, audience, nonce, expiry:
//!    [`verify_id_token`]) and reads who this is, asking the userinfo endpoint for what
//!    the ID token leaves out.
//!
//! Discovery (with the JWKS) is cached per issuer for a few minutes; an ID token signed
//! with a key the cached JWKS lacks makes one fresh discovery (the provider rotated its
//! keys). The client secret, codes and tokens never enter an error message or a log.
//!
//! Every request (discovery, JWKS, token, userinfo: whatever URLs the provider's
//! discovery names) goes through the outbound guard ([`OutboundHttp`]): an endpoint in
//! a special network or at a platform service is refused. The messages never carry
//! the provider's reply (its HTTP status, body or `error_description`): what it said
//! goes to the log.

use super::LoggedIn;
use crate::domain::OidcSettings;
use confer_outbound::{OutboundError, OutboundHttp};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreGenderClaim, CoreIdTokenVerifier,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AccessToken, AccessTokenHash, AdditionalClaims, AuthType, AuthorizationCode, ClaimsVerificationError, ClientId,
    ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdToken, IdTokenClaims, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    SignatureVerificationError, TokenResponse, UserInfoClaims, UserInfoError,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// How long a caller should keep a [`PendingLogin`]: the time a person has to log in at
/// the provider.
pub const PENDING_LOGIN_TTL_SECS: u64 = 600;

/// How long a provider's discovery document (and its JWKS) is reused.
const DISCOVERY_TTL: Duration = Duration::from_secs(300);
/// An ID token issued further in the future than this is refused (clock skew allowance).
const MAX_ISSUED_AHEAD: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// Why an OpenID Connect login failed. Messages name no secret, code or token.
#[derive(Debug, thiserror::Error)]
pub enum OidcLoginError {
    /// The provider could not be reached, or answered something unusable (discovery,
    /// JWKS, token or userinfo endpoint).
    #[error("the OpenID provider is unavailable: {0}")]
    ProviderUnavailable(String),
    /// The provider refused the code (`invalid_grant`: used, expired, another client's,
    /// or the PKCE verifier does not match) or the client's credentials.
    #[error("the OpenID provider refused the login: {0}")]
    Refused(String),
    /// The ID token is not to be trusted: signature, issuer, audience, nonce or expiry.
    #[error("invalid ID token: {0}")]
    InvalidIdToken(String),
    /// The tenant's OIDC settings cannot work (issuer URL, redirect URI, endpoints).
    #[error("OpenID Connect is misconfigured: {0}")]
    Misconfigured(String),
}

/// What must be kept between sending the browser to the provider and its return (the
/// caller stores it, e.g. in Redis under `state`, for at most [`PENDING_LOGIN_TTL_SECS`]).
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq)]
pub struct PendingLogin {
    /// The `state` sent to the provider; it comes back on the redirect.
    pub state: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier (the challenge sent was its SHA-256).
    pub pkce_verifier: String,
    /// The redirect URI the code was issued for (sent again with the code).
    pub redirect_uri: String,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("state", &self.state)
            .field("nonce", &"…")
            .field("pkce_verifier", &"…")
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

/// Every claim that is not a standard one (`groups`, `roles`, …), kept as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OtherClaims(pub Map<String, Value>);

impl AdditionalClaims for OtherClaims {}

/// An ID token as Confer reads it: the standard claims plus [`OtherClaims`].
pub type ConferIdToken =
    IdToken<OtherClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;
/// The claims of a verified [`ConferIdToken`].
pub type ConferIdTokenClaims = IdTokenClaims<OtherClaims, CoreGenderClaim>;
type ConferUserInfo = UserInfoClaims<OtherClaims, CoreGenderClaim>;
/// A client made from discovery: authorization and token endpoints, maybe userinfo.
type ProviderClient =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// The signature algorithms accepted for ID tokens: asymmetric ones only (an HMAC
/// would make the client secret a signing key).
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// A request that got no answer: refused by the guard (the settings must change) or
/// not answered. The tenant's message says which endpoint and what failed, nothing
/// the remote side said.
fn request_failed(what: &str, e: &OutboundError) -> OidcLoginError {
    tracing::warn!(error = %e.detail(), "OIDC: {what}: no answer");
    if e.is_refused() {
        OidcLoginError::Misconfigured(format!("{what}: {e}"))
    } else {
        OidcLoginError::ProviderUnavailable(format!("{what}: {e}"))
    }
}

/// An answer that was not what the protocol expects. What it held goes to the log.
fn unusable_answer(what: &str, detail: &dyn std::fmt::Display) -> OidcLoginError {
    tracing::warn!(%detail, "OIDC: {what}: unusable answer");
    OidcLoginError::ProviderUnavailable(format!("{what}: the provider's answer was not usable"))
}

static DISCOVERY: LazyLock<moka::sync::Cache<String, Arc<CoreProviderMetadata>>> =
    LazyLock::new(|| moka::sync::Cache::builder().max_capacity(10_000).time_to_live(DISCOVERY_TTL).build());

/// The issuer URL, when it may be used: `https`, or `http` on loopback (tests, a
/// provider on the same host).
fn issuer_url(issuer: &str) -> Result<IssuerUrl, OidcLoginError> {
    let url = IssuerUrl::new(issuer.to_owned())
        .map_err(|e| OidcLoginError::Misconfigured(format!("issuer {issuer:?} is not a URL: {e}")))?;
    let parsed = url.url();
    let loopback = match parsed.host() {
        Some(openidconnect::url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(openidconnect::url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(openidconnect::url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(OidcLoginError::Misconfigured(format!("issuer {issuer:?} must be an https URL"))),
    }
}

/// The provider's discovery document with its JWKS, from the cache unless `fresh`.
/// Answers whether it came from the cache.
async fn discover(
    http: &OutboundHttp,
    issuer: &str,
    fresh: bool,
) -> Result<(Arc<CoreProviderMetadata>, bool), OidcLoginError> {
    let url = issuer_url(issuer)?;
    if !fresh && let Some(cached) = DISCOVERY.get(issuer) {
        return Ok((cached, true));
    }
    let what = format!("discovery of {issuer}");
    let metadata = CoreProviderMetadata::discover_async(url, &|request| http.send(request)).await.map_err(|e| {
        use openidconnect::DiscoveryError as D;
        match e {
            D::Request(e) => request_failed(&what, &e),
            D::Response(status, _, msg) => unusable_answer(&what, &format_args!("HTTP {status}: {msg}")),
            D::Parse(e) => unusable_answer(&what, &e),
            D::Validation(msg) => {
                tracing::warn!(%msg, "OIDC: {what}");
                OidcLoginError::Misconfigured(format!("{what}: the provider names a different issuer"))
            }
            D::UrlParse(_) => OidcLoginError::Misconfigured(format!("{what}: the discovery URL is not valid")),
            other => unusable_answer(&what, &other),
        }
    })?;
    let metadata = Arc::new(metadata);
    DISCOVERY.insert(issuer.to_owned(), metadata.clone());
    Ok((metadata, false))
}

/// The provider's discovery document (with its JWKS), cached for a few minutes.
pub async fn provider_metadata(
    http: &OutboundHttp,
    settings: &OidcSettings,
) -> Result<Arc<CoreProviderMetadata>, OidcLoginError> {
    discover(http, &settings.issuer, false).await.map(|(m, _)| m)
}

/// What an OAuth error code (RFC 6749 §5.2) means, in the platform's words: the
/// provider's own `error_description` is not shown.
fn token_refusal(error: &openidconnect::core::CoreErrorResponseType) -> &'static str {
    use openidconnect::core::CoreErrorResponseType as E;
    match error {
        E::InvalidGrant => "invalid_grant: the code is used, expired or another login's",
        E::InvalidClient => "invalid_client: the client ID or secret is not accepted",
        E::UnauthorizedClient => "unauthorized_client: this client may not use the authorization code flow",
        E::InvalidRequest => "invalid_request: the provider did not accept the request",
        E::InvalidScope => "invalid_scope: the provider did not accept the scopes",
        E::UnsupportedGrantType => "unsupported_grant_type: the provider does not offer the authorization code flow",
        E::Extension(_) => "the provider refused the code",
    }
}

fn redirect_url(redirect_uri: &str) -> Result<RedirectUrl, OidcLoginError> {
    RedirectUrl::new(redirect_uri.to_owned())
        .map_err(|e| OidcLoginError::Misconfigured(format!("redirect URI {redirect_uri:?}: {e}")))
}

/// Starts a login: the provider's authorization URL to send the browser to, and what
/// to keep until it comes back.
pub async fn begin(
    http: &OutboundHttp,
    settings: &OidcSettings,
    redirect_uri: &str,
) -> Result<(String, PendingLogin), OidcLoginError> {
    let redirect = redirect_url(redirect_uri)?;
    let (metadata, _) = discover(http, &settings.issuer, false).await?;
    let client =
        CoreClient::from_provider_metadata((*metadata).clone(), ClientId::new(settings.client_id.clone()), None)
            .set_redirect_uri(redirect);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request =
        client.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random);
    for scope in settings.scopes.iter().map(|s| s.trim()).filter(|s| !s.is_empty() && *s != "openid") {
        request = request.add_scope(Scope::new(scope.to_owned()));
    }
    let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
    let pending = PendingLogin {
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        redirect_uri: redirect_uri.to_owned(),
    };
    Ok((url.to_string(), pending))
}

/// Finishes a login: exchanges the `code` the provider sent back (with the PKCE
/// verifier and the client secret), verifies the ID token, and says who logged in.
///
/// The caller must have found `pending` by the `state` the provider sent back.
pub async fn finish(
    http: &OutboundHttp,
    settings: &OidcSettings,
    client_secret: Option<&str>,
    pending: &PendingLogin,
    code: &str,
) -> Result<LoggedIn, OidcLoginError> {
    let (metadata, cached) = discover(http, &settings.issuer, false).await?;
    let client = client_for(&metadata, settings, client_secret)?.set_redirect_uri(redirect_url(&pending.redirect_uri)?);
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|e| OidcLoginError::Misconfigured(e.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
        .request_async(&|request| http.send(request))
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => {
                tracing::info!(issuer = %settings.issuer, error = %r.error(), description = ?r.error_description(), "OIDC: the token endpoint refused the code");
                OidcLoginError::Refused(token_refusal(r.error()).to_owned())
            }
            RequestTokenError::Request(e) => request_failed("token endpoint", &e),
            RequestTokenError::Parse(e, _) => unusable_answer("token endpoint", &e),
            RequestTokenError::Other(msg) => unusable_answer("token endpoint", &msg),
        })?;
    let raw = tokens
        .id_token()
        .ok_or_else(|| OidcLoginError::InvalidIdToken("the provider sent no ID token".into()))?
        .to_string();
    let access_token = tokens.access_token();

    let claims = match verify(&metadata, &settings.client_id, &raw, &pending.nonce, Some(access_token)) {
        // The provider may have rotated its keys since discovery was cached.
        Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) if cached => {
            let (metadata, _) = discover(http, &settings.issuer, true).await?;
            verify(&metadata, &settings.client_id, &raw, &pending.nonce, Some(access_token))
        }
        other => other,
    }
    .map_err(invalid_id_token)?;

    let id_claims = claims_json(&claims);
    let needs_claim = settings.moderator_claim.as_deref().is_some_and(|c| find_claim(&id_claims, c).is_none());
    let wants_profile = (claims.name().is_none() && claims.preferred_username().is_none()) || claims.email().is_none();
    let userinfo = if needs_claim || wants_profile {
        match userinfo(http, &client, access_token, &claims).await {
            Ok(info) => info,
            Err(e) if needs_claim => return Err(e),
            Err(e) => {
                tracing::warn!(issuer = %settings.issuer, error = %e, "OIDC userinfo failed; logging in with the ID token's claims");
                None
            }
        }
    } else {
        None
    };
    Ok(logged_in(settings, &claims, userinfo.as_ref()))
}

fn client_for(
    metadata: &CoreProviderMetadata,
    settings: &OidcSettings,
    client_secret: Option<&str>,
) -> Result<ProviderClient, OidcLoginError> {
    if metadata.token_endpoint().is_none() {
        return Err(OidcLoginError::Misconfigured("the provider has no token endpoint".into()));
    }
    let client = CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(settings.client_id.clone()),
        client_secret.map(|s| ClientSecret::new(s.to_owned())),
    );
    // HTTP Basic is the default every provider must accept (RFC 6749 §2.3.1); use the
    // form body only for a provider that says it takes nothing else.
    let methods = metadata.token_endpoint_auth_methods_supported();
    let post_only = methods.is_some_and(|m| {
        !m.contains(&CoreClientAuthMethod::ClientSecretBasic) && m.contains(&CoreClientAuthMethod::ClientSecretPost)
    });
    Ok(if post_only { client.set_auth_type(AuthType::RequestBody) } else { client })
}

/// Asks the userinfo endpoint for the claims the ID token left out. `None` when the
/// provider has no userinfo endpoint.
async fn userinfo(
    http: &OutboundHttp,
    client: &ProviderClient,
    access_token: &AccessToken,
    claims: &ConferIdTokenClaims,
) -> Result<Option<ConferUserInfo>, OidcLoginError> {
    let Ok(request) = client.user_info(access_token.clone(), Some(claims.subject().clone())) else {
        return Ok(None);
    };
    let info: ConferUserInfo = request.request_async(&|request| http.send(request)).await.map_err(|e| match e {
        UserInfoError::ClaimsVerification(e) => OidcLoginError::InvalidIdToken(format!("userinfo: {e}")),
        UserInfoError::Request(e) => request_failed("userinfo", &e),
        UserInfoError::Response(status, _, msg) => unusable_answer("userinfo", &format_args!("HTTP {status}: {msg}")),
        UserInfoError::Parse(e) => unusable_answer("userinfo", &e),
        other => unusable_answer("userinfo", &other),
    })?;
    Ok(Some(info))
}

fn invalid_id_token(e: ClaimsVerificationError) -> OidcLoginError {
    OidcLoginError::InvalidIdToken(match e {
        ClaimsVerificationError::SignatureVerification(e) => format!("signature: {e}"),
        other => other.to_string(),
    })
}

/// Verifies an ID token (the compact JWT) as [`finish`] does: its signature against
/// the provider's JWKS (asymmetric algorithms only), the issuer, the audience (this
/// client, and no other), the nonce, expiry and issue time. Answers its claims.
pub fn verify_id_token(
    metadata: &CoreProviderMetadata,
    client_id: &str,
    id_token: &str,
    nonce: &str,
) -> Result<ConferIdTokenClaims, OidcLoginError> {
    verify(metadata, client_id, id_token, nonce, None).map_err(invalid_id_token)
}

fn verify(
    metadata: &CoreProviderMetadata,
    client_id: &str,
    id_token: &str,
    nonce: &str,
    access_token: Option<&AccessToken>,
) -> Result<ConferIdTokenClaims, ClaimsVerificationError> {
    let token: ConferIdToken =
        id_token.parse().map_err(|e| ClaimsVerificationError::Other(format!("not a readable JWT: {e}")))?;
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(client_id.to_owned()),
        metadata.issuer().clone(),
        metadata.jwks().clone(),
    )
    .set_allowed_algs(ALLOWED_ALGS)
    .set_issue_time_verifier_fn(|iat| {
        if iat > chrono::Utc::now() + MAX_ISSUED_AHEAD { Err(format!("issued in the future ({iat})")) } else { Ok(()) }
    });
    let claims = token.claims(&verifier, &Nonce::new(nonce.to_owned()))?;
    // The access token is bound to the ID token when the provider says so (`at_hash`).
    if let (Some(expected), Some(access_token)) = (claims.access_token_hash(), access_token) {
        let alg = token.signing_alg().map_err(ClaimsVerificationError::SignatureVerification)?;
        let key = token.signing_key(&verifier).map_err(ClaimsVerificationError::SignatureVerification)?;
        let actual = AccessTokenHash::from_token(access_token, alg, key)
            .map_err(|e| ClaimsVerificationError::Other(format!("at_hash: {e}")))?;
        if actual != *expected {
            return Err(ClaimsVerificationError::Other("the access token does not match at_hash".into()));
        }
    }
    Ok(claims.clone())
}

/// All claims as one JSON object (standard and other alike), for the moderator rule.
fn claims_json<T: Serialize>(claims: &T) -> Map<String, Value> {
    match serde_json::to_value(claims) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// A claim by name; a name with dots that is not itself a claim walks nested objects
/// (Keycloak's `realm_access.roles`).
fn find_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(name) {
        return Some(v);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// The moderator rule. With no claim configured every authenticated person moderates
/// (Jitsi's rule). Otherwise the claim must equal `value`, or, when it is a list, hold
/// it; a claim configured without a value must be `true`. An absent claim grants
/// nothing.
pub fn moderator_granted(claim: Option<&str>, value: Option<&str>, claims: &Map<String, Value>) -> bool {
    let Some(claim) = claim.map(str::trim).filter(|c| !c.is_empty()) else { return true };
    let Some(found) = find_claim(claims, claim) else { return false };
    let Some(wanted) = value else { return found == &Value::Bool(true) };
    let matches = |v: &Value| match v {
        Value::String(s) => s == wanted,
        Value::Bool(b) => b.to_string() == wanted,
        Value::Number(n) => n.to_string() == wanted,
        _ => false,
    };
    match found {
        Value::Array(items) => items.iter().any(matches),
        other => matches(other),
    }
}

/// Who logged in: the ID token's claims first, the userinfo endpoint's for what the
/// ID token lacks.
fn logged_in(settings: &OidcSettings, claims: &ConferIdTokenClaims, userinfo: Option<&ConferUserInfo>) -> LoggedIn {
    let subject = claims.subject().to_string();
    let info = userinfo.map(|u| u.standard_claims());
    let name = claims
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.to_string())
        .or_else(|| info.and_then(|i| i.name()).and_then(|n| n.get(None)).map(|n| n.to_string()))
        .or_else(|| claims.preferred_username().map(|u| u.to_string()))
        .or_else(|| info.and_then(|i| i.preferred_username()).map(|u| u.to_string()))
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| subject.clone());
    // Only an address the provider says it verified is theirs: a meeting names its
    // moderators by email, so an unverified (or unstated) one could make anyone who
    // registers that address at the provider a moderator.
    let email = match (claims.email(), info.and_then(|i| i.email())) {
        (Some(e), _) if claims.email_verified() == Some(true) => Some(e.to_string()),
        (None, Some(e)) if info.and_then(|i| i.email_verified()) == Some(true) => Some(e.to_string()),
        _ => None,
    };
    let mut all = userinfo.map(claims_json).unwrap_or_default();
    all.extend(claims_json(claims)); // the signed ID token wins over userinfo
    let moderator = moderator_granted(settings.moderator_claim.as_deref(), settings.moderator_value.as_deref(), &all);
    LoggedIn { subject, name, email, moderator }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn no_claim_configured_everyone_moderates() {
        assert!(moderator_granted(None, None, &Map::new()));
        assert!(moderator_granted(None, Some("moderators"), &claims(json!({"groups": []}))));
        assert!(moderator_granted(Some(" "), None, &Map::new()));
    }

    #[test]
    fn string_claim_must_equal_the_value() {
        let c = claims(json!({"role": "moderator"}));
        assert!(moderator_granted(Some("role"), Some("moderator"), &c));
        assert!(!moderator_granted(Some("role"), Some("Moderator"), &c));
        assert!(!moderator_granted(Some("role"), Some("admin"), &c));
    }

    #[test]
    fn list_claim_must_hold_the_value() {
        let c = claims(json!({"groups": ["staff", "moderators"]}));
        assert!(moderator_granted(Some("groups"), Some("moderators"), &c));
        assert!(!moderator_granted(Some("groups"), Some("admins"), &c));
        assert!(!moderator_granted(Some("groups"), Some("moderators"), &claims(json!({"groups": []}))));
        assert!(!moderator_granted(Some("groups"), Some("moderators"), &claims(json!({"groups": [["moderators"]]}))));
    }

    #[test]
    fn absent_claim_grants_nothing() {
        assert!(!moderator_granted(Some("groups"), Some("moderators"), &claims(json!({"sub": "ann"}))));
        assert!(!moderator_granted(Some("groups"), None, &Map::new()));
        assert!(!moderator_granted(Some("groups"), Some("moderators"), &claims(json!({"groups": null}))));
    }

    #[test]
    fn claim_without_value_must_be_true() {
        assert!(moderator_granted(Some("is_moderator"), None, &claims(json!({"is_moderator": true}))));
        assert!(!moderator_granted(Some("is_moderator"), None, &claims(json!({"is_moderator": false}))));
        assert!(!moderator_granted(Some("is_moderator"), None, &claims(json!({"is_moderator": "yes"}))));
    }

    #[test]
    fn scalar_claims_compare_as_text_and_nested_claims_by_path() {
        assert!(moderator_granted(Some("level"), Some("3"), &claims(json!({"level": 3}))));
        assert!(moderator_granted(Some("staff"), Some("true"), &claims(json!({"staff": true}))));
        let keycloak = claims(json!({"realm_access": {"roles": ["offline_access", "moderator"]}}));
        assert!(moderator_granted(Some("realm_access.roles"), Some("moderator"), &keycloak));
        assert!(!moderator_granted(Some("realm_access.groups"), Some("moderator"), &keycloak));
        // A claim whose own name has a dot is found as it is.
        assert!(moderator_granted(
            Some("https://example.org/roles"),
            Some("mod"),
            &claims(json!({"https://example.org/roles": ["mod"]}))
        ));
    }

    #[test]
    fn issuer_must_be_https_unless_on_loopback() {
        assert!(issuer_url("https://id.example.org").is_ok());
        assert!(issuer_url("http://127.0.0.1:8080").is_ok());
        assert!(issuer_url("http://[::1]:8080").is_ok());
        assert!(issuer_url("http://localhost:8080/realms/x").is_ok());
        assert!(matches!(issuer_url("http://id.example.org"), Err(OidcLoginError::Misconfigured(_))));
        assert!(matches!(issuer_url("ftp://id.example.org"), Err(OidcLoginError::Misconfigured(_))));
        assert!(matches!(issuer_url("not a url"), Err(OidcLoginError::Misconfigured(_))));
    }

    #[test]
    fn pending_login_debug_hides_its_secrets() {
        let p = PendingLogin {
            state: "st".into(),
            nonce: "secret-nonce".into(),
            pkce_verifier: "secret-verifier".into(),
            redirect_uri: "https://x/cb".into(),
        };
        let shown = format!("{p:?}");
        assert!(!shown.contains("secret-nonce") && !shown.contains("secret-verifier"), "{shown}");
    }
}

//! `GET/PATCH /v1/settings`: how the tenant's people log in and meet. Secrets are
//! write-only: sealed with the tenant's data key, never returned. The part the
//! tenant's media nodes apply is `confer_vocabulary::node_api::NodeSettings`.

use super::auth::{Authenticated, NodeOrAdmin};
use super::command::{Command, CommandRequest, Reply, Started};
use super::extract::{JsonBody, if_match};
use super::{ApiError, AppState};
use crate::domain::{
    AuthMode, DomainEvent, FieldError, LdapSettings, OidcSettings, SealedSecret, StreamId, TenantSettings,
    refuse_control_characters,
};
use crate::secrets::DataKey;
use crate::store::{ExpectedVersion, Scope, StoreError, tenants};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use confer_outbound::OutboundGuard;
use confer_vocabulary::node_api::{NodeSettings, paths};
use serde::{Deserialize, Deserializer, Serialize};
use std::net::SocketAddr;
use url::Url;
use utoipa::ToSchema;

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
pub(crate) fn double_option<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The LDAP block as written by the admin.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LdapInput {
    /// `ldap://host:port` or `ldaps://host:port`.
    pub url: String,
    pub bind_dn: Option<String>,
    /// Write-only. Omit to keep the stored one.
    pub bind_password: Option<String>,
    pub base_dn: String,
    /// Default `(uid=%u)`; `%u` is the escaped user name.
    pub user_filter: Option<String>,
    pub user_dn_template: Option<String>,
    pub moderator_group: Option<String>,
    #[serde(default)]
    pub starttls: bool,
    pub ca_pem: Option<String>,
    /// 1–60, default 5.
    pub timeout_secs: Option<u32>,
}

/// The OIDC block as written by the admin.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcInput {
    pub issuer: String,
    pub client_id: String,
    /// Write-only. Omit to keep the stored one.
    pub client_secret: Option<String>,
    /// Default `["profile", "email"]`.
    pub scopes: Option<Vec<String>>,
    pub moderator_claim: Option<String>,
    pub moderator_value: Option<String>,
}

/// A partial update: fields left out keep their value; `ldap`/`oidc` set to `null` remove the block.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchSettings {
    pub auth: Option<AuthMode>,
    pub guests_allowed: Option<bool>,
    /// 2–500.
    #[schema(minimum = 2, maximum = 500)]
    pub max_participants: Option<u32>,
    pub lobby: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<LdapInput>)]
    pub ldap: Option<Option<LdapInput>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<OidcInput>)]
    pub oidc: Option<Option<OidcInput>>,
    /// The sites that may show the meeting pages in a frame: up to 10 origins
    /// (`https://intranet.example.org`); `[]`: only the site itself.
    pub embed_origins: Option<Vec<String>>,
}

/// The LDAP block as shown (no password).
#[derive(Debug, Serialize, ToSchema)]
pub struct LdapView {
    pub url: String,
    pub bind_dn: Option<String>,
    pub has_bind_password: bool,
    pub base_dn: String,
    pub user_filter: String,
    pub user_dn_template: Option<String>,
    pub moderator_group: Option<String>,
    pub starttls: bool,
    pub ca_pem: Option<String>,
    pub timeout_secs: u32,
}

/// The OIDC block as shown (no secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct OidcView {
    pub issuer: String,
    pub client_id: String,
    pub has_client_secret: bool,
    pub scopes: Vec<String>,
    pub moderator_claim: Option<String>,
    pub moderator_value: Option<String>,
}

/// The tenant's settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsView {
    /// What the tenant's media nodes apply (`auth`, `guests_allowed`,
    /// `max_participants`, `lobby`), in the one shape they read it in.
    #[serde(flatten)]
    pub node: NodeSettings,
    pub ldap: Option<LdapView>,
    pub oidc: Option<OidcView>,
    /// Pass as `If-Match` to update only this version.
    pub version: i64,
}

fn view(s: TenantSettings, version: i64) -> SettingsView {
    SettingsView {
        node: NodeSettings {
            auth: s.auth,
            guests_allowed: s.guests_allowed,
            max_participants: s.max_participants,
            lobby: s.lobby,
            embed_origins: s.embed_origins,
        },
        ldap: s.ldap.map(|l| LdapView {
            has_bind_password: l.bind_password.is_some(),
            url: l.url,
            bind_dn: l.bind_dn,
            base_dn: l.base_dn,
            user_filter: l.user_filter,
            user_dn_template: l.user_dn_template,
            moderator_group: l.moderator_group,
            starttls: l.starttls,
            ca_pem: l.ca_pem,
            timeout_secs: l.timeout_secs,
        }),
        oidc: s.oidc.map(|o| OidcView {
            has_client_secret: o.client_secret.is_some(),
            issuer: o.issuer,
            client_id: o.client_id,
            scopes: o.scopes,
            moderator_claim: o.moderator_claim,
            moderator_value: o.moderator_value,
        }),
        version,
    }
}

fn required(field: &'static str, value: String) -> Result<String, FieldError> {
    crate::domain::parse_text(field, &value, 1000)
}

/// A URL of a host (and a path) and nothing more: no user, password, query or
/// fragment, which would be sent, or change what is fetched.
fn bare_url(url: &Url) -> bool {
    url.username().is_empty() && url.password().is_none() && url.query().is_none() && url.fragment().is_none()
}

fn optional_text(field: &'static str, value: Option<String>) -> Result<Option<String>, FieldError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => {
            refuse_control_characters(field, v)?;
            Ok(Some(v.to_owned()))
        }
    }
}

fn optional_dn(field: &'static str, value: Option<String>) -> Result<Option<String>, FieldError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(dn) => crate::domain::parse_distinguished_name(field, dn).map(Some),
    }
}

/// A secret the admin sent: sealed. Not sent: the stored one is kept only while it still
/// goes where it went (`same_destination`); otherwise the admin must send it again, so
/// that whoever can change the settings cannot redirect the secret to a server of theirs.
fn follow_secret(
    field: &'static str,
    sent: Option<String>,
    stored: Option<&SealedSecret>,
    same_destination: bool,
    moved: &str,
    key: &DataKey,
) -> Result<Option<SealedSecret>, FieldError> {
    match sent {
        Some(s) if s.is_empty() => Err(FieldError::new(field, format!("{field} must not be empty"))),
        Some(s) => {
            refuse_control_characters(field, &s)?;
            Ok(Some(key.seal(&s)))
        }
        None if stored.is_some() && !same_destination => Err(FieldError::new(
            field,
            format!("{field} must be sent again when {moved} changes (the stored one is not sent to a new place)"),
        )),
        None => Ok(stored.cloned()),
    }
}

/// Refuses an address the outbound guard would refuse at login anyway, so that the
/// admin learns it now. Names are checked when they are resolved, at each login.
/// (For `ldap://` URLs the `url` crate keeps an IPv4 host as an opaque name, so the
/// host's text is read here.)
fn reachable_literal(
    field: &'static str,
    host: Option<&str>,
    port: u16,
    guard: &OutboundGuard,
) -> Result<(), FieldError> {
    let Some(host) = host.filter(|h| !h.is_empty()) else {
        return Err(FieldError::new(field, format!("{field} must name a host")));
    };
    let Some(ip) = confer_outbound::ip_literal(host) else { return Ok(()) };
    guard
        .check(SocketAddr::new(ip, port))
        .map_err(|refusal| FieldError::new(field, format!("{field} cannot be used: {refusal}")))
}

fn ldap_settings(
    input: LdapInput,
    previous: Option<&LdapSettings>,
    key: &DataKey,
    guard: &OutboundGuard,
) -> Result<LdapSettings, FieldError> {
    let url = input.url.trim().to_owned();
    refuse_control_characters("ldap.url", &url)?;
    let parsed = Url::parse(&url).ok().filter(|u| matches!(u.scheme(), "ldap" | "ldaps"));
    let Some(parsed) = parsed.filter(|u| u.host_str().is_some_and(|h| !h.is_empty())) else {
        return Err(FieldError::new("ldap.url", "ldap.url must be ldap://host[:port] or ldaps://host[:port]"));
    };
    if !bare_url(&parsed) {
        return Err(FieldError::new(
            "ldap.url",
            "ldap.url must be ldap://host[:port] or ldaps://host[:port], nothing more",
        ));
    }
    let port = parsed.port().unwrap_or(if parsed.scheme() == "ldaps" { 636 } else { 389 });
    reachable_literal("ldap.url", parsed.host_str(), port, guard)?;
    let user_filter = input.user_filter.unwrap_or_else(|| "(uid=%u)".into());
    refuse_control_characters("ldap.user_filter", &user_filter)?;
    if !user_filter.starts_with('(') || !user_filter.ends_with(')') || !user_filter.contains("%u") {
        return Err(FieldError::new(
            "ldap.user_filter",
            "ldap.user_filter must be a parenthesised filter containing %u",
        ));
    }
    let user_dn_template = match input.user_dn_template.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) => Some(crate::domain::parse_distinguished_name_template("ldap.user_dn_template", t)?),
    };
    if let Some(pem) = &input.ca_pem {
        // A PEM keeps its line breaks; nothing else.
        refuse_control_characters("ldap.ca_pem", &pem.replace(['\n', '\r', '\t'], ""))?;
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(FieldError::new("ldap.ca_pem", "ldap.ca_pem must be a PEM certificate"));
        }
    }
    let timeout_secs = input.timeout_secs.unwrap_or(5);
    if !(1..=60).contains(&timeout_secs) {
        return Err(FieldError::new("ldap.timeout_secs", "ldap.timeout_secs must be 1 to 60"));
    }
    let bind_dn = optional_dn("ldap.bind_dn", input.bind_dn)?;
    // The service account's password goes to `url` as `bind_dn`, over the TLS chosen.
    let same_destination = previous.is_some_and(|p| {
        p.url == url
            && p.bind_dn == bind_dn
            && (p.starttls == input.starttls || input.starttls)
            && p.ca_pem == input.ca_pem
    });
    let bind_password = match (&bind_dn, input.bind_password) {
        // Without a service account there is nothing to send a password as.
        (None, Some(_)) => {
            return Err(FieldError::new("ldap.bind_password", "ldap.bind_password is only used with ldap.bind_dn"));
        }
        (None, None) => None,
        (Some(_), sent) => follow_secret(
            "ldap.bind_password",
            sent,
            previous.and_then(|p| p.bind_password.as_ref()),
            same_destination,
            "ldap.url, ldap.bind_dn or the TLS settings",
            key,
        )?,
    };
    Ok(LdapSettings {
        url,
        bind_password,
        bind_dn,
        base_dn: crate::domain::parse_distinguished_name("ldap.base_dn", &input.base_dn)?,
        user_filter,
        user_dn_template,
        moderator_group: optional_dn("ldap.moderator_group", input.moderator_group)?,
        starttls: input.starttls,
        ca_pem: input.ca_pem,
        timeout_secs,
    })
}

/// Most sites a tenant may list for embedding.
const MAX_EMBED_ORIGINS: usize = 10;

/// The sites allowed to frame the pages: each an origin (`https://host[:port]`, or
/// `http://` for localhost), nothing more, as the browser writes it in
/// `frame-ancestors`.
fn embed_origins(origins: Vec<String>) -> Result<Vec<String>, FieldError> {
    const FIELD: &str = "embed_origins";
    if origins.len() > MAX_EMBED_ORIGINS {
        return Err(FieldError::new(FIELD, format!("{FIELD} holds at most {MAX_EMBED_ORIGINS} sites")));
    }
    let mut parsed = Vec::with_capacity(origins.len());
    for origin in origins {
        refuse_control_characters(FIELD, &origin)?;
        let refuse = || {
            FieldError::new(FIELD, format!("{FIELD}: {origin:?} is not an origin like https://intranet.example.org"))
        };
        let url = Url::parse(origin.trim()).map_err(|_| refuse())?;
        let local = url.host_str().is_some_and(|h| h == "localhost" || h.ends_with(".localhost"));
        let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && local);
        let bare = bare_url(&url) && url.path() == "/" && !origin.contains('*');
        if !scheme_ok || !bare || url.host_str().is_none_or(str::is_empty) {
            return Err(refuse());
        }
        let origin = url.origin().ascii_serialization();
        if !parsed.contains(&origin) {
            parsed.push(origin);
        }
    }
    Ok(parsed)
}

/// The issuer: an http(s) URL with a host and a path, nothing else (a query or a
/// fragment would make discovery fetch another path than the well-known one).
fn issuer(value: &str, guard: &OutboundGuard) -> Result<String, FieldError> {
    const FIELD: &str = "oidc.issuer";
    let issuer = value.trim().trim_end_matches('/').to_owned();
    refuse_control_characters(FIELD, &issuer)?;
    let refuse = || {
        FieldError::new(
            FIELD,
            "oidc.issuer must be an http(s) URL of a host and a path, without a query, a fragment or a user",
        )
    };
    let url = Url::parse(&issuer).map_err(|_| refuse())?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none_or(str::is_empty)
        || !bare_url(&url)
        || issuer.contains(['?', '#'])
    {
        return Err(refuse());
    }
    let port = url.port_or_known_default().unwrap_or(443);
    reachable_literal(FIELD, url.host_str(), port, guard)?;
    Ok(issuer)
}

fn oidc_settings(
    input: OidcInput,
    previous: Option<&OidcSettings>,
    key: &DataKey,
    guard: &OutboundGuard,
) -> Result<OidcSettings, FieldError> {
    let issuer = issuer(&input.issuer, guard)?;
    let client_id = required("oidc.client_id", input.client_id)?;
    // The client secret goes to the issuer's token endpoint, for this client.
    let same_destination = previous.is_some_and(|p| p.issuer == issuer && p.client_id == client_id);
    let client_secret = follow_secret(
        "oidc.client_secret",
        input.client_secret,
        previous.and_then(|p| p.client_secret.as_ref()),
        same_destination,
        "oidc.issuer or oidc.client_id",
        key,
    )?;
    let scopes = input.scopes.unwrap_or_else(|| vec!["profile".into(), "email".into()]);
    if scopes.iter().any(|s| s.is_empty() || !s.bytes().all(|b| b.is_ascii_graphic())) {
        return Err(FieldError::new("oidc.scopes", "oidc.scopes must be non-empty words without spaces"));
    }
    Ok(OidcSettings {
        issuer,
        client_id,
        client_secret,
        scopes,
        moderator_claim: optional_text("oidc.moderator_claim", input.moderator_claim)?,
        moderator_value: match input.moderator_value {
            Some(v) => {
                refuse_control_characters("oidc.moderator_value", &v)?;
                Some(v)
            }
            None => None,
        },
    })
}

fn apply(
    current: &TenantSettings,
    patch: PatchSettings,
    key: &DataKey,
    guard: &OutboundGuard,
) -> Result<TenantSettings, FieldError> {
    let mut next = current.clone();
    if let Some(auth) = patch.auth {
        next.auth = auth;
    }
    if let Some(g) = patch.guests_allowed {
        next.guests_allowed = g;
    }
    if let Some(n) = patch.max_participants {
        if !(2..=500).contains(&n) {
            return Err(FieldError::new("max_participants", "max_participants must be 2 to 500"));
        }
        next.max_participants = n;
    }
    if let Some(l) = patch.lobby {
        next.lobby = l;
    }
    if let Some(ldap) = patch.ldap {
        next.ldap = ldap.map(|l| ldap_settings(l, current.ldap.as_ref(), key, guard)).transpose()?;
    }
    if let Some(origins) = patch.embed_origins {
        next.embed_origins = embed_origins(origins)?;
    }
    if let Some(oidc) = patch.oidc {
        next.oidc = oidc.map(|o| oidc_settings(o, current.oidc.as_ref(), key, guard)).transpose()?;
    }
    next.check_complete()?;
    Ok(next)
}

/// The tenant's settings.
#[utoipa::path(get, path = paths::SETTINGS, tag = "settings", security(("api_key" = [])),
    responses((status = 200, body = SettingsView)))]
pub async fn get(state: web::Data<AppState>, auth: NodeOrAdmin) -> Result<HttpResponse, ApiError> {
    let tx = state.store.begin(Scope::Tenant(auth.tenant_id)).await?;
    let row = tenants::find(&tx, auth.tenant_id).await?.ok_or(ApiError::NotFound("tenant"))?;
    tx.commit().await?;
    let version = row.version;
    Ok(HttpResponse::Ok().insert_header(("ETag", format!("\"{version}\""))).json(view(row.settings()?, version)))
}

/// Changes some settings. With `If-Match`, only if they are still at that version.
#[utoipa::path(patch, path = paths::SETTINGS, tag = "settings", security(("api_key" = [])), request_body = PatchSettings,
    responses((status = 200, body = SettingsView), (status = 412, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn patch(
    state: web::Data<AppState>,
    http: HttpRequest,
    auth: Authenticated,
    req: CommandRequest,
    body: JsonBody<PatchSettings>,
) -> Result<HttpResponse, ApiError> {
    let expected = if_match(&http)?;
    let mut cmd = match Command::start(&state, &auth, req, &body.digest).await? {
        Started::Replayed(r) => return Ok(r),
        Started::Fresh(c) => c,
    };
    let row = tenants::find(cmd.tx().await?, auth.tenant_id).await?.ok_or(ApiError::NotFound("tenant"))?;
    if let Some(v) = expected
        && v != row.version
    {
        return Err(ApiError::Stale { expected: v });
    }
    let key = state.tenant_keys.load(cmd.tx().await?, auth.tenant_id).await?;
    let current = row.settings()?;
    let next = apply(&current, body.value, &key, state.outbound.guard())?;
    let mut version = row.version;
    let changed = next != current;
    if changed {
        let event = DomainEvent::TenantSettingsChanged { settings: Box::new(next.clone()) };
        match cmd.append(&StreamId::tenant(auth.tenant_id), ExpectedVersion::Exactly(row.version), &[event]).await {
            Err(StoreError::Conflict { .. }) if expected.is_some() => {
                return Err(ApiError::Stale { expected: row.version });
            }
            other => version = other?.last().map(|r| r.event.stream_version).unwrap_or(version),
        }
    }
    let reply = Reply::json(StatusCode::OK, &view(next, version))?.with_version(version);
    let response = cmd.finish(&state, reply).await?;
    // Committed: the tenant's media nodes may read the new settings now.
    if changed && let Some(announcer) = &state.node_announcer {
        announcer.settings_changed(&row.slug);
    }
    Ok(response)
}

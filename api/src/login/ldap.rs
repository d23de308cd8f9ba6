//! LDAP login: checks a user name and password against the tenant's directory.
//!
//! Two ways, chosen by the tenant's [`LdapSettings`]:
//!
//! - **Search, then bind** (`bind_dn` set): bind as the service account, search
//!   `base_dn` (subtree) with `user_filter`, in which `%u` is the user name escaped
//!   for a filter (RFC 4515), require exactly one entry, then bind as that entry's DN
//!   with the user's password.
//! - **Direct bind** (`bind_dn` absent, `user_dn_template` set): bind as the DN made
//!   from the template, in which `%u` is the user name escaped for a DN (RFC 4514),
//!   then read that entry itself (base scope) for its name and email, and the group,
//!   as that user.
//!
//! Moderators: with `moderator_group` set, the person moderates when their DN is a
//! `member` of that `groupOfNames` (asked of the server with a base-scope search on the
//! group, so the server compares DNs by its own matching rules); without it, every
//! authenticated person moderates (Jitsi's rule).
//!
//! Never hangs: the connection (TCP, StartTLS and the TLS handshake) and every
//! operation are each bounded by `timeout_secs` (clamped to 1..=120 s; a login makes
//! at most one connection and four operations). TLS uses rustls with an explicitly chosen
//! crypto provider (ring), so no process-wide default provider needs installing; with
//! `ca_pem` set only that CA is trusted, otherwise the system's roots are.
//!
//! Passwords never appear in errors or logs.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use ldap3::{
    LdapConnAsync, LdapConnSettings, LdapError, LdapResult, Scope, SearchEntry, SearchOptions, SearchResult, StdStream,
};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::LoggedIn;
use crate::domain::LdapSettings;
use confer_outbound::{OutboundError, OutboundGuard};

/// The filter used when the tenant's `user_filter` is empty.
pub const DEFAULT_USER_FILTER: &str = "(uid=%u)";
/// Longest user name accepted (in characters); longer ones are refused unasked.
pub const MAX_USERNAME_CHARS: usize = 256;
/// Bounds on `timeout_secs`: 0 would mean "no time at all", and a login must not wait minutes.
const MIN_TIMEOUT_SECS: u32 = 1;
const MAX_TIMEOUT_SECS: u32 = 120;
/// The placeholder for the user name in `user_filter` and `user_dn_template`.
const PLACEHOLDER: &str = "%u";
/// Attributes read from the user's entry.
const USER_ATTRS: [&str; 3] = ["displayName", "cn", "mail"];

/// Why an LDAP login did not succeed. The messages name the server and what happened,
/// never a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LdapLoginError {
    /// Unknown user, wrong or empty password, or a user name matching zero or several
    /// entries. Deliberately says no more than that.
    #[error("invalid user name or password")]
    InvalidCredentials,
    /// The directory cannot be reached or did not answer in time, or TLS failed.
    #[error("LDAP directory unavailable: {0}")]
    Unavailable(String),
    /// The tenant's settings do not work with this directory (the service account's
    /// bind is refused, a template lacks `%u`, the CA PEM is unreadable, ...).
    #[error("LDAP settings do not work: {0}")]
    Misconfigured(String),
}

use LdapLoginError::{InvalidCredentials, Misconfigured, Unavailable};

/// Checks `username` and `password` against the tenant's directory.
///
/// `bind_password` is the service account's password, already unsealed by the caller
/// (needed when `settings.bind_dn` is set).
pub async fn authenticate(
    guard: &OutboundGuard,
    settings: &LdapSettings,
    bind_password: Option<&str>,
    username: &str,
    password: &str,
) -> Result<LoggedIn, LdapLoginError> {
    let outcome = login(guard, settings, bind_password, username, password).await;
    let server = settings.url.as_str();
    // Bounded, so that a megabyte of "user name" cannot flood the log.
    let username: String = username.chars().take(MAX_USERNAME_CHARS).collect();
    let username = username.as_str();
    match &outcome {
        Ok(who) => tracing::info!(
            server,
            username,
            subject = %who.subject,
            moderator = who.moderator,
            "ldap login succeeded"
        ),
        Err(InvalidCredentials) => tracing::info!(server, username, "ldap login refused: invalid credentials"),
        Err(error) => tracing::warn!(server, username, %error, "ldap login failed"),
    }
    outcome
}

/// What to do, worked out from the settings before any network traffic.
#[derive(PartialEq, Eq)]
enum Plan<'a> {
    SearchThenBind { service_dn: &'a str, service_password: &'a str, filter: String },
    DirectBind { user_dn: String },
}

/// Without the service account's password.
impl std::fmt::Debug for Plan<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SearchThenBind { service_dn, filter, .. } => f
                .debug_struct("SearchThenBind")
                .field("service_dn", service_dn)
                .field("service_password", &"<redacted>")
                .field("filter", filter)
                .finish(),
            Self::DirectBind { user_dn } => f.debug_struct("DirectBind").field("user_dn", user_dn).finish(),
        }
    }
}

fn plan<'a>(
    settings: &'a LdapSettings,
    bind_password: Option<&'a str>,
    username: &str,
) -> Result<Plan<'a>, LdapLoginError> {
    match settings.bind_dn.as_deref().map(str::trim).filter(|dn| !dn.is_empty()) {
        Some(service_dn) => {
            // Refused when saved; a row from before that check must not send one either.
            if service_dn.chars().any(char::is_control)
                || bind_password.is_some_and(|p| p.chars().any(char::is_control))
            {
                return Err(Misconfigured("the service account's DN or password holds a control character".into()));
            }
            // An empty password would make an unauthenticated bind, which "succeeds".
            let service_password = bind_password
                .filter(|p| !p.is_empty())
                .ok_or_else(|| Misconfigured(format!("the service account {service_dn} has no password configured")))?;
            let filter = user_filter(&settings.user_filter, username)?;
            Ok(Plan::SearchThenBind { service_dn, service_password, filter })
        }
        None => {
            let template = settings.user_dn_template.as_deref().filter(|t| !t.trim().is_empty()).ok_or_else(|| {
                Misconfigured("neither a service account (bind_dn) nor a user DN template is configured".into())
            })?;
            Ok(Plan::DirectBind { user_dn: user_dn(template, username)? })
        }
    }
}

/// The search filter for `username`: the template (or [`DEFAULT_USER_FILTER`]) with
/// every `%u` replaced by the user name escaped for a filter value (RFC 4515), so
/// that `*`, `(`, `)`, `\` and NUL in a user name stay literal.
pub fn user_filter(template: &str, username: &str) -> Result<String, LdapLoginError> {
    let template = template.trim();
    let template = if template.is_empty() { DEFAULT_USER_FILTER } else { template };
    if !template.contains(PLACEHOLDER) {
        return Err(Misconfigured(format!("the user filter {template:?} does not contain %u")));
    }
    let filter = template.replace(PLACEHOLDER, &ldap3::ldap_escape(username));
    // Parsed here so that a broken template is reported as such, not as an outage.
    ldap3::parse_filter(&filter)
        .map_err(|()| Misconfigured(format!("the user filter {template:?} is not a valid LDAP filter")))?;
    Ok(filter)
}

/// The DN to bind as for `username`: the template with every `%u` replaced by the
/// user name escaped for an attribute value in a DN (RFC 4514).
pub fn user_dn(template: &str, username: &str) -> Result<String, LdapLoginError> {
    let template = template.trim();
    if !template.contains(PLACEHOLDER) {
        return Err(Misconfigured(format!("the user DN template {template:?} does not contain %u")));
    }
    Ok(template.replace(PLACEHOLDER, &ldap3::dn_escape(username)))
}

/// A user name is refused without asking the server when it is empty or too long.
fn plausible_username(username: &str) -> bool {
    !username.is_empty() && username.chars().count() <= MAX_USERNAME_CHARS
}

async fn login(
    guard: &OutboundGuard,
    settings: &LdapSettings,
    bind_password: Option<&str>,
    username: &str,
    password: &str,
) -> Result<LoggedIn, LdapLoginError> {
    if !plausible_username(username) {
        tracing::debug!(server = %settings.url, "ldap login: empty or over-long user name, not asking the server");
        return Err(InvalidCredentials);
    }
    // Never send an empty password: to an LDAP server that is an unauthenticated bind,
    // which succeeds for any DN (RFC 4513 §5.1.2).
    if password.is_empty() {
        tracing::debug!(server = %settings.url, username, "ldap login: empty password, not asking the server");
        return Err(InvalidCredentials);
    }
    let plan = plan(settings, bind_password, username)?;
    let mut conn = Connection::open(guard, settings).await?;
    let who = match plan {
        Plan::SearchThenBind { service_dn, service_password, filter } => {
            search_then_bind(&mut conn, settings, service_dn, service_password, &filter, username, password).await?
        }
        Plan::DirectBind { user_dn } => direct_bind(&mut conn, settings, &user_dn, username, password).await?,
    };
    conn.close().await;
    Ok(who)
}

/// Search-then-bind on ONE connection, in this order: service bind, user search, group
/// check, user bind. The group is read while the connection still has the service
/// account's identity, because ordinary users are often not allowed to read group
/// entries; the user's bind comes last because it replaces the connection's identity
/// (LDAPv3 allows re-binding on a connection). The membership answer is only used if
/// that bind succeeds. One connection keeps a login to one TCP (and TLS) setup.
async fn search_then_bind(
    conn: &mut Connection,
    settings: &LdapSettings,
    service_dn: &str,
    service_password: &str,
    filter: &str,
    username: &str,
    password: &str,
) -> Result<LoggedIn, LdapLoginError> {
    let bound = conn.bind(service_dn, service_password, "the service account's bind").await?;
    match bound.rc {
        0 => {}
        rc::INVALID_CREDENTIALS => {
            return Err(Misconfigured(format!(
                "{} refused the service account {service_dn}: invalid credentials",
                conn.url
            )));
        }
        _ => return Err(conn.refused("the service account's bind", &bound)),
    }

    // At most 2 entries: enough to see "more than one", without pulling a directory
    // through a template like `(objectClass=*)`.
    let SearchResult(entries, result) =
        conn.search(&settings.base_dn, Scope::Subtree, filter, &USER_ATTRS, 2, "the user search").await?;
    match result.rc {
        0 | rc::SIZE_LIMIT_EXCEEDED => {}
        rc::NO_SUCH_OBJECT => {
            return Err(Misconfigured(format!(
                "{}: the base DN {} does not exist or the service account may not read it",
                conn.url, settings.base_dn
            )));
        }
        _ => return Err(conn.refused("the user search", &result)),
    }
    if entries.len() != 1 || result.rc == rc::SIZE_LIMIT_EXCEEDED {
        tracing::debug!(server = %conn.url, username, matches = entries.len(), "ldap login: user search did not find exactly one entry");
        return Err(InvalidCredentials);
    }
    let entry = construct_entry(entries.into_iter().next().expect("one entry"), &conn.url)?;
    let moderator = match settings.moderator_group.as_deref().map(str::trim).filter(|g| !g.is_empty()) {
        Some(group) => conn.is_member(group, &entry.dn).await?,
        None => true,
    };

    let bound = conn.bind(&entry.dn, password, "the user's bind").await?;
    user_bind_outcome(conn, &bound)?;
    Ok(logged_in(&entry.dn, &entry.attrs, username, moderator))
}

/// Direct bind by DN template, then the user reads their own entry and the group.
async fn direct_bind(
    conn: &mut Connection,
    settings: &LdapSettings,
    user_dn: &str,
    username: &str,
    password: &str,
) -> Result<LoggedIn, LdapLoginError> {
    let bound = conn.bind(user_dn, password, "the user's bind").await?;
    user_bind_outcome(conn, &bound)?;

    let SearchResult(entries, result) =
        conn.search(user_dn, Scope::Base, "(objectClass=*)", &USER_ATTRS, 1, "reading the user's entry").await?;
    let (subject, attrs) = match (result.rc, entries.into_iter().next()) {
        (0, Some(entry)) => {
            let entry = construct_entry(entry, &conn.url)?;
            (entry.dn, entry.attrs)
        }
        // The bind proved the password; a directory that does not let users read
        // their own entry only costs us the display name and email.
        (0 | rc::NO_SUCH_OBJECT | rc::INSUFFICIENT_ACCESS, _) => {
            tracing::debug!(server = %conn.url, username, rc = result.rc, "ldap login: the user cannot read their own entry");
            (user_dn.to_owned(), HashMap::new())
        }
        _ => return Err(conn.refused("reading the user's entry", &result)),
    };
    let moderator = match settings.moderator_group.as_deref().map(str::trim).filter(|g| !g.is_empty()) {
        Some(group) => conn.is_member(group, &subject).await?,
        None => true,
    };
    Ok(logged_in(&subject, &attrs, username, moderator))
}

/// Maps the result of the user's bind.
fn user_bind_outcome(conn: &Connection, bound: &LdapResult) -> Result<(), LdapLoginError> {
    match bound.rc {
        0 => Ok(()),
        // Wrong password or no such DN (49); the directory will not let this person in
        // (48 inappropriate authentication, 50 insufficient access, 53 unwilling, e.g.
        // a locked account).
        rc::INVALID_CREDENTIALS | 48 | rc::INSUFFICIENT_ACCESS | 53 => Err(InvalidCredentials),
        // Invalid DN syntax: the server rejects the DN made from this user name (the
        // name is escaped, so this is an odd name), i.e. no such account.
        34 => Err(InvalidCredentials),
        _ => Err(conn.refused("the user's bind", bound)),
    }
}

fn logged_in(dn: &str, attrs: &HashMap<String, Vec<String>>, username: &str, moderator: bool) -> LoggedIn {
    let name = first_value(attrs, "displayName").or_else(|| first_value(attrs, "cn")).unwrap_or(username);
    LoggedIn {
        subject: dn.to_owned(),
        name: name.to_owned(),
        email: first_value(attrs, "mail").map(str::to_owned),
        moderator,
    }
}

/// The first non-blank value of an attribute (attribute names compare case-insensitively).
fn first_value<'a>(attrs: &'a HashMap<String, Vec<String>>, name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.iter())
        .map(|v| v.trim())
        .find(|v| !v.is_empty())
}

/// `SearchEntry::construct` panics on a malformed entry; a broken or hostile server
/// must not take a worker down.
fn construct_entry(entry: ldap3::ResultEntry, url: &str) -> Result<SearchEntry, LdapLoginError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| SearchEntry::construct(entry)))
        .map_err(|_| Unavailable(format!("{url} sent a malformed search entry")))
}

/// LDAP result codes used here (RFC 4511 §4.1.9).
mod rc {
    pub const SIZE_LIMIT_EXCEEDED: u32 = 4;
    pub const NO_SUCH_OBJECT: u32 = 32;
    pub const INVALID_CREDENTIALS: u32 = 49;
    pub const INSUFFICIENT_ACCESS: u32 = 50;
    /// Codes that mean "the server cannot serve now", not "the settings are wrong":
    /// timeLimitExceeded, adminLimitExceeded, busy, unavailable, other.
    pub const TRANSIENT: [u32; 5] = [3, 11, 51, 52, 80];
}

/// One connection to the directory, with its own driver task and the deadline applied
/// to every operation.
struct Connection {
    ldap: ldap3::Ldap,
    driver: tokio::task::JoinHandle<()>,
    url: String,
    timeout: Duration,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Closes the socket even when the server never answers.
        self.driver.abort();
    }
}

impl Connection {
    async fn open(guard: &OutboundGuard, settings: &LdapSettings) -> Result<Self, LdapLoginError> {
        let url = settings.url.trim().to_owned();
        let secs = settings.timeout_secs.clamp(MIN_TIMEOUT_SECS, MAX_TIMEOUT_SECS);
        let timeout = Duration::from_secs(u64::from(secs));
        let parsed = url::Url::parse(&url).map_err(|_| Misconfigured(format!("the URL {url:?} is not valid")))?;
        let (tls, default_port) = match parsed.scheme() {
            "ldaps" => (true, 636),
            "ldap" => (settings.starttls, 389),
            _ => return Err(Misconfigured(format!("the URL {url:?} is not ldap:// or ldaps://"))),
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| Misconfigured(format!("the URL {url:?} names no host")))?;
        let port = parsed.port().unwrap_or(default_port);
        // Through the outbound guard: the address actually connected to is checked, so
        // a name that resolves to a special network or a platform service is refused.
        let stream =
            confer_outbound::connect(guard, host, port, timeout).await.map_err(|error| outbound_error(&url, &error))?;
        let stream =
            stream.into_std().map_err(|error| connect_error(&url, secs, tls, LdapError::Io { source: error }))?;
        let mut conn_settings = LdapConnSettings::new()
            .set_conn_timeout(timeout)
            .set_starttls(settings.starttls)
            .set_std_stream(StdStream::Tcp(stream));
        if tls {
            conn_settings = conn_settings.set_config(tls_config(settings.ca_pem.as_deref())?);
        }
        // ldap3's timeout covers StartTLS and the handshake on the stream given; ours is a backstop.
        let connecting = LdapConnAsync::with_settings(conn_settings, &url);
        let (conn, ldap) = match tokio::time::timeout(timeout, connecting).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(error)) => return Err(connect_error(&url, secs, tls, error)),
            Err(_) => return Err(no_connection_in_time(&url, secs, tls)),
        };
        let driver = tokio::spawn(async move {
            if let Err(error) = conn.drive().await {
                tracing::debug!(%error, "ldap connection ended");
            }
        });
        Ok(Self { ldap, driver, url, timeout })
    }

    /// Runs one operation under the deadline; no answer in time means the directory is unavailable.
    async fn bounded<T>(
        &self,
        what: &str,
        op: impl Future<Output = Result<T, LdapError>>,
    ) -> Result<T, LdapLoginError> {
        match tokio::time::timeout(self.timeout, op).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(LdapError::FilterParsing)) => Err(Misconfigured(format!("{what}: the filter is not valid"))),
            Ok(Err(error)) => {
                // The cause may carry the server's words: the log gets it, the tenant does not.
                tracing::warn!(server = %self.url, %error, "ldap: {what} failed");
                Err(Unavailable(format!("{}: {what} failed", self.url)))
            }
            Err(_) => {
                Err(Unavailable(format!("{}: {what} got no answer within {}s", self.url, self.timeout.as_secs())))
            }
        }
    }

    async fn bind(&mut self, dn: &str, password: &str, what: &str) -> Result<LdapResult, LdapLoginError> {
        let mut ldap = self.ldap.clone();
        self.bounded(what, async move { ldap.simple_bind(dn, password).await }).await
    }

    async fn search(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
        size_limit: i32,
        what: &str,
    ) -> Result<SearchResult, LdapLoginError> {
        let mut ldap = self.ldap.clone();
        let attrs = attrs.to_vec();
        self.bounded(what, async move {
            ldap.with_search_options(SearchOptions::new().sizelimit(size_limit))
                .search(base, scope, filter, attrs)
                .await
        })
        .await
    }

    /// Whether `dn` is a `member` of the group: a base-scope search on the group, so
    /// the server compares the DNs with distinguishedNameMatch (case and spacing).
    async fn is_member(&mut self, group: &str, dn: &str) -> Result<bool, LdapLoginError> {
        let filter = format!("(member={})", ldap3::ldap_escape(dn));
        let SearchResult(entries, result) =
            self.search(group, Scope::Base, &filter, &["1.1"], 1, "the moderator group check").await?;
        match result.rc {
            0 => Ok(!entries.is_empty()),
            rc::NO_SUCH_OBJECT => Err(Misconfigured(format!(
                "{}: the moderator group {group} does not exist or may not be read",
                self.url
            ))),
            _ => Err(self.refused("the moderator group check", &result)),
        }
    }

    /// An error for an operation the server answered with a failure code.
    /// The server's diagnostic text goes to the log only: errors shown to tenants never
    /// echo a remote service's reply.
    fn refused(&self, what: &str, result: &LdapResult) -> LdapLoginError {
        tracing::warn!(server = %self.url, rc = result.rc, text = %result.text, "ldap: {what} was refused");
        let message = format!("{}: {what} was refused with result code {}", self.url, result.rc);
        if rc::TRANSIENT.contains(&result.rc) { Unavailable(message) } else { Misconfigured(message) }
    }

    /// Politely ends the session (best effort, bounded).
    async fn close(mut self) {
        let _ = tokio::time::timeout(self.timeout, self.ldap.unbind()).await;
    }
}

fn no_connection_in_time(url: &str, secs: u32, tls: bool) -> LdapLoginError {
    let what = if tls { "set up a TLS connection" } else { "accept a connection" };
    Unavailable(format!("{url} did not {what} within {secs}s"))
}

/// A connection the outbound guard refused (the settings must change) or could not make.
fn outbound_error(url: &str, error: &OutboundError) -> LdapLoginError {
    tracing::warn!(server = url, error = %error.detail(), "ldap: no connection to the directory");
    if error.is_refused() {
        Misconfigured(format!("{url} may not be connected to: {error}"))
    } else {
        Unavailable(format!("{url}: {error}"))
    }
}

/// Describes a failure in StartTLS or the handshake. What the server said and why a
/// socket failed go to the log, not into the message.
fn connect_error(url: &str, secs: u32, tls: bool, error: LdapError) -> LdapLoginError {
    tracing::warn!(server = url, %error, "ldap: setting up the connection failed");
    match error {
        LdapError::Io { source } => {
            let tls = source.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
            match tls {
                Some(tls) => Unavailable(format!("TLS with {url} failed: {tls}")),
                None => Unavailable(format!("the connection to {url} failed")),
            }
        }
        LdapError::Rustls { source } => Unavailable(format!("TLS with {url} failed: {source}")),
        LdapError::DNSName { .. } => Misconfigured(format!("{url}: the host is not a valid TLS server name")),
        LdapError::Timeout { .. } => no_connection_in_time(url, secs, tls),
        LdapError::LdapResult { result } => {
            Unavailable(format!("{url} refused StartTLS with result code {}", result.rc))
        }
        LdapError::UrlParsing { .. } => Misconfigured(format!("the URL {url:?} is not valid")),
        LdapError::UnknownScheme(scheme) => Misconfigured(format!("the URL {url:?} has an unknown scheme {scheme:?}")),
        _ => Unavailable(format!("the connection to {url} failed")),
    }
}

/// The system's trust roots, read once.
static SYSTEM_ROOTS: LazyLock<Arc<RootCertStore>> = LazyLock::new(|| {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "reading the system's trust roots");
    }
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    tracing::debug!(added, ignored, "ldap: system trust roots loaded");
    Arc::new(roots)
});

/// A rustls client configuration with an explicit provider (ring), trusting only the
/// tenant's CA when given, else the system's roots.
fn tls_config(ca_pem: Option<&str>) -> Result<Arc<ClientConfig>, LdapLoginError> {
    let roots = match ca_pem.filter(|pem| !pem.trim().is_empty()) {
        Some(pem) => Arc::new(ca_roots(pem)?),
        None => SYSTEM_ROOTS.clone(),
    };
    let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| Misconfigured(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The certificates of a PEM text, as the only trust roots.
fn ca_roots(pem: &str) -> Result<RootCertStore, LdapLoginError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Misconfigured(format!("the CA PEM cannot be read: {e}")))?;
    if certs.is_empty() {
        return Err(Misconfigured("the CA PEM holds no CERTIFICATE block".into()));
    }
    let mut roots = RootCertStore::empty();
    for (i, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| Misconfigured(format!("certificate {} of the CA PEM is unusable: {e}", i + 1)))?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A throwaway self-signed CA (P-256), public part only.
    const TEST_CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBmDCCAT2gAwIBAgIUe5uvs0ALbw2vbnSKvPwXuxynri4wCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOQ29uZmVyIHRlc3QgQ0EwHhcNMjYxMTIyMTMwMzE2WhcNMjYx
MTI0MTMwMzE2WjAZMRcwFQYDVQQDDA5Db25mZXIgdGVzdCBDQTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABOVhgao+fiRsPSrGpHDdUl8sSy9LFQ55OAeIZvruw8gI
mcQBxfTMjvHcGktFwT7ARIYhUxOi/TO/bd+bcKibfWCjYzBhMB0GA1UdDgQWBBQc
VoRHuEOMdBtcv1dp/wLALMpW0zAfBgNVHSMEGDAWgBQcVoRHuEOMdBtcv1dp/wLA
LMpW0zAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBBjAKBggqhkjOPQQD
AgNJADBGAiEA0qDOohslPeRIInUAnsAPEDZ4fFxNJ6CheV7TeQMc//ICIQDeoLxP
PfiYuvH5BfAZuYvY8v4T2zOB/tZPFCeW/A1o7Q==
-----END CERTIFICATE-----
";

    fn settings() -> LdapSettings {
        LdapSettings {
            // Port 9 (discard) on loopback: nothing answers; tests that must not
            // contact the server would fail with Unavailable if they did.
            url: "ldap://127.0.0.1:9".into(),
            bind_dn: Some("cn=reader,dc=example,dc=org".into()),
            bind_password: None,
            base_dn: "dc=example,dc=org".into(),
            user_filter: String::new(),
            user_dn_template: None,
            moderator_group: None,
            starttls: false,
            ca_pem: None,
            timeout_secs: 1,
        }
    }

    #[test]
    fn the_default_filter_is_uid() {
        assert_eq!(user_filter("", "ann").unwrap(), "(uid=ann)");
        assert_eq!(user_filter("  ", "ann").unwrap(), "(uid=ann)");
    }

    #[test]
    fn filter_metacharacters_in_a_user_name_are_escaped() {
        let filter = user_filter("(uid=%u)", "*)(uid=*))(|(uid=*").unwrap();
        assert_eq!(filter, r"(uid=\2a\29\28uid=\2a\29\29\28|\28uid=\2a)");
        assert!(!filter[1..filter.len() - 1].contains(['(', ')', '*']), "only escaped metacharacters: {filter}");
        assert_eq!(user_filter("(uid=%u)", r"a\b").unwrap(), r"(uid=a\5cb)");
        assert_eq!(user_filter("(uid=%u)", "a\0b").unwrap(), r"(uid=a\00b)");
    }

    #[test]
    fn every_placeholder_is_replaced_and_a_placeholder_in_the_name_stays_literal() {
        let filter = user_filter("(&(objectClass=inetOrgPerson)(|(uid=%u)(mail=%u)))", "%u*").unwrap();
        assert_eq!(filter, r"(&(objectClass=inetOrgPerson)(|(uid=%u\2a)(mail=%u\2a)))");
    }

    #[test]
    fn filter_templates_must_hold_the_placeholder_and_parse() {
        assert!(matches!(user_filter("(uid=ann)", "bob"), Err(Misconfigured(_))));
        assert!(matches!(user_filter("(uid=%u", "bob"), Err(Misconfigured(_))));
        assert!(matches!(user_filter("(&(uid=%u)", "bob"), Err(Misconfigured(_))));
    }

    #[test]
    fn dn_templates_escape_dn_specials() {
        let template = "uid=%u,ou=people,dc=example,dc=org";
        assert_eq!(user_dn(template, "ann").unwrap(), "uid=ann,ou=people,dc=example,dc=org");
        assert_eq!(
            user_dn(template, "a,ou=admins+cn=x").unwrap(),
            r"uid=a\2cou\3dadmins\2bcn\3dx,ou=people,dc=example,dc=org"
        );
        assert_eq!(user_dn(template, " #a ").unwrap(), r"uid=\20#a\20,ou=people,dc=example,dc=org");
        assert!(matches!(user_dn("uid=ann,dc=example,dc=org", "bob"), Err(Misconfigured(_))));
    }

    #[test]
    fn user_names_are_bounded() {
        assert!(!plausible_username(""));
        assert!(plausible_username("ann"));
        assert!(plausible_username(&"é".repeat(MAX_USERNAME_CHARS)));
        assert!(!plausible_username(&"a".repeat(MAX_USERNAME_CHARS + 1)));
    }

    #[test]
    fn the_plan_follows_the_settings() {
        let mut s = settings();
        assert!(matches!(plan(&s, None, "ann"), Err(Misconfigured(_))), "a service account needs its password");
        assert!(matches!(plan(&s, Some(""), "ann"), Err(Misconfigured(_))), "an empty one is no password");
        assert_eq!(
            plan(&s, Some("reader-pass"), "ann").unwrap(),
            Plan::SearchThenBind {
                service_dn: "cn=reader,dc=example,dc=org",
                service_password: "reader-pass",
                filter: "(uid=ann)".into()
            }
        );
        let shown = format!("{:?}", plan(&s, Some("reader-pass"), "ann"));
        assert!(!shown.contains("reader-pass"), "the service password is not shown: {shown}");
        s.bind_dn = None;
        assert!(matches!(plan(&s, None, "ann"), Err(Misconfigured(_))), "no way to find the user");
        s.user_dn_template = Some("uid=%u,ou=people,dc=example,dc=org".into());
        assert_eq!(
            plan(&s, None, "ann").unwrap(),
            Plan::DirectBind { user_dn: "uid=ann,ou=people,dc=example,dc=org".into() }
        );
    }

    #[test]
    fn the_display_name_falls_back_to_cn_then_the_user_name() {
        let mut attrs = HashMap::new();
        assert_eq!(logged_in("uid=x", &attrs, "x", true).name, "x");
        attrs.insert("cn".to_owned(), vec!["Ex Ample".to_owned()]);
        assert_eq!(logged_in("uid=x", &attrs, "x", true).name, "Ex Ample");
        attrs.insert("DISPLAYNAME".to_owned(), vec![" ".to_owned(), "Shown".to_owned()]);
        attrs.insert("mail".to_owned(), vec!["x@example.org".to_owned()]);
        let who = logged_in("uid=x", &attrs, "x", false);
        assert_eq!(who.name, "Shown");
        assert_eq!(who.email.as_deref(), Some("x@example.org"));
        assert_eq!(who.subject, "uid=x");
        assert!(!who.moderator);
    }

    #[test]
    fn ca_pem_must_hold_a_certificate() {
        assert!(ca_roots(TEST_CA_PEM).is_ok());
        assert!(tls_config(Some(TEST_CA_PEM)).is_ok());
        assert!(matches!(ca_roots("not a pem"), Err(Misconfigured(_))));
        assert!(matches!(
            ca_roots("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            Err(Misconfigured(_))
        ));
    }

    #[tokio::test]
    async fn refusals_that_need_no_server_do_not_contact_it() {
        let s = settings();
        // The server at port 9 does not exist: any contact would be Unavailable.
        assert_eq!(
            authenticate(&OutboundGuard::default(), &s, Some("reader-pass"), "ann", "").await,
            Err(InvalidCredentials)
        );
        assert_eq!(
            authenticate(&OutboundGuard::default(), &s, Some("reader-pass"), "", "x").await,
            Err(InvalidCredentials)
        );
        let long = "a".repeat(MAX_USERNAME_CHARS + 1);
        assert_eq!(
            authenticate(&OutboundGuard::default(), &s, Some("reader-pass"), &long, "x").await,
            Err(InvalidCredentials)
        );
    }

    #[tokio::test]
    async fn a_bad_url_is_a_setting_problem() {
        let mut s = settings();
        s.url = "http://127.0.0.1:9".into();
        assert!(matches!(
            authenticate(&OutboundGuard::default(), &s, Some("reader-pass"), "ann", "x").await,
            Err(Misconfigured(_))
        ));
    }
}

//! How a tenant's people log in and meet: the settings behind `GET/PATCH /v1/settings`.
//!
//! Secrets in here (the LDAP bind password, the OIDC client secret) are only ever
//! held sealed: encrypted with the tenant's data key before they enter an event.

use serde::{Deserialize, Serialize};

/// Which back-end authenticates the tenant's people: shared with the media nodes,
/// which read it in the settings they apply (`confer_vocabulary::node_api`).
pub use confer_vocabulary::node_api::AuthMode;

/// A secret encrypted with the tenant's data key (AES-256-GCM), as
/// `v1.<nonce>.<ciphertext>` in unpadded base64url. Without the tenant's key it is noise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SealedSecret(pub String);

/// A tenant's LDAP directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LdapSettings {
    /// `ldap://host:port` or `ldaps://host:port`.
    pub url: String,
    /// Service account for search-then-bind; absent for direct bind by DN template.
    pub bind_dn: Option<String>,
    /// The service account's password, sealed.
    pub bind_password: Option<SealedSecret>,
    /// Where users are searched.
    pub base_dn: String,
    /// Search filter; `%u` is replaced by the escaped user name.
    pub user_filter: String,
    /// Direct bind: a DN with `%u`, e.g. `uid=%u,ou=people,dc=example,dc=org`.
    pub user_dn_template: Option<String>,
    /// DN of a group whose members are moderators.
    pub moderator_group: Option<String>,
    /// Upgrade `ldap://` with StartTLS.
    pub starttls: bool,
    /// PEM of the CA that signs the directory's certificate.
    pub ca_pem: Option<String>,
    /// Connect and operation timeout, seconds.
    pub timeout_secs: u32,
}

/// A tenant's OpenID provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcSettings {
    /// Issuer URL; discovery is read from `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// The client registered with the provider.
    pub client_id: String,
    /// The client secret, sealed.
    pub client_secret: Option<SealedSecret>,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    /// A claim that grants moderator (e.g. `groups`).
    pub moderator_claim: Option<String>,
    /// The value of that claim (or member of that list) that grants moderator.
    pub moderator_value: Option<String>,
}

/// Everything a tenant admin chooses about its site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSettings {
    /// Login back-end.
    pub auth: AuthMode,
    /// Whether unauthenticated guests may join rooms a moderator has opened.
    pub guests_allowed: bool,
    /// Participants per room, at most.
    pub max_participants: u32,
    /// Whether non-moderators knock and wait to be admitted.
    pub lobby: bool,
    /// The LDAP directory, when configured.
    pub ldap: Option<LdapSettings>,
    /// The OpenID provider, when configured.
    pub oidc: Option<OidcSettings>,
    /// The sites (origins, `https://intranet.example.org`) that may show the
    /// tenant's meeting pages in a frame; none: only the site itself.
    #[serde(default)]
    pub embed_origins: Vec<String>,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            auth: AuthMode::Open,
            guests_allowed: true,
            max_participants: 75,
            lobby: false,
            ldap: None,
            oidc: None,
            embed_origins: Vec::new(),
        }
    }
}

impl TenantSettings {
    /// Whether the settings can be put to use: the chosen back-end must be configured.
    pub fn check_complete(&self) -> Result<(), super::FieldError> {
        use super::FieldError;
        match self.auth {
            AuthMode::Ldap if self.ldap.is_none() => {
                Err(FieldError::new("auth", "auth \"ldap\" needs an \"ldap\" block"))
            }
            AuthMode::Oidc if self.oidc.is_none() => {
                Err(FieldError::new("auth", "auth \"oidc\" needs an \"oidc\" block"))
            }
            _ => Ok(()),
        }
    }
}

//! `GET /v1/settings`, as a media node reads it: how the tenant's people log in, and
//! the rules every room follows. The api's answer says more (the login back-ends'
//! own settings, the version); a node needs only [`NodeSettings`], and a field it
//! needs that is missing or renamed fails the read instead of switching a rule off.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Which back-end authenticates the tenant's people (Jitsi's `ENABLE_AUTH` and its
/// authentication type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// Anyone with the link opens and joins rooms; the first to join moderates.
    #[default]
    Open,
    /// Accounts kept by Confer (`/v1/users`).
    Internal,
    /// Bind against the tenant's LDAP directory.
    Ldap,
    /// OpenID Connect authorization code flow with PKCE.
    Oidc,
}

impl AuthMode {
    /// The spelling on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Internal => "internal",
            Self::Ldap => "ldap",
            Self::Oidc => "oidc",
        }
    }

    /// Parses the stored spelling.
    pub fn from_stored(value: &str) -> Option<Self> {
        Some(match value {
            "open" => Self::Open,
            "internal" => Self::Internal,
            "ldap" => Self::Ldap,
            "oidc" => Self::Oidc,
            _ => return None,
        })
    }

    /// Whether people must log in (or hold a token) to open a room.
    pub fn requires_login(self) -> bool {
        self != Self::Open
    }
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a media node applies of its tenant's settings: the login back-end, guests,
/// the lobby, and the seats per room. Every field is required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct NodeSettings {
    /// How people log in on the tenant's site.
    pub auth: AuthMode,
    /// Whether guests (not logged in) may join rooms a moderator has opened.
    pub guests_allowed: bool,
    /// Seats per room, at most (2–500).
    #[cfg_attr(feature = "utoipa", schema(minimum = 2, maximum = 500))]
    pub max_participants: u32,
    /// Whether those who are not moderators knock first (a meeting may say otherwise).
    pub lobby: bool,
    /// The sites (origins) that may show the tenant's pages in a frame; empty: only
    /// the site itself.
    #[serde(default)]
    pub embed_origins: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `GET /v1/settings` as the api writes it, with the parts a node does not read.
    fn as_the_api_writes_it() -> serde_json::Value {
        json!({
            "auth": "ldap", "guests_allowed": false, "max_participants": 25, "lobby": true,
            "embed_origins": ["https://intranet.example.com"],
            "ldap": {"url": "ldaps://ldap.example.com", "bind_dn": null, "has_bind_password": true,
                     "base_dn": "dc=example,dc=com", "user_filter": "(uid=%u)", "user_dn_template": null,
                     "moderator_group": null, "starttls": false, "ca_pem": null, "timeout_secs": 5},
            "oidc": null, "version": 7
        })
    }

    #[test]
    fn the_settings_the_api_writes_decode_into_what_a_node_applies() {
        let settings: NodeSettings = serde_json::from_value(as_the_api_writes_it()).expect("node settings");
        assert_eq!(
            settings,
            NodeSettings {
                auth: AuthMode::Ldap,
                guests_allowed: false,
                max_participants: 25,
                lobby: true,
                embed_origins: vec!["https://intranet.example.com".into()]
            }
        );
        let written = serde_json::to_value(&settings).expect("JSON");
        assert_eq!(
            written,
            json!({"auth": "ldap", "guests_allowed": false, "max_participants": 25, "lobby": true,
                   "embed_origins": ["https://intranet.example.com"]})
        );
        // An api from before the setting: no site may embed (the safe default).
        let mut older = as_the_api_writes_it();
        older.as_object_mut().map(|o| o.remove("embed_origins"));
        let settings: NodeSettings = serde_json::from_value(older).expect("node settings");
        assert!(settings.embed_origins.is_empty());
    }

    #[test]
    fn a_missing_or_renamed_rule_fails_to_decode_instead_of_defaulting() {
        for field in ["auth", "guests_allowed", "max_participants", "lobby"] {
            let mut renamed = as_the_api_writes_it();
            let value = renamed[field].take();
            renamed.as_object_mut().map(|o| o.remove(field));
            renamed[format!("{field}_setting")] = value;
            assert!(serde_json::from_value::<NodeSettings>(renamed).is_err(), "{field}");
        }
    }

    #[test]
    fn an_unknown_login_back_end_fails_to_decode() {
        let mut settings = as_the_api_writes_it();
        settings["auth"] = json!("saml");
        assert!(serde_json::from_value::<NodeSettings>(settings).is_err());
    }

    #[test]
    fn auth_modes_are_spelled_alike_on_the_wire_and_in_storage() {
        for mode in [AuthMode::Open, AuthMode::Internal, AuthMode::Ldap, AuthMode::Oidc] {
            assert_eq!(serde_json::to_value(mode).ok(), Some(json!(mode.as_str())));
            assert_eq!(AuthMode::from_stored(mode.as_str()), Some(mode));
            assert_eq!(mode.requires_login(), mode != AuthMode::Open);
        }
    }
}

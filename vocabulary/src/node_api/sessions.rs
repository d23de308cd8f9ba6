//! Logins on a tenant's site. The node that serves the site passes what a person
//! typed, or what the OpenID provider sent back, to the api, which checks it with the
//! tenant's back-end and answers a signed session token for the site's cookie:
//!
//! - [`SESSIONS`](super::paths::SESSIONS): a [`PasswordLogin`] gives a [`Session`];
//! - [`OIDC_SESSIONS`](super::paths::OIDC_SESSIONS): an [`OidcStart`] gives an
//!   [`OidcStarted`] (where to send the browser, and what to keep until it is back);
//! - [`OIDC_CALLBACK`](super::paths::OIDC_CALLBACK): an [`OidcCallback`] gives a
//!   [`Session`].

use crate::LoginMethod;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A user name and password typed on the tenant's site. Its `Debug` leaves the
/// password out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordLogin {
    /// Internal accounts: the email; LDAP: the user name the filter matches.
    pub username: String,
    /// What they typed.
    pub password: String,
}

impl std::fmt::Debug for PasswordLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordLogin").field("username", &self.username).finish_non_exhaustive()
    }
}

/// Where the provider should send the browser back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OidcStart {
    /// The site's callback URL (it must be registered with the provider).
    pub redirect_uri: String,
}

/// The start of an OpenID login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct OidcStarted {
    /// Send the browser here.
    pub authorization_url: String,
    /// Keep this (sealed, opaque) until the browser comes back, and pass it to the callback.
    pub pending: String,
}

/// The provider's answer, as the browser brought it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OidcCallback {
    /// What the start of the login answered as [`OidcStarted::pending`].
    pub pending: String,
    /// The `state` query parameter of the callback.
    pub state: String,
    /// The `code` query parameter of the callback.
    pub code: String,
}

/// The person a session is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct SessionUser {
    /// Their id, as the back-end knows them.
    pub id: String,
    /// The name to show.
    pub name: String,
    /// Their email, when the back-end knows it (null otherwise; always present).
    #[serde(deserialize_with = "Option::deserialize")]
    #[cfg_attr(feature = "utoipa", schema(required = true))]
    pub email: Option<String>,
}

/// A login that succeeded. Its `Debug` leaves the token out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Session {
    /// The session token (a JWT signed with the tenant's key), for the site's cookie.
    pub token: String,
    /// When the token expires.
    pub expires_at: DateTime<Utc>,
    /// `internal`, `ldap` or `oidc`.
    pub method: LoginMethod,
    /// Who logged in.
    pub user: SessionUser,
    /// Whether they moderate the rooms they join.
    pub moderator: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("expires_at", &self.expires_at)
            .field("method", &self.method)
            .field("user", &self.user)
            .field("moderator", &self.moderator)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn as_the_api_writes_it() -> serde_json::Value {
        json!({
            "token": "eyJ.secret.token", "expires_at": "2031-01-06T21:00:00Z", "method": "ldap",
            "user": {"id": "uid=ada,dc=example,dc=com", "name": "Ada", "email": null}, "moderator": true
        })
    }

    #[test]
    fn a_session_as_the_api_writes_it_round_trips_and_hides_its_token() {
        let session: Session = serde_json::from_value(as_the_api_writes_it()).expect("a session");
        assert_eq!((session.method, session.moderator, session.user.email.as_deref()), (LoginMethod::Ldap, true, None));
        assert_eq!(serde_json::to_value(&session).ok(), Some(as_the_api_writes_it()));
        assert!(!format!("{session:?}").contains("secret"));
    }

    #[test]
    fn a_session_without_its_moderator_flag_or_the_users_email_fails_to_decode() {
        let mut renamed = as_the_api_writes_it();
        renamed["is_moderator"] = renamed["moderator"].take();
        renamed.as_object_mut().map(|o| o.remove("moderator"));
        assert!(serde_json::from_value::<Session>(renamed).is_err());
        let mut no_email = as_the_api_writes_it();
        no_email["user"].as_object_mut().map(|o| o.remove("email"));
        assert!(serde_json::from_value::<Session>(no_email).is_err());
    }

    #[test]
    fn login_requests_refuse_unknown_fields_and_hide_the_password() {
        let login = json!({"username": "ada", "password": "hunter2"});
        let parsed: PasswordLogin = serde_json::from_value(login).expect("a login");
        assert!(!format!("{parsed:?}").contains("hunter2"));
        assert!(serde_json::from_value::<PasswordLogin>(json!({"user": "ada", "password": "x"})).is_err());
        assert!(serde_json::from_value::<OidcStart>(json!({"redirect_uri": "https://x", "next": "/"})).is_err());
        let callback = OidcCallback { pending: "p".into(), state: "s".into(), code: "c".into() };
        assert_eq!(serde_json::to_value(&callback).ok(), Some(json!({"pending": "p", "state": "s", "code": "c"})));
    }
}

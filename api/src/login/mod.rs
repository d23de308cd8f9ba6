//! Logging a person in with the tenant's chosen back-end. Each back-end answers with
//! a [`LoggedIn`]: who the directory or provider says this is, and whether its rules
//! make them a moderator. The api turns that into a signed session token.

pub mod ldap;
pub mod oidc;

/// A person the tenant's back-end vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedIn {
    /// Their stable id in that back-end (LDAP: the entry's DN; OIDC: `sub`; internal: the user id).
    pub subject: String,
    /// The name to show in meetings.
    pub name: String,
    /// Their email, when the back-end knows it.
    pub email: Option<String>,
    /// Whether the back-end's rule (an LDAP group, an OIDC claim) makes them a moderator.
    /// With no rule configured, every authenticated person moderates (Jitsi's default).
    pub moderator: bool,
}

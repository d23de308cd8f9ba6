//! Admission: everything between a `join` frame and the room rules, in one place.
//!
//! It works out who is asking (their join token, or else the site's session
//! cookie), what the scheduled meeting on now in the room says (its password,
//! lobby and moderators), whether a password try is allowed and right, and builds
//! the complete [`JoinRequest`] the room rules decide on. The verdict is typed: a
//! seat, a wait, or a [`Refusal`] with a stable code.
//!
//! It fails closed: when a rule cannot be checked now (the settings or the
//! meeting's rules are unknown, the password or its counter cannot be checked),
//! the join is refused with `try_again_later`, never let in unchecked.

use super::hub::{Hub, Outgoing};
use crate::auth::TokenError;
use crate::password_attempts::{AttemptsError, PasswordAttempts, Reserved};
use crate::room::{
    DisplayName, Identity, JoinOutcome, JoinRequest, MeetingTerms, ReconnectToken, RoomError, RoomName, RoomPassword,
};
use crate::scheduled_meetings::{MeetingRules, RulesUnknown};
use confer_vocabulary::JoinClaims;
use std::net::IpAddr;
use tokio::sync::mpsc;

/// What a `join` frame asks for, as sent.
#[derive(Debug)]
pub struct JoinAsk {
    pub room: String,
    pub name: Option<String>,
    pub password: Option<String>,
    pub reconnect_token: Option<String>,
    pub token: Option<String>,
}

/// Who sends it: what the WebSocket's upgrade request told about them.
#[derive(Debug)]
pub struct Asker {
    /// The client's address (password tries and room lookups are counted per network).
    pub client: Option<IpAddr>,
    /// The site's session cookie, as the WebSocket opened.
    pub cookie: Option<String>,
}

/// Why a join is refused. Codes are stable (`docs/signaling.md`).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The node has not read its tenant's settings yet.
    #[error("the site is still reading its settings; try again in a moment")]
    SettingsUnknown,
    /// What the meeting on now in the room says is not known (the api cannot say,
    /// or this network asked about too many rooms).
    #[error("the room's rules cannot be checked right now; try again in a moment")]
    RulesUnknown(#[source] RulesUnknown),
    /// The meeting's password could not be checked (the api cannot say).
    #[error("the password cannot be checked right now; try again")]
    PasswordUncheckable,
    /// A token was given, and this node takes none (it has no api to check them).
    #[error("this node does not accept tokens")]
    TokensNotAccepted,
    /// The join token does not check out.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Too many wrong passwords, or the counter of them cannot be read.
    #[error(transparent)]
    Attempts(#[from] AttemptsError),
    /// The room rules refuse it.
    #[error(transparent)]
    Room(#[from] RoomError),
}

impl Refusal {
    /// The stable code the error frame carries.
    pub fn code(&self) -> &'static str {
        match self {
            Self::SettingsUnknown | Self::RulesUnknown(_) | Self::PasswordUncheckable => "try_again_later",
            Self::TokensNotAccepted => "invalid_token",
            Self::Token(e) => e.code(),
            Self::Attempts(AttemptsError::TooMany { .. } | AttemptsError::Locked { .. }) => "too_many_attempts",
            Self::Attempts(AttemptsError::Unavailable(_)) => "try_again_later",
            Self::Room(e) => e.code(),
        }
    }
}

/// The admission desk of one node: it asks the hub's token checker, scheduled
/// meetings and password counter, then the room rules.
pub struct Admission<'a> {
    hub: &'a Hub,
}

impl<'a> Admission<'a> {
    pub fn new(hub: &'a Hub) -> Self {
        Self { hub }
    }

    /// Decides `ask` from `asker` for signaling session `session` (which hears
    /// through `outgoing` when a wait ends): a seat, a wait, or why not.
    pub async fn decide(
        &self,
        session: u64,
        outgoing: mpsc::Sender<Outgoing>,
        ask: JoinAsk,
        asker: &Asker,
    ) -> Result<JoinOutcome, Refusal> {
        if !self.hub.settings_ready() {
            return Err(Refusal::SettingsUnknown);
        }
        let room = RoomName::parse(&ask.room).map_err(RoomError::from)?;
        let claims = self.identify(ask.token, &room, asker).await?;
        let display_name = match (&claims, ask.name) {
            (Some(claims), _) => DisplayName::parse(&claims.user.name),
            (None, Some(name)) => DisplayName::parse(&name),
            (None, None) => Err(RoomError::InvalidDisplayName("a name is required")),
        }?;
        let password = ask.password.filter(|p| !p.is_empty()).map(|p| RoomPassword::parse(&p)).transpose()?;
        let reconnect = ask.reconnect_token.map(|t| ReconnectToken::parse(&t)).transpose()?;
        let rules = match self.hub.scheduled_meetings() {
            Some(meetings) => meetings.rules(&room, asker.client).await.map_err(Refusal::RulesUnknown)?,
            None => None,
        };
        let mut join = JoinRequest::new(room, display_name);
        join.identity = identity(claims.as_ref(), rules.as_ref());
        join.meeting = rules.as_ref().map(|r| r.terms);
        join.password = password;
        join.reconnect = reconnect;
        // A password try is counted before it is checked (and given back if it was
        // not wrong), so parallel tries cannot all pass the limit.
        let counter = self.hub.password_attempts().filter(|_| join.password.is_some());
        let reserved = match counter.zip(asker.client) {
            Some((attempts, client)) => Some((attempts, self.reserve(attempts, &join.room, client).await?)),
            None => None,
        };
        join.meeting_password_ok = match self.meeting_password_matches(&join).await {
            Ok(ok) => ok,
            Err(refusal) => {
                give_back(reserved).await;
                return Err(refusal);
            }
        };
        let room = join.room.clone();
        match self.hub.join(session, outgoing, join) {
            Err(RoomError::WrongPassword) => {
                tracing::info!(room = %room.as_str(), client = ?asker.client, "a wrong room password (counted)");
                Err(RoomError::WrongPassword.into())
            }
            other => {
                give_back(reserved).await;
                Ok(other?)
            }
        }
    }

    /// Counts a password try for `room`; when that locks the room's tries for
    /// everyone, its moderators are told.
    async fn reserve(&self, attempts: &PasswordAttempts, room: &RoomName, client: IpAddr) -> Result<Reserved, Refusal> {
        match attempts.reserve(room.as_str(), client).await {
            Ok(reserved) => Ok(reserved),
            Err(e) => {
                if let AttemptsError::Locked { retry_after_seconds, first: true } = e {
                    tracing::warn!(room = %room.as_str(), %client, retry_after_seconds, "password tries for a room locked: too many from many networks");
                    self.hub.password_tries_locked(room, retry_after_seconds);
                }
                Err(e.into())
            }
        }
    }

    /// Who the join's token (or else the session cookie) says this is. A token
    /// that was given and does not check out is refused; a stale cookie counts for
    /// nothing (they join as a guest).
    async fn identify(
        &self,
        token: Option<String>,
        room: &RoomName,
        asker: &Asker,
    ) -> Result<Option<JoinClaims>, Refusal> {
        let (given, token) = match (token, &asker.cookie) {
            (Some(token), _) => (true, token),
            (None, Some(cookie)) => (false, cookie.clone()),
            (None, None) => return Ok(None),
        };
        let Some(tokens) = self.hub.tokens() else {
            return if given { Err(Refusal::TokensNotAccepted) } else { Ok(None) };
        };
        let checked = if given { tokens.check(&token, room).await } else { tokens.check_session(&token).await };
        match checked {
            Ok(claims) => Ok(Some(claims)),
            Err(e) if given => Err(e.into()),
            Err(e) => {
                tracing::debug!(error = %e, "the session cookie does not check out; joining as a guest");
                Ok(None)
            }
        }
    }

    /// Whether the join's password is the scheduled meeting's, where that password
    /// locks the room and the joiner does not moderate (the api checks it).
    async fn meeting_password_matches(&self, join: &JoinRequest) -> Result<bool, Refusal> {
        let (Some(meetings), Some(MeetingTerms { password_required: true, .. }), Some(password)) =
            (self.hub.scheduled_meetings(), join.meeting, join.password.as_ref())
        else {
            return Ok(false);
        };
        if join.identity.is_moderator() || !self.hub.meeting_password_applies(&join.room) {
            return Ok(false);
        }
        meetings.password_matches(&join.room, password.expose()).await.map_err(|e| {
            tracing::warn!(room = %join.room.as_str(), error = %e, "a meeting password could not be checked");
            Refusal::PasswordUncheckable
        })
    }
}

/// Who someone is to the room rules: a guest, or someone a login or token vouched
/// for, who moderates if the login says so or the meeting on now names their email.
fn identity(claims: Option<&JoinClaims>, rules: Option<&MeetingRules>) -> Identity {
    claims.map_or(Identity::Anonymous, |c| {
        let named =
            |m: &MeetingRules| c.user.email.as_ref().is_some_and(|e| m.moderators.contains(&e.to_ascii_lowercase()));
        Identity::Authenticated { moderator: c.moderator || rules.is_some_and(named) }
    })
}

/// Gives back a try that was not a wrong password. If Redis cannot take it back,
/// the try stays counted: that only errs toward the limit.
async fn give_back(reserved: Option<(&PasswordAttempts, Reserved)>) {
    if let Some((attempts, reserved)) = reserved
        && let Err(e) = attempts.refund(reserved).await
    {
        tracing::warn!(error = %e, "a password try that was not wrong could not be given back");
    }
}

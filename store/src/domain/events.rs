//! The events: every change to a tenant, its keys, users and meetings, as recorded
//! in the append-only log. Read models are projections of these and nothing else.

use super::{CertificateRecord, DomainStage, EmailAddress, Hostname, PasswordHash, RoomName, TenantSettings, UserRole};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Something that happened, in the past tense. Serialized as `{type, data}`; the
/// `type` is stored in `events.event_type` and `data` in `events.payload`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum DomainEvent {
    /// A tenant signed up.
    TenantCreated { tenant_id: Uuid, name: String, slug: String, admin_email: EmailAddress },
    /// The tenant's settings now read as `settings` (secrets sealed).
    TenantSettingsChanged { settings: Box<TenantSettings> },
    /// An API key was issued; only its SHA-256 is kept.
    ApiKeyCreated { key_id: Uuid, name: String, prefix: String, key_hash: String },
    /// An API key stopped working.
    ApiKeyRevoked { key_id: Uuid },
    /// A user was added to the tenant.
    UserCreated {
        user_id: Uuid,
        email: EmailAddress,
        display_name: String,
        role: UserRole,
        password_hash: Option<PasswordHash>,
    },
    /// A user's profile now reads as given.
    UserChanged { user_id: Uuid, display_name: String, role: UserRole, password_hash: Option<PasswordHash> },
    /// A user may no longer log in.
    UserDisabled { user_id: Uuid },
    /// A disabled user may log in again.
    UserEnabled { user_id: Uuid },
    /// A meeting was put in the calendar.
    MeetingScheduled {
        meeting_id: Uuid,
        room: RoomName,
        title: String,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        password_hash: Option<PasswordHash>,
        moderators: Vec<EmailAddress>,
        lobby: Option<bool>,
    },
    /// A meeting now reads as given (time, title, password, moderators, lobby).
    MeetingChanged {
        meeting_id: Uuid,
        title: String,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        password_hash: Option<PasswordHash>,
        moderators: Vec<EmailAddress>,
        lobby: Option<bool>,
    },
    /// A meeting was called off.
    MeetingCancelled { meeting_id: Uuid },
    /// A media node opened a room: the first participant joined.
    MeetingStarted { room: String, node_time: DateTime<Utc> },
    /// Someone took a seat in a running meeting.
    ParticipantJoined { room: String, participant: String, display_name: String, node_time: DateTime<Utc> },
    /// Someone left a running meeting (`left`, `removed`, `timed_out`, `meeting_ended`).
    ParticipantLeft { room: String, participant: String, reason: String, node_time: DateTime<Utc> },
    /// A moderator locked the room with a password.
    RoomLocked { room: String, by: String, node_time: DateTime<Utc> },
    /// A moderator unlocked the room.
    RoomUnlocked { room: String, by: String, node_time: DateTime<Utc> },
    /// The meeting ended (`by` a moderator, or empty when the last one left).
    MeetingEnded { room: String, by: Option<String>, node_time: DateTime<Utc> },
    /// The tenant brought a custom domain; it is proved by a CNAME to `cname_target`
    /// or a TXT record `txt_name` = `txt_value`.
    DomainAdded { domain_id: Uuid, hostname: Hostname, cname_target: String, txt_name: String, txt_value: String },
    /// The tenant gave a custom domain up.
    DomainRemoved { domain_id: Uuid, hostname: Hostname },
    /// The record that proves the domain was found in DNS (`method`: `cname` or `txt`).
    DomainVerified { domain_id: Uuid, hostname: Hostname, method: String },
    /// A step did not succeed yet; it is tried again at `next_retry_at`.
    DomainStepDeferred { domain_id: Uuid, stage: DomainStage, reason: String, next_retry_at: DateTime<Utc> },
    /// A step gave up. The domain is `failed` with `reason`, except a failed renewal:
    /// the certificate in use stays in use and the renewal is tried again later.
    DomainFailed { domain_id: Uuid, stage: DomainStage, reason: String },
    /// An ACME order was placed for the domain (`renewal`: while a certificate is served).
    CertificateOrdered { domain_id: Uuid, hostname: Hostname, order_url: String, renewal: bool },
    /// The domain's first certificate was issued.
    CertificateIssued { domain_id: Uuid, hostname: Hostname, certificate: CertificateRecord },
    /// The domain's certificate was replaced by a newer one.
    CertificateRenewed { domain_id: Uuid, hostname: Hostname, certificate: CertificateRecord },
    /// A new certificate is wanted for the domain (`reason`: `due` or `requested`).
    CertificateRenewalRequested { domain_id: Uuid, hostname: Hostname, replaces_serial: String, reason: String },
    /// A media node of the tenant was started and given a credential (only its SHA-256 is kept).
    NodeCredentialIssued { node_id: Uuid, prefix: String, key_hash: String },
    /// A node's credential stopped working: the node stopped (`reason`: `stopped`, `idle`, `exited`, `tenant_deleted` …).
    NodeCredentialRevoked { node_id: Uuid, reason: String },
    /// A node of the tenant could not be started (`reason` says why, in the operator's terms).
    NodeStartFailed { node_id: Uuid, reason: String },
    /// The tenant was deleted: its meetings ended, its nodes stopped, its domains released
    /// and its data key destroyed, so whatever the log keeps sealed is unreadable.
    TenantDeleted { tenant_id: Uuid, slug: String },
    /// The platform's operator set the tenant's plan: what its node may use.
    TenantPlanChanged { memory_mb: u32, cpu_percent: u32 },
}

impl DomainEvent {
    /// The `type` stored beside the payload.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::TenantCreated { .. } => "TenantCreated",
            Self::TenantSettingsChanged { .. } => "TenantSettingsChanged",
            Self::ApiKeyCreated { .. } => "ApiKeyCreated",
            Self::ApiKeyRevoked { .. } => "ApiKeyRevoked",
            Self::UserCreated { .. } => "UserCreated",
            Self::UserChanged { .. } => "UserChanged",
            Self::UserDisabled { .. } => "UserDisabled",
            Self::UserEnabled { .. } => "UserEnabled",
            Self::MeetingScheduled { .. } => "MeetingScheduled",
            Self::MeetingChanged { .. } => "MeetingChanged",
            Self::MeetingCancelled { .. } => "MeetingCancelled",
            Self::MeetingStarted { .. } => "MeetingStarted",
            Self::ParticipantJoined { .. } => "ParticipantJoined",
            Self::ParticipantLeft { .. } => "ParticipantLeft",
            Self::RoomLocked { .. } => "RoomLocked",
            Self::RoomUnlocked { .. } => "RoomUnlocked",
            Self::MeetingEnded { .. } => "MeetingEnded",
            Self::DomainAdded { .. } => "DomainAdded",
            Self::DomainRemoved { .. } => "DomainRemoved",
            Self::DomainVerified { .. } => "DomainVerified",
            Self::DomainStepDeferred { .. } => "DomainStepDeferred",
            Self::DomainFailed { .. } => "DomainFailed",
            Self::CertificateOrdered { .. } => "CertificateOrdered",
            Self::CertificateIssued { .. } => "CertificateIssued",
            Self::CertificateRenewed { .. } => "CertificateRenewed",
            Self::CertificateRenewalRequested { .. } => "CertificateRenewalRequested",
            Self::NodeCredentialIssued { .. } => "NodeCredentialIssued",
            Self::NodeCredentialRevoked { .. } => "NodeCredentialRevoked",
            Self::NodeStartFailed { .. } => "NodeStartFailed",
            Self::TenantDeleted { .. } => "TenantDeleted",
            Self::TenantPlanChanged { .. } => "TenantPlanChanged",
        }
    }

    /// Splits the event into its stored `(type, payload)`.
    pub fn to_stored(&self) -> Result<(&'static str, serde_json::Value), serde_json::Error> {
        let mut tagged = serde_json::to_value(self)?;
        let data = tagged.get_mut("data").map(serde_json::Value::take).unwrap_or(serde_json::Value::Null);
        Ok((self.event_type(), data))
    }

    /// Rebuilds an event from its stored `(type, payload)`.
    pub fn from_stored(event_type: &str, payload: serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(serde_json::json!({ "type": event_type, "data": payload }))
    }
}

/// Who caused an event and in answer to what, stored in `events.metadata`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    /// `api_key:<id>`, `signup`, `operator` …
    pub actor: String,
    /// The request that caused the event (its `x-request-id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The client's `Idempotency-Key`, when it sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// The stream an event belongs to: one per aggregate, e.g. `meeting-<uuid>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamId(String);

impl StreamId {
    /// The stream of a tenant (its creation and settings).
    pub fn tenant(id: Uuid) -> Self {
        Self(format!("tenant-{id}"))
    }
    /// The stream of one API key.
    pub fn api_key(id: Uuid) -> Self {
        Self(format!("api_key-{id}"))
    }
    /// The stream of one user.
    pub fn user(id: Uuid) -> Self {
        Self(format!("user-{id}"))
    }
    /// The stream of one meeting.
    pub fn meeting(id: Uuid) -> Self {
        Self(format!("meeting-{id}"))
    }
    /// The stream of one custom domain.
    pub fn domain(id: Uuid) -> Self {
        Self(format!("domain-{id}"))
    }
    /// The stream of one media node's run (its credential, from start to stop).
    pub fn node(id: Uuid) -> Self {
        Self(format!("node-{id}"))
    }
    /// The stream of one run of a room on a media node, from start to end.
    pub fn room_session(id: Uuid) -> Self {
        Self(format!("room_session-{id}"))
    }
    /// A stream by its stored name.
    pub fn from_stored(name: String) -> Self {
        Self(name)
    }
    /// The stored name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_round_trips() {
        let e = DomainEvent::MeetingCancelled { meeting_id: Uuid::now_v7() };
        let (t, payload) = e.to_stored().unwrap();
        assert_eq!(t, "MeetingCancelled");
        assert!(payload.get("meeting_id").is_some());
        assert_eq!(DomainEvent::from_stored(t, payload).unwrap(), e);
    }
}

//! Projections: how each event changes the read models. Run in the append
//! transaction, and again, event by event, when the read models are rebuilt, so
//! they must depend on nothing but the recorded event.

use super::{RecordedEvent, StoreError, sql};
use crate::domain::{DomainEvent, PasswordHash};
use sea_orm::{ConnectionTrait, Value};

fn hash_value(h: &Option<PasswordHash>) -> Value {
    h.as_ref().map(|h| h.as_str().to_owned()).into()
}

/// Applies one recorded event to the read models.
pub(crate) async fn project(conn: &impl ConnectionTrait, r: &RecordedEvent) -> Result<(), StoreError> {
    let at: Value = r.recorded_at.into();
    let version: Value = r.stream_version.into();
    let tenant: Value = r.tenant_id.into();
    let stmt = match &r.event {
        DomainEvent::TenantCreated { tenant_id, name, slug, admin_email } => sql(
            "INSERT INTO tenants (id, slug, name, admin_email, version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
            [(*tenant_id).into(), slug.clone().into(), name.clone().into(), admin_email.as_str().into(), version, at],
        ),
        DomainEvent::TenantSettingsChanged { settings: s } => sql(
            "UPDATE tenants SET auth = $2, guests_allowed = $3, max_participants = $4, lobby = $5,
                    ldap = $6, oidc = $7, version = $8, updated_at = $9
             WHERE id = $1",
            [
                tenant,
                s.auth.as_str().into(),
                s.guests_allowed.into(),
                i32::try_from(s.max_participants).unwrap_or(i32::MAX).into(),
                s.lobby.into(),
                s.ldap.as_ref().map(serde_json::to_value).transpose()?.into(),
                s.oidc.as_ref().map(serde_json::to_value).transpose()?.into(),
                version,
                at,
            ],
        ),
        DomainEvent::ApiKeyCreated { key_id, name, prefix, key_hash } => sql(
            "INSERT INTO api_keys (id, tenant_id, name, prefix, key_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            [
                (*key_id).into(),
                tenant,
                name.clone().into(),
                prefix.clone().into(),
                hex::decode(key_hash).map_err(|e| StoreError::Corrupt(e.to_string()))?.into(),
                at,
            ],
        ),
        DomainEvent::ApiKeyRevoked { key_id } => {
            sql("UPDATE api_keys SET revoked_at = $2 WHERE id = $1", [(*key_id).into(), at])
        }
        DomainEvent::UserCreated { user_id, email, display_name, role, password_hash } => sql(
            "INSERT INTO users (id, tenant_id, email, display_name, role, password_hash, version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            [
                (*user_id).into(),
                tenant,
                email.as_str().into(),
                display_name.clone().into(),
                role.as_str().into(),
                hash_value(password_hash),
                version,
                at,
            ],
        ),
        DomainEvent::UserChanged { user_id, display_name, role, password_hash } => sql(
            "UPDATE users SET display_name = $2, role = $3, password_hash = $4, version = $5, updated_at = $6
             WHERE id = $1",
            [(*user_id).into(), display_name.clone().into(), role.as_str().into(), hash_value(password_hash), version, at],
        ),
        DomainEvent::UserDisabled { user_id } | DomainEvent::UserEnabled { user_id } => sql(
            "UPDATE users SET disabled = $2, version = $3, updated_at = $4 WHERE id = $1",
            [(*user_id).into(), matches!(r.event, DomainEvent::UserDisabled { .. }).into(), version, at],
        ),
        DomainEvent::MeetingScheduled { meeting_id, room, title, starts_at, ends_at, password_hash, moderators, lobby } => {
            sql(
                "INSERT INTO meetings (id, tenant_id, room, title, starts_at, ends_at, password_hash, moderators, lobby,
                                       status, version, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'scheduled', $10, $11, $11)",
                [
                    (*meeting_id).into(),
                    tenant,
                    room.as_str().into(),
                    title.clone().into(),
                    (*starts_at).into(),
                    (*ends_at).into(),
                    hash_value(password_hash),
                    serde_json::to_value(moderators)?.into(),
                    (*lobby).into(),
                    version,
                    at,
                ],
            )
        }
        DomainEvent::MeetingChanged { meeting_id, title, starts_at, ends_at, password_hash, moderators, lobby } => sql(
            "UPDATE meetings SET title = $2, starts_at = $3, ends_at = $4, password_hash = $5, moderators = $6,
                    lobby = $7, version = $8, updated_at = $9
             WHERE id = $1",
            [
                (*meeting_id).into(),
                title.clone().into(),
                (*starts_at).into(),
                (*ends_at).into(),
                hash_value(password_hash),
                serde_json::to_value(moderators)?.into(),
                (*lobby).into(),
                version,
                at,
            ],
        ),
        DomainEvent::MeetingCancelled { meeting_id } => sql(
            "UPDATE meetings SET status = 'cancelled', version = $2, updated_at = $3 WHERE id = $1",
            [(*meeting_id).into(), version, at],
        ),
    };
    conn.execute_raw(stmt).await?;
    Ok(())
}

//! `GET /v1/events`: the tenant's event feed, in log order, for API clients that
//! keep their own copy. Hashes and sealed secrets are not part of the public view.

use super::auth::Authenticated;
use super::extract::Query;
use super::{ApiError, AppState};
use crate::store::{RecordedEvent, Scope, event_feed};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// Fields that never leave the server, and what the feed shows instead.
const REDACTED: &[(&str, &str)] = &[
    ("password_hash", "has_password"),
    ("key_hash", ""),
    ("bind_password", "has_bind_password"),
    ("client_secret", "has_client_secret"),
];

/// One event as the feed shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// Position in the log; pass the last one seen as `after`.
    pub position: i64,
    pub stream_id: String,
    pub stream_version: i64,
    /// e.g. `MeetingScheduled`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub data: Value,
    pub metadata: Value,
    pub recorded_at: DateTime<Utc>,
}

/// A page of the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventFeed {
    pub events: Vec<EventView>,
    /// Pass as `after` for the next page (the last position returned, or `after` itself).
    pub next_after: i64,
}

/// `?after=<position>&limit=<n>` (limit 1–1000, default 100).
#[derive(Debug, Deserialize, IntoParams)]
pub struct FeedQuery {
    #[param(minimum = 0)]
    pub after: Option<i64>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
}

fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (secret, shown_as) in REDACTED {
                if let Some(v) = map.remove(*secret)
                    && !shown_as.is_empty()
                {
                    map.insert((*shown_as).to_owned(), Value::Bool(!v.is_null()));
                }
            }
            map.values_mut().for_each(redact);
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

impl From<RecordedEvent> for EventView {
    fn from(r: RecordedEvent) -> Self {
        let (event_type, mut data) = r.event.to_stored().unwrap_or(("Unknown", Value::Null));
        redact(&mut data);
        EventView {
            position: r.position,
            stream_id: r.stream_id.as_str().to_owned(),
            stream_version: r.stream_version,
            event_type: event_type.to_owned(),
            data,
            metadata: serde_json::to_value(&r.metadata).unwrap_or(Value::Null),
            recorded_at: r.recorded_at,
        }
    }
}

/// The tenant's events after a position, in order.
#[utoipa::path(get, path = "/v1/events", tag = "events", security(("api_key" = [])), params(FeedQuery),
    responses((status = 200, body = EventFeed), (status = 422, body = super::ErrorBody)))]
pub async fn feed(
    state: web::Data<AppState>,
    auth: Authenticated,
    query: Query<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    let after = query.0.after.unwrap_or(0);
    let limit = query.0.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(crate::domain::FieldError::new("limit", "limit must be 1 to 1000").into());
    }
    if after < 0 {
        return Err(crate::domain::FieldError::new("after", "after must be a position, 0 or more").into());
    }
    let tx = state.store.begin(Scope::Tenant(auth.tenant_id)).await?;
    let events = event_feed::after(&tx, auth.tenant_id, after, limit).await?;
    tx.commit().await?;
    let next_after = events.last().map(|e| e.position).unwrap_or(after);
    Ok(HttpResponse::Ok().json(EventFeed { events: events.into_iter().map(EventView::from).collect(), next_after }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_sealed_secrets_are_replaced_by_flags() {
        let mut v = serde_json::json!({
            "password_hash": "$argon2id$...", "key_hash": "ab",
            "settings": {"ldap": {"bind_password": "v1.xyz"}, "oidc": {"client_secret": null}}
        });
        redact(&mut v);
        assert_eq!(
            v,
            serde_json::json!({
                "has_password": true,
                "settings": {"ldap": {"has_bind_password": true}, "oidc": {"has_client_secret": false}}
            })
        );
    }
}

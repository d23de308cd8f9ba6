//! `Idempotency-Key`: a retried request replays the first response and appends nothing.
//!
//! The response is saved in the same transaction as the events the request
//! appended, so either both exist or neither does.

use super::{StoreError, Transaction, Violation, sql};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

/// A client-chosen key: 1–255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses the header value.
    pub fn parse(value: &str) -> Result<Self, crate::domain::FieldError> {
        if value.is_empty() || value.len() > 255 || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(crate::domain::FieldError::new(
                "Idempotency-Key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A response saved for replay, with the fingerprint of the request that caused it.
#[derive(Debug, Clone)]
pub struct SavedResponse {
    /// SHA-256 of method, path and body of the first request.
    pub fingerprint: String,
    /// Its HTTP status.
    pub status: u16,
    /// Its JSON body.
    pub body: serde_json::Value,
}

impl Transaction {
    /// The response saved under `key`, if a request with it has completed.
    pub async fn saved_response(
        &self,
        tenant: Uuid,
        key: &IdempotencyKey,
    ) -> Result<Option<SavedResponse>, StoreError> {
        let row = self
            .conn()
            .query_one_raw(sql(
                "SELECT fingerprint, response_status, response_body FROM idempotency_keys
                 WHERE tenant_id = $1 AND key = $2",
                [tenant.into(), key.as_str().into()],
            ))
            .await?;
        row.map(|r| {
            Ok(SavedResponse {
                fingerprint: r.try_get("", "fingerprint")?,
                status: u16::try_from(r.try_get::<i16>("", "response_status")?).unwrap_or(500),
                body: r.try_get("", "response_body")?,
            })
        })
        .transpose()
    }

    /// Saves the response to replay for `key`. A concurrent request with the same key
    /// makes this fail with [`StoreError::IdempotencyInFlight`].
    pub async fn save_response(
        &self,
        tenant: Uuid,
        key: &IdempotencyKey,
        response: &SavedResponse,
    ) -> Result<(), StoreError> {
        let result = self
            .conn()
            .execute_raw(sql(
                "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, response_status, response_body)
                 VALUES ($1, $2, $3, $4, $5)",
                [
                    tenant.into(),
                    key.as_str().into(),
                    response.fingerprint.clone().into(),
                    (response.status as i16).into(),
                    response.body.clone().into(),
                ],
            ))
            .await;
        match result.map_err(StoreError::from) {
            Ok(_) => Ok(()),
            Err(StoreError::Violation(Violation::Unique(_))) => Err(StoreError::IdempotencyInFlight),
            Err(e) => Err(e),
        }
    }
}

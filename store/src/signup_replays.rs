//! Saved signup answers, for a signup retried with the same `Idempotency-Key`.
//!
//! The answer holds the new admin key, so it is kept sealed with the new tenant's
//! data key, under the SHA-256 of the idempotency key, for [`SIGNUP_REPLAY_HOURS`]
//! (see migration m0008). Deleting the tenant deletes it (and shreds the key).

use super::{IdempotencyKey, StoreError, Transaction, Violation, sql};
use crate::domain::SealedSecret;
use sea_orm::{ConnectionTrait, FromQueryResult};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// How long a signup's answer can be replayed.
pub const SIGNUP_REPLAY_HOURS: i64 = 24;

/// A signup that completed with an idempotency key.
#[derive(Debug, Clone)]
pub struct SignupReplay {
    /// The tenant it created.
    pub tenant_id: Uuid,
    /// SHA-256 of the request line and body of that signup.
    pub fingerprint: String,
    /// Its answer (JSON), sealed with the tenant's data key.
    pub sealed_answer: SealedSecret,
}

fn key_hash(key: &IdempotencyKey) -> Vec<u8> {
    Sha256::digest(key.as_str().as_bytes()).to_vec()
}

/// The signup saved under `key` within the last [`SIGNUP_REPLAY_HOURS`] (platform scope).
pub async fn find(tx: &Transaction, key: &IdempotencyKey) -> Result<Option<SignupReplay>, StoreError> {
    #[derive(FromQueryResult)]
    struct Row {
        tenant_id: Uuid,
        fingerprint: String,
        sealed_answer: String,
    }
    let row = Row::find_by_statement(sql(
        "SELECT tenant_id, fingerprint, sealed_answer FROM signup_replays
         WHERE key_hash = $1 AND created_at > now() - make_interval(hours => $2)",
        [key_hash(key).into(), (SIGNUP_REPLAY_HOURS as i32).into()],
    ))
    .one(tx.conn())
    .await?;
    Ok(row.map(|r| SignupReplay {
        tenant_id: r.tenant_id,
        fingerprint: r.fingerprint,
        sealed_answer: SealedSecret(r.sealed_answer),
    }))
}

/// Forgets a signup saved under `key` longer ago than [`SIGNUP_REPLAY_HOURS`], so
/// the key can be used again (platform scope).
pub async fn forget_expired(tx: &Transaction, key: &IdempotencyKey) -> Result<(), StoreError> {
    tx.conn()
        .execute_raw(sql(
            "DELETE FROM signup_replays WHERE key_hash = $1 AND created_at <= now() - make_interval(hours => $2)",
            [key_hash(key).into(), (SIGNUP_REPLAY_HOURS as i32).into()],
        ))
        .await?;
    Ok(())
}

/// Saves the answer of a signup, in the transaction that creates the tenant. A
/// concurrent signup with the same key makes this fail with
/// [`StoreError::IdempotencyInFlight`].
pub async fn save(tx: &Transaction, key: &IdempotencyKey, replay: &SignupReplay) -> Result<(), StoreError> {
    let result = tx
        .conn()
        .execute_raw(sql(
            "INSERT INTO signup_replays (key_hash, tenant_id, fingerprint, sealed_answer) VALUES ($1, $2, $3, $4)",
            [
                key_hash(key).into(),
                replay.tenant_id.into(),
                replay.fingerprint.clone().into(),
                replay.sealed_answer.0.clone().into(),
            ],
        ))
        .await;
    match result.map_err(StoreError::from) {
        Ok(_) => Ok(()),
        Err(StoreError::Violation(Violation::Unique(_))) => Err(StoreError::IdempotencyInFlight),
        Err(e) => Err(e),
    }
}

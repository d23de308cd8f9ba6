//! Running a command: one tenant-scoped transaction holding the appended events,
//! their projections and, when the client sent an `Idempotency-Key`, the response
//! to replay for a retry.

use super::auth::Authenticated;
use super::{ApiError, AppState};
use crate::domain::{DomainEvent, EventMetadata, StreamId};
use crate::store::{
    Appended, EventStore, ExpectedVersion, IdempotencyKey, SavedResponse, Scope, StoreError, Transaction,
};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The `x-request-id` of the request being served (set by the request-log middleware).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// What a command needs from the request besides its body: the idempotency key,
/// the request line (part of the fingerprint) and the request id.
pub struct CommandRequest {
    key: Option<IdempotencyKey>,
    request_line: String,
    request_id: Option<String>,
}

impl FromRequest for CommandRequest {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let key = match req.headers().get("idempotency-key") {
            None => Ok(None),
            Some(v) => IdempotencyKey::parse(v.to_str().unwrap_or(""))
                .map(Some)
                .map_err(|e| ApiError::malformed(Some(e.field.into()), e.message)),
        };
        std::future::ready(key.map(|key| CommandRequest {
            key,
            request_line: format!("{} {}", req.method(), req.path()),
            request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
        }))
    }
}

impl CommandRequest {
    /// The same request with its idempotency key ignored: for commands whose answer
    /// holds a secret shown once, which must never be saved for replay.
    pub fn without_key(self) -> Self {
        Self { key: None, ..self }
    }

    /// The client's idempotency key, if it sent one.
    pub fn key(&self) -> Option<&IdempotencyKey> {
        self.key.as_ref()
    }

    /// SHA-256 of the request line and `body_digest` (the body's SHA-256): what a
    /// retry with the same key must repeat.
    pub fn fingerprint(&self, body_digest: &[u8; 32]) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.request_line.as_bytes());
        hasher.update(body_digest);
        hex::encode(hasher.finalize())
    }

    /// A command issued by the operator's CLI rather than over HTTP.
    pub fn operator(what: &str) -> Self {
        Self { key: None, request_line: format!("operator {what}"), request_id: None }
    }
}

/// What a command answers: status, JSON body and the resource's version (`ETag`).
pub struct Reply {
    status: StatusCode,
    body: serde_json::Value,
    version: Option<i64>,
}

impl Reply {
    /// A reply with a body.
    pub fn json(status: StatusCode, body: &impl serde::Serialize) -> Result<Self, ApiError> {
        let body = serde_json::to_value(body).map_err(|e| ApiError::Internal(e.into()))?;
        Ok(Self { status, body, version: None })
    }

    /// 204 No Content.
    pub fn no_content() -> Self {
        Self { status: StatusCode::NO_CONTENT, body: serde_json::Value::Null, version: None }
    }

    /// Sends the resource's version as its `ETag`.
    pub fn with_version(mut self, version: i64) -> Self {
        self.version = Some(version);
        self
    }

    fn into_response(self, replayed: bool) -> HttpResponse {
        let mut r = HttpResponse::build(self.status);
        if let Some(v) = self.version {
            r.insert_header(("ETag", format!("\"{v}\"")));
        }
        if replayed {
            r.insert_header(("Idempotent-Replayed", "true"));
        }
        if self.status == StatusCode::NO_CONTENT { r.finish() } else { r.json(self.body) }
    }
}

/// Where a command's writes go: nowhere yet, an open transaction, or (for a command
/// whose only write was one append) already committed on its own.
enum Unit {
    Pending,
    Open(Transaction),
    Committed,
}

/// A command under way. Its transaction opens when it first reads (or when the
/// request is keyed); a command that only appends commits in that one statement.
pub struct Command {
    store: EventStore,
    unit: Unit,
    tenant: Uuid,
    key: Option<IdempotencyKey>,
    fingerprint: String,
    metadata: EventMetadata,
    appended: usize,
}

/// How starting a command went: a replay of an earlier response, or a fresh start.
pub enum Started {
    /// The key was used before with this same request: here is its response.
    Replayed(HttpResponse),
    /// Go ahead.
    Fresh(Command),
}

impl Command {
    /// Starts a command for an authenticated tenant. `body_digest` is the SHA-256 of
    /// the request body (all zeroes when there is none).
    pub async fn start(
        state: &AppState,
        auth: &Authenticated,
        req: CommandRequest,
        body_digest: &[u8; 32],
    ) -> Result<Started, ApiError> {
        let actor = auth.actor();
        Self::start_as(state, auth.tenant_id, actor, req, body_digest).await
    }

    /// Starts a command for `tenant` on behalf of `actor`.
    pub async fn start_as(
        state: &AppState,
        tenant: Uuid,
        actor: String,
        req: CommandRequest,
        body_digest: &[u8; 32],
    ) -> Result<Started, ApiError> {
        let fingerprint = req.fingerprint(body_digest);
        let metadata = EventMetadata {
            actor,
            correlation_id: req.request_id,
            idempotency_key: req.key.as_ref().map(|k| k.as_str().to_owned()),
        };
        let mut command = Command {
            store: state.store.clone(),
            unit: Unit::Pending,
            tenant,
            key: req.key,
            fingerprint,
            metadata,
            appended: 0,
        };
        // A keyed command needs its transaction from the start: the saved response
        // is read, and later written, in the same unit as the events.
        if let Some(key) = command.key.clone() {
            let tx = command.tx().await?;
            if let Some(saved) = tx.saved_response(tenant, &key).await? {
                if saved.fingerprint != command.fingerprint {
                    return Err(ApiError::Invalid(crate::domain::FieldError::new(
                        "Idempotency-Key",
                        "this Idempotency-Key was used with a different request",
                    )));
                }
                let status = StatusCode::from_u16(saved.status).unwrap_or(StatusCode::OK);
                let version = saved.body.get("version").and_then(serde_json::Value::as_i64);
                let reply = Reply { status, body: saved.body, version };
                return Ok(Started::Replayed(reply.into_response(true)));
            }
        }
        Ok(Started::Fresh(command))
    }

    /// The command's transaction, opened on first use.
    pub async fn tx(&mut self) -> Result<&Transaction, ApiError> {
        if matches!(self.unit, Unit::Pending) {
            self.unit = Unit::Open(self.store.begin(Scope::Tenant(self.tenant)).await?);
        }
        match &self.unit {
            Unit::Open(tx) => Ok(tx),
            _ => Err(ApiError::Internal(anyhow::anyhow!("command used after its only append committed"))),
        }
    }

    /// Appends events to one of this tenant's streams: in the command's transaction
    /// if it has one, otherwise in one statement that commits by itself.
    pub async fn append(
        &mut self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: &[DomainEvent],
    ) -> Result<Vec<Appended>, StoreError> {
        let appended = match &self.unit {
            Unit::Open(tx) => tx.append(self.tenant, stream, expected, events, &self.metadata).await?,
            Unit::Pending => {
                let appended = self.store.append(self.tenant, stream, expected, events, &self.metadata).await?;
                self.unit = Unit::Committed;
                appended
            }
            Unit::Committed => {
                return Err(StoreError::Corrupt("a second write after a self-committing append".into()));
            }
        };
        self.appended += appended.len();
        Ok(appended)
    }

    /// Saves the reply for replay (when keyed), commits, and answers.
    pub async fn finish(self, state: &AppState, reply: Reply) -> Result<HttpResponse, ApiError> {
        if let Unit::Open(tx) = self.unit {
            if let Some(key) = &self.key {
                let saved = SavedResponse {
                    fingerprint: self.fingerprint,
                    status: reply.status.as_u16(),
                    body: reply.body.clone(),
                };
                tx.save_response(self.tenant, key, &saved).await?;
            }
            tx.commit().await?;
        }
        state.metrics.events_appended.inc_by(self.appended as u64);
        Ok(reply.into_response(false))
    }
}

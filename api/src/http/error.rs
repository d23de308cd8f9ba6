//! `ApiError`: the one mapping from anything that went wrong to an HTTP response.
//!
//! The body is always `{"error": {"code", "message", "field"}}`. Codes are stable
//! (documented in the README); the message is for people; causes of 500s go to the
//! log with the request id, never to the client.

use crate::domain::FieldError;
use crate::store::StoreError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

/// The JSON body of every error response, and its parts: one definition with the
/// media nodes, which read the `code` of what the api refuses them.
pub use confer_vocabulary::node_api::{ErrorBody, ErrorDetail};

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request could not be read (bad JSON, wrong type, unknown field, bad header).
    #[error("{message}")]
    Malformed { message: String, field: Option<String> },
    /// 401: no API key, or one that does not work.
    #[error("a valid API key is required: send `Authorization: Bearer <key>`")]
    Unauthorized,
    /// 404: no such resource for this tenant (another tenant's looks the same).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409: the request contradicts the current state.
    #[error("{message}")]
    Conflict { code: &'static str, message: String, field: Option<&'static str> },
    /// 412: `If-Match` names a version that is no longer current.
    #[error("the resource has changed since version {expected}; fetch it again and retry")]
    Stale { expected: i64 },
    /// 405: the path exists, the method does not; `allow` lists those it has.
    #[error("method not allowed on this path; allowed: {allow}")]
    MethodNotAllowed { allow: &'static str },
    /// 413: body over the configured limit.
    #[error("request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// 415: not JSON.
    #[error("request body must be JSON (Content-Type: application/json)")]
    NotJson,
    /// 422: well-formed, but a value is not acceptable.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// 429: too many requests; retry after the given seconds.
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// 403: a login the tenant's back-end refused (wrong password, disabled account,
    /// an ID token that does not check out), or a login method the tenant has not chosen.
    #[error("{message}")]
    LoginRefused { code: &'static str, message: String },
    /// 403: the caller may not do this (a media node's credential on an endpoint for
    /// the tenant's API keys).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// 503: a service the request needs (the tenant's LDAP directory or OpenID
    /// provider) did not answer; the message says which and what happened.
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    /// 500: our fault. The cause is logged, not shown.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// A 400 on a named field.
    pub fn malformed(field: Option<String>, message: impl Into<String>) -> Self {
        Self::Malformed { message: message.into(), field }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Malformed { .. } => "malformed_request",
            Self::Unauthorized => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::Conflict { code, .. } => code,
            Self::Stale { .. } => "stale_version",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::TooLarge { .. } => "body_too_large",
            Self::NotJson => "unsupported_media_type",
            Self::Invalid(_) => "invalid_field",
            Self::RateLimited { .. } => "rate_limited",
            Self::LoginRefused { code, .. } | Self::Forbidden { code, .. } | Self::Unavailable { code, .. } => code,
            Self::Internal(_) => "internal",
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            Self::Malformed { field, .. } => field.clone(),
            Self::Invalid(e) => Some(e.field.to_owned()),
            Self::Conflict { field, .. } => field.map(str::to_owned),
            _ => None,
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Invalid(e) => e.message.clone(),
            other => other.to_string(),
        }
    }
}

impl From<crate::token_signer::TokenSigningError> for ApiError {
    fn from(err: crate::token_signer::TokenSigningError) -> Self {
        ApiError::Internal(err.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict { stream, .. } => ApiError::Conflict {
                code: "concurrent_modification",
                message: format!("{stream} was changed by another request at the same time; retry"),
                field: None,
            },
            StoreError::IdempotencyInFlight => ApiError::Conflict {
                code: "idempotency_key_in_use",
                message: "a request with this Idempotency-Key is still being processed; retry later".into(),
                field: None,
            },
            other => ApiError::Internal(other.into()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Malformed { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Stale { .. } => StatusCode::PRECONDITION_FAILED,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::LoginRefused { .. } | Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(cause) = self {
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::Unauthorized => {
                response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            Self::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, *allow));
            }
            Self::RateLimited { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            _ => {}
        }
        response.json(ErrorBody {
            error: ErrorDetail { code: self.code().to_owned(), message: self.message(), field: self.field() },
        })
    }
}

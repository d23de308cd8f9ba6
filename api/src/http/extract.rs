//! Reading requests: JSON bodies, query strings, paths and headers, each failure
//! turned into a precise 4xx `ApiError` instead of actix's plain-text defaults.

use super::{ApiError, AppState};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::pin::Pin;

/// A JSON body parsed into `T`, with the SHA-256 of its bytes (for idempotency).
pub struct JsonBody<T> {
    /// The parsed body.
    pub value: T,
    /// SHA-256 of the raw bytes.
    pub digest: [u8; 32],
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<web::Data<AppState>>().map(|s| s.config.max_body_bytes).unwrap_or(65_536);
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json"))
            .unwrap_or(false);
        let declared_too_large = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|n| n > limit);
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::NotJson);
            }
            if declared_too_large {
                return Err(ApiError::TooLarge { limit });
            }
            let mut bytes = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| ApiError::malformed(None, format!("could not read the body: {e}")))?;
                if bytes.len() + chunk.len() > limit {
                    return Err(ApiError::TooLarge { limit });
                }
                bytes.extend_from_slice(&chunk);
            }
            let digest: [u8; 32] = Sha256::digest(&bytes).into();
            let de = &mut serde_json::Deserializer::from_slice(&bytes);
            let value = serde_path_to_error::deserialize(de).map_err(|e| {
                let path = e.path().to_string();
                let field = (path != ".").then_some(path);
                ApiError::malformed(field, format!("invalid JSON body: {}", e.into_inner()))
            })?;
            Ok(JsonBody { value, digest })
        })
    }
}

/// Query-string parameters parsed into `T`.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            serde_urlencoded::from_str::<T>(req.query_string())
                .map(Query)
                .map_err(|e| ApiError::malformed(None, format!("invalid query string: {e}"))),
        )
    }
}

/// A resource id from the path: a UUID, or 404 (an id that cannot exist is not found).
pub fn path_id(req: &HttpRequest, what: &'static str) -> Result<uuid::Uuid, ApiError> {
    req.match_info().get("id").and_then(|s| uuid::Uuid::parse_str(s).ok()).ok_or(ApiError::NotFound(what))
}

/// The version named by `If-Match` (`"3"`, `3` or `W/"3"`), if the header is present.
pub fn if_match(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else { return Ok(None) };
    let text = value.to_str().unwrap_or("");
    let bare = text.trim().trim_start_matches("W/").trim_matches('"');
    bare.parse::<i64>()
        .map(Some)
        .map_err(|_| ApiError::malformed(Some("If-Match".into()), "If-Match must be a version number, e.g. \"3\""))
}

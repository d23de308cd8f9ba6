//! Cursor pagination: `?limit=&cursor=`, answered with `{items, next_cursor}`.
//! Cursors are opaque to clients (base64url JSON of where the page ended).

use super::ApiError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Serialize, de::DeserializeOwned};

/// Default page size.
pub const DEFAULT_LIMIT: u64 = 50;
/// Largest page size.
pub const MAX_LIMIT: u64 = 200;

/// A page of items and the cursor of the next page, if there is one.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items, in order.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Checks `limit` (1–200, default 50).
pub fn limit(requested: Option<u64>) -> Result<u64, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::Invalid(crate::domain::FieldError::new("limit", "limit must be 1 to 200"))),
    }
}

/// Encodes a cursor.
pub fn encode<C: Serialize>(cursor: &C) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

/// Decodes a cursor a client sent back.
pub fn decode<C: DeserializeOwned>(text: Option<&str>) -> Result<Option<C>, ApiError> {
    let Some(text) = text else { return Ok(None) };
    URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .map(Some)
        .ok_or_else(|| ApiError::malformed(Some("cursor".into()), "cursor is not one this API returned"))
}

/// Splits `limit + 1` fetched rows into a page, making the cursor from the last item kept.
pub fn page<R, T, C: Serialize>(
    mut rows: Vec<R>,
    limit: u64,
    cursor_of: impl Fn(&R) -> C,
    view: impl Fn(R) -> T,
) -> Page<T> {
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more { rows.last().map(|r| encode(&cursor_of(r))) } else { None };
    Page { items: rows.into_iter().map(view).collect(), next_cursor }
}

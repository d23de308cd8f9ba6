//! How the api says no: every error answer has the body
//! `{"error": {"code", "message", "field"}}`. A node acts on the stable `code` (a
//! wrong password is counted, a refused login is shown to the person) and may pass
//! the whole body on.

use serde::{Deserialize, Serialize};

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The parts of an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable, machine-readable: `malformed_body`, `invalid_field`, `not_found`, …
    pub code: String,
    /// What a person should know to fix the request.
    pub message: String,
    /// The request field at fault, when there is one.
    pub field: Option<String>,
}

impl ErrorBody {
    /// An error with `code` and `message`, about no field in particular.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { error: ErrorDetail { code: code.into(), message: message.into(), field: None } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_error_as_the_api_writes_it_round_trips() {
        let written = json!({"error": {"code": "invalid_credentials", "message": "wrong", "field": null}});
        let body: ErrorBody = serde_json::from_value(written.clone()).expect("an error body");
        assert_eq!(body, ErrorBody::new("invalid_credentials", "wrong"));
        assert_eq!(serde_json::to_value(&body).ok(), Some(written));
        assert!(serde_json::from_value::<ErrorBody>(json!({"code": "invalid_credentials"})).is_err());
    }
}

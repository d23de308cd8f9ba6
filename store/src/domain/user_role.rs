//! A user's standing in its tenant.

use super::FieldError;

/// `member` joins meetings; `moderator` is moderator in every room of the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UserRole {
    /// Joins meetings; moderator only where a meeting names them.
    Member,
    /// Moderator in every room of the tenant.
    Moderator,
}

impl UserRole {
    /// Parses the stored or requested spelling.
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        match value {
            "member" => Ok(Self::Member),
            "moderator" => Ok(Self::Moderator),
            _ => Err(FieldError::new("role", "role must be \"member\" or \"moderator\"")),
        }
    }

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Moderator => "moderator",
        }
    }
}

//! The name of a meeting room: the last part of a meeting link, `<site>/<room>`.

use super::FieldError;
use std::fmt;

/// 1–64 characters of `a-z`, `0-9`, `-`, `_` and `.`, lower-cased: room names are
/// case-insensitive, as in Jitsi, so `Standup` and `standup` are one room.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct RoomName(String);

impl RoomName {
    /// Parses a room name from a link or a request.
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let lower = value.trim().to_ascii_lowercase();
        if lower.is_empty() || lower.len() > 64 {
            return Err(FieldError::new("room", "room must be 1 to 64 characters long"));
        }
        if !lower.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')) {
            return Err(FieldError::new("room", "room may contain only letters, digits, '-', '_' and '.'"));
        }
        if lower.starts_with('.') {
            return Err(FieldError::new("room", "room must not start with '.'"));
        }
        Ok(Self(lower))
    }

    /// The room name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case() {
        assert_eq!(RoomName::parse("Weekly-Standup").unwrap().as_str(), "weekly-standup");
    }

    #[test]
    fn refuses_path_tricks_and_spaces() {
        for bad in ["", "a b", "../etc", ".hidden", "a/b", "ümlaut", &"r".repeat(65)] {
            assert!(RoomName::parse(bad).is_err(), "{bad}");
        }
    }
}

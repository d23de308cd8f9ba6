//! The name of a meeting room: the last part of a meeting link, `<site>/<room>`.

use std::fmt;

/// 1–64 characters of `a-z`, `0-9`, `-`, `_` and `.`, not starting with `.`,
/// lower-cased: room names are case-insensitive, as in Jitsi, so `Standup` and
/// `standup` are one room.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct RoomName(String);

/// Why a text is not a room name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRoomName(pub &'static str);

impl RoomName {
    /// Parses a room name from a meeting link, a request or a message.
    pub fn parse(value: &str) -> Result<Self, InvalidRoomName> {
        let lower = value.trim().to_ascii_lowercase();
        if lower.is_empty() || lower.len() > 64 {
            return Err(InvalidRoomName("a room name must be 1 to 64 characters long"));
        }
        if !lower.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')) {
            return Err(InvalidRoomName("a room name may contain only letters, digits, '-', '_' and '.'"));
        }
        if lower.starts_with('.') {
            return Err(InvalidRoomName("a room name must not start with '.'"));
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
    fn room_names_fold_case_and_trim() {
        assert_eq!(RoomName::parse("  Weekly-Standup ").map(|n| n.0), Ok("weekly-standup".to_owned()));
    }

    #[test]
    fn room_names_accept_the_whole_alphabet_and_64_characters() {
        for ok in ["a", "0", "a-b_c.d", "x.", &"r".repeat(64)] {
            assert_eq!(RoomName::parse(ok).map(|n| n.0), Ok(ok.to_owned()), "{ok}");
        }
    }

    #[test]
    fn room_names_refuse_empty_long_foreign_and_hidden_names() {
        for bad in ["", "   ", "a b", "../etc", ".hidden", "a/b", "ümlaut", "a\u{0}b", "a+b", &"r".repeat(65)] {
            assert!(RoomName::parse(bad).is_err(), "{bad:?}");
        }
    }
}

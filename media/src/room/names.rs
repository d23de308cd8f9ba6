//! The names people type: the room's (the last part of a meeting link, parsed by the
//! rule the api shares) and their own.
//!
//! Both are parsed once at the edge; the rules never re-check them.

use super::RoomError;
use std::fmt;

pub use confer_vocabulary::RoomName;

impl From<confer_vocabulary::InvalidRoomName> for RoomError {
    fn from(e: confer_vocabulary::InvalidRoomName) -> Self {
        RoomError::InvalidRoomName(e.0)
    }
}

/// What a participant is called in the meeting: trimmed, 1–64 characters, no
/// control characters. Not unique: two people may both be called "Ada".
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    /// The longest name, in characters (not bytes).
    pub const MAX_CHARS: usize = 64;

    /// Parses the name a participant gave, trimming the spaces around it.
    pub fn parse(value: &str) -> Result<Self, RoomError> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(RoomError::InvalidDisplayName("a display name must not be empty"));
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(RoomError::InvalidDisplayName("a display name must be at most 64 characters long"));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(RoomError::InvalidDisplayName("a display name must not contain control characters"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_name_errors_say_what_is_wrong() {
        let refused = |name: &str| RoomName::parse(name).map_err(RoomError::from);
        assert_eq!(refused(""), Err(RoomError::InvalidRoomName("a room name must be 1 to 64 characters long")));
        assert_eq!(refused(".x"), Err(RoomError::InvalidRoomName("a room name must not start with '.'")));
        assert_eq!(refused("a b").map_err(|e| e.code()), Err("invalid_room_name"));
    }

    #[test]
    fn display_names_are_trimmed() {
        assert_eq!(DisplayName::parse("  Ada Lovelace \t").map(|n| n.0), Ok("Ada Lovelace".to_owned()));
    }

    #[test]
    fn display_names_count_characters_not_bytes() {
        let sixty_four_umlauts = "ü".repeat(64);
        assert!(DisplayName::parse(&sixty_four_umlauts).is_ok());
        assert!(DisplayName::parse(&"ü".repeat(65)).is_err());
    }

    #[test]
    fn display_names_refuse_empty_long_and_control_characters() {
        let cases = [
            ("", "a display name must not be empty"),
            ("   ", "a display name must not be empty"),
            ("Ada\nLovelace", "a display name must not contain control characters"),
            ("Ada\u{7}", "a display name must not contain control characters"),
            ("\u{1b}[31mRed", "a display name must not contain control characters"),
        ];
        for (bad, why) in cases {
            assert_eq!(DisplayName::parse(bad), Err(RoomError::InvalidDisplayName(why)), "{bad:?}");
        }
        assert_eq!(
            DisplayName::parse(&"x".repeat(65)),
            Err(RoomError::InvalidDisplayName("a display name must be at most 64 characters long"))
        );
    }

    #[test]
    fn names_serialize_as_plain_strings() {
        let room = RoomName::parse("Standup").map(|n| serde_json::to_string(&n).ok());
        assert_eq!(room, Ok(Some("\"standup\"".to_owned())));
        let name = DisplayName::parse(" Ada ").map(|n| serde_json::to_string(&n).ok());
        assert_eq!(name, Ok(Some("\"Ada\"".to_owned())));
    }
}

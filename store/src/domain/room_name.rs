//! The name of a meeting room: the rule is shared with the media nodes
//! (`confer_vocabulary::RoomName`); here its refusal becomes a field error.

use super::FieldError;
pub use confer_vocabulary::RoomName;

impl From<confer_vocabulary::InvalidRoomName> for FieldError {
    fn from(e: confer_vocabulary::InvalidRoomName) -> Self {
        FieldError::new("room", e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_room_name_is_an_error_of_the_room_field() {
        let e = FieldError::from(RoomName::parse("../etc").unwrap_err());
        assert_eq!(e, FieldError::new("room", "a room name may contain only letters, digits, '-', '_' and '.'"));
    }
}

//! What a published track shows: the participant's camera and microphone, or their
//! screen. Each source has its own publish connection, so sharing a screen never
//! renegotiates the camera, and stopping it is closing one connection.

use serde::Deserialize;

/// Where a participant's published tracks come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackSource {
    /// Camera and microphone.
    #[default]
    Camera,
    /// A screen share (a second video track).
    Screen,
}

impl TrackSource {
    /// The stream id subscribers see on this source's tracks: the participant's id,
    /// with `-screen` appended for a screen share.
    pub fn stream_id(self, participant: &str) -> String {
        match self {
            TrackSource::Camera => participant.to_owned(),
            TrackSource::Screen => format!("{participant}-screen"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribers_tell_a_screen_from_a_camera_by_the_stream_id() {
        assert_eq!(TrackSource::Camera.stream_id("4f1c2a9be0d37a61"), "4f1c2a9be0d37a61");
        assert_eq!(TrackSource::Screen.stream_id("4f1c2a9be0d37a61"), "4f1c2a9be0d37a61-screen");
    }
}

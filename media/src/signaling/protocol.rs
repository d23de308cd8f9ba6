//! The frames of signaling protocol version 1 (see `docs/signaling.md`).
//!
//! A client frame is a JSON object `{"v": 1, "id": <optional number>, "type": ..., ...}`.
//! Replies carry the request's `id` as `re`. Unknown types, unknown fields, wrong
//! versions and malformed JSON are answered with an `error` frame and change nothing.

use crate::room::{
    DisplayName, MediaKind, ParticipantId, ParticipantSnapshot, Role, RoomEvent, RoomName, RoomSnapshot, WaitReason,
};
use crate::sfu::TrackSource;
use serde::{Deserialize, Serialize};

/// The protocol version this node speaks.
pub const PROTOCOL_VERSION: u64 = 1;

/// Largest text frame accepted (SDP of a few dozen tracks fits easily).
pub(crate) const MAX_FRAME_BYTES: usize = 256 * 1024;

/// Audio or video, as the client writes it.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    Audio,
    Video,
}

impl From<Kind> for MediaKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Audio => MediaKind::Audio,
            Kind::Video => MediaKind::Video,
        }
    }
}

/// What a client asks.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Request {
    Join {
        room: String,
        /// Required unless a token names them.
        name: Option<String>,
        password: Option<String>,
        reconnect_token: Option<String>,
        /// A join token (from the meeting link's `?jwt=`) or a session token; without
        /// one, the site's session cookie is used if there is one.
        token: Option<String>,
    },
    Publish {
        sdp: String,
        source: Option<TrackSource>,
    },
    Unpublish {
        source: TrackSource,
    },
    Subscribe,
    SubscribeAnswer {
        sdp: String,
    },
    Media {
        audio_muted: bool,
        video_muted: bool,
        screen_sharing: bool,
    },
    Chat {
        text: String,
    },
    Mute {
        participant: String,
        kind: Kind,
    },
    MuteAll {
        kind: Kind,
    },
    Remove {
        participant: String,
    },
    GrantModerator {
        participant: String,
    },
    Lock {
        password: String,
    },
    Unlock,
    EndMeeting,
    Admit {
        participant: String,
    },
    Deny {
        participant: String,
    },
    Leave,
}

/// A parsed client frame: its id (for the reply) and the request.
#[derive(Debug)]
pub(crate) struct ClientFrame {
    pub(crate) id: Option<u64>,
    pub(crate) request: Request,
}

/// Why a frame was not understood.
#[derive(Debug)]
pub(crate) struct Unreadable {
    pub(crate) id: Option<u64>,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

/// Parses one text frame.
pub(crate) fn parse(text: &str) -> Result<ClientFrame, Unreadable> {
    let mut value: serde_json::Value = serde_json::from_str(text).map_err(|e| Unreadable {
        id: None,
        code: "malformed_frame",
        message: format!("not JSON: {e}"),
    })?;
    let Some(object) = value.as_object_mut() else {
        return Err(Unreadable { id: None, code: "malformed_frame", message: "a frame is a JSON object".into() });
    };
    let id = object.remove("id").and_then(|v| v.as_u64());
    match object.remove("v").and_then(|v| v.as_u64()) {
        Some(PROTOCOL_VERSION) => {}
        Some(other) => {
            return Err(Unreadable {
                id,
                code: "unsupported_version",
                message: format!("protocol version {other} is not spoken here; use {PROTOCOL_VERSION}"),
            });
        }
        None => {
            return Err(Unreadable { id, code: "malformed_frame", message: "\"v\": 1 is required".into() });
        }
    }
    serde_json::from_value(value).map(|request| ClientFrame { id, request }).map_err(|e| Unreadable {
        id,
        code: "malformed_frame",
        message: e.to_string(),
    })
}

/// Someone knocking on the lobby, as moderators see them.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Knock {
    pub(crate) participant: ParticipantId,
    pub(crate) display_name: DisplayName,
}

/// A seat taken: the answer to `join`, or a push when a wait ends with a seat.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct JoinedFrame {
    pub(crate) participant: ParticipantId,
    pub(crate) reconnect_token: String,
    pub(crate) role: Role,
    pub(crate) room: Box<RoomSnapshot>,
    pub(crate) ice_servers: Vec<crate::turn::IceServer>,
    /// Who is speaking now (later changes come as `active_speaker` pushes).
    pub(crate) active_speaker: Option<ParticipantId>,
    /// Who knocks on the lobby now (moderators only; empty for others).
    pub(crate) lobby: Vec<Knock>,
}

/// What the node sends.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Reply {
    Joined(JoinedFrame),
    /// Not in yet: waiting for the host, or in the lobby. `joined` or
    /// `join_refused` follows as a push.
    Waiting {
        participant: ParticipantId,
        reason: WaitReason,
    },
    PublishAnswer {
        sdp: String,
    },
    SubscribeOffer {
        sdp: String,
    },
    Ok,
    Error {
        code: &'static str,
        message: String,
    },
}

/// A frame the node pushes without being asked.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Push {
    /// Something happened in the room.
    Event { event: RoomEvent },
    /// A chat message to everyone.
    Chat { from: ParticipantId, name: String, text: String },
    /// Tracks changed: answer with `subscribe_answer`.
    SubscribeOffer { sdp: String },
    /// The room's dominant speaker changed.
    ActiveSpeaker { participant: ParticipantId },
    /// The wait is over: a seat, as the reply to `join` would have said.
    Joined(JoinedFrame),
    /// Still waiting, now for another reason (the host came; the lobby is on).
    Waiting { participant: ParticipantId, reason: WaitReason },
    /// The wait is over without a seat (`denied`, `meeting_ended`, `room_full`).
    JoinRefused { code: &'static str, message: String },
    /// To moderators: so many passwords were tried for this room, from many
    /// networks, that its password tries are locked for everyone for a while.
    PasswordTriesLocked { room: RoomName, retry_after_seconds: u64 },
}

/// A reply as sent: the version, the request's id, the reply.
pub(crate) fn reply_text(re: Option<u64>, reply: &Reply) -> String {
    let mut v = serde_json::to_value(reply).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("v".into(), PROTOCOL_VERSION.into());
        if let Some(re) = re {
            o.insert("re".into(), re.into());
        }
    }
    v.to_string()
}

/// A push as sent.
pub(crate) fn push_text(push: &Push) -> String {
    let mut v = serde_json::to_value(push).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("v".into(), PROTOCOL_VERSION.into());
    }
    v.to_string()
}

/// A participant as others see them (for chat names).
pub(crate) fn name_of(snapshot: &RoomSnapshot, id: ParticipantId) -> Option<String> {
    snapshot.participants.iter().find(|p: &&ParticipantSnapshot| p.id == id).map(|p| p.display_name.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_join_parses() {
        let f = parse(r#"{"v":1,"id":3,"type":"join","room":"standup","name":"Ann"}"#).unwrap();
        assert_eq!(f.id, Some(3));
        assert!(matches!(f.request, Request::Join { ref room, .. } if room == "standup"));
    }

    #[test]
    fn bad_frames_are_refused_with_a_code_and_keep_their_id() {
        for (text, code) in [
            ("not json", "malformed_frame"),
            ("[1,2]", "malformed_frame"),
            (r#"{"type":"leave"}"#, "malformed_frame"),
            (r#"{"v":2,"id":9,"type":"leave"}"#, "unsupported_version"),
            (r#"{"v":1,"id":9,"type":"dance"}"#, "malformed_frame"),
            (r#"{"v":1,"id":9,"type":"chat","text":"hi","extra":1}"#, "malformed_frame"),
            (r#"{"v":1,"id":9,"type":"mute","participant":"x","kind":"smell"}"#, "malformed_frame"),
            (r#"{"v":1,"id":9,"type":"publish","sdp":"v=0","source":"window"}"#, "malformed_frame"),
            (r#"{"v":1,"id":9,"type":"unpublish"}"#, "malformed_frame"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.code, code, "{text}");
            if text.contains("\"id\":9") {
                assert_eq!(e.id, Some(9), "{text}");
            }
        }
    }

    #[test]
    fn publish_names_its_source_and_defaults_to_the_camera() {
        let f = parse(r#"{"v":1,"type":"publish","sdp":"v=0","source":"screen"}"#).unwrap();
        assert!(matches!(f.request, Request::Publish { source: Some(TrackSource::Screen), .. }));
        let f = parse(r#"{"v":1,"type":"publish","sdp":"v=0"}"#).unwrap();
        assert!(matches!(f.request, Request::Publish { source: None, .. }));
        let f = parse(r#"{"v":1,"type":"unpublish","source":"screen"}"#).unwrap();
        assert!(matches!(f.request, Request::Unpublish { source: TrackSource::Screen }));
    }

    #[test]
    fn a_join_may_carry_a_token_instead_of_a_name() {
        let f = parse(r#"{"v":1,"type":"join","room":"standup","token":"a.b.c"}"#).unwrap();
        assert!(matches!(f.request, Request::Join { name: None, token: Some(ref t), .. } if t == "a.b.c"));
        let f = parse(r#"{"v":1,"type":"admit","participant":"00000000000000a1"}"#).unwrap();
        assert!(matches!(f.request, Request::Admit { .. }));
    }

    #[test]
    fn replies_carry_the_version_and_the_request_id() {
        let text = reply_text(Some(4), &Reply::Ok);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v, serde_json::json!({"type": "ok", "v": 1, "re": 4}));
    }
}

//! The room rules of a media node, as a pure state machine: who may join a room, who
//! moderates it, what moderators may do, the password, the cap, and how long a seat
//! waits for a dropped participant.
//!
//! Sans-IO, in the manner of str0m: [`Rooms`] takes inputs (a [`JoinRequest`], a
//! [`Command`], a dropped connection, the passing of time) each with the time `now`
//! from outside, and answers with [`RoomEvent`]s for signaling to broadcast and the
//! api to record, or a [`RoomError`] that changed nothing. No clock, socket, lock,
//! thread or task lives in here, so the tests drive meetings faster than real time.
//!
//! The tenant's [`RoomPolicy`] says whether people must log in, whether guests may
//! join, and whether there is a lobby; the [`Identity`] a join carries says whether
//! its token made them a moderator. See `one_room.rs` for who gets in.
#![warn(missing_docs)]

mod command;
mod error;
mod events;
mod names;
mod one_room;
mod participant;
mod password;
mod policy;
mod reconnect;
mod rooms;
#[cfg(test)]
mod specs;

pub use command::Command;
pub use error::RoomError;
pub use events::{KnockOutcome, LeaveReason, ParticipantSnapshot, RoomEvent, RoomSnapshot, WaitReason};
pub use names::{DisplayName, RoomName};
pub use one_room::MAX_WAITING;
pub use participant::{MediaKind, MediaState, ParticipantId, Role};
pub use password::RoomPassword;
pub use policy::{DEFAULT_MAX_PARTICIPANTS, Identity, JoinRequest, MeetingTerms, RoomPolicy};
pub use reconnect::{RECONNECT_GRACE, ReconnectToken};
pub use rooms::{JoinOutcome, Joined, News, Rooms, WaiterNews, Waiting};

//! The room rules, written as specifications: each test names a rule and drives a
//! [`Rooms`] through it, with time as a plain input, and checks the events and the
//! state. Every refusal is also checked to have changed nothing at all.

mod access;
mod invariants;
mod joining;
mod leaving;
mod moderation;
mod passwords;
mod reconnecting;

use super::*;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The moment `secs` seconds into a test's timeline.
fn t(secs: u64) -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now) + Duration::from_secs(secs)
}

/// `millis` milliseconds into a test's timeline.
fn t_ms(millis: u64) -> Instant {
    t(0) + Duration::from_millis(millis)
}

/// A node with the default policy and a fixed seed.
fn node() -> Rooms {
    Rooms::with_seed(RoomPolicy::default(), 42)
}

/// A node whose rooms hold `max` participants.
fn node_with_cap(max: u32) -> Rooms {
    Rooms::with_seed(RoomPolicy { max_participants: max, ..RoomPolicy::default() }, 42)
}

fn room(name: &str) -> RoomName {
    RoomName::parse(name).expect("a valid room name")
}

fn password(value: &str) -> RoomPassword {
    RoomPassword::parse(value).expect("a valid password")
}

fn request(room_name: &str, display_name: &str) -> JoinRequest {
    JoinRequest::new(room(room_name), DisplayName::parse(display_name).expect("a valid display name"))
}

fn request_with_password(room_name: &str, display_name: &str, given: &str) -> JoinRequest {
    JoinRequest { password: Some(password(given)), ..request(room_name, display_name) }
}

fn rejoin_request(room_name: &str, token: &ReconnectToken) -> JoinRequest {
    JoinRequest { reconnect: Some(token.clone()), ..request(room_name, "Whoever") }
}

/// Joins, expecting to be let in.
fn join(rooms: &mut Rooms, room_name: &str, display_name: &str, now: Instant) -> Joined {
    rooms.join(request(room_name, display_name), now).expect("the join is allowed")
}

/// Asks `command`, expecting it to be allowed.
fn act(rooms: &mut Rooms, room_name: &str, actor: ParticipantId, command: Command, now: Instant) -> Vec<RoomEvent> {
    rooms.handle(&room(room_name), actor, command, now).expect("the command is allowed")
}

/// Runs `attempt`, expecting a refusal that leaves every room (and the random
/// generator) exactly as it was; returns the refusal.
fn refused<T: std::fmt::Debug>(
    rooms: &mut Rooms,
    attempt: impl FnOnce(&mut Rooms) -> Result<T, RoomError>,
) -> RoomError {
    let before = rooms.clone();
    let error = attempt(rooms).expect_err("the rules refuse this");
    assert!(*rooms == before, "refused with {error:?}, yet the rooms changed");
    error
}

/// The participant `id` as the room shows them.
fn seat(rooms: &Rooms, room_name: &str, id: ParticipantId) -> ParticipantSnapshot {
    let snapshot = rooms.snapshot(&room(room_name)).expect("the room exists");
    snapshot.participants.into_iter().find(|p| p.id == id).expect("the participant is in the room")
}

fn ids(rooms: &Rooms, room_name: &str) -> Vec<ParticipantId> {
    rooms.snapshot(&room(room_name)).map(|s| s.participants.iter().map(|p| p.id).collect()).unwrap_or_default()
}

fn moderators(rooms: &Rooms, room_name: &str) -> Vec<ParticipantId> {
    let snapshot = rooms.snapshot(&room(room_name)).map(|s| s.participants).unwrap_or_default();
    snapshot.iter().filter(|p| p.role == Role::Moderator).map(|p| p.id).collect()
}

fn left(room_name: &str, participant: ParticipantId, reason: LeaveReason) -> RoomEvent {
    RoomEvent::ParticipantLeft { room: room(room_name), participant, reason }
}

fn ended(room_name: &str, by: Option<ParticipantId>) -> RoomEvent {
    RoomEvent::MeetingEnded { room: room(room_name), by }
}

fn promoted(room_name: &str, participant: ParticipantId) -> RoomEvent {
    RoomEvent::RoleChanged { room: room(room_name), participant, role: Role::Moderator, by: None }
}

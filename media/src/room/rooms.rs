//! The rooms of one media node: the registry that routes joins, commands, dropped
//! connections and the passing of time to the right room, and that starts a room
//! for its first participant and ends it when the last seat is given up.
//!
//! Sans-IO: signaling calls in with what happened and when (`now`), and broadcasts
//! the events that come back. Nothing here reads a clock, touches a socket or
//! spawns anything; the only outside input besides the arguments is the OS entropy
//! that seeds the random generator once, in [`Rooms::new`].

use super::one_room::Room;
use super::{
    Command, JoinRequest, ParticipantId, ReconnectToken, Role, RoomError, RoomEvent, RoomName, RoomPolicy, RoomSnapshot,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::BTreeMap;
use std::time::Instant;

/// Every room with at least one seat taken, by name. An empty room does not exist.
#[derive(Debug)]
#[cfg_attr(test, derive(Clone, PartialEq))]
pub struct Rooms {
    policy: RoomPolicy,
    rooms: BTreeMap<RoomName, Room>,
    /// Draws participant ids, reconnect tokens and password salts. A CSPRNG
    /// (ChaCha12) seeded from the OS, because tokens must not be guessable.
    rng: StdRng,
}

/// A seat taken (or taken back), and what the others should be told.
#[derive(Debug, Clone)]
pub struct Joined {
    /// The participant's id in the room; the same as before on a reconnect.
    pub participant: ParticipantId,
    /// The token that takes the seat back after a dropped connection; the same one
    /// on a reconnect. Give it to this participant only.
    pub reconnect_token: ReconnectToken,
    /// Their role.
    pub role: Role,
    /// The room as it is now, the newcomer included.
    pub room: RoomSnapshot,
    /// What happened: `MeetingStarted` first if the join opened the room, then
    /// `ParticipantJoined` or `ParticipantRejoined`.
    pub events: Vec<RoomEvent>,
}

impl Rooms {
    /// No rooms yet; rooms that start from now on follow `policy`.
    pub fn new(policy: RoomPolicy) -> Self {
        Self::with_rng(policy, StdRng::from_os_rng())
    }

    /// Deterministic randomness, for tests only: a known seed makes tokens guessable.
    #[cfg(test)]
    pub(crate) fn with_seed(policy: RoomPolicy, seed: u64) -> Self {
        Self::with_rng(policy, StdRng::seed_from_u64(seed))
    }

    fn with_rng(policy: RoomPolicy, rng: StdRng) -> Self {
        Self { policy, rooms: BTreeMap::new(), rng }
    }

    /// The tenant changed its settings: the next join, in any room, follows
    /// `policy`. Nobody already seated loses their seat to a lower cap.
    pub fn set_policy(&mut self, policy: RoomPolicy) {
        self.policy = policy;
        for room in self.rooms.values_mut() {
            room.set_policy(policy);
        }
    }

    /// Takes a seat in `request.room`, starting the room if nobody is in it, or takes
    /// back the seat `request.reconnect` holds (regardless of lock and cap: the seat
    /// is already theirs).
    ///
    /// Refused with `PasswordRequired` or `WrongPassword` (a locked room), `RoomFull`,
    /// or `ReconnectRefused` (a token that holds no seat; a token never starts a room).
    pub fn join(&mut self, request: JoinRequest, now: Instant) -> Result<Joined, RoomError> {
        let name = request.room.clone();
        let mut events = Vec::new();
        let (admitted, room) = match self.rooms.get_mut(&name) {
            Some(room) => {
                let admitted = room.admit(request, &mut self.rng, now)?;
                (admitted, room.snapshot())
            }
            None if request.reconnect.is_some() => return Err(RoomError::ReconnectRefused),
            None => {
                let mut room = Room::new(name.clone(), self.policy);
                let admitted = room.admit(request, &mut self.rng, now)?;
                let snapshot = room.snapshot();
                self.rooms.insert(name.clone(), room);
                events.push(RoomEvent::MeetingStarted { room: name });
                (admitted, snapshot)
            }
        };
        events.extend(admitted.events);
        Ok(Joined {
            participant: admitted.participant,
            reconnect_token: admitted.reconnect_token,
            role: admitted.role,
            room,
            events,
        })
    }

    /// `actor`, seated in `room`, asks `command`. Refused with `NoSuchRoom`,
    /// `NoSuchParticipant` (actor or target), or `NotModerator`. If the room empties,
    /// it ends: `MeetingEnded` comes last, with `by` set when a moderator ended it.
    pub fn handle(
        &mut self,
        room: &RoomName,
        actor: ParticipantId,
        command: Command,
        now: Instant,
    ) -> Result<Vec<RoomEvent>, RoomError> {
        let ended_by = matches!(command, Command::EndMeeting).then_some(actor);
        let target = self.rooms.get_mut(room).ok_or(RoomError::NoSuchRoom)?;
        let mut events = target.handle(actor, command, &mut self.rng, now)?;
        events.extend(self.end_if_empty(room, ended_by));
        Ok(events)
    }

    /// Signaling saw `participant`'s connection drop: they are away, and keep their
    /// seat for [`super::RECONNECT_GRACE`] from now.
    pub fn connection_lost(
        &mut self,
        room: &RoomName,
        participant: ParticipantId,
        now: Instant,
    ) -> Result<Vec<RoomEvent>, RoomError> {
        self.rooms.get_mut(room).ok_or(RoomError::NoSuchRoom)?.connection_lost(participant, now)
    }

    /// Time passed: everyone away for the whole grace period by `now` loses their
    /// seat (`TimedOut`), and rooms left empty end. Call it at [`Rooms::next_timeout`];
    /// until then an expired seat still counts toward the cap.
    pub fn tick(&mut self, now: Instant) -> Vec<RoomEvent> {
        let mut events = Vec::new();
        for (name, room) in &mut self.rooms {
            events.extend(room.expire(now));
            if room.is_empty() {
                events.push(RoomEvent::MeetingEnded { room: name.clone(), by: None });
            }
        }
        self.rooms.retain(|_, room| !room.is_empty());
        events
    }

    /// When [`Rooms::tick`] next has something to do, if anyone is away.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.rooms.values().filter_map(Room::next_timeout).min()
    }

    /// The node is going down: every meeting ends (`by: None`), every seat with it.
    pub fn shutdown(&mut self) -> Vec<RoomEvent> {
        let mut events = Vec::new();
        for (name, mut room) in std::mem::take(&mut self.rooms) {
            events.extend(room.end());
            events.push(RoomEvent::MeetingEnded { room: name, by: None });
        }
        events
    }

    /// The room as a newcomer would see it, if a meeting is going on in it.
    pub fn snapshot(&self, room: &RoomName) -> Option<RoomSnapshot> {
        self.rooms.get(room).map(Room::snapshot)
    }

    /// How many rooms have a meeting going on.
    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Whether no meeting is going on.
    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    /// The names of the rooms with a meeting going on, in order.
    pub fn names(&self) -> impl Iterator<Item = &RoomName> {
        self.rooms.keys()
    }

    fn end_if_empty(&mut self, room: &RoomName, by: Option<ParticipantId>) -> Option<RoomEvent> {
        if !self.rooms.get(room).is_some_and(Room::is_empty) {
            return None;
        }
        self.rooms.remove(room);
        Some(RoomEvent::MeetingEnded { room: room.clone(), by })
    }
}

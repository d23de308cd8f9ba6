//! The rooms of one media node: the registry that routes joins, commands, dropped
//! connections and the passing of time to the right room, that starts a meeting
//! when the first seat is taken and ends it when the last is given up, and that
//! collects the news for those waiting (for the host, or in the lobby).
//!
//! Sans-IO: signaling calls in with what happened and when (`now`), and broadcasts
//! the events that come back. Nothing here reads a clock, touches a socket or
//! spawns anything; the only outside input besides the arguments is the OS entropy
//! that seeds the random generator once, in [`Rooms::new`].

use super::one_room::{Admitted, Arrival, Room, WaitNews, WaitOver};
use super::{
    Command, JoinRequest, ParticipantId, ReconnectToken, Role, RoomError, RoomEvent, RoomName, RoomPolicy,
    RoomSnapshot, WaitReason,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::BTreeMap;
use std::time::Instant;

/// Every room in which someone holds a seat or waits, by name. A deserted room
/// does not exist.
#[derive(Debug)]
#[cfg_attr(test, derive(Clone))]
pub struct Rooms {
    policy: RoomPolicy,
    rooms: BTreeMap<RoomName, Room>,
    /// News for waiters, until [`Rooms::take_news`].
    news: Vec<WaiterNews>,
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

/// Two registries are alike when their rooms and random generators are (the news
/// not yet taken counts by number).
#[cfg(test)]
impl PartialEq for Rooms {
    fn eq(&self, other: &Self) -> bool {
        self.policy == other.policy
            && self.rooms == other.rooms
            && self.rng == other.rng
            && self.news.len() == other.news.len()
    }
}

/// What came of a join.
#[derive(Debug, Clone)]
pub enum JoinOutcome {
    /// A seat taken (or taken back).
    Seated(Joined),
    /// Not yet: they wait for the host or in the lobby.
    Waiting(Waiting),
}

/// Someone waiting to be let in.
#[derive(Debug, Clone)]
pub struct Waiting {
    /// The room.
    pub room: RoomName,
    /// The id they wait under; their participant id once seated.
    pub id: ParticipantId,
    /// What they wait for.
    pub reason: WaitReason,
    /// What to tell the room (a knock, for its moderators).
    pub events: Vec<RoomEvent>,
}

/// News for someone who was waiting.
#[derive(Debug, Clone)]
pub struct WaiterNews {
    /// The room.
    pub room: RoomName,
    /// The id they wait under.
    pub id: ParticipantId,
    /// What happened.
    pub news: News,
}

/// What happened to a waiter.
#[derive(Debug, Clone)]
pub enum News {
    /// They have a seat. Its `events` are empty: the room was told along with the
    /// cause (the host's join, a moderator's `admit`).
    Seated(Joined),
    /// The host came, and they now knock on the lobby.
    InLobby,
    /// Their wait is over without a seat (`denied`, `meeting_ended`, `room_full`).
    Refused(RoomError),
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
        Self { policy, rooms: BTreeMap::new(), news: Vec::new(), rng }
    }

    /// The news for waiters since the last call, in order.
    pub fn take_news(&mut self) -> Vec<WaiterNews> {
        std::mem::take(&mut self.news)
    }

    /// Whether a join to `room` with a password needs the api's word on it: the room
    /// is not there yet (a scheduled meeting may lock it), or the meeting's password
    /// locks it.
    pub fn meeting_password_applies(&self, room: &RoomName) -> bool {
        self.rooms.get(room).is_none_or(|r| r.is_empty() || r.locked_by_meeting())
    }

    /// Who knocks on `room`'s lobby, in the order they came.
    pub fn lobby(&self, room: &RoomName) -> Vec<(ParticipantId, super::DisplayName)> {
        self.rooms.get(room).map(Room::lobby).unwrap_or_default()
    }

    /// Whether `who` holds a seat in `room` and moderates it.
    pub fn is_moderator(&self, room: &RoomName, who: ParticipantId) -> bool {
        self.rooms.get(room).is_some_and(|r| r.is_moderator(who))
    }

    /// Queues the news for `room`'s waiters. Those seated get the room as it is after
    /// the whole operation (one snapshot for all of them): the events about the
    /// others let in with them went out before they had a link to hear them.
    fn deliver(&mut self, room: &RoomName, over: Vec<WaitOver>) {
        let mut snapshot = None;
        for w in over {
            let news = match w.news {
                WaitNews::Seated(admitted) => {
                    match snapshot.get_or_insert_with(|| self.rooms.get(room).map(Room::snapshot)).clone() {
                        Some(now) => News::Seated(joined(admitted, now, Vec::new())),
                        None => News::Refused(RoomError::NoSuchRoom), // a seat in a room that is gone
                    }
                }
                WaitNews::InLobby => News::InLobby,
                WaitNews::Refused(e) => News::Refused(e),
            };
            self.news.push(WaiterNews { room: room.clone(), id: w.id, news });
        }
    }

    /// The tenant changed its settings: the next join, in any room, follows
    /// `policy`. Nobody already seated loses their seat to a lower cap.
    pub fn set_policy(&mut self, policy: RoomPolicy) {
        self.policy = policy;
        for room in self.rooms.values_mut() {
            room.set_policy(policy);
        }
    }

    /// Takes a seat in `request.room`, starting the meeting if nobody is in it, or
    /// takes back the seat `request.reconnect` holds (regardless of lock and cap: the
    /// seat is already theirs), or has the newcomer wait for the host or in the lobby.
    ///
    /// Refused with `LoginRequired` (a guest where guests may not join),
    /// `PasswordRequired` or `WrongPassword` (a locked room), `RoomFull`, or
    /// `ReconnectRefused` (a token that holds no seat; a token never starts a room).
    /// A join that opens the room lets in those waiting for the host: see
    /// [`Rooms::take_news`].
    pub fn arrive(&mut self, request: JoinRequest, now: Instant) -> Result<JoinOutcome, RoomError> {
        let name = request.room.clone();
        if request.reconnect.is_some() && self.rooms.get(&name).is_none_or(Room::is_empty) {
            return Err(RoomError::ReconnectRefused);
        }
        let (policy, meeting) = (self.policy, request.meeting);
        let room = self.rooms.entry(name.clone()).or_insert_with(|| Room::new(name.clone(), policy, meeting));
        let was_empty = room.is_empty();
        let mut over = Vec::new();
        let arrival = match room.arrive(request, &mut self.rng, now, &mut over) {
            Ok(arrival) => arrival,
            Err(e) => {
                if room.is_deserted() {
                    self.rooms.remove(&name);
                }
                return Err(e);
            }
        };
        match arrival {
            Arrival::Seated(admitted) => {
                let snapshot = room.snapshot();
                let mut events = Vec::new();
                if was_empty {
                    events.push(RoomEvent::MeetingStarted { room: name.clone() });
                }
                let seated = joined(admitted, snapshot, events);
                self.deliver(&name, over);
                Ok(JoinOutcome::Seated(seated))
            }
            Arrival::Waiting { id, reason, events } => {
                Ok(JoinOutcome::Waiting(Waiting { room: name, id, reason, events }))
            }
        }
    }

    /// [`Rooms::arrive`] where the rules let everyone in at once (auth open, no lobby).
    #[cfg(test)]
    pub(crate) fn join(&mut self, request: JoinRequest, now: Instant) -> Result<Joined, RoomError> {
        match self.arrive(request, now)? {
            JoinOutcome::Seated(joined) => Ok(joined),
            JoinOutcome::Waiting(w) => panic!("expected a seat, but they wait for the {:?}", w.reason),
        }
    }

    /// `who`, waiting in `room`, gives up (left, or their connection dropped).
    pub fn withdraw(&mut self, room: &RoomName, who: ParticipantId) -> Vec<RoomEvent> {
        let Some(target) = self.rooms.get_mut(room) else {
            return Vec::new();
        };
        let events = target.withdraw(who);
        if target.is_deserted() {
            self.rooms.remove(room);
        }
        events
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
        let mut over = Vec::new();
        let mut events = target.handle(actor, command, &mut self.rng, now, &mut over)?;
        self.deliver(room, over);
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
        let mut over = Vec::new();
        for (name, room) in &mut self.rooms {
            let had_a_meeting = !room.is_empty();
            events.extend(room.expire(now));
            if had_a_meeting && room.is_empty() {
                let mut lobby = Vec::new();
                events.extend(room.close(&mut lobby));
                events.push(RoomEvent::MeetingEnded { room: name.clone(), by: None });
                over.push((name.clone(), lobby));
            }
        }
        for (name, lobby) in over {
            self.deliver(&name, lobby);
        }
        self.rooms.retain(|_, room| !room.is_deserted());
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
            let mut over = Vec::new();
            let had_a_meeting = !room.is_empty();
            events.extend(room.end());
            events.extend(room.turn_everyone_away(&mut over));
            if had_a_meeting {
                events.push(RoomEvent::MeetingEnded { room: name.clone(), by: None });
            }
            self.deliver(&name, over);
        }
        events
    }

    /// The room as a newcomer would see it, if a meeting is going on in it.
    pub fn snapshot(&self, room: &RoomName) -> Option<RoomSnapshot> {
        self.rooms.get(room).filter(|r| !r.is_empty()).map(Room::snapshot)
    }

    /// How many rooms have a meeting going on.
    pub fn len(&self) -> usize {
        self.rooms.values().filter(|r| !r.is_empty()).count()
    }

    /// How many rooms are in use: a meeting is going on, or someone waits to be let in.
    pub fn in_use(&self) -> usize {
        self.rooms.values().filter(|r| !r.is_deserted()).count()
    }

    /// Whether no meeting is going on.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The names of the rooms with a meeting going on, in order.
    pub fn names(&self) -> impl Iterator<Item = &RoomName> {
        self.rooms.iter().filter(|(_, r)| !r.is_empty()).map(|(name, _)| name)
    }

    /// Ends the meeting in `room` if its last seat was just given up: the lobby is
    /// turned away, and `MeetingEnded` comes last.
    fn end_if_empty(&mut self, room: &RoomName, by: Option<ParticipantId>) -> Vec<RoomEvent> {
        let Some(target) = self.rooms.get_mut(room).filter(|r| r.is_empty()) else {
            return Vec::new();
        };
        let mut over = Vec::new();
        let mut events = target.close(&mut over);
        if target.is_deserted() {
            self.rooms.remove(room);
        }
        self.deliver(room, over);
        events.push(RoomEvent::MeetingEnded { room: room.clone(), by });
        events
    }
}

fn joined(admitted: Admitted, room: RoomSnapshot, mut events: Vec<RoomEvent>) -> Joined {
    events.extend(admitted.events);
    Joined {
        participant: admitted.participant,
        reconnect_token: admitted.reconnect_token,
        role: admitted.role,
        room,
        events,
    }
}

//! The rules of one room: who may take a seat, who moderates, what moderators may do,
//! and who loses their seat when.
//!
//! A `Room` never exists empty for long: [`super::Rooms`] creates it for its first
//! arrival and drops it (with its password) as soon as nobody holds a seat or waits.
//! Every method takes the time from outside; a refusal changes nothing.
//!
//! Who gets in (DESIGN.md, "Access rules"): with auth open, anyone, and the first to
//! join moderates. With auth required, a room *opens* when a moderator joins; anyone
//! else (guests, if allowed, and people whose login does not make them moderators)
//! waits for the host and enters on their own once one comes. With the lobby on,
//! whoever is not a moderator knocks, and a moderator admits or denies them.

use super::participant::{Participant, Presence};
use super::password::PasswordLock;
use super::policy::MeetingTerms;
use super::{
    Command, Identity, JoinRequest, KnockOutcome, LeaveReason, MediaKind, MediaState, ParticipantId, ReconnectToken,
    Role, RoomError, RoomEvent, RoomName, RoomPassword, RoomPolicy, RoomSnapshot, WaitReason,
};
use rand::RngCore;
use std::time::Instant;

/// One room: its participants in the order they first joined, and its lock.
#[derive(Debug, Clone)]
#[cfg_attr(test, derive(PartialEq))]
pub(crate) struct Room {
    name: RoomName,
    policy: RoomPolicy,
    participants: Vec<Participant>,
    lock: Option<Lock>,
    /// The scheduled meeting's lobby setting, over the tenant's.
    lobby: Option<bool>,
    /// Those waiting for the host or in the lobby, in the order they came.
    waiting: Vec<Waiter>,
}

/// What locks a room.
#[derive(Debug, Clone)]
#[cfg_attr(test, derive(PartialEq))]
enum Lock {
    /// A password a moderator set.
    Set(PasswordLock),
    /// The scheduled meeting's password, which the api checks.
    Meeting,
}

/// How many may wait to be let in to one room, for the host and in the lobby together.
pub const MAX_WAITING: usize = 100;

/// Someone waiting to be let in.
#[derive(Debug, Clone)]
struct Waiter {
    /// The id they wait under, and will have once seated.
    id: ParticipantId,
    request: JoinRequest,
    reason: WaitReason,
}

#[cfg(test)]
impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        (self.id, self.reason, &self.request.display_name, self.request.identity)
            == (other.id, other.reason, &other.request.display_name, other.request.identity)
    }
}

/// A seat taken or taken back.
pub(crate) struct Admitted {
    pub(crate) participant: ParticipantId,
    pub(crate) reconnect_token: ReconnectToken,
    pub(crate) role: Role,
    pub(crate) events: Vec<RoomEvent>,
}

/// What came of an arrival.
pub(crate) enum Arrival {
    /// They have a seat.
    Seated(Admitted),
    /// They wait, under this id, for this reason.
    Waiting { id: ParticipantId, reason: WaitReason, events: Vec<RoomEvent> },
}

/// News for someone waiting.
pub(crate) struct WaitOver {
    /// The id they wait under.
    pub(crate) id: ParticipantId,
    /// What happened.
    pub(crate) news: WaitNews,
}

/// What happened to a waiter.
pub(crate) enum WaitNews {
    /// They have a seat now. (The room's events about it are among those the call
    /// returned; `Admitted::events` is empty.)
    Seated(Admitted),
    /// The host came, and they now knock on the lobby.
    InLobby,
    /// Their wait is over without a seat.
    Refused(RoomError),
}

impl Room {
    /// Applies the tenant's new settings to the joins to come.
    pub(crate) fn set_policy(&mut self, policy: RoomPolicy) {
        self.policy = policy;
    }

    /// An empty room under `policy`, locked and with a lobby as a scheduled meeting
    /// in it says.
    pub(crate) fn new(name: RoomName, policy: RoomPolicy, meeting: Option<MeetingTerms>) -> Self {
        let terms = meeting.unwrap_or_default();
        Self {
            name,
            policy,
            participants: Vec::new(),
            lock: terms.password_required.then_some(Lock::Meeting),
            lobby: terms.lobby,
            waiting: Vec::new(),
        }
    }

    /// Whether nobody holds a seat (a meeting is going on only while someone does).
    pub(crate) fn is_empty(&self) -> bool {
        self.participants.is_empty()
    }

    /// Whether nobody holds a seat or waits: the room can go.
    pub(crate) fn is_deserted(&self) -> bool {
        self.participants.is_empty() && self.waiting.is_empty()
    }

    /// Who knocks on the lobby, in the order they came.
    pub(crate) fn lobby(&self) -> Vec<(ParticipantId, super::DisplayName)> {
        self.waiting
            .iter()
            .filter(|w| w.reason == WaitReason::Lobby)
            .map(|w| (w.id, w.request.display_name.clone()))
            .collect()
    }

    /// Whether `who` holds a seat and moderates.
    pub(crate) fn is_moderator(&self, who: ParticipantId) -> bool {
        self.participants.iter().any(|p| p.id == who && p.is_moderator())
    }

    /// Gives back the seat the request's token holds, or else lets the newcomer in
    /// if the rules, the lock and the cap allow, or has them wait. Waiters for the
    /// host whom this arrival lets in are added to `over`.
    pub(crate) fn arrive(
        &mut self,
        request: JoinRequest,
        rng: &mut impl RngCore,
        now: Instant,
        over: &mut Vec<WaitOver>,
    ) -> Result<Arrival, RoomError> {
        if let Some(token) = request.reconnect {
            return self.readmit(token, now).map(Arrival::Seated);
        }
        // Whoever waits, for the host or in the lobby, has passed the door first:
        // nobody is let in later without the checks a direct join passes.
        self.check_at_the_door(&request)?;
        // A room is open while someone holds a seat: only someone who may open it
        // takes the first one.
        let open = !self.participants.is_empty();
        if !open && !self.may_open(request.identity) {
            self.check_waiting_room()?;
            let id = self.fresh_id(rng);
            self.waiting.push(Waiter { id, request, reason: WaitReason::Host });
            return Ok(Arrival::Waiting { id, reason: WaitReason::Host, events: Vec::new() });
        }
        if self.knocks(request.identity) {
            self.check_waiting_room()?;
            let id = self.fresh_id(rng);
            let events = vec![self.knocking(id, &request)];
            self.waiting.push(Waiter { id, request, reason: WaitReason::Lobby });
            return Ok(Arrival::Waiting { id, reason: WaitReason::Lobby, events });
        }
        self.check_capacity()?;
        let id = self.fresh_id(rng);
        let mut admitted = self.seat(id, request, rng, now);
        if !open {
            let mut let_in = self.let_in_those_waiting_for_the_host(rng, now, over);
            admitted.events.append(&mut let_in);
        }
        Ok(Arrival::Seated(admitted))
    }

    /// The checks everyone passes before a seat or a wait, and again when let in
    /// from one: the login the tenant's rules ask for, and the room's password for
    /// whoever does not moderate (before the cap: without the password, nobody
    /// learns how full the room is).
    fn check_at_the_door(&self, request: &JoinRequest) -> Result<(), RoomError> {
        if self.policy.auth_required && request.identity == Identity::Anonymous && !self.policy.guests_allowed {
            return Err(RoomError::LoginRequired);
        }
        if !request.identity.is_moderator() {
            self.check_password(request.password.as_ref(), request.meeting_password_ok)?;
        }
        Ok(())
    }

    /// Whether someone of this identity opens the room by joining it.
    fn may_open(&self, identity: Identity) -> bool {
        !self.policy.auth_required || identity.is_moderator()
    }

    /// Refuses one more waiter when [`MAX_WAITING`] already wait (for the host or in
    /// the lobby): a flood of knocks cannot grow a room's list, nor its moderators'
    /// lobby, without bound.
    fn check_waiting_room(&self) -> Result<(), RoomError> {
        if self.waiting.len() >= MAX_WAITING {
            return Err(RoomError::WaitingListFull { max: MAX_WAITING });
        }
        Ok(())
    }

    /// Whether someone of this identity knocks on the lobby rather than walking in.
    fn knocks(&self, identity: Identity) -> bool {
        self.lobby.unwrap_or(self.policy.lobby) && self.role_for(identity) != Role::Moderator
    }

    fn knocking(&self, id: ParticipantId, request: &JoinRequest) -> RoomEvent {
        RoomEvent::ParticipantKnocking {
            room: self.name.clone(),
            participant: id,
            display_name: request.display_name.clone(),
        }
    }

    /// The host came: those waiting for them enter, or knock if the lobby is on.
    /// Returns what the room is told: their joining, and the knocks.
    fn let_in_those_waiting_for_the_host(
        &mut self,
        rng: &mut impl RngCore,
        now: Instant,
        over: &mut Vec<WaitOver>,
    ) -> Vec<RoomEvent> {
        let (for_host, rest): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.waiting).into_iter().partition(|w| w.reason == WaitReason::Host);
        self.waiting = rest;
        let mut events = Vec::new();
        for waiter in for_host {
            if self.knocks(waiter.request.identity) {
                events.push(self.knocking(waiter.id, &waiter.request));
                over.push(WaitOver { id: waiter.id, news: WaitNews::InLobby });
                self.waiting.push(Waiter { reason: WaitReason::Lobby, ..waiter });
                continue;
            }
            let news = match self.check_at_the_door(&waiter.request).and_then(|()| self.check_capacity()) {
                Ok(()) => {
                    let mut admitted = self.seat(waiter.id, waiter.request, rng, now);
                    events.append(&mut admitted.events);
                    WaitNews::Seated(admitted)
                }
                Err(e) => WaitNews::Refused(e),
            };
            over.push(WaitOver { id: waiter.id, news });
        }
        events
    }

    /// A moderator let `who` in from the lobby (if there is a seat for them).
    fn admit(
        &mut self,
        who: ParticipantId,
        by: ParticipantId,
        rng: &mut impl RngCore,
        now: Instant,
        over: &mut Vec<WaitOver>,
    ) -> Result<Vec<RoomEvent>, RoomError> {
        let at = self.lobby_position(who)?;
        self.check_capacity()?;
        if let Err(e) = self.check_at_the_door(&self.waiting[at].request) {
            // The rules changed while they knocked (the room was locked, guests were
            // turned away): they are told why, and may come again.
            self.waiting.remove(at);
            over.push(WaitOver { id: who, news: WaitNews::Refused(e) });
            return Ok(vec![self.knock_ended(who, KnockOutcome::Denied, Some(by))]);
        }
        let waiter = self.waiting.remove(at);
        let mut admitted = self.seat(waiter.id, waiter.request, rng, now);
        let mut events = vec![self.knock_ended(who, KnockOutcome::Admitted, Some(by))];
        events.append(&mut admitted.events);
        over.push(WaitOver { id: who, news: WaitNews::Seated(admitted) });
        Ok(events)
    }

    /// A moderator turned `who` away from the lobby.
    fn deny(
        &mut self,
        who: ParticipantId,
        by: ParticipantId,
        over: &mut Vec<WaitOver>,
    ) -> Result<Vec<RoomEvent>, RoomError> {
        let at = self.lobby_position(who)?;
        self.waiting.remove(at);
        over.push(WaitOver { id: who, news: WaitNews::Refused(RoomError::Denied) });
        Ok(vec![self.knock_ended(who, KnockOutcome::Denied, Some(by))])
    }

    /// `who` stopped waiting (left, or their connection dropped).
    pub(crate) fn withdraw(&mut self, who: ParticipantId) -> Vec<RoomEvent> {
        let Some(at) = self.waiting.iter().position(|w| w.id == who) else {
            return Vec::new();
        };
        match self.waiting.remove(at).reason {
            WaitReason::Lobby => vec![self.knock_ended(who, KnockOutcome::Withdrawn, None)],
            WaitReason::Host => Vec::new(),
        }
    }

    /// The meeting is over: the lobby is turned away, and the room must be opened
    /// again by whoever comes next.
    pub(crate) fn close(&mut self, over: &mut Vec<WaitOver>) -> Vec<RoomEvent> {
        let (lobby, host): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.waiting).into_iter().partition(|w| w.reason == WaitReason::Lobby);
        self.waiting = host;
        lobby
            .into_iter()
            .map(|w| {
                over.push(WaitOver { id: w.id, news: WaitNews::Refused(RoomError::MeetingEnded) });
                self.knock_ended(w.id, KnockOutcome::MeetingEnded, None)
            })
            .collect()
    }

    /// The node is going down: everyone waiting is turned away.
    pub(crate) fn turn_everyone_away(&mut self, over: &mut Vec<WaitOver>) -> Vec<RoomEvent> {
        let events = self.close(over);
        for waiter in self.waiting.drain(..) {
            over.push(WaitOver { id: waiter.id, news: WaitNews::Refused(RoomError::MeetingEnded) });
        }
        events
    }

    fn lobby_position(&self, who: ParticipantId) -> Result<usize, RoomError> {
        self.waiting.iter().position(|w| w.id == who && w.reason == WaitReason::Lobby).ok_or(RoomError::NotWaiting)
    }

    fn knock_ended(&self, who: ParticipantId, outcome: KnockOutcome, by: Option<ParticipantId>) -> RoomEvent {
        RoomEvent::KnockEnded { room: self.name.clone(), participant: who, outcome, by }
    }

    /// Someone with a seat asks something of the room. Those let in or turned away
    /// from the lobby are added to `over`.
    pub(crate) fn handle(
        &mut self,
        actor: ParticipantId,
        command: Command,
        rng: &mut impl RngCore,
        now: Instant,
        over: &mut Vec<WaitOver>,
    ) -> Result<Vec<RoomEvent>, RoomError> {
        let is_moderator = self.live(actor, now)?.is_moderator();
        if command.needs_moderator() && !is_moderator {
            return Err(RoomError::NotModerator);
        }
        match command {
            Command::Leave => Ok(self.unseat(&[actor], LeaveReason::Left)),
            Command::SetOwnMedia(media) => Ok(self.set_media(actor, media)),
            Command::Mute { target, kind } => {
                self.live(target, now)?;
                Ok(self.mute(|p| p.id == target, kind, actor))
            }
            Command::MuteAll { kind } => Ok(self.mute(|p| p.id != actor, kind, actor)),
            Command::Remove { target } => {
                self.live(target, now)?;
                Ok(self.unseat(&[target], LeaveReason::Removed))
            }
            Command::GrantModerator { target } => {
                self.live(target, now)?;
                Ok(self.make_moderator(target, Some(actor)))
            }
            Command::Lock { password } => {
                self.lock = Some(Lock::Set(PasswordLock::new(&password, rng)));
                Ok(vec![RoomEvent::RoomLocked { room: self.name.clone(), by: actor }])
            }
            Command::Unlock => Ok(match self.lock.take() {
                Some(_) => vec![RoomEvent::RoomUnlocked { room: self.name.clone(), by: actor }],
                None => Vec::new(),
            }),
            Command::EndMeeting => Ok(self.end()),
            Command::Admit { target } => self.admit(target, actor, rng, now, over),
            Command::Deny { target } => self.deny(target, actor, over),
        }
    }

    /// `who`'s connection dropped: they keep their seat for the reconnect grace,
    /// counted from the first drop (a second report does not extend it).
    pub(crate) fn connection_lost(&mut self, who: ParticipantId, now: Instant) -> Result<Vec<RoomEvent>, RoomError> {
        let room = self.name.clone();
        let seat = self.participants.iter_mut().find(|p| p.id == who && !p.has_timed_out(now));
        let participant = seat.ok_or(RoomError::NoSuchParticipant)?;
        if participant.is_away() {
            return Ok(Vec::new());
        }
        participant.presence = Presence::Away { since: now };
        Ok(vec![RoomEvent::ParticipantAway { room, participant: who }])
    }

    /// Takes the seats of everyone away for the whole grace period by `now`.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<RoomEvent> {
        let gone: Vec<_> = self.participants.iter().filter(|p| p.has_timed_out(now)).map(|p| p.id).collect();
        if gone.is_empty() {
            return Vec::new();
        }
        self.unseat(&gone, LeaveReason::TimedOut)
    }

    /// Takes everyone's seat because the meeting ends.
    pub(crate) fn end(&mut self) -> Vec<RoomEvent> {
        let room = &self.name;
        self.participants
            .drain(..)
            .map(|p| RoomEvent::ParticipantLeft {
                room: room.clone(),
                participant: p.id,
                reason: LeaveReason::MeetingEnded,
            })
            .collect()
    }

    /// When the next away participant loses their seat, if anyone is away.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.participants.iter().filter_map(Participant::seat_expires_at).min()
    }

    pub(crate) fn snapshot(&self) -> RoomSnapshot {
        RoomSnapshot {
            room: self.name.clone(),
            locked: self.lock.is_some(),
            participants: self.participants.iter().map(Participant::snapshot).collect(),
        }
    }

    /// `who`'s seat, unless they have none or it has expired by `now` (an expired
    /// seat is gone even before the tick that clears it).
    fn live(&self, who: ParticipantId, now: Instant) -> Result<&Participant, RoomError> {
        self.participants.iter().find(|p| p.id == who && !p.has_timed_out(now)).ok_or(RoomError::NoSuchParticipant)
    }

    fn readmit(&mut self, token: ReconnectToken, now: Instant) -> Result<Admitted, RoomError> {
        let room = self.name.clone();
        let digest = token.digest();
        let seat = self.participants.iter_mut().find(|p| p.token.is(&digest) && !p.has_timed_out(now));
        let Some(participant) = seat else {
            return Err(RoomError::ReconnectRefused);
        };
        // A token that arrives while the old connection still looks up takes the
        // seat over: the new connection wins, signaling closes the old one.
        participant.presence = Presence::Present;
        Ok(Admitted {
            participant: participant.id,
            reconnect_token: token,
            role: participant.role,
            events: vec![RoomEvent::ParticipantRejoined { room, participant: participant.id }],
        })
    }

    /// Gives `id` a seat; the rules have let them in.
    fn seat(&mut self, id: ParticipantId, request: JoinRequest, rng: &mut impl RngCore, now: Instant) -> Admitted {
        let role = self.role_for(request.identity);
        let reconnect_token = ReconnectToken::generate(rng);
        let participant = Participant {
            id,
            display_name: request.display_name,
            role,
            media: request.media,
            presence: Presence::Present,
            joined_at: now,
            token: reconnect_token.digest(),
        };
        let joined = RoomEvent::ParticipantJoined { room: self.name.clone(), participant: participant.snapshot() };
        self.participants.push(participant);
        Admitted { participant: id, reconnect_token, role, events: vec![joined] }
    }

    fn check_password(&self, given: Option<&RoomPassword>, meeting_password_ok: bool) -> Result<(), RoomError> {
        match (&self.lock, given) {
            (None, _) => Ok(()),
            (Some(_), None) => Err(RoomError::PasswordRequired),
            (Some(Lock::Set(lock)), Some(password)) if lock.opens_with(password) => Ok(()),
            (Some(Lock::Meeting), Some(_)) if meeting_password_ok => Ok(()),
            (Some(_), Some(_)) => Err(RoomError::WrongPassword),
        }
    }

    /// Whether the room's lock is the scheduled meeting's password (which the api checks).
    pub(crate) fn locked_by_meeting(&self) -> bool {
        matches!(self.lock, Some(Lock::Meeting))
    }

    fn check_capacity(&self) -> Result<(), RoomError> {
        let max = self.policy.max_participants;
        if self.participants.len() >= usize::try_from(max).unwrap_or(usize::MAX) {
            return Err(RoomError::RoomFull { max });
        }
        Ok(())
    }

    /// With auth open, the first to join moderates; otherwise the login decides.
    fn role_for(&self, identity: Identity) -> Role {
        let first = !self.policy.auth_required && self.participants.is_empty();
        if identity.is_moderator() || first { Role::Moderator } else { Role::Participant }
    }

    /// An id no one in the room, seated or waiting, has.
    fn fresh_id(&self, rng: &mut impl RngCore) -> ParticipantId {
        loop {
            let id = ParticipantId::from_random(rng.next_u64());
            if self.participants.iter().all(|p| p.id != id) && self.waiting.iter().all(|w| w.id != id) {
                return id;
            }
        }
    }

    fn set_media(&mut self, who: ParticipantId, media: MediaState) -> Vec<RoomEvent> {
        let room = self.name.clone();
        match self.participants.iter_mut().find(|p| p.id == who) {
            Some(participant) if participant.media != media => {
                participant.media = media;
                vec![RoomEvent::MediaStateChanged { room, participant: who, media }]
            }
            _ => Vec::new(),
        }
    }

    /// Mutes `kind` of everyone `chosen` who has it on. The event implies the new
    /// media state; no separate `MediaStateChanged` follows.
    fn mute(&mut self, chosen: impl Fn(&Participant) -> bool, kind: MediaKind, by: ParticipantId) -> Vec<RoomEvent> {
        let room = &self.name;
        let mut events = Vec::new();
        for participant in self.participants.iter_mut().filter(|p| chosen(p) && !p.media.is_muted(kind)) {
            participant.media.mute(kind);
            events.push(RoomEvent::MutedByModerator { room: room.clone(), participant: participant.id, kind, by });
        }
        events
    }

    fn make_moderator(&mut self, who: ParticipantId, by: Option<ParticipantId>) -> Vec<RoomEvent> {
        let room = self.name.clone();
        match self.participants.iter_mut().find(|p| p.id == who) {
            Some(participant) if !participant.is_moderator() => {
                participant.role = Role::Moderator;
                vec![RoomEvent::RoleChanged { room, participant: who, role: Role::Moderator, by }]
            }
            _ => Vec::new(),
        }
    }

    /// Takes the seats of `gone`, then makes sure someone still moderates.
    fn unseat(&mut self, gone: &[ParticipantId], reason: LeaveReason) -> Vec<RoomEvent> {
        let room = &self.name;
        let mut events: Vec<_> = self
            .participants
            .iter()
            .filter(|p| gone.contains(&p.id))
            .map(|p| RoomEvent::ParticipantLeft { room: room.clone(), participant: p.id, reason })
            .collect();
        self.participants.retain(|p| !gone.contains(&p.id));
        events.extend(self.keep_a_moderator());
        events
    }

    /// When the last moderator has gone and others remain, the one present longest
    /// becomes moderator (as in Jitsi), so that a room always has one. Someone still
    /// connected is preferred to someone away, who may never come back. Not where
    /// logins decide who moderates: a guest must not inherit the room.
    fn keep_a_moderator(&mut self) -> Vec<RoomEvent> {
        if self.policy.auth_required || self.participants.iter().any(Participant::is_moderator) {
            return Vec::new();
        }
        let successor = self.participants.iter().min_by_key(|p| (p.is_away(), p.joined_at)).map(|p| p.id);
        successor.map(|id| self.make_moderator(id, None)).unwrap_or_default()
    }
}

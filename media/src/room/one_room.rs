//! The rules of one room: who may take a seat, who moderates, what moderators may do,
//! and who loses their seat when.
//!
//! A `Room` never exists empty for long: [`super::Rooms`] opens it for its first
//! participant and drops it (with its password) as soon as the last seat is given up.
//! Every method takes the time from outside; a refusal changes nothing.

use super::participant::{Participant, Presence};
use super::password::PasswordLock;
use super::{
    Command, Identity, JoinRequest, LeaveReason, MediaKind, MediaState, ParticipantId, ReconnectToken, Role, RoomError,
    RoomEvent, RoomName, RoomPassword, RoomPolicy, RoomSnapshot,
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
    lock: Option<PasswordLock>,
}

/// A seat taken or taken back.
pub(crate) struct Admitted {
    pub(crate) participant: ParticipantId,
    pub(crate) reconnect_token: ReconnectToken,
    pub(crate) role: Role,
    pub(crate) events: Vec<RoomEvent>,
}

impl Room {
    /// Applies the tenant's new settings to the joins to come.
    pub(crate) fn set_policy(&mut self, policy: RoomPolicy) {
        self.policy = policy;
    }

    /// An empty, unlocked room under `policy`.
    pub(crate) fn new(name: RoomName, policy: RoomPolicy) -> Self {
        Self { name, policy, participants: Vec::new(), lock: None }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.participants.is_empty()
    }

    /// Gives back the seat the request's token holds, or else a new seat if the lock
    /// and the cap allow.
    pub(crate) fn admit(
        &mut self,
        request: JoinRequest,
        rng: &mut impl RngCore,
        now: Instant,
    ) -> Result<Admitted, RoomError> {
        match request.reconnect {
            Some(token) => self.readmit(token, now),
            None => self.seat(request, rng, now),
        }
    }

    /// Someone with a seat asks something of the room.
    pub(crate) fn handle(
        &mut self,
        actor: ParticipantId,
        command: Command,
        rng: &mut impl RngCore,
        now: Instant,
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
                self.lock = Some(PasswordLock::new(&password, rng));
                Ok(vec![RoomEvent::RoomLocked { room: self.name.clone(), by: actor }])
            }
            Command::Unlock => Ok(match self.lock.take() {
                Some(_) => vec![RoomEvent::RoomUnlocked { room: self.name.clone(), by: actor }],
                None => Vec::new(),
            }),
            Command::EndMeeting => Ok(self.end()),
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

    fn seat(&mut self, request: JoinRequest, rng: &mut impl RngCore, now: Instant) -> Result<Admitted, RoomError> {
        // The password before the cap: without it, nobody learns how full the room is.
        self.check_password(request.password.as_ref())?;
        self.check_capacity()?;
        let role = self.role_for(request.identity);
        let id = self.fresh_id(rng);
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
        Ok(Admitted { participant: id, reconnect_token, role, events: vec![joined] })
    }

    fn check_password(&self, given: Option<&RoomPassword>) -> Result<(), RoomError> {
        match (&self.lock, given) {
            (None, _) => Ok(()),
            (Some(_), None) => Err(RoomError::PasswordRequired),
            (Some(lock), Some(password)) if lock.opens_with(password) => Ok(()),
            (Some(_), Some(_)) => Err(RoomError::WrongPassword),
        }
    }

    fn check_capacity(&self) -> Result<(), RoomError> {
        let max = self.policy.max_participants;
        if self.participants.len() >= usize::try_from(max).unwrap_or(usize::MAX) {
            return Err(RoomError::RoomFull { max });
        }
        Ok(())
    }

    fn role_for(&self, identity: Identity) -> Role {
        match identity {
            Identity::Anonymous if self.participants.is_empty() => Role::Moderator,
            Identity::Anonymous => Role::Participant,
        }
    }

    fn fresh_id(&self, rng: &mut impl RngCore) -> ParticipantId {
        loop {
            let id = ParticipantId::from_random(rng.next_u64());
            if self.participants.iter().all(|p| p.id != id) {
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
    /// connected is preferred to someone away, who may never come back.
    fn keep_a_moderator(&mut self) -> Vec<RoomEvent> {
        if self.participants.iter().any(Participant::is_moderator) {
            return Vec::new();
        }
        let successor = self.participants.iter().min_by_key(|p| (p.is_away(), p.joined_at)).map(|p| p.id);
        successor.map(|id| self.make_moderator(id, None)).unwrap_or_default()
    }
}

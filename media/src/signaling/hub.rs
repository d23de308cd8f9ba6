//! The node's shared signaling state: the room rules, which WebSocket session holds
//! which seat, and the SFU. Every change goes through one short critical section
//! (no await inside), and what it produced is told to everyone concerned.

use super::protocol::{self, Push};
use crate::auth::{SiteAccess, TokenCheck};
use crate::facts::Facts;
use crate::password_attempts::PasswordAttempts;
use crate::room::{
    Command, JoinOutcome, JoinRequest, Joined, LeaveReason, News, ParticipantId, RoomError, RoomEvent, RoomName,
    RoomPolicy, Rooms,
};
use crate::scheduled_meetings::ScheduledMeetings;
use crate::sfu::{Seat, SfuHandle, SpeakerChanges};
use crate::turn::{IceServer, TurnConfig};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A participant's place: their room and their id in it.
pub(crate) type Place = (RoomName, ParticipantId);

/// What the hub asks of a session.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// Send this frame, encoded once for everyone it goes to.
    Text(Arc<str>),
    /// The participant lost their seat (removed, meeting ended, taken over by a
    /// reconnect): close the socket.
    Close,
    /// The wait is over: they have this seat.
    Admitted(Box<Joined>),
    /// The host came; they now knock on the lobby.
    InLobby,
    /// The wait is over without a seat.
    Refused(RoomError),
}

struct Link {
    session: u64,
    outgoing: mpsc::Sender<Outgoing>,
}

/// The sessions holding seats in one room, under a lock of the room's own: a chat
/// message takes this lock only, never the node's, so a flood in one room does not
/// hold up joins and commands in the others. Taken after the hub's lock when both
/// are needed (never the other way round).
#[derive(Default)]
pub(crate) struct Audience {
    links: Mutex<HashMap<ParticipantId, Link>>,
}

impl Audience {
    fn lock(&self) -> MutexGuard<'_, HashMap<ParticipantId, Link>> {
        self.links.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends a chat message from `from` (held by `session`) to everyone in the room.
    pub(crate) fn chat(&self, session: u64, from: ParticipantId, name: String, text: String) -> Result<(), RoomError> {
        let frame: Arc<str> = protocol::push_text(&Push::Chat { from, name, text }).into();
        let links = self.lock();
        if links.get(&from).is_none_or(|l| l.session != session) {
            return Err(RoomError::NoSuchParticipant);
        }
        for link in links.values() {
            let _ = link.outgoing.try_send(Outgoing::Text(frame.clone()));
        }
        Ok(())
    }
}

struct State {
    rooms: Rooms,
    /// Who holds a seat, room by room.
    audiences: HashMap<RoomName, Arc<Audience>>,
    /// Sessions waiting for the host or in a lobby, by room and the id they wait under.
    waiters: HashMap<Place, Link>,
    /// Each room's active speaker, as last reported by the SFU (told to newcomers).
    speakers: HashMap<RoomName, ParticipantId>,
}

impl State {
    fn seated_session(&self, place: &Place) -> Option<u64> {
        self.audiences.get(&place.0).and_then(|a| a.lock().get(&place.1).map(|l| l.session))
    }

    fn link(&mut self, place: Place, link: Link) -> Option<Link> {
        self.audiences.entry(place.0).or_default().lock().insert(place.1, link)
    }

    fn unlink(&mut self, place: &Place) -> Option<Link> {
        let audience = self.audiences.get(&place.0)?;
        let (link, empty) = {
            let mut links = audience.lock();
            let link = links.remove(&place.1);
            (link, links.is_empty())
        };
        if empty {
            self.audiences.remove(&place.0);
        }
        link
    }
}

/// Signaling's shared state. One per node.
pub struct Hub {
    state: Mutex<State>,
    sfu: SfuHandle,
    turn: Option<TurnConfig>,
    facts: Option<Facts>,
    password_attempts: OnceLock<PasswordAttempts>,
    tokens: OnceLock<Arc<TokenCheck>>,
    meetings: OnceLock<ScheduledMeetings>,
    access: RwLock<SiteAccess>,
    /// What one socket may ask (the defaults until configured).
    limits: OnceLock<super::SignalingLimits>,
    /// Whether the tenant's settings are known (always, on a node without an api).
    settings_known: std::sync::atomic::AtomicBool,
}

/// How often expired seats are looked for.
const TICK: Duration = Duration::from_millis(500);

impl Hub {
    /// A hub applying `policy`, forwarding media through `sfu`, handing out TURN
    /// credentials for `turn` (when there is a TURN server).
    pub fn new(policy: RoomPolicy, sfu: SfuHandle, turn: Option<TurnConfig>) -> Arc<Self> {
        Self::with_facts(policy, sfu, turn, None)
    }

    /// A hub that also reports room facts to the api through `facts`.
    pub fn with_facts(policy: RoomPolicy, sfu: SfuHandle, turn: Option<TurnConfig>, facts: Option<Facts>) -> Arc<Self> {
        let state = Mutex::new(State {
            rooms: Rooms::new(policy),
            audiences: HashMap::new(),
            waiters: HashMap::new(),
            speakers: HashMap::new(),
        });
        let access = RwLock::new(SiteAccess::default());
        Arc::new(Self {
            state,
            sfu,
            turn,
            facts,
            password_attempts: OnceLock::new(),
            tokens: OnceLock::new(),
            meetings: OnceLock::new(),
            access,
            limits: OnceLock::new(),
            settings_known: std::sync::atomic::AtomicBool::new(true),
        })
    }

    /// How many rooms are in use (someone seated or waiting): a node with none is idle.
    pub fn open_rooms(&self) -> usize {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).rooms.in_use()
    }

    /// Checks join and session tokens with `tokens` from now on (once).
    pub fn check_tokens(&self, tokens: Arc<TokenCheck>) {
        let _ = self.tokens.set(tokens);
    }

    /// Asks the api about scheduled meetings from now on (once).
    pub fn follow_scheduled_meetings(&self, meetings: ScheduledMeetings) {
        let _ = self.meetings.set(meetings);
    }

    /// The api's scheduled meetings, when the node has an api.
    pub(crate) fn scheduled_meetings(&self) -> Option<&ScheduledMeetings> {
        self.meetings.get()
    }

    /// Whether a password for `room` must be checked against its scheduled meeting's.
    pub(crate) fn meeting_password_applies(&self, room: &RoomName) -> bool {
        self.lock().rooms.meeting_password_applies(room)
    }

    /// The token checker, when the node has one.
    pub(crate) fn tokens(&self) -> Option<&Arc<TokenCheck>> {
        self.tokens.get()
    }

    /// How the tenant's people get in, as last read from its settings.
    pub fn site_access(&self) -> SiteAccess {
        self.access.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The tenant's settings changed: the site tells the page, and the next join
    /// follows the rules they make (with `max_participants` seats per room).
    pub fn set_access(&self, access: SiteAccess, max_participants: u32) {
        self.set_policy(access.policy(max_participants));
        *self.access.write().unwrap_or_else(|p| p.into_inner()) = access;
        self.settings_known.store(true, std::sync::atomic::Ordering::Release);
    }

    /// The settings will come from the api: joins wait for them.
    pub fn await_settings(&self) {
        self.settings_known.store(false, std::sync::atomic::Ordering::Release);
    }

    /// Whether joins can be judged: the tenant's settings are known.
    pub fn settings_ready(&self) -> bool {
        self.settings_known.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The ICE servers a participant may use: TURN credentials minted for them now.
    pub(crate) fn ice_servers(&self, place: &Place) -> Vec<IceServer> {
        let user = format!("{}.{}", place.0.as_str(), place.1);
        self.turn.iter().map(|t| t.mint(&user, std::time::SystemTime::now())).collect()
    }

    /// Holds every socket to `limits` from now on (once; later calls change nothing).
    pub fn limit_signaling(&self, limits: super::SignalingLimits) {
        let _ = self.limits.set(limits);
    }

    /// What one socket may ask.
    pub(crate) fn signaling_limits(&self) -> super::SignalingLimits {
        self.limits.get().copied().unwrap_or_default()
    }

    /// Counts wrong room passwords in Redis from now on (once; later calls change nothing).
    pub fn limit_password_attempts(&self, attempts: PasswordAttempts) {
        let _ = self.password_attempts.set(attempts);
    }

    /// The counter of wrong room passwords, when there is one.
    pub(crate) fn password_attempts(&self) -> Option<&PasswordAttempts> {
        self.password_attempts.get()
    }

    /// The SFU the hub drives.
    pub fn sfu(&self) -> &SfuHandle {
        &self.sfu
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts the task that expires seats whose holders did not come back in time.
    pub fn spawn_ticker(self: &Arc<Self>) {
        let hub = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK);
            loop {
                interval.tick().await;
                let Some(hub) = hub.upgrade() else { return };
                hub.tick();
            }
        });
    }

    /// Starts the task that tells each room who its active speaker is now.
    pub fn relay_speakers(self: &Arc<Self>, mut changes: SpeakerChanges) {
        let hub = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(change) = changes.recv().await {
                let Some(hub) = hub.upgrade() else { return };
                let (Ok(room), Ok(participant)) =
                    (RoomName::parse(&change.seat.room), ParticipantId::parse(&change.seat.participant))
                else {
                    continue;
                };
                let mut state = hub.lock();
                // A late change about someone who has left (or a meeting that ended) is dropped.
                if state.seated_session(&(room.clone(), participant)).is_none() {
                    continue;
                }
                state.speakers.insert(room.clone(), participant);
                tell_room(&state, &room, &Push::ActiveSpeaker { participant });
            }
        });
    }

    /// The participant speaking in `room` now, if anyone has spoken yet.
    pub(crate) fn active_speaker(&self, room: &RoomName) -> Option<ParticipantId> {
        self.lock().speakers.get(room).copied()
    }

    /// Applies the tenant's settings to the joins to come.
    pub fn set_policy(&self, policy: RoomPolicy) {
        self.lock().rooms.set_policy(policy);
    }

    /// Expires seats now.
    pub fn tick(&self) {
        let mut state = self.lock();
        let events = state.rooms.tick(Instant::now());
        self.tell(&mut state, events);
        Self::deliver_news(&mut state);
    }

    /// Ends every room (SIGTERM): everyone is told, the SFU lets go of them.
    pub fn shutdown(&self) {
        let mut state = self.lock();
        let events = state.rooms.shutdown();
        self.tell(&mut state, events);
        Self::deliver_news(&mut state);
    }

    /// Seats a participant, linking the seat to `session`, or has them wait. A
    /// reconnect takes the seat over from the session that held it, which is closed.
    pub(crate) fn join(
        &self,
        session: u64,
        outgoing: mpsc::Sender<Outgoing>,
        request: JoinRequest,
    ) -> Result<JoinOutcome, RoomError> {
        let mut state = self.lock();
        let outcome = state.rooms.arrive(request, Instant::now())?;
        match &outcome {
            JoinOutcome::Seated(joined) => {
                let place = (joined.room.room.clone(), joined.participant);
                if let Some(old) = state.link(place, Link { session, outgoing })
                    && old.session != session
                {
                    let _ = old.outgoing.try_send(Outgoing::Close);
                }
                self.tell(&mut state, joined.events.clone());
            }
            JoinOutcome::Waiting(waiting) => {
                state.waiters.insert((waiting.room.clone(), waiting.id), Link { session, outgoing });
                self.tell(&mut state, waiting.events.clone());
            }
        }
        Self::deliver_news(&mut state);
        Ok(outcome)
    }

    /// `session`, waiting in `place`, gave up (left, or its socket closed). If it was
    /// let in meanwhile (the news not read yet), it leaves the seat it was given.
    pub(crate) fn withdraw(&self, session: u64, place: &Place) {
        let mut state = self.lock();
        if state.seated_session(place) == Some(session) {
            if let Ok(events) = state.rooms.handle(&place.0, place.1, Command::Leave, Instant::now()) {
                self.tell(&mut state, events);
                Self::deliver_news(&mut state);
            }
            return;
        }
        if state.waiters.get(place).is_none_or(|l| l.session != session) {
            return;
        }
        state.waiters.remove(place);
        let events = state.rooms.withdraw(&place.0, place.1);
        self.tell(&mut state, events);
    }

    /// Who knocks on `room`'s lobby (told to moderators as they join).
    pub(crate) fn lobby(&self, room: &RoomName) -> Vec<(ParticipantId, crate::room::DisplayName)> {
        self.lock().rooms.lobby(room)
    }

    /// Applies a seated participant's command.
    pub(crate) fn command(&self, place: &Place, command: Command) -> Result<(), RoomError> {
        let mut state = self.lock();
        let events = state.rooms.handle(&place.0, place.1, command, Instant::now())?;
        self.tell(&mut state, events);
        Self::deliver_news(&mut state);
        Ok(())
    }

    /// Tells waiting sessions what became of their wait; a seat links them.
    fn deliver_news(state: &mut State) {
        for item in state.rooms.take_news() {
            let place = (item.room, item.id);
            match item.news {
                News::InLobby => {
                    if let Some(link) = state.waiters.get(&place) {
                        let _ = link.outgoing.try_send(Outgoing::InLobby);
                    }
                }
                News::Seated(joined) => {
                    if let Some(link) = state.waiters.remove(&place) {
                        let _ = link.outgoing.try_send(Outgoing::Admitted(Box::new(joined)));
                        state.link(place, link);
                    }
                }
                News::Refused(e) => {
                    if let Some(link) = state.waiters.remove(&place) {
                        let _ = link.outgoing.try_send(Outgoing::Refused(e));
                    }
                }
            }
        }
    }

    /// Tells the room's moderators that its password tries are locked (too many
    /// from many networks) for `retry_after_seconds`.
    pub(crate) fn password_tries_locked(&self, room: &RoomName, retry_after_seconds: u64) {
        let state = self.lock();
        tell_moderators(&state, room, &Push::PasswordTriesLocked { room: room.clone(), retry_after_seconds });
    }

    /// The room's audience, for a seated session to chat to without the hub's lock.
    pub(crate) fn audience(&self, room: &RoomName) -> Option<Arc<Audience>> {
        self.lock().audiences.get(room).cloned()
    }

    /// `session`'s socket closed without a goodbye: its participant is away and may
    /// come back within the grace period. A session that no longer holds the seat
    /// (taken over by a reconnect) changes nothing.
    pub(crate) fn connection_lost(&self, session: u64, place: &Place) {
        let mut state = self.lock();
        if state.seated_session(place) != Some(session) {
            return;
        }
        state.unlink(place);
        if let Ok(events) = state.rooms.connection_lost(&place.0, place.1, Instant::now()) {
            self.tell(&mut state, events);
        }
    }

    /// Tells each room's sessions its events; lets go of departed participants.
    fn tell(&self, state: &mut State, events: Vec<RoomEvent>) {
        if let Some(facts) = &self.facts {
            facts.record(&events);
        }
        for event in events {
            let room = event.room().clone();
            let moderators_only = event.for_moderators_only();
            let text: Arc<str> = protocol::push_text(&Push::Event { event: event.clone() }).into();
            if let Some(audience) = state.audiences.get(&room) {
                for (participant, link) in audience.lock().iter() {
                    if !moderators_only || state.rooms.is_moderator(&room, *participant) {
                        let _ = link.outgoing.try_send(Outgoing::Text(text.clone()));
                    }
                }
            }
            if let RoomEvent::MeetingEnded { .. } = event {
                state.speakers.remove(&room);
            }
            if let RoomEvent::ParticipantLeft { participant, reason, .. } = event {
                if state.speakers.get(&room) == Some(&participant) {
                    state.speakers.remove(&room);
                }
                let place = (room.clone(), participant);
                self.sfu.leave(&Seat::new(room.as_str(), &participant.to_string()));
                if let Some(link) = state.unlink(&place)
                    && reason != LeaveReason::Left
                {
                    let _ = link.outgoing.try_send(Outgoing::Close);
                }
            }
        }
    }
}

/// Sends `push` to everyone in `room`, encoded once.
/// Tells the room's moderators on this node something only they should hear.
fn tell_moderators(state: &State, room: &RoomName, push: &Push) {
    let text: Arc<str> = protocol::push_text(push).into();
    let Some(audience) = state.audiences.get(room) else { return };
    for (participant, link) in audience.lock().iter() {
        if state.rooms.is_moderator(room, *participant) {
            let _ = link.outgoing.try_send(Outgoing::Text(text.clone()));
        }
    }
}

fn tell_room(state: &State, room: &RoomName, push: &Push) {
    let text: Arc<str> = protocol::push_text(push).into();
    let Some(audience) = state.audiences.get(room) else { return };
    for link in audience.lock().values() {
        let _ = link.outgoing.try_send(Outgoing::Text(text.clone()));
    }
}

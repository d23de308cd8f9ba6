//! Properties that hold whatever happens: a long deterministic pseudo-random run of
//! joins, rejoins, drops, commands and ticks, checked after every step.

use super::*;
use std::collections::{BTreeMap, HashSet};

/// A tiny linear congruential generator (Knuth's MMIX constants): enough to vary the
/// run, fixed so that a failure repeats.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len())])
    }
}

const ROOMS: [&str; 3] = ["r0", "r1", "r2"];
const PASSWORDS: [&str; 2] = ["a", "b"];
const CAP: u32 = 4;

/// Everyone who ever got a seat, whether or not they still have it.
struct Seat {
    room: &'static str,
    id: ParticipantId,
    token: ReconnectToken,
}

/// Mostly someone seated now, sometimes someone who may have lost their seat.
fn pick_actor(rooms: &Rooms, rng: &mut Lcg, seats: &[Seat]) -> Option<(&'static str, ParticipantId)> {
    if rng.below(5) == 0 {
        return rng.pick(seats).map(|s| (s.room, s.id));
    }
    let seated: Vec<_> =
        ROOMS.iter().flat_map(|name| ids(rooms, name).into_iter().map(move |id| (*name, id))).collect();
    rng.pick(&seated).copied()
}

fn random_step(
    rooms: &mut Rooms,
    rng: &mut Lcg,
    seats: &mut Vec<Seat>,
    now: Instant,
) -> Result<Vec<RoomEvent>, RoomError> {
    let room_name = ROOMS[rng.below(ROOMS.len())];
    let kind = if rng.below(2) == 0 { MediaKind::Audio } else { MediaKind::Video };
    let (seat_room, actor) =
        pick_actor(rooms, rng, seats).unwrap_or((room_name, ParticipantId::parse("0000000000000000").unwrap()));
    // Usually someone in the same room, sometimes anyone who ever had a seat.
    let same_room = ids(rooms, seat_room);
    let target = if rng.below(5) == 0 { rng.pick(seats).map(|s| s.id) } else { rng.pick(&same_room).copied() };
    let target = target.unwrap_or(actor);
    let command = match rng.below(14) {
        0..=3 => {
            let given = match rng.below(3) {
                0 => None,
                n => Some(password(PASSWORDS[n - 1])),
            };
            let request = JoinRequest { password: given, ..request(room_name, "Someone") };
            return rooms.join(request, now).map(|joined| {
                seats.push(Seat { room: room_name, id: joined.participant, token: joined.reconnect_token });
                joined.events
            });
        }
        4 => {
            // Mostly the token of someone still seated (away or not), sometimes any token.
            let seated: Vec<&Seat> = seats.iter().filter(|s| ids(rooms, s.room).contains(&s.id)).collect();
            let seat = if rng.below(4) == 0 { rng.pick(seats) } else { rng.pick(&seated).copied() };
            let Some(seat) = seat else { return Ok(vec![]) };
            return rooms.join(rejoin_request(seat.room, &seat.token), now).map(|joined| joined.events);
        }
        5 => return rooms.connection_lost(&room(seat_room), actor, now),
        6 => return Ok(rooms.tick(now)),
        7 => Command::Leave,
        8 => Command::Mute { target, kind },
        9 => Command::MuteAll { kind },
        10 => Command::Remove { target },
        11 => Command::GrantModerator { target },
        12 => match rng.below(3) {
            0 => Command::Unlock,
            n => Command::Lock { password: password(PASSWORDS[n - 1]) },
        },
        _ => match rng.below(6) {
            0 => Command::EndMeeting,
            n => Command::SetOwnMedia(MediaState {
                audio_muted: n % 2 == 0,
                video_muted: n % 3 == 0,
                screen_sharing: n == 5,
            }),
        },
    };
    rooms.handle(&room(seat_room), actor, command, now)
}

fn check_invariants(rooms: &Rooms, started_minus_ended: i64, seats_by_events: &BTreeMap<RoomName, i64>, step: usize) {
    let mut live_rooms = 0;
    for name in rooms.names() {
        live_rooms += 1;
        let snapshot = rooms.snapshot(name).unwrap();
        let count = snapshot.participants.len();
        assert!(count > 0, "step {step}: empty room {name} is still registered");
        assert!(count <= CAP as usize, "step {step}: {name} holds {count}, over the cap");
        let moderators = snapshot.participants.iter().filter(|p| p.role == Role::Moderator).count();
        assert!(moderators > 0, "step {step}: {name} has nobody to moderate it");
        let distinct: HashSet<_> = snapshot.participants.iter().map(|p| p.id).collect();
        assert_eq!(distinct.len(), count, "step {step}: duplicate ids in {name}");
        assert_eq!(
            seats_by_events.get(name).copied().unwrap_or(0),
            count as i64,
            "step {step}: events disagree about {name}"
        );
    }
    assert_eq!(started_minus_ended, live_rooms, "step {step}: started and ended meetings do not add up");
    assert_eq!(rooms.len() as i64, live_rooms);
}

/// Counts what `events` say: meetings started less ended, and seats per room.
fn tally(events: &[RoomEvent], started_minus_ended: &mut i64, seats_by_events: &mut BTreeMap<RoomName, i64>) {
    for event in events {
        match event {
            RoomEvent::MeetingStarted { .. } => *started_minus_ended += 1,
            RoomEvent::MeetingEnded { .. } => *started_minus_ended -= 1,
            RoomEvent::ParticipantJoined { room, .. } => *seats_by_events.entry(room.clone()).or_default() += 1,
            RoomEvent::ParticipantLeft { room, .. } => *seats_by_events.entry(room.clone()).or_default() -= 1,
            _ => {}
        }
    }
}

/// What kind of thing an event records, for the tally of what the run exercised.
fn event_kind(event: &RoomEvent) -> &'static str {
    match event {
        RoomEvent::ParticipantRejoined { .. } => "rejoined",
        RoomEvent::ParticipantLeft { reason: LeaveReason::TimedOut, .. } => "timed_out",
        RoomEvent::ParticipantLeft { reason: LeaveReason::Removed, .. } => "removed",
        RoomEvent::RoleChanged { by: None, .. } => "promoted",
        RoomEvent::MeetingEnded { by: Some(_), .. } => "ended_by_a_moderator",
        RoomEvent::MutedByModerator { .. } => "muted",
        _ => "other",
    }
}

#[test]
fn whatever_happens_rooms_stay_moderated_within_the_cap_without_duplicates_or_empty_rooms() {
    let mut rooms = node_with_cap(CAP);
    let mut rng = Lcg(0x5eed_c0de);
    let mut seats = Vec::new();
    let mut now = t(0);
    let mut started_minus_ended = 0_i64;
    let mut seats_by_events: BTreeMap<RoomName, i64> = BTreeMap::new();
    let mut outcomes: BTreeMap<&'static str, usize> = BTreeMap::new();

    for step in 0..5_000 {
        now += Duration::from_millis(rng.below(4_000) as u64);
        let before = rooms.clone();
        match random_step(&mut rooms, &mut rng, &mut seats, now) {
            Err(error) => {
                assert!(rooms == before, "step {step}: refused with {error:?}, yet the rooms changed");
                *outcomes.entry(error.code()).or_default() += 1;
            }
            Ok(events) => {
                *outcomes.entry("ok").or_default() += 1;
                tally(&events, &mut started_minus_ended, &mut seats_by_events);
                for event in &events {
                    *outcomes.entry(event_kind(event)).or_default() += 1;
                }
            }
        }
        check_invariants(&rooms, started_minus_ended, &seats_by_events, step);
    }

    // The run must have exercised the rules, not just bounced off them.
    let refusals = ["room_full", "password_required", "wrong_password", "not_moderator", "reconnect_refused"];
    let happenings = ["ok", "rejoined", "timed_out", "removed", "promoted", "ended_by_a_moderator", "muted"];
    for code in refusals.into_iter().chain(happenings) {
        assert!(outcomes.get(code).copied().unwrap_or(0) > 10, "{code} too rare: {outcomes:?}");
    }
}

/// Who someone joining is, in the run with logins.
fn identity_of(n: usize) -> Identity {
    match n {
        0 => Identity::Anonymous,
        1 => Identity::Authenticated { moderator: false },
        _ => Identity::Authenticated { moderator: true },
    }
}

/// Those the logins run believes are waiting, by room and id.
type Waiters = BTreeMap<(RoomName, ParticipantId), (WaitReason, Identity)>;

#[test]
fn with_logins_and_a_lobby_nobody_moderates_without_a_login_that_says_so_and_every_wait_ends_accounted_for() {
    let policy = RoomPolicy { max_participants: CAP, auth_required: true, guests_allowed: true, lobby: true };
    let mut rooms = Rooms::with_seed(policy, 99);
    let mut rng = Lcg(0x00ac_ce55);
    let mut now = t(0);
    let mut identities: BTreeMap<ParticipantId, Identity> = BTreeMap::new();
    let mut waiters = Waiters::new();
    let mut started_minus_ended = 0_i64;
    let mut seats_by_events: BTreeMap<RoomName, i64> = BTreeMap::new();
    let mut outcomes: BTreeMap<&'static str, usize> = BTreeMap::new();

    for step in 0..6_000 {
        if step == 3_000 {
            rooms.set_policy(RoomPolicy { guests_allowed: false, lobby: false, ..policy });
        }
        now += Duration::from_millis(rng.below(4_000) as u64);
        let name = ROOMS[rng.below(ROOMS.len())];
        let seated = ids(&rooms, name);
        let actor = rng.pick(&seated).copied();
        let in_lobby: Vec<ParticipantId> = rooms.lobby(&room(name)).into_iter().map(|(id, _)| id).collect();
        let before = rooms.clone();
        let result: Result<Vec<RoomEvent>, RoomError> = match (rng.below(12), actor) {
            (0..=4, _) => {
                let identity = identity_of(rng.below(3));
                let given = rng.pick(&[None, Some("a")]).copied().flatten().map(password);
                let request = JoinRequest { identity, password: given, ..request(name, "Someone") };
                rooms.arrive(request, now).map(|outcome| match outcome {
                    JoinOutcome::Seated(joined) => {
                        *outcomes.entry("seated").or_default() += 1;
                        identities.insert(joined.participant, identity);
                        joined.events
                    }
                    JoinOutcome::Waiting(w) => {
                        *outcomes
                            .entry(if w.reason == WaitReason::Host { "wait_host" } else { "wait_lobby" })
                            .or_default() += 1;
                        waiters.insert((w.room, w.id), (w.reason, identity));
                        w.events
                    }
                })
            }
            (5, _) => {
                let mine: Vec<ParticipantId> =
                    waiters.keys().filter(|(r, _)| r.as_str() == name).map(|(_, id)| *id).collect();
                match rng.pick(&mine).copied() {
                    Some(id) => {
                        waiters.remove(&(room(name), id));
                        *outcomes.entry("withdrawn").or_default() += 1;
                        Ok(rooms.withdraw(&room(name), id))
                    }
                    None => Ok(Vec::new()),
                }
            }
            (6, _) => Ok(rooms.tick(now)),
            (7, Some(actor)) => rooms.connection_lost(&room(name), actor, now),
            (8, Some(actor)) => match rng.pick(&in_lobby).copied() {
                Some(target) => rooms.handle(&room(name), actor, Command::Admit { target }, now),
                None => Ok(Vec::new()),
            },
            (9, Some(actor)) => match rng.pick(&in_lobby).copied() {
                Some(target) => rooms.handle(&room(name), actor, Command::Deny { target }, now),
                None => Ok(Vec::new()),
            },
            (10, Some(actor)) => rooms.handle(&room(name), actor, Command::Leave, now),
            (_, Some(actor)) => match rng.below(3) {
                0 => rooms.handle(&room(name), actor, Command::EndMeeting, now),
                1 => rooms.handle(&room(name), actor, Command::Lock { password: password("a") }, now),
                _ => rooms.handle(&room(name), actor, Command::Unlock, now),
            },
            (_, None) => Ok(Vec::new()),
        };
        match &result {
            Err(error) => {
                assert!(rooms == before, "step {step}: refused with {error:?}, yet the rooms changed");
                *outcomes.entry(error.code()).or_default() += 1;
            }
            Ok(events) => tally(events, &mut started_minus_ended, &mut seats_by_events),
        }
        for item in rooms.take_news() {
            let key = (item.room.clone(), item.id);
            let (_, identity) = *waiters.get(&key).unwrap_or_else(|| panic!("step {step}: news for a stranger"));
            match item.news {
                News::Seated(joined) => {
                    *outcomes.entry("let_in").or_default() += 1;
                    assert_eq!(joined.participant, item.id, "step {step}");
                    assert_eq!(
                        joined.role == Role::Moderator,
                        identity.is_moderator(),
                        "step {step}: a waiter's role comes from their login"
                    );
                    identities.insert(item.id, identity);
                    waiters.remove(&key);
                }
                News::InLobby => {
                    *outcomes.entry("now_in_lobby").or_default() += 1;
                    waiters.insert(key, (WaitReason::Lobby, identity));
                }
                News::Refused(e) => {
                    *outcomes.entry(e.code()).or_default() += 1;
                    waiters.remove(&key);
                }
            }
        }

        // What the rules hold and what the run tracked agree, room by room.
        for name in ROOMS {
            let snapshot = rooms.snapshot(&room(name));
            let seats = snapshot.as_ref().map_or(0, |s| s.participants.len());
            assert!(seats <= CAP as usize, "step {step}: over the cap");
            assert_eq!(seats_by_events.get(&room(name)).copied().unwrap_or(0), seats as i64, "step {step}: {name}");
            for p in snapshot.iter().flat_map(|s| &s.participants) {
                let identity = identities.get(&p.id).copied().unwrap_or_default();
                assert_eq!(
                    p.role == Role::Moderator,
                    identity.is_moderator(),
                    "step {step}: {name}: {:?} is {:?} with {identity:?}",
                    p.id,
                    p.role
                );
            }
            let mut lobby: Vec<_> = rooms.lobby(&room(name)).into_iter().map(|(id, _)| id).collect();
            let mut tracked: Vec<_> = waiters
                .iter()
                .filter(|((r, _), (reason, _))| r.as_str() == name && *reason == WaitReason::Lobby)
                .map(|((_, id), _)| *id)
                .collect();
            lobby.sort();
            tracked.sort();
            assert_eq!(lobby, tracked, "step {step}: the lobby of {name}");
            let waiting_for_host =
                waiters.iter().any(|((r, _), (reason, _))| r.as_str() == name && *reason == WaitReason::Host);
            assert!(!(waiting_for_host && seats > 0), "step {step}: someone waits for a host in an open room {name}");
        }
        assert_eq!(started_minus_ended, rooms.len() as i64, "step {step}: meetings started and ended do not add up");
    }

    for what in ["seated", "wait_host", "wait_lobby", "let_in", "now_in_lobby", "withdrawn", "denied", "login_required"]
    {
        assert!(outcomes.get(what).copied().unwrap_or(0) > 10, "{what} too rare: {outcomes:?}");
    }
}

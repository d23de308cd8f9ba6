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
                for event in &events {
                    match event {
                        RoomEvent::MeetingStarted { .. } => started_minus_ended += 1,
                        RoomEvent::MeetingEnded { .. } => started_minus_ended -= 1,
                        RoomEvent::ParticipantJoined { room, .. } => {
                            *seats_by_events.entry(room.clone()).or_default() += 1
                        }
                        RoomEvent::ParticipantLeft { room, .. } => {
                            *seats_by_events.entry(room.clone()).or_default() -= 1
                        }
                        _ => {}
                    }
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

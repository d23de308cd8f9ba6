//! Taking a seat: who starts a room, who moderates it, how many fit.

use super::*;

#[test]
fn first_to_join_is_moderator() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0));
    assert_eq!(ada.role, Role::Moderator);
    assert_eq!(seat(&rooms, "standup", ada.participant).role, Role::Moderator);
}

#[test]
fn the_first_join_starts_the_meeting_and_the_room() {
    let mut rooms = node();
    assert!(rooms.is_empty());
    let ada = join(&mut rooms, "standup", "Ada", t(0));
    assert_eq!(
        ada.events,
        vec![
            RoomEvent::MeetingStarted { room: room("standup") },
            RoomEvent::ParticipantJoined {
                room: room("standup"),
                participant: seat(&rooms, "standup", ada.participant)
            },
        ]
    );
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms.names().collect::<Vec<_>>(), vec![&room("standup")]);
}

#[test]
fn those_who_join_later_are_participants_and_the_meeting_does_not_start_again() {
    let mut rooms = node();
    join(&mut rooms, "standup", "Ada", t(0));
    let bob = join(&mut rooms, "standup", "Bob", t(1));
    assert_eq!(bob.role, Role::Participant);
    assert_eq!(
        bob.events,
        vec![RoomEvent::ParticipantJoined {
            room: room("standup"),
            participant: seat(&rooms, "standup", bob.participant)
        }]
    );
}

#[test]
fn a_joiner_sees_everyone_in_the_order_they_came_themself_included() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0));
    let bob = join(&mut rooms, "standup", "Bob", t(1));
    let cy = rooms
        .join(
            JoinRequest {
                media: MediaState { audio_muted: true, video_muted: true, screen_sharing: false },
                ..request("standup", "  Cy  ")
            },
            t(2),
        )
        .unwrap();
    let names: Vec<_> = cy.room.participants.iter().map(|p| (p.id, p.display_name.as_str(), p.role)).collect();
    assert_eq!(
        names,
        vec![
            (ada.participant, "Ada", Role::Moderator),
            (bob.participant, "Bob", Role::Participant),
            (cy.participant, "Cy", Role::Participant)
        ]
    );
    assert_eq!(cy.room.room, room("standup"));
    assert!(!cy.room.locked);
    assert!(cy.room.participants.iter().all(|p| !p.away));
    assert_eq!(
        cy.room.participants[2].media,
        MediaState { audio_muted: true, video_muted: true, screen_sharing: false }
    );
}

#[test]
fn a_joiner_starts_with_the_media_state_they_asked_for() {
    let mut rooms = node();
    let media = MediaState { audio_muted: true, video_muted: false, screen_sharing: true };
    let ada = rooms.join(JoinRequest { media, ..request("standup", "Ada") }, t(0)).unwrap();
    assert_eq!(seat(&rooms, "standup", ada.participant).media, media);
}

#[test]
fn everyone_gets_a_distinct_id_and_a_distinct_token() {
    let mut rooms = node();
    let joined: Vec<_> = (0..50).map(|i| join(&mut rooms, "standup", &format!("P{i}"), t(i))).collect();
    let mut ids: Vec<_> = joined.iter().map(|j| j.participant).collect();
    let mut tokens: Vec<_> = joined.iter().map(|j| j.reconnect_token.as_str().to_owned()).collect();
    ids.sort_unstable();
    ids.dedup();
    tokens.sort_unstable();
    tokens.dedup();
    assert_eq!((ids.len(), tokens.len()), (50, 50));
}

#[test]
fn room_names_ignore_case_so_standup_and_standup_in_capitals_are_one_room() {
    let mut rooms = node();
    join(&mut rooms, "Standup", "Ada", t(0));
    let bob = join(&mut rooms, "STANDUP", "Bob", t(1));
    assert_eq!(bob.role, Role::Participant);
    assert_eq!(rooms.len(), 1);
}

#[test]
fn rooms_are_independent_each_with_its_own_first_moderator() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0));
    let bob = join(&mut rooms, "retro", "Bob", t(1));
    assert_eq!((ada.role, bob.role), (Role::Moderator, Role::Moderator));
    assert_eq!(rooms.len(), 2);
    assert_eq!(ids(&rooms, "standup"), vec![ada.participant]);
    assert_eq!(ids(&rooms, "retro"), vec![bob.participant]);
}

#[test]
fn the_default_cap_is_75() {
    let mut rooms = node();
    for i in 0..75 {
        join(&mut rooms, "all-hands", &format!("P{i}"), t(i));
    }
    let error = refused(&mut rooms, |rooms| rooms.join(request("all-hands", "Late"), t(100)));
    assert_eq!(error, RoomError::RoomFull { max: 75 });
}

#[test]
fn the_one_over_the_cap_is_told_room_full() {
    let mut rooms = node_with_cap(2);
    join(&mut rooms, "standup", "Ada", t(0));
    join(&mut rooms, "standup", "Bob", t(1));
    let error = refused(&mut rooms, |rooms| rooms.join(request("standup", "Cy"), t(2)));
    assert_eq!(error, RoomError::RoomFull { max: 2 });
    assert_eq!(error.code(), "room_full");
}

#[test]
fn a_seat_freed_by_someone_leaving_can_be_taken() {
    let mut rooms = node_with_cap(2);
    join(&mut rooms, "standup", "Ada", t(0));
    let bob = join(&mut rooms, "standup", "Bob", t(1));
    act(&mut rooms, "standup", bob.participant, Command::Leave, t(2));
    assert_eq!(join(&mut rooms, "standup", "Cy", t(3)).role, Role::Participant);
}

#[test]
fn a_cap_of_zero_refuses_even_the_first_and_starts_no_room() {
    let mut rooms = node_with_cap(0);
    let error = refused(&mut rooms, |rooms| rooms.join(request("standup", "Ada"), t(0)));
    assert_eq!(error, RoomError::RoomFull { max: 0 });
    assert!(rooms.is_empty());
}

#[test]
fn a_new_policy_applies_to_the_next_join_in_running_and_new_rooms() {
    let mut rooms = node_with_cap(1);
    join(&mut rooms, "old", "Ada", t(0));
    assert_eq!(refused(&mut rooms, |rooms| rooms.join(request("old", "Bob"), t(1))), RoomError::RoomFull { max: 1 });
    rooms.set_policy(RoomPolicy { max_participants: 2, ..RoomPolicy::default() });
    join(&mut rooms, "old", "Bob", t(2));
    join(&mut rooms, "new", "Cy", t(3));
    join(&mut rooms, "new", "Dee", t(4));
    assert_eq!(refused(&mut rooms, |rooms| rooms.join(request("new", "Eve"), t(5))), RoomError::RoomFull { max: 2 });
}

#[test]
fn display_names_need_not_be_unique() {
    let mut rooms = node();
    let first = join(&mut rooms, "standup", "Ada", t(0));
    let second = join(&mut rooms, "standup", "Ada", t(1));
    assert_ne!(first.participant, second.participant);
}

#[test]
fn a_password_given_to_an_unlocked_room_is_ignored() {
    let mut rooms = node();
    rooms.join(request_with_password("standup", "Ada", "whatever"), t(0)).unwrap();
    let bob = rooms.join(request_with_password("standup", "Bob", "anything"), t(1)).unwrap();
    assert!(!bob.room.locked);
}

#[test]
fn a_joins_snapshot_and_events_carry_no_secret() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0));
    act(&mut rooms, "standup", ada.participant, Command::Lock { password: password("hunter2") }, t(1));
    let bob = rooms.join(request_with_password("standup", "Bob", "hunter2"), t(2)).unwrap();
    let json = serde_json::to_string(&(&bob.room, &bob.events)).unwrap();
    assert!(!json.contains("hunter2"));
    assert!(!json.contains(bob.reconnect_token.as_str()));
    assert!(!json.contains(ada.reconnect_token.as_str()));
    assert!(json.contains("\"locked\":true"));
}

#[test]
fn display_names_and_room_names_are_checked_before_any_rule_runs() {
    assert_eq!(DisplayName::parse("   ").map_err(|e| e.code()).err(), Some("invalid_display_name"));
    assert_eq!(DisplayName::parse("a\u{0}b").map_err(|e| e.code()).err(), Some("invalid_display_name"));
    assert_eq!(DisplayName::parse(&"n".repeat(65)).map_err(|e| e.code()).err(), Some("invalid_display_name"));
    assert_eq!(RoomName::parse("../x").map_err(|e| RoomError::from(e).code()).err(), Some("invalid_room_name"));
    assert_eq!(
        RoomName::parse(&"r".repeat(65)).map_err(|e| RoomError::from(e).code()).err(),
        Some("invalid_room_name")
    );
    assert_eq!(RoomPassword::parse("").map_err(|e| e.code()).err(), Some("invalid_password"));
    assert_eq!(RoomPassword::parse(&"p".repeat(129)).map_err(|e| e.code()).err(), Some("invalid_password"));
}

#[test]
fn a_lower_cap_from_new_settings_applies_to_the_next_join_in_a_running_room() {
    use crate::room::{DisplayName, JoinRequest, RoomName, RoomPolicy, Rooms};
    let mut rooms = Rooms::new(RoomPolicy { max_participants: 5, ..RoomPolicy::default() });
    let now = std::time::Instant::now();
    let room = RoomName::parse("cap").unwrap();
    for name in ["a", "b", "c"] {
        rooms.join(JoinRequest::new(room.clone(), DisplayName::parse(name).unwrap()), now).unwrap();
    }
    rooms.set_policy(RoomPolicy { max_participants: 3, ..RoomPolicy::default() });
    let refused = rooms.join(JoinRequest::new(room.clone(), DisplayName::parse("d").unwrap()), now).unwrap_err();
    assert_eq!(refused.code(), "room_full");
    assert_eq!(rooms.snapshot(&room).unwrap().participants.len(), 3, "nobody seated lost their seat");
    rooms.set_policy(RoomPolicy { max_participants: 4, ..RoomPolicy::default() });
    assert!(rooms.join(JoinRequest::new(room, DisplayName::parse("d").unwrap()), now).is_ok());
}

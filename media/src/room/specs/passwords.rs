//! Locking a room with a password, and joining a locked room.

use super::*;

/// A room "standup" with Ada (moderator) and Bob in it, locked by Ada with "s3cret".
fn locked_room() -> (Rooms, Joined, Joined) {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0));
    let bob = join(&mut rooms, "standup", "Bob", t(1));
    act(&mut rooms, "standup", ada.participant, Command::Lock { password: password("s3cret") }, t(2));
    (rooms, ada, bob)
}

#[test]
fn a_moderator_locks_the_room_and_everyone_is_told() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0));
    let events = act(&mut rooms, "standup", ada.participant, Command::Lock { password: password("s3cret") }, t(1));
    assert_eq!(events, vec![RoomEvent::RoomLocked { room: room("standup"), by: ada.participant }]);
    assert!(rooms.snapshot(&room("standup")).unwrap().locked);
}

#[test]
fn a_locked_room_refuses_a_join_without_the_password() {
    let (mut rooms, ..) = locked_room();
    let error = refused(&mut rooms, |rooms| rooms.join(request("standup", "Cy"), t(3)));
    assert_eq!(error, RoomError::PasswordRequired);
    assert_eq!(error.code(), "password_required");
}

#[test]
fn wrong_password_changes_nothing() {
    let (mut rooms, ..) = locked_room();
    for wrong in ["S3cret", "s3cret ", "s3cre", "x", &"s".repeat(128)] {
        let error = refused(&mut rooms, |rooms| rooms.join(request_with_password("standup", "Cy", wrong), t(3)));
        assert_eq!(error, RoomError::WrongPassword, "{wrong}");
        assert_eq!(error.code(), "wrong_password");
    }
}

#[test]
fn the_right_password_lets_a_newcomer_in_as_a_participant() {
    let (mut rooms, ..) = locked_room();
    let cy = rooms.join(request_with_password("standup", "Cy", "s3cret"), t(3)).unwrap();
    assert_eq!(cy.role, Role::Participant);
    assert!(cy.room.locked);
}

#[test]
fn the_password_is_checked_before_the_cap_so_outsiders_do_not_learn_the_room_is_full() {
    let mut rooms = node_with_cap(1);
    let ada = join(&mut rooms, "standup", "Ada", t(0));
    act(&mut rooms, "standup", ada.participant, Command::Lock { password: password("s3cret") }, t(1));
    assert_eq!(refused(&mut rooms, |r| r.join(request("standup", "Cy"), t(2))), RoomError::PasswordRequired);
    assert_eq!(
        refused(&mut rooms, |r| r.join(request_with_password("standup", "Cy", "nope"), t(2))),
        RoomError::WrongPassword
    );
    assert_eq!(
        refused(&mut rooms, |r| r.join(request_with_password("standup", "Cy", "s3cret"), t(2))),
        RoomError::RoomFull { max: 1 }
    );
}

#[test]
fn those_already_inside_are_unaffected_by_the_lock() {
    let (mut rooms, ada, bob) = locked_room();
    assert_eq!(ids(&rooms, "standup"), vec![ada.participant, bob.participant]);
    assert_eq!(seat(&rooms, "standup", ada.participant).role, Role::Moderator);
    let media = MediaState { audio_muted: true, ..MediaState::default() };
    assert_eq!(act(&mut rooms, "standup", bob.participant, Command::SetOwnMedia(media), t(3)).len(), 1);
}

#[test]
fn a_moderator_unlocks_and_anyone_may_join_again() {
    let (mut rooms, ada, _) = locked_room();
    let events = act(&mut rooms, "standup", ada.participant, Command::Unlock, t(3));
    assert_eq!(events, vec![RoomEvent::RoomUnlocked { room: room("standup"), by: ada.participant }]);
    let cy = join(&mut rooms, "standup", "Cy", t(4));
    assert!(!cy.room.locked);
}

#[test]
fn unlocking_an_unlocked_room_changes_nothing_and_says_nothing() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0));
    let before = rooms.clone();
    assert_eq!(act(&mut rooms, "standup", ada.participant, Command::Unlock, t(1)), vec![]);
    assert!(rooms == before);
}

#[test]
fn locking_again_replaces_the_password() {
    let (mut rooms, ada, _) = locked_room();
    let events = act(&mut rooms, "standup", ada.participant, Command::Lock { password: password("n3w") }, t(3));
    assert_eq!(events, vec![RoomEvent::RoomLocked { room: room("standup"), by: ada.participant }]);
    assert_eq!(
        refused(&mut rooms, |r| r.join(request_with_password("standup", "Cy", "s3cret"), t(4))),
        RoomError::WrongPassword
    );
    rooms.join(request_with_password("standup", "Cy", "n3w"), t(4)).unwrap();
}

#[test]
fn a_moderator_made_later_may_lock_and_unlock_too() {
    let (mut rooms, ada, bob) = locked_room();
    act(&mut rooms, "standup", ada.participant, Command::GrantModerator { target: bob.participant }, t(3));
    act(&mut rooms, "standup", bob.participant, Command::Unlock, t(4));
    assert!(!rooms.snapshot(&room("standup")).unwrap().locked);
}

#[test]
fn a_participant_can_neither_lock_nor_unlock() {
    let (mut rooms, _, bob) = locked_room();
    let lock = Command::Lock { password: password("mine") };
    assert_eq!(
        refused(&mut rooms, |r| r.handle(&room("standup"), bob.participant, lock, t(3))),
        RoomError::NotModerator
    );
    assert_eq!(
        refused(&mut rooms, |r| r.handle(&room("standup"), bob.participant, Command::Unlock, t(3))),
        RoomError::NotModerator
    );
    assert!(rooms.snapshot(&room("standup")).unwrap().locked);
}

#[test]
fn passwords_are_compared_exactly_as_typed() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0));
    act(&mut rooms, "standup", ada.participant, Command::Lock { password: password(" pass word ") }, t(1));
    assert_eq!(
        refused(&mut rooms, |r| r.join(request_with_password("standup", "Cy", "pass word"), t(2))),
        RoomError::WrongPassword
    );
    rooms.join(request_with_password("standup", "Cy", " pass word "), t(2)).unwrap();
}

//! Giving up a seat: what happens to the room, and to moderation, when people go.

use super::*;

#[test]
fn a_participant_leaves_and_the_others_are_told() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0)).participant;
    let bob = join(&mut rooms, "standup", "Bob", t(1)).participant;
    assert_eq!(act(&mut rooms, "standup", bob, Command::Leave, t(2)), vec![left("standup", bob, LeaveReason::Left)]);
    assert_eq!(ids(&rooms, "standup"), vec![ada]);
}

#[test]
fn room_and_password_vanish_when_the_last_leaves_and_the_next_join_opens_a_new_unlocked_room() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0)).participant;
    let bob = rooms.join(request("standup", "Bob"), t(1)).unwrap().participant;
    act(&mut rooms, "standup", ada, Command::Lock { password: password("s3cret") }, t(2));
    act(&mut rooms, "standup", ada, Command::Leave, t(3));
    let events = act(&mut rooms, "standup", bob, Command::Leave, t(4));
    assert_eq!(events, vec![left("standup", bob, LeaveReason::Left), ended("standup", None)]);
    assert!(rooms.is_empty());

    let cy = join(&mut rooms, "standup", "Cy", t(5));
    assert_eq!(cy.events[0], RoomEvent::MeetingStarted { room: room("standup") });
    assert_eq!(cy.role, Role::Moderator);
    assert!(!cy.room.locked);
    assert_eq!(cy.room.participants.len(), 1);
}

#[test]
fn the_last_one_leaving_ends_the_meeting_with_no_one_to_blame() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0)).participant;
    assert_eq!(
        act(&mut rooms, "standup", ada, Command::Leave, t(1)),
        vec![left("standup", ada, LeaveReason::Left), ended("standup", None)]
    );
    assert_eq!(rooms.len(), 0);
}

#[test]
fn when_the_last_moderator_leaves_the_longest_present_participant_is_promoted() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0)).participant;
    let bob = join(&mut rooms, "standup", "Bob", t(1)).participant;
    let cy = join(&mut rooms, "standup", "Cy", t(2)).participant;
    let events = act(&mut rooms, "standup", ada, Command::Leave, t(3));
    assert_eq!(events, vec![left("standup", ada, LeaveReason::Left), promoted("standup", bob)]);
    assert_eq!(moderators(&rooms, "standup"), vec![bob]);
    assert_eq!(seat(&rooms, "standup", cy).role, Role::Participant);
}

#[test]
fn while_another_moderator_remains_nobody_is_promoted() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0)).participant;
    let bob = join(&mut rooms, "standup", "Bob", t(1)).participant;
    let cy = join(&mut rooms, "standup", "Cy", t(2)).participant;
    act(&mut rooms, "standup", ada, Command::GrantModerator { target: cy }, t(3));
    assert_eq!(act(&mut rooms, "standup", ada, Command::Leave, t(4)), vec![left("standup", ada, LeaveReason::Left)]);
    assert_eq!(moderators(&rooms, "standup"), vec![cy]);
    assert_eq!(seat(&rooms, "standup", bob).role, Role::Participant);
}

#[test]
fn a_participant_leaving_touches_no_ones_role() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0)).participant;
    join(&mut rooms, "standup", "Bob", t(1));
    let cy = join(&mut rooms, "standup", "Cy", t(2)).participant;
    assert_eq!(act(&mut rooms, "standup", cy, Command::Leave, t(3)), vec![left("standup", cy, LeaveReason::Left)]);
    assert_eq!(moderators(&rooms, "standup"), vec![ada]);
}

#[test]
fn promotion_prefers_someone_connected_to_someone_away() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0)).participant;
    let bob = join(&mut rooms, "standup", "Bob", t(1)).participant;
    let cy = join(&mut rooms, "standup", "Cy", t(2)).participant;
    rooms.connection_lost(&room("standup"), bob, t(3)).unwrap();
    let events = act(&mut rooms, "standup", ada, Command::Leave, t(4));
    assert_eq!(events, vec![left("standup", ada, LeaveReason::Left), promoted("standup", cy)]);
}

#[test]
fn if_only_away_participants_remain_the_longest_present_of_them_is_promoted() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0)).participant;
    let bob = join(&mut rooms, "standup", "Bob", t(1)).participant;
    let cy = join(&mut rooms, "standup", "Cy", t(2)).participant;
    rooms.connection_lost(&room("standup"), cy, t(3)).unwrap();
    rooms.connection_lost(&room("standup"), bob, t(4)).unwrap();
    let events = act(&mut rooms, "standup", ada, Command::Leave, t(5));
    assert_eq!(events, vec![left("standup", ada, LeaveReason::Left), promoted("standup", bob)]);
}

#[test]
fn a_participant_who_left_is_gone_for_good() {
    let mut rooms = node();
    join(&mut rooms, "standup", "Ada", t(0));
    let bob = join(&mut rooms, "standup", "Bob", t(1)).participant;
    act(&mut rooms, "standup", bob, Command::Leave, t(2));
    let again = refused(&mut rooms, |r| r.handle(&room("standup"), bob, Command::Leave, t(3)));
    assert_eq!(again, RoomError::NoSuchParticipant);
}

#[test]
fn shutting_the_node_down_ends_every_meeting() {
    let mut rooms = node();
    let ada = join(&mut rooms, "alpha", "Ada", t(0)).participant;
    let bob = join(&mut rooms, "beta", "Bob", t(1)).participant;
    let cy = join(&mut rooms, "beta", "Cy", t(2)).participant;
    assert_eq!(
        rooms.shutdown(),
        vec![
            left("alpha", ada, LeaveReason::MeetingEnded),
            ended("alpha", None),
            left("beta", bob, LeaveReason::MeetingEnded),
            left("beta", cy, LeaveReason::MeetingEnded),
            ended("beta", None),
        ]
    );
    assert!(rooms.is_empty());
}

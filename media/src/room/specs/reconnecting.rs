//! Dropped connections: the seat waits [`RECONNECT_GRACE`] for its token, then goes.

use super::*;

fn away(participant: ParticipantId) -> RoomEvent {
    RoomEvent::ParticipantAway { room: room("standup"), participant }
}

#[test]
fn the_grace_period_is_30_seconds() {
    assert_eq!(RECONNECT_GRACE, Duration::from_secs(30));
}

#[test]
fn a_dropped_participant_is_away_but_keeps_their_seat() {
    let mut rooms = node();
    join(&mut rooms, "standup", "Ada", t(0));
    let bob = join(&mut rooms, "standup", "Bob", t(1)).participant;
    assert_eq!(rooms.connection_lost(&room("standup"), bob, t(2)), Ok(vec![away(bob)]));
    assert!(seat(&rooms, "standup", bob).away);
    assert_eq!(ids(&rooms, "standup").len(), 2);
}

#[test]
fn a_dropped_participant_rejoins_within_30s_as_the_same_participant_without_a_duplicate() {
    let mut rooms = node();
    join(&mut rooms, "standup", "Ada", t(0));
    let bob = join(&mut rooms, "standup", "Bob", t(1));
    let media = MediaState { audio_muted: true, video_muted: false, screen_sharing: true };
    act(&mut rooms, "standup", bob.participant, Command::SetOwnMedia(media), t(2));
    let before = seat(&rooms, "standup", bob.participant);
    rooms.connection_lost(&room("standup"), bob.participant, t(10)).unwrap();

    let back = rooms.join(rejoin_request("standup", &bob.reconnect_token), t(39)).unwrap();
    assert_eq!(back.participant, bob.participant);
    assert_eq!(back.role, Role::Participant);
    assert_eq!(back.reconnect_token, bob.reconnect_token);
    assert_eq!(
        back.events,
        vec![RoomEvent::ParticipantRejoined { room: room("standup"), participant: bob.participant }]
    );
    assert_eq!(back.room.participants.len(), 2);
    assert_eq!(seat(&rooms, "standup", bob.participant), before);
    assert_eq!(back.room, rooms.snapshot(&room("standup")).unwrap());
}

#[test]
fn a_rejoining_moderator_is_still_moderator() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0));
    join(&mut rooms, "standup", "Bob", t(1));
    rooms.connection_lost(&room("standup"), ada.participant, t(2)).unwrap();
    let back = rooms.join(rejoin_request("standup", &ada.reconnect_token), t(3)).unwrap();
    assert_eq!(back.role, Role::Moderator);
    assert_eq!(moderators(&rooms, "standup"), vec![ada.participant]);
}

#[test]
fn a_rejoin_keeps_the_seats_name_and_media_whatever_the_request_says() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0));
    rooms.connection_lost(&room("standup"), ada.participant, t(1)).unwrap();
    let request = JoinRequest {
        media: MediaState { audio_muted: true, video_muted: true, screen_sharing: true },
        ..rejoin_request("standup", &ada.reconnect_token)
    };
    rooms.join(request, t(2)).unwrap();
    let back = seat(&rooms, "standup", ada.participant);
    assert_eq!((back.display_name.as_str(), back.media), ("Ada", MediaState::default()));
}

#[test]
fn the_last_moment_of_the_grace_is_still_in_time_and_the_grace_end_is_not() {
    let mut rooms = node();
    join(&mut rooms, "standup", "Ada", t(0));
    let bob = join(&mut rooms, "standup", "Bob", t(1));
    rooms.connection_lost(&room("standup"), bob.participant, t(10)).unwrap();
    let mut in_time = rooms.clone();
    assert!(in_time.join(rejoin_request("standup", &bob.reconnect_token), t_ms(39_999)).is_ok());
    let error = refused(&mut rooms, |r| r.join(rejoin_request("standup", &bob.reconnect_token), t(40)));
    assert_eq!(error, RoomError::ReconnectRefused);
    assert_eq!(error.code(), "reconnect_refused");
}

#[test]
fn a_participant_who_reconnects_can_drop_again_with_a_fresh_grace() {
    let mut rooms = node();
    join(&mut rooms, "standup", "Ada", t(0));
    let bob = join(&mut rooms, "standup", "Bob", t(1));
    rooms.connection_lost(&room("standup"), bob.participant, t(10)).unwrap();
    rooms.join(rejoin_request("standup", &bob.reconnect_token), t(20)).unwrap();
    rooms.connection_lost(&room("standup"), bob.participant, t(30)).unwrap();
    assert_eq!(rooms.tick(t(59)), vec![]);
    assert_eq!(rooms.tick(t(60)), vec![left("standup", bob.participant, LeaveReason::TimedOut)]);
}

#[test]
fn a_second_report_of_the_same_drop_does_not_extend_the_grace() {
    let mut rooms = node();
    join(&mut rooms, "standup", "Ada", t(0));
    let bob = join(&mut rooms, "standup", "Bob", t(1)).participant;
    rooms.connection_lost(&room("standup"), bob, t(10)).unwrap();
    assert_eq!(rooms.connection_lost(&room("standup"), bob, t(20)), Ok(vec![]));
    assert_eq!(rooms.next_timeout(), Some(t(40)));
}

#[test]
fn after_the_grace_period_the_away_participant_is_removed() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0)).participant;
    let bob = join(&mut rooms, "standup", "Bob", t(1));
    rooms.connection_lost(&room("standup"), bob.participant, t(10)).unwrap();
    assert_eq!(rooms.tick(t(39)), vec![]);
    assert_eq!(rooms.tick(t(40)), vec![left("standup", bob.participant, LeaveReason::TimedOut)]);
    assert_eq!(ids(&rooms, "standup"), vec![ada]);
    let error = refused(&mut rooms, |r| r.join(rejoin_request("standup", &bob.reconnect_token), t(41)));
    assert_eq!(error, RoomError::ReconnectRefused);
}

#[test]
fn when_the_last_one_times_out_the_meeting_ends_and_the_room_is_gone() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0));
    act(&mut rooms, "standup", ada.participant, Command::Lock { password: password("s3cret") }, t(1));
    rooms.connection_lost(&room("standup"), ada.participant, t(2)).unwrap();
    assert_eq!(
        rooms.tick(t(32)),
        vec![left("standup", ada.participant, LeaveReason::TimedOut), ended("standup", None)]
    );
    assert!(rooms.is_empty());
    assert_eq!(
        refused(&mut rooms, |r| r.join(rejoin_request("standup", &ada.reconnect_token), t(33))),
        RoomError::ReconnectRefused
    );
    assert!(!join(&mut rooms, "standup", "Bob", t(34)).room.locked);
}

#[test]
fn a_timed_out_moderator_hands_moderation_to_the_longest_present_connected_participant() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0)).participant;
    let bob = join(&mut rooms, "standup", "Bob", t(1)).participant;
    let cy = join(&mut rooms, "standup", "Cy", t(2)).participant;
    rooms.connection_lost(&room("standup"), ada, t(10)).unwrap();
    rooms.connection_lost(&room("standup"), bob, t(20)).unwrap();
    assert_eq!(rooms.tick(t(40)), vec![left("standup", ada, LeaveReason::TimedOut), promoted("standup", cy)]);
}

#[test]
fn everyone_whose_grace_has_passed_goes_in_one_tick_and_only_then_is_a_moderator_chosen() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0)).participant;
    let bob = join(&mut rooms, "standup", "Bob", t(1)).participant;
    let cy = join(&mut rooms, "standup", "Cy", t(2)).participant;
    let dee = join(&mut rooms, "standup", "Dee", t(3)).participant;
    rooms.connection_lost(&room("standup"), ada, t(10)).unwrap();
    rooms.connection_lost(&room("standup"), bob, t(11)).unwrap();
    rooms.connection_lost(&room("standup"), cy, t(50)).unwrap();
    assert_eq!(
        rooms.tick(t(60)),
        vec![
            left("standup", ada, LeaveReason::TimedOut),
            left("standup", bob, LeaveReason::TimedOut),
            promoted("standup", dee)
        ]
    );
}

#[test]
fn tick_covers_every_room() {
    let mut rooms = node();
    let ada = join(&mut rooms, "alpha", "Ada", t(0)).participant;
    join(&mut rooms, "beta", "Bob", t(0));
    let cy = join(&mut rooms, "beta", "Cy", t(0)).participant;
    rooms.connection_lost(&room("alpha"), ada, t(1)).unwrap();
    rooms.connection_lost(&room("beta"), cy, t(1)).unwrap();
    assert_eq!(
        rooms.tick(t(31)),
        vec![left("alpha", ada, LeaveReason::TimedOut), ended("alpha", None), left("beta", cy, LeaveReason::TimedOut)]
    );
    assert_eq!(rooms.names().collect::<Vec<_>>(), vec![&room("beta")]);
}

#[test]
fn next_timeout_says_when_the_earliest_away_seat_expires() {
    let mut rooms = node();
    assert_eq!(rooms.next_timeout(), None);
    let ada = join(&mut rooms, "alpha", "Ada", t(0)).participant;
    let bob = join(&mut rooms, "beta", "Bob", t(0)).participant;
    assert_eq!(rooms.next_timeout(), None);
    rooms.connection_lost(&room("beta"), bob, t(5)).unwrap();
    rooms.connection_lost(&room("alpha"), ada, t(7)).unwrap();
    assert_eq!(rooms.next_timeout(), Some(t(35)));
    rooms.tick(t(35));
    assert_eq!(rooms.next_timeout(), Some(t(37)));
}

#[test]
fn a_rejoin_is_let_in_even_when_the_room_is_locked() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0)).participant;
    let bob = join(&mut rooms, "standup", "Bob", t(1));
    rooms.connection_lost(&room("standup"), bob.participant, t(2)).unwrap();
    act(&mut rooms, "standup", ada, Command::Lock { password: password("s3cret") }, t(3));
    let back = rooms.join(rejoin_request("standup", &bob.reconnect_token), t(4)).unwrap();
    assert_eq!(back.participant, bob.participant);
}

#[test]
fn a_rejoin_is_let_in_even_when_the_room_is_full() {
    let mut rooms = node_with_cap(2);
    join(&mut rooms, "standup", "Ada", t(0));
    let bob = join(&mut rooms, "standup", "Bob", t(1));
    rooms.connection_lost(&room("standup"), bob.participant, t(2)).unwrap();
    let back = rooms.join(rejoin_request("standup", &bob.reconnect_token), t(3)).unwrap();
    assert_eq!(back.room.participants.len(), 2);
}

#[test]
fn an_away_participant_counts_toward_the_cap() {
    let mut rooms = node_with_cap(2);
    join(&mut rooms, "standup", "Ada", t(0));
    let bob = join(&mut rooms, "standup", "Bob", t(1)).participant;
    rooms.connection_lost(&room("standup"), bob, t(2)).unwrap();
    assert_eq!(refused(&mut rooms, |r| r.join(request("standup", "Cy"), t(3))), RoomError::RoomFull { max: 2 });
    rooms.tick(t(32));
    join(&mut rooms, "standup", "Cy", t(33));
}

#[test]
fn a_token_that_arrives_before_the_drop_is_noticed_takes_the_seat_over() {
    let mut rooms = node();
    join(&mut rooms, "standup", "Ada", t(0));
    let bob = join(&mut rooms, "standup", "Bob", t(1));
    let back = rooms.join(rejoin_request("standup", &bob.reconnect_token), t(2)).unwrap();
    assert_eq!(back.participant, bob.participant);
    assert_eq!(back.room.participants.len(), 2);
}

#[test]
fn a_removed_participant_cannot_rejoin_with_their_token() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0)).participant;
    let bob = join(&mut rooms, "standup", "Bob", t(1));
    rooms.connection_lost(&room("standup"), bob.participant, t(2)).unwrap();
    act(&mut rooms, "standup", ada, Command::Remove { target: bob.participant }, t(3));
    let error = refused(&mut rooms, |r| r.join(rejoin_request("standup", &bob.reconnect_token), t(4)));
    assert_eq!(error, RoomError::ReconnectRefused);
}

#[test]
fn a_token_of_someone_who_left_or_whose_meeting_ended_is_refused_and_starts_no_room() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0));
    let bob = join(&mut rooms, "standup", "Bob", t(1));
    act(&mut rooms, "standup", bob.participant, Command::Leave, t(2));
    assert_eq!(
        refused(&mut rooms, |r| r.join(rejoin_request("standup", &bob.reconnect_token), t(3))),
        RoomError::ReconnectRefused
    );
    act(&mut rooms, "standup", ada.participant, Command::EndMeeting, t(4));
    assert_eq!(
        refused(&mut rooms, |r| r.join(rejoin_request("standup", &ada.reconnect_token), t(5))),
        RoomError::ReconnectRefused
    );
    assert!(rooms.is_empty());
}

#[test]
fn a_token_holds_a_seat_in_its_own_room_only() {
    let mut rooms = node();
    let ada = join(&mut rooms, "alpha", "Ada", t(0));
    join(&mut rooms, "beta", "Bob", t(0));
    rooms.connection_lost(&room("alpha"), ada.participant, t(1)).unwrap();
    assert_eq!(
        refused(&mut rooms, |r| r.join(rejoin_request("beta", &ada.reconnect_token), t(2))),
        RoomError::ReconnectRefused
    );
}

#[test]
fn a_made_up_token_is_refused() {
    let mut rooms = node();
    join(&mut rooms, "standup", "Ada", t(0));
    let forged = ReconnectToken::parse(&"A".repeat(43)).unwrap();
    assert_eq!(refused(&mut rooms, |r| r.join(rejoin_request("standup", &forged), t(1))), RoomError::ReconnectRefused);
    assert_eq!(ReconnectToken::parse("not a token"), Err(RoomError::ReconnectRefused));
}

#[test]
fn a_seat_whose_grace_has_passed_is_gone_even_before_the_tick() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0)).participant;
    let bob = join(&mut rooms, "standup", "Bob", t(1)).participant;
    rooms.connection_lost(&room("standup"), bob, t(2)).unwrap();
    for command in [Command::Mute { target: bob, kind: MediaKind::Audio }, Command::Remove { target: bob }] {
        assert_eq!(
            refused(&mut rooms, |r| r.handle(&room("standup"), ada, command, t(32))),
            RoomError::NoSuchParticipant
        );
    }
    assert_eq!(
        refused(&mut rooms, |r| r.handle(&room("standup"), bob, Command::Leave, t(32))),
        RoomError::NoSuchParticipant
    );
    assert_eq!(refused(&mut rooms, |r| r.connection_lost(&room("standup"), bob, t(32))), RoomError::NoSuchParticipant);
}

#[test]
fn an_away_participant_may_still_be_muted_or_removed_by_a_moderator() {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0)).participant;
    let bob = join(&mut rooms, "standup", "Bob", t(1)).participant;
    rooms.connection_lost(&room("standup"), bob, t(2)).unwrap();
    assert_eq!(act(&mut rooms, "standup", ada, Command::Mute { target: bob, kind: MediaKind::Audio }, t(3)).len(), 1);
    assert_eq!(
        act(&mut rooms, "standup", ada, Command::Remove { target: bob }, t(4)),
        vec![left("standup", bob, LeaveReason::Removed)]
    );
    assert_eq!(rooms.next_timeout(), None);
}

#[test]
fn a_drop_of_someone_not_in_the_room_is_told_no_such_participant() {
    let mut rooms = node();
    join(&mut rooms, "standup", "Ada", t(0));
    let nobody = ParticipantId::parse("0000000000000bad").unwrap();
    assert_eq!(
        refused(&mut rooms, |r| r.connection_lost(&room("standup"), nobody, t(1))),
        RoomError::NoSuchParticipant
    );
}

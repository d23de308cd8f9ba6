//! What moderators may do to others, what everyone may do to themself, and what a
//! plain participant may not do.

use super::*;

/// "standup" with Ada (moderator), Bob and Cy.
fn meeting() -> (Rooms, ParticipantId, ParticipantId, ParticipantId) {
    let mut rooms = node();
    let ada = join(&mut rooms, "standup", "Ada", t(0)).participant;
    let bob = join(&mut rooms, "standup", "Bob", t(1)).participant;
    let cy = join(&mut rooms, "standup", "Cy", t(2)).participant;
    (rooms, ada, bob, cy)
}

fn muted(participant: ParticipantId, kind: MediaKind, by: ParticipantId) -> RoomEvent {
    RoomEvent::MutedByModerator { room: room("standup"), participant, kind, by }
}

#[test]
fn a_moderator_mutes_one_participants_microphone() {
    let (mut rooms, ada, bob, cy) = meeting();
    let events = act(&mut rooms, "standup", ada, Command::Mute { target: bob, kind: MediaKind::Audio }, t(3));
    assert_eq!(events, vec![muted(bob, MediaKind::Audio, ada)]);
    assert_eq!(seat(&rooms, "standup", bob).media, MediaState { audio_muted: true, ..MediaState::default() });
    assert_eq!(seat(&rooms, "standup", cy).media, MediaState::default());
}

#[test]
fn a_moderator_turns_off_one_participants_camera() {
    let (mut rooms, ada, bob, _) = meeting();
    let events = act(&mut rooms, "standup", ada, Command::Mute { target: bob, kind: MediaKind::Video }, t(3));
    assert_eq!(events, vec![muted(bob, MediaKind::Video, ada)]);
    assert_eq!(seat(&rooms, "standup", bob).media, MediaState { video_muted: true, ..MediaState::default() });
}

#[test]
fn muting_someone_already_muted_changes_nothing_and_says_nothing() {
    let (mut rooms, ada, bob, _) = meeting();
    act(&mut rooms, "standup", ada, Command::Mute { target: bob, kind: MediaKind::Audio }, t(3));
    let before = rooms.clone();
    assert_eq!(act(&mut rooms, "standup", ada, Command::Mute { target: bob, kind: MediaKind::Audio }, t(4)), vec![]);
    assert!(rooms == before);
}

#[test]
fn moderator_can_mute_all_but_themself() {
    let (mut rooms, ada, bob, cy) = meeting();
    let events = act(&mut rooms, "standup", ada, Command::MuteAll { kind: MediaKind::Audio }, t(3));
    assert_eq!(events, vec![muted(bob, MediaKind::Audio, ada), muted(cy, MediaKind::Audio, ada)]);
    assert!(!seat(&rooms, "standup", ada).media.audio_muted);
    assert!(seat(&rooms, "standup", bob).media.audio_muted);
    assert!(seat(&rooms, "standup", cy).media.audio_muted);
}

#[test]
fn mute_all_mutes_other_moderators_too_and_skips_those_already_muted() {
    let (mut rooms, ada, bob, cy) = meeting();
    act(&mut rooms, "standup", ada, Command::GrantModerator { target: bob }, t(3));
    let camera_off = MediaState { video_muted: true, ..MediaState::default() };
    act(&mut rooms, "standup", cy, Command::SetOwnMedia(camera_off), t(4));
    let events = act(&mut rooms, "standup", ada, Command::MuteAll { kind: MediaKind::Video }, t(5));
    assert_eq!(events, vec![muted(bob, MediaKind::Video, ada)]);
}

#[test]
fn a_moderator_muted_by_another_moderator_is_muted() {
    let (mut rooms, ada, bob, _) = meeting();
    act(&mut rooms, "standup", ada, Command::GrantModerator { target: bob }, t(3));
    let events = act(&mut rooms, "standup", bob, Command::Mute { target: ada, kind: MediaKind::Audio }, t(4));
    assert_eq!(events, vec![muted(ada, MediaKind::Audio, bob)]);
}

#[test]
fn a_participant_muted_by_a_moderator_may_unmute_themself() {
    let (mut rooms, ada, bob, _) = meeting();
    act(&mut rooms, "standup", ada, Command::MuteAll { kind: MediaKind::Audio }, t(3));
    let events = act(&mut rooms, "standup", bob, Command::SetOwnMedia(MediaState::default()), t(4));
    assert_eq!(
        events,
        vec![RoomEvent::MediaStateChanged { room: room("standup"), participant: bob, media: MediaState::default() }]
    );
    assert!(!seat(&rooms, "standup", bob).media.audio_muted);
}

#[test]
fn anyone_may_set_their_own_microphone_camera_and_screen_sharing() {
    let (mut rooms, _, bob, cy) = meeting();
    let media = MediaState { audio_muted: true, video_muted: true, screen_sharing: true };
    let events = act(&mut rooms, "standup", bob, Command::SetOwnMedia(media), t(3));
    assert_eq!(events, vec![RoomEvent::MediaStateChanged { room: room("standup"), participant: bob, media }]);
    assert_eq!(seat(&rooms, "standup", bob).media, media);
    assert_eq!(seat(&rooms, "standup", cy).media, MediaState::default());
}

#[test]
fn setting_ones_media_to_what_it_already_is_says_nothing() {
    let (mut rooms, _, bob, _) = meeting();
    assert_eq!(act(&mut rooms, "standup", bob, Command::SetOwnMedia(MediaState::default()), t(3)), vec![]);
}

#[test]
fn a_moderator_removes_a_participant() {
    let (mut rooms, ada, bob, cy) = meeting();
    let events = act(&mut rooms, "standup", ada, Command::Remove { target: bob }, t(3));
    assert_eq!(events, vec![left("standup", bob, LeaveReason::Removed)]);
    assert_eq!(ids(&rooms, "standup"), vec![ada, cy]);
}

#[test]
fn a_moderator_may_remove_another_moderator() {
    let (mut rooms, ada, bob, _) = meeting();
    act(&mut rooms, "standup", ada, Command::GrantModerator { target: bob }, t(3));
    assert_eq!(
        act(&mut rooms, "standup", bob, Command::Remove { target: ada }, t(4)),
        vec![left("standup", ada, LeaveReason::Removed)]
    );
    assert_eq!(moderators(&rooms, "standup"), vec![bob]);
}

#[test]
fn a_moderator_who_removes_themself_hands_moderation_on() {
    let (mut rooms, ada, bob, _) = meeting();
    let events = act(&mut rooms, "standup", ada, Command::Remove { target: ada }, t(3));
    assert_eq!(events, vec![left("standup", ada, LeaveReason::Removed), promoted("standup", bob)]);
}

#[test]
fn a_moderator_grants_moderator_to_a_participant() {
    let (mut rooms, ada, bob, _) = meeting();
    let events = act(&mut rooms, "standup", ada, Command::GrantModerator { target: bob }, t(3));
    assert_eq!(
        events,
        vec![RoomEvent::RoleChanged { room: room("standup"), participant: bob, role: Role::Moderator, by: Some(ada) }]
    );
    assert_eq!(moderators(&rooms, "standup"), vec![ada, bob]);
}

#[test]
fn granting_moderator_to_a_moderator_says_nothing() {
    let (mut rooms, ada, _, _) = meeting();
    assert_eq!(act(&mut rooms, "standup", ada, Command::GrantModerator { target: ada }, t(3)), vec![]);
}

#[test]
fn a_new_moderator_may_moderate() {
    let (mut rooms, ada, bob, cy) = meeting();
    act(&mut rooms, "standup", ada, Command::GrantModerator { target: bob }, t(3));
    act(&mut rooms, "standup", bob, Command::Remove { target: cy }, t(4));
    assert_eq!(ids(&rooms, "standup"), vec![ada, bob]);
}

#[test]
fn ending_the_meeting_removes_everyone_and_destroys_the_room() {
    let (mut rooms, ada, bob, cy) = meeting();
    act(&mut rooms, "standup", ada, Command::Lock { password: password("s3cret") }, t(3));
    let events = act(&mut rooms, "standup", ada, Command::EndMeeting, t(4));
    assert_eq!(
        events,
        vec![
            left("standup", ada, LeaveReason::MeetingEnded),
            left("standup", bob, LeaveReason::MeetingEnded),
            left("standup", cy, LeaveReason::MeetingEnded),
            ended("standup", Some(ada)),
        ]
    );
    assert!(rooms.is_empty());
    assert_eq!(rooms.snapshot(&room("standup")), None);
    let dee = join(&mut rooms, "standup", "Dee", t(5));
    assert_eq!((dee.role, dee.room.locked), (Role::Moderator, false));
}

#[test]
fn participant_cannot_remove_anyone() {
    let (mut rooms, ada, bob, cy) = meeting();
    for target in [ada, cy, bob] {
        let error = refused(&mut rooms, |r| r.handle(&room("standup"), bob, Command::Remove { target }, t(3)));
        assert_eq!(error, RoomError::NotModerator);
        assert_eq!(error.code(), "not_moderator");
    }
}

#[test]
fn a_participant_may_do_none_of_the_moderators_things() {
    let (mut rooms, ada, bob, cy) = meeting();
    let forbidden = [
        Command::Mute { target: cy, kind: MediaKind::Audio },
        Command::Mute { target: ada, kind: MediaKind::Video },
        Command::Mute { target: bob, kind: MediaKind::Audio },
        Command::MuteAll { kind: MediaKind::Audio },
        Command::MuteAll { kind: MediaKind::Video },
        Command::Remove { target: cy },
        Command::GrantModerator { target: bob },
        Command::GrantModerator { target: cy },
        Command::Lock { password: password("mine") },
        Command::Unlock,
        Command::EndMeeting,
    ];
    for command in forbidden {
        let error = refused(&mut rooms, |r| r.handle(&room("standup"), bob, command.clone(), t(3)));
        assert_eq!(error, RoomError::NotModerator, "{command:?}");
    }
}

#[test]
fn a_participant_is_told_not_moderator_even_about_someone_who_is_not_there() {
    let (mut rooms, _, bob, _) = meeting();
    let nobody = ParticipantId::parse("0000000000000bad").unwrap();
    let error = refused(&mut rooms, |r| r.handle(&room("standup"), bob, Command::Remove { target: nobody }, t(3)));
    assert_eq!(error, RoomError::NotModerator);
}

#[test]
fn a_moderator_acting_on_someone_not_in_the_room_is_told_no_such_participant() {
    let (mut rooms, ada, _, _) = meeting();
    let elsewhere = join(&mut rooms, "retro", "Eve", t(3)).participant;
    for target in [ParticipantId::parse("0000000000000bad").unwrap(), elsewhere] {
        for command in [
            Command::Mute { target, kind: MediaKind::Audio },
            Command::Remove { target },
            Command::GrantModerator { target },
        ] {
            let error = refused(&mut rooms, |r| r.handle(&room("standup"), ada, command.clone(), t(4)));
            assert_eq!(error, RoomError::NoSuchParticipant, "{command:?}");
            assert_eq!(error.code(), "no_such_participant");
        }
    }
}

#[test]
fn someone_not_in_the_room_can_do_nothing_in_it() {
    let (mut rooms, ..) = meeting();
    let outsider = join(&mut rooms, "retro", "Eve", t(3)).participant;
    for command in [Command::Leave, Command::SetOwnMedia(MediaState::default()), Command::EndMeeting] {
        let error = refused(&mut rooms, |r| r.handle(&room("standup"), outsider, command.clone(), t(4)));
        assert_eq!(error, RoomError::NoSuchParticipant, "{command:?}");
    }
}

#[test]
fn commands_to_a_room_with_no_meeting_are_told_no_such_room() {
    let (mut rooms, ada, ..) = meeting();
    for command in [Command::Leave, Command::EndMeeting, Command::Unlock] {
        let error = refused(&mut rooms, |r| r.handle(&room("elsewhere"), ada, command.clone(), t(3)));
        assert_eq!(error, RoomError::NoSuchRoom, "{command:?}");
        assert_eq!(error.code(), "no_such_room");
    }
    let error = refused(&mut rooms, |r| r.connection_lost(&room("elsewhere"), ada, t(3)));
    assert_eq!(error, RoomError::NoSuchRoom);
}

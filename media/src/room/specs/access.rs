//! Who gets in (DESIGN.md, "Access rules"): with auth required only a moderator
//! opens a room and guests wait for them; guests may be forbidden; the lobby makes
//! whoever is not a moderator knock.

use super::*;

fn policy(auth_required: bool, guests_allowed: bool, lobby: bool) -> RoomPolicy {
    RoomPolicy { auth_required, guests_allowed, lobby, ..RoomPolicy::default() }
}

fn node_with(policy: RoomPolicy) -> Rooms {
    Rooms::with_seed(policy, 7)
}

fn host(room_name: &str, name: &str) -> JoinRequest {
    JoinRequest { identity: Identity::Authenticated { moderator: true }, ..request(room_name, name) }
}

fn member(room_name: &str, name: &str) -> JoinRequest {
    JoinRequest { identity: Identity::Authenticated { moderator: false }, ..request(room_name, name) }
}

fn seated(outcome: JoinOutcome) -> Joined {
    match outcome {
        JoinOutcome::Seated(joined) => joined,
        JoinOutcome::Waiting(w) => panic!("expected a seat, got a wait for the {:?}", w.reason),
    }
}

fn waiting(outcome: JoinOutcome, reason: WaitReason) -> Waiting {
    match outcome {
        JoinOutcome::Waiting(w) if w.reason == reason => w,
        other => panic!("expected a wait for the {reason:?}, got {other:?}"),
    }
}

#[test]
fn with_auth_required_and_guests_forbidden_a_guest_is_refused_and_nothing_changes() {
    let mut rooms = node_with(policy(true, false, false));
    let error = refused(&mut rooms, |rooms| rooms.arrive(request("standup", "Guest"), t(0)));
    assert_eq!(error, RoomError::LoginRequired);
    seated(rooms.arrive(host("standup", "Ann"), t(1)).unwrap());
    let error = refused(&mut rooms, |rooms| rooms.arrive(request("standup", "Guest"), t(2)));
    assert_eq!(error, RoomError::LoginRequired);
}

#[test]
fn with_auth_required_a_moderator_opens_the_room_and_moderates() {
    let mut rooms = node_with(policy(true, false, false));
    let ann = seated(rooms.arrive(host("standup", "Ann"), t(0)).unwrap());
    assert_eq!(ann.role, Role::Moderator);
    assert_eq!(ann.events[0], RoomEvent::MeetingStarted { room: room("standup") });
    let bea = seated(rooms.arrive(host("standup", "Bea"), t(1)).unwrap());
    assert_eq!(bea.role, Role::Moderator, "every authenticated moderator moderates, not only the first");
}

#[test]
fn a_guest_waits_for_the_host_and_enters_on_their_own_when_the_host_comes() {
    let mut rooms = node_with(policy(true, true, false));
    let guest = waiting(rooms.arrive(request("standup", "Guest"), t(0)).unwrap(), WaitReason::Host);
    assert!(guest.events.is_empty(), "nobody is told of a wait for the host");
    assert_eq!(rooms.snapshot(&room("standup")), None, "no meeting yet");
    assert_eq!(rooms.len(), 0);
    assert!(rooms.tick(t(60)).is_empty(), "a room with only waiters does not end a meeting");

    let ann = seated(rooms.arrive(host("standup", "Ann"), t(61)).unwrap());
    assert_eq!(ann.events.iter().filter(|e| matches!(e, RoomEvent::MeetingStarted { .. })).count(), 1);
    assert!(
        ann.events
            .iter()
            .any(|e| matches!(e, RoomEvent::ParticipantJoined { participant, .. } if participant.id == guest.id)),
        "the room is told the guest joined"
    );
    let news = rooms.take_news();
    assert_eq!(news.len(), 1);
    assert_eq!(news[0].id, guest.id);
    let News::Seated(guest_seat) = &news[0].news else { panic!("the guest is seated: {:?}", news[0].news) };
    assert_eq!(guest_seat.participant, guest.id, "the id they waited under is their participant id");
    assert_eq!(guest_seat.role, Role::Participant);
    assert_eq!(moderators(&rooms, "standup"), vec![ann.participant]);
    assert_eq!(ids(&rooms, "standup"), vec![ann.participant, guest.id]);
}

#[test]
fn guests_let_in_together_each_see_everyone_let_in_with_them() {
    let mut rooms = node_with(policy(true, true, false));
    let gus = waiting(rooms.arrive(request("standup", "Gus"), t(0)).unwrap(), WaitReason::Host);
    let gia = waiting(rooms.arrive(request("standup", "Gia"), t(1)).unwrap(), WaitReason::Host);
    let ann = seated(rooms.arrive(host("standup", "Ann"), t(2)).unwrap());
    for item in rooms.take_news() {
        let News::Seated(joined) = item.news else { panic!("seated: {:?}", item.news) };
        let mut seen: Vec<_> = joined.room.participants.iter().map(|p| p.id).collect();
        seen.sort();
        let mut everyone = vec![ann.participant, gus.id, gia.id];
        everyone.sort();
        assert_eq!(seen, everyone, "{:?} sees the whole room", item.id);
    }
}

#[test]
fn once_open_a_guest_walks_straight_in_and_is_not_promoted_when_the_host_leaves() {
    let mut rooms = node_with(policy(true, true, false));
    let ann = seated(rooms.arrive(host("standup", "Ann"), t(0)).unwrap());
    let guest = seated(rooms.arrive(request("standup", "Guest"), t(1)).unwrap());
    assert_eq!(guest.role, Role::Participant);
    let events = act(&mut rooms, "standup", ann.participant, Command::Leave, t(2));
    assert!(!events.iter().any(|e| matches!(e, RoomEvent::RoleChanged { .. })), "{events:?}");
    assert!(moderators(&rooms, "standup").is_empty());
    let late = seated(rooms.arrive(request("standup", "Late guest"), t(3)).unwrap());
    assert_eq!(late.role, Role::Participant, "the room stays open while people are in it");
}

#[test]
fn someone_logged_in_without_moderator_rights_waits_for_the_host_too() {
    let mut rooms = node_with(policy(true, false, false));
    let bob = waiting(rooms.arrive(member("standup", "Bob"), t(0)).unwrap(), WaitReason::Host);
    seated(rooms.arrive(host("standup", "Ann"), t(1)).unwrap());
    let news = rooms.take_news();
    assert!(matches!(&news[0].news, News::Seated(j) if j.participant == bob.id && j.role == Role::Participant));
}

#[test]
fn a_waiter_who_gives_up_is_forgotten_with_the_empty_room() {
    let mut rooms = node_with(policy(true, true, false));
    let guest = waiting(rooms.arrive(request("standup", "Guest"), t(0)).unwrap(), WaitReason::Host);
    assert!(rooms.withdraw(&room("standup"), guest.id).is_empty());
    seated(rooms.arrive(host("standup", "Ann"), t(1)).unwrap());
    assert!(rooms.take_news().is_empty(), "nobody was waiting any more");
}

#[test]
fn with_the_lobby_on_a_newcomer_knocks_and_moderators_admit_or_deny() {
    let mut rooms = node_with(policy(false, true, true));
    let ann = join(&mut rooms, "standup", "Ann", t(0));
    assert_eq!(ann.role, Role::Moderator, "the first to join an open room moderates and is not in the lobby");

    let bob = waiting(rooms.arrive(request("standup", "Bob"), t(1)).unwrap(), WaitReason::Lobby);
    assert_eq!(
        bob.events,
        vec![RoomEvent::ParticipantKnocking {
            room: room("standup"),
            participant: bob.id,
            display_name: DisplayName::parse("Bob").unwrap()
        }]
    );
    assert!(bob.events[0].for_moderators_only());
    assert_eq!(rooms.lobby(&room("standup")).len(), 1);
    let cleo = waiting(rooms.arrive(request("standup", "Cleo"), t(2)).unwrap(), WaitReason::Lobby);

    let events = act(&mut rooms, "standup", ann.participant, Command::Admit { target: bob.id }, t(3));
    assert!(
        matches!(events[0], RoomEvent::KnockEnded { outcome: KnockOutcome::Admitted, by: Some(by), .. } if by == ann.participant)
    );
    assert!(matches!(&events[1], RoomEvent::ParticipantJoined { participant, .. } if participant.id == bob.id));
    let news = rooms.take_news();
    assert!(matches!(&news[0].news, News::Seated(j) if j.participant == bob.id && j.room.participants.len() == 2));

    let error =
        refused(&mut rooms, |rooms| rooms.handle(&room("standup"), bob.id, Command::Admit { target: cleo.id }, t(4)));
    assert_eq!(error, RoomError::NotModerator);

    let events = act(&mut rooms, "standup", ann.participant, Command::Deny { target: cleo.id }, t(5));
    assert!(matches!(events[0], RoomEvent::KnockEnded { outcome: KnockOutcome::Denied, .. }));
    assert!(matches!(rooms.take_news()[0].news, News::Refused(RoomError::Denied)));
    assert!(rooms.lobby(&room("standup")).is_empty());
    let error = refused(&mut rooms, |rooms| {
        rooms.handle(&room("standup"), ann.participant, Command::Admit { target: cleo.id }, t(6))
    });
    assert_eq!(error, RoomError::NotWaiting);
}

#[test]
fn those_waiting_for_the_host_knock_on_the_lobby_once_the_host_comes() {
    let mut rooms = node_with(policy(true, true, true));
    let guest = waiting(rooms.arrive(request("standup", "Guest"), t(0)).unwrap(), WaitReason::Host);
    let ann = seated(rooms.arrive(host("standup", "Ann"), t(1)).unwrap());
    assert!(
        ann.events
            .iter()
            .any(|e| matches!(e, RoomEvent::ParticipantKnocking { participant, .. } if *participant == guest.id))
    );
    assert!(matches!(rooms.take_news()[0].news, News::InLobby));
    act(&mut rooms, "standup", ann.participant, Command::Admit { target: guest.id }, t(2));
    assert!(matches!(&rooms.take_news()[0].news, News::Seated(j) if j.role == Role::Participant));
}

#[test]
fn the_lobby_is_turned_away_when_the_meeting_ends() {
    let mut rooms = node_with(policy(false, true, true));
    let ann = join(&mut rooms, "standup", "Ann", t(0));
    let bob = waiting(rooms.arrive(request("standup", "Bob"), t(1)).unwrap(), WaitReason::Lobby);
    let events = act(&mut rooms, "standup", ann.participant, Command::Leave, t(2));
    assert_eq!(events.last(), Some(&ended("standup", None)));
    let news = rooms.take_news();
    assert_eq!(news[0].id, bob.id);
    assert!(matches!(news[0].news, News::Refused(RoomError::MeetingEnded)));
    assert!(rooms.is_empty());
    assert_eq!(rooms.lobby(&room("standup")).len(), 0);
}

#[test]
fn a_moderator_by_login_needs_no_room_password_but_everyone_else_does() {
    let mut rooms = node_with(policy(true, true, false));
    let ann = seated(rooms.arrive(host("standup", "Ann"), t(0)).unwrap());
    act(&mut rooms, "standup", ann.participant, Command::Lock { password: password("sesame") }, t(1));
    seated(rooms.arrive(host("standup", "Bea"), t(2)).unwrap());
    let error = refused(&mut rooms, |rooms| rooms.arrive(request("standup", "Guest"), t(3)));
    assert_eq!(error, RoomError::PasswordRequired);
    let error = refused(&mut rooms, |rooms| rooms.arrive(member("standup", "Bob"), t(3)));
    assert_eq!(error, RoomError::PasswordRequired);
    seated(rooms.arrive(request_with_password("standup", "Guest", "sesame"), t(4)).unwrap());
}

#[test]
fn with_auth_open_a_token_that_makes_a_moderator_is_honoured_and_others_are_not_promoted_by_it() {
    let mut rooms = node();
    let guest = join(&mut rooms, "standup", "First", t(0));
    assert_eq!(guest.role, Role::Moderator);
    let bob = seated(rooms.arrive(member("standup", "Bob"), t(1)).unwrap());
    assert_eq!(bob.role, Role::Participant);
    let ann = seated(rooms.arrive(host("standup", "Ann"), t(2)).unwrap());
    assert_eq!(ann.role, Role::Moderator);
}

fn with_meeting(request: JoinRequest, password_required: bool, lobby: Option<bool>) -> JoinRequest {
    JoinRequest { meeting: Some(MeetingTerms { password_required, lobby }), ..request }
}

#[test]
fn a_scheduled_meetings_password_locks_its_room_and_only_the_apis_word_opens_it() {
    let mut rooms = node();
    let first = with_meeting(request("board", "Ann"), true, None);
    let error = refused(&mut rooms, |rooms| rooms.arrive(first, t(0)));
    assert_eq!(error, RoomError::PasswordRequired, "even the first to come needs the meeting's password");
    let wrong = with_meeting(request_with_password("board", "Ann", "guess"), true, None);
    assert_eq!(refused(&mut rooms, |rooms| rooms.arrive(wrong, t(1))), RoomError::WrongPassword);
    let right = JoinRequest {
        meeting_password_ok: true,
        ..with_meeting(request_with_password("board", "Ann", "x"), true, None)
    };
    let ann = seated(rooms.arrive(right, t(2)).unwrap());
    assert!(rooms.snapshot(&room("board")).unwrap().locked);
    assert!(rooms.meeting_password_applies(&room("board")));
    seated(rooms.arrive(with_meeting(host("board", "Mo"), true, None), t(3)).unwrap());

    // A moderator's own password replaces the meeting's; the api's word no longer counts.
    act(&mut rooms, "board", ann.participant, Command::Lock { password: password("local") }, t(4));
    assert!(!rooms.meeting_password_applies(&room("board")));
    let stale = JoinRequest { meeting_password_ok: true, ..request_with_password("board", "Bob", "x") };
    assert_eq!(refused(&mut rooms, |rooms| rooms.arrive(stale, t(5))), RoomError::WrongPassword);
    seated(rooms.arrive(request_with_password("board", "Bob", "local"), t(6)).unwrap());
}

#[test]
fn a_scheduled_meetings_lobby_setting_overrides_the_tenants() {
    let mut rooms = node_with(policy(false, true, false));
    let ann = seated(rooms.arrive(with_meeting(request("board", "Ann"), false, Some(true)), t(0)).unwrap());
    waiting(rooms.arrive(request("board", "Bob"), t(1)).unwrap(), WaitReason::Lobby);
    rooms.set_policy(policy(false, true, false));
    waiting(rooms.arrive(request("board", "Cleo"), t(2)).unwrap(), WaitReason::Lobby);
    assert_eq!(rooms.lobby(&room("board")).len(), 2);
    let _ = ann;

    let mut rooms = node_with(policy(false, true, true));
    seated(rooms.arrive(with_meeting(request("open-house", "Ann"), false, Some(false)), t(0)).unwrap());
    seated(rooms.arrive(request("open-house", "Bob"), t(1)).unwrap());
}

#[test]
fn someone_who_comes_before_the_host_gives_the_meetings_password_like_anyone_else() {
    // A guest, and someone whose token does not make them a moderator, arrive early.
    let mut rooms = node_with(policy(true, true, false));
    let early = with_meeting(request("board", "Guest"), true, None);
    assert_eq!(refused(&mut rooms, |rooms| rooms.arrive(early, t(0))), RoomError::PasswordRequired);
    let member_early = with_meeting(member("board", "Bob"), true, None);
    assert_eq!(refused(&mut rooms, |rooms| rooms.arrive(member_early, t(1))), RoomError::PasswordRequired);
    let wrong = with_meeting(request_with_password("board", "Guest", "guess"), true, None);
    assert_eq!(refused(&mut rooms, |rooms| rooms.arrive(wrong, t(2))), RoomError::WrongPassword);

    // With the password the api vouched for, they wait, and enter when the host comes.
    let right = JoinRequest {
        meeting_password_ok: true,
        ..with_meeting(request_with_password("board", "Guest", "x"), true, None)
    };
    let guest = waiting(rooms.arrive(right, t(3)).unwrap(), WaitReason::Host);
    seated(rooms.arrive(with_meeting(host("board", "Ann"), true, None), t(4)).unwrap());
    let news = rooms.take_news();
    assert!(matches!(&news[0].news, News::Seated(j) if j.participant == guest.id), "the guest who gave it enters");
}

#[test]
fn a_knock_let_in_after_the_room_was_locked_is_turned_away_to_come_again_with_the_password() {
    let mut rooms = node_with(policy(false, true, true));
    let ann = join(&mut rooms, "standup", "Ann", t(0));
    let bob = waiting(rooms.arrive(request("standup", "Bob"), t(1)).unwrap(), WaitReason::Lobby);
    act(&mut rooms, "standup", ann.participant, Command::Lock { password: password("late") }, t(2));
    let events = act(&mut rooms, "standup", ann.participant, Command::Admit { target: bob.id }, t(3));
    assert!(matches!(events[0], RoomEvent::KnockEnded { outcome: KnockOutcome::Denied, .. }), "{events:?}");
    assert_eq!(ids(&rooms, "standup"), vec![ann.participant], "Bob has no seat");
    assert!(matches!(rooms.take_news()[0].news, News::Refused(RoomError::PasswordRequired)));
    // With the password, he knocks again and is let in.
    let bob = waiting(rooms.arrive(request_with_password("standup", "Bob", "late"), t(4)).unwrap(), WaitReason::Lobby);
    act(&mut rooms, "standup", ann.participant, Command::Admit { target: bob.id }, t(5));
    assert!(matches!(&rooms.take_news()[0].news, News::Seated(j) if j.participant == bob.id));
}

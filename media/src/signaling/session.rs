//! One WebSocket: the participant's requests in, replies, room events and
//! renegotiation offers out.

use super::hub::{Hub, Outgoing, Place};
use super::protocol::{self, JoinedFrame, Knock, MAX_FRAME_BYTES, Push, Reply, Request};
use crate::auth::TokenError;
use crate::password_attempts::AttemptsError;
use crate::room::{
    Command, DisplayName, Identity, JoinOutcome, JoinRequest, Joined, MediaState, ParticipantId, ReconnectToken,
    RoomError, RoomName, RoomPassword, WaitReason,
};
use crate::scheduled_meetings::MeetingRules;
use crate::sfu::{Seat, SubscriberUpdate, SubscriberUpdates};
use actix_web::{HttpRequest, HttpResponse, web};
use confer_vocabulary::{JoinClaims, SESSION_COOKIE};
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// Frames queued for one session before further pushes are dropped.
const OUTGOING_QUEUE: usize = 256;

/// `GET /ws`: upgrades to a signaling session.
pub async fn websocket(
    req: HttpRequest,
    body: web::Payload,
    hub: web::Data<Arc<Hub>>,
) -> Result<HttpResponse, actix_web::Error> {
    let (response, socket, stream) = actix_ws::handle(&req, body)?;
    let stream = stream.max_frame_size(MAX_FRAME_BYTES);
    let hub = hub.get_ref().clone();
    let client = crate::client_address::client_address(&req);
    let cookie = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
    actix_web::rt::spawn(async move { Session::new(hub, client, cookie).run(socket, stream).await });
    Ok(response)
}

struct Session {
    id: u64,
    hub: Arc<Hub>,
    /// The client's address (wrong room passwords are counted per address).
    client: Option<std::net::IpAddr>,
    place: Option<Place>,
    /// Where and under which id the participant waits to be let in.
    waiting: Option<Place>,
    /// The site's session cookie, as the WebSocket opened.
    cookie: Option<String>,
    updates: Option<SubscriberUpdates>,
    outgoing: mpsc::Sender<Outgoing>,
    inbox: mpsc::Receiver<Outgoing>,
    /// The participant said goodbye (or lost their seat): no reconnect grace.
    done: bool,
}

/// Awaits the next subscriber update, or forever when there is no subscription.
async fn next_update(updates: &mut Option<SubscriberUpdates>) -> Option<SubscriberUpdate> {
    match updates {
        Some(u) => u.recv().await,
        None => std::future::pending().await,
    }
}

fn refused(e: impl Into<RoomError>) -> Reply {
    let e = e.into();
    Reply::Error { code: e.code(), message: e.to_string() }
}

impl Session {
    fn new(hub: Arc<Hub>, client: Option<std::net::IpAddr>, cookie: Option<String>) -> Self {
        let (outgoing, inbox) = mpsc::channel(OUTGOING_QUEUE);
        Self {
            id: NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
            hub,
            client,
            place: None,
            waiting: None,
            cookie,
            updates: None,
            outgoing,
            inbox,
            done: false,
        }
    }

    async fn run(mut self, mut socket: actix_ws::Session, mut stream: actix_ws::MessageStream) {
        loop {
            let text = tokio::select! {
                message = stream.next() => match message {
                    Some(Ok(actix_ws::Message::Text(text))) => {
                        let frame = protocol::parse(&text);
                        let (re, reply) = match frame {
                            Ok(frame) => (frame.id, self.handle(frame.request).await),
                            Err(bad) => (bad.id, Reply::Error { code: bad.code, message: bad.message }),
                        };
                        protocol::reply_text(re, &reply)
                    }
                    Some(Ok(actix_ws::Message::Binary(_))) => protocol::reply_text(None, &Reply::Error {
                        code: "malformed_frame",
                        message: "signaling frames are JSON text".into(),
                    }),
                    Some(Ok(actix_ws::Message::Ping(bytes))) => {
                        let _ = socket.pong(&bytes).await;
                        continue;
                    }
                    Some(Ok(actix_ws::Message::Close(_))) | None => break,
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => {
                        tracing::debug!(session = self.id, error = %e, "websocket protocol error");
                        let _ = socket.text(protocol::reply_text(None, &Reply::Error {
                            code: "malformed_frame",
                            message: format!("{e}"),
                        })).await;
                        break;
                    }
                },
                out = self.inbox.recv() => match out {
                    Some(Outgoing::Text(text)) => text.to_string(),
                    Some(Outgoing::Admitted(joined)) => {
                        self.waiting = None;
                        let frame = self.seated(*joined);
                        protocol::push_text(&Push::Joined(frame))
                    }
                    Some(Outgoing::InLobby) => match self.waiting {
                        Some((_, participant)) => {
                            protocol::push_text(&Push::Waiting { participant, reason: WaitReason::Lobby })
                        }
                        None => continue,
                    },
                    Some(Outgoing::Refused(e)) => {
                        self.waiting = None;
                        protocol::push_text(&Push::JoinRefused { code: e.code(), message: e.to_string() })
                    }
                    Some(Outgoing::Close) | None => {
                        self.done = true;
                        break;
                    }
                },
                update = next_update(&mut self.updates) => match update {
                    Some(SubscriberUpdate::Offer(sdp)) => protocol::push_text(&Push::SubscribeOffer { sdp }),
                    None => {
                        self.updates = None;
                        continue;
                    }
                },
            };
            if socket.text(text).await.is_err() {
                break;
            }
            if self.done {
                break;
            }
        }
        if !self.done
            && let Some(place) = &self.place
        {
            self.hub.connection_lost(self.id, place);
        }
        if let Some(place) = self.waiting.take() {
            self.hub.withdraw(self.id, &place);
        }
        let _ = socket.close(None).await;
    }

    /// Who the join's token (or else the session cookie) says this is. A token that
    /// was given and does not check out is refused; a stale cookie counts for nothing.
    async fn identify(&self, token: Option<String>, room: &RoomName) -> Result<Option<JoinClaims>, Reply> {
        let (given, token) = match (token, &self.cookie) {
            (Some(token), _) => (true, token),
            (None, Some(cookie)) => (false, cookie.clone()),
            (None, None) => return Ok(None),
        };
        let Some(tokens) = self.hub.tokens() else {
            return if given {
                Err(Reply::Error { code: "invalid_token", message: "this node does not accept tokens".into() })
            } else {
                Ok(None)
            };
        };
        let checked = if given { tokens.check(&token, room).await } else { tokens.check_session(&token).await };
        match checked {
            Ok(claims) => Ok(Some(claims)),
            Err(e) if given => Err(token_refused(&e)),
            Err(e) => {
                tracing::debug!(session = self.id, error = %e, "the session cookie does not check out; joining as a guest");
                Ok(None)
            }
        }
    }

    /// Whether the join's password is the scheduled meeting's, where that password
    /// locks the room and the joiner does not moderate (the api checks it).
    async fn check_meeting_password(&self, join: &JoinRequest) -> Result<bool, Reply> {
        let (Some(meetings), Some(terms), Some(password)) =
            (self.hub.scheduled_meetings(), join.meeting, join.password.as_ref())
        else {
            return Ok(false);
        };
        if !terms.password_required || join.identity.is_moderator() || !self.hub.meeting_password_applies(&join.room) {
            return Ok(false);
        }
        meetings.password_matches(&join.room, password.expose()).await.map_err(|e| {
            tracing::warn!(room = %join.room.as_str(), error = %e, "a meeting password could not be checked");
            Reply::Error {
                code: "try_again_later",
                message: "the password cannot be checked right now; try again".into(),
            }
        })
    }

    /// Takes the seat: the session holds it from now on. The frame that says so.
    fn seated(&mut self, joined: Joined) -> JoinedFrame {
        let place = (joined.room.room.clone(), joined.participant);
        let ice_servers = self.hub.ice_servers(&place);
        let active_speaker = self.hub.active_speaker(&place.0);
        let lobby = match joined.role {
            crate::room::Role::Moderator => self
                .hub
                .lobby(&place.0)
                .into_iter()
                .map(|(participant, display_name)| Knock { participant, display_name })
                .collect(),
            crate::room::Role::Participant => Vec::new(),
        };
        self.place = Some(place);
        JoinedFrame {
            participant: joined.participant,
            reconnect_token: joined.reconnect_token.as_str().to_owned(),
            role: joined.role,
            room: Box::new(joined.room),
            ice_servers,
            active_speaker,
            lobby,
        }
    }

    fn seat(&self) -> Result<(&Place, Seat), Reply> {
        let place = self
            .place
            .as_ref()
            .ok_or_else(|| Reply::Error { code: "not_joined", message: "join a room first".into() })?;
        Ok((place, Seat::new(place.0.as_str(), &place.1.to_string())))
    }

    async fn handle(&mut self, request: Request) -> Reply {
        match self.apply(request).await {
            Ok(reply) | Err(reply) => reply,
        }
    }

    async fn apply(&mut self, request: Request) -> Result<Reply, Reply> {
        match request {
            Request::Join { room, name, password, reconnect_token, token } => {
                if self.place.is_some() || self.waiting.is_some() {
                    return Err(Reply::Error {
                        code: "already_joined",
                        message: "this session already has a seat, or waits for one".into(),
                    });
                }
                if !self.hub.settings_ready() {
                    return Err(Reply::Error {
                        code: "try_again_later",
                        message: "the site is still reading its settings; try again in a moment".into(),
                    });
                }
                let room = RoomName::parse(&room).map_err(refused)?;
                let claims = self.identify(token, &room).await?;
                let display_name = match (&claims, name) {
                    (Some(claims), _) => DisplayName::parse(&claims.user.name),
                    (None, Some(name)) => DisplayName::parse(&name),
                    (None, None) => Err(RoomError::InvalidDisplayName("a name is required")),
                }
                .map_err(refused)?;
                let meeting = match self.hub.scheduled_meetings() {
                    Some(meetings) => meetings.rules(&room).await,
                    None => None,
                };
                let mut join = JoinRequest::new(room, display_name);
                join.identity = claims.as_ref().map_or(Identity::Anonymous, |c| {
                    let named = |m: &MeetingRules| {
                        c.user.email.as_ref().is_some_and(|e| m.moderators.contains(&e.to_ascii_lowercase()))
                    };
                    Identity::Authenticated { moderator: c.moderator || meeting.as_ref().is_some_and(named) }
                });
                join.meeting = meeting.as_ref().map(|m| m.terms);
                join.password =
                    password.filter(|p| !p.is_empty()).map(|p| RoomPassword::parse(&p)).transpose().map_err(refused)?;
                join.reconnect = reconnect_token.map(|t| ReconnectToken::parse(&t)).transpose().map_err(refused)?;
                // A password try counts against the address's tries for this room.
                let attempts = self.hub.password_attempts().filter(|_| join.password.is_some()).cloned();
                let counted = attempts.as_ref().zip(self.client);
                if let Some((attempts, client)) = counted {
                    attempts.check(join.room.as_str(), client).await.map_err(too_many)?;
                }
                join.meeting_password_ok = self.check_meeting_password(&join).await?;
                let room = join.room.clone();
                let outcome = match self.hub.join(self.id, self.outgoing.clone(), join) {
                    Err(RoomError::WrongPassword) => {
                        if let Some((attempts, client)) = counted
                            && let Err(e) = attempts.record_failure(room.as_str(), client).await
                        {
                            tracing::warn!(room = %room.as_str(), %client, error = %e, "a wrong room password was not counted");
                        }
                        return Err(refused(RoomError::WrongPassword));
                    }
                    other => other.map_err(refused)?,
                };
                match outcome {
                    JoinOutcome::Seated(joined) => Ok(Reply::Joined(self.seated(joined))),
                    JoinOutcome::Waiting(waiting) => {
                        self.waiting = Some((waiting.room, waiting.id));
                        Ok(Reply::Waiting { participant: waiting.id, reason: waiting.reason })
                    }
                }
            }
            Request::Publish { sdp, source } => {
                let (_, seat) = self.seat()?;
                let answer =
                    self.hub.sfu().publish(&seat, source.unwrap_or_default(), sdp).await.map_err(media_error)?;
                Ok(Reply::PublishAnswer { sdp: answer })
            }
            Request::Unpublish { source } => {
                let (_, seat) = self.seat()?;
                self.hub.sfu().unpublish(&seat, source).map_err(media_error)?;
                Ok(Reply::Ok)
            }
            Request::Subscribe => {
                let (_, seat) = self.seat()?;
                let (offer, updates) = self.hub.sfu().subscribe(&seat).await.map_err(media_error)?;
                self.updates = Some(updates);
                Ok(Reply::SubscribeOffer { sdp: offer })
            }
            Request::SubscribeAnswer { sdp } => {
                let (_, seat) = self.seat()?;
                self.hub.sfu().answer_subscription(&seat, sdp).await.map_err(media_error)?;
                Ok(Reply::Ok)
            }
            Request::Chat { text } => {
                let text = text.trim().to_owned();
                if text.is_empty() || text.chars().count() > 2000 || text.chars().any(|c| c.is_control() && c != '\n') {
                    return Err(Reply::Error {
                        code: "invalid_chat",
                        message: "a chat message is 1 to 2000 characters".into(),
                    });
                }
                let (place, _) = self.seat()?;
                self.hub.chat(place, text).map_err(refused)?;
                Ok(Reply::Ok)
            }
            Request::Leave if self.waiting.is_some() => {
                // The end of `run` withdraws the wait (or gives up a seat just granted).
                self.done = true;
                Ok(Reply::Ok)
            }
            Request::Leave => {
                let (place, _) = self.seat()?;
                let place = place.clone();
                self.hub.command(&place, Command::Leave).map_err(refused)?;
                self.done = true;
                Ok(Reply::Ok)
            }
            other => {
                let command = command_of(other)?;
                let (place, _) = self.seat()?;
                self.hub.command(place, command).map_err(refused)?;
                Ok(Reply::Ok)
            }
        }
    }
}

fn token_refused(e: &TokenError) -> Reply {
    Reply::Error { code: e.code(), message: e.to_string() }
}

fn too_many(e: AttemptsError) -> Reply {
    let code = match e {
        AttemptsError::TooMany { .. } => "too_many_attempts",
        AttemptsError::Unavailable(_) => "try_again_later",
    };
    Reply::Error { code, message: e.to_string() }
}

fn media_error(e: crate::sfu::SfuError) -> Reply {
    Reply::Error { code: "media_error", message: e.to_string() }
}

fn participant(text: &str) -> Result<ParticipantId, Reply> {
    ParticipantId::parse(text).map_err(refused)
}

/// The room command a moderation or media request asks for.
fn command_of(request: Request) -> Result<Command, Reply> {
    Ok(match request {
        Request::Media { audio_muted, video_muted, screen_sharing } => {
            Command::SetOwnMedia(MediaState { audio_muted, video_muted, screen_sharing })
        }
        Request::Mute { participant: p, kind } => Command::Mute { target: participant(&p)?, kind: kind.into() },
        Request::MuteAll { kind } => Command::MuteAll { kind: kind.into() },
        Request::Remove { participant: p } => Command::Remove { target: participant(&p)? },
        Request::GrantModerator { participant: p } => Command::GrantModerator { target: participant(&p)? },
        Request::Lock { password } => Command::Lock { password: RoomPassword::parse(&password).map_err(refused)? },
        Request::Unlock => Command::Unlock,
        Request::EndMeeting => Command::EndMeeting,
        Request::Admit { participant: p } => Command::Admit { target: participant(&p)? },
        Request::Deny { participant: p } => Command::Deny { target: participant(&p)? },
        _ => return Err(Reply::Error { code: "malformed_frame", message: "not a room command".into() }),
    })
}

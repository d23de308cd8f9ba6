//! One WebSocket: the participant's requests in, replies, room events and
//! renegotiation offers out.

use super::admission::{Admission, Asker, JoinAsk};
use super::hub::{Audience, Hub, Outgoing, Place};
use super::limits::{MAX_MEDIA_SECTIONS, SocketBudget, Verdict, media_sections};
use super::protocol::{self, JoinedFrame, Knock, MAX_FRAME_BYTES, Push, Reply, Request};
use crate::room::{Command, JoinOutcome, Joined, MediaState, ParticipantId, RoomError, RoomPassword, WaitReason};
use crate::sfu::{Seat, SubscriberUpdate, SubscriberUpdates};
use actix_web::{HttpRequest, HttpResponse, web};
use confer_vocabulary::SESSION_COOKIE;
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
    let site_url = req.app_data::<crate::site_origin::SiteUrl>().and_then(|s| s.0.as_deref());
    if !crate::site_origin::is_own_origin(&req, site_url) {
        let origin = req.headers().get(actix_web::http::header::ORIGIN).and_then(|o| o.to_str().ok()).unwrap_or("?");
        tracing::info!(origin, "a signaling socket from another site's page refused");
        return Ok(HttpResponse::Forbidden().json(serde_json::json!({"error": {
            "code": "origin_not_allowed",
            "message": "the meeting can only be joined from this site's own pages"
        }})));
    }
    let (response, socket, stream) = actix_ws::handle(&req, body)?;
    let stream = stream.max_frame_size(MAX_FRAME_BYTES);
    let hub = hub.get_ref().clone();
    let client = crate::client_address::client_address(&req);
    let cookie = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
    let asker = Asker { client, cookie };
    actix_web::rt::spawn(async move { Session::new(hub, asker).run(socket, stream).await });
    Ok(response)
}

struct Session {
    id: u64,
    hub: Arc<Hub>,
    /// Who opened the WebSocket: their address and the site's session cookie.
    asker: Asker,
    place: Option<Place>,
    /// Where and under which id the participant waits to be let in.
    waiting: Option<Place>,
    updates: Option<SubscriberUpdates>,
    outgoing: mpsc::Sender<Outgoing>,
    inbox: mpsc::Receiver<Outgoing>,
    /// The participant said goodbye (or lost their seat): no reconnect grace.
    done: bool,
    /// The room's audience and the name the seat goes by, for chat (which takes
    /// the room's lock only).
    chat_to: Option<(Arc<Audience>, String)>,
    /// What this socket may still ask.
    budget: SocketBudget,
    /// Refused too often: the socket is closed (the seat keeps its reconnect grace).
    shut: bool,
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
    fn new(hub: Arc<Hub>, asker: Asker) -> Self {
        let (outgoing, inbox) = mpsc::channel(OUTGOING_QUEUE);
        let budget = SocketBudget::new(hub.signaling_limits());
        Self {
            id: NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
            hub,
            asker,
            place: None,
            waiting: None,
            updates: None,
            outgoing,
            inbox,
            done: false,
            chat_to: None,
            budget,
            shut: false,
        }
    }

    async fn run(mut self, mut socket: actix_ws::Session, mut stream: actix_ws::MessageStream) {
        loop {
            let text = tokio::select! {
                message = stream.next() => match message {
                    Some(Ok(actix_ws::Message::Text(_))) if self.frame_refused() => {
                        protocol::reply_text(None, &Reply::Error {
                            code: "too_many_frames",
                            message: "this socket sends frames faster than the node takes them; the frame was not handled".into(),
                        })
                    }
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
                    Some(Err(actix_ws::ProtocolError::Overflow)) => {
                        tracing::info!(session = self.id, max = MAX_FRAME_BYTES, "a signaling frame over the size limit; socket closed");
                        let _ = socket.text(protocol::reply_text(None, &Reply::Error {
                            code: "frame_too_large",
                            message: format!("a signaling frame is at most {MAX_FRAME_BYTES} bytes"),
                        })).await;
                        let _ = socket.close(Some(actix_ws::CloseCode::Size.into())).await;
                        self.hub_goodbye();
                        return;
                    }
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
            if self.shut {
                tracing::info!(session = self.id, "a signaling socket refused too often; closed");
                let _ = socket.close(Some(actix_ws::CloseCode::Policy.into())).await;
                self.hub_goodbye();
                return;
            }
        }
        self.hub_goodbye();
        let _ = socket.close(None).await;
    }

    /// Whether this frame is over the socket's frame budget.
    fn frame_refused(&mut self) -> bool {
        let verdict = self.budget.frame();
        self.over_budget(verdict)
    }

    /// Whether this chat message is over the socket's chat budget.
    fn chat_refused(&mut self) -> bool {
        let verdict = self.budget.chat();
        self.over_budget(verdict)
    }

    /// Whether `verdict` refuses the frame; a socket refused too often is shut.
    fn over_budget(&mut self, verdict: Verdict) -> bool {
        match verdict {
            Verdict::Handle => false,
            Verdict::Refuse => true,
            Verdict::Close => {
                self.shut = true;
                true
            }
        }
    }

    /// The socket is going: a seat without a goodbye keeps its reconnect grace, a
    /// wait is withdrawn.
    fn hub_goodbye(&mut self) {
        if !self.done
            && let Some(place) = &self.place
        {
            self.hub.connection_lost(self.id, place);
        }
        if let Some(place) = self.waiting.take() {
            self.hub.withdraw(self.id, &place);
        }
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
        self.chat_to = self.hub.audience(&place.0).zip(protocol::name_of(&joined.room, joined.participant));
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
                let ask = JoinAsk { room, name, password, reconnect_token, token };
                let admission = Admission::new(&self.hub);
                let outcome = admission
                    .decide(self.id, self.outgoing.clone(), ask, &self.asker)
                    .await
                    .map_err(|e| Reply::Error { code: e.code(), message: e.to_string() })?;
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
                let sections = media_sections(&sdp);
                if sections > MAX_MEDIA_SECTIONS {
                    return Err(Reply::Error {
                        code: "too_many_media_sections",
                        message: format!(
                            "a publish offer has at most {MAX_MEDIA_SECTIONS} media sections; this one has {sections}"
                        ),
                    });
                }
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
                if self.chat_refused() {
                    return Err(Reply::Error {
                        code: "too_many_messages",
                        message: "chat messages come too fast from this socket; this one was not sent".into(),
                    });
                }
                let text = text.trim().to_owned();
                if text.is_empty() || text.chars().count() > 2000 || text.chars().any(|c| c.is_control() && c != '\n') {
                    return Err(Reply::Error {
                        code: "invalid_chat",
                        message: "a chat message is 1 to 2000 characters".into(),
                    });
                }
                let (place, _) = self.seat()?;
                let participant = place.1;
                let (audience, name) = self.chat_to.as_ref().ok_or_else(|| refused(RoomError::NoSuchParticipant))?;
                audience.chat(self.id, participant, name.clone(), text).map_err(refused)?;
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

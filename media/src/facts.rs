//! Room facts for the api: a room started, someone joined or left, the room was
//! locked or unlocked, the meeting ended. The api records them as events
//! ([`ApiClient::record_room_fact`], the contract's `RoomFact`).
//!
//! Facts wait in a queue and are delivered one at a time, in order, each with its
//! own `Idempotency-Key`, so a retry after a lost answer appends nothing twice.
//! While the api is unreachable they stay queued and delivery retries with backoff;
//! only a fact the api refuses as invalid (4xx) is dropped, with a log line. The
//! queue is bounded: past `QUEUE_LIMIT` the oldest fact gives way, with a warning.

use crate::api_client::{ApiCallError, ApiClient};
use crate::room::{LeaveReason, RoomEvent, RoomName};
use confer_vocabulary::node_api::{RoomFact, RoomFactKind};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use uuid::Uuid;

/// Facts held while the api is unreachable, at most.
const QUEUE_LIMIT: usize = 100_000;
/// Longest wait between delivery attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The fact reporter: turns room events into facts and queues them for delivery.
#[derive(Clone)]
pub struct Facts {
    queue: Arc<Mutex<VecDeque<RoomFact>>>,
    wake: Arc<Notify>,
    /// Each running room's session id and last sequence number.
    sessions: Arc<Mutex<HashMap<RoomName, (Uuid, i64)>>>,
}

impl Facts {
    /// Starts delivering to `api`.
    pub fn start(api: Arc<ApiClient>) -> Self {
        let facts = Facts {
            queue: Arc::new(Mutex::new(VecDeque::new())),
            wake: Arc::new(Notify::new()),
            sessions: Arc::new(Mutex::new(HashMap::new())),
        };
        let delivery = facts.clone();
        tokio::spawn(async move { delivery.deliver(api).await });
        facts
    }

    /// Waits until every queued fact is delivered, or `within` has passed (shutdown).
    /// Returns how many were left undelivered.
    pub async fn flush(&self, within: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + within;
        while self.pending() > 0 && tokio::time::Instant::now() < deadline {
            self.wake.notify_one();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.pending()
    }

    /// Facts not delivered yet.
    pub fn pending(&self) -> usize {
        self.queue.lock().map(|q| q.len()).unwrap_or(0)
    }

    /// Queues the facts `events` carry (transient ones, like media states, are not facts).
    pub fn record(&self, events: &[RoomEvent]) {
        // Milliseconds are enough, and what the api has always been sent.
        let at = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 3);
        let Ok(mut sessions) = self.sessions.lock() else { return };
        let mut new = Vec::new();
        for event in events {
            let Some(fact) = fact_of(event) else { continue };
            let room = event.room();
            if fact == RoomFactKind::MeetingStarted {
                sessions.insert(room.clone(), (Uuid::new_v4(), 0));
            }
            let Some((session, seq)) = sessions.get_mut(room) else { continue };
            *seq += 1;
            new.push(RoomFact { session: *session, seq: *seq, room: room.as_str().to_owned(), at, fact });
            if matches!(event, RoomEvent::MeetingEnded { .. }) {
                sessions.remove(room);
            }
        }
        drop(sessions);
        if new.is_empty() {
            return;
        }
        if let Ok(mut queue) = self.queue.lock() {
            for fact in new {
                if queue.len() >= QUEUE_LIMIT {
                    queue.pop_front();
                    tracing::warn!("room facts queue full: the oldest undelivered fact was dropped");
                }
                queue.push_back(fact);
            }
        }
        self.wake.notify_one();
    }

    async fn deliver(self, api: Arc<ApiClient>) {
        let mut backoff = Duration::from_millis(250);
        loop {
            let next = self.queue.lock().ok().and_then(|q| q.front().cloned());
            let Some(fact) = next else {
                self.wake.notified().await;
                continue;
            };
            let id = fact.id();
            let done = match api.record_room_fact(&fact).await {
                Ok(()) => true,
                Err(e) if refused_for_good(&e) => {
                    tracing::error!(fact = %id, error = %e, "the api refused a room fact; dropped");
                    true
                }
                Err(e @ ApiCallError::Unreachable { .. }) => {
                    tracing::warn!(fact = %id, error = %e, pending = self.pending(), "api unreachable; room facts are kept");
                    false
                }
                Err(e) => {
                    tracing::warn!(fact = %id, error = %e, "room fact not accepted yet; will retry");
                    false
                }
            };
            if done {
                if let Ok(mut q) = self.queue.lock()
                    && q.front().is_some_and(|f| f.id() == id)
                {
                    q.pop_front();
                }
                backoff = Duration::from_millis(250);
            } else {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Whether the api will never take this fact: it refused it as invalid (4xx), not
/// for now (429: too many requests) nor for the node's credential (401: fixed by the
/// operator, after which the fact is taken).
fn refused_for_good(e: &ApiCallError) -> bool {
    e.status().is_some_and(|s| s.is_client_error() && s.as_u16() != 429 && s.as_u16() != 401)
}

/// The lasting fact an event is, if it is one.
fn fact_of(event: &RoomEvent) -> Option<RoomFactKind> {
    Some(match event {
        RoomEvent::MeetingStarted { .. } => RoomFactKind::MeetingStarted,
        RoomEvent::ParticipantJoined { participant, .. } => RoomFactKind::ParticipantJoined {
            participant: participant.id.to_string(),
            display_name: participant.display_name.as_str().to_owned(),
        },
        RoomEvent::ParticipantLeft { participant, reason, .. } => RoomFactKind::ParticipantLeft {
            participant: participant.to_string(),
            reason: leave_reason(*reason).to_owned(),
        },
        RoomEvent::RoomLocked { by, .. } => RoomFactKind::RoomLocked { by: by.to_string() },
        RoomEvent::RoomUnlocked { by, .. } => RoomFactKind::RoomUnlocked { by: by.to_string() },
        RoomEvent::MeetingEnded { by, .. } => RoomFactKind::MeetingEnded { by: by.map(|b| b.to_string()) },
        _ => return None,
    })
}

/// How a leave reason is spelled in a fact (as in the room's events).
fn leave_reason(reason: LeaveReason) -> &'static str {
    match reason {
        LeaveReason::Left => "left",
        LeaveReason::Removed => "removed",
        LeaveReason::TimedOut => "timed_out",
        LeaveReason::MeetingEnded => "meeting_ended",
    }
}

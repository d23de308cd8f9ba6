//! Room facts for the api: a room started, someone joined or left, the room was
//! locked or unlocked, the meeting ended. The api records them as events
//! (`POST /v1/room-facts`).
//!
//! Facts wait in a queue and are delivered one at a time, in order, each with its
//! own `Idempotency-Key`, so a retry after a lost answer appends nothing twice.
//! While the api is unreachable they stay queued and delivery retries with backoff;
//! only a fact the api refuses as invalid (4xx) is dropped, with a log line. The
//! queue is bounded: past `QUEUE_LIMIT` the oldest fact gives way, with a warning.

use crate::room::{RoomEvent, RoomName};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Facts held while the api is unreachable, at most.
const QUEUE_LIMIT: usize = 100_000;
/// Longest wait between delivery attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Where facts go.
#[derive(Clone)]
pub struct FactsConfig {
    /// The api's base URL, e.g. `http://127.0.0.1:8080`.
    pub api_url: String,
    /// An API key of the tenant this node serves.
    pub api_key: String,
}

/// One fact, ready to send.
#[derive(Debug, Clone)]
struct Fact {
    key: String,
    body: Value,
}

/// The fact reporter: turns room events into facts and queues them for delivery.
#[derive(Clone)]
pub struct Facts {
    queue: Arc<Mutex<VecDeque<Fact>>>,
    wake: Arc<Notify>,
    /// Each running room's session id and last sequence number.
    sessions: Arc<Mutex<HashMap<RoomName, (String, i64)>>>,
}

impl Facts {
    /// Starts delivering to the api.
    pub fn start(config: FactsConfig) -> Self {
        let facts = Facts {
            queue: Arc::new(Mutex::new(VecDeque::new())),
            wake: Arc::new(Notify::new()),
            sessions: Arc::new(Mutex::new(HashMap::new())),
        };
        let delivery = facts.clone();
        tokio::spawn(async move { delivery.deliver(config).await });
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
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let Ok(mut sessions) = self.sessions.lock() else { return };
        let mut new = Vec::new();
        for event in events {
            let fact = match event {
                RoomEvent::MeetingStarted { .. } => json!({"kind": "meeting_started"}),
                RoomEvent::ParticipantJoined { participant, .. } => json!({"kind": "participant_joined",
                    "participant": participant.id.to_string(), "display_name": participant.display_name.as_str()}),
                RoomEvent::ParticipantLeft { participant, reason, .. } => json!({"kind": "participant_left",
                    "participant": participant.to_string(), "reason": reason}),
                RoomEvent::RoomLocked { by, .. } => json!({"kind": "room_locked", "by": by.to_string()}),
                RoomEvent::RoomUnlocked { by, .. } => json!({"kind": "room_unlocked", "by": by.to_string()}),
                RoomEvent::MeetingEnded { by, .. } => {
                    json!({"kind": "meeting_ended", "by": by.map(|b| b.to_string())})
                }
                _ => continue,
            };
            let room = event.room();
            if matches!(event, RoomEvent::MeetingStarted { .. }) {
                sessions.insert(room.clone(), (uuid::Uuid::new_v4().to_string(), 0));
            }
            let Some((session, seq)) = sessions.get_mut(room) else { continue };
            *seq += 1;
            let mut body = fact;
            body["session"] = json!(session);
            body["seq"] = json!(*seq);
            body["room"] = json!(room.as_str());
            body["at"] = json!(at);
            new.push(Fact { key: format!("{session}-{seq}"), body });
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

    async fn deliver(self, config: FactsConfig) {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        let url = format!("{}/v1/room-facts", config.api_url.trim_end_matches('/'));
        let mut backoff = Duration::from_millis(250);
        loop {
            let next = self.queue.lock().ok().and_then(|q| q.front().cloned());
            let Some(fact) = next else {
                self.wake.notified().await;
                continue;
            };
            let sent = client
                .post(&url)
                .bearer_auth(&config.api_key)
                .header("Idempotency-Key", &fact.key)
                .json(&fact.body)
                .send()
                .await;
            let done = match sent {
                Ok(r) if r.status().is_success() => true,
                Ok(r) if r.status().is_client_error() && r.status().as_u16() != 429 && r.status().as_u16() != 401 => {
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    tracing::error!(fact = %fact.key, %status, %body, "the api refused a room fact; dropped");
                    true
                }
                Ok(r) => {
                    tracing::warn!(fact = %fact.key, status = %r.status(), "room fact not accepted yet; will retry");
                    false
                }
                Err(e) => {
                    tracing::warn!(fact = %fact.key, error = %e, pending = self.pending(), "api unreachable; room facts are kept");
                    false
                }
            };
            if done {
                if let Ok(mut q) = self.queue.lock()
                    && q.front().is_some_and(|f| f.key == fact.key)
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

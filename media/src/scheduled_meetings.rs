//! What a meeting scheduled through the api says about its room while it is on: its
//! password (checked by the api: the node never learns it, only whether a try
//! matches), its lobby setting, and who moderates it. Read when someone joins,
//! cached for a few seconds per room.

use crate::room::{MeetingTerms, RoomName};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an answer about a room is trusted.
const FRESH_FOR: Duration = Duration::from_secs(10);

/// A scheduled meeting's rules for its room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingRules {
    /// What the room takes when it starts.
    pub terms: MeetingTerms,
    /// Emails of its moderators.
    pub moderators: Vec<String>,
}

/// Why the api could not say.
#[derive(Debug, thiserror::Error)]
#[error("the api cannot tell about the room's meeting right now: {0}")]
pub struct Unreachable(String);

/// The api's scheduled meetings, as the node asks about them.
pub struct ScheduledMeetings {
    api_url: String,
    api_key: String,
    http: reqwest::Client,
    cache: Mutex<HashMap<RoomName, (Instant, Option<MeetingRules>)>>,
}

impl ScheduledMeetings {
    /// Asks the api at `api_url` with the tenant key `api_key`.
    pub fn new(api_url: &str, api_key: &str) -> Self {
        Self {
            api_url: api_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The rules of the meeting on now in `room`, if any. When the api cannot be
    /// asked, the room has no meeting rules (logged): people can still meet.
    pub async fn rules(&self, room: &RoomName) -> Option<MeetingRules> {
        if let Some((at, rules)) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(room)
            && at.elapsed() < FRESH_FOR
        {
            return rules.clone();
        }
        let url = format!("{}/v1/rooms/{}/meeting", self.api_url, room.as_str());
        let rules = match self.http.get(&url).bearer_auth(&self.api_key).send().await {
            Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => None,
            Ok(r) if r.status().is_success() => match r.json::<serde_json::Value>().await {
                Ok(body) => Some(MeetingRules {
                    terms: MeetingTerms {
                        password_required: body["has_password"].as_bool().unwrap_or(false),
                        lobby: body["lobby"].as_bool(),
                    },
                    moderators: body["moderators"]
                        .as_array()
                        .map(|m| m.iter().filter_map(|e| e.as_str().map(str::to_ascii_lowercase)).collect())
                        .unwrap_or_default(),
                }),
                Err(e) => {
                    tracing::warn!(room = %room.as_str(), error = %e, "the api's answer about a meeting is unreadable");
                    return None;
                }
            },
            Ok(r) => {
                tracing::warn!(room = %room.as_str(), status = %r.status(), "cannot read the room's meeting");
                return None;
            }
            Err(e) => {
                tracing::warn!(room = %room.as_str(), error = %e, "cannot read the room's meeting");
                return None;
            }
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.retain(|_, (at, _)| at.elapsed() < FRESH_FOR);
        }
        cache.insert(room.clone(), (Instant::now(), rules.clone()));
        rules
    }

    /// Whether `password` is the password of the meeting on now in `room`.
    pub async fn password_matches(&self, room: &RoomName, password: &str) -> Result<bool, Unreachable> {
        let url = format!("{}/v1/rooms/{}/meeting/password", self.api_url, room.as_str());
        let response = self
            .http
            .post(&url)
            .bearer_auth(&self.api_key)
            .json(&serde_json::json!({ "password": password }))
            .send()
            .await
            .map_err(|e| Unreachable(e.to_string()))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(false); // the meeting ended meanwhile
        }
        if !response.status().is_success() {
            return Err(Unreachable(format!("HTTP {}", response.status())));
        }
        let body: serde_json::Value = response.json().await.map_err(|e| Unreachable(e.to_string()))?;
        Ok(body["matches"].as_bool().unwrap_or(false))
    }
}

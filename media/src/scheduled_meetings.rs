//! What a meeting scheduled through the api says about its room while it is on: its
//! password (checked by the api: the node never learns it, only whether a try
//! matches), its lobby setting, and who moderates it. Read when someone joins,
//! cached for a few seconds per room.

use crate::api_client::{ApiCallError, ApiClient};
use crate::room::{MeetingTerms, RoomName};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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

/// The api's scheduled meetings, as the node asks about them.
pub struct ScheduledMeetings {
    api: Arc<ApiClient>,
    cache: Mutex<HashMap<RoomName, (Instant, Option<MeetingRules>)>>,
}

impl ScheduledMeetings {
    /// Asks `api`.
    pub fn new(api: Arc<ApiClient>) -> Self {
        Self { api, cache: Mutex::new(HashMap::new()) }
    }

    /// The rules of the meeting on now in `room`, if any. When the api cannot say
    /// (unreachable, refusing, or answering what this node does not understand), the
    /// room has no meeting rules (logged): people can still meet.
    pub async fn rules(&self, room: &RoomName) -> Option<MeetingRules> {
        if let Some((at, rules)) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(room)
            && at.elapsed() < FRESH_FOR
        {
            return rules.clone();
        }
        let rules = match self.api.meeting_on_now(room).await {
            Ok(meeting) => meeting.map(|m| MeetingRules {
                terms: MeetingTerms { password_required: m.has_password, lobby: m.lobby },
                moderators: m.moderators.iter().map(|e| e.to_ascii_lowercase()).collect(),
            }),
            Err(e) => {
                tracing::warn!(room = %room.as_str(), error = %e, "cannot read the room's meeting; no meeting rules apply");
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

    /// Whether `password` is the password of the meeting on now in `room` (not, when
    /// the meeting ended meanwhile).
    pub async fn password_matches(&self, room: &RoomName, password: &str) -> Result<bool, ApiCallError> {
        Ok(self.api.meeting_password_matches(room, password).await?.unwrap_or(false))
    }
}

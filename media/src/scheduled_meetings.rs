//! What a meeting scheduled through the api says about its room while it is on: its
//! password (checked by the api: the node never learns it, only whether a try
//! matches), its lobby setting, and who moderates it. Read when someone joins,
//! cached for a few seconds per room.
//!
//! When the api cannot say, the rules are unknown, and a join that needs them is
//! refused until they are known again (never let into a room whose password or
//! moderators lapsed). A visitor asking about rooms the node knows nothing of costs
//! an api call each; those calls are limited per network, so no stranger can spend
//! the node's api budget for everyone.

use crate::api_client::{ApiCallError, ApiClient};
use crate::client_address::network_of;
use crate::room::{MeetingTerms, RoomName};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an answer about a room is trusted.
const FRESH_FOR: Duration = Duration::from_secs(10);

/// Api lookups one network (an IPv4 address, an IPv6 /64) may cause: this many a
/// second, in bursts of [`LOOKUP_BURST`].
const LOOKUPS_PER_SECOND: u32 = 2;
const LOOKUP_BURST: u32 = 20;

/// Why a room's rules are not known now.
#[derive(Debug, thiserror::Error)]
pub enum RulesUnknown {
    /// The api did not answer, refused, or answered what this node does not understand.
    #[error("the room's meeting rules cannot be read right now")]
    Api(#[from] ApiCallError),
    /// The asker's network asked about too many rooms the node did not know of.
    #[error("too many rooms asked about from this network")]
    TooManyLookups,
}

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
    lookups: DefaultKeyedRateLimiter<IpAddr>,
}

impl ScheduledMeetings {
    /// Asks `api`.
    pub fn new(api: Arc<ApiClient>) -> Self {
        let per_second = NonZeroU32::new(LOOKUPS_PER_SECOND).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(LOOKUP_BURST).unwrap_or(NonZeroU32::MIN);
        Self {
            api,
            cache: Mutex::new(HashMap::new()),
            lookups: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
        }
    }

    /// The rules of the meeting on now in `room` (`None`: no meeting is on in it),
    /// as last read within [`FRESH_FOR`], or else as the api says now. An api call
    /// counts against the network of `asker` (when known).
    pub async fn rules(&self, room: &RoomName, asker: Option<IpAddr>) -> Result<Option<MeetingRules>, RulesUnknown> {
        if let Some((at, rules)) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(room)
            && at.elapsed() < FRESH_FOR
        {
            return Ok(rules.clone());
        }
        if let Some(network) = asker.map(network_of)
            && self.lookups.check_key(&network).is_err()
        {
            tracing::info!(room = %room.as_str(), %network, "too many room lookups from one network");
            return Err(RulesUnknown::TooManyLookups);
        }
        let rules = match self.api.meeting_on_now(room).await {
            Ok(meeting) => meeting.map(|m| MeetingRules {
                terms: MeetingTerms { password_required: m.has_password, lobby: m.lobby },
                moderators: m.moderators.iter().map(|e| e.to_ascii_lowercase()).collect(),
            }),
            Err(e) => {
                tracing::warn!(room = %room.as_str(), error = %e, "cannot read the room's meeting rules; its joins wait");
                return Err(e.into());
            }
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.retain(|_, (at, _)| at.elapsed() < FRESH_FOR);
            self.lookups.retain_recent();
        }
        cache.insert(room.clone(), (Instant::now(), rules.clone()));
        Ok(rules)
    }

    /// Whether `password` is the password of the meeting on now in `room` (not, when
    /// the meeting ended meanwhile).
    pub async fn password_matches(&self, room: &RoomName, password: &str) -> Result<bool, ApiCallError> {
        Ok(self.api.meeting_password_matches(room, password).await?.unwrap_or(false))
    }
}

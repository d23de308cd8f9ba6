//! Request rate limits (governor's GCRA, in process): signups per client address,
//! requests per API key. Over the limit → 429 with `Retry-After`.

use super::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use uuid::Uuid;

/// The limiters of one API process.
pub struct RateLimits {
    signup: DefaultKeyedRateLimiter<IpAddr>,
    api: DefaultKeyedRateLimiter<Uuid>,
}

impl RateLimits {
    /// `signups_per_minute` per address; `requests_per_second` per key, bursting to twice that.
    pub fn new(signups_per_minute: u32, requests_per_second: u32) -> Self {
        let one = NonZeroU32::MIN;
        let per_minute = NonZeroU32::new(signups_per_minute).unwrap_or(one);
        let per_second = NonZeroU32::new(requests_per_second).unwrap_or(one);
        let burst = per_second.saturating_mul(NonZeroU32::new(2).unwrap_or(one));
        Self {
            signup: RateLimiter::keyed(Quota::per_minute(per_minute)),
            api: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
        }
    }

    /// Counts a signup from `addr`.
    pub fn check_signup(&self, addr: IpAddr) -> Result<(), ApiError> {
        self.signup.check_key(&addr).map_err(|n| too_many(n.wait_time_from(DefaultClock::default().now())))
    }

    /// Counts a request made with API key `key`.
    pub fn check_api_key(&self, key: Uuid) -> Result<(), ApiError> {
        self.api.check_key(&key).map_err(|n| too_many(n.wait_time_from(DefaultClock::default().now())))
    }

    /// Forgets keys that have been idle long enough to be back at full quota.
    pub fn forget_idle(&self) {
        self.signup.retain_recent();
        self.api.retain_recent();
    }
}

fn too_many(wait: std::time::Duration) -> ApiError {
    ApiError::RateLimited { retry_after_secs: wait.as_secs() + 1 }
}

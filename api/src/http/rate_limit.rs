//! Request rate limits (governor's GCRA, in process): signups per client address,
//! requests per API key, and (apart, so that a tenant's own clients never starve its
//! media nodes, nor the other way round) requests per node credential, in two
//! budgets: the node's own reads (settings, certificates) and what the people at its
//! site make it ask or report (room rules, meeting passwords, logins, room facts),
//! so that strangers at a site cannot starve the node of its settings. Over the limit → 429
//! with `Retry-After`.

use super::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use uuid::Uuid;

/// Which of a node credential's two budgets a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeBudget {
    /// The node's own reads (settings, certificates).
    Own,
    /// What the people at its site make it ask or report.
    Visitors,
}

/// The limiters of one API process.
pub struct RateLimits {
    signup: DefaultKeyedRateLimiter<IpAddr>,
    api: DefaultKeyedRateLimiter<Uuid>,
    node: DefaultKeyedRateLimiter<Uuid>,
    node_for_visitors: DefaultKeyedRateLimiter<Uuid>,
}

impl RateLimits {
    /// `signups_per_minute` per address; `requests_per_second` per key and
    /// `node_requests_per_second` per node credential in each of its two budgets,
    /// each bursting to twice that.
    pub fn new(signups_per_minute: u32, requests_per_second: u32, node_requests_per_second: u32) -> Self {
        let one = NonZeroU32::MIN;
        let per_minute = NonZeroU32::new(signups_per_minute).unwrap_or(one);
        let per_second = |n: u32| {
            let rate = NonZeroU32::new(n).unwrap_or(one);
            Quota::per_second(rate).allow_burst(rate.saturating_mul(NonZeroU32::new(2).unwrap_or(one)))
        };
        Self {
            signup: RateLimiter::keyed(Quota::per_minute(per_minute)),
            api: RateLimiter::keyed(per_second(requests_per_second)),
            node: RateLimiter::keyed(per_second(node_requests_per_second)),
            node_for_visitors: RateLimiter::keyed(per_second(node_requests_per_second)),
        }
    }

    /// Counts a request made with node credential `node` against one of its budgets.
    pub fn check_node(&self, node: Uuid, budget: NodeBudget) -> Result<(), ApiError> {
        let limiter = match budget {
            NodeBudget::Own => &self.node,
            NodeBudget::Visitors => &self.node_for_visitors,
        };
        limiter.check_key(&node).map_err(|n| too_many(n.wait_time_from(DefaultClock::default().now())))
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
        self.node.retain_recent();
        self.node_for_visitors.retain_recent();
    }
}

fn too_many(wait: std::time::Duration) -> ApiError {
    ApiError::RateLimited { retry_after_secs: wait.as_secs() + 1 }
}

//! Request rate limits (governor's GCRA, in process): signups per client network;
//! requests per API key and per tenant (all its keys together); unknown keys per
//! client network, refused before the database is asked; password hashing per
//! tenant; and (apart, so that a tenant's own clients never starve its media nodes,
//! nor the other way round) requests per node credential, in two budgets: the
//! node's own reads (settings, certificates) and what the people at its site make
//! it ask or report (room rules, meeting passwords, logins, room facts), so that
//! strangers at a site cannot starve the node of its settings. Over a limit → 429
//! with `Retry-After`.
//!
//! A client network is an IPv4 address or an IPv6 /64 (what one subscriber is
//! given): a client does not get a new budget by taking another address of its own.

use super::ApiError;
use crate::config::ApiConfig;
use confer_vocabulary::network_of;
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
    tenant: DefaultKeyedRateLimiter<Uuid>,
    invalid_keys: DefaultKeyedRateLimiter<IpAddr>,
    /// Networks that spent their unknown-key budget: refused before the database is
    /// asked, for [`BLOCKED_FOR`].
    blocked: moka::sync::Cache<IpAddr, ()>,
    password_hashes: DefaultKeyedRateLimiter<Uuid>,
    node: DefaultKeyedRateLimiter<Uuid>,
    node_for_visitors: DefaultKeyedRateLimiter<Uuid>,
}

/// `n` per second, bursting to twice that.
fn per_second(n: u32) -> Quota {
    let rate = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(rate).allow_burst(rate.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN)))
}

/// `n` per minute, all of them at once if need be.
fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

/// How long a network that presented too many unknown keys is refused.
const BLOCKED_FOR: std::time::Duration = std::time::Duration::from_secs(60);

fn too_many(wait: std::time::Duration) -> ApiError {
    ApiError::RateLimited { retry_after_secs: wait.as_secs() + 1 }
}

fn check<K: Clone + std::hash::Hash + Eq>(limiter: &DefaultKeyedRateLimiter<K>, key: &K) -> Result<(), ApiError> {
    limiter.check_key(key).map_err(|n| too_many(n.wait_time_from(DefaultClock::default().now())))
}

impl RateLimits {
    /// The limits `config` sets.
    pub fn new(config: &ApiConfig) -> Self {
        Self {
            signup: RateLimiter::keyed(per_minute(config.signups_per_minute)),
            api: RateLimiter::keyed(per_second(config.api_requests_per_second)),
            tenant: RateLimiter::keyed(per_second(config.tenant_requests_per_second)),
            invalid_keys: RateLimiter::keyed(per_minute(config.invalid_keys_per_minute)),
            blocked: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(BLOCKED_FOR).build(),
            password_hashes: RateLimiter::keyed(per_second(config.password_hashes_per_second)),
            node: RateLimiter::keyed(per_second(config.node_requests_per_second)),
            node_for_visitors: RateLimiter::keyed(per_second(config.node_requests_per_second)),
        }
    }

    /// Counts a request made with node credential `node` against one of its budgets.
    pub fn check_node(&self, node: Uuid, budget: NodeBudget) -> Result<(), ApiError> {
        let limiter = match budget {
            NodeBudget::Own => &self.node,
            NodeBudget::Visitors => &self.node_for_visitors,
        };
        check(limiter, &node)
    }

    /// Counts a signup from `addr`'s network.
    pub fn check_signup(&self, addr: IpAddr) -> Result<(), ApiError> {
        check(&self.signup, &network_of(addr))
    }

    /// Counts a request made with API key `key` of `tenant`: against the key's
    /// budget, then the tenant's.
    pub fn check_api_key(&self, tenant: Uuid, key: Uuid) -> Result<(), ApiError> {
        check(&self.api, &key)?;
        check(&self.tenant, &tenant)
    }

    /// Refuses, before the database is asked, a key from a network that presented
    /// too many unknown ones.
    pub fn check_key_lookup(&self, addr: IpAddr) -> Result<(), ApiError> {
        if self.blocked.contains_key(&network_of(addr)) {
            return Err(too_many(BLOCKED_FOR));
        }
        Ok(())
    }

    /// Counts an unknown key from `addr`'s network: 401, or 429 once the network's
    /// budget is spent (and its keys are refused unasked for a while).
    pub fn unknown_key(&self, addr: IpAddr) -> ApiError {
        let network = network_of(addr);
        match check(&self.invalid_keys, &network) {
            Ok(()) => ApiError::Unauthorized,
            Err(limited) => {
                tracing::warn!(%network, "too many unknown API keys from one network: refused unasked for a while");
                self.blocked.insert(network, ());
                limited
            }
        }
    }

    /// Counts one password hash or check (argon2id) for `tenant`.
    pub fn check_password_hash(&self, tenant: Uuid) -> Result<(), ApiError> {
        check(&self.password_hashes, &tenant)
    }

    /// Forgets keys that have been idle long enough to be back at full quota.
    pub fn forget_idle(&self) {
        self.signup.retain_recent();
        self.api.retain_recent();
        self.tenant.retain_recent();
        self.invalid_keys.retain_recent();
        self.password_hashes.retain_recent();
        self.node.retain_recent();
        self.node_for_visitors.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn limits(args: &[&str]) -> RateLimits {
        let mut argv = vec!["confer-api"];
        argv.extend_from_slice(args);
        RateLimits::new(&crate::config::Cli::parse_from(argv).config)
    }

    #[test]
    fn signups_are_counted_per_ipv6_64() {
        let limits = limits(&["--signups-per-minute", "1"]);
        assert!(limits.check_signup("2001:db8:0:7::1".parse().unwrap()).is_ok());
        assert!(limits.check_signup("2001:db8:0:7:ffff::2".parse().unwrap()).is_err(), "the same /64");
        assert!(limits.check_signup("2001:db8:0:8::1".parse().unwrap()).is_ok(), "another /64");
    }

    #[test]
    fn a_tenant_does_not_get_more_by_minting_keys() {
        let limits = limits(&["--api-requests-per-second", "1000", "--tenant-requests-per-second", "1"]);
        let tenant = Uuid::now_v7();
        let refused = (0..10).filter(|_| limits.check_api_key(tenant, Uuid::now_v7()).is_err()).count();
        assert_eq!(refused, 8, "a burst of 2 for the tenant, whatever the keys");
        assert!(limits.check_api_key(Uuid::now_v7(), Uuid::now_v7()).is_ok(), "another tenant");
    }

    #[test]
    fn a_network_that_presents_too_many_unknown_keys_is_refused_unasked() {
        let limits = limits(&["--invalid-keys-per-minute", "2"]);
        let addr: IpAddr = "203.0.113.7".parse().unwrap();
        assert!(limits.check_key_lookup(addr).is_ok());
        assert!(matches!(limits.unknown_key(addr), ApiError::Unauthorized));
        assert!(matches!(limits.unknown_key(addr), ApiError::Unauthorized));
        assert!(matches!(limits.unknown_key(addr), ApiError::RateLimited { .. }));
        assert!(limits.check_key_lookup(addr).is_err(), "now refused before the database is asked");
        assert!(limits.check_key_lookup("203.0.113.8".parse().unwrap()).is_ok());
    }
}

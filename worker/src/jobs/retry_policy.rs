//! `RetryPolicy`: how many times a transiently failing job is tried again, and
//! how long each retry waits (exponential: base, 2·base, 4·base, …).

use std::time::Duration;

/// Bounded retries with exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_retries: u32,
    base_delay: Duration,
}

impl RetryPolicy {
    /// `max_retries` retries after the first attempt, the first one `base_delay` later.
    pub fn new(max_retries: u32, base_delay: Duration) -> Self {
        Self { max_retries, base_delay }
    }

    /// Retries allowed after the first attempt.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The wait before retry `n` (1-based): `base · 2^(n-1)`, saturating.
    pub fn delay_before(&self, n: u32) -> Duration {
        let factor = 2u32.checked_pow(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor)
    }

    /// The retry that follows a failed `attempt` (0 = the first run), or `None`
    /// when the retries are used up.
    pub fn next_retry(&self, attempt: u32) -> Option<u32> {
        let next = attempt.checked_add(1)?;
        (next <= self.max_retries).then_some(next)
    }
}

/// The retry ladder of each job kind: one for all, and its own for the kinds whose
/// failures take longer to mend (DNS records, a CA's limits). The relay and the
/// consumers must agree, since a kind's retry queues are declared with its ladder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicies {
    default: RetryPolicy,
    own: Vec<(super::JobKind, RetryPolicy)>,
}

impl RetryPolicies {
    /// `default` for every kind.
    pub fn new(default: RetryPolicy) -> Self {
        Self { default, own: Vec::new() }
    }

    /// `kind` retries by `policy`.
    pub fn with(mut self, kind: super::JobKind, policy: RetryPolicy) -> Self {
        self.own.retain(|(k, _)| *k != kind);
        self.own.push((kind, policy));
        self
    }

    /// The ladder `kind` retries by.
    pub fn for_kind(&self, kind: &super::JobKind) -> RetryPolicy {
        self.own.iter().find(|(k, _)| k == kind).map_or(self.default, |(_, p)| *p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_retries_by_its_own_ladder_or_the_common_one() {
        let common = RetryPolicy::new(5, Duration::from_secs(1));
        let dns = RetryPolicy::new(10, Duration::from_secs(30));
        let kind = |k| super::super::JobKind::parse(k).unwrap();
        let policies = RetryPolicies::new(common).with(kind("check_domain"), dns);
        assert_eq!(policies.for_kind(&kind("check_domain")), dns);
        assert_eq!(policies.for_kind(&kind("noop")), common);
    }

    #[test]
    fn delays_double() {
        let policy = RetryPolicy::new(5, Duration::from_millis(1000));
        let delays: Vec<_> = (1..=5).map(|n| policy.delay_before(n).as_millis()).collect();
        assert_eq!(delays, [1000, 2000, 4000, 8000, 16000]);
    }

    #[test]
    fn retries_are_bounded() {
        let policy = RetryPolicy::new(2, Duration::from_millis(10));
        assert_eq!(policy.next_retry(0), Some(1));
        assert_eq!(policy.next_retry(1), Some(2));
        assert_eq!(policy.next_retry(2), None);
        assert_eq!(RetryPolicy::new(0, Duration::from_millis(10)).next_retry(0), None);
    }

    #[test]
    fn huge_retry_numbers_saturate() {
        let policy = RetryPolicy::new(100, Duration::from_millis(1));
        assert!(policy.delay_before(100) >= policy.delay_before(32));
    }
}

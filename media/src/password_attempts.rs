//! Password tries, counted in Redis, so the limits hold across every node of a
//! tenant. Two counts, both per window (which starts at the first try counted):
//!
//! - per network (an IPv4 address, an IPv6 /64: one subscriber's) and what is tried
//!   (a room's password, or a user name's on the site's login): `limit` tries;
//! - per room or user name from every network: `ceiling` tries. Spraying from many
//!   addresses locks that room's (or name's) password tries for everyone until the
//!   window ends, and the room's moderators are told ([`AttemptsError::Locked`]).
//!
//! A try is counted **before** the password is checked ([`PasswordAttempts::reserve`],
//! one Lua script: increment, then compare), so parallel tries cannot all pass a
//! check made before any of them was counted: of 50 at once, at most `limit` reach
//! the password. A try that turns out not to be a wrong password (it was right, or
//! it was never checked) is given back ([`PasswordAttempts::refund`]).

use crate::client_address::network_of;
use redis::aio::ConnectionManager;
use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Duration;

/// Why a password may not be tried now.
#[derive(Debug, thiserror::Error)]
pub enum AttemptsError {
    /// Too many tries from this network for this room or user.
    #[error("too many wrong passwords; try again in {retry_after_seconds} s")]
    TooMany {
        /// When the window ends.
        retry_after_seconds: u64,
    },
    /// Too many tries for this room or user from all networks together: its password
    /// tries are locked for everyone until the window ends.
    #[error("too many wrong passwords for this room from many places; try again in {retry_after_seconds} s")]
    Locked {
        /// When the window ends.
        retry_after_seconds: u64,
        /// This try is the one that locked it (the moderators are told once).
        first: bool,
    },
    /// Redis cannot be reached: passwords are not checked rather than not counted.
    #[error("passwords cannot be checked right now; try again shortly")]
    Unavailable(#[from] redis::RedisError),
}

/// A try counted before its password is checked; [`PasswordAttempts::refund`] it when
/// the password was not wrong.
#[derive(Debug)]
#[must_use = "a try that was not a wrong password must be refunded"]
pub struct Reserved {
    network_key: String,
    target_key: String,
}

/// Counts the try against its network, then (within the network's limit) against
/// the room or user from everywhere; answers `{0}` (go ahead), `{1, ttl}` (the
/// network's limit), or `{2, ttl, first}` (the ceiling). A try the ceiling refuses is
/// taken off the network's count again: it was not the network's try.
/// KEYS: network, target. ARGV: window seconds, limit, ceiling.
static RESERVE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local network = redis.call('INCR', KEYS[1])
        redis.call('EXPIRE', KEYS[1], ARGV[1], 'NX')
        if network > tonumber(ARGV[2]) then
            return {1, redis.call('TTL', KEYS[1]), 0}
        end
        local target = redis.call('INCR', KEYS[2])
        redis.call('EXPIRE', KEYS[2], ARGV[1], 'NX')
        if target > tonumber(ARGV[3]) then
            redis.call('DECR', KEYS[1])
            local first = 0
            if target == tonumber(ARGV[3]) + 1 then first = 1 end
            return {2, redis.call('TTL', KEYS[2]), first}
        end
        return {0, 0, 0}
        ",
    )
});

/// Gives a try back: each count goes down by one, never below zero, and a count whose
/// window has ended is not made again.
static REFUND: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        for _, key in ipairs(KEYS) do
            local n = tonumber(redis.call('GET', key) or '0')
            if n > 0 then redis.call('DECR', key) end
        end
        return 0
        ",
    )
});

/// The counter of password tries.
#[derive(Clone)]
pub struct PasswordAttempts {
    redis: ConnectionManager,
    prefix: String,
    /// What is counted: `room-password-failures` or `login-failures`.
    kind: &'static str,
    limit: u32,
    ceiling: u32,
    window: Duration,
}

impl PasswordAttempts {
    /// Counts in the Redis at `url`, under keys starting with `prefix` (the tenant):
    /// `limit` tries per network and `ceiling` per room (or user name) from every
    /// network, per `window`.
    pub async fn connect(
        url: &str,
        prefix: &str,
        limit: u32,
        ceiling: u32,
        window: Duration,
    ) -> Result<Self, AttemptsError> {
        let redis = crate::redis_link::connect(url).await?;
        Ok(Self {
            redis,
            prefix: prefix.to_owned(),
            kind: "room-password-failures",
            limit: limit.max(1),
            ceiling: ceiling.max(limit).max(1),
            window,
        })
    }

    /// The same limits for logins on the site, counted per user name (the same Redis).
    pub fn for_logins(&self) -> Self {
        Self { kind: "login-failures", ..self.clone() }
    }

    /// The Redis key counting the tries for `target` (a room, a user name) from
    /// `client`'s network.
    pub fn key(&self, target: &str, client: IpAddr) -> String {
        format!("{}:{}:{target}:{}", self.prefix, self.kind, network_of(client))
    }

    /// The Redis key counting the tries for `target` from every network.
    pub fn target_key(&self, target: &str) -> String {
        format!("{}:{}-everywhere:{target}", self.prefix, self.kind)
    }

    /// Counts a try for `target` from `client` before its password is checked, and
    /// refuses it when the network's limit or the target's ceiling is used up.
    pub async fn reserve(&self, target: &str, client: IpAddr) -> Result<Reserved, AttemptsError> {
        let reserved = Reserved { network_key: self.key(target, client), target_key: self.target_key(target) };
        let mut redis = self.redis.clone();
        let (verdict, ttl, first): (u8, i64, u8) = RESERVE
            .key(&reserved.network_key)
            .key(&reserved.target_key)
            .arg(self.window.as_secs().max(1))
            .arg(self.limit)
            .arg(self.ceiling)
            .invoke_async(&mut redis)
            .await?;
        let retry_after_seconds = u64::try_from(ttl).unwrap_or(1).max(1);
        match verdict {
            0 => Ok(reserved),
            1 => Err(AttemptsError::TooMany { retry_after_seconds }),
            _ => Err(AttemptsError::Locked { retry_after_seconds, first: first == 1 }),
        }
    }

    /// Gives back a try that was not a wrong password.
    pub async fn refund(&self, reserved: Reserved) -> Result<(), AttemptsError> {
        let mut redis = self.redis.clone();
        REFUND.key(&reserved.network_key).key(&reserved.target_key).invoke_async::<()>(&mut redis).await?;
        Ok(())
    }
}

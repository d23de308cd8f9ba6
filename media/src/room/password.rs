//! A room's password: typed by a moderator to lock the room and by everyone who
//! joins it afterwards.
//!
//! A locked room keeps only a salted SHA-256 digest of the password, with a fresh
//! random salt per lock, and compares digests in constant time. A fast hash is enough
//! here: the digest lives only in memory for the life of the room, and wrong tries
//! are rate-limited elsewhere (Redis), not by the cost of hashing.

use super::RoomError;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A room password as typed: any 1–128 characters (room passwords may be short, as
/// in Jitsi). Its `Debug` never shows it.
#[derive(Clone)]
pub struct RoomPassword(String);

impl std::fmt::Debug for RoomPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoomPassword(…)")
    }
}

impl RoomPassword {
    /// The longest password, in characters (not bytes).
    pub const MAX_CHARS: usize = 128;

    /// Parses a password exactly as typed (spaces count: they are not trimmed).
    pub fn parse(value: &str) -> Result<Self, RoomError> {
        let n = value.chars().count();
        if n == 0 {
            return Err(RoomError::InvalidPassword("a password must not be empty"));
        }
        if n > Self::MAX_CHARS {
            return Err(RoomError::InvalidPassword("a password must be at most 128 characters long"));
        }
        Ok(Self(value.to_owned()))
    }

    /// The password as typed, to have the api check it against a scheduled meeting's.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// What a locked room keeps of its password: a salt and `SHA-256(salt ‖ password)`.
#[derive(Clone)]
#[cfg_attr(test, derive(PartialEq))]
pub(crate) struct PasswordLock {
    salt: [u8; 16],
    digest: [u8; 32],
}

impl std::fmt::Debug for PasswordLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordLock(…)")
    }
}

impl PasswordLock {
    /// Locks with `password` under a fresh salt drawn from `rng`.
    pub(crate) fn new(password: &RoomPassword, rng: &mut impl RngCore) -> Self {
        let mut salt = [0; 16];
        rng.fill_bytes(&mut salt);
        Self { salt, digest: digest(&salt, password) }
    }

    /// Whether `candidate` is the password this lock was made with, compared in
    /// constant time.
    pub(crate) fn opens_with(&self, candidate: &RoomPassword) -> bool {
        digest(&self.salt, candidate).ct_eq(&self.digest).into()
    }
}

fn digest(salt: &[u8; 16], password: &RoomPassword) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(password.0.as_bytes());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn password(value: &str) -> RoomPassword {
        RoomPassword::parse(value).unwrap()
    }

    #[test]
    fn a_lock_opens_with_its_password_and_nothing_else() {
        let lock = PasswordLock::new(&password("s3cret"), &mut StdRng::seed_from_u64(1));
        assert!(lock.opens_with(&password("s3cret")));
        for other in ["s3cret ", "S3cret", "s3cre", "x"] {
            assert!(!lock.opens_with(&password(other)), "{other}");
        }
    }

    #[test]
    fn the_same_password_locked_twice_gives_different_digests() {
        let mut rng = StdRng::seed_from_u64(1);
        let first = PasswordLock::new(&password("s3cret"), &mut rng);
        let second = PasswordLock::new(&password("s3cret"), &mut rng);
        assert_ne!(first.salt, second.salt);
        assert_ne!(first.digest, second.digest);
        assert!(second.opens_with(&password("s3cret")));
    }

    #[test]
    fn passwords_are_one_to_128_characters_kept_exactly_as_typed() {
        for ok in ["x", " padded ", &"é".repeat(128)] {
            assert_eq!(RoomPassword::parse(ok).map(|p| p.0), Ok(ok.to_owned()));
        }
        assert_eq!(
            RoomPassword::parse("").map(|_| ()),
            Err(RoomError::InvalidPassword("a password must not be empty"))
        );
        assert_eq!(
            RoomPassword::parse(&"x".repeat(129)).map(|_| ()),
            Err(RoomError::InvalidPassword("a password must be at most 128 characters long"))
        );
    }

    #[test]
    fn debug_output_never_shows_a_password() {
        let lock = PasswordLock::new(&password("hunter2"), &mut StdRng::seed_from_u64(1));
        assert_eq!(format!("{:?}", password("hunter2")), "RoomPassword(…)");
        assert_eq!(format!("{lock:?}"), "PasswordLock(…)");
    }
}

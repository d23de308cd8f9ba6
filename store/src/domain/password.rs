//! Passwords (internal accounts, room passwords): accepted in plain text at the edge,
//! kept only as argon2id hashes.

use super::FieldError;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Argon2, PasswordHash as Phc};

/// A password as typed: 1–128 characters (room passwords may be short, as in Jitsi;
/// account passwords are held to 8 by [`PlainPassword::parse_account`]).
#[derive(Clone)]
pub struct PlainPassword(String);

impl std::fmt::Debug for PlainPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlainPassword(…)")
    }
}

impl PlainPassword {
    /// A room password: any 1–128 characters.
    pub fn parse_room(field: &'static str, value: &str) -> Result<Self, FieldError> {
        Self::parse(field, value, 1)
    }

    /// An account password: 8–128 characters.
    pub fn parse_account(field: &'static str, value: &str) -> Result<Self, FieldError> {
        Self::parse(field, value, 8)
    }

    fn parse(field: &'static str, value: &str, min: usize) -> Result<Self, FieldError> {
        let n = value.chars().count();
        if n < min || n > 128 {
            return Err(FieldError::new(field, format!("{field} must be {min} to 128 characters long")));
        }
        Ok(Self(value.to_owned()))
    }

    /// Hashes with argon2id and a fresh salt. Deliberately slow (tens of ms): call
    /// it off the async executor.
    pub fn hash(&self) -> PasswordHash {
        let salt = SaltString::generate(&mut OsRng);
        let phc = Argon2::default()
            .hash_password(self.0.as_bytes(), &salt)
            .map(|h| h.to_string())
            // Argon2 with default parameters and a generated salt only fails on
            // absurd input lengths, which parse() has excluded.
            .unwrap_or_default();
        PasswordHash(phc)
    }
}

/// An argon2id hash in PHC string form.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a stored PHC string.
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string to store.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is the password this hash was made from.
    pub fn verify(&self, candidate: &str) -> bool {
        Phc::new(&self.0)
            .map(|parsed| Argon2::default().verify_password(candidate.as_bytes(), &parsed).is_ok())
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_argon2id_and_verifies() {
        let h = PlainPassword::parse_room("password", "s3cret").unwrap().hash();
        assert!(h.as_str().starts_with("$argon2id$"));
        assert!(h.verify("s3cret"));
        assert!(!h.verify("s3cret "));
    }

    #[test]
    fn account_passwords_have_a_minimum() {
        assert!(PlainPassword::parse_account("password", "short").is_err());
        assert!(PlainPassword::parse_account("password", "long enough").is_ok());
    }
}

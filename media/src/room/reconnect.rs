//! Coming back after a dropped connection: the token handed out at join, and how
//! long the seat waits for it.
//!
//! The room keeps only the token's SHA-256, so neither a `Debug` print nor a memory
//! dump of the rules gives anyone else's seat away.

use super::RoomError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::time::Duration;
use subtle::ConstantTimeEq;

/// How long an away participant keeps their seat (id, role, media state) before
/// [`super::Rooms::tick`] removes them.
pub const RECONNECT_GRACE: Duration = Duration::from_secs(30);

/// The secret that lets a participant take back their seat after their connection
/// drops: 256 random bits, written as 43 characters of unpadded base64url. Its
/// `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ReconnectToken(String);

impl std::fmt::Debug for ReconnectToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReconnectToken(…)")
    }
}

impl ReconnectToken {
    /// Parses a token as the client sent it back. Text that is not a token holds no
    /// seat, hence [`RoomError::ReconnectRefused`].
    pub fn parse(value: &str) -> Result<Self, RoomError> {
        match URL_SAFE_NO_PAD.decode(value) {
            Ok(bytes) if bytes.len() == 32 => Ok(Self(value.to_owned())),
            _ => Err(RoomError::ReconnectRefused),
        }
    }

    /// The token as text, to hand to the client (and to nobody else).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn generate(rng: &mut impl RngCore) -> Self {
        let mut bytes = [0; 32];
        rng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    pub(crate) fn digest(&self) -> TokenDigest {
        TokenDigest(Sha256::digest(self.0.as_bytes()).into())
    }
}

/// The SHA-256 of a reconnect token: what a seat remembers of it.
#[derive(Clone)]
#[cfg_attr(test, derive(PartialEq))]
pub(crate) struct TokenDigest([u8; 32]);

impl std::fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenDigest(…)")
    }
}

impl TokenDigest {
    /// Whether two digests are equal, in constant time (hash the token once, then
    /// compare it with every seat).
    pub(crate) fn is(&self, other: &TokenDigest) -> bool {
        other.0.ct_eq(&self.0).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn a_generated_token_reads_back_and_matches_only_its_digest() {
        let mut rng = StdRng::seed_from_u64(7);
        let token = ReconnectToken::generate(&mut rng);
        let other = ReconnectToken::generate(&mut rng);
        assert_eq!(token.as_str().len(), 43);
        assert_eq!(ReconnectToken::parse(token.as_str()), Ok(token.clone()));
        assert!(token.digest().is(&token.digest()));
        assert!(!token.digest().is(&other.digest()));
    }

    #[test]
    fn text_that_is_not_a_token_is_refused() {
        for bad in ["", "short", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", &"A".repeat(44)] {
            assert_eq!(ReconnectToken::parse(bad), Err(RoomError::ReconnectRefused), "{bad}");
        }
    }

    #[test]
    fn debug_output_never_shows_a_token() {
        let token = ReconnectToken::generate(&mut StdRng::seed_from_u64(7));
        assert_eq!(format!("{token:?}"), "ReconnectToken(…)");
        assert_eq!(format!("{:?}", token.digest()), "TokenDigest(…)");
    }
}

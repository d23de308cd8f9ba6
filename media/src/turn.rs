//! TURN credentials for coturn, minted per join: coturn's `use-auth-secret` scheme
//! (the "TURN REST API"). The username is `<expiry unix time>:<participant>`, the
//! password the base64 HMAC-SHA1 of the username under the secret shared with
//! coturn. Nothing is stored: coturn recomputes the password and checks the expiry.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha1::Sha1;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where clients find the TURN server, and the secret shared with it.
#[derive(Clone)]
pub struct TurnConfig {
    /// TURN URLs for clients, e.g. `turn:turn.example.com:3478?transport=udp`.
    pub urls: Vec<String>,
    /// coturn's `static-auth-secret`.
    pub secret: String,
    /// How long minted credentials stay valid.
    pub ttl: Duration,
}

impl std::fmt::Debug for TurnConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnConfig").field("urls", &self.urls).field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

/// One entry of a client's `RTCConfiguration.iceServers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IceServer {
    /// The TURN URLs.
    pub urls: Vec<String>,
    /// `<expiry>:<user>`.
    pub username: String,
    /// base64(HMAC-SHA1(secret, username)).
    pub credential: String,
}

impl TurnConfig {
    /// Credentials for `user`, valid until `now + ttl`.
    pub fn mint(&self, user: &str, now: SystemTime) -> IceServer {
        let expiry = now.duration_since(UNIX_EPOCH).unwrap_or_default() + self.ttl;
        let username = format!("{}:{user}", expiry.as_secs());
        // HMAC accepts keys of any length; new_from_slice cannot fail for it.
        let credential = match <Hmac<Sha1> as Mac>::new_from_slice(self.secret.as_bytes()) {
            Ok(mut mac) => {
                mac.update(username.as_bytes());
                STANDARD.encode(mac.finalize().into_bytes())
            }
            Err(_) => String::new(),
        };
        IceServer { urls: self.urls.clone(), username, credential }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_follow_coturns_rest_scheme() {
        let turn = TurnConfig {
            urls: vec!["turn:127.0.0.1:3478".into()],
            secret: "north".into(),
            ttl: Duration::from_secs(3600),
        };
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let server = turn.mint("ann", at);
        assert_eq!(server.username, "1700003600:ann");
        // echo -n '1700003600:ann' | openssl dgst -sha1 -hmac north -binary | base64
        assert_eq!(server.credential, "TwqKCcbzejRFa1sgGqGS7SEzCGg=");
        assert_ne!(turn.mint("bob", at).credential, server.credential);
    }
}

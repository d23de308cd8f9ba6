//! Each tenant's token-signing key: Ed25519, derived from the tenant's data key, so
//! it is never stored anywhere and is shredded with the tenant. Join tokens for API
//! clients and session tokens after a login are JWTs (`alg: EdDSA`) signed with it;
//! the public half is published as a JWKS for media nodes and API clients to check.

use crate::secrets::DataKey;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use confer_vocabulary::JoinClaims;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use sha2::{Digest, Sha256};

/// What the signing key is derived for; a new label would give every tenant a new key.
pub const PURPOSE: &str = "confer/token-signing/ed25519/v1";

/// Why a token could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum TokenSigningError {
    /// The key could not be put in the form the JWT library takes.
    #[error("the signing key cannot be encoded: {0}")]
    Key(String),
    /// The JWT library refused.
    #[error("the token cannot be signed: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// One tenant's signing key.
pub struct TokenSigner {
    encoding: jsonwebtoken::EncodingKey,
    public: [u8; 32],
    kid: String,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// The signing key of the tenant whose data key this is.
    pub fn of(data_key: &DataKey) -> Result<Self, TokenSigningError> {
        let key = SigningKey::from_bytes(&data_key.derive(PURPOSE));
        let der = key.to_pkcs8_der().map_err(|e| TokenSigningError::Key(e.to_string()))?;
        let public = key.verifying_key().to_bytes();
        // The key id names the public key: a thumbprint-like hash, stable for the key.
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(public)[..12]);
        Ok(Self { encoding: jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes()), public, kid })
    }

    /// The key's id (the JWT header's `kid`).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK (RFC 8037: `kty` OKP, `crv` Ed25519).
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(self.public),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        })
    }

    /// The JWKS that holds this key.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [self.jwk()] })
    }

    /// `claims`, signed.
    pub fn sign(&self, claims: &JoinClaims) -> Result<String, TokenSigningError> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::MasterKey;
    use confer_vocabulary::{LoginMethod, TOKEN_ISSUER, TokenKind, TokenUser};
    use uuid::Uuid;

    fn claims() -> JoinClaims {
        JoinClaims {
            iss: TOKEN_ISSUER.into(),
            aud: "acme".into(),
            sub: "u1".into(),
            iat: 1_700_000_000,
            exp: 4_000_000_000,
            jti: "j".into(),
            kind: TokenKind::Join,
            method: LoginMethod::Token,
            user: TokenUser { id: "u1".into(), name: "Ann".into(), email: None },
            moderator: true,
            room: Some("standup".into()),
        }
    }

    #[test]
    fn a_signed_token_verifies_with_the_published_key_and_not_with_another_tenants() {
        let master = MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([3u8; 32])).unwrap();
        let (a, _) = master.new_data_key(Uuid::now_v7());
        let (b, _) = master.new_data_key(Uuid::now_v7());
        let signer = TokenSigner::of(&a).unwrap();
        let token = signer.sign(&claims()).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(signer.kid()));

        let check = |jwk: serde_json::Value| {
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk).unwrap();
            let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
            let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
            validation.set_audience(&["acme"]);
            jsonwebtoken::decode::<JoinClaims>(&token, &key, &validation).map(|d| d.claims)
        };
        assert_eq!(check(signer.jwk()).unwrap(), claims());
        assert!(check(TokenSigner::of(&b).unwrap().jwk()).is_err());
        assert_eq!(TokenSigner::of(&a).unwrap().kid(), signer.kid(), "the key is derived, the same every time");
    }
}

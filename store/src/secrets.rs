//! Crypto-shredding. The operator's master key wraps one data key per tenant; the
//! data key seals the tenant's secrets (LDAP bind password, OIDC client secret)
//! before they enter an event. Deleting a tenant's wrapped key leaves its sealed
//! secrets in the immutable log unreadable.
//!
//! AES-256-GCM from RustCrypto with a random 96-bit nonce per seal; the tenant id is
//! the associated data, so a sealed secret copied to another tenant does not open.

use crate::domain::SealedSecret;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;
use uuid::Uuid;

/// Errors of sealing and opening.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The master key in the configuration is not 32 bytes of base64.
    #[error("CONFER_MASTER_KEY must be 32 bytes, base64-encoded (e.g. `openssl rand -base64 32`)")]
    BadMasterKey,
    /// Ciphertext that does not open with this key (tampered, or another tenant's).
    #[error("sealed secret does not open with this key")]
    DoesNotOpen,
}

fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(key.into());
    let mut nonce = [0u8; 12];
    rand::rng().fill_bytes(&mut nonce);
    // Encryption with a valid key and nonce cannot fail for inputs under 64 GiB.
    let ct = cipher.encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad }).unwrap_or_default();
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    out
}

fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SecretError> {
    if sealed.len() < 12 + 16 {
        return Err(SecretError::DoesNotOpen);
    }
    let (nonce, ct) = sealed.split_at(12);
    Aes256Gcm::new(key.into())
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| SecretError::DoesNotOpen)
}

/// The operator's key-encryption key.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

impl MasterKey {
    /// Parses the base64 form kept in `CONFER_MASTER_KEY`.
    pub fn from_base64(text: &str) -> Result<Self, SecretError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| SecretError::BadMasterKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SecretError::BadMasterKey)?;
        Ok(Self(key))
    }

    /// A fresh data key for `tenant`, and its wrapped form to store.
    pub fn new_data_key(&self, tenant: Uuid) -> (DataKey, Vec<u8>) {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        let wrapped = seal(&self.0, tenant.as_bytes(), &key);
        (DataKey { tenant, key }, wrapped)
    }

    /// A key for the platform's own secrets of one `purpose` (e.g. the ACME account
    /// key), derived from the master key with HKDF-SHA256; it seals as a data key
    /// does, for no tenant (the nil id).
    pub fn platform_key(&self, purpose: &str) -> DataKey {
        let mut key = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's limit of 255 * 32: expand cannot fail.
        let _ = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"confer.platform"), &self.0).expand(purpose.as_bytes(), &mut key);
        DataKey { tenant: Uuid::nil(), key }
    }

    /// Unwraps a stored data key of `tenant`.
    pub fn unwrap_data_key(&self, tenant: Uuid, wrapped: &[u8]) -> Result<DataKey, SecretError> {
        let bytes = open(&self.0, tenant.as_bytes(), wrapped)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SecretError::DoesNotOpen)?;
        Ok(DataKey { tenant, key })
    }
}

/// One tenant's data-encryption key.
pub struct DataKey {
    tenant: Uuid,
    key: [u8; 32],
}

impl DataKey {
    /// Seals `plaintext` for this tenant.
    pub fn seal(&self, plaintext: &str) -> SealedSecret {
        let sealed = seal(&self.key, self.tenant.as_bytes(), plaintext.as_bytes());
        SealedSecret(format!("v1.{}", URL_SAFE_NO_PAD.encode(sealed)))
    }

    /// A 32-byte key for one `purpose` (e.g. the token-signing key), derived from the
    /// data key with HKDF-SHA256 and the tenant id as salt. It exists only as long as
    /// the data key does: shredding the tenant shreds it too.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's limit of 255 * 32: expand cannot fail.
        let _ = hkdf::Hkdf::<sha2::Sha256>::new(Some(self.tenant.as_bytes()), &self.key)
            .expand(purpose.as_bytes(), &mut out);
        out
    }

    /// Opens a secret sealed for this tenant.
    pub fn open(&self, sealed: &SealedSecret) -> Result<String, SecretError> {
        let body = sealed.0.strip_prefix("v1.").ok_or(SecretError::DoesNotOpen)?;
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| SecretError::DoesNotOpen)?;
        String::from_utf8(open(&self.key, self.tenant.as_bytes(), &bytes)?).map_err(|_| SecretError::DoesNotOpen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master() -> MasterKey {
        MasterKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap()
    }

    #[test]
    fn platform_keys_differ_by_purpose_and_open_what_they_seal() {
        let m = master();
        let sealed = m.platform_key("acme-account").seal("credentials");
        assert_eq!(m.platform_key("acme-account").open(&sealed).unwrap(), "credentials");
        assert!(m.platform_key("other").open(&sealed).is_err());
        let (tenant_key, _) = m.new_data_key(Uuid::nil());
        assert!(tenant_key.open(&sealed).is_err());
    }

    #[test]
    fn sealed_secret_opens_only_for_its_tenant() {
        let m = master();
        let (a, wrapped_a) = m.new_data_key(Uuid::now_v7());
        let sealed = a.seal("hunter2");
        assert!(!sealed.0.contains("hunter2"));
        let a_again = m.unwrap_data_key(a.tenant, &wrapped_a).unwrap();
        assert_eq!(a_again.open(&sealed).unwrap(), "hunter2");
        let (b, _) = m.new_data_key(Uuid::now_v7());
        assert!(b.open(&sealed).is_err());
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_tenant_and_stay_the_same() {
        let m = master();
        let (a, wrapped) = m.new_data_key(Uuid::now_v7());
        let (b, _) = m.new_data_key(Uuid::now_v7());
        let again = m.unwrap_data_key(a.tenant, &wrapped).unwrap();
        assert_eq!(a.derive("x"), again.derive("x"));
        assert_ne!(a.derive("x"), a.derive("y"));
        assert_ne!(a.derive("x"), b.derive("x"));
    }

    #[test]
    fn master_key_must_be_32_bytes() {
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(MasterKey::from_base64("not base64!").is_err());
    }
}

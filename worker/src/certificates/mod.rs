//! Certificates for tenants' custom domains, from an ACME CA (Let's Encrypt; Pebble
//! in tests).
//!
//! The worker proves control of a name over HTTP-01: it posts the answer to each
//! challenge on a [`ChallengeBoard`] (in production [`RedisChallengeBoard`], which
//! every media node reads to answer `GET /.well-known/acme-challenge/<token>`), lets
//! the CA check, and takes the answer down. [`AcmeClient`] runs one order from start
//! to finish and returns an [`IssuedCertificate`]: the chain and its fresh key, already
//! checked to cover the name, with the facts the platform keeps about it (serial,
//! issuer, validity, when to renew). Every failure is an [`AcmeError`] that says which
//! step failed and whether trying later may help.
//!
//! ```no_run
//! # async fn demo(board: confer_worker::certificates::RedisChallengeBoard) -> Result<(), confer_worker::certificates::AcmeError> {
//! use confer_worker::certificates::{AcmeClient, AcmeSettings};
//! let client = AcmeClient::new(AcmeSettings {
//!     directory_url: "https://acme-v02.api.letsencrypt.org/directory".into(),
//!     root_pem: None,
//!     contact: Some("ops@example.com".into()),
//! });
//! let saved: Option<String> = None; // the credentials JSON kept from an earlier run
//! let (account, to_save) = client.account(saved.as_deref()).await?;
//! // ... when `to_save` is Some, store it (sealed: it holds the account key)
//! let certificate = client.order(&account, "meet.example.com", &board).await?;
//! println!("{} renews at {}", certificate.serial(), certificate.renew_at());
//! # let _ = to_save;
//! # Ok(())
//! # }
//! ```

mod acme_client;
mod challenge_board;
mod issued_certificate;

pub use acme_client::{AcmeClient, AcmeError, AcmeSettings, DEFAULT_POLL_TIMEOUT};
pub use challenge_board::{ANSWER_TTL, ChallengeBoard, RedisChallengeBoard};
pub use issued_certificate::{CertificateParseError, IssuedCertificate};

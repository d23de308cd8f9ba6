//! `AcmeClient`: one certificate for one hostname from an ACME CA (RFC 8555), proved
//! over HTTP-01, with [`instant_acme`].
//!
//! What instant-acme does for us, checked in its 0.8 source:
//! - every signed request that the CA refuses with `badNonce` is sent again with the
//!   fresh nonce of the refusal, up to three tries in all (Pebble refuses 5% of good
//!   nonces on purpose; Let's Encrypt does it for real now and then);
//! - [`Order::poll_ready`] and [`Order::poll_certificate`] wait as the CA's
//!   `Retry-After` header says when it sends one (instead of the policy's backoff),
//!   and give up at once with a timeout when that would be past the policy's deadline.
//!
//! What it leaves to us: bounding each request (its HTTP client has no timeout),
//! finding out *why* an order went invalid (the CA puts the detail on the challenge,
//! not on the order), and taking the answers down whatever happens.

use std::error::Error as StdError;
use std::path::PathBuf;
use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, Order,
    OrderStatus, Problem, RetryPolicy,
};
use rcgen::{CertificateParams, DistinguishedName, KeyPair, PKCS_ECDSA_P256_SHA256};

use super::{CertificateParseError, ChallengeBoard, IssuedCertificate};

/// How long [`AcmeClient::order`] waits for the CA to validate the challenges, and
/// again for it to issue, unless told otherwise ([`AcmeClient::with_poll_timeout`]).
pub const DEFAULT_POLL_TIMEOUT: Duration = Duration::from_secs(120);

/// The longest one request to the CA may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// First pause before asking the CA whether an order moved on; each next pause is
/// [`POLL_BACKOFF`] times longer (100, 200, 400 ms …): a CA that answers at once is
/// seen at once, and a slow one is asked less and less often.
const POLL_FIRST_DELAY: Duration = Duration::from_millis(100);
const POLL_BACKOFF: f32 = 2.0;

/// Which CA to use and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeSettings {
    /// The CA's directory, e.g. `https://acme-v02.api.letsencrypt.org/directory`.
    pub directory_url: String,
    /// A PEM file with the one root certificate to trust for the CA's own HTTPS API
    /// (a test CA such as Pebble). `None`: the platform's trust store.
    pub root_pem: Option<PathBuf>,
    /// Who the CA may write to about the account: an email address or a `mailto:` URI.
    pub contact: Option<String>,
}

/// An ACME client for one CA. Cheap to keep; holds no connection.
#[derive(Debug, Clone)]
pub struct AcmeClient {
    settings: AcmeSettings,
    poll_timeout: Duration,
}

/// What failed while getting a certificate, and whether trying again later may help
/// ([`AcmeError::is_transient`]). Messages never hold a private key or account key.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The root certificate of [`AcmeSettings::root_pem`] could not be read or used.
    #[error("cannot trust the ACME API root {path}: {source}")]
    TrustRoot {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: instant_acme::Error,
    },
    /// Saved account credentials could not be read, or belong to another CA.
    #[error("the saved ACME account credentials are unusable: {0}")]
    Credentials(String),
    /// Creating or loading the account failed.
    #[error("ACME account: {0}")]
    Account(#[source] instant_acme::Error),
    /// Creating the order, reading its authorizations or telling the CA a challenge is
    /// ready failed.
    #[error("ACME order for {hostname}: {source}")]
    Order {
        /// The name ordered.
        hostname: String,
        /// Why.
        #[source]
        source: instant_acme::Error,
    },
    /// The CA offers no HTTP-01 challenge for the name (e.g. a wildcard).
    #[error("the CA offers no http-01 challenge for {hostname}")]
    NoHttp01Challenge {
        /// The name ordered.
        hostname: String,
    },
    /// The CA checked and did not accept the answer: it could not reach the name, or
    /// got something else than the key authorization.
    #[error("the CA found the challenge for {hostname} invalid: {detail}")]
    ChallengeInvalid {
        /// The name ordered.
        hostname: String,
        /// The CA's problem type, e.g. `urn:ietf:params:acme:error:unauthorized`.
        problem_type: Option<String>,
        /// The CA's own words (e.g. what it got instead of the answer).
        detail: String,
    },
    /// The CA did not answer, or did not move on, in time.
    #[error("timed out after {after:?} waiting for the CA to {what}")]
    TimedOut {
        /// What was being waited for, e.g. "validate the challenge for meet.example.com".
        what: String,
        /// How long.
        after: Duration,
    },
    /// Making the certificate key or the CSR, or finalizing the order, failed.
    #[error("finalizing the ACME order for {hostname}: {reason}")]
    Finalize {
        /// The name ordered.
        hostname: String,
        /// Why.
        reason: String,
        /// Whether the CA (not us) failed.
        transient: bool,
    },
    /// Downloading the certificate failed.
    #[error("fetching the certificate for {hostname}: {source}")]
    Download {
        /// The name ordered.
        hostname: String,
        /// Why.
        #[source]
        source: instant_acme::Error,
    },
    /// The CA sent something that is not a certificate for the name and our key.
    #[error("the certificate the CA issued for {hostname} is unusable: {source}")]
    CertificateParse {
        /// The name ordered.
        hostname: String,
        /// Why.
        #[source]
        source: CertificateParseError,
    },
    /// The challenge board failed to post or take down an answer.
    #[error("could not {action}: {source}")]
    Board {
        /// What was being done.
        action: &'static str,
        /// Why.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl AcmeError {
    /// A board failure (for [`ChallengeBoard`] implementations).
    pub fn board(action: &'static str, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::Board { action, source: source.into() }
    }

    /// Whether trying the same thing later may work: the network, the CA being busy
    /// or rate limiting, a timeout, the board's store being away. Not transient: bad
    /// settings or credentials, the CA refusing the name, and a challenge the CA
    /// found invalid: that needs the name's DNS or site fixed first, and each failed
    /// validation counts against the CA's failed-validation limit (Let's Encrypt: 5
    /// per account and hostname per hour).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::TrustRoot { .. } | Self::Credentials(_) | Self::NoHttp01Challenge { .. } => false,
            Self::ChallengeInvalid { .. } | Self::CertificateParse { .. } => false,
            Self::Account(source) | Self::Order { source, .. } | Self::Download { source, .. } => {
                library_error_is_transient(source)
            }
            Self::Finalize { transient, .. } => *transient,
            Self::TimedOut { .. } | Self::Board { .. } => true,
        }
    }
}

/// Whether instant-acme's error is a passing one.
fn library_error_is_transient(error: &instant_acme::Error) -> bool {
    match error {
        instant_acme::Error::Api(problem) => problem_is_transient(problem),
        // Connection failures come as `Hyper` or (from hyper-util's client) `Other`;
        // garbage instead of JSON is most often a proxy's error page.
        instant_acme::Error::Hyper(_) | instant_acme::Error::Other(_) | instant_acme::Error::Json(_) => true,
        instant_acme::Error::Timeout(_) => true,
        _ => false,
    }
}

fn problem_is_transient(problem: &Problem) -> bool {
    const PASSING: [&str; 3] = [
        "urn:ietf:params:acme:error:badNonce",
        "urn:ietf:params:acme:error:rateLimited",
        "urn:ietf:params:acme:error:serverInternal",
    ];
    problem.r#type.as_deref().is_some_and(|t| PASSING.contains(&t)) || problem.status.is_some_and(|s| s >= 500)
}

impl AcmeClient {
    /// A client for the CA of `settings`, waiting up to [`DEFAULT_POLL_TIMEOUT`] for
    /// validation and again for issuance.
    pub fn new(settings: AcmeSettings) -> Self {
        // rustls needs a process-wide crypto provider when more than one is compiled
        // in; the workspace uses ring. Whoever installs first wins, so a `main` that
        // chose before us keeps its choice.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self { settings, poll_timeout: DEFAULT_POLL_TIMEOUT }
    }

    /// The same client, waiting up to `timeout` for validation and again for issuance.
    pub fn with_poll_timeout(mut self, timeout: Duration) -> Self {
        self.poll_timeout = timeout;
        self
    }

    /// Its settings.
    pub fn settings(&self) -> &AcmeSettings {
        &self.settings
    }

    /// The account: loaded from `saved` (the JSON this method returned before), or,
    /// when nothing is saved, created (terms of service agreed) and returned with its
    /// credentials as JSON to save. The credentials hold the account's private key:
    /// store them sealed.
    pub async fn account(&self, saved: Option<&str>) -> Result<(Account, Option<String>), AcmeError> {
        match saved {
            Some(json) => {
                let credentials = self.read_credentials(json)?;
                let loading = self.builder()?.from_credentials(credentials);
                let account = within("load the ACME account", loading, AcmeError::Account).await?;
                Ok((account, None))
            }
            None => {
                let contact = self
                    .settings
                    .contact
                    .as_deref()
                    .map(|c| if c.contains(':') { c.to_owned() } else { format!("mailto:{c}") });
                let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
                let new_account =
                    NewAccount { contact: &contacts, terms_of_service_agreed: true, only_return_existing: false };
                let creating = self.builder()?.create(&new_account, self.settings.directory_url.clone(), None);
                let (account, credentials) = within("create an ACME account", creating, AcmeError::Account).await?;
                let json = serde_json::to_string(&credentials)
                    .map_err(|_| AcmeError::Credentials("the new account's credentials do not serialize".into()))?;
                Ok((account, Some(json)))
            }
        }
    }

    /// Gets a certificate for `hostname` (lowercased, trailing dot dropped): a new
    /// order; for each authorization still pending, its HTTP-01 answer posted on
    /// `board` and the challenge marked ready; a wait until the CA has validated; a
    /// fresh ECDSA P-256 key and a CSR for the name; a wait for the certificate. The
    /// answers are taken down in the end, whether the order succeeded or not.
    pub async fn order(
        &self,
        account: &Account,
        hostname: &str,
        board: &impl ChallengeBoard,
    ) -> Result<IssuedCertificate, AcmeError> {
        self.order_reporting(account, hostname, board, |_| {}).await
    }

    /// [`AcmeClient::order`], calling `on_created` with the order's URL as soon as the
    /// CA has made it (to record it: with [`Account::order`] a later run can look at
    /// what became of it).
    pub async fn order_reporting(
        &self,
        account: &Account,
        hostname: &str,
        board: &impl ChallengeBoard,
        on_created: impl FnOnce(&str) + Send,
    ) -> Result<IssuedCertificate, AcmeError> {
        let hostname = hostname.trim().to_ascii_lowercase();
        let hostname = hostname.strip_suffix('.').unwrap_or(&hostname).to_owned();

        let identifiers = [Identifier::Dns(hostname.clone())];
        let new_order = NewOrder::new(&identifiers);
        let mut order = within(&format!("create an order for {hostname}"), account.new_order(&new_order), |source| {
            AcmeError::Order { hostname: hostname.clone(), source }
        })
        .await?;
        on_created(order.url());

        let mut posted = Vec::new();
        let outcome = self.complete(&mut order, &hostname, board, &mut posted).await;
        for token in &posted {
            if let Err(e) = board.take_down(token).await {
                // The answer expires by itself; an issued certificate is worth more
                // than a clean board.
                tracing::warn!(hostname = %hostname, error = %e, "an HTTP-01 answer stays up until it expires");
            }
        }
        outcome
    }

    /// The order from its authorizations to the checked certificate.
    async fn complete(
        &self,
        order: &mut Order,
        hostname: &str,
        board: &impl ChallengeBoard,
        posted: &mut Vec<String>,
    ) -> Result<IssuedCertificate, AcmeError> {
        let order_failed = |source| AcmeError::Order { hostname: hostname.to_owned(), source };

        if let Err(e) = answer_challenges(order, hostname, board, posted).await {
            if matches!(e, AcmeError::Board { .. }) {
                return Err(e);
            }
            // The CA may have looked already, and put its reason on the challenge.
            return Err(why_invalid(order, hostname).await.unwrap_or(e));
        }

        let policy = self.poll_policy();
        let validating = tokio::time::timeout(self.poll_timeout + REQUEST_TIMEOUT, order.poll_ready(&policy));
        let validated = match validating.await {
            Ok(Err(instant_acme::Error::Timeout(_))) | Err(_) => None,
            Ok(polled) => Some(polled),
        };
        let invalid = |order: &mut Order| {
            let state = order.state();
            state.status == OrderStatus::Invalid || state.error.is_some()
        };
        match validated {
            Some(Ok(OrderStatus::Ready)) => {}
            None => return Err(self.timed_out(format!("validate the challenge for {hostname}"))),
            Some(Err(e)) if !invalid(order) => return Err(order_failed(e)),
            Some(_) => {
                let unexplained = AcmeError::ChallengeInvalid {
                    hostname: hostname.to_owned(),
                    problem_type: None,
                    detail: "the order became invalid without saying why".into(),
                };
                return Err(why_invalid(order, hostname).await.unwrap_or(unexplained));
            }
        }

        let finalize_failed =
            |reason: String, transient| AcmeError::Finalize { hostname: hostname.to_owned(), reason, transient };
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| finalize_failed(e.to_string(), false))?;
        let mut params =
            CertificateParams::new(vec![hostname.to_owned()]).map_err(|e| finalize_failed(e.to_string(), false))?;
        params.distinguished_name = DistinguishedName::new();
        let csr = params.serialize_request(&key).map_err(|e| finalize_failed(e.to_string(), false))?;
        within(&format!("finalize the order for {hostname}"), order.finalize_csr(csr.der()), |e| {
            let transient = library_error_is_transient(&e);
            finalize_failed(e.to_string(), transient)
        })
        .await?;

        let issuing = tokio::time::timeout(self.poll_timeout + REQUEST_TIMEOUT, order.poll_certificate(&policy));
        let chain_pem = match issuing.await {
            Ok(Ok(chain)) => chain,
            Ok(Err(instant_acme::Error::Timeout(_))) | Err(_) => {
                return Err(self.timed_out(format!("issue the certificate for {hostname}")));
            }
            Ok(Err(source)) => return Err(AcmeError::Download { hostname: hostname.to_owned(), source }),
        };

        IssuedCertificate::from_pem(hostname, &chain_pem, &key.serialize_pem())
            .map_err(|source| AcmeError::CertificateParse { hostname: hostname.to_owned(), source })
    }

    fn poll_policy(&self) -> RetryPolicy {
        RetryPolicy::new().initial_delay(POLL_FIRST_DELAY).backoff(POLL_BACKOFF).timeout(self.poll_timeout)
    }

    fn timed_out(&self, what: String) -> AcmeError {
        AcmeError::TimedOut { what, after: self.poll_timeout }
    }

    fn builder(&self) -> Result<instant_acme::AccountBuilder, AcmeError> {
        match &self.settings.root_pem {
            Some(path) => {
                Account::builder_with_root(path).map_err(|source| AcmeError::TrustRoot { path: path.clone(), source })
            }
            None => Account::builder().map_err(AcmeError::Account),
        }
    }

    /// Reads saved credentials, refusing those of another CA (they would silently
    /// send this client's orders there).
    fn read_credentials(&self, json: &str) -> Result<AccountCredentials, AcmeError> {
        // serde's messages may quote the input, which holds the account key: keep
        // only where it went wrong.
        let unreadable = |e: serde_json::Error| {
            AcmeError::Credentials(format!("not valid credentials JSON ({:?} at column {})", e.classify(), e.column()))
        };
        let value: serde_json::Value = serde_json::from_str(json).map_err(unreadable)?;
        if let Some(directory) = value.get("directory").and_then(serde_json::Value::as_str)
            && directory != self.settings.directory_url
        {
            return Err(AcmeError::Credentials(format!(
                "they are for the CA at {directory}, not {}",
                self.settings.directory_url
            )));
        }
        serde_json::from_value(value).map_err(unreadable)
    }
}

/// For each authorization of the order still pending: its HTTP-01 answer posted (and
/// its token added to `posted`), then the challenge marked ready.
async fn answer_challenges(
    order: &mut Order,
    hostname: &str,
    board: &impl ChallengeBoard,
    posted: &mut Vec<String>,
) -> Result<(), AcmeError> {
    let order_failed = |source| AcmeError::Order { hostname: hostname.to_owned(), source };
    let mut authorizations = order.authorizations();
    loop {
        let mut authorization = match tokio::time::timeout(REQUEST_TIMEOUT, authorizations.next()).await {
            Ok(None) => return Ok(()),
            Ok(Some(Ok(authorization))) => authorization,
            Ok(Some(Err(source))) => return Err(order_failed(source)),
            Err(_) => {
                let what = format!("send an authorization for {hostname}");
                return Err(AcmeError::TimedOut { what, after: REQUEST_TIMEOUT });
            }
        };
        match authorization.status {
            AuthorizationStatus::Pending => {}
            // Reused from an earlier order of this account: nothing to prove.
            AuthorizationStatus::Valid => continue,
            status => {
                return Err(AcmeError::ChallengeInvalid {
                    hostname: hostname.to_owned(),
                    problem_type: None,
                    detail: format!("the authorization is {status:?}"),
                });
            }
        }
        let mut challenge = authorization
            .challenge(ChallengeType::Http01)
            .ok_or_else(|| AcmeError::NoHttp01Challenge { hostname: hostname.to_owned() })?;
        let key_authorization = challenge.key_authorization();
        // Recorded before posting: a post that failed half-way is taken down too.
        posted.push(challenge.token.clone());
        board.post(&challenge.token, key_authorization.as_str()).await?;
        within(&format!("take the challenge for {hostname}"), challenge.set_ready(), order_failed).await?;
    }
}

/// Why an order is invalid, in the CA's words: the error of a failed challenge
/// (where the CA says what it saw), else the order's own error; `None` when the CA
/// gave no reason (or could not be asked).
async fn why_invalid(order: &mut Order, hostname: &str) -> Option<AcmeError> {
    let order_problem = order.state().error.clone();
    let mut authorizations = order.authorizations();
    loop {
        let mut authorization = match tokio::time::timeout(REQUEST_TIMEOUT, authorizations.next()).await {
            Ok(Some(Ok(authorization))) => authorization,
            Ok(Some(Err(_))) => continue,
            Ok(None) | Err(_) => break,
        };
        let Ok(Ok(state)) = tokio::time::timeout(REQUEST_TIMEOUT, authorization.refresh()).await else { continue };
        if let Some(problem) = state.challenges.iter().find_map(|c| c.error.as_ref()) {
            return Some(challenge_invalid(hostname, problem));
        }
    }
    order_problem.map(|problem| challenge_invalid(hostname, &problem))
}

fn challenge_invalid(hostname: &str, problem: &Problem) -> AcmeError {
    AcmeError::ChallengeInvalid {
        hostname: hostname.to_owned(),
        problem_type: problem.r#type.clone(),
        detail: problem.detail.clone().unwrap_or_else(|| problem.to_string()),
    }
}

/// Runs one request to the CA for at most [`REQUEST_TIMEOUT`], mapping its error
/// with `wrap`; `what` names it in the timeout error.
async fn within<T>(
    what: &str,
    request: impl Future<Output = Result<T, instant_acme::Error>>,
    wrap: impl FnOnce(instant_acme::Error) -> AcmeError,
) -> Result<T, AcmeError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
        Ok(result) => result.map_err(wrap),
        Err(_) => Err(AcmeError::TimedOut { what: what.to_owned(), after: REQUEST_TIMEOUT }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> AcmeClient {
        AcmeClient::new(AcmeSettings { directory_url: "https://ca.example/dir".into(), root_pem: None, contact: None })
    }

    fn problem(kind: &str, status: u16) -> instant_acme::Error {
        let json = format!(r#"{{"type": "urn:ietf:params:acme:error:{kind}", "detail": "d", "status": {status}}}"#);
        instant_acme::Error::Api(serde_json::from_str(&json).unwrap())
    }

    #[test]
    fn a_busy_or_limiting_ca_is_worth_another_try_a_refusal_is_not() {
        let order = |source| AcmeError::Order { hostname: "meet.example.com".into(), source };
        assert!(order(problem("rateLimited", 429)).is_transient());
        assert!(order(problem("serverInternal", 500)).is_transient());
        assert!(order(problem("badNonce", 400)).is_transient());
        assert!(order(problem("somethingNew", 503)).is_transient());
        assert!(!order(problem("rejectedIdentifier", 400)).is_transient());
        assert!(!order(problem("unauthorized", 403)).is_transient());
        assert!(AcmeError::Account(instant_acme::Error::Timeout(None)).is_transient());
        assert!(AcmeError::TimedOut { what: "x".into(), after: REQUEST_TIMEOUT }.is_transient());
        assert!(AcmeError::board("post", "connection refused").is_transient());
        let invalid = AcmeError::ChallengeInvalid {
            hostname: "meet.example.com".into(),
            problem_type: Some("urn:ietf:params:acme:error:unauthorized".into()),
            detail: "404".into(),
        };
        assert!(!invalid.is_transient());
    }

    #[test]
    fn credentials_of_another_ca_are_refused() {
        let saved =
            r#"{"id": "https://other.example/acct/1", "key_pkcs8": "AAAA", "directory": "https://other.example/dir"}"#;
        let Err(err) = client().read_credentials(saved) else { panic!("accepted") };
        assert!(matches!(err, AcmeError::Credentials(_)), "{err}");
        assert!(err.to_string().contains("https://other.example/dir"), "{err}");
        assert!(!err.is_transient());
    }

    #[test]
    fn unreadable_credentials_never_echo_their_key() {
        // A key that is not base64 makes serde complain about the value itself.
        let saved = r#"{"id": "https://ca.example/acct/1", "key_pkcs8": "SECRET-KEY-MATERIAL!", "directory": "https://ca.example/dir"}"#;
        let Err(err) = client().read_credentials(saved) else { panic!("accepted") };
        assert!(matches!(err, AcmeError::Credentials(_)), "{err}");
        assert!(!err.to_string().contains("SECRET"), "{err}");
        assert!(!format!("{err:?}").contains("SECRET"), "{err:?}");
    }
}

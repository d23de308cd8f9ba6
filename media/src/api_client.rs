//! The node's one way to the api. Every call goes to the api's base URL with the
//! node's credential (`Authorization: Bearer`), through one HTTP client with
//! timeouts, and speaks the contract in `confer_vocabulary::node_api`: one typed
//! method per endpoint, and one error that says whether the api could not be
//! reached, refused (with its status and error code), or answered something this
//! node does not understand.
//!
//! An answer that does not decode into the contract's type is never patched up with
//! defaults: a renamed or missing field must not switch a rule off. Callers treat it
//! as they treat an api they cannot reach.

use confer_vocabulary::RoomName;
use confer_vocabulary::node_api::{
    ErrorBody, NodeSettings, OidcCallback, OidcStart, OidcStarted, PasswordLogin, PasswordTry, PasswordVerdict,
    RoomFact, RoomMeeting, Session, TenantCertificates, paths,
};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Longest wait to open a connection to the api.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for a read the node makes while someone waits (settings, a meeting,
/// certificates): a slow api must not hold a join for long.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for a room fact to be recorded.
const FACT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a login: the api asks the tenant's directory or OpenID provider.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(20);

/// The node's credential for the api, sent as `Authorization: Bearer` on every call.
/// Its `Debug` leaves the secret out.
#[derive(Clone)]
pub struct NodeCredential(String);

impl NodeCredential {
    /// The credential as configured (`CONFER_NODE_CREDENTIAL`).
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }
}

impl std::fmt::Debug for NodeCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeCredential(..)")
    }
}

/// Why a client for the api could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ApiClientSetupError {
    /// The api's URL is not an http(s) URL.
    #[error("the api's URL {0:?} is not an http(s) URL")]
    BadUrl(String),
    /// The HTTP client could not be built (its TLS roots, most likely).
    #[error("cannot build the HTTP client for the api: {0}")]
    Http(#[from] reqwest::Error),
}

/// Why a call to the api gave no answer the node can use.
#[derive(Debug, thiserror::Error)]
pub enum ApiCallError {
    /// No answer: the api is down, unreachable, or too slow.
    #[error("the api did not answer {path}: {source}")]
    Unreachable {
        /// The path called.
        path: String,
        /// What the transport said.
        #[source]
        source: reqwest::Error,
    },
    /// The api said no, in its error body.
    #[error("the api refused {path}: HTTP {status}, {}: {}", refusal.error.code, refusal.error.message)]
    Refused {
        /// The path called.
        path: String,
        /// The answer's status.
        status: StatusCode,
        /// What the api said.
        refusal: ErrorBody,
    },
    /// An answer that is not the contract's: a field renamed or missing, another
    /// server in the way, or an error without the api's error body.
    #[error("the api's answer to {path} (HTTP {status}) is not what this node understands: {detail}")]
    Unexpected {
        /// The path called.
        path: String,
        /// The answer's status.
        status: StatusCode,
        /// Why it does not decode.
        detail: String,
    },
}

impl ApiCallError {
    /// The answer's status, when there was an answer.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Unreachable { .. } => None,
            Self::Refused { status, .. } | Self::Unexpected { status, .. } => Some(*status),
        }
    }

    /// The api's error body, when it refused.
    pub fn refusal(&self) -> Option<&ErrorBody> {
        match self {
            Self::Refused { refusal, .. } => Some(refusal),
            _ => None,
        }
    }

    /// The api's error code, when it refused.
    pub fn refusal_code(&self) -> Option<&str> {
        self.refusal().map(|r| r.error.code.as_str())
    }
}

/// The api, as this node calls it.
#[derive(Debug)]
pub struct ApiClient {
    /// The api's URL without a trailing slash; paths are appended.
    base: String,
    credential: NodeCredential,
    http: reqwest::Client,
}

/// A call's answer before decoding: its status and body.
struct Answer {
    path: String,
    status: StatusCode,
    body: bytes::Bytes,
}

impl Answer {
    fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    fn unexpected(self, detail: String) -> ApiCallError {
        ApiCallError::Unexpected { path: self.path, status: self.status, detail }
    }

    /// A success, decoded as the contract's `T`; otherwise the refusal.
    fn success<T: DeserializeOwned>(self) -> Result<T, ApiCallError> {
        if !self.status.is_success() {
            return Err(self.refused());
        }
        self.parse().map_err(|e| self.unexpected(without_quoted_text(&e.to_string())))
    }

    /// What a status that is not a success means: the api's refusal, when its body
    /// says so.
    fn refused(self) -> ApiCallError {
        match self.parse::<ErrorBody>() {
            Ok(refusal) => ApiCallError::Refused { path: self.path, status: self.status, refusal },
            Err(e) => self
                .unexpected(format!("an error without the api's error body ({})", without_quoted_text(&e.to_string()))),
        }
    }
}

/// serde's words about why an answer does not decode, without the answer's own text:
/// a value in the wrong place may be a token or a private key, and this goes to the
/// log. Quoted strings become `"…"`; field names (in backticks) stay.
fn without_quoted_text(message: &str) -> String {
    let mut kept = String::with_capacity(message.len());
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        kept.push(c);
        if c == '"' {
            let mut escaped = false;
            for c in chars.by_ref() {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => break,
                    _ => {}
                }
            }
            kept.push_str("…\"");
        }
    }
    kept
}

impl ApiClient {
    /// Calls the api at `api_url` (e.g. `https://api.confer.example`) with `credential`.
    pub fn new(api_url: &str, credential: NodeCredential) -> Result<Self, ApiClientSetupError> {
        let base = api_url.trim().trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base).map_err(|_| ApiClientSetupError::BadUrl(api_url.to_owned()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ApiClientSetupError::BadUrl(api_url.to_owned()));
        }
        let http = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT).timeout(LOGIN_TIMEOUT).build()?;
        Ok(Self { base, credential, http })
    }

    /// The api's URL of `path` (a path of `confer_vocabulary::node_api::paths`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends one request and reads the whole answer.
    async fn call(
        &self,
        method: Method,
        path: String,
        body: Option<&(impl Serialize + Sync)>,
        timeout: Duration,
        idempotency_key: Option<&str>,
    ) -> Result<Answer, ApiCallError> {
        let mut request = self.http.request(method, self.url(&path)).bearer_auth(&self.credential.0).timeout(timeout);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let unreachable = |source| ApiCallError::Unreachable { path: path.clone(), source };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unreachable)?;
        Ok(Answer { path, status, body })
    }

    async fn get(&self, path: String) -> Result<Answer, ApiCallError> {
        self.call(Method::GET, path, None::<&()>, READ_TIMEOUT, None).await
    }

    /// The tenant's settings, as far as the node applies them.
    pub async fn settings(&self) -> Result<NodeSettings, ApiCallError> {
        self.get(paths::SETTINGS.to_owned()).await?.success()
    }

    /// The meeting on now in `room`; none when the api knows of none (404).
    pub async fn meeting_on_now(&self, room: &RoomName) -> Result<Option<RoomMeeting>, ApiCallError> {
        let answer = self.get(paths::room_meeting(room)).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        answer.success().map(Some)
    }

    /// Whether `password` is the password of the meeting on now in `room`; none when
    /// no meeting is on any more (404).
    pub async fn meeting_password_matches(
        &self,
        room: &RoomName,
        password: &str,
    ) -> Result<Option<bool>, ApiCallError> {
        let attempt = PasswordTry { password: password.to_owned() };
        let answer =
            self.call(Method::POST, paths::room_meeting_password(room), Some(&attempt), READ_TIMEOUT, None).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        answer.success::<PasswordVerdict>().map(|verdict| Some(verdict.matches))
    }

    /// A login with a user name and password (internal accounts, LDAP).
    pub async fn password_login(&self, login: &PasswordLogin) -> Result<Session, ApiCallError> {
        self.call(Method::POST, paths::SESSIONS.to_owned(), Some(login), LOGIN_TIMEOUT, None).await?.success()
    }

    /// The start of an OpenID login: where to send the browser.
    pub async fn start_oidc_login(&self, start: &OidcStart) -> Result<OidcStarted, ApiCallError> {
        self.call(Method::POST, paths::OIDC_SESSIONS.to_owned(), Some(start), LOGIN_TIMEOUT, None).await?.success()
    }

    /// The end of an OpenID login: the provider's answer, checked by the api.
    pub async fn finish_oidc_login(&self, callback: &OidcCallback) -> Result<Session, ApiCallError> {
        self.call(Method::POST, paths::OIDC_CALLBACK.to_owned(), Some(callback), LOGIN_TIMEOUT, None).await?.success()
    }

    /// Records `fact` (its id as `Idempotency-Key`). Any success is enough: the node
    /// does not read what the api recorded, so a retry never hangs on its shape.
    pub async fn record_room_fact(&self, fact: &RoomFact) -> Result<(), ApiCallError> {
        let id = fact.id();
        let answer = self.call(Method::POST, paths::ROOM_FACTS.to_owned(), Some(fact), FACT_TIMEOUT, Some(&id)).await?;
        if answer.status.is_success() { Ok(()) } else { Err(answer.refused()) }
    }

    /// The tenant's custom-domain certificates, private keys included.
    pub async fn certificates(&self) -> Result<TenantCertificates, ApiCallError> {
        self.get(paths::CERTIFICATES.to_owned()).await?.success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            path: paths::SETTINGS.to_owned(),
            status: StatusCode::from_u16(status).expect("a status"),
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    #[test]
    fn settings_with_a_renamed_field_are_an_unexpected_answer_not_a_default() {
        let renamed = r#"{"auth":"internal","guests":true,"max_participants":10,"lobby":false}"#;
        let error = answer(200, renamed).success::<NodeSettings>().expect_err("no settings");
        assert!(matches!(error, ApiCallError::Unexpected { .. }), "{error}");
        assert!(error.to_string().contains("guests_allowed"), "{error}");
    }

    #[test]
    fn an_unexpected_answer_names_the_field_but_never_quotes_the_answer() {
        let misplaced =
            r#"{"auth":"internal","guests_allowed":"eyJ.secret \"quoted\" token","max_participants":10,"lobby":false}"#;
        let error = answer(200, misplaced).success::<NodeSettings>().expect_err("no settings");
        let shown = error.to_string();
        assert!(
            !shown.contains("secret") && !shown.contains("quoted") && shown.contains("expected a boolean"),
            "{shown}"
        );
    }

    #[test]
    fn a_refusal_carries_the_apis_status_and_code() {
        let body = r#"{"error":{"code":"invalid_credentials","message":"wrong","field":null}}"#;
        let error = answer(403, body).success::<Session>().expect_err("refused");
        assert_eq!((error.status(), error.refusal_code()), (Some(StatusCode::FORBIDDEN), Some("invalid_credentials")));
    }

    #[test]
    fn an_error_without_the_apis_body_is_unexpected() {
        let error = answer(502, "<html>bad gateway</html>").success::<NodeSettings>().expect_err("no settings");
        assert!(matches!(error, ApiCallError::Unexpected { .. }) && error.refusal_code().is_none(), "{error}");
        assert_eq!(error.status(), Some(StatusCode::BAD_GATEWAY));
    }

    #[test]
    fn only_http_urls_make_a_client_and_the_credential_stays_out_of_debug() {
        assert!(ApiClient::new("ftp://api.example", NodeCredential::new("k")).is_err());
        assert!(ApiClient::new("not a url", NodeCredential::new("k")).is_err());
        let client = ApiClient::new("http://127.0.0.1:8080/", NodeCredential::new("cfr_secret")).expect("a client");
        assert_eq!(client.url(paths::SETTINGS), "http://127.0.0.1:8080/v1/settings");
        assert!(!format!("{client:?}").contains("cfr_secret"));
    }
}

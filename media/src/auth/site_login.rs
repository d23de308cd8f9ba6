//! Logging in on the tenant's site. The site asks the api (through the node's
//! [`ApiClient`], with the node's credential) to check what the person typed, or the
//! OpenID provider's answer, and keeps
//! the session token it gets back in an HttpOnly cookie (`Secure` over TLS,
//! `SameSite=Lax`, the whole site as its path). Signaling reads the cookie when the
//! WebSocket opens.
//!
//! - `GET /auth/session`: how this site lets people in (login back-end, guests,
//!   lobby), and who is logged in.
//! - `POST /auth/login` `{username, password}`: internal accounts and LDAP.
//! - `POST /auth/logout`: forgets the session.
//! - `GET /auth/oidc/start?next=/room`, `GET /auth/oidc/callback`: OpenID Connect.

use super::token_check::TokenCheck;
use crate::api_client::{ApiCallError, ApiClient};
use crate::password_attempts::{AttemptsError, PasswordAttempts};
use crate::signaling::Hub;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieAge};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use confer_vocabulary::SESSION_COOKIE;
use confer_vocabulary::node_api::{ErrorBody, OidcCallback, OidcStart, PasswordLogin, Session};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The cookie that keeps an OpenID login's sealed state while the browser is at the provider.
const OIDC_COOKIE: &str = "confer_oidc";
/// Where to go after an OpenID login.
const NEXT_COOKIE: &str = "confer_next";

/// What the site needs to log people in.
pub struct SiteLogin {
    api: Arc<ApiClient>,
    /// The site's public URL, when configured (else taken from each request).
    site_url: Option<String>,
    tokens: Arc<TokenCheck>,
    /// Wrong passwords per user name and address (Redis), when there is a Redis.
    attempts: std::sync::OnceLock<PasswordAttempts>,
}

impl SiteLogin {
    /// Logins checked by `api`.
    pub fn new(api: Arc<ApiClient>, site_url: Option<String>, tokens: Arc<TokenCheck>) -> Self {
        Self {
            api,
            site_url: site_url.map(|u| u.trim_end_matches('/').to_owned()),
            tokens,
            attempts: std::sync::OnceLock::new(),
        }
    }

    /// Counts wrong passwords per user name and client address from now on (once).
    pub fn limit_attempts(&self, attempts: PasswordAttempts) {
        let _ = self.attempts.set(attempts.for_logins());
    }

    /// The site's origin: the configured URL, else the request's own (never a
    /// client's `X-Forwarded-Host`: `crate::site_origin`).
    fn origin(&self, req: &HttpRequest) -> String {
        crate::site_origin::site_origin(req, self.site_url.as_deref()).unwrap_or_default()
    }

    fn secure(&self, req: &HttpRequest) -> bool {
        self.origin(req).starts_with("https://")
    }
}

/// Registers the login routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/session", web::get().to(session))
        .route("/auth/login", web::post().to(login))
        .route("/auth/logout", web::post().to(logout))
        .route("/auth/oidc/start", web::get().to(oidc_start))
        .route("/auth/oidc/callback", web::get().to(oidc_callback));
}

fn error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": {"code": code, "message": message}}))
}

fn cookie<'a>(name: &'a str, value: String, path: &'a str, secure: bool, max_age: CookieAge) -> Cookie<'a> {
    Cookie::build(name, value)
        .path(path)
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(max_age)
        .finish()
}

/// The cookie that keeps `session`'s token, for as long as the token lasts.
fn session_cookie(session: &Session, secure: bool) -> Cookie<'static> {
    let seconds = (session.expires_at.timestamp() - chrono::Utc::now().timestamp()).max(0);
    cookie(SESSION_COOKIE, session.token.clone(), "/", secure, CookieAge::seconds(seconds)).into_owned()
}

/// What the site answers when the api gave no usable answer to a login: it may come
/// back, so the person is asked to try again.
fn logins_unavailable(e: &ApiCallError) -> HttpResponse {
    tracing::warn!(error = %e, "the api did not answer a login");
    error(StatusCode::SERVICE_UNAVAILABLE, "try_again_later", "logins are unavailable right now; try again")
}

/// The api's refusal, passed on to the browser as the api wrote it.
fn passed_on(status: reqwest::StatusCode, refusal: &ErrorBody) -> HttpResponse {
    let status = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    HttpResponse::build(status).json(refusal)
}

/// `GET /auth/session`: `{auth, guests_allowed, lobby, user}`; `user` is null unless
/// a valid session cookie came with the request.
async fn session(req: HttpRequest, hub: web::Data<Arc<Hub>>, login: Option<web::Data<SiteLogin>>) -> HttpResponse {
    let site = hub.site_access();
    let mut user = Value::Null;
    if let (Some(login), Some(cookie)) = (login, req.cookie(SESSION_COOKIE))
        && let Ok(claims) = login.tokens.check_session(cookie.value()).await
    {
        user = json!({"id": claims.user.id, "name": claims.user.name, "email": claims.user.email,
                      "moderator": claims.moderator, "method": claims.method});
    }
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({"auth": site.auth, "guests_allowed": site.guests_allowed, "lobby": site.lobby, "user": user}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordForm {
    username: String,
    password: String,
}

/// `POST /auth/login`: checks a user name and password with the tenant's back-end.
async fn login(req: HttpRequest, form: web::Json<PasswordForm>, login: Option<web::Data<SiteLogin>>) -> HttpResponse {
    let Some(login) = login else {
        return error(StatusCode::NOT_FOUND, "login_unavailable", "this node has no api to log people in with");
    };
    let form = form.into_inner();
    // Guessing is limited per user name and address, as room passwords are.
    let counted = login.attempts.get().zip(crate::client_address::client_address(&req));
    let who = form.username.trim().to_lowercase();
    if who.len() > 256 {
        return error(StatusCode::FORBIDDEN, "invalid_credentials", "the user name or password is wrong");
    }
    // Counted before the api is asked (given back unless the password was wrong),
    // so that parallel tries cannot all pass the limit.
    let reserved = match counted {
        Some((attempts, client)) => match attempts.reserve(&who, client).await {
            Ok(reserved) => Some((attempts, reserved)),
            Err(e) => {
                if let AttemptsError::Locked { first: true, retry_after_seconds } = e {
                    tracing::warn!(%client, retry_after_seconds, "login tries for a user name locked: too many from many networks");
                }
                return too_many(&e);
            }
        },
        None => None,
    };
    let attempt = PasswordLogin { username: form.username, password: form.password };
    let outcome = login.api.password_login(&attempt).await;
    let wrong =
        matches!(&outcome, Err(ApiCallError::Refused { refusal, .. }) if refusal.error.code == "invalid_credentials");
    if let Some((attempts, reserved)) = reserved
        && !wrong
        && let Err(e) = attempts.refund(reserved).await
    {
        tracing::warn!(error = %e, "a login try that was not wrong could not be given back");
    }
    match outcome {
        Ok(session) => HttpResponse::Ok()
            .cookie(session_cookie(&session, login.secure(&req)))
            .json(json!({"user": session.user, "moderator": session.moderator, "method": session.method})),
        Err(ApiCallError::Refused { status, refusal, .. }) => {
            tracing::info!(%status, code = %refusal.error.code, "a login was refused");
            passed_on(status, &refusal)
        }
        Err(e) => logins_unavailable(&e),
    }
}

fn too_many(e: &AttemptsError) -> HttpResponse {
    match e {
        AttemptsError::TooMany { retry_after_seconds } | AttemptsError::Locked { retry_after_seconds, .. } => {
            HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", retry_after_seconds.to_string()))
                .json(json!({"error": {"code": "too_many_attempts", "message": e.to_string()}}))
        }
        AttemptsError::Unavailable(_) => error(StatusCode::SERVICE_UNAVAILABLE, "try_again_later", &e.to_string()),
    }
}

/// `POST /auth/logout`: the session ends on every node of the tenant (its id is
/// recorded in Redis until it would have expired), and the cookie is cleared.
async fn logout(req: HttpRequest, login: Option<web::Data<SiteLogin>>) -> HttpResponse {
    let secure = login.as_ref().is_some_and(|l| l.secure(&req));
    if let (Some(login), Some(session)) = (&login, req.cookie(SESSION_COOKIE))
        && let Some(revoked) = login.tokens.logouts()
        && let Ok(claims) = login.tokens.check_session(session.value()).await
    {
        let left = u64::try_from(claims.exp - chrono::Utc::now().timestamp()).unwrap_or(0) + 60;
        if let Err(e) = revoked.revoke(&claims.jti, Duration::from_secs(left)).await {
            tracing::warn!(error = %e, "a logout could not be recorded");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "try_again_later",
                "logging out is unavailable right now; try again",
            );
        }
        tracing::info!(jti = %claims.jti, user = %claims.sub, "logged out");
    }
    let mut gone = cookie(SESSION_COOKIE, String::new(), "/", secure, CookieAge::ZERO);
    gone.make_removal();
    HttpResponse::NoContent().cookie(gone).finish()
}

/// A path on this site to return to, or `/`: never another site (an open redirect).
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') && p.len() < 512 => p.to_owned(),
        _ => "/".to_owned(),
    }
}

#[derive(Deserialize)]
struct StartQuery {
    next: Option<String>,
}

/// `GET /auth/oidc/start?next=/room`: sends the browser to the OpenID provider.
async fn oidc_start(
    req: HttpRequest,
    query: web::Query<StartQuery>,
    login: Option<web::Data<SiteLogin>>,
) -> HttpResponse {
    let Some(login) = login else {
        return error(StatusCode::NOT_FOUND, "login_unavailable", "this node has no api to log people in with");
    };
    let redirect_uri = format!("{}/auth/oidc/callback", login.origin(&req));
    let started = match login.api.start_oidc_login(&OidcStart { redirect_uri }).await {
        Ok(started) => started,
        Err(e) => {
            tracing::warn!(error = %e, "an OpenID login could not start");
            return login_failed(refusal_text(&e), &local_path(query.next.as_deref()));
        }
    };
    let secure = login.secure(&req);
    let age = CookieAge::minutes(10);
    HttpResponse::Found()
        .insert_header(("Location", started.authorization_url))
        .cookie(cookie(OIDC_COOKIE, started.pending, "/auth/oidc", secure, age))
        .cookie(cookie(NEXT_COOKIE, local_path(query.next.as_deref()), "/auth/oidc", secure, age))
        .finish()
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/oidc/callback`: the provider sent the browser back. Whatever the
/// outcome, the login's own cookies are cleared.
async fn oidc_callback(
    req: HttpRequest,
    query: web::Query<CallbackQuery>,
    login: Option<web::Data<SiteLogin>>,
) -> HttpResponse {
    let Some(login) = login else {
        return error(StatusCode::NOT_FOUND, "login_unavailable", "this node has no api to log people in with");
    };
    let query = query.into_inner();
    let secure = login.secure(&req);
    let next = local_path(req.cookie(NEXT_COOKIE).as_ref().map(|c| c.value()));
    let pending = req.cookie(OIDC_COOKIE).map(|c| c.value().to_owned()).unwrap_or_default();
    let mut answer = if let Some(code) = query.error {
        // The provider's own description is not shown: anyone can put text in a link.
        tracing::info!(error = %code, "the OpenID provider refused a login");
        login_failed("The provider did not log you in.", &next)
    } else {
        let callback =
            OidcCallback { pending, state: query.state.unwrap_or_default(), code: query.code.unwrap_or_default() };
        match login.api.finish_oidc_login(&callback).await {
            Ok(session) => {
                let mut ok = HttpResponse::SeeOther();
                ok.insert_header(("Location", next.clone()));
                ok.cookie(session_cookie(&session, secure));
                ok.finish()
            }
            Err(e) => {
                tracing::info!(error = %e, "an OpenID login was refused");
                login_failed(refusal_text(&e), &next)
            }
        }
    };
    for name in [OIDC_COOKIE, NEXT_COOKIE] {
        let mut gone = cookie(name, String::new(), "/auth/oidc", secure, CookieAge::ZERO);
        gone.make_removal();
        let _ = answer.add_cookie(&gone);
    }
    answer
}

/// What a person is told when an OpenID login does not succeed: by the api's code
/// when it refused, else that the login cannot be done right now.
fn refusal_text(e: &ApiCallError) -> &'static str {
    match e.refusal_code().unwrap_or("try_again_later") {
        "invalid_login_state" => "This login was not started here, or took too long. Please start again.",
        "invalid_id_token" => "The provider's answer did not check out, so you were not logged in.",
        "login_refused" => "The provider refused the login.",
        "provider_unavailable" | "try_again_later" => {
            "The login provider cannot be reached right now. Try again shortly."
        }
        "login_method_not_enabled" => "This site does not log people in with an OpenID provider.",
        _ => "The login did not succeed.",
    }
}

/// A page that says why a login failed, with a way back to where the person was going.
fn login_failed(message: &str, next: &str) -> HttpResponse {
    let escape =
        |text: &str| text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    HttpResponse::Forbidden().content_type("text/html; charset=utf-8").body(format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Login failed</title>\
         <link rel=\"stylesheet\" href=\"/assets/style.css\"><main><h1>Login failed</h1>\
         <p id=\"login-error\" role=\"alert\">{}</p><p><a id=\"back\" href=\"{}\">Back</a></p></main></html>",
        escape(message),
        escape(next),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(local_path(Some("/standup")), "/standup");
        assert_eq!(local_path(Some("//evil.example/x")), "/");
        assert_eq!(local_path(Some("https://evil.example/")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(None), "/");
    }
}

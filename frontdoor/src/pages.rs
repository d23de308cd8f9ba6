//! What the front door answers itself: a site nobody serves (404), a request it
//! cannot read (400), and a site that is starting or could not start (503, which
//! says so and retries by itself). HTML for people; JSON `{"error": {code,
//! message}}` for clients that ask for it.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::{Response, StatusCode, header};
use std::time::Duration;

/// A response body the proxy can return: a node's, or one of these pages.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// A page of the front door's own.
pub struct Page {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    message: String,
    retry_after: Option<Duration>,
}

impl Page {
    /// 404: no tenant serves `host`.
    pub fn unknown_site(host: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "unknown_site",
            title: "No meeting site here",
            message: format!("{host} is not the address of a Confer meeting site. Check the link you were given."),
            retry_after: None,
        }
    }

    /// 400: the request's `Host` cannot be read.
    pub fn bad_host(why: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "bad_host",
            title: "Bad request",
            message: format!("The request's Host is not a site's name: {why}."),
            retry_after: None,
        }
    }

    /// 503: the site cannot be served now; `message` says why, and the page retries.
    pub fn unavailable(message: String, retry_after: Duration) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "site_unavailable",
            title: "The meeting site is not available yet",
            message,
            retry_after: Some(retry_after),
        }
    }

    /// 502: the node answered something that is not HTTP, or hung up.
    pub fn bad_gateway() -> Self {
        Self {
            status: StatusCode::BAD_GATEWAY,
            code: "node_failed",
            title: "The meeting site did not answer",
            message: "The meeting site did not answer this request. Reload the page.".into(),
            retry_after: None,
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response, JSON when `wants_json`.
    pub fn into_response(self, wants_json: bool) -> Response<Body> {
        let retry = self.retry_after.map(|d| d.as_secs().max(1));
        let (content_type, text) = if wants_json {
            let body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
            ("application/json", body.to_string())
        } else {
            let refresh = retry.map(|s| format!(r#"<meta http-equiv="refresh" content="{s}">"#)).unwrap_or_default();
            let html = format!(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>{refresh}\
                 <meta name=\"viewport\" content=\"width=device-width\"></head><body style=\"font-family:sans-serif;\
                 max-width:40em;margin:4em auto\"><h1>{title}</h1><p>{message}</p>{again}</body></html>",
                title = self.title,
                message = escape(&self.message),
                again = if retry.is_some() { "<p>This page tries again by itself.</p>" } else { "" },
            );
            ("text/html; charset=utf-8", html)
        };
        let mut response = Response::new(Full::new(Bytes::from(text)).map_err(|never| match never {}).boxed());
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
        headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
        headers.insert("x-confer-error", header::HeaderValue::from_static(self.code));
        if let Some(secs) = retry {
            headers.insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        response
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_what_the_client_sent() {
        let page = Page::unknown_site("<script>.example");
        assert!(page.message.contains("<script>"));
        let response = page.into_response(false);
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()["x-confer-error"], "unknown_site");
    }

    #[test]
    fn unavailable_says_when_to_retry() {
        let response = Page::unavailable("starting".into(), Duration::from_millis(200)).into_response(true);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
}

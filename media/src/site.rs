//! The tenant's meeting site: the landing page, the meeting page at `/<room>`, and
//! its script and styles. The files live in `web/` and are compiled into the
//! binary, so a node is one file to deploy.

use crate::room::RoomName;
use actix_web::{HttpRequest, HttpResponse, web};
use std::sync::{Arc, RwLock};

const INDEX: &str = include_str!("../../web/index.html");
const MEETING: &str = include_str!("../../web/meeting.html");
const MEETING_JS: &str = include_str!("../../web/meeting.js");
const STYLE: &str = include_str!("../../web/style.css");

/// The page's Content-Security-Policy before its `frame-ancestors`.
const CSP: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:";

/// Who may show the pages in a frame: the site itself, and the sites the tenant
/// lists (`embed_origins`, from its settings). Shared by the settings follower
/// (which writes it, rarely) and the page handlers (app data), which read the
/// headers made when the list changed; the lock is never held across an await.
#[derive(Debug, Clone, Default)]
pub struct Embedding(Arc<RwLock<FramePolicy>>);

/// The headers for one list of sites.
#[derive(Debug, Clone)]
struct FramePolicy {
    /// The whole Content-Security-Policy, its `frame-ancestors` included.
    csp: Arc<str>,
    /// No site is listed: `X-Frame-Options` (which cannot list sites) is sent too.
    alone: bool,
}

impl Default for FramePolicy {
    fn default() -> Self {
        Self::for_sites(&[])
    }
}

impl FramePolicy {
    fn for_sites(origins: &[String]) -> Self {
        // Only what reads as an origin is written into the header.
        let listed: Vec<&str> = origins
            .iter()
            .map(String::as_str)
            .filter(|o| o.bytes().all(|b| b.is_ascii_alphanumeric() || b".:/-[]".contains(&b)))
            .collect();
        let sites: String = listed.iter().map(|o| format!(" {o}")).collect();
        Self { csp: format!("{CSP}; frame-ancestors 'self'{sites}").into(), alone: listed.is_empty() }
    }
}

impl Embedding {
    /// The tenant's sites from now on.
    pub fn set(&self, origins: &[String]) {
        let policy = FramePolicy::for_sites(origins);
        match self.0.write() {
            Ok(mut current) => *current = policy,
            Err(poisoned) => *poisoned.into_inner() = policy,
        }
    }

    fn policy(&self) -> FramePolicy {
        match self.0.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Registers the site's routes (after `/ws` and `/healthz`, which take precedence).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(|embedding: Option<web::Data<Embedding>>| async move { html(INDEX, embedding) }))
        .route("/assets/meeting.js", web::get().to(|| async { asset("text/javascript; charset=utf-8", MEETING_JS) }))
        .route("/assets/style.css", web::get().to(|| async { asset("text/css; charset=utf-8", STYLE) }))
        .route("/{room}", web::get().to(meeting));
}

fn html(body: &'static str, embedding: Option<web::Data<Embedding>>) -> HttpResponse {
    let policy = embedding.map(|e| e.policy()).unwrap_or_default();
    let mut page = HttpResponse::Ok();
    page.content_type("text/html; charset=utf-8").insert_header(("Content-Security-Policy", &*policy.csp));
    // A page elsewhere may not frame the meeting (clickjacking a moderator's
    // buttons) unless the tenant lists it; older browsers read X-Frame-Options
    // instead of frame-ancestors, which cannot list sites.
    if policy.alone {
        page.insert_header(("X-Frame-Options", "SAMEORIGIN"));
    }
    // A join token in the address (`?jwt=`) never leaves in a Referer.
    page.insert_header(("Referrer-Policy", "no-referrer")).body(body)
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok().content_type(content_type).insert_header(("Cache-Control", "no-cache")).body(body)
}

async fn meeting(req: HttpRequest, embedding: Option<web::Data<Embedding>>) -> HttpResponse {
    let room = req.match_info().get("room").unwrap_or_default();
    match RoomName::parse(room) {
        Ok(_) => html(MEETING, embedding),
        Err(e) => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body(format!("No such meeting link: {e}. Room names are 1 to 64 letters, digits, '-', '_' or '.'.")),
    }
}

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

/// Who may show the pages in a frame: the site itself, and the sites the tenant
/// lists (`embed_origins`, from its settings). Shared by the settings follower
/// (which writes it) and the page handlers (app data); the lock is never held
/// across an await.
#[derive(Debug, Clone, Default)]
pub struct Embedding(Arc<RwLock<Vec<String>>>);

impl Embedding {
    /// The tenant's sites from now on.
    pub fn set(&self, origins: Vec<String>) {
        match self.0.write() {
            Ok(mut current) => *current = origins,
            Err(poisoned) => *poisoned.into_inner() = origins,
        }
    }

    /// `frame-ancestors` with the tenant's sites, and whether `X-Frame-Options` (which
    /// cannot list sites) may still be sent.
    fn frame_ancestors(&self) -> (String, bool) {
        let origins = match self.0.read() {
            Ok(o) => o.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        // Only what parses as an origin is written into the header.
        let listed: Vec<&str> = origins
            .iter()
            .map(String::as_str)
            .filter(|o| o.bytes().all(|b| b.is_ascii_alphanumeric() || b".:/-[]".contains(&b)))
            .collect();
        (
            format!("frame-ancestors 'self'{}", listed.iter().map(|o| format!(" {o}")).collect::<String>()),
            listed.is_empty(),
        )
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
    let (ancestors, alone) =
        embedding.map(|e| e.frame_ancestors()).unwrap_or_else(|| ("frame-ancestors 'self'".into(), true));
    let mut page = HttpResponse::Ok();
    page.content_type("text/html; charset=utf-8").insert_header((
        "Content-Security-Policy",
        format!("default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; {ancestors}"),
    ));
    // A page elsewhere may not frame the meeting (clickjacking a moderator's
    // buttons) unless the tenant lists it; older browsers read X-Frame-Options
    // instead of frame-ancestors, which cannot list sites.
    if alone {
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

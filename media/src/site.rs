//! The tenant's meeting site: the landing page, the meeting page at `/<room>`, and
//! its script and styles. The files live in `web/` and are compiled into the
//! binary, so a node is one file to deploy.

use crate::room::RoomName;
use actix_web::{HttpRequest, HttpResponse, web};

const INDEX: &str = include_str!("../../web/index.html");
const MEETING: &str = include_str!("../../web/meeting.html");
const MEETING_JS: &str = include_str!("../../web/meeting.js");
const STYLE: &str = include_str!("../../web/style.css");

/// Registers the site's routes (after `/ws` and `/healthz`, which take precedence).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(|| async { html(INDEX) }))
        .route("/assets/meeting.js", web::get().to(|| async { asset("text/javascript; charset=utf-8", MEETING_JS) }))
        .route("/assets/style.css", web::get().to(|| async { asset("text/css; charset=utf-8", STYLE) }))
        .route("/{room}", web::get().to(meeting));
}

fn html(body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'self'",
        ))
        // A page elsewhere may not frame the meeting (clickjacking a moderator's
        // buttons); older browsers read this header instead of frame-ancestors.
        .insert_header(("X-Frame-Options", "SAMEORIGIN"))
        // A join token in the address (`?jwt=`) never leaves in a Referer.
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(body)
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok().content_type(content_type).insert_header(("Cache-Control", "no-cache")).body(body)
}

async fn meeting(req: HttpRequest) -> HttpResponse {
    let room = req.match_info().get("room").unwrap_or_default();
    match RoomName::parse(room) {
        Ok(_) => html(MEETING),
        Err(e) => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body(format!("No such meeting link: {e}. Room names are 1 to 64 letters, digits, '-', '_' or '.'.")),
    }
}

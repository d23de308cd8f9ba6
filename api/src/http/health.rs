//! Liveness, readiness and metrics endpoints for orchestrators and Prometheus.

use super::AppState;
use actix_web::{HttpResponse, web};
use sea_orm::ConnectionTrait;

/// `GET /healthz`: the process serves requests.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers; 503 otherwise. The answer says no more than
/// that (strangers may ask): why is in the log.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "ready"), (status = 503, description = "not ready")))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let check = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        state.store.connection().execute_unprepared("SELECT 1"),
    )
    .await;
    match check {
        Ok(Ok(_)) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed: the database");
            not_ready()
        }
        Err(_) => {
            tracing::warn!("readiness check failed: the database did not answer within 2 s");
            not_ready()
        }
    }
}

fn not_ready() -> HttpResponse {
    HttpResponse::ServiceUnavailable().json(serde_json::json!({ "status": "unavailable" }))
}

/// `GET /metrics`: Prometheus text format, on the metrics listener only
/// (`CONFER_METRICS_LISTEN`).
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render())
}

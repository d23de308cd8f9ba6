//! The HTTP edge (actix-web): routes, extractors, the error mapping and the OpenAPI
//! document. Handlers parse input into domain values, run one command or query in
//! a tenant-scoped transaction, and answer JSON.

mod api_keys;
mod auth;
mod command;
mod error;
mod events;
mod extract;
mod health;
mod meetings;
mod metrics;
mod pagination;
mod rate_limit;
mod request_log;
mod settings;
mod tenants;
mod users;

pub use auth::KeyCache;
pub use command::CommandRequest;
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use metrics::Metrics;
pub use rate_limit::RateLimits;
pub use tenants::{TenantCreated, create_tenant, issue_admin_key};

use crate::config::ApiConfig;
use crate::store::{EventStore, TenantKeys};
use actix_web::{HttpResponse, web};
use utoipa::OpenApi;

/// What every handler may use.
pub struct AppState {
    /// The event store.
    pub store: EventStore,
    /// Tenants' data keys.
    pub tenant_keys: TenantKeys,
    /// The process's configuration.
    pub config: ApiConfig,
    /// Rate limiters.
    pub limits: RateLimits,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Recently verified API keys.
    pub key_cache: KeyCache,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Confer API", description = "Tenants, API keys, settings, users, meetings and the event feed."),
    paths(
        health::healthz, health::readyz,
        tenants::signup, tenants::current,
        api_keys::create, api_keys::list, api_keys::revoke,
        settings::get, settings::patch,
        users::create, users::list, users::get, users::patch, users::disable,
        meetings::schedule, meetings::list, meetings::get, meetings::patch, meetings::cancel, meetings::history,
        events::feed,
    ),
    modifiers(&BearerKey)
)]
struct ApiDoc;

struct BearerKey;

impl utoipa::Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme("api_key", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        }
    }
}

/// The OpenAPI document of the API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(openapi())
}

/// The read-model row written by the last of `appended`, decoded.
pub(crate) fn projected_row<T: serde::de::DeserializeOwned>(
    appended: Vec<crate::store::Appended>,
) -> Result<T, ApiError> {
    let last =
        appended.into_iter().last().ok_or_else(|| ApiError::Internal(anyhow::anyhow!("nothing was appended")))?;
    serde_json::from_value(last.row).map_err(|e| ApiError::Internal(anyhow::anyhow!("projected row: {e}")))
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("endpoint"))
}

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .service(
            web::scope("/v1")
                .route("/openapi.json", web::get().to(openapi_json))
                .route("/tenants", web::post().to(tenants::signup))
                .route("/tenant", web::get().to(tenants::current))
                .route("/api-keys", web::post().to(api_keys::create))
                .route("/api-keys", web::get().to(api_keys::list))
                .route("/api-keys/{id}", web::delete().to(api_keys::revoke))
                .route("/settings", web::get().to(settings::get))
                .route("/settings", web::patch().to(settings::patch))
                .route("/users", web::post().to(users::create))
                .route("/users", web::get().to(users::list))
                .route("/users/{id}", web::get().to(users::get))
                .route("/users/{id}", web::patch().to(users::patch))
                .route("/users/{id}/disable", web::post().to(users::disable))
                .route("/meetings", web::post().to(meetings::schedule))
                .route("/meetings", web::get().to(meetings::list))
                .route("/meetings/{id}", web::get().to(meetings::get))
                .route("/meetings/{id}", web::patch().to(meetings::patch))
                .route("/meetings/{id}", web::delete().to(meetings::cancel))
                .route("/meetings/{id}/events", web::get().to(meetings::history))
                .route("/events", web::get().to(events::feed)),
        )
        .default_service(web::to(not_found));
}

pub use request_log::log_request;

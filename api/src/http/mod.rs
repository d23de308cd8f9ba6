//! The HTTP edge (actix-web): routes, extractors, the error mapping and the OpenAPI
//! document. Handlers parse input into domain values, run one command or query in
//! a tenant-scoped transaction, and answer JSON.

mod api_keys;
mod auth;
mod certificates;
mod command;
mod domains;
mod error;
mod events;
mod extract;
mod health;
mod meetings;
mod metrics;
mod pagination;
mod platform;
mod rate_limit;
mod request_log;
mod room_facts;
mod rooms;
mod sessions;
mod settings;
mod tenants;
mod tokens;
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
use confer_vocabulary::node_api::paths;
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
    /// Tenants' token signers (derived from their data keys), for a few minutes.
    pub signers: moka::sync::Cache<uuid::Uuid, std::sync::Arc<crate::token_signer::TokenSigner>>,
    /// Tenants' published JWKS by slug, for as long as `Cache-Control` lets clients keep them.
    pub jwks: moka::sync::Cache<String, std::sync::Arc<serde_json::Value>>,
    /// Where settings and certificate changes are announced to media nodes, when there is a Redis.
    pub node_announcer: Option<crate::node_announcer::NodeAnnouncer>,
    /// The one way to tenants' directories and providers: the outbound guard, and
    /// the HTTP client that goes through it.
    pub outbound: confer_outbound::OutboundHttp,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Confer API", description = "Tenants, API keys, settings, users, meetings and the event feed."),
    paths(
        health::healthz, health::readyz,
        tenants::signup, tenants::current, tenants::delete,
        api_keys::create, api_keys::list, api_keys::revoke,
        settings::get, settings::patch,
        users::create, users::list, users::get, users::patch, users::disable,
        meetings::schedule, meetings::list, meetings::get, meetings::patch, meetings::cancel, meetings::history,
        events::feed, room_facts::record,
        domains::add, domains::list, domains::get, domains::remove, domains::renew, certificates::list,
        tokens::mint, tokens::jwks, rooms::meeting, rooms::check_password,
        sessions::password, sessions::oidc_start, sessions::oidc_callback,
    ),
    modifiers(&BearerKey, &CommonErrors)
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

/// Documents the errors any operation can answer, beside those each one declares.
struct CommonErrors;

impl utoipa::Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
                )
                .build()
        };
        let common = [
            ("400", "malformed request (bad JSON, wrong type, unknown field, bad header or query)"),
            ("401", "missing or invalid API key"),
            ("404", "not found for this tenant"),
            ("405", "method not allowed on this path"),
            ("413", "request body too large"),
            ("415", "request body is not JSON"),
            ("422", "a field's value is not acceptable"),
            ("429", "rate limited; see Retry-After"),
            ("500", "internal error (logged with the request id)"),
        ];
        for item in openapi.paths.paths.values_mut() {
            for op in
                [&mut item.get, &mut item.post, &mut item.patch, &mut item.delete, &mut item.put].into_iter().flatten()
            {
                for (code, description) in common {
                    op.responses.responses.entry(code.to_owned()).or_insert_with(|| error(description).into());
                }
            }
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

/// Hashes a password with argon2id on the blocking pool: it takes tens of
/// milliseconds on purpose, which must not stall a request thread, and it counts
/// against `tenant`'s password-hashing budget (so no tenant can busy the cores).
pub(crate) async fn hash_password(
    limits: &RateLimits,
    tenant: uuid::Uuid,
    password: crate::domain::PlainPassword,
) -> Result<crate::domain::PasswordHash, ApiError> {
    limits.check_password_hash(tenant)?;
    web::block(move || password.hash()).await.map_err(|e| ApiError::Internal(e.into()))
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

/// A path whose other methods answer 405 (JSON, with `Allow: <allow>`), not 404.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path)
        .default_service(web::to(move || async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow }) }))
}

/// A path of the media nodes' contract (`confer_vocabulary::node_api::paths`, which
/// all start with `/v1`) as a route inside the `/v1` scope.
fn v1(path: &'static str) -> &'static str {
    path.strip_prefix(paths::VERSION_PREFIX).unwrap_or(path)
}

/// Registers every route.
/// The metrics listener's one route: `GET /metrics`.
pub fn metrics_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(health::metrics));
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz", "GET").route(web::get().to(health::healthz)))
        .service(resource("/readyz", "GET").route(web::get().to(health::readyz)))
        .service(
            web::scope(paths::VERSION_PREFIX)
                .service(resource("/openapi.json", "GET").route(web::get().to(openapi_json)))
                .service(resource("/tenants", "POST").route(web::post().to(tenants::signup)))
                .service(
                    resource("/tenant", "GET, DELETE")
                        .route(web::get().to(tenants::current))
                        .route(web::delete().to(tenants::delete)),
                )
                .service(
                    resource("/api-keys", "GET, POST")
                        .route(web::post().to(api_keys::create))
                        .route(web::get().to(api_keys::list)),
                )
                .service(resource("/api-keys/{id}", "DELETE").route(web::delete().to(api_keys::revoke)))
                .service(
                    resource(v1(paths::SETTINGS), "GET, PATCH")
                        .route(web::get().to(settings::get))
                        .route(web::patch().to(settings::patch)),
                )
                .service(
                    resource("/users", "GET, POST")
                        .route(web::post().to(users::create))
                        .route(web::get().to(users::list)),
                )
                .service(
                    resource("/users/{id}", "GET, PATCH")
                        .route(web::get().to(users::get))
                        .route(web::patch().to(users::patch)),
                )
                .service(resource("/users/{id}/disable", "POST").route(web::post().to(users::disable)))
                .service(
                    resource("/meetings", "GET, POST")
                        .route(web::post().to(meetings::schedule))
                        .route(web::get().to(meetings::list)),
                )
                .service(
                    resource("/meetings/{id}", "GET, PATCH, DELETE")
                        .route(web::get().to(meetings::get))
                        .route(web::patch().to(meetings::patch))
                        .route(web::delete().to(meetings::cancel)),
                )
                .service(resource("/meetings/{id}/events", "GET").route(web::get().to(meetings::history)))
                .service(resource("/events", "GET").route(web::get().to(events::feed)))
                .service(resource(v1(paths::ROOM_FACTS), "POST").route(web::post().to(room_facts::record)))
                .service(resource(v1(paths::ROOM_MEETING), "GET").route(web::get().to(rooms::meeting)))
                .service(
                    resource(v1(paths::ROOM_MEETING_PASSWORD), "POST").route(web::post().to(rooms::check_password)),
                )
                .service(
                    resource("/domains", "GET, POST")
                        .route(web::post().to(domains::add))
                        .route(web::get().to(domains::list)),
                )
                .service(
                    resource("/domains/{id}", "GET, DELETE")
                        .route(web::get().to(domains::get))
                        .route(web::delete().to(domains::remove)),
                )
                .service(resource("/domains/{id}/renewal", "POST").route(web::post().to(domains::renew)))
                .service(resource(v1(paths::CERTIFICATES), "GET").route(web::get().to(certificates::list)))
                .service(resource("/tokens", "POST").route(web::post().to(tokens::mint)))
                .service(resource(v1(paths::TENANT_JWKS), "GET").route(web::get().to(tokens::jwks)))
                .service(resource(v1(paths::SESSIONS), "POST").route(web::post().to(sessions::password)))
                .service(resource(v1(paths::OIDC_SESSIONS), "POST").route(web::post().to(sessions::oidc_start)))
                .service(resource(v1(paths::OIDC_CALLBACK), "POST").route(web::post().to(sessions::oidc_callback)))
                .service(resource("/platform/sites/{host}", "GET").route(web::get().to(platform::site_of_host)))
                .service(resource("/platform/nodes", "POST").route(web::post().to(platform::node_starting)))
                .service(
                    resource("/platform/tenants/{tenant}/plan", "PUT").route(web::put().to(platform::set_tenant_plan)),
                )
                .service(resource("/platform/nodes/{node}", "DELETE").route(web::delete().to(platform::node_stopped)))
                .service(
                    resource("/platform/nodes/{node}/failure", "POST").route(web::post().to(platform::node_failed)),
                )
                .service(
                    resource("/platform/upcoming-meetings", "GET").route(web::get().to(platform::upcoming_meetings)),
                ),
        )
        .default_service(web::to(not_found));
}

pub use request_log::log_request;

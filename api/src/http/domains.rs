//! `/v1/domains`: custom domains a tenant brings for its site. Adding one records
//! `DomainAdded` and, in the same statement, a `check_domain` job in the outbox; the
//! answer says which DNS record proves the name (a CNAME to the tenant's platform
//! name, or a TXT record). The worker takes it from `pending_dns` on.

use super::auth::Authenticated;
use super::command::{Command, CommandRequest, Reply, Started};
use super::extract::{JsonBody, Query, path_id};
use super::pagination::{self, Page};
use super::{ApiError, AppState};
use crate::domain::{DomainEvent, FieldError, Hostname, StreamId};
use crate::store::{ExpectedVersion, Scope, StoreError, Violation, domains, tenants};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The label of the TXT record that proves a domain without a CNAME.
const TXT_LABEL: &str = "_confer-challenge";

/// A domain to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDomain {
    /// A fully qualified name, e.g. `meet.example.com`.
    pub hostname: String,
}

/// A DNS record to create at the domain's DNS provider.
#[derive(Debug, Serialize, ToSchema)]
pub struct DnsRecord {
    /// `CNAME` or `TXT`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
    pub value: String,
}

/// A custom domain.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainView {
    pub id: Uuid,
    pub hostname: String,
    /// `pending_dns`, `verified`, `issuing`, `active` or `failed`.
    pub status: String,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    /// When the next try is due, while one is scheduled.
    pub next_retry_at: Option<DateTime<Utc>>,
    /// `cname` or `txt`: the record that proved the name, once verified.
    pub verified_by: Option<String>,
    /// The certificate served for the name, once issued.
    pub certificate: Option<CertificateView>,
    /// When a renewal was asked for, while it runs (the current certificate is
    /// served meanwhile).
    pub renewal_requested_at: Option<DateTime<Utc>>,
    /// Create either record to prove the name is yours: the CNAME (which also points
    /// the name at Confer), or the TXT record.
    pub dns_records: Vec<DnsRecord>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The public facts of a domain's certificate.
#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateView {
    /// Lowercase hex.
    pub serial: String,
    /// The issuer's distinguished name.
    pub issuer: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// When the next one is ordered (two thirds into the lifetime).
    pub renew_at: Option<DateTime<Utc>>,
}

/// `?limit=&cursor=`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListDomains {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

fn view(row: domains::DomainRow) -> DomainView {
    let certificate =
        match (row.certificate_serial, row.certificate_issuer, row.certificate_not_before, row.certificate_not_after) {
            (Some(serial), Some(issuer), Some(not_before), Some(not_after)) => {
                Some(CertificateView { serial, issuer, not_before, not_after, renew_at: row.renew_at })
            }
            _ => None,
        };
    DomainView {
        verified_by: row.verified_by,
        certificate,
        renewal_requested_at: row.renewal_requested_at,
        dns_records: vec![
            DnsRecord { kind: "CNAME", name: row.hostname.clone(), value: row.cname_target },
            DnsRecord { kind: "TXT", name: row.txt_name, value: row.txt_value },
        ],
        id: row.id,
        hostname: row.hostname,
        status: row.status,
        reason: row.reason,
        next_retry_at: row.next_retry_at,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// A fresh random value for the TXT record.
fn txt_token() -> String {
    let mut raw = [0u8; 24];
    rand::rng().fill_bytes(&mut raw);
    format!("confer-verification={}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
}

/// Adds a custom domain: 202, with the DNS record that proves it.
#[utoipa::path(post, path = "/v1/domains", tag = "domains", security(("api_key" = [])), request_body = AddDomain,
    responses((status = 202, body = DomainView), (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn add(
    state: web::Data<AppState>,
    auth: Authenticated,
    req: CommandRequest,
    body: JsonBody<AddDomain>,
) -> Result<HttpResponse, ApiError> {
    let hostname = Hostname::parse("hostname", &body.value.hostname)?;
    if hostname.is_within(&state.config.base_domain) {
        return Err(FieldError::new(
            "hostname",
            format!(
                "{} is under the platform's own domain ({}); your site already has a name there",
                hostname.as_str(),
                state.config.base_domain
            ),
        )
        .into());
    }
    let mut cmd = match Command::start(&state, &auth, req, &body.digest).await? {
        Started::Replayed(r) => return Ok(r),
        Started::Fresh(c) => c,
    };
    let tenant = tenants::find(cmd.tx().await?, auth.tenant_id).await?.ok_or(ApiError::NotFound("tenant"))?;
    let held = domains::count_locked(cmd.tx().await?, auth.tenant_id).await?;
    let cap = i64::from(state.config.max_domains_per_tenant);
    if held >= cap {
        return Err(ApiError::Conflict {
            code: "too_many_domains",
            message: format!("a tenant may hold at most {cap} domains; remove one first"),
            field: None,
        });
    }
    let id = Uuid::now_v7();
    let event = DomainEvent::DomainAdded {
        domain_id: id,
        cname_target: format!("{}.{}", tenant.slug, state.config.base_domain.trim_end_matches('.')),
        txt_name: format!("{TXT_LABEL}.{}", hostname.as_str()),
        txt_value: txt_token(),
        hostname: hostname.clone(),
    };
    let appended = match cmd.append(&StreamId::domain(id), ExpectedVersion::NoStream, &[event]).await {
        Err(StoreError::Violation(Violation::Unique(c))) if c == "domains_hostname_key" => {
            return Err(ApiError::Conflict {
                code: "hostname_taken",
                message: format!("{} is already in use on this platform", hostname.as_str()),
                field: Some("hostname"),
            });
        }
        other => other?,
    };
    let row: domains::DomainRow = super::projected_row(appended)?;
    let version = row.version;
    let reply = Reply::json(StatusCode::ACCEPTED, &view(row))?.with_version(version);
    cmd.finish(&state, reply).await
}

/// Lists the tenant's domains in the order they were added.
#[utoipa::path(get, path = "/v1/domains", tag = "domains", security(("api_key" = [])), params(ListDomains),
    responses((status = 200, body = Page<DomainView>)))]
pub async fn list(
    state: web::Data<AppState>,
    auth: Authenticated,
    query: Query<ListDomains>,
) -> Result<HttpResponse, ApiError> {
    let limit = pagination::limit(query.0.limit)?;
    let after: Option<Uuid> = pagination::decode(query.0.cursor.as_deref())?;
    let tx = state.store.begin(Scope::Tenant(auth.tenant_id)).await?;
    let rows = domains::list(&tx, auth.tenant_id, after, limit + 1).await?;
    tx.commit().await?;
    let page = pagination::page(rows, limit, |r| r.id, |r| r);
    let items: Vec<DomainView> = page.items.into_iter().map(view).collect();
    Ok(HttpResponse::Ok().json(Page { items, next_cursor: page.next_cursor }))
}

/// One domain, with where it stands.
#[utoipa::path(get, path = "/v1/domains/{id}", tag = "domains", security(("api_key" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = DomainView), (status = 404, body = super::ErrorBody)))]
pub async fn get(state: web::Data<AppState>, http: HttpRequest, auth: Authenticated) -> Result<HttpResponse, ApiError> {
    let id = path_id(&http, "domain")?;
    let tx = state.store.begin(Scope::Tenant(auth.tenant_id)).await?;
    let row = domains::find(&tx, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("domain"))?;
    tx.commit().await?;
    let version = row.version;
    Ok(HttpResponse::Ok().insert_header(("ETag", format!("\"{version}\""))).json(view(row)))
}

/// Gives a domain up: 204. Its name is free for anyone again, and the tenant's nodes
/// stop serving it.
#[utoipa::path(delete, path = "/v1/domains/{id}", tag = "domains", security(("api_key" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = super::ErrorBody)))]
pub async fn remove(
    state: web::Data<AppState>,
    http: HttpRequest,
    auth: Authenticated,
    req: CommandRequest,
) -> Result<HttpResponse, ApiError> {
    let (mut cmd, row) = match on_domain(&state, &http, &auth, req).await? {
        OnDomain::Replayed(r) => return Ok(r),
        OnDomain::Fresh(fresh) => *fresh,
    };
    let (id, hostname) = (row.id, stored_hostname(&row)?);
    let served = row.certificate_serial.is_some();
    let event = DomainEvent::DomainRemoved { domain_id: id, hostname };
    cmd.append(&StreamId::domain(id), ExpectedVersion::Exactly(row.version), &[event]).await?;
    let slug = if served { tenants::find(cmd.tx().await?, auth.tenant_id).await?.map(|t| t.slug) } else { None };
    let reply = cmd.finish(&state, Reply::no_content()).await?;
    // Its nodes stop serving the name now rather than at their next poll.
    if let (Some(slug), Some(announcer)) = (slug, &state.node_announcer) {
        announcer.certificates_changed(&slug);
    }
    Ok(reply)
}

/// Asks for a new certificate now, before the current one is due: 202. The current
/// one is served until the new one replaces it (`CertificateRenewed`).
#[utoipa::path(post, path = "/v1/domains/{id}/renewal", tag = "domains", security(("api_key" = [])), params(("id" = Uuid, Path)),
    responses((status = 202, body = DomainView), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn renew(
    state: web::Data<AppState>,
    http: HttpRequest,
    auth: Authenticated,
    req: CommandRequest,
) -> Result<HttpResponse, ApiError> {
    let (mut cmd, row) = match on_domain(&state, &http, &auth, req).await? {
        OnDomain::Replayed(r) => return Ok(r),
        OnDomain::Fresh(fresh) => *fresh,
    };
    let id = row.id;
    let serial = match (row.status.as_str(), &row.certificate_serial) {
        ("active", Some(serial)) => serial.clone(),
        _ => {
            return Err(ApiError::Conflict {
                code: "not_active",
                message: format!(
                    "{} has no certificate yet (status {}); it is renewed once active",
                    row.hostname, row.status
                ),
                field: None,
            });
        }
    };
    if row.renewal_requested_at.is_some() {
        return Err(ApiError::Conflict {
            code: "renewal_in_progress",
            message: format!("a renewal of {} is already running", row.hostname),
            field: None,
        });
    }
    let hostname = stored_hostname(&row)?;
    let event = DomainEvent::CertificateRenewalRequested {
        domain_id: id,
        hostname,
        replaces_serial: serial,
        reason: "requested".to_owned(),
    };
    let appended = cmd.append(&StreamId::domain(id), ExpectedVersion::Exactly(row.version), &[event]).await?;
    let row: domains::DomainRow = super::projected_row(appended)?;
    let version = row.version;
    let reply = Reply::json(StatusCode::ACCEPTED, &view(row))?.with_version(version);
    cmd.finish(&state, reply).await
}

/// A command on one existing domain (`/v1/domains/{id}/…`), or the saved answer of
/// its earlier run.
enum OnDomain {
    Replayed(HttpResponse),
    Fresh(Box<(Command, domains::DomainRow)>),
}

/// Starts a command on the domain the path names, read in the command's transaction.
async fn on_domain(
    state: &web::Data<AppState>,
    http: &HttpRequest,
    auth: &Authenticated,
    req: CommandRequest,
) -> Result<OnDomain, ApiError> {
    let id = path_id(http, "domain")?;
    let mut cmd = match Command::start(state, auth, req, &[0; 32]).await? {
        Started::Replayed(r) => return Ok(OnDomain::Replayed(r)),
        Started::Fresh(c) => c,
    };
    let row = domains::find(cmd.tx().await?, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("domain"))?;
    Ok(OnDomain::Fresh(Box::new((cmd, row))))
}

/// The hostname of a stored domain (valid when it was added).
fn stored_hostname(row: &domains::DomainRow) -> Result<Hostname, ApiError> {
    Hostname::parse("hostname", &row.hostname).map_err(|e| ApiError::Internal(anyhow::anyhow!(e.message)))
}

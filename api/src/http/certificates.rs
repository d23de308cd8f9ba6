//! `/v1/certificates`: the certificates of the tenant's custom domains with their
//! private keys opened, for the tenant's media nodes to serve by SNI. The keys are
//! kept sealed with the tenant's data key and opened only here, per request.

use super::auth::NodeOrAdmin;
use super::{ApiError, AppState};
use crate::store::{Scope, certificates};
use actix_web::{HttpResponse, web};
use confer_vocabulary::node_api::{TenantCertificate, TenantCertificates, paths};

/// The tenant's certificates, private keys included (`TenantCertificates`). Answered
/// with `Cache-Control: no-store`: it carries private keys.
#[utoipa::path(get, path = paths::CERTIFICATES, tag = "domains", security(("api_key" = [])),
    responses((status = 200, body = TenantCertificates)))]
pub async fn list(state: web::Data<AppState>, auth: NodeOrAdmin) -> Result<HttpResponse, ApiError> {
    let tx = state.store.begin(Scope::Tenant(auth.tenant_id)).await?;
    let rows = certificates::of_tenant(&tx, auth.tenant_id).await?;
    let key = if rows.is_empty() { None } else { Some(state.tenant_keys.load(&tx, auth.tenant_id).await?) };
    tx.commit().await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(key) = &key else { break };
        let private_key_pem = match key.open(&row.sealed_key()) {
            Ok(pem) => pem,
            Err(e) => {
                tracing::error!(hostname = %row.hostname, serial = %row.serial, error = %e,
                    "a certificate's private key does not open with the tenant's key; left out");
                continue;
            }
        };
        items.push(TenantCertificate {
            hostname: row.hostname,
            chain_pem: row.chain_pem,
            private_key_pem,
            serial: row.serial,
            not_after: row.not_after.to_rfc3339(),
        });
    }
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(TenantCertificates { items }))
}

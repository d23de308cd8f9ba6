//! Following the tenant's settings: the node reads them from the api
//! ([`ApiClient::settings`], the contract's `NodeSettings`) at start, whenever the api
//! announces a change on Redis (`confer:<tenant>:settings`), and every poll interval
//! in case an announcement was missed. What concerns rooms (`auth`, `guests_allowed`,
//! `lobby`, `max_participants`) applies to the next join.

use crate::api_client::ApiClient;
use crate::auth::SiteAccess;
use crate::signaling::Hub;
use crate::site::Embedding;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Starts following the settings from `api`, woken by `announced`, read at least every
/// `poll`.
///
/// Until the settings have been read once, the hub refuses joins (`try_again_later`):
/// a node must not let people into a tenant that requires a login as if it were open.
/// The first read is retried every second; an answer the node cannot decode counts as
/// no answer.
pub fn follow(api: Arc<ApiClient>, announced: Arc<Notify>, poll: Duration, hub: Arc<Hub>, embedding: Embedding) {
    hub.await_settings();
    let read = move || {
        let api = api.clone();
        async move { api.settings().await }
    };
    crate::announcements::follow("settings", announced, poll, read, move |settings| {
        let access = SiteAccess { auth: settings.auth, guests_allowed: settings.guests_allowed, lobby: settings.lobby };
        tracing::info!(auth = %access.auth, guests_allowed = access.guests_allowed, lobby = access.lobby,
            max_participants = settings.max_participants, "tenant settings applied");
        hub.set_access(access, settings.max_participants);
        embedding.set(&settings.embed_origins);
    });
}

//! Keeping the node's custom-domain certificates equal to the api's list: the node
//! reads it ([`ApiClient::certificates`]) at start, whenever the worker announces an
//! issued or renewed certificate on Redis (`certificates_channel`), and every poll
//! interval in case an announcement was missed. A changed list replaces the store's
//! set at once; when the api cannot be read, the set in force stays.

use super::certificate_store::{CertificateStore, Loaded};
use crate::api_client::ApiClient;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Starts following the api's list into `store`, woken by `announced`, read at least
/// every `poll`.
pub fn follow(api: Arc<ApiClient>, announced: Arc<Notify>, poll: Duration, store: Arc<CertificateStore>) {
    let read = move || {
        let api = api.clone();
        async move { api.certificates().await }
    };
    crate::announcements::follow("certificates", announced, poll, read, move |list| {
        log_loaded(&store.replace(&list.items));
    });
}

fn log_loaded(loaded: &[Loaded]) {
    let hostnames: Vec<&str> = loaded.iter().map(|l| l.hostname.as_str()).collect();
    let serials: Vec<&str> = loaded.iter().map(|l| l.serial.as_str()).collect();
    tracing::info!(hostnames = %hostnames.join(","), serials = %serials.join(","), "certificates loaded");
}

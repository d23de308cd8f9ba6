//! Hearing that a tenant was deleted (the api announces it on Redis): its node is
//! stopped at once and its names forgotten, so its site stops answering now rather
//! than when the directory's memory of it runs out.

use crate::http_proxy::FrontDoor;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Follows [`confer_vocabulary::TENANTS_DELETED_CHANNEL`] for as long as the process runs.
pub fn follow(redis_url: String, door: Arc<FrontDoor>) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = listen(&redis_url, &door).await {
                tracing::warn!(error = %e, "cannot hear tenant deletions; retrying");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

async fn listen(redis_url: &str, door: &Arc<FrontDoor>) -> Result<(), redis::RedisError> {
    let client = redis::Client::open(redis_url)?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(confer_vocabulary::TENANTS_DELETED_CHANNEL).await?;
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let text: String = message.get_payload().unwrap_or_default();
        let Ok(tenant) = Uuid::parse_str(text.trim()) else {
            tracing::warn!(message = %text.chars().take(64).collect::<String>(), "a tenant deletion that names no tenant");
            continue;
        };
        tracing::info!(%tenant, "tenant deleted: stopping its node");
        door.directory().forget_tenant(&tenant.to_string());
        let nodes = door.nodes().clone();
        tokio::spawn(async move { nodes.stop_tenant(tenant, "tenant_deleted").await });
    }
    Ok(())
}

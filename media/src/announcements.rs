//! Hearing the news the api and the worker publish for this node's tenant on Redis
//! (settings changed, certificates changed). A message carries no data, only "read
//! again": the follower that hears it reads the api with the node's own key.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Subscribes to `channel` (again after any failure, a second later) and wakes
/// `announced` on each message, and once each time it (re)subscribes, since what
/// was announced while it was not listening is lost. `what` names the news in logs.
pub fn listen(url: String, channel: String, announced: Arc<Notify>, what: &'static str) {
    tokio::spawn(async move {
        loop {
            match subscribe(&url, &channel, &announced, what).await {
                Ok(()) => tracing::warn!(%channel, what, "announcements stopped; subscribing again"),
                Err(e) => tracing::warn!(%channel, what, error = %e, "cannot hear announcements; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

async fn subscribe(url: &str, channel: &str, announced: &Notify, what: &'static str) -> Result<(), redis::RedisError> {
    use futures_util::StreamExt;
    let client = redis::Client::open(url)?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    tracing::info!(%channel, what, "following announcements");
    announced.notify_one();
    let mut messages = pubsub.on_message();
    while messages.next().await.is_some() {
        announced.notify_one();
    }
    Ok(())
}

//! Following what the api says about this node's tenant. The api and the worker
//! announce changes on Redis (the settings changed, a certificate was issued); a
//! message carries no data, only "read again". One subscription hears both channels
//! and wakes the follower concerned, which reads the api with the node's credential
//! ([`follow`]). A follower also reads at start and on a poll, so a lost
//! announcement only delays a change.

use crate::api_client::ApiCallError;
use confer_vocabulary::{certificates_channel, settings_channel};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The first retry after a failed read; each next one waits twice as long, up to the
/// poll interval, once something has been read (until then, every second).
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// What wakes the followers when their news is announced.
#[derive(Debug, Clone, Default)]
pub struct Announcements {
    settings: Arc<Notify>,
    certificates: Arc<Notify>,
}

impl Announcements {
    /// Listens for `tenant`'s news on the Redis at `redis_url`, with one subscription
    /// to both channels (again after any failure, a second later). A message wakes
    /// the follower it concerns; each (re)subscription wakes both, since what was
    /// announced while nobody listened is lost. Without a Redis, nothing is heard:
    /// the followers poll.
    pub fn listen(redis_url: Option<String>, tenant: &str) -> Self {
        let announcements = Self::default();
        let Some(url) = redis_url else { return announcements };
        let channels = [
            (settings_channel(tenant), "settings", announcements.settings.clone()),
            (certificates_channel(tenant), "certificates", announcements.certificates.clone()),
        ];
        tokio::spawn(async move {
            loop {
                match subscribe(&url, &channels).await {
                    Ok(()) => tracing::warn!("announcements stopped; subscribing again"),
                    Err(e) => tracing::warn!(error = %e, "cannot hear announcements; retrying"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        announcements
    }

    /// Woken when the tenant's settings changed.
    pub fn settings(&self) -> Arc<Notify> {
        self.settings.clone()
    }

    /// Woken when one of the tenant's certificates was issued or renewed.
    pub fn certificates(&self) -> Arc<Notify> {
        self.certificates.clone()
    }
}

async fn subscribe(url: &str, channels: &[(String, &'static str, Arc<Notify>)]) -> Result<(), redis::RedisError> {
    use futures_util::StreamExt;
    let client = redis::Client::open(url)?;
    let mut pubsub = client.get_async_pubsub().await?;
    for (channel, _, _) in channels {
        pubsub.subscribe(channel).await?;
    }
    for (channel, what, announced) in channels {
        tracing::info!(%channel, what, "following announcements");
        announced.notify_one();
    }
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let heard = message.get_channel_name();
        match channels.iter().find(|(channel, _, _)| channel == heard) {
            Some((_, what, announced)) => {
                tracing::debug!(what, "a change was announced");
                announced.notify_one();
            }
            None => tracing::debug!(channel = heard, "an announcement on a channel not followed"),
        }
    }
    Ok(())
}

/// Keeps what the node holds of `what` equal to what the api says. `read` asks the
/// api at start, whenever `announced` wakes, every `poll`, and after a failed read;
/// each answer that differs from the last one applied goes to `apply`. A failed read
/// (the api unreachable, refusing, or answering what this node does not understand)
/// keeps what is in force, and is logged with its cause.
pub fn follow<T, Read, Reading, Apply>(
    what: &'static str,
    announced: Arc<Notify>,
    poll: Duration,
    mut read: Read,
    mut apply: Apply,
) where
    T: PartialEq + Send + 'static,
    Read: FnMut() -> Reading + Send + 'static,
    Reading: Future<Output = Result<T, ApiCallError>> + Send,
    Apply: FnMut(&T) + Send + 'static,
{
    tokio::spawn(async move {
        let mut applied: Option<T> = None;
        let mut retry: Option<Duration> = None;
        let mut interval = tokio::time::interval(poll);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                () = announced.notified() => {}
                () = tokio::time::sleep(retry.unwrap_or_default()), if retry.is_some() => {}
            }
            match read().await {
                Ok(now) => {
                    retry = None;
                    if applied.as_ref() != Some(&now) {
                        apply(&now);
                        applied = Some(now);
                    }
                }
                Err(e) => {
                    let next = match (applied.is_some(), retry) {
                        (true, Some(last)) => (last * 2).min(poll.max(FIRST_RETRY)),
                        _ => FIRST_RETRY,
                    };
                    if applied.is_some() {
                        tracing::warn!(what, error = %e, retry_in = ?next, "cannot read from the api; keeping what is in force");
                    } else {
                        tracing::warn!(what, error = %e, retry_in = ?next, "cannot read from the api; nothing read yet");
                    }
                    retry = Some(next);
                }
            }
        }
    });
}

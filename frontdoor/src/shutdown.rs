//! The one shutdown signal every listener and loop of the front door watches.

use tokio::sync::watch;

/// Fires once, for every clone.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// Fires the [`Shutdown`].
pub struct Trigger(watch::Sender<bool>);

/// A signal and its trigger.
pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Shutdown(rx))
}

impl Trigger {
    /// Fires.
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }
}

impl Shutdown {
    /// Returns once fired.
    pub async fn wait(&self) {
        let mut rx = self.0.clone();
        let _ = rx.wait_for(|fired| *fired).await;
    }
}

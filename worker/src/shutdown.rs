//! The signal that starts a graceful drain: SIGTERM (what an orchestrator sends)
//! or ctrl-c. Consumers take any future as their shutdown signal, so tests pass
//! their own instead of this one.

/// Completes when the process is asked to stop.
pub async fn requested() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // Without a ctrl-c handler, only SIGTERM can stop us; wait for it.
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}

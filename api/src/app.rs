//! Building and running the API server: connect, migrate, serve until SIGTERM.

use crate::config::ApiConfig;
use crate::http::{self, AppState, Metrics, RateLimits};
use crate::secrets::MasterKey;
use crate::store::{EventStore, TenantKeys};
use actix_web::{App, HttpServer, dev::Server, middleware, web};
use anyhow::Context;
use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

/// Opens the connection pool.
pub async fn connect(config: &ApiConfig) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(config.database_url.clone());
    options
        .max_connections(config.db_pool_size)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    Database::connect(options).await.with_context(|| "cannot connect to the database (DATABASE_URL)")
}

/// Applies pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("applying migrations")
}

/// Everything handlers share, from the configuration and an open pool.
pub fn state(config: &ApiConfig, db: DatabaseConnection) -> anyhow::Result<AppState> {
    let master = config
        .master_key
        .as_deref()
        .context("CONFER_MASTER_KEY is not set (32 bytes, base64; e.g. `openssl rand -base64 32`)")?;
    Ok(AppState {
        store: EventStore::new(db),
        tenant_keys: TenantKeys::new(MasterKey::from_base64(master)?),
        config: config.clone(),
        limits: RateLimits::new(config.signups_per_minute, config.api_requests_per_second),
        metrics: Metrics::new()?,
    })
}

/// A bound, migrated, ready-to-run API server.
pub struct Application {
    server: Server,
    addr: SocketAddr,
}

impl Application {
    /// Connects, migrates and binds `config.listen` (port 0 picks a free port).
    pub async fn build(config: ApiConfig) -> anyhow::Result<Self> {
        let db = connect(&config).await?;
        migrate(&db).await?;
        let state = web::Data::new(state(&config, db)?);
        let listener =
            TcpListener::bind(config.listen).with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let forget = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                forget.limits.forget_idle();
            }
        });
        let mut server = HttpServer::new(move || {
            App::new().app_data(state.clone()).wrap(middleware::from_fn(http::log_request)).configure(http::routes)
        })
        .shutdown_timeout(30)
        .listen(listener)?;
        if config.http_workers > 0 {
            server = server.workers(config.http_workers);
        }
        Ok(Self { server: server.run(), addr })
    }

    /// Where the server listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until SIGTERM/SIGINT, then finishes in-flight requests (up to 30 s).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

//! Building and running the API server: connect, migrate, serve until SIGTERM.

use crate::config::ApiConfig;
use crate::http::{self, AppState, KeyCache, Metrics, RateLimits};
use crate::secrets::MasterKey;
use crate::store::{EventStore, TenantKeys};
use actix_web::{App, HttpServer, dev::Server, middleware, web};
use anyhow::Context;
use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

/// Opens the application's connection pool. Every connection runs as the role
/// `confer_app` from the start (a startup option), so nothing the API does can
/// bypass row-level security or rewrite the log, whatever its SQL says.
pub async fn connect(config: &ApiConfig) -> anyhow::Result<DatabaseConnection> {
    Ok(crate::store::connect_as_app(&config.database_url, config.db_pool_size).await?)
}

/// Applies pending migrations, connected as the database user itself (the owner
/// of the schema), not as `confer_app`.
pub async fn migrate_database(config: &ApiConfig) -> anyhow::Result<()> {
    let mut options = ConnectOptions::new(config.database_url.clone());
    options.max_connections(1).connect_timeout(Duration::from_secs(5)).sqlx_logging(false);
    let owner = Database::connect(options).await.with_context(|| "cannot connect to the database (DATABASE_URL)")?;
    migrate(&owner).await?;
    owner.close().await.ok();
    Ok(())
}

/// Applies pending migrations over an open connection.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("applying migrations")
}

/// The operator's master key from the configuration: checked before anything
/// else, so a missing or malformed key is reported as such.
pub fn master_key(config: &ApiConfig) -> anyhow::Result<MasterKey> {
    let master = config
        .master_key
        .as_deref()
        .context("CONFER_MASTER_KEY is not set (32 bytes, base64; e.g. `openssl rand -base64 32`)")?;
    Ok(MasterKey::from_base64(master)?)
}

/// Everything handlers share, from the configuration and an open pool.
pub fn state(config: &ApiConfig, db: DatabaseConnection) -> anyhow::Result<AppState> {
    Ok(AppState {
        store: EventStore::new(db),
        tenant_keys: TenantKeys::new(master_key(config)?),
        config: config.clone(),
        limits: RateLimits::new(config),
        key_cache: KeyCache::new(Duration::from_secs(config.api_key_cache_seconds)),
        signers: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(Duration::from_secs(300)).build(),
        jwks: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(Duration::from_secs(300)).build(),
        metrics: Metrics::new()?,
        outbound: crate::outbound::http_client(config)?,
        node_announcer: config
            .redis_url
            .as_deref()
            .map(crate::node_announcer::NodeAnnouncer::new)
            .transpose()
            .context("CONFER_REDIS_URL is not a Redis URL")?,
    })
}

/// A bound, migrated, ready-to-run API server.
pub struct Application {
    server: Server,
    addr: SocketAddr,
    /// The Prometheus listener, apart from the API's (`CONFER_METRICS_LISTEN`).
    metrics: Option<(Server, SocketAddr)>,
}

impl Application {
    /// Connects, migrates and binds `config.listen` (port 0 picks a free port).
    pub async fn build(config: ApiConfig) -> anyhow::Result<Self> {
        master_key(&config)?;
        migrate_database(&config).await?;
        let db = connect(&config).await?;
        let listener =
            TcpListener::bind(config.listen).with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        // Where it listens now (port 0 picked one): the outbound guard refuses it.
        let config = ApiConfig { listen: addr, ..config };
        let state = web::Data::new(state(&config, db)?);
        let forget = state.clone();
        let metrics_state = state.clone();
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
        let metrics = match config.metrics_listen {
            Some(at) => {
                let listener = TcpListener::bind(at).with_context(|| format!("cannot listen for metrics on {at}"))?;
                let metrics_addr = listener.local_addr()?;
                let state = metrics_state;
                let server =
                    HttpServer::new(move || App::new().app_data(state.clone()).configure(http::metrics_routes))
                        .workers(1)
                        .shutdown_timeout(5)
                        .listen(listener)?;
                Some((server.run(), metrics_addr))
            }
            None => None,
        };
        Ok(Self { server: server.run(), addr, metrics })
    }

    /// Where the server listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the Prometheus listener listens, if there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, addr)| *addr)
    }

    /// Serves until SIGTERM/SIGINT, then finishes in-flight requests (up to 30 s).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.metrics {
            Some((metrics, _)) => futures_util::future::try_join(self.server, metrics).await.map(|_| ()),
            None => self.server.await,
        }
    }
}

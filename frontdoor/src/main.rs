//! `confer-frontdoor`: every tenant's site behind one address, with tenants' media
//! nodes started on demand. On SIGTERM it stops listening and stops its nodes
//! cleanly (each ends its rooms and hands its room facts to the api).

use anyhow::Context;
use clap::Parser;
use confer_frontdoor::config::{DriverKind, FrontDoorConfig, NODE_SETTINGS};
use confer_frontdoor::http_proxy::{FrontDoor, HttpLimits};
use confer_frontdoor::nodes::local::{LocalDriver, LocalDriverConfig};
use confer_frontdoor::nodes::{ManagerConfig, NodeDriver, NodeLimits, NodeManager, NodeRegistry};
use confer_frontdoor::platform_client::PlatformClient;
use confer_frontdoor::site_directory::SiteDirectory;
use std::sync::Arc;
use std::time::Duration;

fn driver(config: &FrontDoorConfig) -> anyhow::Result<Arc<dyn NodeDriver>> {
    match config.driver {
        DriverKind::Local => {
            let binary = match &config.media_binary {
                Some(path) => path.clone(),
                None => std::env::current_exe().context("this binary's path")?.with_file_name("confer-media"),
            };
            anyhow::ensure!(
                binary.exists(),
                "the media node's binary {} does not exist (CONFER_MEDIA_BINARY)",
                binary.display()
            );
            let (udp_first, udp_last) = config.udp_range()?;
            let mut env: Vec<(String, String)> = NODE_SETTINGS
                .iter()
                .filter_map(|name| std::env::var(name).ok().map(|v| ((*name).to_owned(), v)))
                .collect();
            env.push(("CONFER_API_URL".into(), config.api_url.clone()));
            env.push(("CONFER_REDIS_URL".into(), config.redis_url.clone()));
            let local = LocalDriver::new(LocalDriverConfig {
                binary,
                listen_ip: config.node_listen_ip,
                udp_ip: config.node_udp_ip,
                udp_first,
                udp_last,
                https: config.tls_listen.is_some(),
                cgroups: config.node_cgroups,
                start_timeout: Duration::from_secs(config.node_start_timeout_seconds.max(1)),
                env,
            })?;
            Ok(Arc::new(local))
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = FrontDoorConfig::parse();
    confer_telemetry::init(config.log_format, "info");
    let api = PlatformClient::new(&config.api_url, &config.platform_token)?;
    let registry = NodeRegistry::connect(&config.redis_url)
        .await
        .with_context(|| format!("cannot reach Redis at {}", config.redis_url))?;
    let manager = NodeManager::new(
        driver(&config)?,
        api.clone(),
        registry,
        ManagerConfig {
            idle: Duration::from_secs(config.node_idle_seconds.max(1)),
            limits: NodeLimits {
                memory_bytes: config.node_memory_mb.max(8) * 1024 * 1024,
                cpu_millis: config.node_cpu_percent.max(1) * 10,
            },
            lease_ttl: Duration::from_secs(15),
            restart_delay: Duration::from_millis(config.node_restart_delay_ms),
            start_ahead: Duration::from_secs(config.node_start_ahead_seconds.max(1)),
            ahead_scan: Duration::from_secs(config.node_ahead_scan_seconds.max(1)),
            supervise_every: Duration::from_millis(500),
            start_timeout: Duration::from_secs(config.node_start_timeout_seconds.max(1)),
        },
    );
    let header_timeout = Duration::from_secs(config.header_timeout_seconds.max(1));
    let limits = HttpLimits { header_timeout, max_header_bytes: config.max_header_bytes };
    let door = FrontDoor::new(SiteDirectory::new(api), manager.clone(), limits);
    let (trigger, shutdown) = confer_frontdoor::shutdown::channel();

    let http = tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("bind {}", config.listen))?;
    let addr = http.local_addr()?;
    let mut serving = vec![tokio::spawn(confer_frontdoor::http_proxy::serve(http, door.clone(), shutdown.clone()))];
    let mut tls_addr = None;
    if let Some(tls_listen) = config.tls_listen {
        let https = tokio::net::TcpListener::bind(tls_listen).await.with_context(|| format!("bind {tls_listen}"))?;
        tls_addr = Some(https.local_addr()?.to_string());
        serving.push(tokio::spawn(confer_frontdoor::tls_passthrough::serve(
            https,
            door.clone(),
            header_timeout,
            shutdown.clone(),
        )));
    }
    tokio::spawn({
        let manager = manager.clone();
        async move { manager.supervise().await }
    });
    tokio::spawn({
        let manager = manager.clone();
        async move { manager.start_ahead().await }
    });
    confer_frontdoor::tenant_deletions::follow(config.redis_url.clone(), door.clone());
    tracing::info!(addr = %addr, tls = tls_addr.as_deref(), api = %config.api_url, "confer-frontdoor listening");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("stopping: no new connections; stopping the nodes");
    trigger.fire();
    for task in serving {
        let _ = task.await;
    }
    manager.stop_all().await;
    tracing::info!("confer-frontdoor stopped");
    Ok(())
}

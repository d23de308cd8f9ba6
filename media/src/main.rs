//! `confer-media`: one tenant's media node. Serves the meeting site, WebSocket
//! signaling at `/ws`, and the SFU on one UDP port; ends rooms cleanly on SIGTERM.
//! With `CONFER_MEDIA_TLS_LISTEN`, serves the same over HTTPS for the tenant's
//! platform name and custom domains.

use anyhow::Context;
use clap::Parser;
use confer_media::announcements::Announcements;
use confer_media::api_client::{ApiClient, NodeCredential};
use confer_media::auth::{SiteLogin, TokenCheck};
use confer_media::facts::Facts;
use confer_media::password_attempts::PasswordAttempts;
use confer_media::room::RoomPolicy;
use confer_media::sfu::{SfuConfig, SfuNode};
use confer_media::signaling::{Hub, websocket};
use confer_media::tls::acme_http01::AcmeChallenges;
use confer_media::tls::certificate_store::CertificateStore;
use confer_media::tls::host_name::HostName;
use confer_media::tls::sni_resolver::{PlatformCertificate, SniResolver};
use confer_media::turn::TurnConfig;
use confer_telemetry::LogFormat;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

/// A tenant's media node: meeting site, signaling and SFU.
#[derive(Debug, Parser)]
#[command(name = "confer-media", version)]
struct Config {
    /// The tenant this node serves.
    #[arg(long, env = "CONFER_TENANT", default_value = "demo")]
    tenant: String,
    /// HTTP address of the site and signaling (port 0: any free port).
    #[arg(long, env = "CONFER_MEDIA_LISTEN", default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// UDP address of the SFU's first event loop; loop i uses port + i (port 0: any
    /// free ports). Every participant of a room uses its loop's port.
    #[arg(long, env = "CONFER_MEDIA_UDP", default_value = "127.0.0.1:10000")]
    udp: SocketAddr,
    /// SFU event loops, each a thread with its own UDP port (default: one per core).
    #[arg(long, env = "CONFER_MEDIA_LOOPS")]
    media_loops: Option<usize>,
    /// Send a run of packets to one participant (a video frame's) as one UDP GSO
    /// send. Turn off where a NIC or hypervisor mishandles it.
    #[arg(long, env = "CONFER_MEDIA_UDP_GSO", default_value_t = true, action = clap::ArgAction::Set)]
    udp_gso: bool,
    /// The IP clients must send media to, when not the bound one (NAT, public IP).
    #[arg(long, env = "CONFER_MEDIA_ADVERTISED_IP")]
    advertised_ip: Option<IpAddr>,
    /// Participants per room, at most, until the tenant's settings are read from the api.
    #[arg(long, env = "CONFER_MAX_PARTICIPANTS", default_value_t = confer_media::room::DEFAULT_MAX_PARTICIPANTS)]
    max_participants: u32,
    /// TURN URLs handed to clients (comma-separated), e.g. `turn:turn.example.com:3478`.
    #[arg(long, env = "CONFER_TURN_URLS", value_delimiter = ',')]
    turn_urls: Vec<String>,
    /// coturn's `static-auth-secret`, to mint per-join TURN credentials.
    #[arg(long, env = "CONFER_TURN_SECRET", hide_env_values = true)]
    turn_secret: Option<String>,
    /// How long minted TURN credentials stay valid, seconds.
    #[arg(long, env = "CONFER_TURN_TTL_SECONDS", default_value_t = 86_400)]
    turn_ttl_seconds: u64,
    /// The api's URL: the tenant's settings, logins, scheduled meetings, certificates
    /// and room facts (with `CONFER_NODE_CREDENTIAL`).
    #[arg(long, env = "CONFER_API_URL")]
    api_url: Option<String>,
    /// The node's credential for the api, sent as `Authorization: Bearer`.
    #[arg(long, env = "CONFER_NODE_CREDENTIAL", hide_env_values = true)]
    node_credential: Option<String>,
    /// The tenant's id: with `CONFER_NODE_ID` and Redis, the node registers under it.
    #[arg(long, env = "CONFER_TENANT_ID")]
    tenant_id: Option<String>,
    /// The node's id, given by whoever started it (the front door); with it the node
    /// prints a ready line on its standard output and registers in Redis.
    #[arg(long, env = "CONFER_NODE_ID")]
    node_id: Option<String>,
    /// The proxy (the front door) whose `X-Forwarded-For` names the client.
    #[arg(long, env = "CONFER_TRUSTED_PROXY")]
    trusted_proxy: Option<IpAddr>,
    /// Redis, where wrong room passwords are counted (across all nodes of the tenant).
    #[arg(long, env = "CONFER_REDIS_URL")]
    redis_url: Option<String>,
    /// Wrong room-password tries per client address and room, per window.
    #[arg(long, env = "CONFER_PASSWORD_TRIES", default_value_t = 5)]
    password_tries: u32,
    /// Password tries per room (and login tries per user name) from all networks
    /// together, per window: over it, that room's (or name's) tries are locked for
    /// everyone until the window ends, and the room's moderators are told.
    #[arg(long, env = "CONFER_PASSWORD_TRIES_CEILING", default_value_t = 50)]
    password_tries_ceiling: u32,
    /// The window of those tries, in seconds (from the first wrong one).
    #[arg(long, env = "CONFER_PASSWORD_WINDOW_SECONDS", default_value_t = 60)]
    password_window_seconds: u64,
    /// Signaling frames one socket may send per second (chat included), after a
    /// burst of twice as many; over it a frame is answered `too_many_frames`.
    #[arg(long, env = "CONFER_SIGNALING_FRAMES_PER_SECOND", default_value_t = 20)]
    signaling_frames_per_second: u32,
    /// Chat messages one socket may send per second, after a burst of five times as
    /// many; over it a message is answered `too_many_messages` and not sent.
    #[arg(long, env = "CONFER_CHAT_MESSAGES_PER_SECOND", default_value_t = 2)]
    chat_messages_per_second: u32,
    /// How often the tenant's settings are read when no change is announced on Redis.
    #[arg(long, env = "CONFER_SETTINGS_POLL_SECONDS", default_value_t = 30)]
    settings_poll_seconds: u64,
    /// Where the tenant's token keys (JWKS) are read (default: the api's
    /// `/v1/tenants/<tenant>/jwks.json`).
    #[arg(long, env = "CONFER_JWKS_URL")]
    jwks_url: Option<String>,
    /// The site's public URL, e.g. `https://acme.confer.example` (default: taken from
    /// each request's Host). OpenID providers send the browser back to
    /// `<site>/auth/oidc/callback`.
    #[arg(long, env = "CONFER_SITE_URL")]
    site_url: Option<String>,
    /// HTTPS address of the same site and signaling (port 0: any free port); unset:
    /// no HTTPS.
    #[arg(long, env = "CONFER_MEDIA_TLS_LISTEN")]
    tls_listen: Option<SocketAddr>,
    /// The platform's base domain, e.g. `confer.example`: this node's platform name is
    /// `<CONFER_TENANT>.<base domain>`.
    #[arg(long, env = "CONFER_BASE_DOMAIN")]
    base_domain: Option<String>,
    /// The operator's certificate chain for the platform name (PEM, leaf first).
    /// Without it (and `CONFER_TLS_KEY`), HTTPS serves the custom domains only.
    #[arg(long, env = "CONFER_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The private key of `CONFER_TLS_CERT` (PEM).
    #[arg(long, env = "CONFER_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// How often the custom domains' certificates are read from the api when no new
    /// one is announced on Redis.
    #[arg(long, env = "CONFER_CERTIFICATES_POLL_SECONDS", default_value_t = 60)]
    certificates_poll_seconds: u64,
    /// `text` or `json`.
    #[arg(long, env = "CONFER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// The node's client for the api, when it has one (`CONFER_API_URL` and
/// `CONFER_NODE_CREDENTIAL`).
fn api_client(config: &Config) -> anyhow::Result<Option<Arc<ApiClient>>> {
    match (&config.api_url, &config.node_credential) {
        (Some(url), Some(credential)) => {
            let client = ApiClient::new(url, NodeCredential::new(credential.as_str())).context("CONFER_API_URL")?;
            Ok(Some(Arc::new(client)))
        }
        (None, None) => {
            tracing::warn!(
                "CONFER_API_URL and CONFER_NODE_CREDENTIAL are not set: rooms are open to all, and room facts are not recorded"
            );
            Ok(None)
        }
        _ => anyhow::bail!("the api needs both CONFER_API_URL and CONFER_NODE_CREDENTIAL"),
    }
}

/// The HTTPS listener's TLS configuration, when `CONFER_MEDIA_TLS_LISTEN` asks for
/// one, after starting to follow the custom domains' certificates from `api`.
fn https_config(
    config: &Config,
    api: Option<&Arc<ApiClient>>,
    announcements: &Announcements,
) -> anyhow::Result<Option<rustls::ServerConfig>> {
    if config.tls_listen.is_none() {
        if config.tls_cert.is_some() {
            tracing::warn!("CONFER_TLS_CERT is set but CONFER_MEDIA_TLS_LISTEN is not: no HTTPS");
        }
        return Ok(None);
    }
    let provider = confer_media::tls::crypto_provider();
    let platform = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            let base = config
                .base_domain
                .as_deref()
                .context("the operator's certificate (CONFER_TLS_CERT) needs CONFER_BASE_DOMAIN")?;
            let name = HostName::parse(&format!("{}.{base}", config.tenant))
                .context("CONFER_TENANT.CONFER_BASE_DOMAIN must be a DNS name")?;
            let key = confer_media::tls::certified_key::from_pem_files(cert, key, &provider)
                .with_context(|| format!("the operator's certificate {}", cert.display()))?;
            tracing::info!(platform_name = %name, "serving the operator's certificate for the platform name");
            Some(PlatformCertificate { name, key: Arc::new(key) })
        }
        (None, None) => None,
        _ => anyhow::bail!("the operator's certificate needs both CONFER_TLS_CERT and CONFER_TLS_KEY"),
    };
    let store = Arc::new(CertificateStore::new(provider.clone()));
    match api {
        Some(api) => {
            let poll = std::time::Duration::from_secs(config.certificates_poll_seconds.max(1));
            confer_media::tls::certificate_follower::follow(
                api.clone(),
                announcements.certificates(),
                poll,
                store.clone(),
            );
        }
        None if platform.is_some() => {
            tracing::warn!(
                "CONFER_API_URL and CONFER_NODE_CREDENTIAL are not set: custom domains are not served over HTTPS"
            )
        }
        None => anyhow::bail!(
            "HTTPS has nothing to serve: no operator certificate (CONFER_TLS_CERT, CONFER_TLS_KEY) and no api \
             (CONFER_API_URL, CONFER_NODE_CREDENTIAL) to read the custom domains' certificates from"
        ),
    }
    let resolver = Arc::new(SniResolver::new(platform, store));
    Ok(Some(confer_media::tls::server_config(provider, resolver)?))
}

/// How long a node may take to stop after SIGTERM: ending rooms, the HTTP server's
/// graceful stop (10 s) and handing over the last room facts (10 s), then a margin.
const STOP_DEADLINE: std::time::Duration = std::time::Duration::from_secs(25);

/// Whatever the stop waits on, or wherever the node is stuck (an api or Redis gone
/// with the front door that started it), the node is gone [`STOP_DEADLINE`] after
/// SIGTERM: an orphan would keep its UDP port and its registration. The deadline
/// runs on a thread and runtime of its own, so that it fires even when the node's
/// runtime does not.
fn stop_deadline() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name("stop-deadline".into()).spawn(move || {
        runtime.block_on(async {
            let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
                return;
            };
            term.recv().await;
            tokio::time::sleep(STOP_DEADLINE).await;
            // Not `eprintln!`: with the front door gone, stderr may be a broken pipe,
            // and a failed write must not stop the exit.
            let line = format!("confer-media: not stopped {} s after SIGTERM; exiting\n", STOP_DEADLINE.as_secs());
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
            std::process::exit(1);
        });
    })?;
    Ok(())
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    confer_telemetry::init(config.log_format, "info");
    // Listened for from the start: a SIGTERM while the node is still starting (the
    // front door that started it died) is kept, and stops it as soon as it serves.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    stop_deadline()?;
    let mut sfu_config = SfuConfig::per_core(config.udp);
    sfu_config.advertised_ip = config.advertised_ip;
    sfu_config.udp_gso = config.udp_gso;
    if let Some(loops) = config.media_loops {
        anyhow::ensure!(loops >= 1, "CONFER_MEDIA_LOOPS must be at least 1");
        sfu_config.loops = loops;
    }
    let (sfu, speakers) = SfuNode::start(sfu_config)?;
    let turn = match (&config.turn_secret, config.turn_urls.is_empty()) {
        (Some(secret), false) => Some(TurnConfig {
            urls: config.turn_urls.clone(),
            secret: secret.clone(),
            ttl: std::time::Duration::from_secs(config.turn_ttl_seconds),
        }),
        (None, true) => None,
        _ => anyhow::bail!("TURN needs both CONFER_TURN_URLS and CONFER_TURN_SECRET"),
    };
    let api = api_client(&config)?;
    // One subscription hears every announcement for the tenant, whichever follower it wakes.
    let announcements = match &api {
        Some(_) => Announcements::listen(config.redis_url.clone(), &config.tenant),
        None => Announcements::default(),
    };
    let facts = api.clone().map(Facts::start);
    let policy = RoomPolicy { max_participants: config.max_participants, ..RoomPolicy::default() };
    let hub = Hub::with_facts(policy, sfu.clone(), turn, facts.clone());
    hub.limit_signaling(confer_media::signaling::SignalingLimits {
        frames_per_second: config.signaling_frames_per_second,
        chat_per_second: config.chat_messages_per_second,
        ..Default::default()
    });
    let jwks_url = config.jwks_url.clone().or_else(|| {
        let api = config.api_url.as_deref()?.trim_end_matches('/');
        Some(format!("{api}{}", confer_vocabulary::node_api::paths::tenant_jwks(&config.tenant)))
    });
    if let Some(api) = &api {
        hub.follow_scheduled_meetings(confer_media::scheduled_meetings::ScheduledMeetings::new(api.clone()));
    }
    let tokens = jwks_url.map(|url| std::sync::Arc::new(TokenCheck::new(&config.tenant, &url)));
    if let Some(tokens) = &tokens {
        hub.check_tokens(tokens.clone());
    }
    let login = match (&api, &tokens) {
        (Some(api), Some(tokens)) => {
            Some(actix_web::web::Data::new(SiteLogin::new(api.clone(), config.site_url.clone(), tokens.clone())))
        }
        _ => None,
    };
    let embedding = confer_media::site::Embedding::default();
    if let Some(api) = &api {
        let poll = std::time::Duration::from_secs(config.settings_poll_seconds.max(1));
        confer_media::tenant_settings::follow(
            api.clone(),
            announcements.settings(),
            poll,
            hub.clone(),
            embedding.clone(),
        );
        // Serve once the rules are known (joins are refused until then anyway).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !hub.settings_ready() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        if !hub.settings_ready() {
            tracing::warn!("the tenant's settings are not read yet; joins are refused until they are");
        }
    }
    match &config.redis_url {
        Some(url) => {
            let window = std::time::Duration::from_secs(config.password_window_seconds.max(1));
            let prefix = format!("confer:{}", config.tenant);
            let attempts = PasswordAttempts::connect(
                url,
                &prefix,
                config.password_tries.max(1),
                config.password_tries_ceiling,
                window,
            )
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach Redis at CONFER_REDIS_URL: {e}"))?;
            if let Some(login) = &login {
                login.limit_attempts(attempts.clone());
            }
            if let Some(tokens) = &tokens {
                let revoked = confer_media::auth::RevokedSessions::connect(url, &prefix)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot reach Redis at CONFER_REDIS_URL: {e}"))?;
                tokens.follow_logouts(revoked);
            }
            hub.limit_password_attempts(attempts);
        }
        None => tracing::warn!("CONFER_REDIS_URL is not set: wrong room passwords are not rate-limited"),
    }
    let acme_redis = match &config.redis_url {
        Some(url) => Some(
            confer_media::redis_link::connect(url)
                .await
                .map_err(|e| anyhow::anyhow!("cannot reach Redis at CONFER_REDIS_URL: {e}"))?,
        ),
        None => None,
    };
    let acme = actix_web::web::Data::new(AcmeChallenges::new(acme_redis));
    let tls = https_config(&config, api.as_ref(), &announcements)?;
    hub.spawn_ticker();
    hub.relay_speakers(speakers);
    let data = actix_web::web::Data::new(hub.clone());
    let trusted_proxy = confer_media::client_address::TrustedProxy(config.trusted_proxy);
    let site_url = confer_media::site_origin::SiteUrl(config.site_url.clone());
    let server = actix_web::HttpServer::new(move || {
        let app = actix_web::App::new()
            .app_data(data.clone())
            .app_data(acme.clone())
            .app_data(trusted_proxy)
            .app_data(site_url.clone())
            .app_data(actix_web::web::Data::new(embedding.clone()));
        let app = match &login {
            Some(login) => app.app_data(login.clone()),
            None => app,
        };
        app.route("/healthz", actix_web::web::get().to(|| async { actix_web::HttpResponse::Ok().body("ok") }))
            .route("/ws", actix_web::web::get().to(websocket))
            .configure(confer_media::auth::site_login::routes)
            .configure(confer_media::tls::acme_http01::routes)
            .configure(confer_media::site::routes)
    })
    .shutdown_timeout(10)
    .disable_signals()
    .bind(config.listen)?;
    let server = match (config.tls_listen, tls) {
        (Some(tls_listen), Some(tls)) => server.bind_rustls_0_23(tls_listen, tls)?,
        _ => server,
    };
    let bound = server.addrs_with_scheme();
    let addr = bound.iter().find(|(_, scheme)| *scheme == "http").map_or(config.listen, |(addr, _)| *addr);
    let tls_addr = bound.iter().find(|(_, scheme)| *scheme == "https").map(|(addr, _)| addr.to_string());
    tracing::info!(tenant = %config.tenant, addr = %addr, tls = tls_addr.as_deref(), site = %format!("http://{addr}/"), media = ?sfu.media_addrs(), "confer-media listening");
    let registered = match (&config.node_id, &config.tenant_id, &config.redis_url) {
        (Some(node_id), Some(tenant_id), Some(redis_url)) => {
            let identity = confer_media::node_registration::NodeIdentity {
                node_id: node_id.clone(),
                tenant_id: tenant_id.clone(),
                http: addr.to_string(),
                https: tls_addr.clone(),
                udp: sfu.media_addrs().iter().map(ToString::to_string).collect(),
            };
            let registered = confer_media::node_registration::register(identity, redis_url, hub.clone())
                .await
                .map_err(|e| anyhow::anyhow!("cannot register this node in Redis: {e}"))?;
            Some(registered)
        }
        (Some(_), _, _) => anyhow::bail!("CONFER_NODE_ID needs CONFER_TENANT_ID and CONFER_REDIS_URL to register"),
        _ => None,
    };
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        if let Some(registered) = registered {
            registered.deregister().await;
        }
        // End every room while the sockets are still open, so everyone is told why.
        tracing::info!("stopping: ending every room");
        hub.shutdown();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        handle.stop(true).await;
        // What happened in the rooms, their ends included, reaches the api before we go.
        if let Some(facts) = &facts {
            let left = facts.flush(std::time::Duration::from_secs(10)).await;
            if left > 0 {
                tracing::error!(undelivered = left, "the api did not take every room fact before shutdown");
            }
        }
    });
    server.await?;
    sfu.stop();
    tracing::info!("confer-media stopped");
    Ok(())
}

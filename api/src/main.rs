//! `confer-api`: serve the API, apply migrations, rebuild projections, or create a tenant.

use clap::Parser;
use confer_api::app::{self, Application};
use confer_api::config::{Cli, Command};
use confer_api::domain::{EmailAddress, TenantSlug, parse_text};
use confer_api::http::{ApiError, CommandRequest, create_tenant};
use confer_api::store::{Scope, rebuild_projections, tenants};

/// The api's log filter when `RUST_LOG` is unset.
const API_LOG_FILTER: &str = "info,sqlx=warn,sea_orm=warn";

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    confer_telemetry::init(cli.config.log_format, API_LOG_FILTER);
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(config).await?;
            if let Some(metrics_addr) = app.metrics_addr() {
                tracing::info!(%metrics_addr, "confer-api metrics listening");
            }
            tracing::info!(addr = %app.local_addr(), "confer-api listening");
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            app::migrate_database(&config).await?;
            tracing::info!("migrations applied");
        }
        Command::RebuildProjections => {
            app::migrate_database(&config).await?;
            let db = app::connect(&config).await?;
            let state = app::state(&config, db)?;
            let n = rebuild_projections(&state.store).await?;
            state.store.connection().clone().close().await?;
            tracing::info!(events = n, "read models rebuilt from the log");
        }
        Command::EnsureTenant { slug, name, admin_email } => {
            app::migrate_database(&config).await?;
            let db = app::connect(&config).await?;
            let state = app::state(&config, db)?;
            let slug = TenantSlug::parse(&slug)?;
            let email = EmailAddress::parse("admin_email", &admin_email)?;
            let name = parse_text("name", &name, 100)?;
            let tx = state.store.begin(Scope::Platform).await?;
            let existing = tenants::find_by_slug(&tx, slug.as_str()).await?;
            tx.commit().await?;
            let created = match existing {
                None => create_tenant(&state, name, slug, email, CommandRequest::operator("ensure-tenant"), None).await,
                Some(row) => confer_api::http::issue_admin_key(&state, row).await,
            }
            .map_err(|e: ApiError| anyhow::anyhow!("{e}"))?;
            state.store.connection().clone().close().await?;
            println!("{}", serde_json::to_string_pretty(&created)?);
        }
    }
    Ok(())
}

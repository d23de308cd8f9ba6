//! The connection pool the api and the worker share, every connection running as
//! the role `confer_app`: nothing they do can bypass row-level security or
//! rewrite the log, whatever their SQL says. Migrations run as the schema's owner
//! instead, and are not done here.

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use std::time::Duration;

/// The database could not be reached, or refused the connection.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to the database (DATABASE_URL)")]
pub struct ConnectError(#[source] DbErr);

/// A pool of `size` connections to `database_url`, each running as `confer_app`
/// from the start (a startup option).
pub async fn connect_as_app(database_url: &str, size: u32) -> Result<DatabaseConnection, ConnectError> {
    let mut options = ConnectOptions::new(database_url.to_owned());
    options
        .max_connections(size)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        // Pinging every connection before use costs a round trip per transaction;
        // only connections idle for a while are checked.
        .test_before_acquire_if_idle_for(Duration::from_secs(5))
        .sqlx_logging(false)
        .map_sqlx_postgres_opts(|o| o.options([("role", "confer_app")]));
    Database::connect(options).await.map_err(ConnectError)
}

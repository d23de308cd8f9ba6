//! Schema migrations for Confer's event store and read models.
//!
//! The schema is written as SQL because its important parts (row-level security
//! policies, an exclusion constraint, grants to the application role) have no
//! builder equivalent, and a reviewer should be able to read them as the database
//! will see them.

pub use sea_orm_migration::prelude::*;

mod m0001_event_store;
mod m0002_append_in_one_statement;
mod m0003_room_facts;
mod m0004_domains_and_outbox;
mod m0005_processed_jobs;
mod m0006_domain_lifecycle;
mod m0007_nodes_and_tenant_end;
mod m0008_signup_replays;
mod m0009_tenant_plans;
mod m0010_embedding_sites;
mod sql_migration;

use sql_migration::SqlMigration;

/// Every migration of the platform, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_event_store::MIGRATION),
            Box::new(m0002_append_in_one_statement::MIGRATION),
            Box::new(m0003_room_facts::MIGRATION),
            Box::new(m0004_domains_and_outbox::MIGRATION),
            Box::new(m0005_processed_jobs::MIGRATION),
            Box::new(m0006_domain_lifecycle::MIGRATION),
            Box::new(m0007_nodes_and_tenant_end::MIGRATION),
            Box::new(m0008_signup_replays::MIGRATION),
            Box::new(m0009_tenant_plans::MIGRATION),
            Box::new(m0010_embedding_sites::MIGRATION),
        ]
    }
}

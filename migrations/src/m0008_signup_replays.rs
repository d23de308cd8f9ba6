//! Signup with an `Idempotency-Key`.
//!
//! A signup's answer holds the new admin key, a secret shown once, so it cannot go
//! into `idempotency_keys` in the clear. `signup_replays` keeps it sealed with the
//! new tenant's data key (deleting the tenant shreds it with the rest), under the
//! SHA-256 of the key (whoever holds the key can read the answer), for a day.
//! Not an event: like `idempotency_keys`, it is how a request is answered, not
//! something that happened to the tenant.

use crate::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration { name: "m0008_signup_replays", up: UP, down: DOWN };

const UP: &str = r#"
CREATE TABLE signup_replays (
  key_hash       bytea PRIMARY KEY,
  tenant_id      uuid NOT NULL,
  fingerprint    text NOT NULL,
  sealed_answer  text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX signup_replays_by_tenant ON signup_replays (tenant_id);
SELECT confer_tenant_rls('signup_replays');
GRANT SELECT, INSERT, DELETE ON signup_replays TO confer_app;
"#;

const DOWN: &str = r#"
DROP TABLE IF EXISTS signup_replays;
"#;

//! What the worker has done: each job id with its outcome, so that a job delivered
//! twice (a relay or a consumer that crashed between its publish and its
//! bookkeeping) takes effect once. Platform bookkeeping: only the platform scope
//! reads or writes it.

use crate::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration { name: "m0005_processed_jobs", up: UP, down: DOWN };

const UP: &str = r#"
CREATE TABLE processed_jobs (
  job_id      uuid PRIMARY KEY,
  kind        text NOT NULL,
  outcome     text NOT NULL,
  detail      text,
  finished_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE processed_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE processed_jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_only ON processed_jobs
  USING (current_setting('confer.scope', true) = 'platform')
  WITH CHECK (current_setting('confer.scope', true) = 'platform');
GRANT SELECT, INSERT ON processed_jobs TO confer_app;
"#;

const DOWN: &str = r#"
DROP TABLE IF EXISTS processed_jobs;
"#;

//! A tenant's plan: the memory and CPU its node may use, set by the platform's
//! operator (`TenantPlanChanged`). No plan (NULL) means the front door's default.
//!
//! The projection of the earlier migrations is kept under a name of its own and
//! called for every other event, as m0007 does.

use crate::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration { name: "m0009_tenant_plans", up: UP, down: DOWN };

const UP: &str = r#"
ALTER TABLE tenants ADD COLUMN node_memory_mb integer, ADD COLUMN node_cpu_percent integer;

ALTER FUNCTION confer_project(events, boolean) RENAME TO confer_project_m0007;

CREATE FUNCTION confer_project(e events, p_rebuilding boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  p jsonb := e.payload;
  written jsonb;
BEGIN
  IF e.event_type = 'TenantPlanChanged' THEN
    UPDATE tenants AS t SET node_memory_mb = (p->>'memory_mb')::integer,
           node_cpu_percent = (p->>'cpu_percent')::integer,
           version = e.stream_version, updated_at = e.recorded_at
    WHERE t.id = e.tenant_id
    RETURNING jsonb_build_object('id', t.id, 'node_memory_mb', t.node_memory_mb,
                                 'node_cpu_percent', t.node_cpu_percent, 'version', t.version) INTO written;
    RETURN written;
  END IF;
  RETURN confer_project_m0007(e, p_rebuilding);
END $$;
"#;

const DOWN: &str = r#"
DROP FUNCTION IF EXISTS confer_project(events, boolean);
ALTER FUNCTION confer_project_m0007(events, boolean) RENAME TO confer_project;
ALTER TABLE tenants DROP COLUMN IF EXISTS node_memory_mb, DROP COLUMN IF EXISTS node_cpu_percent;
"#;

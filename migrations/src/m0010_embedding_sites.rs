//! The sites a tenant lets embed its meeting pages (`embed_origins` in its settings,
//! `TenantSettingsChanged`): a JSON list of origins, empty by default.
//!
//! The projection of the earlier migrations is kept under a name of its own and
//! called first, as m0007 and m0009 do.

use crate::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration { name: "m0010_embedding_sites", up: UP, down: DOWN };

const UP: &str = r#"
ALTER TABLE tenants ADD COLUMN embed_origins jsonb NOT NULL DEFAULT '[]'::jsonb;

ALTER FUNCTION confer_project(events, boolean) RENAME TO confer_project_m0009;

CREATE FUNCTION confer_project(e events, p_rebuilding boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  written jsonb;
BEGIN
  written := confer_project_m0009(e, p_rebuilding);
  IF e.event_type = 'TenantSettingsChanged' THEN
    UPDATE tenants AS t SET embed_origins = coalesce(nullif(e.payload->'settings'->'embed_origins', 'null'::jsonb), '[]'::jsonb)
    WHERE t.id = e.tenant_id
    RETURNING to_jsonb(t.*) INTO written;
  END IF;
  RETURN written;
END $$;
"#;

const DOWN: &str = r#"
DROP FUNCTION IF EXISTS confer_project(events, boolean);
ALTER FUNCTION confer_project_m0009(events, boolean) RENAME TO confer_project;
ALTER TABLE tenants DROP COLUMN IF EXISTS embed_origins;
"#;

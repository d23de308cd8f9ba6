//! Tenants' media nodes and the end of a tenant.
//!
//! - `node_credentials`: what a node of a tenant holds to call the api, minted at
//!   each start (`NodeCredentialIssued`) and revoked when it stops
//!   (`NodeCredentialRevoked`). Only its SHA-256 is kept. A node's start that failed
//!   (`NodeStartFailed`) has no read model: it is in the tenant's feed.
//! - `TenantDeleted` removes every read-model row of the tenant (the command also
//!   destroys its data key, outside the log, so what the log keeps sealed stays
//!   unreadable).
//!
//! The projection of the earlier migrations is kept under a name of its own and
//! called for every other event: this migration adds branches without restating
//! m0006's.

use crate::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration { name: "m0007_nodes_and_tenant_end", up: UP, down: DOWN };

const UP: &str = r#"
CREATE TABLE node_credentials (
  node_id        uuid PRIMARY KEY,
  tenant_id      uuid NOT NULL,
  prefix         text NOT NULL,
  key_hash       bytea NOT NULL UNIQUE,
  issued_at      timestamptz NOT NULL,
  revoked_at     timestamptz,
  revoked_reason text
);
CREATE INDEX node_credentials_by_tenant ON node_credentials (tenant_id, node_id);
SELECT confer_tenant_rls('node_credentials');
GRANT SELECT, INSERT, UPDATE, DELETE ON node_credentials TO confer_app;

ALTER FUNCTION confer_project(events, boolean) RENAME TO confer_project_m0006;

CREATE FUNCTION confer_project(e events, p_rebuilding boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  p jsonb := e.payload;
  written jsonb;
BEGIN
  CASE e.event_type
  WHEN 'NodeCredentialIssued' THEN
    INSERT INTO node_credentials AS n (node_id, tenant_id, prefix, key_hash, issued_at)
    VALUES ((p->>'node_id')::uuid, e.tenant_id, p->>'prefix', decode(p->>'key_hash', 'hex'), e.recorded_at)
    RETURNING to_jsonb(n.*) - 'key_hash' INTO written;
    RETURN written;
  WHEN 'NodeCredentialRevoked' THEN
    UPDATE node_credentials AS n SET revoked_at = e.recorded_at, revoked_reason = p->>'reason'
    WHERE n.node_id = (p->>'node_id')::uuid AND n.revoked_at IS NULL
    RETURNING to_jsonb(n.*) - 'key_hash' INTO written;
    RETURN written;
  WHEN 'NodeStartFailed' THEN
    RETURN NULL; -- in the feed only
  WHEN 'TenantDeleted' THEN
    DELETE FROM node_credentials WHERE tenant_id = e.tenant_id;
    DELETE FROM certificates WHERE tenant_id = e.tenant_id;
    DELETE FROM domains WHERE tenant_id = e.tenant_id;
    DELETE FROM outbox WHERE tenant_id = e.tenant_id AND published_at IS NULL;
    DELETE FROM meetings WHERE tenant_id = e.tenant_id;
    DELETE FROM users WHERE tenant_id = e.tenant_id;
    DELETE FROM api_keys WHERE tenant_id = e.tenant_id;
    DELETE FROM tenants AS t WHERE t.id = e.tenant_id RETURNING jsonb_build_object('id', t.id, 'slug', t.slug)
      INTO written;
    RETURN written;
  ELSE
    RETURN confer_project_m0006(e, p_rebuilding);
  END CASE;
END $$;
"#;

const DOWN: &str = r#"
DROP FUNCTION IF EXISTS confer_project(events, boolean);
ALTER FUNCTION confer_project_m0006(events, boolean) RENAME TO confer_project;
DROP TABLE IF EXISTS node_credentials;
"#;

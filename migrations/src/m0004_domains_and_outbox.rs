//! Custom domains and the outbox.
//!
//! - `domains`: the read model of a tenant's custom domains (`DomainAdded`,
//!   `DomainRemoved`). A hostname belongs to one tenant at a time: the unique index
//!   covers every tenant, so a name another tenant holds is refused inside the append.
//! - `outbox`: jobs for the worker, written by the projection in the same statement as
//!   the events that cause them, and published to RabbitMQ by a relay that marks them
//!   sent. Replaying the log (`confer_rebuild`) writes no jobs.
//!
//! The dispatcher m0003 put in front of the read-model projection is replaced (not
//! wrapped again), so an append still goes through one dispatcher whatever the number
//! of migrations; later migrations replace it the same way. Row-level security for
//! a new tenant table is one call of `confer_tenant_rls`.

use crate::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration { name: "m0004_domains_and_outbox", up: UP, down: DOWN };

/// The projection of m0004 (domains added and removed, jobs to the outbox): also what
/// m0006 puts back when it is taken back.
macro_rules! project_domains {
    () => {
        r#"
CREATE OR REPLACE FUNCTION confer_project(e events, p_rebuilding boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  p jsonb := e.payload;
  written jsonb;
BEGIN
  CASE e.event_type
  WHEN 'DomainAdded' THEN
    INSERT INTO domains AS d (id, tenant_id, hostname, status, cname_target, txt_name, txt_value, version,
                              created_at, updated_at)
    VALUES ((p->>'domain_id')::uuid, e.tenant_id, p->>'hostname', 'pending_dns', p->>'cname_target',
            p->>'txt_name', p->>'txt_value', e.stream_version, e.recorded_at, e.recorded_at)
    RETURNING to_jsonb(d.*) INTO written;
    IF NOT p_rebuilding THEN
      INSERT INTO outbox (id, tenant_id, kind, payload, event_position, created_at)
      VALUES (gen_random_uuid(), e.tenant_id, 'check_domain',
              jsonb_build_object('domain_id', p->>'domain_id', 'hostname', p->>'hostname'),
              e.position, e.recorded_at);
    END IF;
    RETURN written;
  WHEN 'DomainRemoved' THEN
    DELETE FROM domains AS d WHERE id = (p->>'domain_id')::uuid RETURNING to_jsonb(d.*) INTO written;
    RETURN written;
  WHEN 'MeetingStarted', 'ParticipantJoined', 'ParticipantLeft', 'RoomLocked', 'RoomUnlocked', 'MeetingEnded' THEN
    RETURN NULL; -- room facts: no read model yet (m0003)
  ELSE
    RETURN confer_project_read_models(e, p_rebuilding);
  END CASE;
END $$;
"#
    };
}
pub(crate) use project_domains;

const UP: &str = concat!(
    r#"
CREATE TABLE domains (
  id            uuid PRIMARY KEY,
  tenant_id     uuid NOT NULL,
  hostname      text NOT NULL,
  status        text NOT NULL,
  reason        text,
  next_retry_at timestamptz,
  cname_target  text NOT NULL,
  txt_name      text NOT NULL,
  txt_value     text NOT NULL,
  version       bigint NOT NULL,
  created_at    timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX domains_hostname_key ON domains (hostname);
CREATE INDEX domains_by_tenant ON domains (tenant_id, id);

CREATE TABLE outbox (
  id            uuid PRIMARY KEY,
  tenant_id     uuid NOT NULL,
  kind          text NOT NULL,
  payload       jsonb NOT NULL,
  event_position bigint NOT NULL,
  created_at    timestamptz NOT NULL,
  published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (created_at) WHERE published_at IS NULL;

-- The tenant-isolation policy of m0001, for one table.
CREATE FUNCTION confer_tenant_rls(t regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
  EXECUTE format($p$CREATE POLICY tenant_isolation ON %s
    USING (tenant_id = nullif(current_setting('confer.tenant_id', true), '')::uuid
           OR current_setting('confer.scope', true) = 'platform')
    WITH CHECK (tenant_id = nullif(current_setting('confer.tenant_id', true), '')::uuid
           OR current_setting('confer.scope', true) = 'platform')$p$, t);
END $$;
SELECT confer_tenant_rls('domains');
SELECT confer_tenant_rls('outbox');
GRANT SELECT, INSERT, UPDATE, DELETE ON domains, outbox TO confer_app;

"#,
    project_domains!()
);

const DOWN: &str = r#"
CREATE OR REPLACE FUNCTION confer_project(e events, p_rebuilding boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  IF e.event_type IN ('MeetingStarted', 'ParticipantJoined', 'ParticipantLeft', 'RoomLocked', 'RoomUnlocked',
                      'MeetingEnded') THEN
    RETURN NULL;
  END IF;
  RETURN confer_project_read_models(e, p_rebuilding);
END $$;
DROP TABLE IF EXISTS outbox, domains;
DROP FUNCTION IF EXISTS confer_tenant_rls(regclass);
"#;

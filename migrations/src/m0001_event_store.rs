//! The event log, the read models projected from it, idempotency records and the
//! per-tenant data keys, with row-level security on every tenant-owned table.

use crate::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration { name: "m0001_event_store", up: UP, down: DOWN };

const UP: &str = r#"
CREATE EXTENSION IF NOT EXISTS btree_gist;

-- The role every request runs as (SET LOCAL ROLE): not a superuser, so row-level
-- security applies to it. Roles are cluster-wide; parallel test databases race here.
DO $$ BEGIN
  CREATE ROLE confer_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
DO $$ BEGIN
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE format('GRANT confer_app TO %I', current_user);
  END IF;
EXCEPTION WHEN others THEN NULL;
END $$;

CREATE TABLE events (
  position        bigserial PRIMARY KEY,
  stream_id       text        NOT NULL,
  stream_version  bigint      NOT NULL CHECK (stream_version > 0),
  tenant_id       uuid        NOT NULL,
  event_type      text        NOT NULL,
  payload         jsonb       NOT NULL,
  metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  -- the appending transaction, for operators' forensics
  transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
  UNIQUE (stream_id, stream_version)
);
CREATE INDEX events_by_tenant ON events (tenant_id, position);

CREATE TABLE tenants (
  id                uuid PRIMARY KEY,
  slug              text NOT NULL UNIQUE,
  name              text NOT NULL,
  admin_email       text NOT NULL,
  auth              text NOT NULL DEFAULT 'open',
  guests_allowed    boolean NOT NULL DEFAULT true,
  max_participants  integer NOT NULL DEFAULT 75,
  lobby             boolean NOT NULL DEFAULT false,
  ldap              jsonb,
  oidc              jsonb,
  version           bigint NOT NULL,
  created_at        timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL
);

CREATE TABLE api_keys (
  id          uuid PRIMARY KEY,
  tenant_id   uuid NOT NULL,
  name        text NOT NULL,
  prefix      text NOT NULL,
  key_hash    bytea NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL,
  revoked_at  timestamptz
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, id);

CREATE TABLE users (
  id             uuid PRIMARY KEY,
  tenant_id      uuid NOT NULL,
  email          text NOT NULL,
  display_name   text NOT NULL,
  role           text NOT NULL,
  password_hash  text,
  disabled       boolean NOT NULL DEFAULT false,
  version        bigint NOT NULL,
  created_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL,
  UNIQUE (tenant_id, email)
);
CREATE INDEX users_by_tenant ON users (tenant_id, id);

CREATE TABLE meetings (
  id             uuid PRIMARY KEY,
  tenant_id      uuid NOT NULL,
  room           text NOT NULL,
  title          text NOT NULL,
  starts_at      timestamptz NOT NULL,
  ends_at        timestamptz NOT NULL,
  password_hash  text,
  moderators     jsonb NOT NULL DEFAULT '[]'::jsonb,
  lobby          boolean,
  status         text NOT NULL,
  version        bigint NOT NULL,
  created_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL,
  CHECK (ends_at > starts_at),
  -- one room cannot be booked twice for overlapping times, whoever commits first wins
  CONSTRAINT meetings_room_not_double_booked EXCLUDE USING gist (
    tenant_id WITH =, room WITH =, tstzrange(starts_at, ends_at) WITH &&
  ) WHERE (status = 'scheduled')
);
CREATE INDEX meetings_by_start ON meetings (tenant_id, starts_at, id);

CREATE TABLE idempotency_keys (
  tenant_id        uuid NOT NULL,
  key              text NOT NULL,
  fingerprint      text NOT NULL,
  response_status  smallint NOT NULL,
  response_body    jsonb NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, key)
);

-- Per-tenant data keys, wrapped by the operator's master key. Not events: deleting
-- a row is how a tenant's secrets in the immutable log become unreadable.
CREATE TABLE tenant_keys (
  tenant_id    uuid PRIMARY KEY,
  wrapped_key  bytea NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['events','api_keys','users','meetings','idempotency_keys','tenant_keys'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
      USING (tenant_id = nullif(current_setting('confer.tenant_id', true), '')::uuid
             OR current_setting('confer.scope', true) = 'platform')
      WITH CHECK (tenant_id = nullif(current_setting('confer.tenant_id', true), '')::uuid
             OR current_setting('confer.scope', true) = 'platform')$p$, t);
  END LOOP;
END $$;
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
  USING (id = nullif(current_setting('confer.tenant_id', true), '')::uuid
         OR current_setting('confer.scope', true) = 'platform')
  WITH CHECK (id = nullif(current_setting('confer.tenant_id', true), '')::uuid
         OR current_setting('confer.scope', true) = 'platform');

-- The log is append-only for the application: no UPDATE or DELETE on events.
GRANT SELECT, INSERT ON events TO confer_app;
GRANT USAGE ON SEQUENCE events_position_seq TO confer_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, api_keys, users, meetings, idempotency_keys, tenant_keys TO confer_app;
"#;

const DOWN: &str = r#"
DROP TABLE IF EXISTS tenant_keys, idempotency_keys, meetings, users, api_keys, tenants, events;
"#;

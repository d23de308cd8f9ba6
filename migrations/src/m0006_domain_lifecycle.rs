//! A custom domain's life after it is added: DNS verified, certificate ordered,
//! issued, renewed, or failed — and the certificates its tenant's nodes serve.
//!
//! - `domains` gains what the tenant sees of that life (how it was verified, the
//!   ACME order, and the current certificate's serial, issuer and validity).
//! - `certificates`: one per active domain, the chain and its private key *sealed*
//!   with the tenant's data key (as the events hold it), plus when to renew it.
//! - `acme_accounts`: the platform's ACME account per directory, its credentials
//!   sealed with a key derived from the operator's master key. Platform scope only.
//! - The projection writes the next job to the outbox with the event that calls for
//!   it: `DomainVerified` → `order_certificate`; `CertificateRenewalRequested` →
//!   `order_certificate` with `renewal`. A replay writes none.

use crate::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration { name: "m0006_domain_lifecycle", up: UP, down: DOWN };

const UP: &str = r#"
ALTER TABLE domains
  ADD COLUMN verified_by text,
  ADD COLUMN order_url text,
  ADD COLUMN certificate_serial text,
  ADD COLUMN certificate_issuer text,
  ADD COLUMN certificate_not_before timestamptz,
  ADD COLUMN certificate_not_after timestamptz,
  ADD COLUMN renew_at timestamptz,
  ADD COLUMN renewal_requested_at timestamptz;

CREATE TABLE certificates (
  domain_id   uuid PRIMARY KEY REFERENCES domains (id) ON DELETE CASCADE,
  tenant_id   uuid NOT NULL,
  hostname    text NOT NULL,
  serial      text NOT NULL,
  issuer      text NOT NULL,
  not_before  timestamptz NOT NULL,
  not_after   timestamptz NOT NULL,
  chain_pem   text NOT NULL,
  private_key text NOT NULL,
  issued_at   timestamptz NOT NULL
);
CREATE INDEX certificates_by_tenant ON certificates (tenant_id, hostname);
SELECT confer_tenant_rls('certificates');
GRANT SELECT, INSERT, UPDATE, DELETE ON certificates TO confer_app;

-- Renewals come due by this: the scanner asks for domains whose renew_at passed
-- and whose renewal is not already asked for.
CREATE INDEX domains_renewal_due ON domains (renew_at) WHERE renewal_requested_at IS NULL;

CREATE TABLE acme_accounts (
  directory_url text PRIMARY KEY,
  credentials   text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE acme_accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE acme_accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_only ON acme_accounts
  USING (current_setting('confer.scope', true) = 'platform')
  WITH CHECK (current_setting('confer.scope', true) = 'platform');
GRANT SELECT, INSERT ON acme_accounts TO confer_app;

CREATE FUNCTION confer_outbox_job(e events, p_rebuilding boolean, p_kind text, p_payload jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT p_rebuilding THEN
    INSERT INTO outbox (id, tenant_id, kind, payload, event_position, created_at)
    VALUES (gen_random_uuid(), e.tenant_id, p_kind, p_payload, e.position, e.recorded_at);
  END IF;
END $$;

CREATE OR REPLACE FUNCTION confer_project(e events, p_rebuilding boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  p jsonb := e.payload;
  v_domain uuid := (e.payload->>'domain_id')::uuid;
  cert jsonb := e.payload->'certificate';
  written jsonb;
BEGIN
  CASE e.event_type
  WHEN 'DomainAdded' THEN
    INSERT INTO domains AS d (id, tenant_id, hostname, status, cname_target, txt_name, txt_value, version,
                              created_at, updated_at)
    VALUES (v_domain, e.tenant_id, p->>'hostname', 'pending_dns', p->>'cname_target',
            p->>'txt_name', p->>'txt_value', e.stream_version, e.recorded_at, e.recorded_at)
    RETURNING to_jsonb(d.*) INTO written;
    PERFORM confer_outbox_job(e, p_rebuilding, 'check_domain',
      jsonb_build_object('domain_id', v_domain, 'hostname', p->>'hostname'));
    RETURN written;
  WHEN 'DomainRemoved' THEN
    DELETE FROM domains AS d WHERE d.id = v_domain RETURNING to_jsonb(d.*) INTO written;
    RETURN written;
  WHEN 'DomainVerified' THEN
    UPDATE domains AS d SET status = 'verified', verified_by = p->>'method', reason = NULL, next_retry_at = NULL,
                            version = e.stream_version, updated_at = e.recorded_at
    WHERE d.id = v_domain RETURNING to_jsonb(d.*) INTO written;
    PERFORM confer_outbox_job(e, p_rebuilding, 'order_certificate',
      jsonb_build_object('domain_id', p->>'domain_id', 'hostname', p->>'hostname', 'renewal', false));
    RETURN written;
  WHEN 'DomainStepDeferred' THEN
    UPDATE domains AS d SET reason = p->>'reason', next_retry_at = (p->>'next_retry_at')::timestamptz,
                            version = e.stream_version, updated_at = e.recorded_at
    WHERE d.id = v_domain RETURNING to_jsonb(d.*) INTO written;
    RETURN written;
  WHEN 'DomainFailed' THEN
    IF p->>'stage' = 'renewal' THEN
      -- The certificate in use stays in use; the renewal is tried again later.
      UPDATE domains AS d SET reason = 'renewal failed: ' || (p->>'reason'), next_retry_at = NULL,
                              renewal_requested_at = NULL, renew_at = e.recorded_at + interval '6 hours',
                              version = e.stream_version, updated_at = e.recorded_at
      WHERE d.id = v_domain RETURNING to_jsonb(d.*) INTO written;
    ELSE
      UPDATE domains AS d SET status = 'failed', reason = p->>'reason', next_retry_at = NULL,
                              version = e.stream_version, updated_at = e.recorded_at
      WHERE d.id = v_domain RETURNING to_jsonb(d.*) INTO written;
    END IF;
    RETURN written;
  WHEN 'CertificateOrdered' THEN
    UPDATE domains AS d SET status = CASE WHEN (p->>'renewal')::boolean THEN d.status ELSE 'issuing' END,
                            order_url = p->>'order_url', version = e.stream_version, updated_at = e.recorded_at
    WHERE d.id = v_domain RETURNING to_jsonb(d.*) INTO written;
    RETURN written;
  WHEN 'CertificateIssued', 'CertificateRenewed' THEN
    INSERT INTO certificates AS c (domain_id, tenant_id, hostname, serial, issuer, not_before, not_after, chain_pem,
                                   private_key, issued_at)
    VALUES (v_domain, e.tenant_id, p->>'hostname', cert->>'serial', cert->>'issuer', (cert->>'not_before')::timestamptz,
            (cert->>'not_after')::timestamptz, cert->>'chain_pem', cert->>'private_key', e.recorded_at)
    ON CONFLICT (domain_id) DO UPDATE SET serial = excluded.serial, issuer = excluded.issuer,
      not_before = excluded.not_before, not_after = excluded.not_after, chain_pem = excluded.chain_pem,
      private_key = excluded.private_key, issued_at = excluded.issued_at;
    UPDATE domains AS d SET status = 'active', reason = NULL, next_retry_at = NULL,
                            certificate_serial = cert->>'serial', certificate_issuer = cert->>'issuer',
                            certificate_not_before = (cert->>'not_before')::timestamptz,
                            certificate_not_after = (cert->>'not_after')::timestamptz,
                            renew_at = (cert->>'renew_at')::timestamptz, renewal_requested_at = NULL,
                            version = e.stream_version, updated_at = e.recorded_at
    WHERE d.id = v_domain RETURNING to_jsonb(d.*) INTO written;
    RETURN written;
  WHEN 'CertificateRenewalRequested' THEN
    UPDATE domains AS d SET renewal_requested_at = e.recorded_at, version = e.stream_version,
                            updated_at = e.recorded_at
    WHERE d.id = v_domain RETURNING to_jsonb(d.*) INTO written;
    PERFORM confer_outbox_job(e, p_rebuilding, 'order_certificate',
      jsonb_build_object('domain_id', v_domain, 'hostname', p->>'hostname', 'renewal', true,
                         'replaces_serial', p->>'replaces_serial'));
    RETURN written;
  WHEN 'MeetingStarted', 'ParticipantJoined', 'ParticipantLeft', 'RoomLocked', 'RoomUnlocked', 'MeetingEnded' THEN
    RETURN NULL; -- room facts: no read model yet (m0003)
  ELSE
    RETURN confer_project_read_models(e, p_rebuilding);
  END CASE;
END $$;
"#;

const DOWN: &str = concat!(
    crate::m0004_domains_and_outbox::project_domains!(),
    r#"
DROP TABLE IF EXISTS certificates, acme_accounts;
DROP INDEX IF EXISTS domains_renewal_due;
ALTER TABLE domains DROP COLUMN IF EXISTS verified_by, DROP COLUMN IF EXISTS order_url,
  DROP COLUMN IF EXISTS certificate_serial, DROP COLUMN IF EXISTS certificate_issuer,
  DROP COLUMN IF EXISTS certificate_not_before, DROP COLUMN IF EXISTS certificate_not_after,
  DROP COLUMN IF EXISTS renew_at, DROP COLUMN IF EXISTS renewal_requested_at;
DROP FUNCTION IF EXISTS confer_outbox_job(events, boolean, text, jsonb);
"#
);

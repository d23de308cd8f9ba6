-- pgbench script: one event row per transaction, the raw cost the API is compared with.
\set n random(1, 1000000000000)
INSERT INTO events (stream_id, stream_version, tenant_id, event_type, payload, metadata)
VALUES ('raw-' || :client_id || '-' || :n, 1, '00000000-0000-0000-0000-000000000001', 'MeetingScheduled',
        '{"room": "raw", "title": "Load", "starts_at": "2031-01-01T09:00:00Z", "ends_at": "2031-01-01T10:00:00Z"}',
        '{"actor": "pgbench"}');

-- Idempotency-Key records of HTTP writes: the first request's response, kept with the
-- business write in its transaction, replayed to every retry with the same key and body.
CREATE TABLE idempotency_keys (
    tenant_id     uuid        NOT NULL,
    key           text        NOT NULL,
    fingerprint   text        NOT NULL,
    status_code   integer     NOT NULL,
    body          bytea       NOT NULL,
    headers       jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency_keys
    USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
-- The purge job deletes expired keys of every tenant, outside any tenant.
CREATE POLICY job_scan_read ON idempotency_keys FOR SELECT
    USING (current_tenant() IS NULL AND current_setting('billstream.job_scan', true) = 'on');
CREATE POLICY job_scan_purge ON idempotency_keys FOR DELETE
    USING (current_tenant() IS NULL AND current_setting('billstream.job_scan', true) = 'on');

-- Tenants and their API keys. A key is found by its public prefix before its tenant is
-- known, so a second policy lets a transaction with no tenant read keys while its
-- transaction-local `billstream.key_lookup` is on; everything else sees, and writes, only
-- the current tenant's rows.

CREATE TABLE tenants (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL
);

CREATE TABLE api_keys (
    tenant_id    uuid        NOT NULL REFERENCES tenants (id),
    id           uuid        NOT NULL,
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    prefix       text        NOT NULL UNIQUE,
    secret_hash  bytea       NOT NULL,
    role         text        NOT NULL CHECK (role IN ('admin', 'manager', 'member', 'viewer')),
    created_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    replaced_by  uuid,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX api_keys_created ON api_keys (tenant_id, created_at, id);

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
    USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
-- Reading only, and only outside any tenant.
CREATE POLICY key_lookup ON api_keys FOR SELECT
    USING (current_tenant() IS NULL AND current_setting('billstream.key_lookup', true) = 'on');

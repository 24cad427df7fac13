-- People who log in with a password, and their refresh tokens. A refresh token is found
-- before its tenant is known, so, as for API keys, a read-only policy admits those rows while
-- `billstream.key_lookup` is on in a transaction with no tenant. Users need none: login
-- names its tenant.

CREATE TABLE users (
    tenant_id     uuid        NOT NULL REFERENCES tenants (id),
    id            uuid        NOT NULL,
    email         text        NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
    name          text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    password_hash text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('admin', 'manager', 'member', 'viewer')),
    created_at    timestamptz NOT NULL,
    disabled_at   timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT users_email_unique UNIQUE (tenant_id, email)
);
CREATE INDEX users_created ON users (tenant_id, created_at, id);

-- One row per refresh token (its SHA-256); using one replaces it, so a stolen token that is
-- used after its owner has refreshed is refused.
CREATE TABLE refresh_tokens (
    tenant_id   uuid        NOT NULL,
    token_hash  bytea       PRIMARY KEY,
    user_id     uuid        NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'refresh_tokens'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_tenant())'
            ' WITH CHECK (tenant_id = current_tenant())', t);
    END LOOP;
END $$;

CREATE POLICY key_lookup ON refresh_tokens FOR SELECT
    USING (current_tenant() IS NULL AND current_setting('billstream.key_lookup', true) = 'on');

-- Users get a version (ETag / If-Match on changes); refresh tokens form families, one per
-- login: a used token presented again means it was stolen, and its whole family is revoked.
ALTER TABLE users ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE refresh_tokens ADD COLUMN family_id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE refresh_tokens ADD COLUMN revoked_at timestamptz;
CREATE INDEX refresh_tokens_family ON refresh_tokens (tenant_id, family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (tenant_id, user_id);

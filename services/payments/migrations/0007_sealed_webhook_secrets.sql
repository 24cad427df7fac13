-- Webhook secrets sealed at rest (servicekit.sealing; the key is in the service's settings,
-- not here). Secrets set before stay in `webhook_secret` until payments seals them at start.
ALTER TABLE stripe_settings ADD COLUMN webhook_secret_sealed text;
ALTER TABLE stripe_settings ALTER COLUMN webhook_secret DROP NOT NULL;
ALTER TABLE stripe_settings ADD CONSTRAINT stripe_settings_one_secret
    CHECK (num_nonnulls(webhook_secret, webhook_secret_sealed) = 1);
-- The start-up sealing finds the tenants with a secret in clear or under an old key.
CREATE POLICY job_scan ON stripe_settings FOR SELECT
    USING (current_tenant() IS NULL AND current_setting('billstream.job_scan', true) = 'on');

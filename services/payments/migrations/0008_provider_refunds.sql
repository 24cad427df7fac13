-- What each refund a provider reported became, one row per provider refund. Its row lock
-- orders every event about one refund, whatever order they arrive in: a failure seen first
-- keeps a late "succeeded" from refunding, and a failure after the refund was recorded
-- pays its money back onto the invoice once.
CREATE TABLE provider_refunds (
    tenant_id    uuid        NOT NULL,
    provider     text        NOT NULL,
    refund_ref   text        NOT NULL,
    state        text        NOT NULL CHECK (state IN ('seen', 'recorded', 'rejected', 'failed')),
    refund_id    uuid,
    amount_minor bigint,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, provider, refund_ref)
);
ALTER TABLE provider_refunds ENABLE ROW LEVEL SECURITY;
ALTER TABLE provider_refunds FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON provider_refunds USING (tenant_id = current_tenant())
    WITH CHECK (tenant_id = current_tenant());

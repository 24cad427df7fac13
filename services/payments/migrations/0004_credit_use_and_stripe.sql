-- Credit balances are spent on invoices (applications), paid out (refunds), and refilled when
-- a payment made from them is refunded; each movement names what caused it.
ALTER TABLE credit_movements DROP CONSTRAINT credit_movements_kind_check;
ALTER TABLE credit_movements ADD CONSTRAINT credit_movements_kind_check
    CHECK (kind IN ('overpayment', 'applied', 'returned', 'refunded'));
ALTER TABLE credit_movements ADD COLUMN reference_id uuid;
ALTER TABLE credit_movements ADD COLUMN reason text;
CREATE INDEX credit_movements_created ON credit_movements (tenant_id, client_id, created_at, id);

-- Where refunded money went: back to the client, or into their credit balance (a refund of a
-- payment made from credit, or what a credit note left paid beyond the invoice's new total).
ALTER TABLE refunds ADD COLUMN destination text NOT NULL DEFAULT 'client'
    CHECK (destination IN ('client', 'credit_balance'));

-- One request to spend a balance on invoices; its payments (method credit_balance) name it.
CREATE TABLE credit_applications (
    tenant_id      uuid        NOT NULL,
    id             uuid        NOT NULL,
    client_id      uuid        NOT NULL,
    currency       text        NOT NULL,
    applied_minor  bigint      NOT NULL CHECK (applied_minor > 0),
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE payments ADD COLUMN credit_application_id uuid;

-- A tenant's Stripe webhook endpoint secret (needed in clear: it keys an HMAC).
CREATE TABLE stripe_settings (
    tenant_id       uuid        PRIMARY KEY,
    webhook_secret  text        NOT NULL,
    version         integer     NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- Every verified provider event, once: a redelivery finds its row and changes nothing.
CREATE TABLE provider_events (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL,
    provider     text        NOT NULL,
    event_id     text        NOT NULL,
    type         text        NOT NULL,
    livemode     boolean     NOT NULL,
    outcome      text        NOT NULL CHECK (outcome IN ('applied', 'ignored', 'rejected')),
    detail       text,
    payment_id   uuid,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, provider, event_id),
    UNIQUE (tenant_id, id)
);
CREATE INDEX provider_events_created ON provider_events (tenant_id, provider, created_at, id);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['credit_applications', 'stripe_settings', 'provider_events']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_tenant()) '
            'WITH CHECK (tenant_id = current_tenant())', t);
    END LOOP;
END $$;

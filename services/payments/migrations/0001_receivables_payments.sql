-- What each issued invoice still owes (a replica from invoicing's events), the payments and
-- refunds recorded against it, and each client's credit balance with its ledger.
CREATE TABLE receivables (
    tenant_id       uuid        NOT NULL,
    invoice_id      uuid        NOT NULL,
    client_id       uuid        NOT NULL,
    number          text        NOT NULL,
    currency        text        NOT NULL,
    total_minor     bigint      NOT NULL,
    paid_minor      bigint      NOT NULL DEFAULT 0,
    void            boolean     NOT NULL DEFAULT false,
    due_date        date        NOT NULL,
    issued_at       timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id)
);

-- Credit notes against invoices; they may arrive before the invoice's own event (another
-- topic), so they are kept apart and summed.
CREATE TABLE receivable_credits (
    tenant_id       uuid   NOT NULL,
    credit_note_id  uuid   NOT NULL,
    invoice_id      uuid   NOT NULL,
    amount_minor    bigint NOT NULL,
    PRIMARY KEY (tenant_id, credit_note_id)
);
CREATE INDEX receivable_credits_invoice ON receivable_credits (tenant_id, invoice_id);

CREATE TABLE payments (
    tenant_id        uuid        NOT NULL,
    id               uuid        NOT NULL,
    invoice_id       uuid        NOT NULL,
    client_id        uuid        NOT NULL,
    currency         text        NOT NULL,
    amount_minor     bigint      NOT NULL CHECK (amount_minor > 0),
    applied_minor    bigint      NOT NULL CHECK (applied_minor >= 0),
    to_credit_minor  bigint      NOT NULL CHECK (to_credit_minor >= 0),
    refunded_minor   bigint      NOT NULL DEFAULT 0,
    method           text        NOT NULL,
    excess           text        NOT NULL CHECK (excess IN ('credit_balance', 'reject')),
    received_at      timestamptz NOT NULL,
    reference        text,
    notes            text,
    status           text        NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    version          integer     NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    succeeded_at     timestamptz,
    failed_at        timestamptz,
    PRIMARY KEY (tenant_id, id),
    CHECK (applied_minor + to_credit_minor = amount_minor),
    CHECK (refunded_minor >= 0 AND refunded_minor <= applied_minor)
);
CREATE INDEX payments_invoice ON payments (tenant_id, invoice_id);
CREATE INDEX payments_created ON payments (tenant_id, created_at, id);

CREATE TABLE refunds (
    tenant_id     uuid        NOT NULL,
    id            uuid        NOT NULL,
    payment_id    uuid        NOT NULL,
    invoice_id    uuid        NOT NULL,
    amount_minor  bigint      NOT NULL CHECK (amount_minor > 0),
    reason        text,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX refunds_payment ON refunds (tenant_id, payment_id);

-- Every movement of a client's credit balance; the balance is their sum.
CREATE TABLE credit_movements (
    tenant_id     uuid        NOT NULL,
    id            uuid        NOT NULL,
    client_id     uuid        NOT NULL,
    currency      text        NOT NULL,
    amount_minor  bigint      NOT NULL CHECK (amount_minor <> 0),
    kind          text        NOT NULL CHECK (kind IN ('overpayment', 'applied')),
    payment_id    uuid,
    invoice_id    uuid,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX credit_movements_client ON credit_movements (tenant_id, client_id, currency);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['receivables', 'receivable_credits', 'payments', 'refunds',
        'credit_movements']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_tenant()) '
            'WITH CHECK (tenant_id = current_tenant())', t);
    END LOOP;
END $$;

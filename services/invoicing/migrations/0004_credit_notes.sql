-- Credit notes: issued at once against an issued invoice, numbered in their own series.
CREATE TABLE credit_notes (
    tenant_id       uuid        NOT NULL,
    id              uuid        NOT NULL,
    invoice_id      uuid        NOT NULL,
    invoice_number  text        NOT NULL,
    client_id       uuid        NOT NULL,
    currency        text        NOT NULL,
    number          text        NOT NULL,
    reason          text,
    subtotal_minor  bigint      NOT NULL,
    tax_minor       bigint      NOT NULL,
    total_minor     bigint      NOT NULL CHECK (total_minor > 0),
    client_snapshot jsonb       NOT NULL,
    seller_snapshot jsonb       NOT NULL,
    version         integer     NOT NULL,
    created_at      timestamptz NOT NULL,
    issued_at       timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
);
CREATE UNIQUE INDEX credit_notes_number_unique ON credit_notes (tenant_id, number);
CREATE INDEX credit_notes_invoice ON credit_notes (tenant_id, invoice_id);

CREATE TABLE credit_note_lines (
    tenant_id        uuid          NOT NULL,
    credit_note_id   uuid          NOT NULL,
    id               uuid          NOT NULL,
    position         integer       NOT NULL,
    invoice_line_id  uuid          NOT NULL,
    description      text          NOT NULL,
    project_id       uuid,
    amount_minor     bigint        NOT NULL,
    tax_rate_id      uuid,
    tax_name         text,
    tax_percent      numeric(7,4),
    tax_treatment    text,
    tax_minor        bigint        NOT NULL,
    PRIMARY KEY (tenant_id, credit_note_id, id),
    FOREIGN KEY (tenant_id, credit_note_id) REFERENCES credit_notes (tenant_id, id)
);
CREATE INDEX credit_note_lines_invoice_line ON credit_note_lines (tenant_id, invoice_line_id);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['credit_notes', 'credit_note_lines']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_tenant()) '
            'WITH CHECK (tenant_id = current_tenant())', t);
    END LOOP;
END $$;

-- Recurring invoices: a schedule per client, and one row per period it has handled, so each
-- period (missed ones after downtime included) produces exactly one invoice.
CREATE TABLE recurring_invoices (
    tenant_id          uuid        NOT NULL,
    id                 uuid        NOT NULL,
    client_id          uuid        NOT NULL,
    frequency          text        NOT NULL
        CHECK (frequency IN ('weekly', 'monthly', 'quarterly', 'yearly')),
    interval_count     integer     NOT NULL CHECK (interval_count BETWEEN 1 AND 366),
    start_date         date        NOT NULL,
    end_date           date,
    timing             text        NOT NULL CHECK (timing IN ('in_advance', 'in_arrears')),
    include_time       boolean     NOT NULL,
    group_by           text        NOT NULL,
    auto_issue         boolean     NOT NULL,
    tax_rate_id        uuid,
    lines              jsonb       NOT NULL,
    notes              text,
    status             text        NOT NULL CHECK (status IN ('active', 'paused', 'ended')),
    next_due_on        date,
    version            integer     NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CHECK (end_date IS NULL OR end_date >= start_date)
);
CREATE INDEX recurring_invoices_due ON recurring_invoices (next_due_on) WHERE status = 'active';

CREATE TABLE recurring_occurrences (
    tenant_id     uuid        NOT NULL,
    schedule_id   uuid        NOT NULL,
    period_start  date        NOT NULL,
    period_end    date        NOT NULL,
    invoice_id    uuid,
    outcome       text        NOT NULL CHECK (outcome IN ('drafted', 'issued', 'skipped', 'failed')),
    detail        text,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, schedule_id, period_start),
    FOREIGN KEY (tenant_id, schedule_id) REFERENCES recurring_invoices (tenant_id, id)
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['recurring_invoices', 'recurring_occurrences']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_tenant()) '
            'WITH CHECK (tenant_id = current_tenant())', t);
    END LOOP;
END $$;

CREATE POLICY job_scan ON recurring_invoices FOR SELECT
    USING (current_tenant() IS NULL AND current_setting('billstream.job_scan', true) = 'on');

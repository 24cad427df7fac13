-- Lines, billed entries and charges belong to their invoice by (tenant_id, invoice_id)
-- without a foreign key: checking one per row doubled the cost of drafting; the handlers
-- write and delete them with their invoice, in its transaction.

-- Replicas of timecapture's clients and projects (from the compacted topics), the tenant's
-- invoicing settings, tax rates, rate rules, invoices with their lines, the time entries each
-- invoice bills, and the number series.

CREATE TABLE client_replicas (
    tenant_id            uuid    NOT NULL,
    client_id            uuid    NOT NULL,
    version              integer NOT NULL,
    name                 text    NOT NULL,
    currency             text    NOT NULL,
    payment_terms_days   integer NOT NULL,
    contact_emails       text[]  NOT NULL,
    billing_address      text,
    tax_id               text,
    default_tax_rate_id  uuid,
    archived             boolean NOT NULL,
    deleted              boolean NOT NULL,
    PRIMARY KEY (tenant_id, client_id)
);

CREATE TABLE project_replicas (
    tenant_id                   uuid    NOT NULL,
    project_id                  uuid    NOT NULL,
    version                     integer NOT NULL,
    client_id                   uuid    NOT NULL,
    name                        text    NOT NULL,
    code                        text,
    rounding_increment_minutes  integer NOT NULL,
    rounding_mode               text    NOT NULL,
    archived                    boolean NOT NULL,
    deleted                     boolean NOT NULL,
    PRIMARY KEY (tenant_id, project_id)
);
CREATE INDEX project_replicas_client ON project_replicas (tenant_id, client_id);

CREATE TABLE invoice_settings (
    tenant_id             uuid        PRIMARY KEY,
    timezone              text        NOT NULL,
    tax_rounding          text        NOT NULL CHECK (tax_rounding IN ('per_line', 'per_document')),
    invoice_prefix        text        NOT NULL,
    credit_note_prefix    text        NOT NULL,
    seller_name           text,
    seller_address        text,
    seller_tax_id         text,
    payment_instructions  text,
    version               integer     NOT NULL,
    updated_at            timestamptz NOT NULL
);

CREATE TABLE tax_rates (
    tenant_id   uuid         NOT NULL,
    id          uuid         NOT NULL,
    name        text         NOT NULL,
    percent     numeric(7,4) NOT NULL CHECK (percent >= 0 AND percent <= 100),
    treatment   text         NOT NULL
        CHECK (treatment IN ('standard', 'zero_rated', 'reverse_charge', 'exempt')),
    archived    boolean      NOT NULL,
    version     integer      NOT NULL,
    created_at  timestamptz  NOT NULL,
    updated_at  timestamptz  NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX tax_rates_name_unique ON tax_rates (tenant_id, lower(name));

CREATE TABLE rate_rules (
    tenant_id       uuid         NOT NULL,
    id              uuid         NOT NULL,
    kind            text         NOT NULL
        CHECK (kind IN ('hourly', 'daily', 'fixed_fee', 'monthly_retainer')),
    client_id       uuid,
    project_id      uuid,
    member_id       uuid,
    currency        text         NOT NULL,
    amount_minor    bigint       NOT NULL CHECK (amount_minor >= 0),
    hours_per_day   numeric(4,2) NOT NULL CHECK (hours_per_day > 0 AND hours_per_day <= 24),
    effective_from  date         NOT NULL,
    effective_to    date,
    description     text         NOT NULL,
    version         integer      NOT NULL,
    created_at      timestamptz  NOT NULL,
    updated_at      timestamptz  NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CHECK (member_id IS NULL OR project_id IS NOT NULL),
    CHECK (effective_to IS NULL OR effective_to >= effective_from)
);
CREATE INDEX rate_rules_lookup ON rate_rules (tenant_id, currency, effective_from);

CREATE TABLE invoices (
    tenant_id              uuid        NOT NULL,
    id                     uuid        NOT NULL,
    client_id              uuid        NOT NULL,
    currency               text        NOT NULL,
    status                 text        NOT NULL CHECK (status IN ('draft', 'issued', 'void')),
    payment_status         text        NOT NULL
        CHECK (payment_status IN ('unpaid', 'partially_paid', 'paid')),
    collection_status      text        NOT NULL
        CHECK (collection_status IN ('current', 'overdue', 'uncollectible')),
    number                 text,
    period_start           date,
    period_end             date,
    group_by               text        NOT NULL,
    tax_rounding           text        NOT NULL,
    discount_kind          text,
    discount_value         numeric(20,4),
    payment_terms_days     integer     NOT NULL,
    due_date               date,
    subtotal_minor         bigint      NOT NULL,
    discount_minor         bigint      NOT NULL,
    tax_minor              bigint      NOT NULL,
    total_minor            bigint      NOT NULL,
    amount_paid_minor      bigint      NOT NULL DEFAULT 0,
    amount_credited_minor  bigint      NOT NULL DEFAULT 0,
    amount_written_off_minor bigint    NOT NULL DEFAULT 0,
    notes                  text,
    void_reason            text,
    client_snapshot        jsonb       NOT NULL,
    seller_snapshot        jsonb,
    billing_run_id         uuid,
    version                integer     NOT NULL,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    issued_at              timestamptz,
    voided_at              timestamptz,
    partially_paid_at      timestamptz,
    paid_at                timestamptz,
    overdue_at             timestamptz,
    written_off_at         timestamptz,
    PRIMARY KEY (tenant_id, id),
    CHECK ((status = 'draft') = (number IS NULL))
);
CREATE UNIQUE INDEX invoices_number_unique ON invoices (tenant_id, number);
CREATE INDEX invoices_client ON invoices (tenant_id, client_id, created_at);
-- The overdue job's scan: issued, current, with a due date.
CREATE INDEX invoices_due ON invoices (due_date)
    WHERE status = 'issued' AND collection_status = 'current' AND payment_status <> 'paid';
-- A billing run drafts at most one invoice per client and period.
CREATE UNIQUE INDEX invoices_billing_run_client ON invoices (tenant_id, billing_run_id, client_id)
    WHERE billing_run_id IS NOT NULL;

CREATE TABLE invoice_lines (
    tenant_id          uuid          NOT NULL,
    invoice_id         uuid          NOT NULL,
    id                 uuid          NOT NULL,
    position           integer       NOT NULL,
    kind               text          NOT NULL
        CHECK (kind IN ('time', 'manual', 'fixed_fee', 'retainer', 'adjustment')),
    description        text          NOT NULL,
    project_id         uuid,
    member_id          uuid,
    task               text,
    quantity           numeric(20,4) NOT NULL,
    unit               text          NOT NULL,
    unit_amount_minor  bigint        NOT NULL,
    amount_minor       bigint        NOT NULL,
    line_discount_kind  text,
    line_discount_value numeric(20,4),
    discount_minor     bigint        NOT NULL,
    tax_rate_id        uuid,
    tax_name           text,
    tax_percent        numeric(7,4),
    tax_treatment      text,
    tax_minor          bigint        NOT NULL,
    raw_seconds        bigint,
    billed_seconds     bigint,
    rate_rule_id       uuid,
    rate_scope         text,
    rate_explanation   text,
    adjusts_invoice_id uuid,
    PRIMARY KEY (tenant_id, invoice_id, id)
);

-- Which entry (at which ledger version) an invoice bills. `active` rows hold the entry: a
-- draft reserves it, an issued invoice locks it; deleting the draft or voiding releases it.
CREATE TABLE invoice_entries (
    tenant_id       uuid    NOT NULL,
    invoice_id      uuid    NOT NULL,
    line_id         uuid    NOT NULL,
    entry_id        uuid    NOT NULL,
    entry_version   integer NOT NULL,
    raw_seconds     integer NOT NULL,
    billed_seconds  integer NOT NULL,
    amount_minor    bigint  NOT NULL,
    active          boolean NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id, entry_id)
);
CREATE UNIQUE INDEX invoice_entries_one_active ON invoice_entries (tenant_id, entry_id)
    WHERE active;

-- Fixed fees and retainer months are billed once: the active row holds them.
CREATE TABLE invoice_charges (
    tenant_id     uuid    NOT NULL,
    invoice_id    uuid    NOT NULL,
    rate_rule_id  uuid    NOT NULL,
    month         date    NOT NULL,
    active        boolean NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id, rate_rule_id, month)
);
CREATE UNIQUE INDEX invoice_charges_one_active ON invoice_charges (tenant_id, rate_rule_id, month)
    WHERE active;

-- Gapless numbers: the row is locked by the issuing transaction and the number is committed
-- with the document, or rolled back with it.
CREATE TABLE number_series (
    tenant_id   uuid    NOT NULL,
    series      text    NOT NULL CHECK (series IN ('invoice', 'credit_note')),
    prefix      text    NOT NULL,
    year        integer NOT NULL,
    last_value  integer NOT NULL,
    PRIMARY KEY (tenant_id, series, prefix, year)
);

-- Money applied to an invoice, one row per payment or refund, so a redelivered event that
-- slipped past the inbox (a different event id for the same payment) still counts once.
CREATE TABLE invoice_payments (
    tenant_id     uuid        NOT NULL,
    id            uuid        NOT NULL,
    invoice_id    uuid        NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('payment', 'refund')),
    amount_minor  bigint      NOT NULL CHECK (amount_minor > 0),
    occurred_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX invoice_payments_invoice ON invoice_payments (tenant_id, invoice_id);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['client_replicas', 'project_replicas', 'invoice_settings',
        'tax_rates', 'rate_rules', 'invoices', 'invoice_lines', 'invoice_entries',
        'invoice_charges', 'number_series', 'invoice_payments']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_tenant()) '
            'WITH CHECK (tenant_id = current_tenant())', t);
    END LOOP;
END $$;

-- Scheduled jobs (overdue, recurring) find work across tenants, reading only and only outside
-- any tenant; they then act inside each tenant's own transaction.
CREATE POLICY job_scan ON invoices FOR SELECT
    USING (current_tenant() IS NULL AND current_setting('billstream.job_scan', true) = 'on');

-- Clients, projects and members; entries gain soft deletion, invoice locks and cost;
-- timers; per-project budget usage and the thresholds already announced.

CREATE TABLE clients (
    tenant_id           uuid        NOT NULL,
    id                  uuid        NOT NULL,
    name                text        NOT NULL,
    contact_emails      text[]      NOT NULL DEFAULT '{}',
    billing_address     text,
    currency            text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    payment_terms_days  integer     NOT NULL CHECK (payment_terms_days BETWEEN 0 AND 365),
    tax_id              text,
    default_tax_rate_id uuid,
    notes               text        NOT NULL DEFAULT '',
    archived            boolean     NOT NULL DEFAULT false,
    version             integer     NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT clients_name_unique UNIQUE (tenant_id, name)
);
CREATE INDEX clients_created ON clients (tenant_id, created_at, id);

CREATE TABLE members (
    tenant_id        uuid        NOT NULL,
    id               uuid        NOT NULL,
    name             text        NOT NULL,
    email            text        NOT NULL,
    role             text        NOT NULL CHECK (role IN ('member', 'manager')),
    principal        text,
    cost_rate_minor  bigint      CHECK (cost_rate_minor >= 0),
    cost_currency    text        CHECK (cost_currency ~ '^[A-Z]{3}$'),
    archived         boolean     NOT NULL DEFAULT false,
    version          integer     NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT members_email_unique UNIQUE (tenant_id, email),
    CONSTRAINT members_principal_unique UNIQUE (tenant_id, principal),
    CONSTRAINT members_cost_rate_has_currency
        CHECK ((cost_rate_minor IS NULL) = (cost_currency IS NULL))
);
CREATE INDEX members_created ON members (tenant_id, created_at, id);

CREATE TABLE projects (
    tenant_id                  uuid          NOT NULL,
    id                         uuid          NOT NULL,
    client_id                  uuid          NOT NULL,
    name                       text          NOT NULL,
    code                       text,
    billable_by_default        boolean       NOT NULL DEFAULT true,
    budget_hours               numeric(12, 2) CHECK (budget_hours >= 0),
    budget_amount_minor        bigint        CHECK (budget_amount_minor >= 0),
    rounding_increment_minutes integer       NOT NULL DEFAULT 1
        CHECK (rounding_increment_minutes IN (1, 6, 15, 30)),
    rounding_mode              text          NOT NULL DEFAULT 'nearest'
        CHECK (rounding_mode IN ('up', 'nearest', 'down')),
    manager_ids                uuid[]        NOT NULL DEFAULT '{}',
    archived                   boolean       NOT NULL DEFAULT false,
    version                    integer       NOT NULL DEFAULT 1,
    created_at                 timestamptz   NOT NULL,
    updated_at                 timestamptz   NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id),
    CONSTRAINT projects_code_unique UNIQUE (tenant_id, code)
);
CREATE INDEX projects_client ON projects (tenant_id, client_id);
CREATE INDEX projects_created ON projects (tenant_id, created_at, id);

-- What a project has consumed so far; written in the same transaction as every entry change.
CREATE TABLE project_usage (
    tenant_id        uuid   NOT NULL,
    project_id       uuid   NOT NULL,
    tracked_seconds  bigint NOT NULL DEFAULT 0,
    cost_minor       bigint NOT NULL DEFAULT 0,
    unpriced_seconds bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, project_id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id) ON DELETE CASCADE
);

-- One row per threshold announced; the budget is part of the key, so raising it re-arms.
CREATE TABLE budget_alerts (
    tenant_id         uuid        NOT NULL,
    project_id        uuid        NOT NULL,
    budget_kind       text        NOT NULL CHECK (budget_kind IN ('hours', 'amount')),
    threshold_percent integer     NOT NULL,
    budget            bigint      NOT NULL,
    consumed          bigint      NOT NULL,
    crossed_at        timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, project_id, budget_kind, threshold_percent, budget),
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id) ON DELETE CASCADE
);

ALTER TABLE time_entries
    ADD COLUMN deleted_at timestamptz,
    ADD COLUMN invoice_id uuid,
    ADD COLUMN cost_minor bigint;
CREATE INDEX time_entries_project_started ON time_entries (tenant_id, project_id, started_at);
CREATE INDEX time_entries_started ON time_entries (tenant_id, started_at, id);
CREATE INDEX time_entries_invoice ON time_entries (tenant_id, invoice_id)
    WHERE invoice_id IS NOT NULL;

-- Invoices seen on `invoice-issued` / `invoice-voided`. The two topics are not ordered with
-- each other, so a void that arrives first is remembered and its issue then locks nothing.
CREATE TABLE invoice_locks (
    tenant_id  uuid        NOT NULL,
    invoice_id uuid        NOT NULL,
    issued_at  timestamptz,
    voided_at  timestamptz,
    PRIMARY KEY (tenant_id, invoice_id)
);

CREATE TABLE timers (
    tenant_id     uuid        NOT NULL,
    id            uuid        NOT NULL,
    member_id     uuid        NOT NULL,
    project_id    uuid        NOT NULL,
    task          text,
    description   text        NOT NULL DEFAULT '',
    billable      boolean,
    tags          text[]      NOT NULL DEFAULT '{}',
    started_at    timestamptz NOT NULL,
    stopped_at    timestamptz,
    time_entry_id uuid,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id)
);
CREATE UNIQUE INDEX timers_one_running_per_member ON timers (tenant_id, member_id)
    WHERE stopped_at IS NULL;
CREATE INDEX timers_started ON timers (tenant_id, started_at, id);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['clients', 'members', 'projects', 'project_usage', 'budget_alerts',
                             'invoice_locks', 'timers'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_tenant())'
                       ' WITH CHECK (tenant_id = current_tenant())', t);
    END LOOP;
END $$;


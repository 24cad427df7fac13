-- The unbilled ledger: a local replica of time entries, built from `time-entry-logged`.
CREATE TABLE ledger_entries (
    tenant_id         uuid        NOT NULL,
    entry_id          uuid        NOT NULL,
    version           integer     NOT NULL,
    member_id         uuid        NOT NULL,
    project_id        uuid        NOT NULL,
    task              text,
    description       text        NOT NULL,
    started_at        timestamptz NOT NULL,
    ended_at          timestamptz NOT NULL,
    duration_seconds  integer     NOT NULL,
    billable          boolean     NOT NULL,
    tags              text[]      NOT NULL,
    deleted           boolean     NOT NULL DEFAULT false,
    source_event_id   uuid        NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, entry_id)
);
CREATE INDEX ledger_entries_unbilled ON ledger_entries (tenant_id, project_id, started_at)
    WHERE NOT deleted AND billable;

ALTER TABLE ledger_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger_entries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ledger_entries
    USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());

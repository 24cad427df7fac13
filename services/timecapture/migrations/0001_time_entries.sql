CREATE TABLE time_entries (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL,
    member_id    uuid        NOT NULL,
    project_id   uuid        NOT NULL,
    task         text,
    description  text        NOT NULL DEFAULT '',
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz NOT NULL,
    billable     boolean     NOT NULL,
    tags         text[]      NOT NULL DEFAULT '{}',
    version      integer     NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT time_entries_end_after_start CHECK (ended_at > started_at),
    CONSTRAINT time_entries_at_most_a_day CHECK (ended_at - started_at <= interval '24 hours')
);
CREATE INDEX time_entries_member_started ON time_entries (tenant_id, member_id, started_at);

ALTER TABLE time_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE time_entries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON time_entries
    USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());

-- A billing run drafts (and optionally issues) one invoice per client with unbilled work in a
-- period. Workers pick clients until none is left; clients that failed are recorded and skipped.
CREATE TABLE billing_runs (
    tenant_id     uuid        NOT NULL,
    id            uuid        NOT NULL,
    period_start  date        NOT NULL,
    period_end    date        NOT NULL,
    group_by      text        NOT NULL,
    auto_issue    boolean     NOT NULL,
    status        text        NOT NULL CHECK (status IN ('running', 'completed')),
    version       integer     NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    completed_at  timestamptz,
    PRIMARY KEY (tenant_id, id),
    CHECK (period_end >= period_start)
);

CREATE TABLE billing_run_failures (
    tenant_id       uuid        NOT NULL,
    billing_run_id  uuid        NOT NULL,
    client_id       uuid        NOT NULL,
    problem_type    text        NOT NULL,
    detail          text        NOT NULL,
    failed_at       timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, billing_run_id, client_id),
    FOREIGN KEY (tenant_id, billing_run_id) REFERENCES billing_runs (tenant_id, id)
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['billing_runs', 'billing_run_failures']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_tenant()) '
            'WITH CHECK (tenant_id = current_tenant())', t);
    END LOOP;
END $$;

CREATE POLICY job_scan ON billing_runs FOR SELECT
    USING (current_tenant() IS NULL AND current_setting('billstream.job_scan', true) = 'on');

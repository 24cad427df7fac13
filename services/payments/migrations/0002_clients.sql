-- Clients of the tenant (from `client-changed`): a credit balance is asked for one of them.
CREATE TABLE clients (
    tenant_id  uuid    NOT NULL,
    client_id  uuid    NOT NULL,
    version    integer NOT NULL,
    name       text    NOT NULL,
    currency   text    NOT NULL,
    deleted    boolean NOT NULL,
    PRIMARY KEY (tenant_id, client_id)
);
ALTER TABLE clients ENABLE ROW LEVEL SECURITY;
ALTER TABLE clients FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON clients
    USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());

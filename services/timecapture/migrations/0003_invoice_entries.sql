-- Which issued invoice holds which entry. An entry voided off invoice A and billed again on B
-- may see B's issue before A's void (two topics): it stays locked while any issued, not
-- voided invoice holds it. time_entries.invoice_id mirrors one such invoice, for reads.
CREATE TABLE invoice_entries (
    tenant_id  uuid NOT NULL,
    invoice_id uuid NOT NULL,
    entry_id   uuid NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id, entry_id)
);
CREATE INDEX invoice_entries_entry ON invoice_entries (tenant_id, entry_id);

ALTER TABLE invoice_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoice_entries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invoice_entries
    USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());

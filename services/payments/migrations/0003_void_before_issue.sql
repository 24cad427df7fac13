-- `invoice-voided` may be consumed before `invoice-issued` (two topics): a void is kept by
-- itself and counted whenever the invoice is.
CREATE TABLE voided_invoices (
    tenant_id   uuid NOT NULL,
    invoice_id  uuid NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id)
);
ALTER TABLE voided_invoices ENABLE ROW LEVEL SECURITY;
ALTER TABLE voided_invoices FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON voided_invoices
    USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());

-- A credit application looks for the client's open invoices in one currency, and reads back
-- the payments it made (a replay, a GET): both scanned every row of the tenant before.
CREATE INDEX receivables_client ON receivables (tenant_id, client_id, currency);
CREATE INDEX payments_credit_application ON payments (tenant_id, credit_application_id)
    WHERE credit_application_id IS NOT NULL;

-- An entry revised or deleted after its invoice was issued is adjusted on the client's next
-- invoice: the issued invoice's row stops holding the entry and points at the adjusting one.
ALTER TABLE invoice_entries ADD COLUMN superseded_by uuid;
CREATE INDEX invoice_entries_superseded ON invoice_entries (tenant_id, superseded_by)
    WHERE superseded_by IS NOT NULL;

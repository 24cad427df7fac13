-- When invoicing applied a payment or refund (the invoice's new status commits with the row):
-- what `bench payments-api` measures payment-to-paid against.
ALTER TABLE invoice_payments ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT clock_timestamp();

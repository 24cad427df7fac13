-- A Stripe refund event names the refund it recorded (payment_id stays the refunded payment).
ALTER TABLE provider_events ADD COLUMN refund_id uuid;

-- A rejected payment_intent.succeeded keeps the money Stripe reported, which a person
-- recording that PaymentIntent by hand (`provider_payment_id`) must match, and is found by
-- the payment id it names.
ALTER TABLE provider_events ADD COLUMN amount_minor bigint;
ALTER TABLE provider_events ADD COLUMN currency text;
CREATE INDEX provider_events_rejected_payment ON provider_events (tenant_id, payment_id)
    WHERE outcome = 'rejected' AND payment_id IS NOT NULL;

-- Reconciliation and `GET /v1/providers/stripe/events?outcome=rejected` read only the events
-- a person must settle; the other index also leads with the provider, which they may not name.
CREATE INDEX provider_events_rejected ON provider_events (tenant_id, created_at, id)
    WHERE outcome = 'rejected';

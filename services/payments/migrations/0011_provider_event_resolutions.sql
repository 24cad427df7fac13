-- A person resolves a rejected provider event that no recording can settle (a withdrawal and
-- its reinstatement that net nothing, money handled outside Billstream), with who, when and
-- why; reconciliation then no longer lists it. The event itself stays as it was received.
ALTER TABLE provider_events ADD COLUMN resolved_at timestamptz;
ALTER TABLE provider_events ADD COLUMN resolved_by text;
ALTER TABLE provider_events ADD COLUMN resolution_note text;

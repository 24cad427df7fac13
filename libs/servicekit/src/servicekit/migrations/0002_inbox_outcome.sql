-- A dead-lettered event is recorded too, so a redelivery (crash between the DLQ send and
-- the offset commit) is recognised and not dead-lettered a second time.
ALTER TABLE inbox ADD COLUMN outcome text NOT NULL DEFAULT 'processed'
    CHECK (outcome IN ('processed', 'dead_lettered'));

-- What each scan saw of deliverability and how many checks it ran, for the
-- monthly report's trend; counts are the 24 hours before the scan, NULL when
-- the account's activity could not be read.
ALTER TABLE scans ADD COLUMN checks_run INTEGER NOT NULL DEFAULT 0;
ALTER TABLE scans ADD COLUMN received_24h REAL;
ALTER TABLE scans ADD COLUMN bounced_24h REAL;
ALTER TABLE scans ADD COLUMN spam_24h REAL;
CREATE INDEX scans_client_started ON scans (client, started_at);

-- Reports read a client's findings by when they were detected and resolved,
-- and scans, digests and /sla read the active ones: with a year of history
-- these would otherwise read every finding each time.
CREATE INDEX findings_client_detected ON findings (client, detected_at);
CREATE INDEX findings_client_resolved ON findings (client, resolved_at);
CREATE INDEX findings_active_client ON findings (client, detected_at) WHERE state != 'resolved';

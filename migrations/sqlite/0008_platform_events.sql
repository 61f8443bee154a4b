-- Platform events: the same check firing at three or more clients within 48
-- hours, raised once in the agency channel. Members are the client findings
-- it links; it resolves when they all have.
CREATE TABLE platform_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    check_id    TEXT NOT NULL,
    severity    TEXT NOT NULL,
    opened_at   TEXT NOT NULL,
    resolved_at TEXT
);
-- At most one open event per check: later detections join it.
CREATE UNIQUE INDEX platform_events_open ON platform_events (check_id) WHERE resolved_at IS NULL;

CREATE TABLE platform_event_members (
    event_id   INTEGER NOT NULL REFERENCES platform_events(id),
    finding_id INTEGER NOT NULL REFERENCES findings(id),
    client     TEXT NOT NULL,
    joined_at  TEXT NOT NULL,
    PRIMARY KEY (event_id, finding_id)
);
CREATE INDEX platform_event_members_finding ON platform_event_members (finding_id);
CREATE INDEX findings_check_detected ON findings (check_id, detected_at);

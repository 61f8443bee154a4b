-- Lookout's SQLite schema. Times are RFC 3339 text in UTC.

-- Clients Lookout watches, and where their findings go.
CREATE TABLE clients (
    slug          TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    channel       TEXT NOT NULL,
    owner         TEXT,
    pod           TEXT,
    -- Who last changed the route from chat; such a route outlives the config file's.
    routed_by     TEXT,
    created_at    TEXT NOT NULL,
    first_scan_at TEXT
);

-- One row per finding; fingerprint = client/check/subject is its identity across scans.
CREATE TABLE findings (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint     TEXT NOT NULL,
    client          TEXT NOT NULL REFERENCES clients(slug),
    check_id        TEXT NOT NULL,
    subject         TEXT NOT NULL,
    severity        TEXT NOT NULL,
    track           TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'snoozed', 'resolved')),
    snoozed_until   TEXT,
    snoozed_by      TEXT,
    snooze_until_worse INTEGER NOT NULL DEFAULT 0,
    -- Severity and value when snoozed: "until worse" wakes on a rise from these.
    snooze_severity TEXT,
    snooze_value_minor INTEGER,
    title           TEXT NOT NULL,
    why             TEXT NOT NULL,
    deep_link       TEXT NOT NULL,
    value_minor     INTEGER,
    currency        TEXT,
    began_at        TEXT,
    detected_at     TEXT NOT NULL,
    last_seen_at    TEXT NOT NULL,
    acknowledged_at TEXT,
    acknowledged_by TEXT,
    resolved_at     TEXT,
    resolved_by     TEXT,
    resolution      TEXT,
    channel         TEXT NOT NULL,
    message_ref     TEXT,
    onboarding      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX findings_client_state ON findings (client, state);
-- At most one unresolved finding per fingerprint; resolved ones are history.
CREATE UNIQUE INDEX findings_active_fingerprint ON findings (fingerprint) WHERE state != 'resolved';
CREATE INDEX findings_fingerprint ON findings (fingerprint, id);

-- Every change to a finding: who, from where, when.
CREATE TABLE finding_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    finding_id INTEGER NOT NULL REFERENCES findings(id),
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    surface    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX finding_events_finding ON finding_events (finding_id, id);

-- Internal notes (commands and thread replies). They never leave the agency's surfaces.
CREATE TABLE notes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    finding_id INTEGER NOT NULL REFERENCES findings(id),
    author     TEXT NOT NULL,
    surface    TEXT NOT NULL,
    at         TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX notes_finding ON notes (finding_id, id);

-- The newest complete-enough snapshot per client, the "previous" of the next scan.
CREATE TABLE snapshots (
    client   TEXT PRIMARY KEY REFERENCES clients(slug),
    taken_at TEXT NOT NULL,
    body     TEXT NOT NULL
);

-- One row per scan, for progress, audits and benchmarks.
CREATE TABLE scans (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    client       TEXT NOT NULL REFERENCES clients(slug),
    trigger      TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    status       TEXT NOT NULL,
    api_calls    INTEGER NOT NULL DEFAULT 0,
    observations INTEGER NOT NULL DEFAULT 0,
    gaps         TEXT NOT NULL DEFAULT ''
);

-- Durable outbox: every post, edit and thread reply, written in the same
-- transaction as the change that caused it, delivered at least once.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    channel         TEXT NOT NULL,
    op              TEXT NOT NULL CHECK (op IN ('post', 'update', 'reply')),
    finding_id      INTEGER REFERENCES findings(id),
    body            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    message_ref     TEXT,
    -- Set when a delivery attempt starts: a row found in flight after a crash
    -- may already be on the platform, so it is looked up by key before resending.
    inflight_at     TEXT,
    sent_at         TEXT
);
CREATE INDEX outbox_pending ON outbox (status, id);

-- Maintenance windows: findings are recorded, nothing is posted, one summary at the end.
CREATE TABLE maintenance (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    client    TEXT NOT NULL REFERENCES clients(slug),
    starts_at TEXT NOT NULL,
    ends_at   TEXT NOT NULL,
    created_by TEXT NOT NULL,
    summarized INTEGER NOT NULL DEFAULT 0
);

-- Small key/value settings, e.g. this database's install id.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Scheduled work that must survive a restart (digests sent, next scan due).
CREATE TABLE schedule (
    key     TEXT PRIMARY KEY,
    last_at TEXT NOT NULL
);

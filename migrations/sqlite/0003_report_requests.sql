-- Every report asked for, and by whom: reports span findings and money, so
-- who looked at what is part of the audit trail.
CREATE TABLE report_requests (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    report       TEXT NOT NULL,
    client       TEXT,
    requested_by TEXT NOT NULL,
    channel      TEXT NOT NULL,
    at           TEXT NOT NULL
);

-- The audit trail: every action a person (or Lookout itself, or the config
-- file) took, where, about which client, and how it ended. Rows are only
-- ever added. `client` has no foreign key: the trail outlives a client.
CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT NOT NULL,
    -- `platform:id`; NULL for Lookout itself or the config file.
    actor    TEXT,
    -- The actor's platform (`slack`, `discord`, `console`), NULL with no actor.
    platform TEXT,
    -- command, button, select, modal, thread, callback, scheduler, cli, config_file.
    surface  TEXT NOT NULL,
    -- `command /ack`, `button resolve`, `modal note`, `thread note`, `route`, `config`...
    action   TEXT NOT NULL,
    client   TEXT,
    channel  TEXT,
    outcome  TEXT NOT NULL CHECK (outcome IN ('done', 'refused', 'failed')),
    -- Why it was refused or failed.
    reason   TEXT,
    -- A short, capped detail (a command's argument text); never a secret.
    detail   TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_client_at ON audit_log (client, at);
CREATE INDEX audit_log_actor_at ON audit_log (actor, at);

-- Hashes (never the content) of the config file Lookout last started with:
-- `section` is a top-level key of the file, or '' for the whole file.
CREATE TABLE config_hashes (
    section TEXT PRIMARY KEY,
    sha256  TEXT NOT NULL,
    seen_at TEXT NOT NULL
);

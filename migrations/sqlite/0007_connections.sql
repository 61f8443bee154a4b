-- Connections: how each client's Klaviyo account is reached, by whose grant
-- and until when. The tokens and keys themselves live sealed in `secrets`.
CREATE TABLE connections (
    client            TEXT PRIMARY KEY REFERENCES clients(slug),
    -- 'oauth' or 'key' (a private API key given through the private form)
    method            TEXT NOT NULL,
    granted_by        TEXT NOT NULL,
    granted_at        TEXT NOT NULL,
    ends_at           TEXT NOT NULL,
    -- space-separated, as Klaviyo granted them
    scopes            TEXT NOT NULL,
    access_expires_at TEXT,
    refreshed_at      TEXT,
    last_used_at      TEXT,
    -- 'active', 'reauth' (Klaviyo refused the grant) or 'ended'
    status            TEXT NOT NULL,
    status_detail     TEXT,
    -- reminders already posted, e.g. '7d,1d'
    reminded          TEXT NOT NULL DEFAULT ''
);

-- A /connect in progress: the OAuth `state` (only its hash is kept), whose it
-- is, for which client, the grant's chosen end and when the link expires.
-- The PKCE verifier is sealed in `secrets` under purpose `pkce-<hash>`.
CREATE TABLE oauth_states (
    state_hash  TEXT PRIMARY KEY,
    client      TEXT NOT NULL REFERENCES clients(slug),
    person      TEXT NOT NULL,
    channel     TEXT NOT NULL,
    grant_ends  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);

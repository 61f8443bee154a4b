-- Channels and people become platform + id (`slack:C0123`, `discord:42`,
-- `console:client-acme`), and a client may have a channel on each platform.
-- Values written before this migration were console names or Slack names;
-- they are kept under the console platform, and the config file or /route
-- sets the real ids on the next start.

-- Where each client's findings go, one channel per platform. A channel belongs
-- to at most one client (the primary key on `channel`).
CREATE TABLE routes (
    channel  TEXT PRIMARY KEY,
    client   TEXT NOT NULL REFERENCES clients(slug),
    platform TEXT NOT NULL,
    -- The person mentioned on critical findings there (`slack:U0123`).
    owner    TEXT,
    -- Who set it from chat; such a route outlives the config file's.
    set_by   TEXT,
    set_at   TEXT NOT NULL,
    UNIQUE (client, platform)
);
INSERT INTO routes (channel, client, platform, owner, set_by, set_at)
    SELECT CASE WHEN instr(channel, ':') > 0 THEN channel ELSE 'console:' || channel END,
           slug, 'console',
           CASE WHEN owner IS NULL OR instr(owner, ':') > 0 THEN owner ELSE 'console:' || owner END,
           routed_by, created_at
    FROM clients;
ALTER TABLE clients DROP COLUMN channel;
ALTER TABLE clients DROP COLUMN owner;
ALTER TABLE clients DROP COLUMN routed_by;

-- A finding's message in each channel it was posted to.
CREATE TABLE finding_messages (
    finding_id  INTEGER NOT NULL REFERENCES findings(id),
    channel     TEXT NOT NULL,
    message_ref TEXT NOT NULL,
    PRIMARY KEY (finding_id, channel)
);
CREATE UNIQUE INDEX finding_messages_by_ref ON finding_messages (channel, message_ref);
INSERT INTO finding_messages (finding_id, channel, message_ref)
    SELECT id, CASE WHEN instr(channel, ':') > 0 THEN channel ELSE 'console:' || channel END, message_ref
    FROM findings WHERE message_ref IS NOT NULL;
ALTER TABLE findings DROP COLUMN channel;
ALTER TABLE findings DROP COLUMN message_ref;

UPDATE outbox SET channel = 'console:' || channel WHERE instr(channel, ':') = 0;

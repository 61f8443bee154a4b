-- Work one process holds for a while (a client's scan, a channel's
-- deliveries, the scheduler's shared jobs). `token` grows with every take:
-- a fencing token a holder presents when it commits, so a process that wakes
-- after its lease ended cannot write over the newer holder's work.
CREATE TABLE leases (
    name TEXT COLLATE "C" PRIMARY KEY,
    holder TEXT COLLATE "C" NOT NULL,
    token BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    released BOOLEAN NOT NULL DEFAULT TRUE
);

-- A channel's pending rows, read by whichever process holds its lease.
CREATE INDEX outbox_channel_pending ON outbox (channel, status, id);

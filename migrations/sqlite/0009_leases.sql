-- Work one process holds for a while (a client's scan, a channel's
-- deliveries, the scheduler's shared jobs). `token` grows with every take:
-- a fencing token a holder presents when it commits, so a process that wakes
-- after its lease ended cannot write over the newer holder's work.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    token INTEGER NOT NULL,
    expires_at TEXT NOT NULL,
    released INTEGER NOT NULL DEFAULT 1
);

-- A channel's pending rows, read by whichever process holds its lease.
CREATE INDEX outbox_channel_pending ON outbox (channel, status, id);

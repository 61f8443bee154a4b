-- Chat requests already taken (a signature, a Slack event id), so a replay or
-- a platform's retry is refused by whichever process behind a load balancer
-- it reaches. Kept until `expires_at`, after the platforms' replay window.
CREATE TABLE seen_requests (
    key TEXT COLLATE "C" PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX seen_requests_expiry ON seen_requests (expires_at);

-- Klaviyo tokens and keys, one per client and purpose (`access-token`,
-- `refresh-token`, `api-key`), sealed by `vault` (XChaCha20-Poly1305 with the
-- purpose and client bound in): never stored in the clear.
CREATE TABLE secrets (
    client     TEXT NOT NULL REFERENCES clients(slug),
    purpose    TEXT NOT NULL,
    sealed     TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (client, purpose)
);

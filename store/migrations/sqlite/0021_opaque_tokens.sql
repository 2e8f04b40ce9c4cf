-- Opaque access tokens: a client may get random references instead of JWTs.
-- Their claims live in the ephemeral store and here, keyed by the SHA-256 of
-- the token (never the token), so a Redis restart does not end them.
-- Housekeeping deletes expired rows.
ALTER TABLE clients ADD COLUMN access_token_format TEXT NOT NULL DEFAULT 'jwt';
CREATE TABLE opaque_tokens (
    hash       TEXT PRIMARY KEY,
    claims     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX opaque_tokens_expires ON opaque_tokens (expires_at);

-- Token Convert and Assertion grants. Keep in step with
-- ../postgres/0004_exchange_and_assertions.sql.

-- RFC 8693 token exchange: a client's exchange policy (JSON of
-- model::ExchangePolicy), absent for clients that may not exchange tokens.
ALTER TABLE clients ADD COLUMN token_exchange TEXT;

-- RFC 7523 assertions: issuers whose signed JWTs speak for users of one
-- contact center. An issuer belongs to one contact center only, so the
-- assertion's iss alone names the tenant. Keys are a static JWK Set (JSON
-- text) and/or a JWKS URL; algorithms is a JSON list of asymmetric JWS
-- algorithms.
CREATE TABLE trusted_issuers (
    issuer            TEXT PRIMARY KEY,
    contact_center_id TEXT NOT NULL REFERENCES contact_centers (id) ON DELETE CASCADE,
    jwks              TEXT,
    jwks_uri          TEXT,
    algorithms        TEXT NOT NULL,
    max_lifetime      BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX trusted_issuers_contact_center ON trusted_issuers (contact_center_id);

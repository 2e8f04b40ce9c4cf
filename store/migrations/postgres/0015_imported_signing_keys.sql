-- A signing key imported from another issuer only to verify the tokens it
-- signed there (a migration's overlap): published in JWKS until it expires,
-- never chosen to sign and not counted by the rotation schedule.
ALTER TABLE signing_keys ADD COLUMN publish_only BOOLEAN NOT NULL DEFAULT FALSE;

-- Client authentication by signed JWT (RFC 7523 §2.2, private_key_jwt).
-- Keep in step with ../sqlite/0005_client_jwt_auth.sql.

-- How the client authenticates: client_secret (Basic or form post),
-- private_key_jwt, or none (public clients). Existing clients keep what
-- their type implies.
ALTER TABLE clients ADD COLUMN auth_method TEXT NOT NULL DEFAULT 'client_secret';
UPDATE clients SET auth_method = 'none' WHERE client_type = 'PUBLIC';

-- private_key_jwt: the client's public keys as a JWK Set (JSON text) and/or
-- a JWKS URL.
ALTER TABLE clients ADD COLUMN jwks TEXT;
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;

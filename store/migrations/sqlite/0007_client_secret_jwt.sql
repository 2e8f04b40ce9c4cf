-- Client authentication by an HMAC-signed JWT (RFC 7523 §2.2,
-- client_secret_jwt). Keep in step with ../postgres/0007_client_secret_jwt.sql.

-- A MAC can only be checked with the secret itself, so a client_secret_jwt
-- client's secret is kept sealed with the store's cipher (context
-- "client_hmac_secret:<client id>"); every other client has NULL here and
-- only the argon2 hash in secret_hash.
ALTER TABLE clients ADD COLUMN hmac_secret_sealed BLOB;

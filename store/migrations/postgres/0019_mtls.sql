-- RFC 8705: mutual-TLS client authentication (the name a tls_client_auth
-- client's certificate must carry) and certificate-bound access tokens.
ALTER TABLE clients ADD COLUMN tls_client_auth_kind TEXT;
ALTER TABLE clients ADD COLUMN tls_client_auth_value TEXT;
ALTER TABLE clients ADD COLUMN tls_bound_tokens BOOLEAN NOT NULL DEFAULT FALSE;

-- A client that must push its authorization requests first (RFC 9126 §6):
-- the authorization endpoint refuses its plain requests.
ALTER TABLE clients ADD COLUMN require_par INTEGER NOT NULL DEFAULT 0;

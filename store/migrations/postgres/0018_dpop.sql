-- DPoP (RFC 9449): a public client's refresh-token family is bound to the
-- thumbprint of its DPoP key; a client may be required to use DPoP.
ALTER TABLE refresh_families ADD COLUMN dpop_jkt TEXT;
ALTER TABLE clients ADD COLUMN require_dpop BOOLEAN NOT NULL DEFAULT FALSE;

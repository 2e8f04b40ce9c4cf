-- Whether a contact center's SAML SP accepts unsolicited (IdP-initiated)
-- answers. Keep in step with ../postgres/0010_saml_idp_initiated.sql.
-- Off for every row, existing ones included: an unsolicited answer carries
-- no proof that this browser asked to sign in (login CSRF), so a contact
-- center that relies on IdP-initiated sign-in turns it on explicitly.
ALTER TABLE saml_providers ADD COLUMN allow_idp_initiated INTEGER NOT NULL DEFAULT 0;

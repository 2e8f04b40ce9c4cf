-- SAML 2.0 service provider per contact center. Keep in step with
-- ../postgres/0009_saml_providers.sql.

-- One per contact center (used when its auth scheme is saml). sp_keys is the
-- JSON list of the SP's key pairs (model::SamlSpKey, newest first), sealed
-- with the store's cipher (context "saml_provider:<contact center id>").
-- binding is 'post' or 'redirect'; access_group is JSON or NULL.
CREATE TABLE saml_providers (
    contact_center_id       TEXT PRIMARY KEY REFERENCES contact_centers (id) ON DELETE CASCADE,
    idp_metadata            TEXT NOT NULL,
    idp_metadata_url        TEXT,
    idp_metadata_fetched_at BIGINT,
    username_attribute      TEXT,
    use_external_user_id    INTEGER NOT NULL,
    access_group            TEXT,
    binding                 TEXT NOT NULL,
    just_in_time_users      INTEGER NOT NULL,
    sp_keys_sealed          BLOB NOT NULL,
    version                 BIGINT NOT NULL,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);

-- Caches rebuild a contact center's SAML settings when this row changes.
CREATE TRIGGER saml_providers_change_insert AFTER INSERT ON saml_providers BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('saml_provider', NEW.contact_center_id);
END;
CREATE TRIGGER saml_providers_change_update AFTER UPDATE ON saml_providers BEGIN
    INSERT INTO change_log (entity, entity_id) SELECT 'saml_provider', OLD.contact_center_id WHERE (OLD.contact_center_id) IS NOT (NEW.contact_center_id);
    INSERT INTO change_log (entity, entity_id) VALUES ('saml_provider', NEW.contact_center_id);
END;
CREATE TRIGGER saml_providers_change_delete AFTER DELETE ON saml_providers BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('saml_provider', OLD.contact_center_id);
END;

-- LDAP / Active Directory per contact center. Keep in step with
-- ../postgres/0006_ldap_directories.sql.

-- One directory per contact center (used when its auth scheme is ldap).
-- bind_mode 'direct' binds with bind_template; 'searchThenBind' finds the
-- user with service_dn, whose password is sealed with the store's cipher
-- (context "ldap_directory:<contact center id>"). urls, attributes and
-- group_authorities are JSON (see model::LdapDirectoryConfig).
CREATE TABLE ldap_directories (
    contact_center_id       TEXT PRIMARY KEY REFERENCES contact_centers (id) ON DELETE CASCADE,
    urls                    TEXT NOT NULL,
    start_tls               INTEGER NOT NULL,
    ca_pem                  TEXT,
    bind_mode               TEXT NOT NULL,
    bind_template           TEXT,
    service_dn              TEXT,
    service_password_sealed BLOB,
    base_dn                 TEXT NOT NULL,
    user_filter             TEXT NOT NULL,
    group_filter            TEXT NOT NULL,
    attributes              TEXT NOT NULL,
    group_authorities       TEXT NOT NULL,
    timeout_ms              BIGINT NOT NULL,
    pool_size               BIGINT NOT NULL,
    active_directory        INTEGER NOT NULL,
    version                 BIGINT NOT NULL,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);

-- Caches rebuild a contact center's directory when this row changes.
CREATE TRIGGER ldap_directories_change_insert AFTER INSERT ON ldap_directories BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('ldap_directory', NEW.contact_center_id);
END;
CREATE TRIGGER ldap_directories_change_update AFTER UPDATE ON ldap_directories BEGIN
    INSERT INTO change_log (entity, entity_id) SELECT 'ldap_directory', OLD.contact_center_id WHERE (OLD.contact_center_id) IS NOT (NEW.contact_center_id);
    INSERT INTO change_log (entity, entity_id) VALUES ('ldap_directory', NEW.contact_center_id);
END;
CREATE TRIGGER ldap_directories_change_delete AFTER DELETE ON ldap_directories BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('ldap_directory', OLD.contact_center_id);
END;

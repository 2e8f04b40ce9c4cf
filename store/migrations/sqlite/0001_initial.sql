-- Tollgate durable schema (SQLite). Keep in step with ../postgres/0001_initial.sql:
-- same tables, columns and rules; only the dialect differs.
-- Booleans are INTEGER 0/1: sqlx's Any driver cannot decode a column declared
-- BOOLEAN on SQLite, and SQLite stores 0/1 anyway.
-- Times are Unix seconds (BIGINT). Lists and maps are JSON text. Secrets the
-- store must read back are sealed (AES-256-GCM) in BLOB columns.

CREATE TABLE environments (
    id                  TEXT PRIMARY KEY,
    username            TEXT NOT NULL,
    password_sealed     BLOB,
    connection_protocol TEXT NOT NULL,
    local_timeout       BIGINT NOT NULL,
    remote_timeout      BIGINT NOT NULL,
    tenant              TEXT NOT NULL,
    app_name            TEXT NOT NULL,
    trace_mode          TEXT NOT NULL,
    tls_enabled         INTEGER NOT NULL,
    config_servers      TEXT NOT NULL DEFAULT '[]',
    version             BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

CREATE TABLE contact_centers (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    -- No cascade: deleting an environment with contact centers is a decision
    -- the store makes explicitly (delete_environment's `cascade`).
    environment_id TEXT NOT NULL REFERENCES environments (id),
    auth_scheme    TEXT NOT NULL,
    enabled        INTEGER NOT NULL,
    version        BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX contact_centers_environment ON contact_centers (environment_id);

-- Own table so one primary key makes domains unique across all contact
-- centers. domain_key is the lower-cased domain, computed by the store so both
-- backends fold case the same way; domain keeps the spelling as entered.
CREATE TABLE contact_center_domains (
    domain_key        TEXT PRIMARY KEY,
    domain            TEXT NOT NULL,
    contact_center_id TEXT NOT NULL REFERENCES contact_centers (id) ON DELETE CASCADE,
    position          BIGINT NOT NULL
);
CREATE INDEX contact_center_domains_cc ON contact_center_domains (contact_center_id);

CREATE TABLE settings (
    contact_center_id TEXT NOT NULL REFERENCES contact_centers (id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    location          TEXT NOT NULL,
    shared            INTEGER NOT NULL,
    value             TEXT NOT NULL,
    updated_at        BIGINT NOT NULL,
    PRIMARY KEY (contact_center_id, name)
);

CREATE TABLE clients (
    client_id                         TEXT PRIMARY KEY,
    name                              TEXT NOT NULL,
    description                       TEXT NOT NULL,
    secret_hash                       TEXT,
    client_type                       TEXT NOT NULL,
    internal_client                   INTEGER NOT NULL,
    authorities                       TEXT NOT NULL DEFAULT '[]',
    scope                             TEXT NOT NULL DEFAULT '[]',
    authorized_grant_types            TEXT NOT NULL DEFAULT '[]',
    redirect_uris                     TEXT NOT NULL DEFAULT '[]',
    access_token_expiration_timeout   BIGINT NOT NULL,
    refresh_token_expiration_timeout  BIGINT NOT NULL,
    contact_center_ids                TEXT NOT NULL DEFAULT '[]',
    version                           BIGINT NOT NULL,
    created_at                        BIGINT NOT NULL,
    updated_at                        BIGINT NOT NULL
);

CREATE TABLE users (
    contact_center_id    TEXT NOT NULL REFERENCES contact_centers (id) ON DELETE CASCADE,
    id                   TEXT NOT NULL,
    username             TEXT NOT NULL,
    -- Lower-cased username, computed by the store (see domain_key).
    username_key         TEXT NOT NULL,
    password_hash        TEXT NOT NULL,
    dbid                 BIGINT NOT NULL,
    first_name           TEXT NOT NULL,
    last_name            TEXT NOT NULL,
    email                TEXT NOT NULL,
    authorities          TEXT NOT NULL DEFAULT '[]',
    properties           TEXT NOT NULL DEFAULT '{}',
    enabled              INTEGER NOT NULL,
    must_change_password INTEGER NOT NULL,
    version              BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    PRIMARY KEY (contact_center_id, id),
    UNIQUE (contact_center_id, username_key),
    UNIQUE (contact_center_id, dbid)
);

-- Named counters the store hands out (user dbids). SQLite's single writer
-- serialises concurrent takers, so no two users get the same generated dbid.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('user_dbid', 0);

CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    algorithm      TEXT NOT NULL,
    private_sealed BLOB NOT NULL,
    public_jwk     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    activates_at   BIGINT NOT NULL,
    retires_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);

-- No foreign keys to clients or contact centers: a family outlives them as a
-- revoked record, so reuse of its tokens is still recognised.
CREATE TABLE refresh_families (
    id                TEXT PRIMARY KEY,
    client_id         TEXT NOT NULL,
    contact_center_id TEXT,
    username          TEXT,
    username_key      TEXT,
    scope             TEXT NOT NULL DEFAULT '[]',
    claims            TEXT NOT NULL DEFAULT 'null',
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    revoked_at        BIGINT
);
-- Sign-out matches the contact center and the user ignoring case.
CREATE INDEX refresh_families_user ON refresh_families (lower(contact_center_id), username_key);
CREATE INDEX refresh_families_client ON refresh_families (client_id);
CREATE INDEX refresh_families_expires ON refresh_families (expires_at);

CREATE TABLE refresh_tokens (
    hash       TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

-- kind 'jti': subject holds the jti. kind 'subject': every token of subject
-- issued at or before issued_before.
CREATE TABLE revocations (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL CHECK (kind IN ('jti', 'subject')),
    subject       TEXT NOT NULL,
    issued_before BIGINT,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX revocations_expires ON revocations (expires_at);

CREATE TABLE change_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    entity     TEXT NOT NULL,
    entity_id  TEXT NOT NULL,
    changed_at BIGINT NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);

CREATE TABLE audit_events (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    at                BIGINT NOT NULL,
    kind              TEXT NOT NULL,
    client_id         TEXT,
    contact_center_id TEXT,
    subject           TEXT,
    ip                TEXT,
    detail            TEXT NOT NULL DEFAULT 'null'
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_kind_at ON audit_events (kind, at);

-- Change feed for caches, filled by triggers so even a hand-made change shows
-- up. An update that changes the key logs both keys. SQLite has one writer at
-- a time, so seq order is commit order.
CREATE TRIGGER environments_change_insert AFTER INSERT ON environments BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('environment', NEW.id);
END;
CREATE TRIGGER environments_change_update AFTER UPDATE ON environments BEGIN
    INSERT INTO change_log (entity, entity_id) SELECT 'environment', OLD.id WHERE (OLD.id) IS NOT (NEW.id);
    INSERT INTO change_log (entity, entity_id) VALUES ('environment', NEW.id);
END;
CREATE TRIGGER environments_change_delete AFTER DELETE ON environments BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('environment', OLD.id);
END;

CREATE TRIGGER contact_centers_change_insert AFTER INSERT ON contact_centers BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('contact_center', NEW.id);
END;
CREATE TRIGGER contact_centers_change_update AFTER UPDATE ON contact_centers BEGIN
    INSERT INTO change_log (entity, entity_id) SELECT 'contact_center', OLD.id WHERE (OLD.id) IS NOT (NEW.id);
    INSERT INTO change_log (entity, entity_id) VALUES ('contact_center', NEW.id);
END;
CREATE TRIGGER contact_centers_change_delete AFTER DELETE ON contact_centers BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('contact_center', OLD.id);
END;

CREATE TRIGGER contact_center_domains_change_insert AFTER INSERT ON contact_center_domains BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('contact_center', NEW.contact_center_id);
END;
CREATE TRIGGER contact_center_domains_change_update AFTER UPDATE ON contact_center_domains BEGIN
    INSERT INTO change_log (entity, entity_id) SELECT 'contact_center', OLD.contact_center_id WHERE (OLD.contact_center_id) IS NOT (NEW.contact_center_id);
    INSERT INTO change_log (entity, entity_id) VALUES ('contact_center', NEW.contact_center_id);
END;
CREATE TRIGGER contact_center_domains_change_delete AFTER DELETE ON contact_center_domains BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('contact_center', OLD.contact_center_id);
END;

CREATE TRIGGER settings_change_insert AFTER INSERT ON settings BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('setting', NEW.contact_center_id);
END;
CREATE TRIGGER settings_change_update AFTER UPDATE ON settings BEGIN
    INSERT INTO change_log (entity, entity_id) SELECT 'setting', OLD.contact_center_id WHERE (OLD.contact_center_id) IS NOT (NEW.contact_center_id);
    INSERT INTO change_log (entity, entity_id) VALUES ('setting', NEW.contact_center_id);
END;
CREATE TRIGGER settings_change_delete AFTER DELETE ON settings BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('setting', OLD.contact_center_id);
END;

CREATE TRIGGER clients_change_insert AFTER INSERT ON clients BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('client', NEW.client_id);
END;
CREATE TRIGGER clients_change_update AFTER UPDATE ON clients BEGIN
    INSERT INTO change_log (entity, entity_id) SELECT 'client', OLD.client_id WHERE (OLD.client_id) IS NOT (NEW.client_id);
    INSERT INTO change_log (entity, entity_id) VALUES ('client', NEW.client_id);
END;
CREATE TRIGGER clients_change_delete AFTER DELETE ON clients BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('client', OLD.client_id);
END;

CREATE TRIGGER users_change_insert AFTER INSERT ON users BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('user', NEW.contact_center_id || ':' || NEW.id);
END;
CREATE TRIGGER users_change_update AFTER UPDATE ON users BEGIN
    INSERT INTO change_log (entity, entity_id) SELECT 'user', OLD.contact_center_id || ':' || OLD.id WHERE (OLD.contact_center_id || ':' || OLD.id) IS NOT (NEW.contact_center_id || ':' || NEW.id);
    INSERT INTO change_log (entity, entity_id) VALUES ('user', NEW.contact_center_id || ':' || NEW.id);
END;
CREATE TRIGGER users_change_delete AFTER DELETE ON users BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('user', OLD.contact_center_id || ':' || OLD.id);
END;

CREATE TRIGGER signing_keys_change_insert AFTER INSERT ON signing_keys BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('signing_key', NEW.kid);
END;
CREATE TRIGGER signing_keys_change_update AFTER UPDATE ON signing_keys BEGIN
    INSERT INTO change_log (entity, entity_id) SELECT 'signing_key', OLD.kid WHERE (OLD.kid) IS NOT (NEW.kid);
    INSERT INTO change_log (entity, entity_id) VALUES ('signing_key', NEW.kid);
END;
CREATE TRIGGER signing_keys_change_delete AFTER DELETE ON signing_keys BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('signing_key', OLD.kid);
END;

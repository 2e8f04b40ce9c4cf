-- Tollgate durable schema (PostgreSQL). Keep in step with ../sqlite/0001_initial.sql:
-- same tables, columns and rules; only the dialect differs.
-- Times are Unix seconds (BIGINT). Lists and maps are JSON text. Secrets the
-- store must read back are sealed (AES-256-GCM) in BYTEA columns.

CREATE TABLE environments (
    id                  TEXT PRIMARY KEY,
    username            TEXT NOT NULL,
    password_sealed     BYTEA,
    connection_protocol TEXT NOT NULL,
    local_timeout       BIGINT NOT NULL,
    remote_timeout      BIGINT NOT NULL,
    tenant              TEXT NOT NULL,
    app_name            TEXT NOT NULL,
    trace_mode          TEXT NOT NULL,
    tls_enabled         BOOLEAN NOT NULL,
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
    enabled        BOOLEAN NOT NULL,
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
    shared            BOOLEAN NOT NULL,
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
    internal_client                   BOOLEAN NOT NULL,
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
    enabled              BOOLEAN NOT NULL,
    must_change_password BOOLEAN NOT NULL,
    version              BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    PRIMARY KEY (contact_center_id, id),
    UNIQUE (contact_center_id, username_key),
    UNIQUE (contact_center_id, dbid)
);

-- Named counters the store hands out (user dbids). A row lock serialises
-- concurrent takers, so no two users get the same generated dbid.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('user_dbid', 0);

CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    algorithm      TEXT NOT NULL,
    private_sealed BYTEA NOT NULL,
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
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('jti', 'subject')),
    subject       TEXT NOT NULL,
    issued_before BIGINT,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX revocations_expires ON revocations (expires_at);

CREATE TABLE change_log (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity     TEXT NOT NULL,
    entity_id  TEXT NOT NULL,
    changed_at BIGINT NOT NULL DEFAULT (EXTRACT(EPOCH FROM now())::BIGINT)
);

CREATE TABLE audit_events (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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

-- Readers poll "seq > last seen". A sequence value is taken at insert but
-- becomes visible at commit, so without this lock a later-committing writer
-- could publish a smaller seq than one a reader already passed, and the
-- reader would miss it. Holding one transaction-scoped lock from before the
-- seq is taken until commit makes seq order equal commit order. The tables
-- behind it (configuration, revocations) change rarely.
CREATE FUNCTION tollgate_serialize_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7411706049);
    RETURN NULL;
END
$$;

CREATE TRIGGER revocations_seq_order BEFORE INSERT ON revocations
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_serialize_seq();

-- Change feed for caches, filled by triggers so even a hand-made change shows
-- up. Arguments: entity name, key column, optional second key column (the id
-- is then "<first>:<second>"). An update that changes the key logs both keys.
CREATE FUNCTION tollgate_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_key TEXT;
    new_key TEXT;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_key := to_jsonb(OLD) ->> TG_ARGV[1];
        IF TG_NARGS > 2 THEN
            old_key := old_key || ':' || (to_jsonb(OLD) ->> TG_ARGV[2]);
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_key := to_jsonb(NEW) ->> TG_ARGV[1];
        IF TG_NARGS > 2 THEN
            new_key := new_key || ':' || (to_jsonb(NEW) ->> TG_ARGV[2]);
        END IF;
    END IF;
    PERFORM pg_advisory_xact_lock(7411706049);
    IF old_key IS NOT NULL AND old_key IS DISTINCT FROM new_key THEN
        INSERT INTO change_log (entity, entity_id) VALUES (TG_ARGV[0], old_key);
    END IF;
    IF new_key IS NOT NULL THEN
        INSERT INTO change_log (entity, entity_id) VALUES (TG_ARGV[0], new_key);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER environments_change AFTER INSERT OR UPDATE OR DELETE ON environments
    FOR EACH ROW EXECUTE FUNCTION tollgate_log_change('environment', 'id');
CREATE TRIGGER contact_centers_change AFTER INSERT OR UPDATE OR DELETE ON contact_centers
    FOR EACH ROW EXECUTE FUNCTION tollgate_log_change('contact_center', 'id');
CREATE TRIGGER contact_center_domains_change AFTER INSERT OR UPDATE OR DELETE ON contact_center_domains
    FOR EACH ROW EXECUTE FUNCTION tollgate_log_change('contact_center', 'contact_center_id');
CREATE TRIGGER settings_change AFTER INSERT OR UPDATE OR DELETE ON settings
    FOR EACH ROW EXECUTE FUNCTION tollgate_log_change('setting', 'contact_center_id');
CREATE TRIGGER clients_change AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION tollgate_log_change('client', 'client_id');
CREATE TRIGGER users_change AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION tollgate_log_change('user', 'contact_center_id', 'id');
CREATE TRIGGER signing_keys_change AFTER INSERT OR UPDATE OR DELETE ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION tollgate_log_change('signing_key', 'kid');

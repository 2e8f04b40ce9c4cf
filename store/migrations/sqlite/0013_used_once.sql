-- Single-use values (client assertion and SAML assertion ids) that must stay
-- spent however long the ephemeral store keeps its data: a Redis restart
-- must not make a replay succeed. Kept until the value expires (housekeeping).
CREATE TABLE used_once (
    key_hash   TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX used_once_expires ON used_once (expires_at);

-- Per-origin CORS allow-list of the newer `/environment/v3/cors` API. Keep in
-- step with ../postgres/0002_cors_origins.sql. Origins are stored as given
-- after validation (scheme://host[:port]); a contact center's deletion takes
-- its origins with it.
CREATE TABLE cors_origins (
    contact_center_id TEXT NOT NULL REFERENCES contact_centers (id) ON DELETE CASCADE,
    origin            TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    PRIMARY KEY (contact_center_id, origin)
);

CREATE TRIGGER cors_origins_change_insert AFTER INSERT ON cors_origins BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('cors', NEW.contact_center_id);
END;
CREATE TRIGGER cors_origins_change_update AFTER UPDATE ON cors_origins BEGIN
    INSERT INTO change_log (entity, entity_id) SELECT 'cors', OLD.contact_center_id WHERE (OLD.contact_center_id) IS NOT (NEW.contact_center_id);
    INSERT INTO change_log (entity, entity_id) VALUES ('cors', NEW.contact_center_id);
END;
CREATE TRIGGER cors_origins_change_delete AFTER DELETE ON cors_origins BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('cors', OLD.contact_center_id);
END;

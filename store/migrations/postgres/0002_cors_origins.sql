-- Per-origin CORS allow-list of the newer `/environment/v3/cors` API. Keep in
-- step with ../sqlite/0002_cors_origins.sql. Origins are stored as given
-- after validation (scheme://host[:port]); a contact center's deletion takes
-- its origins with it.
CREATE TABLE cors_origins (
    contact_center_id TEXT NOT NULL REFERENCES contact_centers (id) ON DELETE CASCADE,
    origin            TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    PRIMARY KEY (contact_center_id, origin)
);

CREATE TRIGGER cors_origins_change AFTER INSERT OR UPDATE OR DELETE ON cors_origins
    FOR EACH ROW EXECUTE FUNCTION tollgate_log_change('cors', 'contact_center_id');

-- Replicas learn of a change at once: every statement that adds to the change
-- feed or the revocations announces it on one channel, delivered at commit
-- (duplicates within a transaction collapse). The 1 s poll stays as the
-- safety net for a notification lost with a connection.
CREATE FUNCTION tollgate_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tollgate_changes', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER change_log_notify AFTER INSERT ON change_log
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_notify_change();
CREATE TRIGGER revocations_notify AFTER INSERT ON revocations
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_notify_change();

-- Who manages an environment, contact center or client row, so the operator
-- never writes or deletes a row another resource, or the API, created.
-- Keep in step with ../sqlite/0010_row_owners.sql.
--
-- managed_by: 'api' (created through the Environment or ops API),
-- 'resource' (a custom resource: owner_namespace/owner_name/owner_uid), or
-- 'unknown' (rows older than this migration: nobody recorded who made them).
ALTER TABLE environments ADD COLUMN managed_by TEXT NOT NULL DEFAULT 'api';
ALTER TABLE environments ADD COLUMN owner_namespace TEXT;
ALTER TABLE environments ADD COLUMN owner_name TEXT;
ALTER TABLE environments ADD COLUMN owner_uid TEXT;
UPDATE environments SET managed_by = 'unknown';

ALTER TABLE contact_centers ADD COLUMN managed_by TEXT NOT NULL DEFAULT 'api';
ALTER TABLE contact_centers ADD COLUMN owner_namespace TEXT;
ALTER TABLE contact_centers ADD COLUMN owner_name TEXT;
ALTER TABLE contact_centers ADD COLUMN owner_uid TEXT;
UPDATE contact_centers SET managed_by = 'unknown';

ALTER TABLE clients ADD COLUMN managed_by TEXT NOT NULL DEFAULT 'api';
ALTER TABLE clients ADD COLUMN owner_namespace TEXT;
ALTER TABLE clients ADD COLUMN owner_name TEXT;
ALTER TABLE clients ADD COLUMN owner_uid TEXT;
UPDATE clients SET managed_by = 'unknown';

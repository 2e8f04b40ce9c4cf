-- What a single use produced (for an authorization code: the access token's
-- id and the refresh family it issued), so a replay after the ephemeral
-- store lost its data still revokes them.
ALTER TABLE used_once ADD COLUMN detail TEXT;

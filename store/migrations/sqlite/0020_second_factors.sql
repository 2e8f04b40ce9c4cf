-- Second factors for built-in users: the contact center's policy (off,
-- optional, required), each user's TOTP secret (sealed with the context
-- `user_factor:<contact center id>:<user id>`) with the last time step
-- accepted (a code is never taken twice), and the recovery codes not yet
-- used (SHA-256 digests: the codes are 80 random bits).
ALTER TABLE contact_centers ADD COLUMN second_factor TEXT NOT NULL DEFAULT 'off';
CREATE TABLE user_factors (
    contact_center_id TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    totp_sealed       BLOB NOT NULL,
    -- FALSE until the user has typed a first code from it.
    confirmed         INTEGER NOT NULL DEFAULT 0,
    last_step         BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    PRIMARY KEY (contact_center_id, user_id),
    FOREIGN KEY (contact_center_id, user_id) REFERENCES users (contact_center_id, id) ON DELETE CASCADE
);
CREATE TABLE user_recovery_codes (
    contact_center_id TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    code_digest       TEXT NOT NULL,
    PRIMARY KEY (contact_center_id, user_id, code_digest),
    FOREIGN KEY (contact_center_id, user_id) REFERENCES user_factors (contact_center_id, user_id) ON DELETE CASCADE
);

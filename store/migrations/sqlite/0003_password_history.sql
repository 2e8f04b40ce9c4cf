-- Previous password hashes of built-in users, for the password-history rule
-- (a new password may not repeat the last N). Keep in step with
-- ../postgres/0003_password_history.sql. The store writes a row whenever a
-- user's hash changes and keeps the newest MAX_PASSWORD_HISTORY per user;
-- a user's deletion takes their history with it.
CREATE TABLE user_password_history (
    contact_center_id TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    -- The user's row version that held this hash: orders the history.
    version           BIGINT NOT NULL,
    password_hash     TEXT NOT NULL,
    replaced_at       BIGINT NOT NULL,
    PRIMARY KEY (contact_center_id, user_id, version),
    FOREIGN KEY (contact_center_id, user_id) REFERENCES users (contact_center_id, id) ON DELETE CASCADE
);

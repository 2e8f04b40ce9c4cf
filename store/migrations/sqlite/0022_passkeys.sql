-- WebAuthn passkeys as second factors of built-in users, beside TOTP: each
-- credential a user registered, as webauthn-rs serialises it (`passkey`:
-- the credential id, public key and signature counter; nothing secret), with
-- the counter and backup state also in columns so that a use is taken in one
-- conditional update. Scoped by contact center like every user row, and gone
-- with the user.
CREATE TABLE user_passkeys (
    contact_center_id TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    -- base64url of the credential id the authenticator chose.
    credential_id     TEXT NOT NULL,
    passkey           TEXT NOT NULL,
    counter           BIGINT NOT NULL DEFAULT 0,
    backup_eligible   INTEGER NOT NULL,
    backup_state      INTEGER NOT NULL,
    created_at        BIGINT NOT NULL,
    last_used_at      BIGINT,
    PRIMARY KEY (contact_center_id, user_id, credential_id),
    FOREIGN KEY (contact_center_id, user_id) REFERENCES users (contact_center_id, id) ON DELETE CASCADE
);

-- OpenID Connect Back-Channel Logout 1.0: where a client's sign-outs are
-- posted, and whether its logout tokens must name the session (sid).
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE;

-- OpenID Connect identity providers per contact center. Keep in step with
-- ../postgres/0008_oidc_providers.sql.

-- One provider per contact center (used when its auth scheme is oidc).
-- Tollgate is the provider's client: client_id, and the client secret sealed
-- with the store's cipher (context "oidc_provider:<contact center id>").
-- client_auth is client_secret_basic or client_secret_post. scopes, claims,
-- group_authorities and authorize_params are JSON (see model::OidcProviderConfig).
-- Read per sign-in, so no change-log trigger: nothing caches these rows.
CREATE TABLE oidc_providers (
    contact_center_id    TEXT PRIMARY KEY REFERENCES contact_centers (id) ON DELETE CASCADE,
    issuer               TEXT NOT NULL,
    client_id            TEXT NOT NULL,
    client_auth          TEXT NOT NULL,
    client_secret_sealed BLOB    NOT NULL,
    scopes               TEXT NOT NULL,
    claims               TEXT NOT NULL,
    groups_claim         TEXT,
    group_authorities    TEXT NOT NULL,
    just_in_time         INTEGER NOT NULL,
    authorize_params     TEXT NOT NULL,
    version              BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);

//! The OpenAPI 3 description of the Environment API, generated from the
//! handlers and types. Served at `/environment/v3/openapi.json` and
//! committed at `docs/openapi/environment-v3.json` (a test keeps them equal).

use axum::response::Response;
use utoipa::OpenApi;

use crate::web::admin_api::{
    contact_centers, cors, directory, environments, oidc_provider, saml, settings, trusted_issuers,
    users,
};
use crate::web::openapi::Security;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tollgate Environment API",
        version = "3",
        description = "Environments, contact centers, their settings, built-in users, LDAP directories, SAML service providers, OpenID Connect identity providers and trusted assertion issuers, and CORS origins. \
Responses use the envelope `{\"status\":{\"code\":0},\"data\":…}`; errors carry the HTTP status as \
`status.code` and a `message` naming the field and the rule. Callers authenticate with the operator's \
HTTP Basic credentials or a client-credentials bearer token whose client holds ROLE_MANAGEMENT_APPLICATION \
or ROLE_INTERNAL_CLIENT; a client bound to contact centers sees only those.",
        license(name = "Apache-2.0")
    ),
    paths(
        environments::list, environments::create, environments::get, environments::update, environments::delete,
        contact_centers::list, contact_centers::create, contact_centers::get, contact_centers::update, contact_centers::delete,
        settings::list, settings::upsert, settings::delete,
        trusted_issuers::list, trusted_issuers::upsert, trusted_issuers::delete,
        directory::get, directory::put, directory::delete,
        oidc_provider::get, oidc_provider::put, oidc_provider::delete,
        saml::get, saml::put, saml::delete, saml::rotate_key, saml::reload,
        users::list, users::create, users::get, users::update, users::delete, users::reset_password,
        users::reset_factors,
        cors::list, cors::add, cors::delete,
    ),
    modifiers(&Security),
    security(("basic" = []), ("bearer" = [])),
    tags(
        (name = "environments", description = "Configuration Server connection data"),
        (name = "contact-centers", description = "Tenants: domains, directory, enabled"),
        (name = "settings", description = "Per-contact-center settings such as cors-origins"),
        (name = "trusted-issuers", description = "Issuers of RFC 7523 assertions for a contact center's users"),
        (name = "directory", description = "The LDAP / Active Directory of an `auth: ldap` contact center"),
        (name = "oidc-provider", description = "The OpenID Connect identity provider of an `auth: oidc` contact center"),
        (name = "saml", description = "The SAML 2.0 service provider of an `auth: saml` contact center"),
        (name = "users", description = "Users of the built-in directory"),
        (name = "cors", description = "Allowed browser origins, one per row"),
    )
)]
pub struct ApiDoc;

pub fn document() -> String {
    crate::web::openapi::render(ApiDoc::openapi())
}

pub async fn serve() -> Response {
    crate::web::openapi::serve(document())
}

//! The OpenAPI 3 description of the Authentication API, generated from the
//! handlers and types of both its edges (the machine endpoints and the
//! browser's), so it lives with the wiring. Served at
//! `/auth/v3/openapi.json` and committed at `docs/openapi/auth-v3.json`
//! (a test keeps them equal).

use axum::response::Response;
use utoipa::OpenApi;

use crate::web::browser::sso::{oidc, saml};
use crate::web::browser::{
    authorize, change_password, consent, logout, second_factor, sign_in, sign_out,
};
use crate::web::oauth_api::{
    convert, discovery, introspect, ops_clients, ops_keys, par, session, token,
};
use crate::web::openapi::Security;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::Modify;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tollgate Authentication API",
        version = "3",
        description = "OAuth 2.0 and OpenID Connect endpoints, and the original Genesys Authentication API's \
bearer-token endpoints with its models (CloudUserDetails, OpenIdUserInfo, UserRole, ApiResponse, \
ErrorResponse, ResponseStatus). The standard endpoints (token, introspection, revocation, discovery, keys) \
answer in their RFC shapes; the others in the envelope `{\"status\":{\"code\":0},\"data\":…}`, whose errors \
carry the HTTP status as `status.code`, a `message`, and in `detail.error` the OAuth error code of a \
refused token.",
        license(name = "Apache-2.0")
    ),
    paths(
        token::token, par::push, introspect::introspect, introspect::revoke,
        authorize::authorize, logout::end_session,
        discovery::openid_configuration, discovery::oauth_authorization_server, discovery::jwks,
        session::userinfo, session::openid_userinfo, session::ping,
        convert::convert_token, convert::jwt_userinfo,
        sign_out::sign_out_post, sign_out::sign_out_get,
        ops_clients::list, ops_clients::get, ops_clients::create, ops_clients::update,
        ops_clients::delete, ops_keys::rotate,
        sign_in::submit, change_password::submit, second_factor::submit, consent::submit, logout::confirm,
        logout::auth_scheme,
        saml::metadata::get, saml::acs::acs, saml::slo::redirect_binding, saml::slo::post_binding,
        oidc::callback,
    ),
    modifiers(&Security, &OpsSecurity),
    tags(
        (name = "oauth", description = "OAuth 2.0 and OpenID Connect endpoints"),
        (name = "discovery", description = "Provider metadata and the signing keys"),
        (name = "user", description = "The original's bearer-token endpoints"),
        (name = "browser", description = "What the sign-in pages post, and the sign-in scheme lookup"),
        (name = "sso", description = "SAML 2.0 and OpenID Connect single sign-on with a contact center's identity provider"),
        (name = "ops", description = "The OAuth client registry and the signing keys, under the operator's credentials"),
    )
)]
pub struct ApiDoc;

/// `ops`: the operator's HTTP Basic credentials (where `basic` is a client's).
struct OpsSecurity;

impl Modify for OpsSecurity {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "ops",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

pub fn document() -> String {
    crate::web::openapi::render(ApiDoc::openapi())
}

pub async fn serve() -> Response {
    crate::web::openapi::serve(document())
}

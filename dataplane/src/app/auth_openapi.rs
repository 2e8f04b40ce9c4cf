//! The OpenAPI 3 description of the Authentication API, generated from the
//! handlers and types of both its edges (the machine endpoints and the
//! browser's), so it lives with the wiring. Served at
//! `/auth/v3/openapi.json` and committed at `docs/openapi/auth-v3.json`
//! (a test keeps them equal).

use axum::response::Response;
use utoipa::OpenApi;

use crate::web::browser::{authorize, logout, sign_out};
use crate::web::oauth_api::{convert, discovery, introspect, session, token};
use crate::web::openapi::Security;

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
        token::token, introspect::introspect, introspect::revoke,
        authorize::authorize, logout::end_session,
        discovery::openid_configuration, discovery::oauth_authorization_server, discovery::jwks,
        session::userinfo, session::openid_userinfo, session::ping,
        convert::convert_token, convert::jwt_userinfo,
        sign_out::sign_out_post, sign_out::sign_out_get,
    ),
    modifiers(&Security),
    tags(
        (name = "oauth", description = "OAuth 2.0 and OpenID Connect endpoints"),
        (name = "discovery", description = "Provider metadata and the signing keys"),
        (name = "user", description = "The original's bearer-token endpoints"),
    )
)]
pub struct ApiDoc;

pub fn document() -> String {
    crate::web::openapi::render(ApiDoc::openapi())
}

pub async fn serve() -> Response {
    crate::web::openapi::serve(document())
}

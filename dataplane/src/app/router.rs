//! Every route the data plane answers, and which `serve` role mounts which.

use axum::routing::{get, post};
use axum::Router;

use crate::web::browser::sso::{oidc, saml};
use crate::web::browser::{
    assets, authorize, change_password, consent, logout, sign_in, sign_out, signed_out,
};
use crate::web::cors;
use crate::web::oauth_api::{convert, discovery, introspect, ops_clients, session, token};
use tollgate_core::services::AppState;

/// The Authentication API role's routes.
pub fn auth(state: AppState) -> Router {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::oauth_authorization_server),
        )
        .route("/auth/v3/jwks", get(discovery::jwks))
        .route("/auth/v3/oauth/token", post(token::token))
        .route("/auth/v3/oauth/convert-token", post(convert::convert_token))
        .route("/auth/v3/jwt-userinfo", get(convert::jwt_userinfo))
        .route("/auth/v3/oauth/introspect", post(introspect::introspect))
        .route("/auth/v3/oauth/revoke", post(introspect::revoke))
        .route("/auth/v3/userinfo", get(session::userinfo))
        .route(
            "/auth/v3/openid/userinfo",
            get(session::openid_userinfo).post(session::openid_userinfo),
        )
        .route(
            "/auth/v3/sign-out",
            get(sign_out::sign_out_get).post(sign_out::sign_out_post),
        )
        .route("/auth/v3/ping", get(session::ping))
        .route(
            "/auth/v3/sso/saml/{contact_center_id}/metadata",
            get(saml::metadata::get),
        )
        .route(
            "/auth/v3/ops/clients",
            get(ops_clients::list).post(ops_clients::create),
        )
        .route(
            "/auth/v3/ops/clients/{client_id}",
            get(ops_clients::get)
                .put(ops_clients::update)
                .delete(ops_clients::delete),
        )
        .with_state(state.clone())
        .merge(browser_routes(state.clone()))
        .layer(cors::layer(state))
}

/// Browser-facing endpoints: every answer carries the UI's security headers.
fn browser_routes(state: AppState) -> Router {
    Router::new()
        .route(
            "/auth/v3/oauth/authorize",
            get(authorize::authorize).post(authorize::authorize),
        )
        .route("/auth/v3/sign-in", post(sign_in::submit))
        .route("/auth/v3/change-password", post(change_password::submit))
        .route("/auth/v3/oauth/consent", post(consent::submit))
        .route(
            "/auth/v3/end-session",
            get(logout::end_session).post(logout::end_session),
        )
        .route("/auth/v3/sign-out/confirm", post(logout::confirm))
        .route("/auth/v3/auth-scheme", post(logout::auth_scheme))
        .route(
            "/auth/v3/sso/saml/{contact_center_id}/acs",
            post(saml::acs::acs),
        )
        .route(
            "/auth/v3/sso/saml/{contact_center_id}/slo",
            get(saml::slo::redirect_binding).post(saml::slo::post_binding),
        )
        .route(
            tollgate_core::federation::oidc::redirect::CALLBACK_ROUTE,
            get(oidc::callback),
        )
        .with_state(state)
}

/// The UI role's routes (pages and the stylesheet).
pub fn ui(state: AppState) -> Router {
    Router::new()
        .route("/ui/auth/sign-in", get(sign_in::page))
        .route("/ui/auth/change-password", get(change_password::page))
        .route("/ui/auth/consent", get(consent::page))
        .route("/ui/auth/signed-in", get(signed_out::signed_in))
        .route("/ui/auth/signed-out", get(signed_out::signed_out))
        .route("/ui/auth/static/tollgate.css", get(assets::css))
        .route("/ui/auth/static/auto-post.js", get(assets::auto_post))
        .with_state(state)
}

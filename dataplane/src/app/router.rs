//! Every route the data plane answers, and which `serve` role mounts which.

use axum::routing::{delete, get, post};
use axum::Router;

use crate::web::browser::sso::{oidc, saml};
use crate::web::browser::{
    assets, authorize, change_password, consent, logout, second_factor, sign_in, sign_out,
    signed_out,
};
use crate::web::cors;
use crate::web::oauth_api::{
    convert, discovery, introspect, ops_clients, ops_keys, par, session, token,
};
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
        .route(
            "/auth/v3/openapi.json",
            get(crate::app::auth_openapi::serve),
        )
        .route("/auth/v3/oauth/token", post(token::token))
        .route("/auth/v3/oauth/par", post(par::push))
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
        .route("/auth/v3/ops/signing-keys/rotate", post(ops_keys::rotate))
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
        .route("/auth/v3/second-factor", post(second_factor::submit))
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

/// `tollgate dev` only: the demo client's redirect URI, a page that redeems
/// the code and shows the tokens.
pub fn dev(state: AppState, demo_client: String) -> Router {
    use crate::web::browser::dev_callback;
    Router::new()
        .route(dev_callback::PATH, get(dev_callback::callback))
        .layer(axum::Extension(dev_callback::DemoClient(demo_client)))
        .with_state(state)
}

/// The UI role's routes (pages and the stylesheet).
pub fn ui(state: AppState) -> Router {
    Router::new()
        .route("/ui/auth/sign-in", get(sign_in::page))
        .route("/ui/auth/change-password", get(change_password::page))
        .route("/ui/auth/second-factor", get(second_factor::page))
        .route("/ui/auth/consent", get(consent::page))
        .route("/ui/auth/signed-in", get(signed_out::signed_in))
        .route("/ui/auth/signed-out", get(signed_out::signed_out))
        .route("/ui/auth/static/tollgate.css", get(assets::css))
        .route("/ui/auth/static/auto-post.js", get(assets::auto_post))
        .route("/ui/auth/static/passkey.js", get(assets::passkey))
        .with_state(state)
}

/// The Environment API role's routes (one table, longer than a function
/// should be, because a route table reads best in one place).
pub fn environment(state: AppState) -> Router {
    use crate::web::admin_api::contact_centers as cc;
    use crate::web::admin_api::{
        cors, directory, environments, oidc_provider, openapi, saml, settings, trusted_issuers,
        users,
    };
    Router::new()
        .route(
            "/environment/v3/environments",
            get(environments::list).post(environments::create),
        )
        .route(
            "/environment/v3/environments/{id}",
            get(environments::get)
                .put(environments::update)
                .delete(environments::delete),
        )
        .route(
            "/environment/v3/contact-centers",
            get(cc::list).post(cc::create),
        )
        .route(
            "/environment/v3/contact-centers/{id}",
            get(cc::get).put(cc::update).delete(cc::delete),
        )
        .route(
            "/environment/v3/contact-centers/{id}/settings",
            get(settings::list).post(settings::upsert),
        )
        .route(
            "/environment/v3/contact-centers/{id}/settings/{name}",
            delete(settings::delete),
        )
        .route(
            "/environment/v3/contact-centers/{id}/trusted-issuers",
            get(trusted_issuers::list)
                .post(trusted_issuers::upsert)
                .delete(trusted_issuers::delete),
        )
        .route(
            "/environment/v3/contact-centers/{id}/directory",
            get(directory::get)
                .put(directory::put)
                .delete(directory::delete),
        )
        .route(
            "/environment/v3/contact-centers/{id}/oidc-provider",
            get(oidc_provider::get)
                .put(oidc_provider::put)
                .delete(oidc_provider::delete),
        )
        .route(
            "/environment/v3/contact-centers/{id}/saml",
            get(saml::get).put(saml::put).delete(saml::delete),
        )
        .route(
            "/environment/v3/contact-centers/{id}/saml/rotate-key",
            post(saml::rotate_key),
        )
        .route(
            "/environment/v3/contact-centers/{id}/saml/reload",
            post(saml::reload),
        )
        .route(
            "/environment/v3/contact-centers/{id}/users",
            get(users::list).post(users::create),
        )
        .route(
            "/environment/v3/contact-centers/{id}/users/{user_id}",
            get(users::get).put(users::update).delete(users::delete),
        )
        .route(
            "/environment/v3/contact-centers/{id}/users/{user_id}/reset-password",
            post(users::reset_password),
        )
        .route(
            "/environment/v3/contact-centers/{id}/users/{user_id}/factors",
            delete(users::reset_factors),
        )
        .route(
            "/environment/v3/cors",
            get(cors::list).post(cors::add).delete(cors::delete),
        )
        .route("/environment/v3/openapi.json", get(openapi::serve))
        .with_state(state)
}

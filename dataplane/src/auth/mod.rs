//! The Authentication API: `/auth/v3` (Genesys-compatible) and the standard
//! OAuth/OIDC endpoints beside it.

pub mod assertion;
pub mod authorize;
pub mod client_auth;
pub mod convert;
pub mod discovery;
pub mod error;
pub mod form;
pub mod grants;
pub mod introspect;
pub mod issue;
pub mod logout;
pub mod ops_clients;
pub mod recheck;
pub mod session;
pub mod token;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::Router;

use crate::state::{AppState, Services};

pub fn router(state: AppState) -> Router {
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
            get(session::sign_out_get).post(session::sign_out_post),
        )
        .route("/auth/v3/ping", get(session::ping))
        .route(
            "/auth/v3/sso/saml/{contact_center_id}/metadata",
            get(crate::sso::saml::metadata::get),
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
        .layer(crate::origins::layer(state))
}

/// Browser-facing endpoints: every answer carries the UI's security headers.
fn browser_routes(state: AppState) -> Router {
    Router::new()
        .route(
            "/auth/v3/oauth/authorize",
            get(authorize::authorize).post(authorize::authorize),
        )
        .route("/auth/v3/sign-in", post(crate::ui::sign_in::submit))
        .route(
            "/auth/v3/change-password",
            post(crate::ui::change_password::submit),
        )
        .route("/auth/v3/oauth/consent", post(crate::ui::consent::submit))
        .route(
            "/auth/v3/end-session",
            get(logout::end_session).post(logout::end_session),
        )
        .route("/auth/v3/sign-out/confirm", post(logout::confirm))
        .route("/auth/v3/auth-scheme", post(logout::auth_scheme))
        .route(
            "/auth/v3/sso/saml/{contact_center_id}/acs",
            post(crate::sso::saml::acs::acs),
        )
        .route(
            "/auth/v3/sso/saml/{contact_center_id}/slo",
            get(crate::sso::saml::slo::redirect_binding).post(crate::sso::saml::slo::post_binding),
        )
        .route(
            crate::sso::oidc::CALLBACK_ROUTE,
            get(crate::sso::oidc::callback),
        )
        .with_state(state)
}

/// The client's address ([`crate::protection::client_ip`]): for rate limits,
/// lockouts and the audit trail (absent in in-process tests without a peer).
pub struct ClientIp(pub Option<String>);

impl ClientIp {
    pub fn of(parts: &Parts, state: &Services) -> Option<String> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
        Some(
            state
                .settings
                .trusted_proxies
                .client(peer, &parts.headers)
                .to_string(),
        )
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(ClientIp::of(parts, state)))
    }
}

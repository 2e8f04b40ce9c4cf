//! The original's JWT views of a bearer token: `POST /auth/v3/oauth/convert-token`
//! answers `{"status":{"code":0},"data":{"jwtToken":…}}` and
//! `GET /auth/v3/jwt-userinfo` puts the same JWT in the `X-GWS-User` header.
//! The JWT is the token's user info (CloudUserDetails) signed with the
//! current key (verifiable with the JWKS), and it expires with the token.
//! It is typed `gws-user+jwt` with the audience `urn:tollgate:gws-user`
//! (the client is in `client_id`).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tollgate_store::model::now;

use crate::web::bearer::bearer;
use crate::web::envelope;
use crate::web::oauth_api::session::{cloud_user_details, directory_user};
use crate::web::oauth_error::OAuthResponse;
use tollgate_core::oauth::error::OAuthError;
use tollgate_core::services::{AppState, Services};
use tollgate_core::tokens;

pub const USER_HEADER: &str = "x-gws-user";

async fn user_jwt(state: &Services, headers: &HeaderMap) -> Result<String, OAuthError> {
    let c = bearer(state, headers)?;
    let user = directory_user(state, &c).await?;
    let now = now();
    let mut claims = cloud_user_details(&c, user);
    claims["iss"] = json!(state.settings.issuer);
    claims["sub"] = json!(c.sub);
    // Its own `typ` and audience: signed with the same keys, it must never
    // pass for an ID token (`id_token_hint`, a token-exchange subject or
    // actor) nor for an access token.
    claims["aud"] = json!(tokens::USER_INFO_AUDIENCE);
    claims["client_id"] = json!(c.client_id);
    claims["iat"] = json!(now);
    claims["exp"] = json!(c.exp);
    claims["jti"] = json!(uuid::Uuid::new_v4().to_string());
    tokens::sign(&state.keys, tokens::USER_INFO_TYP, &claims, now).map_err(|e| {
        tracing::error!(error = %e, "cannot sign a user-info JWT");
        OAuthError::server_error()
    })
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

pub async fn convert_token(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match user_jwt(&state, &headers).await {
        Ok(jwt) => no_store(envelope::ok(json!({"jwtToken": jwt}))),
        Err(e) => OAuthResponse(e).into_response(),
    }
}

pub async fn jwt_userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match user_jwt(&state, &headers).await {
        Ok(jwt) => match HeaderValue::from_str(&jwt) {
            Ok(value) => no_store((StatusCode::OK, [(USER_HEADER, value)]).into_response()),
            Err(_) => OAuthResponse(OAuthError::server_error()).into_response(),
        },
        Err(e) => OAuthResponse(e).into_response(),
    }
}

//! The original's JWT views of a bearer token: `POST /auth/v3/oauth/convert-token`
//! answers `{"status":{"code":0},"data":{"jwtToken":…,"expiration":…}}` (as
//! the Service Client API's `auth.getJwtToken` documents it) and
//! `GET /auth/v3/jwt-userinfo` puts the same JWT in the `X-GWS-User` header
//! beside a `{"status":{"code":0}}` body.
//! The JWT is the token's user info (CloudUserDetails, authorities as
//! strings) signed with the current key (verifiable with the JWKS), and it
//! expires with the token.
//! It is typed `gws-user+jwt` with the audience `urn:tollgate:gws-user`
//! (the client is in `client_id`).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use serde::Serialize;
use serde_json::json;
use tollgate_store::model::now;
use utoipa::ToSchema;

use crate::web::bearer::{bearer, At};
use crate::web::envelope::{self, ApiError, ApiResponse, ApiResponseOf, ErrorResponse};
use crate::web::oauth_api::session::directory_user;
use crate::web::oauth_api::user_info::cloud_user_details;
use tollgate_core::services::{AppState, Services};
use tollgate_core::tokens;

pub const USER_HEADER: &str = "x-gws-user";

/// The converted token: the JWT and when it expires (RFC 3339, UTC, milliseconds).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JwtConvertResult {
    pub jwt_token: String,
    #[schema(format = DateTime, example = "2020-04-14T13:26:51.846Z")]
    pub expiration: String,
}

fn expiration(exp: i64) -> String {
    chrono::DateTime::from_timestamp(exp, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn user_jwt(
    state: &Services,
    headers: &HeaderMap,
    at: &At,
) -> Result<JwtConvertResult, ApiError> {
    let c = bearer(state, headers, at).await?;
    let user = directory_user(state, &c).await?;
    let now = now();
    let mut claims = serde_json::to_value(cloud_user_details(&c, user.as_ref()))
        .map_err(|_| ApiError::internal())?;
    // JWT claims keep authorities as plain strings.
    claims["authorities"] = json!(c.authorities);
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
    let jwt = tokens::sign(&state.keys, tokens::USER_INFO_TYP, &claims, now).map_err(|e| {
        tracing::error!(error = %e, "cannot sign a user-info JWT");
        ApiError::internal()
    })?;
    Ok(JwtConvertResult {
        jwt_token: jwt,
        expiration: expiration(c.exp),
    })
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[utoipa::path(post, path = "/auth/v3/oauth/convert-token", tag = "user",
    security(("bearer" = [])),
    responses(
        (status = 200, body = ApiResponseOf<JwtConvertResult>),
        (status = 401, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
pub async fn convert_token(
    State(state): State<AppState>,
    at: At,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    Ok(no_store(envelope::ok(
        user_jwt(&state, &headers, &at).await?,
    )))
}

#[utoipa::path(get, path = "/auth/v3/jwt-userinfo", tag = "user",
    security(("bearer" = [])),
    responses(
        (status = 200, body = ApiResponse, headers(("X-GWS-User" = String, description = "The user info as a signed JWT"))),
        (status = 401, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
pub async fn jwt_userinfo(
    State(state): State<AppState>,
    at: At,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let jwt = user_jwt(&state, &headers, &at).await?.jwt_token;
    let value = HeaderValue::from_str(&jwt).map_err(|_| ApiError::internal())?;
    let mut res = no_store(envelope::ok_empty());
    res.headers_mut().insert(USER_HEADER, value);
    Ok(res)
}

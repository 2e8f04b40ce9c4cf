//! Bearer-token endpoints of the original: user info and ping (sign-out is
//! in [`crate::web::browser::sign_out`]).

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tollgate_store::model::now;

use crate::web::bearer::{bearer, presented, At, Scheme};
use crate::web::envelope::{self, ApiError, ApiResponse, ErrorResponse};
use crate::web::oauth_api::schemas::AccessTokenForm;
use crate::web::oauth_api::user_info::{
    cloud_user_details, openid_user_info, CloudUserDetails, OpenIdUserInfo, Scopes,
};
use tollgate_core::oauth::error::OAuthError;
use tollgate_core::services::{AppState, Services};
use tollgate_core::sessions;
use tollgate_core::tokens::AccessClaims;

/// RFC 6750 §2.2: the token as the `access_token` parameter of a form body
/// (the userinfo POST of OpenID Connect Core §5.3.1). Only one way per
/// request: a form token beside an `Authorization` header is refused.
fn form_access_token(headers: &HeaderMap, body: &[u8]) -> Result<Option<String>, OAuthError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form || body.is_empty() {
        return Ok(None);
    }
    let form = tollgate_core::oauth::form::OAuthForm::parse(body)?;
    let Some(token) = form.get("access_token") else {
        return Ok(None);
    };
    if headers.contains_key(header::AUTHORIZATION) {
        return Err(OAuthError::invalid_request(
            "the access token is given both in the Authorization header and in the body",
        ));
    }
    Ok(Some(token.to_string()))
}

pub async fn directory_user(
    state: &Services,
    c: &AccessClaims,
) -> Result<Option<tollgate_core::directory::DirectoryUser>, OAuthError> {
    let (Some(cc_id), Some(name)) = (&c.contact_center_id, &c.user_name) else {
        return Ok(None);
    };
    let cc = state
        .catalog
        .contact_center(cc_id)
        .ok_or_else(|| OAuthError::invalid_token("the token's tenant is gone"))?;
    let Some(dir) = state.directories.for_contact_center(&cc).await else {
        return Ok(None);
    };
    match dir.lookup(&cc, name).await {
        Ok(Some(u)) => Ok(Some(u)),
        Ok(None) => Err(OAuthError::invalid_token(
            "the token's user no longer exists",
        )),
        Err(tollgate_core::directory::DirectoryError::Unavailable { retry_after }) => Err(
            OAuthError::temporarily_unavailable(retry_after.as_secs().max(1)),
        ),
        Err(_) => Err(OAuthError::invalid_token("the token's user is unavailable")),
    }
}

/// `GET /auth/v3/userinfo`: the original's CloudUserDetails.
#[utoipa::path(get, path = "/auth/v3/userinfo", tag = "user",
    security(("bearer" = [])),
    responses(
        (status = 200, body = CloudUserDetails),
        (status = 401, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
pub async fn userinfo(
    State(state): State<AppState>,
    at: At,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = bearer(&state, &headers, &at).await?;
    let user = directory_user(&state, &c).await?;
    Ok(axum::Json(cloud_user_details(&c, user.as_ref())).into_response())
}

/// `GET /auth/v3/openid/userinfo`: the claims the token's scopes allow
/// (OpenID Connect Core §5.3, §5.4): `sub` with `openid`, names with
/// `profile`, the address with `email`; the original's fields only for a
/// token of scope `*`.
#[utoipa::path(method(get, post), path = "/auth/v3/openid/userinfo", tag = "user",
    request_body(content = Option<AccessTokenForm>, content_type = "application/x-www-form-urlencoded",
        description = "POST only: the token as `access_token` instead of the Authorization header"),
    security(("bearer" = [])),
    responses(
        (status = 200, body = OpenIdUserInfo),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 403, description = "No user behind the token, or no openid scope", body = ErrorResponse),
        (status = 503, body = ErrorResponse)))]
pub async fn openid_userinfo(
    State(state): State<AppState>,
    at: At,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let c = match form_access_token(&headers, &body)? {
        Some(token) => presented(&state, &headers, &at, Scheme::Bearer, &token).await?,
        None => bearer(&state, &headers, &at).await?,
    };
    if !c.is_user() {
        return Err(OAuthError::insufficient_scope("this token does not represent a user").into());
    }
    let scopes = Scopes::of(&c);
    if !scopes.has("openid") {
        return Err(OAuthError::insufficient_scope(
            "the userinfo endpoint needs a token with the openid scope",
        )
        .into());
    }
    let user = directory_user(&state, &c).await?;
    Ok(axum::Json(openid_user_info(&c, &scopes, user.as_ref())).into_response())
}

/// `GET /auth/v3/ping`: 200 when the bearer token is good, else 403 (as the original).
/// A live browser session counts too.
#[utoipa::path(get, path = "/auth/v3/ping", tag = "user",
    security(("bearer" = [])),
    responses((status = 200, body = ApiResponse), (status = 403, body = ErrorResponse)))]
pub async fn ping(State(state): State<AppState>, at: At, headers: HeaderMap) -> Response {
    if bearer(&state, &headers, &at).await.is_ok() {
        return envelope::ok_empty();
    }
    match sessions::current(&state, &headers, now()).await {
        Ok(Some(_)) => envelope::ok_empty(),
        _ => ApiError::new(StatusCode::FORBIDDEN, "not authenticated").into_response(),
    }
}

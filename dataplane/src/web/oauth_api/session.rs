//! Bearer-token endpoints of the original: user info and ping (sign-out is
//! in [`crate::web::browser::sign_out`]).

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tollgate_store::model::now;

use crate::web::bearer::bearer;
use crate::web::envelope::{self, ApiError};
use crate::web::oauth_error::OAuthResponse;
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
pub async fn userinfo(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, OAuthResponse> {
    let c = bearer(&state, &headers)?;
    let user = directory_user(&state, &c).await?;
    Ok(axum::Json(cloud_user_details(&c, user)).into_response())
}

/// The original's CloudUserDetails of a token: the user, or the client itself.
pub fn cloud_user_details(
    c: &AccessClaims,
    user: Option<tollgate_core::directory::DirectoryUser>,
) -> serde_json::Value {
    match &c.user_name {
        Some(name) => json!({
            "username": c.sub,
            "authorities": c.authorities,
            "cmeUserName": name,
            "loginName": name,
            "contactCenterId": c.contact_center_id,
            "environmentId": c.environment_id,
            "dbid": c.dbid,
            "properties": user.map(|u| u.properties).unwrap_or_default(),
        }),
        None => json!({"username": c.client_id, "authorities": c.authorities}),
    }
}

/// `GET /auth/v3/openid/userinfo`: the claims the token's scopes allow
/// (OpenID Connect Core §5.3, §5.4): `sub` with `openid`, names with
/// `profile`, the address with `email`; the original's fields only for a
/// token of scope `*`.
pub async fn openid_userinfo(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, OAuthResponse> {
    let c = match form_access_token(&headers, &body)? {
        Some(token) => state
            .verify_access_token(&token)
            .map_err(|e| OAuthError::invalid_token(e.to_string()))?,
        None => bearer(&state, &headers)?,
    };
    if !c.is_user() {
        return Err(OAuthResponse(OAuthError::insufficient_scope(
            "this token does not represent a user",
        )));
    }
    let scopes = Scopes::of(&c);
    if !scopes.has("openid") {
        return Err(OAuthResponse(OAuthError::insufficient_scope(
            "the userinfo endpoint needs a token with the openid scope",
        )));
    }
    let user = directory_user(&state, &c).await?;
    Ok(axum::Json(openid_claims(&c, &scopes, user)).into_response())
}

/// A token's granted scopes; `*` grants every one.
struct Scopes<'a>(Vec<&'a str>);

impl<'a> Scopes<'a> {
    fn of(c: &'a AccessClaims) -> Self {
        Scopes(c.scope.split(' ').filter(|s| !s.is_empty()).collect())
    }
    fn all(&self) -> bool {
        self.0.contains(&tollgate_core::oauth::issue::SCOPE_ALL)
    }
    fn has(&self, scope: &str) -> bool {
        self.all() || self.0.contains(&scope)
    }
}

fn openid_claims(
    c: &AccessClaims,
    scopes: &Scopes<'_>,
    user: Option<tollgate_core::directory::DirectoryUser>,
) -> serde_json::Value {
    let mut body = json!({"sub": c.sub});
    if scopes.has("profile") {
        body["preferred_username"] = json!(c.user_name);
        if let Some(u) = &user {
            body["given_name"] = json!(u.first_name);
            body["family_name"] = json!(u.last_name);
            body["name"] = json!(format!("{} {}", u.first_name, u.last_name).trim());
        }
    }
    if scopes.has("email") {
        if let Some(u) = user.as_ref().filter(|u| !u.email.is_empty()) {
            body["email"] = json!(u.email);
        }
    }
    if scopes.all() {
        body["aud"] = json!(c.client_id);
        body["environment_id"] = json!(c.environment_id);
        body["contact_center_id"] = json!(c.contact_center_id);
        body["dbid"] = json!(c.dbid);
        body["user_name"] = json!(c.user_name);
        body["authorities"] = json!(c.authorities);
        if let Some(u) = user {
            body["properties"] = json!(u.properties);
        }
    }
    body
}

/// `GET /auth/v3/ping`: 200 when the bearer token is good, else 403 (as the original).
/// A live browser session counts too.
pub async fn ping(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if bearer(&state, &headers).is_ok() {
        return envelope::ok_empty();
    }
    match sessions::current(&state, &headers, now()).await {
        Ok(Some(_)) => envelope::ok_empty(),
        _ => ApiError::new(StatusCode::FORBIDDEN, "not authenticated").into_response(),
    }
}

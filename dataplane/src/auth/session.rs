//! Bearer-token endpoints of the original: user info, sign-out and ping.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tollgate_store::model::{now, Revocation};

use super::error::OAuthError;
use super::ClientIp;
use crate::envelope::{self, ApiError};
use crate::sessions;
use crate::state::{AppState, Services};
use crate::tokens::AccessClaims;

/// Reads `Authorization: Bearer` and verifies the token.
pub fn bearer(
    state: &Services,
    headers: &HeaderMap,
) -> Result<std::sync::Arc<AccessClaims>, OAuthError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| OAuthError::invalid_token("a bearer token is required"))?;
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err(OAuthError::invalid_token("a bearer token is required")),
    };
    state
        .verify_access_token(token)
        .map_err(|e| OAuthError::invalid_token(e.to_string()))
}

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
    let form = super::form::OAuthForm::parse(body)?;
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
) -> Result<Option<crate::directory::DirectoryUser>, OAuthError> {
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
        Err(crate::directory::DirectoryError::Unavailable { retry_after }) => Err(
            OAuthError::temporarily_unavailable(retry_after.as_secs().max(1)),
        ),
        Err(_) => Err(OAuthError::invalid_token("the token's user is unavailable")),
    }
}

/// `GET /auth/v3/userinfo`: the original's CloudUserDetails.
pub async fn userinfo(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, OAuthError> {
    let c = bearer(&state, &headers)?;
    let user = directory_user(&state, &c).await?;
    Ok(axum::Json(cloud_user_details(&c, user)).into_response())
}

/// The original's CloudUserDetails of a token: the user, or the client itself.
pub fn cloud_user_details(
    c: &AccessClaims,
    user: Option<crate::directory::DirectoryUser>,
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
) -> Result<Response, OAuthError> {
    let c = match form_access_token(&headers, &body)? {
        Some(token) => state
            .verify_access_token(&token)
            .map_err(|e| OAuthError::invalid_token(e.to_string()))?,
        None => bearer(&state, &headers)?,
    };
    if !c.is_user() {
        return Err(OAuthError::insufficient_scope(
            "this token does not represent a user",
        ));
    }
    let scopes = Scopes::of(&c);
    if !scopes.has("openid") {
        return Err(OAuthError::insufficient_scope(
            "the userinfo endpoint needs a token with the openid scope",
        ));
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
        self.0.contains(&crate::auth::issue::SCOPE_ALL)
    }
    fn has(&self, scope: &str) -> bool {
        self.all() || self.0.contains(&scope)
    }
}

fn openid_claims(
    c: &AccessClaims,
    scopes: &Scopes<'_>,
    user: Option<crate::directory::DirectoryUser>,
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

#[derive(Deserialize, Default)]
pub struct SignOutQuery {
    #[serde(default)]
    global: Option<String>,
    #[serde(default, rename = "redirectUri")]
    redirect_uri: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
}

fn parse_bool(v: Option<&str>) -> Result<bool, ApiError> {
    match v {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ApiError::bad_request("'global' must be true or false")),
    }
}

/// Ends the token (and its refresh family); `global=true` ends every token of the user.
async fn sign_out(
    state: &Services,
    c: &AccessClaims,
    global: bool,
    ip: Option<&str>,
) -> Result<(), ApiError> {
    let now = now();
    let until = now + state.settings.max_token_lifetime;
    if global {
        match (&c.contact_center_id, &c.user_name) {
            (Some(cc), Some(user)) => state.end_user(cc, user, now).await?,
            // A client's own tokens never have refresh tokens or sessions.
            _ => {
                state
                    .revocations
                    .revoke(
                        &state.db,
                        Revocation::Subject {
                            subject: c.sub.clone(),
                            // At or after every `iat` handed out so far, even one bumped
                            // past an earlier cut-off in this same second.
                            issued_before: state.revocations.issue_time(&c.sub, now),
                            expires_at: until,
                        },
                    )
                    .await?
            }
        }
    } else {
        state
            .revocations
            .revoke(
                &state.db,
                Revocation::Jti {
                    jti: c.jti.clone(),
                    expires_at: c.exp,
                },
            )
            .await?;
        if let Some(family) = &c.sid {
            state.revoke_family(family, now).await?;
        }
    }
    state.audit(
        "user.signed_out",
        Some(&c.client_id),
        c.contact_center_id.as_deref(),
        Some(&c.sub),
        ip,
        json!({"global": global}),
    );
    Ok(())
}

/// Ends a browser session's user everywhere (`global=true` without a bearer token).
pub(crate) async fn sign_out_user(
    state: &Services,
    user: &crate::auth::issue::UserPrincipal,
) -> Result<(), ApiError> {
    Ok(state
        .end_user(&user.contact_center_id, &user.user_name, now())
        .await?)
}

fn with_cleared_cookie(state: &Services, mut res: Response, had_cookie: bool) -> Response {
    if had_cookie {
        if let Some(c) = sessions::clear_cookie(state, sessions::SESSION_COOKIE) {
            res.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    res
}

/// What [`sign_out_any`] ended: the bearer token's claims, the browser session.
type SignedOut = (
    Option<std::sync::Arc<AccessClaims>>,
    Option<sessions::Session>,
);

/// Signs out the bearer token and/or the browser session.
async fn sign_out_any(
    state: &Services,
    headers: &HeaderMap,
    global: bool,
    ip: Option<&str>,
) -> Result<SignedOut, Response> {
    let session = sessions::end(state, headers)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let claims = match bearer(state, headers) {
        Ok(c) => Some(c),
        Err(e) if session.is_none() => return Err(e.into_response()),
        Err(_) => None,
    };
    if let Some(c) = &claims {
        sign_out(state, c, global, ip)
            .await
            .map_err(IntoResponse::into_response)?;
    }
    if let Some(s) = &session {
        if global {
            sign_out_user(state, &s.user)
                .await
                .map_err(IntoResponse::into_response)?;
        }
        state.audit(
            "user.signed_out",
            None,
            Some(&s.user.contact_center_id),
            Some(&s.user.subject()),
            ip,
            json!({"global": global, "session": true}),
        );
    }
    Ok((claims, session))
}

pub async fn sign_out_post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(q): Query<SignOutQuery>,
) -> Response {
    let global = match parse_bool(q.global.as_deref()) {
        Ok(g) => g,
        Err(e) => return e.into_response(),
    };
    let had_cookie = sessions::cookie(&state, &headers, sessions::SESSION_COOKIE).is_some();
    match sign_out_any(&state, &headers, global, ip.as_deref()).await {
        Ok(_) => with_cleared_cookie(&state, envelope::ok_empty(), had_cookie),
        Err(res) => res,
    }
}

/// The GET form redirects afterwards, but only to a registered URI of the
/// token's client, else of `client_id`. Signing out everywhere by a browser
/// session alone (no bearer token, which a cross-site link cannot send) is
/// confirmed by the user first (logout CSRF).
pub async fn sign_out_get(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(q): Query<SignOutQuery>,
) -> Response {
    let global = match parse_bool(q.global.as_deref()) {
        Ok(g) => g,
        Err(e) => return e.into_response(),
    };
    let claims = bearer(&state, &headers).ok();
    let client_id = match &claims {
        Some(c) => Some(c.client_id.clone()),
        None => q.client_id.clone(),
    };
    if let Some(uri) = &q.redirect_uri {
        if let Err(m) = super::logout::check_redirect(&state, client_id.as_deref(), uri) {
            return ApiError::bad_request(format!("redirectUri: {m}")).into_response();
        }
    }
    if global && claims.is_none() {
        match sessions::current(&state, &headers, now()).await {
            Ok(Some(_)) => {
                let r = super::logout::SignOutRequest {
                    global,
                    client_id,
                    redirect_uri: q.redirect_uri.clone(),
                    state: None,
                };
                let lang = crate::ui::Lang::from_headers(&headers);
                return super::logout::confirmation_page(&state, lang, &headers, r).await;
            }
            Ok(None) => {}
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    let had_cookie = sessions::cookie(&state, &headers, sessions::SESSION_COOKIE).is_some();
    let (signed_out_token, session) =
        match sign_out_any(&state, &headers, global, ip.as_deref()).await {
            Ok((c, s)) => (c.is_some(), s),
            Err(res) => return res,
        };
    // A SAML session's IdP is told too, when it offers single logout; the
    // browser continues to the redirect URI (or the signed-out page) after.
    if let Some(s) = &session {
        let lang = crate::ui::Lang::from_headers(&headers);
        let continue_to = q.redirect_uri.as_deref().unwrap_or("/ui/auth/signed-out");
        if let Some(res) = crate::sso::saml::sp_logout::start(&state, lang, s, continue_to).await {
            return with_cleared_cookie(&state, res, had_cookie);
        }
    }
    let res = match q.redirect_uri {
        // 302 as the original; the URI was checked against the registrations above.
        Some(uri) => match axum::http::HeaderValue::from_str(&uri) {
            Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
            Err(_) => ApiError::bad_request("redirectUri is not a valid URI").into_response(),
        },
        None if signed_out_token => envelope::ok_empty(),
        None => crate::ui::redirect(StatusCode::SEE_OTHER, "/ui/auth/signed-out"),
    };
    with_cleared_cookie(&state, res, had_cookie)
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

//! `GET|POST /auth/v3/sign-out` (the original's sign-out): ends the bearer
//! token and/or the browser session, `global=true` everything the user
//! holds. The GET form redirects afterwards and tells a SAML IdP.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tollgate_store::model::now;

use crate::web::bearer::{bearer, At};
use crate::web::browser::i18n::Lang;
use crate::web::browser::sso::saml::sp_logout;
use crate::web::browser::{logout, page};
use crate::web::client_ip::ClientIp;
use crate::web::envelope::{self, ApiError, ApiResponse, ErrorResponse};
use tollgate_core::oauth::sign_out::{sign_out_token, sign_out_user};
use tollgate_core::services::{AppState, Services};
use tollgate_core::sessions;
use tollgate_core::tokens::AccessClaims;

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
    at: &At,
    global: bool,
    ip: Option<&str>,
) -> Result<SignedOut, Response> {
    let session = sessions::end(state, headers)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let claims = match bearer(state, headers, at).await {
        Ok(c) => Some(c),
        Err(e) if session.is_none() => return Err(ApiError::from(e).into_response()),
        Err(_) => None,
    };
    if let Some(c) = &claims {
        sign_out_token(state, c, global, ip)
            .await
            .map_err(|e| ApiError::from(e).into_response())?;
    }
    if let Some(s) = &session {
        if global {
            sign_out_user(state, &s.user)
                .await
                .map_err(|e| ApiError::from(e).into_response())?;
        }
        state
            .audit("user.signed_out")
            .contact_center(&s.user.contact_center_id)
            .subject(&s.user.subject())
            .ip(ip)
            .detail(json!({"global": global, "session": true}))
            .record();
    }
    Ok((claims, session))
}

#[utoipa::path(post, path = "/auth/v3/sign-out", tag = "user",
    params(("global" = Option<bool>, Query, description = "End every token and session of the user")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ApiResponse),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 503, body = ErrorResponse)))]
pub async fn sign_out_post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    at: At,
    headers: HeaderMap,
    Query(q): Query<SignOutQuery>,
) -> Response {
    let global = match parse_bool(q.global.as_deref()) {
        Ok(g) => g,
        Err(e) => return e.into_response(),
    };
    let had_cookie = sessions::cookie(&state, &headers, sessions::SESSION_COOKIE).is_some();
    match sign_out_any(&state, &headers, &at, global, ip.as_deref()).await {
        Ok(_) => with_cleared_cookie(&state, envelope::ok_empty(), had_cookie),
        Err(res) => res,
    }
}

/// The GET form redirects afterwards, but only to a registered URI of the
/// token's client, else of `client_id`. Signing out everywhere by a browser
/// session alone (no bearer token, which a cross-site link cannot send) is
/// confirmed by the user first (logout CSRF).
#[utoipa::path(get, path = "/auth/v3/sign-out", tag = "user",
    params(
        ("global" = Option<bool>, Query, description = "End every token and session of the user"),
        ("redirectUri" = Option<String>, Query, description = "A registered redirect URI of the client"),
        ("client_id" = Option<String>, Query)),
    security(("bearer" = [])),
    responses(
        (status = 200, content(
            (ApiResponse = "application/json"),
            (String = "text/html"))),
        (status = 302, description = "Signed out: to redirectUri"),
        (status = 303, description = "Signed out: to redirectUri"),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 503, body = ErrorResponse)))]
pub async fn sign_out_get(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    at: At,
    headers: HeaderMap,
    Query(q): Query<SignOutQuery>,
) -> Response {
    let global = match parse_bool(q.global.as_deref()) {
        Ok(g) => g,
        Err(e) => return e.into_response(),
    };
    let claims = bearer(&state, &headers, &at).await.ok();
    let client_id = match &claims {
        Some(c) => Some(c.client_id.clone()),
        None => q.client_id.clone(),
    };
    if let Some(uri) = &q.redirect_uri {
        if let Err(m) = logout::check_redirect(&state, client_id.as_deref(), uri) {
            return ApiError::bad_request(format!("redirectUri: {m}")).into_response();
        }
    }
    if global && claims.is_none() {
        match sessions::current(&state, &headers, now()).await {
            Ok(Some(_)) => {
                let r = logout::SignOutRequest {
                    global,
                    client_id,
                    redirect_uri: q.redirect_uri.clone(),
                    state: None,
                };
                let lang = Lang::from_headers(&headers);
                return logout::confirmation_page(&state, lang, &headers, r).await;
            }
            Ok(None) => {}
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    let had_cookie = sessions::cookie(&state, &headers, sessions::SESSION_COOKIE).is_some();
    let (signed_out_token, session) =
        match sign_out_any(&state, &headers, &at, global, ip.as_deref()).await {
            Ok((c, s)) => (c.is_some(), s),
            Err(res) => return res,
        };
    // A SAML session's IdP is told too, when it offers single logout; the
    // browser continues to the redirect URI (or the signed-out page) after.
    if let Some(s) = &session {
        let lang = Lang::from_headers(&headers);
        let continue_to = q.redirect_uri.as_deref().unwrap_or("/ui/auth/signed-out");
        if let Some(res) = sp_logout::start(&state, lang, s, continue_to).await {
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
        None => page::redirect(StatusCode::SEE_OTHER, "/ui/auth/signed-out"),
    };
    with_cleared_cookie(&state, res, had_cookie)
}

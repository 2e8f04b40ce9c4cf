//! OpenID Connect RP-initiated logout (`end_session_endpoint`), the
//! confirmation of sign-outs that may be cross-site forgeries, and the
//! original's `auth-scheme` lookup.

use axum::body::Bytes;
// Named so the OpenAPI generator does not take the GET query form for a body.
use axum::body::Bytes as FormBody;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tollgate_store::model::now;

use crate::web::client_ip::ClientIp;
use tollgate_core::oauth::authorize::with_params;
use tollgate_core::oauth::form::OAuthForm;

use crate::web::browser::page::{self, Lang};
use crate::web::csrf;
use crate::web::data::{parse_data, Data};
use crate::web::envelope::{self, ApiResponseOf, ErrorResponse};
use tollgate_core::services::{AppState, Services};
use tollgate_core::sessions::{self, SESSION_COOKIE};

/// What a sign-out request asks for, carried through its confirmation page.
#[derive(Debug, Default, Clone)]
pub struct SignOutRequest {
    /// End every token and session of the user, not only this browser's.
    pub global: bool,
    /// The application named (`client_id`, or the `id_token_hint`'s audience).
    pub client_id: Option<String>,
    /// Where to go afterwards: a URI registered by `client_id`.
    pub redirect_uri: Option<String>,
    /// Handed back to the application with the redirect (end-session).
    pub state: Option<String>,
}

/// A redirect after sign-out goes only to a URI registered by the
/// application the request names (OIDC RP-Initiated Logout §3); without one
/// named, nowhere.
pub fn check_redirect(
    state: &Services,
    client_id: Option<&str>,
    uri: &str,
) -> Result<(), &'static str> {
    match client_id.and_then(|c| state.client(c)) {
        Some(c) if c.redirect_uris.iter().any(|r| r == uri) => Ok(()),
        Some(_) => Err("the redirect URI is not registered for this application."),
        None => {
            Err("a redirect after sign-out needs the application's client_id or an id_token_hint.")
        }
    }
}

/// Where the browser goes after signing out (the redirect already checked).
fn destination(r: &SignOutRequest) -> String {
    match (&r.redirect_uri, &r.state) {
        (Some(uri), Some(st)) => with_params(uri, &[("state", st)], false),
        (Some(uri), None) => uri.clone(),
        (None, _) => "/ui/auth/signed-out".to_string(),
    }
}

/// The `id_token_hint`'s audience (its application) and subject.
fn read_hint(state: &Services, hint: &str) -> Result<(String, Option<String>), &'static str> {
    let claims =
        tollgate_core::tokens::verify_id_token_hint(&state.keys, &state.settings.issuer, hint)
            .map_err(|_| "id_token_hint is not an ID token of this server.")?;
    let aud = match &claims["aud"] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(a) => a.first().and_then(|v| v.as_str()).map(str::to_string),
        _ => None,
    };
    let sub = claims["sub"].as_str().map(str::to_string);
    Ok((aud.ok_or("id_token_hint has no audience.")?, sub))
}

/// The page asking the user to confirm a sign-out a cross-site link could
/// have started; it posts to [`confirm`] with a CSRF token.
pub async fn confirmation_page(
    state: &Services,
    lang: Lang,
    headers: &HeaderMap,
    r: SignOutRequest,
) -> Response {
    let (csrf, cookies) = page::form_token(state, headers);
    // Chromium checks `form-action` on the redirect that answers the post.
    let form_origin = r
        .redirect_uri
        .as_deref()
        .and_then(tollgate_core::origins::origin_of);
    let page = crate::web::browser::pages::SignOut {
        t: page::Tr::new(lang),
        title: "sign_out_title",
        notice: None,
        error: None,
        csrf,
        global: r.global,
        client_id: r.client_id,
        redirect_uri: r.redirect_uri,
        state: r.state,
    };
    page::html(StatusCode::OK, &page, form_origin.as_deref(), cookies)
}

/// Ends the browser's session (every token of its user too when `global`),
/// tells a SAML session's IdP, and sends the browser on.
async fn end_browser_session(
    state: &Services,
    lang: Lang,
    headers: &HeaderMap,
    ip: Option<&str>,
    r: &SignOutRequest,
    detail: serde_json::Value,
) -> Response {
    let ended = match sessions::end(state, headers).await {
        Ok(s) => s,
        Err(_) => return page::unavailable(state, lang),
    };
    if let Some(s) = &ended {
        if r.global
            && tollgate_core::oauth::sign_out::sign_out_user(state, &s.user)
                .await
                .is_err()
        {
            return page::unavailable(state, lang);
        }
        state
            .audit("user.signed_out")
            .client(r.client_id.as_deref())
            .contact_center(&s.user.contact_center_id)
            .subject(&s.user.subject())
            .ip(ip)
            .detail(detail)
            .record();
    }
    let location = destination(r);
    // A SAML session's IdP is told too, when it offers single logout.
    let idp_logout = match &ended {
        Some(s) => {
            crate::web::browser::sso::saml::sp_logout::start(state, lang, s, &location).await
        }
        None => None,
    };
    let mut res = idp_logout.unwrap_or_else(|| page::redirect(StatusCode::SEE_OTHER, &location));
    if let Some(c) = sessions::clear_cookie(state, SESSION_COOKIE) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

/// `GET|POST /auth/v3/end-session`. A session ends at once only when an
/// `id_token_hint` of its own user proves the request comes from the user's
/// application; otherwise (no hint, or another user's) the user confirms,
/// so a cross-site link cannot sign anyone out (logout CSRF).
#[utoipa::path(get, path = "/auth/v3/end-session", tag = "oauth",
    params(
        ("id_token_hint" = Option<String>, Query),
        ("post_logout_redirect_uri" = Option<String>, Query),
        ("state" = Option<String>, Query), ("client_id" = Option<String>, Query)),
    security(()),
    responses(
        (status = 200, description = "The confirmation page", content_type = "text/html", body = String),
        (status = 303, description = "Signed out: to post_logout_redirect_uri or the signed-out page"),
        (status = 400, content_type = "text/html", body = String),
        (status = 503, content_type = "text/html", body = String)))]
pub async fn end_session(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: FormBody,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let raw: &[u8] = if method == Method::POST {
        &body
    } else {
        query.as_deref().unwrap_or("").as_bytes()
    };
    let bad = |m: &str| page::error_page(&state, lang, StatusCode::BAD_REQUEST, m);
    let Ok(q) = OAuthForm::parse(raw) else {
        return bad("A parameter is repeated.");
    };
    let hint = match q.get("id_token_hint").map(|h| read_hint(&state, h)) {
        None => None,
        Some(Ok(h)) => Some(h),
        Some(Err(m)) => return bad(m),
    };
    let client_id = match (q.get("client_id"), &hint) {
        (Some(c), Some((aud, _))) if c != aud.as_str() => {
            return bad("client_id differs from the id_token_hint's audience.")
        }
        (c, h) => h
            .as_ref()
            .map(|(aud, _)| aud.clone())
            .or(c.map(str::to_string)),
    };
    let r = SignOutRequest {
        global: false,
        redirect_uri: q.get("post_logout_redirect_uri").map(str::to_string),
        state: q.get("state").map(str::to_string),
        client_id,
    };
    if let Some(uri) = &r.redirect_uri {
        if let Err(m) = check_redirect(&state, r.client_id.as_deref(), uri) {
            return bad(m);
        }
    }
    let session = match sessions::current(&state, &headers, now()).await {
        Ok(s) => s,
        Err(_) => return page::unavailable(&state, lang),
    };
    let proven = match (&session, &hint) {
        (None, _) => true,
        (Some(s), Some((_, sub))) => sub.as_deref() == Some(s.user.subject().as_str()),
        (Some(_), None) => false,
    };
    if !proven {
        return confirmation_page(&state, lang, &headers, r).await;
    }
    let detail = json!({"end_session": true});
    end_browser_session(&state, lang, &headers, ip.as_deref(), &r, detail).await
}

/// `POST /auth/v3/sign-out/confirm`: the confirmation page's form.
/// The sign-out confirmation form.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the form `confirm` reads
pub struct SignOutConfirmForm {
    csrf_token: String,
    /// `true`: every session and token of the user, not only this browser's.
    #[schema(nullable = false)]
    global: Option<bool>,
    #[schema(nullable = false)]
    client_id: Option<String>,
    #[schema(nullable = false)]
    redirect_uri: Option<String>,
    #[schema(nullable = false)]
    state: Option<String>,
}

#[utoipa::path(post, path = "/auth/v3/sign-out/confirm", tag = "browser",
    request_body(content = SignOutConfirmForm, content_type = "application/x-www-form-urlencoded"),
    security(()),
    responses(
        (status = 303, description = "Signed out: to the redirect URI or the signed-out page"),
        (status = 200, description = "The identity provider's single logout, posted by the page", content_type = "text/html", body = String),
        (status = 400, content_type = "text/html", body = String), (status = 403, description = "CSRF check failed", content_type = "text/html", body = String),
        (status = 503, content_type = "text/html", body = String)))]
pub async fn confirm(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let bad = |m: &str| page::error_page(&state, lang, StatusCode::BAD_REQUEST, m);
    let Ok(q) = OAuthForm::parse(&body) else {
        return bad("A parameter is repeated.");
    };
    if !csrf::verify(&state, &headers, q.get("csrf_token")) {
        return page::csrf_failed(&state, lang, ip.as_deref(), "sign-out");
    }
    let r = SignOutRequest {
        global: q.get("global") == Some("true"),
        client_id: q.get("client_id").map(str::to_string),
        redirect_uri: q.get("redirect_uri").map(str::to_string),
        state: q.get("state").map(str::to_string),
    };
    if let Some(uri) = &r.redirect_uri {
        if let Err(m) = check_redirect(&state, r.client_id.as_deref(), uri) {
            return bad(m);
        }
    }
    let detail = json!({"global": r.global, "session": true, "confirmed": true});
    end_browser_session(&state, lang, &headers, ip.as_deref(), &r, detail).await
}

/// How the user signs in.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SchemeAnswer {
    /// `basic` (the sign-in page), `saml` or `oidc`.
    #[schema(example = "basic")]
    scheme: &'static str,
}

/// Whose scheme: the user name (`tenant\\user` names the tenant too) or the tenant.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchemeData {
    #[serde(default)]
    user_name: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
}

/// `POST /auth/v3/auth-scheme`: `saml` when the user's contact center signs in
/// with SAML, else `basic` (also for unknown tenants, which reveals nothing).
#[utoipa::path(post, path = "/auth/v3/auth-scheme", tag = "browser",
    request_body = Data<SchemeData>,
    security(()),
    responses(
        (status = 200, description = "`{\"scheme\": \"basic\" | \"saml\" | \"oidc\"}`", body = ApiResponseOf<SchemeAnswer>),
        (status = 400, body = ErrorResponse)))]
pub async fn auth_scheme(State(state): State<AppState>, body: Bytes) -> Response {
    let data: SchemeData = match parse_data(&body) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let from_name = data
        .user_name
        .as_deref()
        .and_then(|n| n.split_once('\\').map(|(t, _)| t.to_string()));
    let tenant = data.tenant.filter(|t| !t.is_empty()).or(from_name);
    let cc = match tenant {
        Some(t) => state.catalog.contact_center_by_domain(&t),
        None => state
            .settings
            .default_contact_center
            .as_deref()
            .and_then(|id| state.catalog.contact_center(id)),
    };
    let scheme = match cc.map(|c| c.auth) {
        Some(tollgate_store::model::AuthScheme::Saml) => "saml",
        // New beside the original's two: such clients send the user through
        // the sign-in page, which hands off to the OpenID provider.
        Some(tollgate_store::model::AuthScheme::Oidc) => "oidc",
        _ => "basic",
    };
    envelope::ok(SchemeAnswer { scheme })
}

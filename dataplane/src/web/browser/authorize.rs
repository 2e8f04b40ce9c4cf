//! `GET|POST /auth/v3/oauth/authorize`: the authorization endpoint's browser
//! side. [`tollgate_core::oauth::authorize`] decides; this module reads the
//! request and the session cookie and renders the outcome as a page or a
//! redirect.

// Named so the OpenAPI generator does not take the GET query form for a body.
use axum::body::Bytes as FormBody;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::json;
use tollgate_store::model::{now, Timestamp};

use crate::web::browser::page::{self, Lang};
use crate::web::client_ip::ClientIp;
use tollgate_core::oauth::authorize::{
    decide, oversized, store_pending, validate, AuthRequest, Outcome, Refusal,
};
use tollgate_core::oauth::form::{OAuthForm, MAX_FORM_BYTES};
use tollgate_core::oauth::issue::UserPrincipal;
use tollgate_core::oauth::recheck::{recheck, Freshness, Recheck};
use tollgate_core::services::{AppState, Services};
use tollgate_core::sessions;

/// The authorization endpoint: a valid request from a signed-in user is
/// answered; otherwise the user signs in first (unless `prompt=none`).
#[utoipa::path(get, path = "/auth/v3/oauth/authorize", tag = "oauth",
    params(
        ("client_id" = String, Query), ("redirect_uri" = String, Query),
        ("response_type" = String, Query, example = "code"),
        ("scope" = Option<String>, Query), ("state" = Option<String>, Query),
        ("nonce" = Option<String>, Query), ("code_challenge" = Option<String>, Query),
        ("code_challenge_method" = Option<String>, Query, example = "S256"),
        ("prompt" = Option<String>, Query), ("hideTenant" = Option<bool>, Query)),
    security(()),
    responses(
        (status = 200, description = "The sign-in or consent page", content_type = "text/html", body = String),
        (status = 302, description = "To the client's redirect_uri (or to sign in)"),
        (status = 303, description = "To the client's redirect_uri (or to sign in)"),
        (status = 400, description = "An error page: the request cannot be sent back to the client", content_type = "text/html", body = String),
        (status = 429, content_type = "text/html", body = String),
        (status = 503, content_type = "text/html", body = String)))]
pub async fn authorize(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: FormBody,
) -> Response {
    let lang = Lang::from_headers(&headers);
    if let Err(res) = page::rate_limit(&state, lang, "authorize", ip.as_deref()).await {
        return res;
    }
    // OIDC Core §3.1.2.1: GET with a query, or POST with a form body.
    let raw: &[u8] = if method == Method::POST {
        &body
    } else {
        query.as_deref().unwrap_or("").as_bytes()
    };
    let q = match parameters(raw) {
        Ok(q) => q,
        Err(msg) => return page::error_page(&state, lang, StatusCode::BAD_REQUEST, &msg),
    };
    let (req, _client) = match validate(&state, &q).await {
        Ok(v) => v,
        Err(refusal) => {
            let res = refused(&state, lang, refusal);
            state
                .audit("authorize.refused")
                .client(q.get("client_id"))
                .ip(ip.as_deref())
                .detail(json!({"status": res.status().as_u16()}))
                .record();
            return res;
        }
    };
    let now = now();
    let session = match signed_in_session(&state, &headers, now).await {
        Ok(s) => s,
        Err(retry) => return page::with_retry_after(page::unavailable(&state, lang), retry),
    };
    match session
        .filter(|s| recent_enough(&req, &s.user, now) && factor_enough(&state, &req, &s.user))
    {
        Some(s) => {
            complete(
                &state,
                &req,
                None,
                &s.user,
                StatusCode::FOUND,
                ip.as_deref(),
                lang,
            )
            .await
        }
        None => sign_in_first(&state, lang, &req).await,
    }
}

/// Sends the browser to sign in, keeping the request until then; with
/// `prompt=none`, tells the client the user is not signed in instead.
async fn sign_in_first(state: &Services, lang: Lang, req: &AuthRequest) -> Response {
    if req.prompt.as_deref() == Some("none") {
        let to = req.target().error(
            &state.settings.issuer,
            "login_required",
            "the user is not signed in",
        );
        return page::answer(lang, StatusCode::FOUND, &to);
    }
    match store_pending(state, req).await {
        Ok(id) => page::redirect(StatusCode::FOUND, &format!("/ui/auth/sign-in?request={id}")),
        Err(_) => page::unavailable(state, lang),
    }
}

/// The request's parameters, strictly parsed and within the size limits;
/// otherwise the message of the error page.
fn parameters(raw: &[u8]) -> Result<OAuthForm, String> {
    if raw.len() > MAX_FORM_BYTES {
        return Err(format!(
            "The request is longer than {MAX_FORM_BYTES} bytes."
        ));
    }
    let q = OAuthForm::parse(raw).map_err(|e| e.description.into_owned())?;
    match oversized(&q) {
        Some(msg) => Err(msg),
        None => Ok(q),
    }
}

/// Whether the session's sign-in may answer the request: not when it asks
/// for a new sign-in (`prompt=login`) or the sign-in is older than `max_age`.
fn recent_enough(req: &AuthRequest, user: &UserPrincipal, now: Timestamp) -> bool {
    req.prompt.as_deref() != Some("login")
        // max_age=0 means "sign in again" (OIDC Core errata: same as prompt=login).
        && req.max_age.is_none_or(|max| max > 0 && now - user.auth_time <= max)
}

/// Whether the session's sign-in gave what `acr_values` asks: a session
/// without a second factor signs in again when the request names the
/// second-factor level and the user's contact center can ask for one.
fn factor_enough(state: &Services, req: &AuthRequest, user: &UserPrincipal) -> bool {
    use tollgate_store::model::{AuthScheme, SecondFactorPolicy};
    !req.second_factor_asked
        || user.second_factor
        || state
            .catalog
            .contact_center(&user.contact_center_id)
            .is_none_or(|cc| {
                cc.auth != AuthScheme::Builtin || cc.second_factor == SecondFactorPolicy::Off
            })
}

/// The browser's session with its user as the directory knows them now
/// (see [`recheck`]). A session whose user was deleted or disabled is ended.
/// `Err(retry_after_seconds)` when the store or the directory cannot answer.
pub async fn signed_in_session(
    state: &Services,
    headers: &HeaderMap,
    now: Timestamp,
) -> Result<Option<sessions::Session>, u64> {
    const STORE_RETRY: u64 = 5;
    let Some(mut s) = sessions::current(state, headers, now)
        .await
        .map_err(|_| STORE_RETRY)?
    else {
        return Ok(None);
    };
    match recheck(state, &s.user, Freshness::Live).await {
        Recheck::Current(user) => {
            s.user = *user;
            Ok(Some(s))
        }
        Recheck::Gone(why) => {
            tracing::info!(reason = why, "browser session ended");
            sessions::end(state, headers)
                .await
                .map_err(|_| STORE_RETRY)?;
            Ok(None)
        }
        Recheck::Unavailable(retry) => Err(retry),
    }
}

/// Sends the authorization response for a signed-in user, or the consent page
/// when consent is missing. `pending` is the stored request's id, if any.
pub async fn complete(
    state: &Services,
    req: &AuthRequest,
    pending: Option<&str>,
    user: &UserPrincipal,
    status: StatusCode,
    ip: Option<&str>,
    lang: Lang,
) -> Response {
    finish(state, req, pending, user, status, ip, lang, false).await
}

/// [`decide`] rendered: redirects with `status` (302 from a GET, 303 after a
/// form post), pages otherwise. `consented` skips the consent check.
#[allow(clippy::too_many_arguments)]
pub async fn finish(
    state: &Services,
    req: &AuthRequest,
    pending: Option<&str>,
    user: &UserPrincipal,
    status: StatusCode,
    ip: Option<&str>,
    lang: Lang,
    consented: bool,
) -> Response {
    match decide(state, req, pending, user, ip, consented).await {
        Outcome::Redirect(to) => page::answer(lang, status, &to),
        Outcome::Consent(id) => page::redirect(status, &format!("/ui/auth/consent?request={id}")),
        Outcome::ErrorPage(msg) => page::error_page(state, lang, StatusCode::BAD_REQUEST, msg),
        Outcome::Unavailable => page::unavailable(state, lang),
    }
}

fn refused(state: &Services, lang: Lang, refusal: Refusal) -> Response {
    match refusal {
        Refusal::Page(msg) => page::error_page(state, lang, StatusCode::BAD_REQUEST, &msg),
        Refusal::Redirect(to) => page::answer(lang, StatusCode::FOUND, &to),
        Refusal::Unavailable => page::unavailable(state, lang),
    }
}

//! The consent page for clients that are not internal, and its form.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use tollgate_store::model::now;

use crate::web::browser::authorize;
use crate::web::browser::page::{self as ui, html, Lang, Tr};
use crate::web::browser::pages;
use crate::web::client_ip::ClientIp;
use crate::web::csrf;
use tollgate_core::oauth::authorize::{drop_pending, load_pending, remember_consent, AuthRequest};
use tollgate_core::oauth::form::OAuthForm;
use tollgate_core::services::{AppState, Services};
use tollgate_core::sessions;

#[derive(Deserialize)]
pub struct PageQuery {
    request: Option<String>,
}

/// `GET /ui/auth/consent?request=<id>`.
pub async fn page(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    if let Err(res) = ui::rate_limit(&state, lang, "pages", ip.as_deref()).await {
        return res;
    }
    let (id, pending) = match pending_request(&state, lang, q.request.as_deref()).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let id = id.as_str();
    match sessions::current(&state, &headers, now()).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return ui::redirect(StatusCode::FOUND, &format!("/ui/auth/sign-in?request={id}"))
        }
        Err(_) => return ui::unavailable(&state, lang),
    }
    let (csrf, cookies) = ui::form_token(&state, &headers);
    let client_name = state
        .client(&pending.client_id)
        .map(|c| {
            if c.name.is_empty() {
                c.client_id.clone()
            } else {
                c.name.clone()
            }
        })
        .unwrap_or_else(|| pending.client_id.clone());
    html(
        StatusCode::OK,
        &pages::Consent {
            t: Tr::new(lang),
            title: "consent_title",
            notice: None,
            error: None,
            csrf,
            request: id.to_string(),
            client_name,
            scopes: pending.scope.clone(),
        },
        tollgate_core::origins::origin_of(&pending.redirect_uri).as_deref(),
        cookies,
    )
}

/// `POST /auth/v3/oauth/consent`: `decision=allow|deny`.
/// The consent form.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the form `submit` reads
pub struct ConsentForm {
    /// The pending authorization request.
    request: String,
    /// `allow`; anything else denies.
    #[schema(example = "allow")]
    decision: String,
    csrf_token: String,
}

#[utoipa::path(post, path = "/auth/v3/oauth/consent", tag = "browser",
    request_body(content = ConsentForm, content_type = "application/x-www-form-urlencoded"),
    security(()),
    responses(
        (status = 302, description = "To the client's redirect URI with a code, or with access_denied"),
        (status = 303, description = "To sign-in when the session is gone"),
        (status = 400, content_type = "text/html", body = String), (status = 403, description = "CSRF check failed", content_type = "text/html", body = String),
        (status = 429, content_type = "text/html", body = String), (status = 503, content_type = "text/html", body = String)))]
pub async fn submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let ip = ip.as_deref();
    let Ok(form) = OAuthForm::parse(&body) else {
        return ui::csrf_failed(&state, lang, ip, "consent");
    };
    if !csrf::verify(&state, &headers, form.get("csrf_token")) {
        return ui::csrf_failed(&state, lang, ip, "consent");
    }
    let (id, pending) = match pending_request(&state, lang, form.get("request")).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let id = id.as_str();
    let session = match authorize::signed_in_session(&state, &headers, now()).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return ui::redirect(
                StatusCode::SEE_OTHER,
                &format!("/ui/auth/sign-in?request={id}"),
            )
        }
        Err(retry) => return ui::with_retry_after(ui::unavailable(&state, lang), retry),
    };
    if form.get("decision") != Some("allow") {
        drop_pending(&state, id).await;
        let to = pending.target().error(
            &state.settings.issuer,
            "access_denied",
            "the user denied access",
        );
        return ui::answer(lang, StatusCode::SEE_OTHER, &to);
    }
    if remember_consent(&state, &session.user, &pending.client_id, &pending.scope)
        .await
        .is_err()
    {
        return ui::unavailable(&state, lang);
    }
    authorize::finish(
        &state,
        &pending,
        Some(id),
        &session.user,
        StatusCode::SEE_OTHER,
        ip,
        lang,
        true,
    )
    .await
}

/// The stored authorization request `id` names, or the page to answer with
/// (expired or unknown: the request's 15 minutes ran out).
async fn pending_request(
    state: &Services,
    lang: Lang,
    id: Option<&str>,
) -> Result<(String, AuthRequest), Response> {
    let expired = || {
        let msg = Tr::new(lang).get("request_expired");
        ui::error_page(state, lang, StatusCode::BAD_REQUEST, msg)
    };
    let Some(id) = id else {
        return Err(expired());
    };
    match load_pending(state, id).await {
        Ok(Some(p)) => Ok((id.to_string(), p)),
        Ok(None) => Err(expired()),
        Err(_) => Err(ui::unavailable(state, lang)),
    }
}

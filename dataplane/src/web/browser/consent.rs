//! The consent page for clients that are not internal, and its form.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use tollgate_store::model::now;

use crate::web::browser::authorize;
use crate::web::browser::page::{html, Lang, Tr};
use crate::web::browser::pages;
use crate::web::client_ip::ClientIp;
use crate::web::csrf;
use tollgate_core::oauth::authorize::{drop_pending, load_pending, remember_consent, with_params};
use tollgate_core::oauth::form::OAuthForm;
use tollgate_core::services::AppState;
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
    if let Err(res) =
        crate::web::browser::page::rate_limit(&state, lang, "pages", ip.as_deref()).await
    {
        return res;
    }
    let t = Tr::new(lang);
    let Some(id) = q.request.as_deref() else {
        return crate::web::browser::page::error_page(
            &state,
            lang,
            StatusCode::BAD_REQUEST,
            t.get("request_expired"),
        );
    };
    let pending = match load_pending(&state, id).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return crate::web::browser::page::error_page(
                &state,
                lang,
                StatusCode::BAD_REQUEST,
                t.get("request_expired"),
            )
        }
        Err(_) => return crate::web::browser::page::unavailable(&state, lang),
    };
    match sessions::current(&state, &headers, now()).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return crate::web::browser::page::redirect(
                StatusCode::FOUND,
                &format!("/ui/auth/sign-in?request={id}"),
            )
        }
        Err(_) => return crate::web::browser::page::unavailable(&state, lang),
    }
    let (csrf, cookies) = crate::web::browser::page::form_token(&state, &headers);
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
            t,
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
pub async fn submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let t = Tr::new(lang);
    let ip = ip.as_deref();
    let Ok(form) = OAuthForm::parse(&body) else {
        return crate::web::browser::page::csrf_failed(&state, lang, ip, "consent");
    };
    if !csrf::verify(&state, &headers, form.get("csrf_token")) {
        return crate::web::browser::page::csrf_failed(&state, lang, ip, "consent");
    }
    let Some(id) = form.get("request") else {
        return crate::web::browser::page::error_page(
            &state,
            lang,
            StatusCode::BAD_REQUEST,
            t.get("request_expired"),
        );
    };
    let pending = match load_pending(&state, id).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return crate::web::browser::page::error_page(
                &state,
                lang,
                StatusCode::BAD_REQUEST,
                t.get("request_expired"),
            )
        }
        Err(_) => return crate::web::browser::page::unavailable(&state, lang),
    };
    let session = match authorize::signed_in_session(&state, &headers, now()).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return crate::web::browser::page::redirect(
                StatusCode::SEE_OTHER,
                &format!("/ui/auth/sign-in?request={id}"),
            )
        }
        Err(retry) => {
            return crate::web::browser::page::with_retry_after(
                crate::web::browser::page::unavailable(&state, lang),
                retry,
            )
        }
    };
    if form.get("decision") != Some("allow") {
        drop_pending(&state, id).await;
        let mut params = vec![
            ("error", "access_denied"),
            ("error_description", "the user denied access"),
        ];
        if let Some(s) = &pending.state {
            params.push(("state", s));
        }
        params.push(("iss", &state.settings.issuer));
        let fragment = pending.response_type != tollgate_core::oauth::authorize::ResponseType::Code;
        return crate::web::browser::page::redirect(
            StatusCode::SEE_OTHER,
            &with_params(&pending.redirect_uri, &params, fragment),
        );
    }
    if remember_consent(&state, &session.user, &pending.client_id, &pending.scope)
        .await
        .is_err()
    {
        return crate::web::browser::page::unavailable(&state, lang);
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

//! The Authentication UI: server-rendered pages (one stylesheet; no script
//! but the one that submits the SAML HTTP-POST hand-off and `form_post`
//! answers)
//! for sign-in, password change, consent and sign-out, and the security
//! headers every page and authorization answer carries.

use askama::Template;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub use super::i18n::{Lang, Tr};

use crate::web::browser::pages;
use crate::web::csrf;
use tollgate_core::oauth::authorize::{ClientAnswer, ResponseMode};
use tollgate_core::services::Services;

/// The Content-Security-Policy, allowing form posts to `form_origin` too
/// (Chromium checks `form-action` on the redirect after a post).
pub fn csp(form_origin: Option<&str>) -> String {
    let extra = form_origin.map(|o| format!(" {o}")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; \
         frame-ancestors 'none'; form-action 'self'{extra}; base-uri 'none'"
    )
}

/// The CSP of a page whose scripts come from this server: the one that
/// submits its form to `form_origin` (the SAML HTTP-POST binding), the one
/// that runs a passkey ceremony.
pub fn auto_post_csp(form_origin: Option<&str>) -> String {
    csp(form_origin).replace("script-src 'none'", "script-src 'self'")
}

/// Adds the security headers (the CSP only when none is set yet).
pub fn secure(mut res: Response) -> Response {
    let h = res.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        if let Ok(v) = HeaderValue::from_str(&csp(None)) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// Middleware form of [`secure`], for whole routers.
pub async fn security_headers(res: Response) -> Response {
    secure(res)
}

/// A rendered page with its status, cookies and `form-action` origin.
pub fn html(
    status: StatusCode,
    page: &impl Template,
    form_origin: Option<&str>,
    cookies: Vec<HeaderValue>,
) -> Response {
    let body = match page.render() {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot render a page");
            return secure((StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response());
        }
    };
    let mut res = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    for c in cookies {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    if let Ok(v) = HeaderValue::from_str(&csp(form_origin)) {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    secure(res)
}

/// A page whose script posts `fields` to `action`, allowed by its CSP;
/// `texts` are the message and button keys.
pub fn auto_post(
    lang: Lang,
    title: &'static str,
    texts: (&'static str, &'static str),
    action: String,
    fields: Vec<(String, String)>,
) -> Response {
    let origin = tollgate_core::origins::origin_of(&action);
    let mut res = html(
        StatusCode::OK,
        &pages::AutoPost {
            t: Tr::new(lang),
            title,
            notice: None,
            error: None,
            message: texts.0,
            button: texts.1,
            action,
            fields,
        },
        origin.as_deref(),
        vec![],
    );
    if let Ok(v) = HeaderValue::from_str(&auto_post_csp(origin.as_deref())) {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    res
}

/// An authorization answer for the client: a redirect (`status`: 302 for
/// GETs, 303 after a form post), or for `form_post` a page that posts it.
pub fn answer(lang: Lang, status: StatusCode, answer: &ClientAnswer) -> Response {
    match answer.mode {
        ResponseMode::FormPost => auto_post(
            lang,
            "form_post_title",
            ("form_post_message", "form_post_continue"),
            answer.uri.clone(),
            answer.params.clone(),
        ),
        ResponseMode::Query | ResponseMode::Fragment => redirect(status, &answer.location()),
    }
}

/// A redirect (302 for GETs, 303 after a form post) with the security headers.
pub fn redirect(status: StatusCode, location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => secure((status, [(header::LOCATION, v)]).into_response()),
        Err(_) => secure((StatusCode::BAD_REQUEST, "invalid redirect").into_response()),
    }
}

/// A page with one message.
pub fn message_page(
    lang: Lang,
    status: StatusCode,
    title: &'static str,
    error: Option<String>,
    message: Option<(&'static str, String)>,
) -> Response {
    let (message_id, message) = match message {
        Some((id, m)) => (id, Some(m)),
        None => ("message", None),
    };
    html(
        status,
        &pages::Message {
            t: Tr::new(lang),
            title,
            notice: None,
            error,
            message_id,
            message,
        },
        None,
        vec![],
    )
}

/// The error page of a request that cannot be sent back to its client.
pub fn error_page(_state: &Services, lang: Lang, status: StatusCode, reason: &str) -> Response {
    message_page(lang, status, "error_title", Some(reason.to_string()), None)
}

/// 503 page: a backing store failed.
pub fn unavailable(_state: &Services, lang: Lang) -> Response {
    let t = Tr::new(lang);
    let mut res = message_page(
        lang,
        StatusCode::SERVICE_UNAVAILABLE,
        "error_title",
        Some(t.get("unavailable").to_string()),
        None,
    );
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    res
}

/// 403 page: the CSRF token is missing or wrong.
pub fn csrf_failed(state: &Services, lang: Lang, ip: Option<&str>, form: &str) -> Response {
    state
        .audit("ui.csrf_failed")
        .ip(ip)
        .detail(serde_json::json!({"form": form}))
        .record();
    let t = Tr::new(lang);
    message_page(
        lang,
        StatusCode::FORBIDDEN,
        "error_title",
        Some(t.get("csrf_failed").to_string()),
        None,
    )
}

/// A CSRF token for a form, with the cookie to set if the browser has none.
pub fn form_token(state: &Services, headers: &HeaderMap) -> (String, Vec<HeaderValue>) {
    let (token, cookie) = csrf::token(state, headers);
    (token, cookie.into_iter().collect())
}

/// The per-client-IP rate limit of a browser endpoint (`scope`): `Err` is
/// the 429 page to answer with.
pub async fn rate_limit(
    state: &Services,
    lang: Lang,
    scope: &str,
    ip: Option<&str>,
) -> Result<(), Response> {
    let Err(retry) = tollgate_core::protection::rate_limit::check_audited(state, scope, ip).await
    else {
        return Ok(());
    };
    let t = Tr::new(lang);
    let res = error_page(
        state,
        lang,
        StatusCode::TOO_MANY_REQUESTS,
        t.get("rate_limited"),
    );
    Err(with_retry_after(res, retry))
}

/// Sets `Retry-After`.
pub fn with_retry_after(mut res: Response, secs: u64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

//! The sign-in page and its form handler (`POST /auth/v3/sign-in`, the
//! original's form API): CSRF, rate limit and lockout, then the directory; a
//! success starts the browser session and continues the authorization request.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tollgate_store::model::now;

use crate::core::directory::names;
use crate::core::directory::DirectoryError;
use crate::core::oauth::authorize::{load_pending, AuthRequest};
use crate::core::oauth::form::OAuthForm;
use crate::core::oauth::grants::password::split_login;
use crate::core::oauth::issue::UserPrincipal;
use crate::core::protection::lockout::{self, Admission};
use crate::core::protection::rate_limit;
use crate::core::secrets::{decoy_hash, verify_hash};
use crate::core::services::{AppState, Services};
use crate::core::sessions::{self, SESSION_COOKIE};
use crate::core::tokens;
use crate::web::browser::authorize;
use crate::web::browser::page::{html, Lang, Tr};
use crate::web::browser::pages;
use crate::web::client_ip::ClientIp;
use crate::web::csrf;

#[derive(Deserialize)]
pub struct PageQuery {
    request: Option<String>,
}

/// A password change that must happen before sign-in completes.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingChange {
    pub contact_center_id: String,
    pub username: String,
    pub request: Option<String>,
}

pub fn change_key(id: &str) -> String {
    format!("pwchange:{}", tokens::token_digest(id))
}

struct Form<'a> {
    request: Option<&'a str>,
    pending: Option<&'a AuthRequest>,
    username: &'a str,
    tenant: &'a str,
}

async fn render(
    state: &Services,
    headers: &HeaderMap,
    lang: Lang,
    status: StatusCode,
    f: Form<'_>,
    error: Option<&str>,
) -> Response {
    let (csrf, cookies) = crate::web::browser::page::form_token(state, headers);
    let t = Tr::new(lang);
    let hint = f.pending.and_then(|p| p.login_hint.as_deref());
    let username = if f.username.is_empty() {
        hint.unwrap_or("")
    } else {
        f.username
    };
    let show_tenant = !f.pending.is_some_and(|p| p.hide_tenant) && !username.contains('\\');
    let origin = f
        .pending
        .and_then(|p| crate::core::origins::origin_of(&p.redirect_uri));
    html(
        status,
        &pages::SignIn {
            t,
            title: "sign_in_title",
            notice: None,
            error: error.map(|e| t.get(e).to_string()),
            csrf,
            request: f.request.map(str::to_string),
            username: username.to_string(),
            show_tenant,
            tenant: f.tenant.to_string(),
        },
        origin.as_deref(),
        cookies,
    )
}

/// The authorization request a sign-in continues, if any; an expired or
/// unknown one answers with the sign-in page and its explanation.
async fn pending_request(
    state: &Services,
    headers: &HeaderMap,
    lang: Lang,
    request: Option<&str>,
) -> Result<Option<AuthRequest>, Response> {
    let Some(id) = request else { return Ok(None) };
    match load_pending(state, id).await {
        Ok(Some(p)) => Ok(Some(p)),
        Ok(None) => {
            let f = Form {
                request: None,
                pending: None,
                username: "",
                tenant: "",
            };
            Err(render(
                state,
                headers,
                lang,
                StatusCode::BAD_REQUEST,
                f,
                Some("request_expired"),
            )
            .await)
        }
        Err(_) => Err(crate::web::browser::page::unavailable(state, lang)),
    }
}

/// `GET /ui/auth/sign-in[?request=<id>]`.
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
    let request = q.request.as_deref().filter(|r| !r.is_empty());
    let pending = match pending_request(&state, &headers, lang, request).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let f = Form {
        request,
        pending: pending.as_ref(),
        username: "",
        tenant: "",
    };
    render(&state, &headers, lang, StatusCode::OK, f, None).await
}

/// `POST /auth/v3/sign-in`.
pub async fn submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let ip = ip.as_deref();
    let Ok(form) = OAuthForm::parse(&body) else {
        return crate::web::browser::page::csrf_failed(&state, lang, ip, "sign-in");
    };
    if !csrf::verify(&state, &headers, form.get("csrf_token")) {
        return crate::web::browser::page::csrf_failed(&state, lang, ip, "sign-in");
    }
    let request = form.get("request");
    let pending = match pending_request(&state, &headers, lang, request).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let login = form.get("username").unwrap_or("").trim();
    let f = Form {
        request,
        pending: pending.as_ref(),
        username: login,
        tenant: form.get("tenant").unwrap_or(""),
    };
    if let Err(retry) = rate_limit::check_audited(&state, "sign-in", ip).await {
        let res = render(
            &state,
            &headers,
            lang,
            StatusCode::TOO_MANY_REQUESTS,
            f,
            Some("rate_limited"),
        )
        .await;
        return crate::web::browser::page::with_retry_after(res, retry);
    }
    let password = form.get("password").unwrap_or("");
    let (typed_tenant, typed) = match split_login(login) {
        (Some(t), u) => (Some(t), u),
        (None, u) => (
            form.get("tenant").map(str::trim).filter(|t| !t.is_empty()),
            u,
        ),
    };
    let username = &names::normalize(typed);
    let cc = match typed_tenant {
        Some(t) => state.catalog.contact_center_by_domain(t),
        None => state
            .settings
            .default_contact_center
            .as_deref()
            .and_then(|id| state.catalog.contact_center(id)),
    }
    .filter(|cc| cc.enabled);
    // Users of a single-sign-on contact center sign in at its identity
    // provider; the password field is not theirs to fill.
    if let Some(cc) = cc
        .as_ref()
        .filter(|cc| crate::core::federation::users::signs_in_elsewhere(cc))
    {
        return crate::web::browser::sso::start(&state, lang, cc, username, request).await;
    }
    if username.is_empty() || password.is_empty() {
        return render(
            &state,
            &headers,
            lang,
            StatusCode::BAD_REQUEST,
            f,
            Some("missing_fields"),
        )
        .await;
    }
    let lock_tenant = cc
        .as_ref()
        .map(|cc| cc.id.clone())
        .unwrap_or_else(|| typed_tenant.unwrap_or("").to_lowercase());
    let attempt = match lockout::admit(&state, &lock_tenant, username, ip).await {
        Ok(Admission::Admitted(a)) => a,
        Ok(Admission::Locked(retry)) => {
            state.audit_positional(
                "user.locked_out",
                None,
                cc.as_ref().map(|c| c.id.as_str()),
                Some(username),
                ip,
                json!({"form": "sign-in"}),
            );
            let res = render(
                &state,
                &headers,
                lang,
                StatusCode::TOO_MANY_REQUESTS,
                f,
                Some("locked_out"),
            )
            .await;
            return crate::web::browser::page::with_retry_after(res, retry);
        }
        Err(_) => return crate::web::browser::page::unavailable(&state, lang),
    };
    let directory = match cc.as_ref() {
        Some(cc) => state
            .directories
            .for_contact_center(cc)
            .await
            .map(|d| (cc.clone(), d)),
        None => None,
    };
    let result = match &directory {
        Some((cc, d)) => d.authenticate(cc, username, password).await,
        None => {
            // Same work as a real check, so timing does not reveal tenants either.
            let p = password.to_string();
            let _ = tokio::task::spawn_blocking(move || verify_hash(decoy_hash(), &p)).await;
            Err(DirectoryError::BadCredentials)
        }
    };
    let fail = |reason: &str| {
        state.audit_positional(
            "user.auth_failed",
            pending.as_ref().map(|p| p.client_id.as_str()),
            cc.as_ref().map(|c| c.id.as_str()),
            Some(username),
            ip,
            json!({"reason": reason, "form": "sign-in"}),
        )
    };
    let (cc, user) = match (directory, result) {
        (Some((cc, _)), Ok(user)) => (cc, user),
        (_, Err(DirectoryError::PasswordExpired)) => {
            fail("password expired");
            let Some(cc) = cc else {
                return crate::web::browser::page::unavailable(&state, lang);
            };
            let _ = lockout::succeeded(&state, &attempt).await;
            return start_change(&state, lang, &cc.id, username, request).await;
        }
        (_, Err(DirectoryError::Locked)) => {
            fail("disabled");
            return render(
                &state,
                &headers,
                lang,
                StatusCode::FORBIDDEN,
                f,
                Some("disabled"),
            )
            .await;
        }
        (_, Err(DirectoryError::Unavailable { retry_after })) => {
            fail("directory unavailable");
            let res = render(
                &state,
                &headers,
                lang,
                StatusCode::SERVICE_UNAVAILABLE,
                f,
                Some("unavailable"),
            )
            .await;
            return crate::web::browser::page::with_retry_after(res, retry_after.as_secs().max(1));
        }
        (_, Err(_)) | (None, Ok(_)) => {
            fail("bad credentials");
            lockout::failed(&attempt).await;
            return render(
                &state,
                &headers,
                lang,
                StatusCode::UNAUTHORIZED,
                f,
                Some("bad_credentials"),
            )
            .await;
        }
    };
    let _ = lockout::succeeded(&state, &attempt).await;
    let principal = UserPrincipal::new(&cc, &user, now());
    signed_in(&state, lang, ip, principal, request, pending.as_ref(), None).await
}

/// Starts the session and continues: the authorization request, or the signed-in page.
pub async fn signed_in(
    state: &Services,
    lang: Lang,
    ip: Option<&str>,
    user: UserPrincipal,
    request: Option<&str>,
    pending: Option<&AuthRequest>,
    saml: Option<sessions::SamlSession>,
) -> Response {
    let (id, user) = match sessions::create(state, user, now(), saml).await {
        Ok(created) => created,
        Err(_) => return crate::web::browser::page::unavailable(state, lang),
    };
    state.audit_positional(
        "user.signed_in",
        pending.map(|p| p.client_id.as_str()),
        Some(&user.contact_center_id),
        Some(&user.subject()),
        ip,
        json!({"form": "sign-in"}),
    );
    let mut res = match (request, pending) {
        (Some(rid), Some(p)) => {
            authorize::complete(state, p, Some(rid), &user, StatusCode::SEE_OTHER, ip, lang).await
        }
        _ => crate::web::browser::page::redirect(StatusCode::SEE_OTHER, "/ui/auth/signed-in"),
    };
    if let Some(c) = sessions::set_cookie(state, SESSION_COOKIE, &id) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

async fn start_change(
    state: &Services,
    lang: Lang,
    cc_id: &str,
    username: &str,
    request: Option<&str>,
) -> Response {
    let id = tokens::random_token();
    let pending = PendingChange {
        contact_center_id: cc_id.to_string(),
        username: username.to_string(),
        request: request.map(str::to_string),
    };
    let Ok(bytes) = serde_json::to_vec(&pending) else {
        return crate::web::browser::page::unavailable(state, lang);
    };
    if state
        .ephemeral
        .put(&change_key(&id), &bytes, Duration::from_secs(600))
        .await
        .is_err()
    {
        return crate::web::browser::page::unavailable(state, lang);
    }
    let mut res = crate::web::browser::page::redirect(
        StatusCode::SEE_OTHER,
        &format!("/ui/auth/change-password?change={id}"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

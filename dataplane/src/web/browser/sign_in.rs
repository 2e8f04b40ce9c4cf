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

use crate::web::browser::authorize;
use crate::web::browser::page::{html, Lang, Tr};
use crate::web::browser::pages;
use crate::web::client_ip::ClientIp;
use crate::web::csrf;
use tollgate_core::oauth::authorize::{load_pending, AuthRequest};
use tollgate_core::oauth::form::OAuthForm;
use tollgate_core::oauth::issue::UserPrincipal;
use tollgate_core::protection::rate_limit;
use tollgate_core::second_factor::Step;
use tollgate_core::services::{AppState, Services};
use tollgate_core::sessions::{self, SESSION_COOKIE};
use tollgate_core::sign_in::{sign_in, Credentials, Refusal, SignIn, Via};
use tollgate_core::tokens;

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

/// How long a right password waits for its second factor.
const FACTOR_STEP_TTL: Duration = Duration::from_secs(300);

/// A sign-in whose password was right, waiting for its second factor (the
/// page of `second_factor.rs`).
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingFactor {
    pub principal: UserPrincipal,
    pub user_id: String,
    /// The user has no factor yet: the page enrols one.
    pub enrol: bool,
    /// The code was right (an enrolment shows its recovery codes first).
    pub verified: bool,
    pub request: Option<String>,
}

pub fn factor_key(id: &str) -> String {
    format!("factor:{}", tokens::token_digest(id))
}

pub async fn save_factor(state: &Services, id: &str, p: &PendingFactor) -> bool {
    match serde_json::to_vec(p) {
        Ok(bytes) => state
            .ephemeral
            .put(&factor_key(id), &bytes, FACTOR_STEP_TTL)
            .await
            .is_ok(),
        Err(_) => false,
    }
}

pub async fn load_factor(state: &Services, id: &str) -> Option<PendingFactor> {
    let bytes = state.ephemeral.get(&factor_key(id)).await.ok()??;
    serde_json::from_slice(&bytes).ok()
}

#[derive(Clone, Copy)]
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
        .and_then(|p| tollgate_core::origins::origin_of(&p.redirect_uri));
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
/// The sign-in form, as the page posts it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the form `submit` reads
pub struct SignInForm {
    /// `user`, or `tenant\\user` when the tenant is not given apart.
    username: String,
    #[schema(format = Password)]
    password: String,
    /// The contact center's domain.
    #[schema(nullable = false)]
    tenant: Option<String>,
    /// The pending authorization request this sign-in completes.
    #[schema(nullable = false)]
    request: Option<String>,
    /// The page's CSRF token (double-submitted with its cookie).
    csrf_token: String,
}

#[utoipa::path(post, path = "/auth/v3/sign-in", tag = "browser",
    request_body(content = SignInForm, content_type = "application/x-www-form-urlencoded"),
    security(()),
    responses(
        (status = 303, description = "Signed in: on to the authorization request, the second factor, the password change or the signed-in page"),
        (status = 400, content_type = "text/html", body = String), (status = 401, description = "The page again, with the refusal", content_type = "text/html", body = String),
        (status = 403, description = "CSRF check failed", content_type = "text/html", body = String),
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
    let page = Page {
        state: &state,
        headers: &headers,
        lang,
        form: Form {
            request,
            pending: pending.as_ref(),
            username: login,
            tenant: form.get("tenant").unwrap_or(""),
        },
    };
    if let Err(retry) = rate_limit::check_audited(&state, "sign-in", ip).await {
        return page
            .again(StatusCode::TOO_MANY_REQUESTS, "rate_limited", Some(retry))
            .await;
    }
    let tenant = form.get("tenant").map(str::trim).filter(|t| !t.is_empty());
    let creds = Credentials::parse(login, tenant, form.get("password").unwrap_or(""));
    let via = Via::Page {
        client_id: pending.as_ref().map(|p| p.client_id.as_str()),
        second_factor_asked: pending.as_ref().is_some_and(|p| p.second_factor_asked),
    };
    match sign_in(&state, via, &creds, ip).await {
        Ok(outcome) => answer(page, ip, &creds.username, outcome).await,
        Err(_) => crate::web::browser::page::unavailable(&state, lang),
    }
}

/// The sign-in form as posted, to answer with.
struct Page<'a> {
    state: &'a Services,
    headers: &'a HeaderMap,
    lang: Lang,
    form: Form<'a>,
}

impl Page<'_> {
    /// The sign-in page again, with why.
    async fn again(&self, status: StatusCode, error: &str, retry: Option<u64>) -> Response {
        let res = render(
            self.state,
            self.headers,
            self.lang,
            status,
            self.form,
            Some(error),
        )
        .await;
        match retry {
            Some(secs) => crate::web::browser::page::with_retry_after(res, secs),
            None => res,
        }
    }
}

async fn answer(p: Page<'_>, ip: Option<&str>, username: &str, outcome: SignIn) -> Response {
    let (state, lang, request) = (p.state, p.lang, p.form.request);
    let refusal = match outcome {
        SignIn::SignedIn {
            contact_center,
            user,
            factor,
        } => {
            let principal = UserPrincipal::new(&contact_center, &user, now());
            let pending = p.form.pending;
            return password_right(state, lang, ip, principal, factor, request, pending).await;
        }
        SignIn::Elsewhere(cc) => {
            return crate::web::browser::sso::start(state, lang, &cc, username, request).await
        }
        SignIn::Refused(r) => r,
    };
    let (status, error, retry) = match refusal {
        Refusal::PasswordExpired(cc) => {
            return start_change(state, lang, &cc.id, username, request).await
        }
        Refusal::MissingFields => (StatusCode::BAD_REQUEST, "missing_fields", None),
        Refusal::LockedOut { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            "locked_out",
            Some(retry_after),
        ),
        Refusal::Disabled => (StatusCode::FORBIDDEN, "disabled", None),
        Refusal::DirectoryUnavailable { retry_after } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            Some(retry_after),
        ),
        // An unknown tenant and a directory that cannot check passwords look
        // like a wrong password.
        Refusal::BadCredentials | Refusal::NoTenant(_) | Refusal::Unsupported => {
            (StatusCode::UNAUTHORIZED, "bad_credentials", None)
        }
    };
    p.again(status, error, retry).await
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
    state
        .audit("user.signed_in")
        .client(pending.map(|p| p.client_id.as_str()))
        .contact_center(&user.contact_center_id)
        .subject(&user.subject())
        .ip(ip)
        .detail(json!({"form": "sign-in"}))
        .record();
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

/// A right password (typed, or just changed): the session starts, or first
/// the second factor it still owes.
pub async fn password_right(
    state: &Services,
    lang: Lang,
    ip: Option<&str>,
    principal: UserPrincipal,
    factor: Step,
    request: Option<&str>,
    pending: Option<&AuthRequest>,
) -> Response {
    let (user_id, enrol) = match factor {
        Step::None => return signed_in(state, lang, ip, principal, request, pending, None).await,
        Step::Verify { user_id } => (user_id, false),
        Step::Enrol { user_id } => (user_id, true),
    };
    let pending = PendingFactor {
        principal,
        user_id,
        enrol,
        verified: false,
        request: request.map(str::to_string),
    };
    start_factor(state, lang, pending).await
}

/// After a right password: keeps the second-factor step and sends the
/// browser to its page.
async fn start_factor(state: &Services, lang: Lang, pending: PendingFactor) -> Response {
    let id = tokens::random_token();
    if !save_factor(state, &id, &pending).await {
        return crate::web::browser::page::unavailable(state, lang);
    }
    let mut res = crate::web::browser::page::redirect(
        StatusCode::SEE_OTHER,
        &format!("/ui/auth/second-factor?factor={id}"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

//! Password change: the page, its form, and the original's JSON API
//! (`POST /auth/v3/change-password` with a bearer token or the browser session).
//! A forced change (expired password) continues the sign-in afterwards.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tollgate_store::model::now;

use crate::web::bearer::{bearer, At};
use crate::web::browser::page::{html, Lang, Tr};
use crate::web::browser::pages;
use crate::web::browser::sign_in::{change_key, password_right, PendingChange};
use crate::web::client_ip::ClientIp;
use crate::web::csrf;
use crate::web::data::{parse_data, Data};
use crate::web::envelope::{self, ApiError, ApiResponse, ErrorResponse};
use tollgate_core::directory::names;
use tollgate_core::directory::password_policy::PolicyViolation;
use tollgate_core::directory::DirectoryError;
use tollgate_core::oauth::issue::UserPrincipal;
use tollgate_core::protection::lockout::{self, Admission};
use tollgate_core::protection::rate_limit;
use tollgate_core::services::{AppState, Services};
use tollgate_core::sessions;

#[derive(Deserialize)]
pub struct PageQuery {
    change: Option<String>,
}

#[allow(clippy::too_many_arguments)]
async fn render(
    state: &Services,
    headers: &HeaderMap,
    lang: Lang,
    status: StatusCode,
    change: Option<&str>,
    notice: Option<&str>,
    error: Option<&str>,
    show_form: bool,
) -> Response {
    let (csrf, cookies) = crate::web::browser::page::form_token(state, headers);
    let t = Tr::new(lang);
    html(
        status,
        &pages::ChangePassword {
            t,
            title: "change_password_title",
            notice: notice.map(|n| t.get(n).to_string()),
            // The numbers of the password rules are the built-in directory's,
            // the only one whose rules Tollgate enforces itself.
            error: error.map(|e| {
                let policy = state.directories.builtin.policy();
                t.get(e)
                    .replace("{min}", &policy.min_length.to_string())
                    .replace("{history}", &policy.history.to_string())
            }),
            csrf,
            change: change.map(str::to_string),
            show_form,
        },
        None,
        cookies,
    )
}

async fn load_change(state: &Services, id: &str) -> Option<PendingChange> {
    state
        .ephemeral
        .get(&change_key(id))
        .await
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// `GET /ui/auth/change-password[?change=<id>]`.
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
    if let Some(id) = q.change.as_deref() {
        return match load_change(&state, id).await {
            Some(_) => {
                render(
                    &state,
                    &headers,
                    lang,
                    StatusCode::OK,
                    Some(id),
                    Some("password_expired"),
                    None,
                    true,
                )
                .await
            }
            None => {
                render(
                    &state,
                    &headers,
                    lang,
                    StatusCode::BAD_REQUEST,
                    None,
                    None,
                    Some("request_expired"),
                    false,
                )
                .await
            }
        };
    }
    match sessions::current(&state, &headers, now()).await {
        Ok(Some(_)) => {
            render(
                &state,
                &headers,
                lang,
                StatusCode::OK,
                None,
                None,
                None,
                true,
            )
            .await
        }
        Ok(None) => crate::web::browser::page::redirect(StatusCode::FOUND, "/ui/auth/sign-in"),
        Err(_) => crate::web::browser::page::unavailable(&state, lang),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        })
}

/// The page's form: a password change that sign-in asked for.
#[derive(Deserialize, utoipa::ToSchema)]
#[allow(dead_code)] // documents the form `submit` reads
#[serde(rename_all = "camelCase")]
pub struct ChangePasswordForm {
    /// The pending change, from the page.
    change: String,
    #[schema(format = Password)]
    old_password: String,
    #[schema(format = Password)]
    new_password: String,
    #[schema(format = Password)]
    confirm_password: String,
    #[serde(rename = "csrf_token")]
    csrf_token: String,
}

/// `POST /auth/v3/change-password`: the JSON API or the page's form.
#[utoipa::path(post, path = "/auth/v3/change-password", tag = "browser",
    request_body(content(
        (Data<PasswordChange> = "application/json"),
        (ChangePasswordForm = "application/x-www-form-urlencoded"))),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Changed (JSON)", body = ApiResponse),
        (status = 303, description = "Changed (form): on with the sign-in"),
        (status = 400, description = "Refused: an envelope (JSON) or the page again (form)", body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 429, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
pub async fn submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    at: At,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ip = ip.as_deref();
    if let Err(retry) = rate_limit::check_audited(&state, "change-password", ip).await {
        let res = if is_json(&headers) {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too many requests").into_response()
        } else {
            let lang = Lang::from_headers(&headers);
            render(
                &state,
                &headers,
                lang,
                StatusCode::TOO_MANY_REQUESTS,
                None,
                None,
                Some("rate_limited"),
                false,
            )
            .await
        };
        return crate::web::browser::page::with_retry_after(res, retry);
    }
    if is_json(&headers) {
        json_api(&state, ip, &headers, &at, &body).await
    } else {
        form(&state, ip, &headers, &body).await
    }
}

/// The JSON request: the signed-in user's (session or bearer token) change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordChange {
    #[schema(format = Password)]
    old_password: String,
    #[schema(format = Password)]
    new_password: String,
    /// When given, it must name the signed-in user.
    #[serde(default)]
    #[schema(nullable = false)]
    user_name: Option<String>,
}

async fn json_api(
    state: &Services,
    ip: Option<&str>,
    headers: &HeaderMap,
    at: &At,
    body: &[u8],
) -> Response {
    let data: PasswordChange = match parse_data(body) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let (cc_id, user) = match bearer(state, headers, at).await {
        Ok(c) => match (&c.contact_center_id, &c.user_name) {
            (Some(cc), Some(u)) => (cc.clone(), u.clone()),
            _ => {
                return ApiError::new(StatusCode::FORBIDDEN, "Unable to update password")
                    .into_response()
            }
        },
        Err(_) => match sessions::current(state, headers, now()).await {
            Ok(Some(s)) => (s.user.contact_center_id, s.user.user_name),
            Ok(None) => {
                return ApiError::new(StatusCode::UNAUTHORIZED, "authentication is required")
                    .into_response()
            }
            Err(e) => return ApiError::from(e).into_response(),
        },
    };
    if data.user_name.as_deref().is_some_and(|n| {
        let (_, n) = tollgate_core::sign_in::split_login(n);
        !n.eq_ignore_ascii_case(&user)
    }) {
        return ApiError::new(StatusCode::FORBIDDEN, "Unable to update password").into_response();
    }
    match change(
        state,
        ip,
        &cc_id,
        &user,
        &data.old_password,
        &data.new_password,
    )
    .await
    {
        Ok(_) => envelope::ok_empty(),
        Err(DirectoryError::Unavailable { .. }) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable").into_response()
        }
        Err(DirectoryError::PasswordRejected(v)) => {
            ApiError::bad_request(format!("'newPassword': {v}")).into_response()
        }
        Err(_) => ApiError::new(StatusCode::FORBIDDEN, "Unable to update password").into_response(),
    }
}

/// Changes the password; `Ok` carries the directory's view of the user.
async fn change(
    state: &Services,
    ip: Option<&str>,
    cc_id: &str,
    user: &str,
    old: &str,
    new: &str,
) -> Result<tollgate_core::directory::DirectoryUser, DirectoryError> {
    let cc = state
        .catalog
        .contact_center(cc_id)
        .filter(|c| c.enabled)
        .ok_or(DirectoryError::BadCredentials)?;
    let dir = state
        .directories
        .for_contact_center(&cc)
        .await
        .ok_or(DirectoryError::Unsupported)?;
    if new.is_empty() {
        return Err(DirectoryError::BadCredentials);
    }
    let user = &names::normalize(user);
    let attempt = match lockout::admit(state, cc_id, user, ip).await {
        Ok(Admission::Admitted(a)) => a,
        Ok(Admission::Locked(_)) => return Err(DirectoryError::BadCredentials),
        Err(_) => {
            return Err(DirectoryError::Unavailable {
                retry_after: std::time::Duration::from_secs(1),
            })
        }
    };
    let result = dir.change_password(&cc, user, old, new).await;
    let subject = tollgate_core::tokens::user_subject(cc_id, user);
    match &result {
        Ok(()) => {
            let _ = lockout::succeeded(state, &attempt).await;
            state
                .audit("user.password_changed")
                .contact_center(cc_id)
                .subject(&subject)
                .ip(ip)
                .record()
        }
        Err(e) => {
            match e {
                DirectoryError::BadCredentials => lockout::failed(state, &attempt).await,
                DirectoryError::Unavailable { .. } => {
                    let _ = lockout::unanswered(state, &attempt).await;
                }
                _ => {}
            }
            state
                .audit("user.password_change_failed")
                .contact_center(cc_id)
                .subject(&subject)
                .ip(ip)
                .detail(json!({"reason": e.to_string()}))
                .record();
        }
    }
    result?;
    match dir.lookup(&cc, user).await? {
        Some(u) => Ok(u),
        None => Err(DirectoryError::Locked),
    }
}

/// The password form's post: from a signed-in user, or (`change`) from one
/// whose expired password stopped their sign-in, which then continues.
async fn form(state: &Services, ip: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Response {
    let lang = Lang::from_headers(headers);
    let Some(form) = verified_form(state, headers, body) else {
        return crate::web::browser::page::csrf_failed(state, lang, ip, "change-password");
    };
    let change_id = form.get("change");
    let (forced, cc_id, user) = match whose_password(state, headers, lang, change_id).await {
        Ok(who) => who,
        Err(res) => return res,
    };
    let old = form.get("oldPassword").unwrap_or("");
    let new = form.get("newPassword").unwrap_or("");
    if new.is_empty() || Some(new) != form.get("confirmPassword") {
        return render(
            state,
            headers,
            lang,
            StatusCode::BAD_REQUEST,
            change_id,
            None,
            Some("passwords_differ"),
            true,
        )
        .await;
    }
    let user = match change(state, ip, &cc_id, &user, old, new).await {
        Ok(u) => u,
        Err(e) => return change_refused(state, headers, lang, change_id, e).await,
    };
    let Some(forced) = forced else {
        return render(
            state,
            headers,
            lang,
            StatusCode::OK,
            None,
            Some("password_changed"),
            None,
            false,
        )
        .await;
    };
    if let Some(id) = change_id {
        let _ = state.ephemeral.delete(&change_key(id)).await;
    }
    continue_sign_in(state, lang, ip, &cc_id, &user, forced).await
}

/// The form, if it parses and carries this browser's CSRF token.
fn verified_form(
    state: &Services,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<tollgate_core::oauth::form::OAuthForm> {
    tollgate_core::oauth::form::OAuthForm::parse(body)
        .ok()
        .filter(|form| csrf::verify(state, headers, form.get("csrf_token")))
}

/// Whose password changes: the forced change's user (with the change), or
/// the session's; otherwise the page to show instead.
async fn whose_password(
    state: &Services,
    headers: &HeaderMap,
    lang: Lang,
    change_id: Option<&str>,
) -> Result<(Option<PendingChange>, String, String), Response> {
    if let Some(id) = change_id {
        return match load_change(state, id).await {
            Some(p) => {
                let (cc_id, user) = (p.contact_center_id.clone(), p.username.clone());
                Ok((Some(p), cc_id, user))
            }
            None => Err(render(
                state,
                headers,
                lang,
                StatusCode::BAD_REQUEST,
                None,
                None,
                Some("request_expired"),
                false,
            )
            .await),
        };
    }
    match sessions::current(state, headers, now()).await {
        Ok(Some(s)) => Ok((None, s.user.contact_center_id, s.user.user_name)),
        Ok(None) => Err(crate::web::browser::page::redirect(
            StatusCode::SEE_OTHER,
            "/ui/auth/sign-in",
        )),
        Err(_) => Err(crate::web::browser::page::unavailable(state, lang)),
    }
}

/// The form again, saying why the directory did not change the password.
async fn change_refused(
    state: &Services,
    headers: &HeaderMap,
    lang: Lang,
    change_id: Option<&str>,
    error: DirectoryError,
) -> Response {
    let (status, key) = match error {
        DirectoryError::Unavailable { .. } => {
            return crate::web::browser::page::unavailable(state, lang)
        }
        DirectoryError::PasswordRejected(v) => (
            StatusCode::BAD_REQUEST,
            match v {
                PolicyViolation::TooShort(_) => "password_too_short",
                PolicyViolation::TooLong => "password_too_long",
                PolicyViolation::Reused(_) => "password_reused",
                PolicyViolation::RefusedByDirectory => "password_refused",
            },
        ),
        _ => (StatusCode::FORBIDDEN, "unable_to_update"),
    };
    render(
        state,
        headers,
        lang,
        status,
        change_id,
        None,
        Some(key),
        true,
    )
    .await
}

/// Signs in the user whose forced change succeeded, answering the
/// authorization request their sign-in started with, if it still waits.
async fn continue_sign_in(
    state: &Services,
    lang: Lang,
    ip: Option<&str>,
    cc_id: &str,
    user: &tollgate_core::directory::DirectoryUser,
    forced: PendingChange,
) -> Response {
    let Some(cc) = state.catalog.contact_center(cc_id) else {
        return crate::web::browser::page::unavailable(state, lang);
    };
    let principal = UserPrincipal::new(&cc, user, now());
    let pending = match forced.request.as_deref() {
        Some(rid) => tollgate_core::oauth::authorize::load_pending(state, rid)
            .await
            .ok()
            .flatten(),
        None => None,
    };
    let request = pending.as_ref().and(forced.request.as_deref());
    // A changed password does not skip the second factor.
    let asked = pending.as_ref().is_some_and(|p| p.second_factor_asked);
    let factor = match tollgate_core::second_factor::step_for(state, &cc, user, asked).await {
        Ok(step) => step,
        Err(_) => return crate::web::browser::page::unavailable(state, lang),
    };
    password_right(
        state,
        lang,
        ip,
        principal,
        factor,
        request,
        pending.as_ref(),
    )
    .await
}

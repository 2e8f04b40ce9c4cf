//! The second-factor step of a sign-in (`/ui/auth/second-factor` and its
//! form, `POST /auth/v3/second-factor`): after a right password, a built-in
//! user whose contact center asks for it enrols a TOTP authenticator or
//! gives a code; only then does the session start. Plain forms, no script;
//! a passkey (WebAuthn) is offered beside the code, run by the page's one
//! script from `/ui/auth/static/passkey.js`, which posts the browser's
//! credential to the same form endpoint (field `passkey`).
//!
//! The step is kept in the ephemeral store under a random id the page
//! carries (like a pending password change, see [`PendingFactor`]); it holds
//! the principal the session will get, never the secret (sealed in the
//! database).

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use crate::web::browser::page::{self, html, Lang, Tr};
use crate::web::browser::pages::{self, PasskeyCeremony};
use crate::web::browser::sign_in::{
    factor_key, load_factor, save_factor, signed_in, PendingFactor,
};
use crate::web::client_ip::ClientIp;
use crate::web::csrf;
use tollgate_core::oauth::authorize::load_pending;
use tollgate_core::oauth::form::OAuthForm;
use tollgate_core::protection::rate_limit;
use tollgate_core::second_factor::passkey::{self, Asserted, KeyKind};
use tollgate_core::second_factor::{self, Checked};
use tollgate_core::services::{AppState, Services};

/// What the page shows besides the code field.
#[derive(Default)]
struct Shown {
    secret: Option<String>,
    uri: Option<String>,
    recovery_codes: Vec<String>,
    verified: bool,
    passkey: Option<PasskeyCeremony>,
}

fn render(
    state: &Services,
    headers: &HeaderMap,
    lang: Lang,
    status: StatusCode,
    factor: &str,
    shown: Shown,
    error: Option<&str>,
) -> Response {
    let (csrf, cookies) = page::form_token(state, headers);
    let t = Tr::new(lang);
    let with_script = shown.passkey.is_some();
    let mut res = html(
        status,
        &pages::SecondFactor {
            t,
            title: "second_factor_title",
            notice: None,
            error: error.map(|e| t.get(e).to_string()),
            csrf,
            factor: factor.to_string(),
            secret: shown.secret,
            uri: shown.uri,
            recovery_codes: shown.recovery_codes,
            verified: shown.verified,
            passkey: shown.passkey,
        },
        None,
        cookies,
    );
    // The page may show a secret or recovery codes: never cached.
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if with_script {
        if let Ok(v) = HeaderValue::from_str(&page::auto_post_csp(None)) {
            res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    res
}

/// A new passkey ceremony for the pending step `id` (replacing any earlier
/// one): registration when enrolling, else an assertion if the user has a
/// passkey. `None` too when the store cannot start one: the code remains.
async fn ceremony(state: &Services, id: &str, p: &PendingFactor) -> Option<PasskeyCeremony> {
    let cc = &p.principal.contact_center_id;
    let started = if p.enrol {
        passkey::start_registration(state, id, cc, &p.user_id, &p.principal.user_name)
            .await
            .map(|o| o.map(|options| ("create", options)))
    } else {
        passkey::start_authentication(state, id, cc, &p.user_id)
            .await
            .map(|o| o.map(|options| ("get", options)))
    };
    match started {
        Ok(o) => o.map(|(ceremony, options)| PasskeyCeremony { ceremony, options }),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a passkey ceremony");
            None
        }
    }
}

fn expired(state: &Services, lang: Lang) -> Response {
    page::error_page(
        state,
        lang,
        StatusCode::BAD_REQUEST,
        "Your sign-in has expired. Go back to the application and sign in again.",
    )
}

#[derive(Deserialize)]
pub struct PageQuery {
    factor: Option<String>,
}

/// `GET /ui/auth/second-factor?factor=<id>`: the code field, with a new key
/// to add first when enrolling (a reload replaces the key not yet confirmed).
pub async fn page(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    if let Err(res) = page::rate_limit(&state, lang, "pages", ip.as_deref()).await {
        return res;
    }
    let id = q.factor.unwrap_or_default();
    let Some(p) = load_factor(&state, &id).await.filter(|p| !p.verified) else {
        return expired(&state, lang);
    };
    let mut shown = Shown::default();
    if p.enrol {
        let Some(cc) = state.catalog.contact_center(&p.principal.contact_center_id) else {
            return expired(&state, lang);
        };
        match second_factor::start_enrolment(&state, &cc, &p.user_id, &p.principal.user_name).await
        {
            Ok(Some(e)) => {
                shown.secret = Some(e.secret);
                shown.uri = Some(e.uri);
            }
            // Enrolled meanwhile (another tab): sign in again with a code.
            Ok(None) => return expired(&state, lang),
            Err(_) => return page::unavailable(&state, lang),
        }
    }
    shown.passkey = ceremony(&state, &id, &p).await;
    render(&state, &headers, lang, StatusCode::OK, &id, shown, None)
}

/// The second-factor form, as the page posts it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the form `submit` reads
pub struct SecondFactorForm {
    /// The pending step, from the page.
    factor: String,
    /// A 6-digit TOTP code, or a recovery code (not while enrolling).
    #[schema(nullable = false)]
    code: Option<String>,
    /// Instead of `code`: the browser's WebAuthn credential as JSON, from
    /// `navigator.credentials.create` while enrolling, else `.get`.
    #[schema(nullable = false)]
    passkey: Option<String>,
    /// `true` after the recovery codes were shown: start the session.
    #[schema(nullable = false)]
    r#continue: Option<String>,
    /// The page's CSRF token (double-submitted with its cookie).
    csrf_token: String,
}

/// `POST /auth/v3/second-factor`.
#[utoipa::path(post, path = "/auth/v3/second-factor", tag = "browser",
    request_body(content = SecondFactorForm, content_type = "application/x-www-form-urlencoded"),
    security(()),
    responses(
        (status = 200, description = "Enrolled with a code: the recovery codes, shown once, and a form to continue", content_type = "text/html", body = String),
        (status = 303, description = "Verified, or enrolled with a passkey: on to the authorization request or the signed-in page"),
        (status = 400, description = "The step expired", content_type = "text/html", body = String),
        (status = 401, description = "The page again: wrong or used code, or a passkey not accepted", content_type = "text/html", body = String),
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
        return page::csrf_failed(&state, lang, ip, "second-factor");
    };
    if !csrf::verify(&state, &headers, form.get("csrf_token")) {
        return page::csrf_failed(&state, lang, ip, "second-factor");
    }
    let id = form.get("factor").unwrap_or("");
    let Some(mut p) = load_factor(&state, id).await else {
        return expired(&state, lang);
    };
    let passkey_response = form.get("passkey");
    if p.verified && passkey_response.is_none() {
        return finish(&state, lang, ip, id, None).await;
    }
    if let Err(retry) = rate_limit::check_audited(&state, "sign-in", ip).await {
        let res = render(
            &state,
            &headers,
            lang,
            StatusCode::TOO_MANY_REQUESTS,
            id,
            Shown::default(),
            Some("rate_limited"),
        );
        return page::with_retry_after(res, retry);
    }
    if let Some(response) = passkey_response {
        return with_passkey(&state, &headers, lang, ip, id, &p, response).await;
    }
    let code = form.get("code").unwrap_or("");
    let (cc, user) = (&p.principal.contact_center_id, &p.principal.user_name);
    match second_factor::check(&state, cc, user, ip, code, p.enrol).await {
        Ok(Checked::Accepted { recovery_codes }) if p.enrol => {
            p.verified = true;
            if !save_factor(&state, id, &p).await {
                return page::unavailable(&state, lang);
            }
            // A passkey may be added too before continuing.
            let shown = Shown {
                recovery_codes,
                verified: true,
                passkey: ceremony(&state, id, &p).await,
                ..Shown::default()
            };
            render(&state, &headers, lang, StatusCode::OK, id, shown, None)
        }
        Ok(Checked::Accepted { .. }) => finish(&state, lang, ip, id, None).await,
        Ok(Checked::Refused) => {
            again(
                &state,
                &headers,
                lang,
                id,
                &p,
                StatusCode::UNAUTHORIZED,
                "bad_code",
            )
            .await
        }
        Ok(Checked::LockedOut { retry_after }) => page::with_retry_after(
            again(
                &state,
                &headers,
                lang,
                id,
                &p,
                StatusCode::TOO_MANY_REQUESTS,
                "locked_out",
            )
            .await,
            retry_after,
        ),
        Err(_) => page::unavailable(&state, lang),
    }
}

/// The browser's passkey credential: a registration while enrolling (the
/// passkey is then the user's confirmed factor, or one more beside the TOTP
/// key just confirmed), else an assertion.
async fn with_passkey(
    state: &Services,
    headers: &HeaderMap,
    lang: Lang,
    ip: Option<&str>,
    id: &str,
    p: &PendingFactor,
    response: &str,
) -> Response {
    let (cc, user) = (&p.principal.contact_center_id, &p.principal.user_name);
    let outcome = if p.enrol {
        passkey::finish_registration(state, id, cc, &p.user_id, user, ip, response)
            .await
            .map(|kind| kind.map_or(Asserted::Refused, Asserted::Accepted))
    } else {
        passkey::check(state, id, cc, &p.user_id, user, ip, response).await
    };
    match outcome {
        // After a TOTP code, the code stays the factor this sign-in gave.
        Ok(Asserted::Accepted(kind)) => {
            finish(state, lang, ip, id, (!p.verified).then_some(kind)).await
        }
        Ok(Asserted::Refused) => {
            again(
                state,
                headers,
                lang,
                id,
                p,
                StatusCode::UNAUTHORIZED,
                "passkey_failed",
            )
            .await
        }
        Ok(Asserted::LockedOut { retry_after }) => page::with_retry_after(
            again(
                state,
                headers,
                lang,
                id,
                p,
                StatusCode::TOO_MANY_REQUESTS,
                "locked_out",
            )
            .await,
            retry_after,
        ),
        Err(_) => page::unavailable(state, lang),
    }
}

/// The page again after a refused factor, with `error` and a new passkey
/// ceremony (the refused answer took the last one). An enrolment page lost
/// its key: a reload shows a new one, so the code field alone is enough.
async fn again(
    state: &Services,
    headers: &HeaderMap,
    lang: Lang,
    id: &str,
    p: &PendingFactor,
    status: StatusCode,
    error: &str,
) -> Response {
    let shown = Shown {
        verified: p.verified,
        passkey: ceremony(state, id, p).await,
        ..Shown::default()
    };
    render(state, headers, lang, status, id, shown, Some(error))
}

/// The factor was given (`passkey`: a passkey, else a code): the step ends
/// (once) and the session starts.
async fn finish(
    state: &Services,
    lang: Lang,
    ip: Option<&str>,
    id: &str,
    passkey: Option<KeyKind>,
) -> Response {
    let taken = match state.ephemeral.take(&factor_key(id)).await {
        Ok(Some(bytes)) => serde_json::from_slice::<PendingFactor>(&bytes).ok(),
        Ok(None) => None,
        Err(_) => return page::unavailable(state, lang),
    };
    let Some(p) = taken else {
        return expired(state, lang);
    };
    let pending = match p.request.as_deref() {
        Some(r) => load_pending(state, r).await.ok().flatten(),
        None => None,
    };
    let mut principal = p.principal;
    principal.second_factor = true;
    principal.passkey = passkey;
    signed_in(
        state,
        lang,
        ip,
        principal,
        p.request.as_deref(),
        pending.as_ref(),
        None,
    )
    .await
}

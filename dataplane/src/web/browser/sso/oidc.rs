//! OpenID Connect identity providers (`auth: oidc`): Tollgate is the
//! provider's relying party. [`start`] sends the browser to the provider with
//! an authorization code request (PKCE S256, `state`, `nonce`); [`callback`]
//! takes the answer at the contact center's own redirect URI, exchanges
//! the code, verifies the ID token and signs the user in through
//! [`crate::web::browser::sso::finish_sign_in`].
//!
//! Mix-up defence (RFC 9700 §4.4, RFC 9207): every provider has its own
//! redirect URI, an answer counts only at the redirect URI of the provider
//! its flight started with and with that provider's `iss` (required when the
//! provider advertises it), and the code and PKCE verifier only ever go to
//! the flight's provider.

use axum::extract::{Path, Query, State};
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient};
use openidconnect::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tollgate_store::model::{ContactCenter, OidcClientAuth, OidcProviderConfig};

use crate::web::browser::page::{self, Lang, Tr};
use crate::web::browser::sso::finish_sign_in;
use crate::web::browser::sso::flight;
use crate::web::client_ip::ClientIp;
use tollgate_core::federation::oidc::discovery::Metadata;
use tollgate_core::federation::oidc::id_token::IdTokenError;
use tollgate_core::federation::oidc::redirect::redirect_uri;
use tollgate_core::federation::oidc::{discovery, id_token};
use tollgate_core::federation::users::{FederatedIdentity, UnknownUsers};
use tollgate_core::services::{AppState, Services};

/// What the callback needs of the authorization request it answers.
#[derive(Serialize, Deserialize)]
struct Flight {
    contact_center_id: String,
    issuer: String,
    /// The pending authorization request to continue.
    request: Option<String>,
    verifier: String,
    nonce: String,
}

/// A refusal: audited as `sso.refused` with its reason, shown as an error page.
fn refuse(
    state: &Services,
    lang: Lang,
    ip: Option<&str>,
    cc: Option<&str>,
    status: StatusCode,
    reason: &str,
    message: &str,
) -> Response {
    state
        .audit("sso.refused")
        .contact_center(cc)
        .ip(ip)
        .detail(json!({"protocol": "oidc", "reason": reason}))
        .record();
    page::error_page(state, lang, status, message)
}

/// Tollgate as the provider's client; the token and userinfo endpoints
/// come from discovery.
type ProviderClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

fn client(metadata: &Metadata, p: &OidcProviderConfig, redirect: RedirectUrl) -> ProviderClient {
    CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(p.client_id.clone()),
        Some(ClientSecret::new(p.client_secret.clone())),
    )
    .set_redirect_uri(redirect)
    .set_auth_type(match p.client_auth {
        OidcClientAuth::ClientSecretBasic => AuthType::BasicAuth,
        OidcClientAuth::ClientSecretPost => AuthType::RequestBody,
    })
}

/// `sso::start` for `auth: oidc`: the authorization request to the contact
/// center's provider. The browser follows it from a small page (a redirect
/// answering the sign-in form would break the sign-in page's `form-action`).
pub async fn start(
    state: &Services,
    lang: Lang,
    cc: &ContactCenter,
    login_hint: &str,
    request: Option<&str>,
) -> Response {
    let provider = match state.db.get_oidc_provider(&cc.id).await {
        Ok(Some(p)) => p,
        Ok(None) => return crate::web::browser::sso::not_configured(state, lang),
        Err(_) => return page::unavailable(state, lang),
    };
    let metadata = match state.oidc.metadata(&provider.issuer).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, contact_center = %cc.id, "OpenID provider discovery failed");
            return provider_unavailable(state, lang, None, Some(&cc.id), &e.to_string());
        }
    };
    let Ok(redirect) = RedirectUrl::new(redirect_uri(state, &cc.id)) else {
        return page::unavailable(state, lang);
    };
    let client = client(&metadata, &provider, redirect);
    let (url, csrf, nonce, verifier) = authorization_request(&client, &provider, login_hint);
    let flight = Flight {
        contact_center_id: cc.id.clone(),
        issuer: provider.issuer.clone(),
        request: request.map(str::to_string),
        verifier: verifier.secret().clone(),
        nonce: nonce.secret().clone(),
    };
    let cookie = match flight::save(state, flight::OIDC, csrf.secret(), &flight).await {
        Ok(c) => c,
        Err(_) => return page::unavailable(state, lang),
    };
    state
        .audit("sso.started")
        .contact_center(&cc.id)
        .detail(json!({"protocol": "oidc", "provider": provider.issuer}))
        .record();
    redirect_page(lang, url.to_string(), cookie)
}

/// The authorization code request (PKCE S256, `state`, `nonce`) with the
/// provider's scopes and extra parameters; the secrets the callback needs.
fn authorization_request(
    client: &ProviderClient,
    provider: &OidcProviderConfig,
    login_hint: &str,
) -> (openidconnect::url::Url, CsrfToken, Nonce, PkceCodeVerifier) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut auth = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in provider.scopes.iter().filter(|s| *s != "openid") {
        auth = auth.add_scope(Scope::new(scope.clone()));
    }
    if !login_hint.is_empty() {
        auth = auth.add_extra_param("login_hint", login_hint.to_string());
    }
    for (name, value) in &provider.authorize_params {
        auth = auth.add_extra_param(name.clone(), value.clone());
    }
    let (url, csrf, nonce) = auth.url();
    (url, csrf, nonce, verifier)
}

/// The page that sends the browser on to `location`, setting the flight's
/// cookie.
fn redirect_page(lang: Lang, location: String, cookie: Option<HeaderValue>) -> Response {
    let mut res = page::html(
        StatusCode::OK,
        &crate::web::browser::pages::SsoRedirect {
            t: Tr::new(lang),
            title: "sso_redirect_title",
            notice: None,
            error: None,
            location,
        },
        None,
        vec![],
    );
    if let Some(c) = cookie {
        res.headers_mut().append(axum::http::header::SET_COOKIE, c);
    }
    res
}

fn provider_unavailable(
    state: &Services,
    lang: Lang,
    ip: Option<&str>,
    cc: Option<&str>,
    reason: &str,
) -> Response {
    let t = Tr::new(lang);
    let res = refuse(
        state,
        lang,
        ip,
        cc,
        StatusCode::BAD_GATEWAY,
        reason,
        t.get("sso_provider_failed"),
    );
    page::with_retry_after(res, 30)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    /// RFC 9207: the issuer of the answer.
    iss: Option<String>,
}

/// Whether an answer that arrived at the redirect URI of `at` (a contact
/// center id) with `iss` belongs to `flight`: the provider the flight
/// started with must be the one whose redirect URI and issuer the answer
/// carries. `sends_iss`: the provider advertises RFC 9207.
fn answer_mismatch(
    flight: &Flight,
    at: &str,
    iss: Option<&str>,
    sends_iss: bool,
) -> Option<&'static str> {
    if flight.contact_center_id != at {
        return Some("answer at another provider's redirect URI");
    }
    match iss {
        Some(iss) if iss != flight.issuer => Some("answer from another issuer (iss)"),
        None if sends_iss => Some("no iss, which the provider promises"),
        _ => None,
    }
}

/// `GET /auth/v3/sso/oidc/{contact_center_id}/callback`: the provider's answer.
#[utoipa::path(get, path = "/auth/v3/sso/oidc/{contact_center_id}/callback", tag = "sso",
    params(("contact_center_id" = String, Path), CallbackQuery),
    security(()),
    responses(
        (status = 303, description = "Signed in: on to the authorization request or the signed-in page"),
        (status = 400, description = "A malformed or unknown answer", content_type = "text/html", body = String),
        (status = 403, description = "A refused answer (state, issuer, ID token)", content_type = "text/html", body = String),
        (status = 502, description = "The provider's token endpoint failed", content_type = "text/html", body = String),
        (status = 429, content_type = "text/html", body = String), (status = 503, content_type = "text/html", body = String)))]
pub async fn callback(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(at): Path<String>,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let ip = ip.as_deref();
    let Some(key) = q.state.as_deref().filter(|s| !s.is_empty()) else {
        return Stop::invalid("no state").render(&state, lang, ip, None);
    };
    // Single use: taken whatever happens next.
    let flight = match flight::take::<Flight>(&state, flight::OIDC, key, &headers).await {
        Ok(Ok(f)) => f,
        Ok(Err(reason)) => return Stop::invalid(reason).render(&state, lang, ip, None),
        Err(_) => return page::unavailable(&state, lang),
    };
    let (cc, identity, unknown) = match answered(&state, &at, q, &flight).await {
        Ok(answer) => answer,
        Err(stop) => return stop.render(&state, lang, ip, Some(&flight.contact_center_id)),
    };
    let mut res = finish_sign_in(
        &state,
        lang,
        ip,
        &cc,
        &identity,
        unknown,
        flight.request.as_deref(),
        None,
    )
    .await;
    if let Some(c) = flight::clear_cookie(&state, flight::OIDC) {
        res.headers_mut().append(axum::http::header::SET_COOKIE, c);
    }
    res
}

/// Why an answer signs no one in.
enum Stop {
    /// Not an acceptable answer: the status and the audited reason.
    Invalid(StatusCode, String),
    /// The provider refused the sign-in with this error code.
    ProviderRefused(String),
    /// The provider did not answer as it should.
    ProviderFailed(String),
    /// A backing store cannot answer.
    Unavailable,
}

impl Stop {
    fn invalid(reason: &str) -> Self {
        Self::Invalid(StatusCode::BAD_REQUEST, reason.to_string())
    }

    /// The refusal, audited, as a page; `cc` is the flight's contact center
    /// once the flight is known.
    fn render(self, state: &Services, lang: Lang, ip: Option<&str>, cc: Option<&str>) -> Response {
        let t = Tr::new(lang);
        match self {
            Stop::Invalid(status, reason) => refuse(
                state,
                lang,
                ip,
                cc,
                status,
                &reason,
                t.get("sso_invalid_answer"),
            ),
            Stop::ProviderRefused(code) => refuse(
                state,
                lang,
                ip,
                cc,
                StatusCode::FORBIDDEN,
                &format!("provider error: {code}"),
                &format!("{} ({code})", t.get("sso_provider_refused")),
            ),
            Stop::ProviderFailed(reason) => provider_unavailable(state, lang, ip, cc, &reason),
            Stop::Unavailable => page::unavailable(state, lang),
        }
    }
}

/// The contact center, the identity the answer vouches for and what to do
/// when that user is unknown, once the answer is known to be the flight's
/// provider's and verified.
async fn answered(
    state: &Services,
    at: &str,
    q: CallbackQuery,
    flight: &Flight,
) -> Result<(Arc<ContactCenter>, FederatedIdentity, UnknownUsers), Stop> {
    // Before anything else: nothing of this answer may reach the flight's
    // provider unless the answer is that provider's (an error answer too).
    if let Some(reason) = answer_mismatch(flight, at, q.iss.as_deref(), false) {
        return Err(Stop::invalid(reason));
    }
    if let Some(error) = q.error.as_deref() {
        // The provider's error code only: the description is the provider's prose.
        let code: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return Err(Stop::ProviderRefused(code));
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return Err(Stop::invalid("no code"));
    };
    let (cc, provider, metadata) = flight_provider(state, flight).await?;
    let sends_iss = discovery::sends_iss(&metadata);
    if let Some(reason) = answer_mismatch(flight, at, q.iss.as_deref(), sends_iss) {
        return Err(Stop::invalid(reason));
    }
    let claims = verified_claims(state, &metadata, &provider, flight, code)
        .await
        .map_err(|failure| match failure {
            Failure::Provider(reason) => {
                tracing::warn!(reason = %reason, contact_center = %cc.id, "OpenID provider failed");
                Stop::ProviderFailed(reason)
            }
            Failure::Invalid(reason) => Stop::Invalid(StatusCode::FORBIDDEN, reason),
        })?;
    let identity = id_token::identity(&provider, &claims)
        .map_err(|e| Stop::Invalid(StatusCode::FORBIDDEN, e.to_string()))?;
    let unknown = if provider.just_in_time {
        UnknownUsers::CreateJustInTime
    } else {
        UnknownUsers::Refuse
    };
    Ok((cc, identity, unknown))
}

/// The flight's contact center (still enabled), its provider (still the
/// one the flight started with) and the provider's metadata.
async fn flight_provider(
    state: &Services,
    flight: &Flight,
) -> Result<(Arc<ContactCenter>, OidcProviderConfig, Arc<Metadata>), Stop> {
    let cc_id = flight.contact_center_id.as_str();
    let cc = match state.catalog.contact_center(cc_id) {
        Some(cc) if cc.enabled => cc,
        _ => {
            return Err(Stop::Invalid(
                StatusCode::FORBIDDEN,
                "contact center gone or disabled".into(),
            ))
        }
    };
    let provider = match state.db.get_oidc_provider(cc_id).await {
        Ok(Some(p)) if p.issuer == flight.issuer => p,
        Ok(_) => return Err(Stop::invalid("provider changed during sign-in")),
        Err(_) => return Err(Stop::Unavailable),
    };
    let metadata = state.oidc.metadata(&provider.issuer).await.map_err(|e| {
        tracing::warn!(error = %e, contact_center = %cc_id, "OpenID provider discovery failed");
        Stop::ProviderFailed(e.to_string())
    })?;
    Ok((cc, provider, metadata))
}

enum Failure {
    /// The provider did not answer as it should (network, discovery, token endpoint).
    Provider(String),
    /// The answer is forged, stale or not for us.
    Invalid(String),
}

/// Code exchange (with the PKCE verifier and client authentication), ID
/// token checks (fetching the provider's keys again once for an unknown
/// `kid`), and userinfo for claims the ID token lacks.
async fn verified_claims(
    state: &Services,
    metadata: &Metadata,
    provider: &OidcProviderConfig,
    flight: &Flight,
    code: String,
) -> Result<serde_json::Map<String, Value>, Failure> {
    let redirect = RedirectUrl::new(redirect_uri(state, &flight.contact_center_id))
        .map_err(|e| Failure::Provider(e.to_string()))?;
    let client = client(metadata, provider, redirect);
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| Failure::Provider(e.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(flight.verifier.clone()))
        .request_async(&state.oidc.http)
        .await
        .map_err(|e| match e {
            // The provider refused the code (used, expired, wrong verifier).
            openidconnect::RequestTokenError::ServerResponse(r) => {
                Failure::Invalid(format!("code refused: {}", r.error()))
            }
            other => Failure::Provider(format!(
                "token request failed: {}",
                discovery::error_chain(&other)
            )),
        })?;
    let Some(token) = tokens.id_token() else {
        return Err(Failure::Invalid("no ID token".into()));
    };
    let leeway = state.settings.leeway as i64;
    let mut claims =
        match id_token::verify(metadata, &provider.client_id, token, &flight.nonce, leeway) {
            Err(IdTokenError::UnknownKey) => {
                let fresh = state
                    .oidc
                    .refetch_for_unknown_key(&provider.issuer)
                    .await
                    .map_err(|e| Failure::Provider(e.to_string()))?
                    .ok_or_else(|| Failure::Invalid(IdTokenError::UnknownKey.to_string()))?;
                id_token::verify(&fresh, &provider.client_id, token, &flight.nonce, leeway)
            }
            other => other,
        }
        .map_err(|e| Failure::Invalid(e.to_string()))?;
    if id_token::misses_claims(provider, &claims) {
        if let Some(url) = metadata.userinfo_endpoint() {
            let (status, info) = state
                .oidc
                .http
                .get_json(url.as_str(), tokens.access_token().secret())
                .await
                .map_err(|e| Failure::Provider(e.to_string()))?;
            // Userinfo about someone else than the ID token's subject is ignored (OIDC Core §5.3.2).
            if let (200, Value::Object(info)) = (status, info) {
                if info.get("sub").is_some() && info.get("sub") == claims.get("sub") {
                    for (k, v) in info {
                        claims.entry(k).or_insert(v);
                    }
                }
            }
        }
    }
    Ok(claims)
}

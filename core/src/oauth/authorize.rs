//! The authorization endpoint's decisions (RFC 6749 §4.1, §4.2; OpenID
//! Connect Core §3.1.2, §3.2.2, §3.3.2) with PKCE (RFC 7636), the `iss`
//! response parameter (RFC 9207), the multiple response types and modes
//! (OAuth 2.0 Multiple Response Type Encoding Practices) and `form_post`
//! (OAuth 2.0 Form Post Response Mode): validating a request, keeping it while the user
//! signs in and consents, and answering it. The browser edge
//! (`crate::web::browser::authorize`) renders the outcomes.
//!
//! The client and redirect URI are checked first: until both are known good,
//! a refusal is a page, never a redirect. Later refusals go back to the
//! redirect URI. A request waiting for sign-in or consent is kept in the
//! ephemeral store under a random id; the browser only carries the id.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tollgate_store::model::{now, Client, ClientType, Timestamp};

use crate::oauth::assertion;
use crate::oauth::claims::ClaimsRequest;
use crate::oauth::error::OAuthError;
use crate::oauth::form::OAuthForm;
use crate::oauth::grants::authorization_code::{code_key, CodeRecord, CODE_TTL};
use crate::oauth::grants::{AUTHORIZATION_CODE, IMPLICIT};
use crate::oauth::issue::{
    grant_scope, id_token, issue, remember_relying_party, IdTokenAsk, Issue, UserPrincipal,
};
use crate::oauth::par;
use crate::services::Services;
use crate::tokens;

/// How long a request may wait for sign-in and consent.
pub const PENDING_TTL: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseType {
    Code,
    Token,
    IdToken,
    IdTokenToken,
    /// The hybrid flow's three (OIDC Core §3.3).
    CodeIdToken,
    CodeToken,
    CodeIdTokenToken,
}

impl ResponseType {
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts: Vec<&str> = s.split(' ').filter(|p| !p.is_empty()).collect();
        parts.sort_unstable();
        match parts.as_slice() {
            ["code"] => Some(Self::Code),
            ["token"] => Some(Self::Token),
            ["id_token"] => Some(Self::IdToken),
            ["id_token", "token"] => Some(Self::IdTokenToken),
            ["code", "id_token"] => Some(Self::CodeIdToken),
            ["code", "token"] => Some(Self::CodeToken),
            ["code", "id_token", "token"] => Some(Self::CodeIdTokenToken),
            _ => None,
        }
    }
    /// The mode when the request names none: the query for a code alone,
    /// the fragment whenever a token travels through the browser.
    pub fn default_mode(self) -> ResponseMode {
        if self == Self::Code {
            ResponseMode::Query
        } else {
            ResponseMode::Fragment
        }
    }
    pub fn has_code(self) -> bool {
        matches!(
            self,
            Self::Code | Self::CodeIdToken | Self::CodeToken | Self::CodeIdTokenToken
        )
    }
    pub fn has_token(self) -> bool {
        matches!(
            self,
            Self::Token | Self::IdTokenToken | Self::CodeToken | Self::CodeIdTokenToken
        )
    }
    pub fn has_id_token(self) -> bool {
        matches!(
            self,
            Self::IdToken | Self::IdTokenToken | Self::CodeIdToken | Self::CodeIdTokenToken
        )
    }
}

/// How the answer reaches the client's redirect URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseMode {
    Query,
    Fragment,
    /// An HTML form the browser posts to the redirect URI.
    FormPost,
}

impl ResponseMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "query" => Some(Self::Query),
            "fragment" => Some(Self::Fragment),
            "form_post" => Some(Self::FormPost),
            _ => None,
        }
    }
}

/// An answer for the client: `params` delivered to `uri` by `mode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAnswer {
    pub uri: String,
    pub params: Vec<(String, String)>,
    pub mode: ResponseMode,
}

impl ClientAnswer {
    /// Where to send the browser, for the query and fragment modes.
    pub fn location(&self) -> String {
        let pairs: Vec<(&str, &str)> = self
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        with_params(&self.uri, &pairs, self.mode == ResponseMode::Fragment)
    }
}

/// A validated authorization request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// Whether `redirect_uri` was in the request (then the token request must repeat it).
    pub redirect_given: bool,
    pub response_type: ResponseType,
    /// `response_mode`, when the request named one.
    #[serde(default)]
    pub response_mode: Option<ResponseMode>,
    pub scope: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub hide_tenant: bool,
    /// `acr_values` was sent: the ID token will say how the user signed in.
    #[serde(default)]
    pub acr_requested: bool,
    /// `acr_values` names the second-factor level ([`ACR_SECOND_FACTOR`]).
    ///
    /// [`ACR_SECOND_FACTOR`]: crate::oauth::issue::ACR_SECOND_FACTOR
    #[serde(default)]
    pub second_factor_asked: bool,
    /// The `claims` parameter (OIDC Core §5.5).
    #[serde(default)]
    pub claims: ClaimsRequest,
    /// RFC 9449 §10: the code is bound to this DPoP key (`dpop_jkt`, or
    /// the key of the proof sent to the PAR endpoint).
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

impl AuthRequest {
    /// Where errors for this request go.
    pub fn target(&self) -> Target<'_> {
        Target {
            uri: &self.redirect_uri,
            state: self.state.as_deref(),
            mode: self
                .response_mode
                .unwrap_or(self.response_type.default_mode()),
        }
    }
}

/// Why an authorization request is not acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Shown to the user: the client or redirect URI is not trusted.
    Page(String),
    /// Sent back to the client (an error for it).
    Redirect(ClientAnswer),
    /// A backing store cannot answer (a pushed request cannot be read).
    Unavailable,
}

/// Where a signed-in user's authorization request goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// To the client's redirect URI (the response, or an error for it).
    Redirect(ClientAnswer),
    /// To the consent page for the stored request with this id.
    Consent(String),
    /// An error page (the client is gone).
    ErrorPage(&'static str),
    /// A backing store cannot answer.
    Unavailable,
}

/// Where errors go once the redirect URI is trusted.
pub struct Target<'a> {
    pub uri: &'a str,
    pub state: Option<&'a str>,
    pub mode: ResponseMode,
}

/// `uri` with `params` added to its query or fragment.
pub fn with_params(uri: &str, params: &[(&str, &str)], fragment: bool) -> String {
    let encoded = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    if fragment {
        format!("{uri}#{encoded}")
    } else if uri.contains('?') {
        format!("{uri}&{encoded}")
    } else {
        format!("{uri}?{encoded}")
    }
}

impl Target<'_> {
    /// An error for the client (with `state` and `iss`).
    pub fn error(&self, issuer: &str, code: &str, description: &str) -> ClientAnswer {
        let mut params = vec![("error", code), ("error_description", description)];
        if let Some(s) = self.state {
            params.push(("state", s));
        }
        params.push(("iss", issuer));
        ClientAnswer {
            uri: self.uri.to_string(),
            params: params
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            mode: self.mode,
        }
    }
}

/// Longest value, in bytes, of each parameter (a pending request is stored
/// until sign-in, so its size must be bounded). Generous for real clients:
/// RFC 7636 caps the challenge at 128 characters; state and redirect URIs
/// of common libraries stay well under 2 KB.
const PARAMETER_LIMITS: &[(&str, usize)] = &[
    ("client_id", 256),
    ("redirect_uri", 2048),
    ("response_type", 64),
    ("response_mode", 32),
    ("scope", 1024),
    ("state", 2048),
    ("nonce", 512),
    ("code_challenge", 128),
    ("code_challenge_method", 16),
    ("prompt", 64),
    ("max_age", 16),
    ("login_hint", 512),
    ("ui_locales", 256),
    ("claims_locales", 256),
    ("acr_values", 512),
    ("display", 32),
    ("hideTenant", 16),
    ("id_token_hint", 8192),
    ("dpop_jkt", 128),
];
/// Any other parameter (ignored, never stored).
const OTHER_PARAMETER_LIMIT: usize = 2048;
/// Most parameters one request may carry.
const MAX_PARAMETERS: usize = 32;

/// Why the request is too large to consider, if it is.
pub fn oversized(q: &OAuthForm) -> Option<String> {
    if q.0.len() > MAX_PARAMETERS {
        return Some(format!(
            "The request has more than {MAX_PARAMETERS} parameters."
        ));
    }
    q.0.iter().find_map(|(name, value)| {
        let known = PARAMETER_LIMITS.iter().find(|(n, _)| n == name);
        let limit = known.map_or(OTHER_PARAMETER_LIMIT, |(_, l)| *l);
        (value.len() > limit).then(|| match known {
            // Only our own names are echoed, never the request's text.
            Some((n, _)) => format!("The request parameter '{n}' is longer than {limit} bytes."),
            None => format!("A request parameter is longer than {limit} bytes."),
        })
    })
}

fn valid_challenge(c: &str) -> bool {
    (43..=128).contains(&c.len())
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Checks a request: a pushed one (RFC 9126) is read first; then the
/// client and redirect URI (until both are trusted, a refusal is a page),
/// then everything else (refused back to the client).
pub async fn validate(
    state: &Services,
    q: &OAuthForm,
) -> Result<(AuthRequest, Arc<Client>), Refusal> {
    let pushed = pushed_request(state, q).await?;
    let q = pushed.as_ref().unwrap_or(q);
    let (client, redirect_uri) = trusted_client(state, q)?;
    let target = Target {
        uri: &redirect_uri,
        state: q.get("state"),
        mode: requested_mode(q),
    };
    let req = checked_request(&client, &redirect_uri, q, pushed.is_some()).map_err(
        |Invalid(code, d)| Refusal::Redirect(target.error(&state.settings.issuer, code, &d)),
    )?;
    Ok((req, client))
}

/// The mode errors go back in before the request is checked: the one asked
/// for if it is known, else the response type's default. A request object
/// (refused: not supported) may be the only place that says them; it is
/// read unverified for this alone, as the parameters beside it would be.
fn requested_mode(q: &OAuthForm) -> ResponseMode {
    let asked = |name: &str| {
        q.get(name).map(str::to_string).or_else(|| {
            q.get("request")
                .and_then(|r| assertion::unverified_claim(r, name))
        })
    };
    let default = asked("response_type")
        .as_deref()
        .and_then(ResponseType::parse)
        .map_or(ResponseMode::Query, ResponseType::default_mode);
    asked("response_mode")
        .as_deref()
        .and_then(ResponseMode::parse)
        .unwrap_or(default)
}

/// Checks and keeps the authorization request `client` pushed (RFC 9126
/// §2.1), as this endpoint will check it when it is used; refusals are
/// answered directly. The kept parameters name the client, whether or not
/// the body did.
pub async fn push(
    state: &Services,
    client: &Client,
    form: &OAuthForm,
    dpop_jkt: Option<&str>,
) -> Result<par::Pushed, OAuthError> {
    if form.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request(
            "request_uri cannot be pushed (RFC 9126 §2.1)",
        ));
    }
    if form
        .get("client_id")
        .is_some_and(|id| id != client.client_id)
    {
        return Err(OAuthError::invalid_request(
            "client_id is not the authenticated client",
        ));
    }
    let mut params = form.clone();
    params
        .0
        .insert("client_id".into(), client.client_id.clone());
    // Client authentication is not part of the authorization request.
    for credential in ["client_secret", "client_assertion", "client_assertion_type"] {
        params.0.remove(credential);
    }
    // RFC 9449 §10.1: a proof sent with the push binds the code to its key.
    if let Some(jkt) = dpop_jkt {
        if params.get("dpop_jkt").is_some_and(|given| given != jkt) {
            return Err(OAuthError::invalid_dpop_proof(
                "dpop_jkt is not the key of the DPoP proof",
            ));
        }
        params.0.insert("dpop_jkt".into(), jkt.to_string());
    }
    check_pushed(state, client, &params)?;
    par::keep(state, &params).await
}

/// The pushed parameters a request refers to with `request_uri`, taken; `None`
/// when it has no `request_uri` or one this server did not hand out (refused
/// later as unsupported). RFC 9126 §4: the request must name the same client,
/// and only the pushed parameters count.
async fn pushed_request(state: &Services, q: &OAuthForm) -> Result<Option<OAuthForm>, Refusal> {
    let Some(reference) = q.get("request_uri").and_then(par::reference) else {
        return Ok(None);
    };
    let params = par::take(state, reference)
        .await
        .map_err(|_| Refusal::Unavailable)?
        .ok_or_else(|| {
            Refusal::Page("The pushed authorization request is unknown, used or expired.".into())
        })?;
    if q.get("client_id") != params.get("client_id") {
        return Err(Refusal::Page(
            "The pushed authorization request belongs to another application.".into(),
        ));
    }
    Ok(Some(params))
}

fn check_pushed(state: &Services, client: &Client, q: &OAuthForm) -> Result<(), OAuthError> {
    if let Some(why) = oversized(q) {
        return Err(OAuthError::invalid_request(why));
    }
    let (_, redirect_uri) = trusted_client(state, q).map_err(|refusal| match refusal {
        Refusal::Page(why) => OAuthError::invalid_request(why),
        Refusal::Redirect(_) | Refusal::Unavailable => OAuthError::server_error(),
    })?;
    checked_request(client, &redirect_uri, q, true)
        .map(drop)
        .map_err(|Invalid(code, d)| OAuthError::refused_request(code, d))
}

/// An error the client gets back at its redirect URI: the OAuth error code
/// and its description.
struct Invalid(&'static str, Cow<'static, str>);

impl Invalid {
    fn request(description: &'static str) -> Self {
        Self("invalid_request", description.into())
    }
}

/// The client and the redirect URI to answer at, or the page saying why
/// neither can be trusted.
fn trusted_client(state: &Services, q: &OAuthForm) -> Result<(Arc<Client>, String), Refusal> {
    let page = |msg: &str| Refusal::Page(msg.to_string());
    let client_id = q
        .get("client_id")
        .ok_or_else(|| page("The request names no client (client_id)."))?;
    let client = state
        .client(client_id)
        .ok_or_else(|| page("The application (client_id) is not known."))?;
    let redirect_uri = match q.get("redirect_uri") {
        Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => uri.to_string(),
        Some(_) => {
            return Err(page(
                "The redirect URI is not registered for this application.",
            ))
        }
        None => match client.redirect_uris.as_slice() {
            [only] => only.clone(),
            _ => {
                return Err(page(
                    "The request must name one of the application's redirect URIs.",
                ))
            }
        },
    };
    Ok((client, redirect_uri))
}

/// The request once its client and redirect URI are trusted, checked in
/// the order the errors are reported.
fn checked_request(
    client: &Client,
    redirect_uri: &str,
    q: &OAuthForm,
    pushed: bool,
) -> Result<AuthRequest, Invalid> {
    refuse_request_objects(q)?;
    if client.require_pushed_authorization_requests && !pushed {
        return Err(Invalid::request(
            "this client must push its authorization requests first (PAR, RFC 9126)",
        ));
    }
    let response_type = allowed_response_type(client, q)?;
    let response_mode = response_mode(response_type, q)?;
    let scope =
        grant_scope(client, q.get("scope")).map_err(|e| Invalid("invalid_scope", e.description))?;
    let nonce = q.get("nonce").map(str::to_string);
    check_id_token_request(response_type, &scope, nonce.as_deref())?;
    let code_challenge = code_challenge(client, response_type, q)?;
    let prompt = prompt(q)?;
    let max_age = max_age(q)?;
    let claims = match q.get("claims") {
        Some(raw) => ClaimsRequest::parse(raw).map_err(Invalid::request)?,
        None => ClaimsRequest::default(),
    };
    Ok(AuthRequest {
        client_id: client.client_id.clone(),
        redirect_given: q.get("redirect_uri").is_some(),
        redirect_uri: redirect_uri.to_string(),
        response_type,
        response_mode,
        scope,
        state: q.get("state").map(str::to_string),
        nonce,
        code_challenge,
        prompt,
        max_age,
        login_hint: q.get("login_hint").map(str::to_string),
        hide_tenant: q.get("hideTenant") == Some("true"),
        acr_requested: q.get("acr_values").is_some() || claims.wants_acr(),
        claims,
        second_factor_asked: q.get("acr_values").is_some_and(|v| {
            v.split(' ')
                .any(|a| a == crate::oauth::issue::ACR_SECOND_FACTOR)
        }),
        dpop_jkt: q.get("dpop_jkt").map(str::to_string),
    })
}

/// OIDC Core §6: request objects are not supported, and say so rather than
/// act on the plain parameters a signed request may contradict. A pushed
/// request's `request_uri` was resolved before; any other is refused.
fn refuse_request_objects(q: &OAuthForm) -> Result<(), Invalid> {
    if q.get("request").is_some() {
        return Err(Invalid(
            "request_not_supported",
            "request objects are not supported".into(),
        ));
    }
    if q.get("request_uri").is_some() {
        return Err(Invalid(
            "request_uri_not_supported",
            "only request_uri values from the pushed authorization request endpoint are supported"
                .into(),
        ));
    }
    Ok(())
}

/// The response type, if it is known and its grant is allowed to the client.
fn allowed_response_type(client: &Client, q: &OAuthForm) -> Result<ResponseType, Invalid> {
    let response_type = match q.get("response_type").map(ResponseType::parse) {
        None => return Err(Invalid::request("response_type is required")),
        Some(None) => {
            return Err(Invalid(
                "unsupported_response_type",
                "response_type must be code, token, id_token, or a combination of them".into(),
            ))
        }
        Some(Some(rt)) => rt,
    };
    // A code needs the code grant; tokens through the browser need the
    // implicit grant, and so does an ID token that comes without a code.
    let mut grants = vec![];
    if response_type.has_code() {
        grants.push(AUTHORIZATION_CODE);
    }
    if response_type.has_token() || !response_type.has_code() {
        grants.push(IMPLICIT);
    }
    for grant in grants {
        if !client.authorized_grant_types.iter().any(|g| g == grant) {
            return Err(Invalid(
                "unauthorized_client",
                format!("this client may not use the '{grant}' grant").into(),
            ));
        }
    }
    Ok(response_type)
}

/// `response_mode`, if given: a known one, and never the query for tokens
/// (Multiple Response Type Encoding Practices §2.1: they would end up in
/// logs and `Referer` headers).
fn response_mode(rt: ResponseType, q: &OAuthForm) -> Result<Option<ResponseMode>, Invalid> {
    let Some(raw) = q.get("response_mode") else {
        return Ok(None);
    };
    match ResponseMode::parse(raw) {
        None => Err(Invalid::request(
            "response_mode must be query, fragment or form_post",
        )),
        Some(ResponseMode::Query) if rt != ResponseType::Code => Err(Invalid::request(
            "response_mode=query cannot carry tokens; use fragment or form_post",
        )),
        mode => Ok(mode),
    }
}

/// An ID token through the browser needs the openid scope, and every
/// response of the implicit and hybrid flows a nonce (OIDC Core §3.2.2.1,
/// §3.3.2.11): it is what ties a token in the fragment to this request.
fn check_id_token_request(
    rt: ResponseType,
    scope: &[String],
    nonce: Option<&str>,
) -> Result<(), Invalid> {
    let openid = scope.iter().any(|s| s == "openid");
    if rt.has_id_token() && !openid {
        return Err(Invalid::request("an id_token needs the openid scope"));
    }
    // OIDC Core §3.3.2.11: optional for `code token`, whose ID token comes
    // from the token endpoint, as in the code flow.
    if rt.has_id_token() && nonce.is_none() {
        return Err(Invalid::request(
            "nonce is required when tokens come through the browser",
        ));
    }
    Ok(())
}

/// The PKCE challenge (S256 only), required of public clients asking for a code.
fn code_challenge(
    client: &Client,
    response_type: ResponseType,
    q: &OAuthForm,
) -> Result<Option<String>, Invalid> {
    let challenge = match (q.get("code_challenge"), q.get("code_challenge_method")) {
        (Some(c), Some("S256")) if valid_challenge(c) => Some(c.to_string()),
        (Some(_), Some("S256")) => {
            return Err(Invalid::request(
                "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]",
            ))
        }
        (Some(_), _) => {
            return Err(Invalid::request(
                "code_challenge_method must be S256 (plain is not allowed)",
            ))
        }
        (None, Some(_)) => {
            return Err(Invalid::request(
                "code_challenge_method without code_challenge",
            ))
        }
        (None, None) => None,
    };
    if response_type.has_code() && client.client_type == ClientType::Public && challenge.is_none() {
        return Err(Invalid::request(
            "PKCE (code_challenge with code_challenge_method=S256) is required for public clients",
        ));
    }
    Ok(challenge)
}

fn prompt(q: &OAuthForm) -> Result<Option<String>, Invalid> {
    match q.get("prompt") {
        Some(p) if !matches!(p, "none" | "login" | "consent") => {
            Err(Invalid::request("prompt must be none, login or consent"))
        }
        p => Ok(p.map(str::to_string)),
    }
}

fn max_age(q: &OAuthForm) -> Result<Option<i64>, Invalid> {
    q.get("max_age")
        .map(|v| {
            v.parse::<i64>()
                .ok()
                .filter(|v| *v >= 0)
                .ok_or_else(|| Invalid::request("max_age must be a number of seconds"))
        })
        .transpose()
}

fn pending_key(id: &str) -> String {
    format!("authz:{}", tokens::token_digest(id))
}

pub async fn store_pending(
    state: &Services,
    req: &AuthRequest,
) -> Result<String, tollgate_store::StoreError> {
    let id = tokens::random_token();
    let bytes =
        serde_json::to_vec(req).map_err(|e| tollgate_store::StoreError::Corrupt(e.to_string()))?;
    state
        .ephemeral
        .put(&pending_key(&id), &bytes, PENDING_TTL)
        .await?;
    Ok(id)
}

pub async fn load_pending(
    state: &Services,
    id: &str,
) -> Result<Option<AuthRequest>, tollgate_store::StoreError> {
    Ok(state
        .ephemeral
        .get(&pending_key(id))
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

pub async fn drop_pending(state: &Services, id: &str) {
    let _ = state.ephemeral.delete(&pending_key(id)).await;
}

fn consent_key(user: &UserPrincipal, client_id: &str) -> String {
    format!("consent:{}:{client_id}", user.subject())
}

/// Remembers that the user allowed these scopes to the client (for a year:
/// consent lives in the ephemeral store, losing it only asks again).
pub async fn remember_consent(
    state: &Services,
    user: &UserPrincipal,
    client_id: &str,
    scope: &[String],
) -> Result<(), tollgate_store::StoreError> {
    let key = consent_key(user, client_id);
    let mut granted = granted_scopes(state, &key).await?;
    for s in scope {
        if !granted.contains(s) {
            granted.push(s.clone());
        }
    }
    let bytes = serde_json::to_vec(&granted)
        .map_err(|e| tollgate_store::StoreError::Corrupt(e.to_string()))?;
    state
        .ephemeral
        .put(&key, &bytes, Duration::from_secs(365 * 86_400))
        .await
}

async fn granted_scopes(
    state: &Services,
    key: &str,
) -> Result<Vec<String>, tollgate_store::StoreError> {
    Ok(state
        .ephemeral
        .get(key)
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default())
}

async fn needs_consent(
    state: &Services,
    client: &Client,
    req: &AuthRequest,
    user: &UserPrincipal,
) -> Result<bool, tollgate_store::StoreError> {
    if client.internal_client {
        return Ok(false);
    }
    if req.prompt.as_deref() == Some("consent") {
        return Ok(true);
    }
    let granted = granted_scopes(state, &consent_key(user, &client.client_id)).await?;
    Ok(!req.scope.iter().all(|s| granted.contains(s)))
}

/// The answer to a request for a signed-in user: the client's response, an
/// error for the client, or the consent page when consent is missing.
/// `pending` is the stored request's id, if any; `consented` skips the
/// consent check (the user just allowed it).
pub async fn decide(
    state: &Services,
    req: &AuthRequest,
    pending: Option<&str>,
    user: &UserPrincipal,
    ip: Option<&str>,
    consented: bool,
) -> Outcome {
    let target = req.target();
    let Some(client) = state.client(&req.client_id) else {
        return Outcome::ErrorPage("The application (client_id) is not known.");
    };
    if !serves_tenant(&client, user) {
        if let Some(id) = pending {
            drop_pending(state, id).await;
        }
        return Outcome::Redirect(target.error(
            &state.settings.issuer,
            "access_denied",
            "this application may not sign in users of this tenant",
        ));
    }
    if let Some(outcome) = ask_consent(state, &client, req, pending, user, consented).await {
        return outcome;
    }
    if let Some(id) = pending {
        drop_pending(state, id).await;
    }
    // The code or tokens could not be stored or signed: a backing service
    // is down, which RFC 6749 §4.1.2.1 names temporarily_unavailable.
    let Ok(params) = respond(state, &client, req, user, now()).await else {
        return Outcome::Redirect(target.error(
            &state.settings.issuer,
            "temporarily_unavailable",
            "the authorization could not be completed; retry later",
        ));
    };
    let mut params: Vec<(String, String)> = params
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    if let Some(s) = &req.state {
        params.push(("state".into(), s.clone()));
    }
    params.push(("iss".into(), state.settings.issuer.clone()));
    state
        .audit("authorize.granted")
        .client(&client.client_id)
        .contact_center(&user.contact_center_id)
        .subject(&user.subject())
        .ip(ip)
        .detail(json!({"response_type": format!("{:?}", req.response_type), "scope": req.scope.join(" ")}))
        .record();
    Outcome::Redirect(ClientAnswer {
        uri: req.redirect_uri.clone(),
        params,
        mode: target.mode,
    })
}

/// Whether the client may sign in users of the user's tenant (a client
/// naming no contact centers serves all).
fn serves_tenant(client: &Client, user: &UserPrincipal) -> bool {
    client.contact_center_ids.is_empty()
        || client
            .contact_center_ids
            .iter()
            .any(|id| id == &user.contact_center_id)
}

/// Where the request goes instead of the client while consent is missing:
/// the consent page (the request kept under `pending` or a new id), an
/// error for `prompt=none`; `None` when the request may be answered.
async fn ask_consent(
    state: &Services,
    client: &Client,
    req: &AuthRequest,
    pending: Option<&str>,
    user: &UserPrincipal,
    consented: bool,
) -> Option<Outcome> {
    match needs_consent(state, client, req, user).await {
        Err(_) => Some(Outcome::Unavailable),
        Ok(true) if !consented => {
            if req.prompt.as_deref() == Some("none") {
                return Some(Outcome::Redirect(req.target().error(
                    &state.settings.issuer,
                    "consent_required",
                    "the user has not allowed this application yet",
                )));
            }
            Some(match pending {
                Some(id) => Outcome::Consent(id.to_string()),
                None => match store_pending(state, req).await {
                    Ok(id) => Outcome::Consent(id),
                    Err(_) => Outcome::Unavailable,
                },
            })
        }
        Ok(_) => None,
    }
}

/// The response parameters for the request's response type: a code, an
/// access token, an ID token, or (the hybrid flow) a code with either or
/// both, the ID token then carrying the hashes of what travels with it.
async fn respond(
    state: &Services,
    client: &Arc<Client>,
    req: &AuthRequest,
    user: &UserPrincipal,
    now: Timestamp,
) -> Result<Vec<(&'static str, String)>, ()> {
    let rt = req.response_type;
    let mut out = vec![];
    let code = match rt.has_code() {
        true => Some(issue_code(state, client, req, user).await?),
        false => None,
    };
    if let Some(c) = &code {
        out.push(("code", c.clone()));
    }
    if rt.has_token() {
        let (params, id_token) = browser_tokens(state, client, req, user, code, now).await?;
        out.extend(params);
        if rt.has_id_token() {
            out.extend(id_token.map(|t| ("id_token", t)));
        }
        return Ok(out);
    }
    if rt.has_id_token() {
        let lifetime = client
            .access_token_expiration_timeout
            .clamp(1, state.settings.max_token_lifetime);
        let ask = IdTokenAsk {
            nonce: req.nonce.as_deref(),
            acr_requested: req.acr_requested,
            code: code.as_deref(),
            claims: &req.claims.id_token,
        };
        let t =
            id_token(state, client, user, &req.scope, None, ask, now, lifetime).map_err(|_| ())?;
        remember_relying_party(state, client, user).await;
        out.push(("id_token", t));
    }
    Ok(out)
}

/// A new authorization code, its request kept for the token endpoint.
async fn issue_code(
    state: &Services,
    client: &Client,
    req: &AuthRequest,
    user: &UserPrincipal,
) -> Result<String, ()> {
    let code = tokens::random_token();
    let record = CodeRecord {
        client_id: client.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        redirect_given: req.redirect_given,
        code_challenge: req.code_challenge.clone(),
        nonce: req.nonce.clone(),
        acr_requested: req.acr_requested,
        claims: req.claims.clone(),
        scope: req.scope.clone(),
        user: user.clone(),
        dpop_jkt: req.dpop_jkt.clone(),
    };
    let bytes = serde_json::to_vec(&record).map_err(|_| ())?;
    state
        .ephemeral
        .put(&code_key(&code), &bytes, CODE_TTL)
        .await
        .map_err(|_| ())?;
    Ok(code)
}

/// An access token through the browser (the implicit and hybrid flows),
/// never a refresh token; with the ID token `issue` made beside it for the
/// openid scope (its `c_hash` names `code`, when one goes with it).
async fn browser_tokens(
    state: &Services,
    client: &Arc<Client>,
    req: &AuthRequest,
    user: &UserPrincipal,
    code: Option<String>,
    now: Timestamp,
) -> Result<(Vec<(&'static str, String)>, Option<String>), ()> {
    let res = issue(
        state,
        Issue {
            user: Some(user.clone()),
            nonce: req.nonce.clone(),
            acr_requested: req.acr_requested,
            claims: req.claims.clone(),
            code,
            ..Issue::new(client, req.scope.clone(), &Default::default())
        },
        now,
    )
    .await
    .map_err(|_| ())?;
    let out = vec![
        ("access_token", res.access_token),
        ("token_type", res.token_type.to_string()),
        ("expires_in", res.expires_in.to_string()),
        ("scope", res.scope),
    ];
    Ok((out, res.id_token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_types() {
        assert_eq!(ResponseType::parse("code"), Some(ResponseType::Code));
        assert_eq!(
            ResponseType::parse("token id_token"),
            Some(ResponseType::IdTokenToken)
        );
        assert_eq!(
            ResponseType::parse("id_token code"),
            Some(ResponseType::CodeIdToken)
        );
        assert_eq!(
            ResponseType::parse("token code id_token"),
            Some(ResponseType::CodeIdTokenToken)
        );
        assert_eq!(ResponseType::parse("code code"), None);
        assert_eq!(ResponseType::parse("none"), None);
        assert_eq!(ResponseType::parse(""), None);
    }

    #[test]
    fn params_go_in_query_or_fragment() {
        assert_eq!(
            with_params("https://a/cb", &[("code", "x y")], false),
            "https://a/cb?code=x+y"
        );
        assert_eq!(
            with_params("https://a/cb?k=1", &[("code", "x")], false),
            "https://a/cb?k=1&code=x"
        );
        assert_eq!(
            with_params("https://a/cb", &[("id_token", "x")], true),
            "https://a/cb#id_token=x"
        );
    }
}
